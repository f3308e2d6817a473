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
class spsc : public fixed_slots<spsc<T>, T, kind::spsc> {
    using base = fixed_slots<spsc<T>, T, kind::spsc>;
    using base::at;
    using base::capacity_;
    using base::st_;

public:
    using base::base;

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
    // Gives the slot loan() returned back unsent: nothing to undo, since only
    // commit() moves the head (the next loan() returns the same slot).
    void cancel() noexcept {}
    [[nodiscard]] bool try_push(const T& v, std::uint32_t = 0) noexcept {
        T* p = loan();
        if (!p) return false;
        std::memcpy(static_cast<void*>(p), &v, sizeof(T));
        commit();
        return true;
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
    [[nodiscard]] bool try_pop(T& out, std::uint32_t = 0) noexcept {
        const T* p = front();
        if (!p) return false;
        std::memcpy(static_cast<void*>(&out), p, sizeof(T));
        release();
        return true;
    }

    // Whether a push (pop) would succeed now.
    bool can_push() const noexcept {
        const std::uint64_t h = st_->ctl.head.load(std::memory_order_relaxed);
        return at(h).turn.load(std::memory_order_acquire) == h;
    }
    bool can_pop() const noexcept {
        const std::uint64_t t = st_->ctl.tail.load(std::memory_order_relaxed);
        return at(t).turn.load(std::memory_order_acquire) == t + 1;
    }
};

}  // namespace ipc::ring
