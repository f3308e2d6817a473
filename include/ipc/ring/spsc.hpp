// ipc/ring/spsc.hpp: single-producer single-consumer ring of fixed-size slots.
#pragma once

#include <cstring>

#include "layout.hpp"

namespace ipc::ring {

// One producer process, one consumer process, slots of a trivially copyable T.
//
// Every slot carries a turn word beside its payload: the producer at index i
// owns the slot when turn == i, the consumer when turn == i + 1, and hands it
// back as i + capacity. Neither side reads the other's index on the hot path,
// so a small message moves one cache line (slot) instead of two (slot plus a
// shared index); each index stays on its owner's line. Indices are 64-bit and
// only ever masked, so capacity is any power of two >= 2.
template <class T>
class spsc : public view_base<two_indices> {
    static_assert(std::is_trivially_copyable_v<T>, "ipc::ring::spsc needs a trivially copyable T");
    static_assert(alignof(T) <= ipc::detail::cache_line, "ipc::ring::spsc: T may be aligned to a cache line at most");

public:
    using value_type = T;
    static constexpr ring::kind ring_kind = kind::spsc;
    static constexpr std::uint64_t min_capacity = 2;
    static constexpr std::uint64_t slot_size = sizeof(slot<T>);
    static constexpr std::uint64_t value_size = sizeof(T);
    static constexpr std::uint64_t value_align = alignof(T);
    static constexpr std::uint64_t tag = type_tag<T>;

    static void init_data(std::byte* data, std::uint64_t capacity) noexcept {
        auto* s = reinterpret_cast<slot<T>*>(data);
        for (std::uint64_t i = 0; i < capacity; ++i) new (&s[i].turn) std::atomic<std::uint64_t>(i);
    }

    using view_base::view_base;

    // ---- producer ------------------------------------------------------

    // The next free slot to construct a T in, or nullptr when full. The
    // message is not visible until commit().
    [[nodiscard]] T* loan() noexcept {
        const std::uint64_t h = st_->ctl.head.load(std::memory_order_relaxed);
        slot<T>& s = at(h);
        return s.turn.load(std::memory_order_acquire) == h ? s.get() : nullptr;
    }
    // Publishes the slot loan() returned.
    void commit() noexcept {
        const std::uint64_t h = st_->ctl.head.load(std::memory_order_relaxed);
        at(h).turn.store(h + 1, std::memory_order_release);
        st_->ctl.head.store(h + 1, std::memory_order_relaxed);
    }
    [[nodiscard]] bool try_push(const T& v) noexcept {
        T* p = loan();
        if (!p) return false;
        std::memcpy(static_cast<void*>(p), &v, sizeof(T));
        commit();
        return true;
    }
    // Pushes as many of vs as fit; returns how many.
    std::size_t push_n(std::span<const T> vs) noexcept {
        std::size_t n = 0;
        while (n < vs.size() && try_push(vs[n])) ++n;
        return n;
    }
    bool can_push() const noexcept {
        const std::uint64_t h = st_->ctl.head.load(std::memory_order_relaxed);
        return at(h).turn.load(std::memory_order_acquire) == h;
    }

    // ---- consumer ------------------------------------------------------

    // The oldest message, in place, or nullptr when empty; release() frees it.
    [[nodiscard]] const T* front() noexcept {
        const std::uint64_t t = st_->ctl.tail.load(std::memory_order_relaxed);
        slot<T>& s = at(t);
        return s.turn.load(std::memory_order_acquire) == t + 1 ? s.get() : nullptr;
    }
    void release() noexcept {
        const std::uint64_t t = st_->ctl.tail.load(std::memory_order_relaxed);
        at(t).turn.store(t + capacity_, std::memory_order_release);
        st_->ctl.tail.store(t + 1, std::memory_order_relaxed);
    }
    [[nodiscard]] bool try_pop(T& out) noexcept {
        const T* p = front();
        if (!p) return false;
        std::memcpy(static_cast<void*>(&out), p, sizeof(T));
        release();
        return true;
    }
    std::size_t pop_n(std::span<T> out) noexcept {
        std::size_t n = 0;
        while (n < out.size() && try_pop(out[n])) ++n;
        return n;
    }
    bool can_pop() const noexcept {
        const std::uint64_t t = st_->ctl.tail.load(std::memory_order_relaxed);
        return at(t).turn.load(std::memory_order_acquire) == t + 1;
    }

    // Messages waiting; exact only when both sides are idle.
    std::uint64_t size() const noexcept {
        const std::uint64_t t = st_->ctl.tail.load(std::memory_order_acquire);
        const std::uint64_t h = st_->ctl.head.load(std::memory_order_acquire);
        return h - t <= capacity_ ? h - t : capacity_;
    }

private:
    slot<T>& at(std::uint64_t i) const noexcept { return reinterpret_cast<slot<T>*>(data_)[i & mask_]; }
};

} // namespace ipc::ring
