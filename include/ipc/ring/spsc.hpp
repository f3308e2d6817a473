// ipc/ring/spsc.hpp: single-producer single-consumer ring of fixed-size slots.
#pragma once

#include <cstring>

#include "kind.hpp"

namespace ipc::ring {

// One producer process, one consumer process, slots of a trivially copyable T.
//
// Slots are the bare payload and the two indices say which hold messages, as
// in a hand-written ring: the producer owns [head, tail + capacity), the
// consumer [tail, head). Each side keeps its own index and a cached copy of
// the other side's in this view, and reads the other's shared index only when
// the cache says full (empty): small messages pack into shared lines, and the
// only shared word a side touches per message is a store to its own index
// (never a load of it: the other side reads that line, and reading it back
// costs a round trip of the line). A batch publishes its index once.
//
// Indices are 64-bit and only ever masked, so capacity is any power of two
// >= 2; an index read from the region that is out of range (corrupt) reads as
// full or empty, never as a slot outside the ring. Each index is written by
// its side only, in one store, so a process killed at any instruction leaves
// the ring consistent: a message is sent (released) exactly when its index
// store happened. The view's copies are taken from the region when it is
// attached and again by adopt_indices(), which ring_region calls whenever
// this process becomes an end (a restarted end carries on from the region).
//
// The per-message calls are always inlined: g++ -O2 left try_push, loan and
// front out of line, and a call's return address is one more store for the
// producer's store buffer, where stores wait behind the ring's line transfers
// (measured, two processes at 8 B: 1.15-1.3x the messages per second inlined).
template <class T>
class spsc : public fixed_slots<spsc<T>, T, kind::spsc> {
    using base = fixed_slots<spsc<T>, T, kind::spsc>;
    using base::at;
    using base::capacity_;
    using base::st_;

public:
    using end_state = no_end_state;  // both indices live in the view
    static constexpr std::size_t max_ends(direction) noexcept { return 1; }

    spsc() noexcept = default;
    spsc(shared_state<two_indices>* st, std::byte* data, std::uint64_t capacity) noexcept : base(st, data, capacity) {
        adopt_indices();
    }

    // Takes this view's copies of both indices from the region.
    void adopt_indices() noexcept { ix_.adopt(st_->ctl); }
    // A restarted end carries on where the last one stopped.
    bool join(direction, end_state&, const end_id&, std::error_code&) noexcept {
        adopt_indices();
        return true;
    }

    // ---- the kind interface (ring/kind.hpp): no per-end state -------------
    [[gnu::always_inline]] T* loan(end_state&) noexcept { return loan(); }
    [[gnu::always_inline]] void commit(end_state&) noexcept { commit(); }
    void cancel(end_state&) noexcept {}
    [[gnu::always_inline]] const T* front(end_state&) noexcept { return front(); }
    [[gnu::always_inline]] bool release(end_state&) noexcept {
        release();
        return true;
    }
    std::size_t push_n(std::span<const T> vs, end_state&) noexcept { return push_n(vs); }
    std::size_t pop_n(std::span<T> out, end_state&) noexcept { return pop_n(out); }
    bool can_push(const end_state&) const noexcept { return can_push(); }
    bool can_pop(const end_state&) const noexcept { return can_pop(); }
    std::uint64_t unread_known(const end_state&) const noexcept { return unread_known(); }
    std::uint64_t unread_now(end_state&) noexcept { return unread_now(); }

    // ---- producer ------------------------------------------------------

