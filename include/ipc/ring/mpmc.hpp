// ipc/ring/mpmc.hpp: many producers, many consumers, each message taken by exactly one.
#pragma once

#include <cstring>

#include "layout.hpp"

namespace ipc::ring {

// A bounded queue with a sequence number per slot (after D. Vyukov's design):
// a producer claims index i with a CAS on head when slot turn == i, writes,
// and publishes turn = i + 1; a consumer claims i with a CAS on tail when
// turn == i + 1, reads, and hands the slot back as i + capacity.
//
// A process that dies between claiming and publishing a slot stalls the ring
// at that slot: the price of lock-free claiming without a recovery protocol.
template <class T>
class mpmc : public view_base<two_indices> {
    static_assert(std::is_trivially_copyable_v<T>, "ipc::ring::mpmc needs a trivially copyable T");
    static_assert(alignof(T) <= ipc::detail::cache_line, "ipc::ring::mpmc: T may be aligned to a cache line at most");

public:
    using value_type = T;
    static constexpr ring::kind ring_kind = kind::mpmc;
    static constexpr std::uint64_t min_capacity = 2;
    static constexpr std::uint64_t slot_size = sizeof(slot<T>);
    static constexpr std::uint64_t value_size = sizeof(T);
    static constexpr std::uint64_t value_align = alignof(T);
    static constexpr std::uint64_t tag = type_tag<T>;

    static void init_data(std::byte* data, std::uint64_t capacity) noexcept {
        auto* s = reinterpret_cast<slot<T>*>(data);
        for (std::uint64_t i = 0; i < capacity; ++i) new (&s[i].turn) std::atomic<std::uint64_t>(i);
    }

    // A claimed slot: where to construct (or read) and which index to publish.
    template <class P>
    struct claim {
        P* ptr = nullptr;
        std::uint64_t index = 0;
        explicit operator bool() const noexcept { return ptr != nullptr; }
    };

    using view_base::view_base;

    // ---- producers -----------------------------------------------------

    // Claims a free slot (empty claim when full); commit() must follow.
    [[nodiscard]] claim<T> loan() noexcept {
        std::uint64_t pos = st_->ctl.head.load(std::memory_order_relaxed);
        for (;;) {
            slot<T>& s = at(pos);
            const std::uint64_t turn = s.turn.load(std::memory_order_acquire);
            const auto dif = static_cast<std::int64_t>(turn - pos);
            if (dif == 0) {
                if (st_->ctl.head.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) return {s.get(), pos};
            } else if (dif < 0) {
                return {};
            } else {
                pos = st_->ctl.head.load(std::memory_order_relaxed);
            }
        }
    }
    void commit(claim<T> c) noexcept { at(c.index).turn.store(c.index + 1, std::memory_order_release); }

    [[nodiscard]] bool try_push(const T& v) noexcept {
        auto c = loan();
        if (!c) return false;
        std::memcpy(static_cast<void*>(c.ptr), &v, sizeof(T));
        commit(c);
        return true;
    }
    std::size_t push_n(std::span<const T> vs) noexcept {
        std::size_t n = 0;
        while (n < vs.size() && try_push(vs[n])) ++n;
        return n;
    }
    bool can_push() const noexcept {
        const std::uint64_t h = st_->ctl.head.load(std::memory_order_relaxed);
        return at(h).turn.load(std::memory_order_acquire) == h;
    }

    // ---- consumers -----------------------------------------------------

    // Claims the oldest message (empty claim when there is none); release() must follow.
    [[nodiscard]] claim<const T> front() noexcept {
        std::uint64_t pos = st_->ctl.tail.load(std::memory_order_relaxed);
        for (;;) {
            slot<T>& s = at(pos);
            const std::uint64_t turn = s.turn.load(std::memory_order_acquire);
            const auto dif = static_cast<std::int64_t>(turn - (pos + 1));
            if (dif == 0) {
                if (st_->ctl.tail.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) return {s.get(), pos};
            } else if (dif < 0) {
                return {};
            } else {
                pos = st_->ctl.tail.load(std::memory_order_relaxed);
            }
        }
    }
    void release(claim<const T> c) noexcept { at(c.index).turn.store(c.index + capacity_, std::memory_order_release); }

    [[nodiscard]] bool try_pop(T& out) noexcept {
        auto c = front();
        if (!c) return false;
        std::memcpy(static_cast<void*>(&out), c.ptr, sizeof(T));
        release(c);
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

    std::uint64_t size() const noexcept {
        const std::uint64_t t = st_->ctl.tail.load(std::memory_order_acquire);
        const std::uint64_t h = st_->ctl.head.load(std::memory_order_acquire);
        return h - t <= capacity_ ? h - t : capacity_;
    }

private:
    slot<T>& at(std::uint64_t i) const noexcept { return reinterpret_cast<slot<T>*>(data_)[i & mask_]; }
};

} // namespace ipc::ring