    // The next free slot to construct a T in, or nullptr when full. The
    // message is not visible until commit().
    [[gnu::always_inline]] [[nodiscard]] T* loan() noexcept { return room(1) ? at(ix_.head).get() : nullptr; }
    // Publishes the slot loan() returned.
    [[gnu::always_inline]] void commit() noexcept { st_->ctl.head.store(++ix_.head, std::memory_order_release); }
    // Gives the slot loan() returned back unsent: nothing to undo, since only
    // commit() moves the head (the next loan() returns the same slot).
    void cancel() noexcept {}
    [[gnu::always_inline]] [[nodiscard]] bool try_push(const T& v, std::uint32_t = 0) noexcept {
        T* p = loan();
        if (!p) return false;
        std::memcpy(static_cast<void*>(p), &v, sizeof(T));
        commit();
        return true;
    }
    // As many of vs as fit, published with one index store.
    std::size_t push_n(std::span<const T> vs, std::uint32_t = 0) noexcept {
        std::uint64_t n = vs.size() < capacity_ ? vs.size() : capacity_;
        if (n == 0) return 0;
        if (!room(n)) {
            const std::uint64_t used = ix_.head - ix_.cached_tail;
            if (used >= capacity_) return 0;  // full, or a corrupt tail: touch nothing
            n = capacity_ - used;
        }
        for (std::uint64_t i = 0; i < n; ++i) std::memcpy(static_cast<void*>(at(ix_.head + i).get()), &vs[i], sizeof(T));
        ix_.head += n;
        st_->ctl.head.store(ix_.head, std::memory_order_release);
        return static_cast<std::size_t>(n);
    }

    // ---- consumer ------------------------------------------------------

    // The oldest message, in place, or nullptr when empty; release() frees it.
    [[gnu::always_inline]] [[nodiscard]] const T* front() noexcept { return available() ? at(ix_.tail).get() : nullptr; }
    [[gnu::always_inline]] void release() noexcept { st_->ctl.tail.store(++ix_.tail, std::memory_order_release); }
    [[gnu::always_inline]] [[nodiscard]] bool try_pop(T& out, std::uint32_t = 0) noexcept {
        const T* p = front();
        if (!p) return false;
        std::memcpy(static_cast<void*>(&out), p, sizeof(T));
        release();
        return true;
    }
    // Up to out.size() messages, freed with one index store.
    std::size_t pop_n(std::span<T> out, std::uint32_t = 0) noexcept {
        if (out.empty() || !available()) return 0;
        const std::uint64_t ready = ix_.cached_head - ix_.tail;  // 1..capacity: checked by available()
        const std::uint64_t n = ready < out.size() ? ready : out.size();
        for (std::uint64_t i = 0; i < n; ++i) std::memcpy(static_cast<void*>(&out[i]), at(ix_.tail + i).get(), sizeof(T));
        ix_.tail += n;
        st_->ctl.tail.store(ix_.tail, std::memory_order_release);
        return static_cast<std::size_t>(n);
    }

    // Messages the consumer knows are there, from the head it last read, and
    // the same after reading the head again (a head more than a ring ahead, or
    // behind the tail, is corrupt: nothing). For a consumer that stays behind a
    // moving producer (sync::spin's hold_back).
    [[gnu::always_inline]] std::uint64_t unread_known() const noexcept {
        const std::uint64_t n = ix_.cached_head - ix_.tail;
        return n <= capacity_ ? n : 0;
    }
    std::uint64_t unread_now() noexcept {
        ix_.cached_head = st_->ctl.head.load(std::memory_order_acquire);
        return unread_known();
    }

    // Whether a push (pop) would succeed now (from the region's indices: for
    // waiters and pollers, off the hot path).
    bool can_push() const noexcept {
        const std::uint64_t h = st_->ctl.head.load(std::memory_order_acquire);
        return h - st_->ctl.tail.load(std::memory_order_acquire) < capacity_;
    }
    bool can_pop() const noexcept {
        const std::uint64_t t = st_->ctl.tail.load(std::memory_order_acquire);
        return st_->ctl.head.load(std::memory_order_acquire) - t - 1 < capacity_;
    }

private:
    // Room for n (<= capacity) messages. Unsigned differences: a tail ahead
    // of the head or more than a ring behind it (corrupt) is never room.
    [[gnu::always_inline]] bool room(std::uint64_t n) noexcept {
        if (ix_.head - ix_.cached_tail <= capacity_ - n) return true;
        ix_.cached_tail = st_->ctl.tail.load(std::memory_order_acquire);
        return ix_.head - ix_.cached_tail <= capacity_ - n;
    }
    // At least one message: head - tail in 1..capacity.
    [[gnu::always_inline]] bool available() noexcept {
        if (ix_.cached_head - ix_.tail - 1 < capacity_) return true;
        ix_.cached_head = st_->ctl.head.load(std::memory_order_acquire);
        return ix_.cached_head - ix_.tail - 1 < capacity_;
    }

    local_indices ix_;
};

static_assert(fixed_kind<spsc<int>>);

}  // namespace ipc::ring
