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
// Each claimant records itself in the slot (owner_word), so what a process
// that died leaves behind can be repaired once it is known to be dead:
// - a producer that claimed a slot and died before commit: the slot never
//   becomes ready and would stall every consumer. skip_dead_claim() marks it
//   a hole (owner_hole) and publishes it; consumers pass over holes, so its
//   content is never delivered, not even in part.
// - a consumer that claimed a message and died before release: the slot
//   never comes back and producers stall a lap later. release_dead_claim()
//   hands it back; that message is lost (it was taken, never finished).
// The repairs are not on the hot path: a waiter calls them after waiting a
// whole check interval without progress (see ring_region::check_peers).
// Residual window: a claimant that dies in the few instructions between its
// claim and recording itself leaves "not recorded" (0), which is never
// repaired on a guess.
template <class T>
class mpmc : public fixed_slots<mpmc<T>, T, kind::mpmc> {
    using base = fixed_slots<mpmc<T>, T, kind::mpmc>;
    using base::at;
    using base::capacity_;
    using base::st_;

public:
    // A claimed slot: where to construct (or read) and which index to publish.
    template <class P>
    struct claim {
        P* ptr = nullptr;
        std::uint64_t index = 0;
        explicit operator bool() const noexcept { return ptr != nullptr; }
    };

    using base::base;

    // ---- producers -----------------------------------------------------

    // Claims a free slot (empty claim when full); commit() must follow.
    // `who` is the caller's owner_word.
    [[nodiscard]] claim<T> loan(std::uint32_t who = 0) noexcept {
        auto [s, pos] = take(st_->ctl.head, 0, who);
        return {s ? s->get() : nullptr, pos};
    }
    void commit(claim<T> c) noexcept { at(c.index).turn.store(c.index + 1, std::memory_order_release); }

    [[nodiscard]] bool try_push(const T& v, std::uint32_t who = 0) noexcept {
        auto c = loan(who);
        if (!c) return false;
        std::memcpy(static_cast<void*>(c.ptr), &v, sizeof(T));
        commit(c);
        return true;
    }

    // ---- consumers -----------------------------------------------------

    // Claims the oldest message (empty claim when there is none); release() must follow.
    [[nodiscard]] claim<const T> front(std::uint32_t who = 0) noexcept {
        for (;;) {
            auto [s, pos] = take(st_->ctl.tail, 1, who);
            if (!s) return {};
            if (s->owner.load(std::memory_order_relaxed) == owner_hole) {
                // A hole: its producer died before committing. Pass over it.
                release(claim<const T>{nullptr, pos});
                continue;
            }
            return {s->get(), pos};
        }
    }
    void release(claim<const T> c) noexcept {
        auto& s = at(c.index);
        s.owner.store(0, std::memory_order_relaxed);
        s.turn.store(c.index + capacity_, std::memory_order_release);
    }

    [[nodiscard]] bool try_pop(T& out, std::uint32_t who = 0) noexcept {
        auto c = front(who);
        if (!c) return false;
        std::memcpy(static_cast<void*>(&out), c.ptr, sizeof(T));
        release(c);
        return true;
    }

    // ---- repair (see the class comment) ----------------------------------

    // Consumers: if the oldest slot was claimed by a producer that is dead
    // (alive(owner) is false), publish it as a hole. True if it did.
    template <class Alive>
    bool skip_dead_claim(Alive alive) noexcept {
        const std::uint64_t pos = st_->ctl.tail.load(std::memory_order_acquire);
        if (st_->ctl.head.load(std::memory_order_acquire) - pos - 1 >= capacity_) return false;  // not claimed
        auto& s = at(pos);
        std::uint64_t turn = pos;
        if (s.turn.load(std::memory_order_acquire) != turn) return false;
        std::uint32_t who = s.owner.load(std::memory_order_acquire);
        if (who == owner_hole || alive(who)) return false;
        // The owner word is written before the turn, so whoever claims the
        // published slot reads "hole". Only one repairer wins the word.
        if (!s.owner.compare_exchange_strong(who, owner_hole, std::memory_order_acq_rel)) return false;
        return s.turn.compare_exchange_strong(turn, pos + 1, std::memory_order_release);
    }
    // Producers: if the slot the next producer needs is still held by a
    // consumer that is dead, hand it back (its message is lost). True if it did.
    template <class Alive>
    bool release_dead_claim(Alive alive) noexcept {
        const std::uint64_t pos = st_->ctl.head.load(std::memory_order_acquire);
        const std::uint64_t prev = pos - capacity_;  // the lap whose message still sits there
        if (static_cast<std::int64_t>(st_->ctl.tail.load(std::memory_order_acquire) - prev) <= 0) return false;  // not taken
        auto& s = at(pos);
        std::uint64_t turn = prev + 1;
        if (s.turn.load(std::memory_order_acquire) != turn) return false;
        std::uint32_t who = s.owner.load(std::memory_order_acquire);
        if (who == owner_hole || alive(who)) return false;
        if (!s.owner.compare_exchange_strong(who, 0, std::memory_order_acq_rel)) return false;
        return s.turn.compare_exchange_strong(turn, pos, std::memory_order_release);
    }

private:
    // Claims the slot at `index` once its turn is index + lag (0: free for a
    // producer, 1: full for a consumer) and records `who` in it; nullptr when
    // the ring is full (empty). A consumer leaves a hole's mark in place
    // for front() to see.
    std::pair<owned_slot<T>*, std::uint64_t> take(std::atomic<std::uint64_t>& index, std::uint64_t lag, std::uint32_t who) noexcept {
        std::uint64_t pos = index.load(std::memory_order_relaxed);
        for (;;) {
            owned_slot<T>& s = at(pos);
            const std::uint64_t turn = s.turn.load(std::memory_order_acquire);
            const auto dif = static_cast<std::int64_t>(turn - (pos + lag));
            if (dif == 0) {
                if (index.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
                    if (lag == 0 || s.owner.load(std::memory_order_relaxed) != owner_hole)
                        s.owner.store(who, std::memory_order_relaxed);
                    return {&s, pos};
                }
            } else if (dif < 0) {
                return {nullptr, 0};
            } else {
                // Someone claimed pos: the index has moved (the turn was
                // published after the claim). If it has not, the region is
                // corrupt: report empty/full rather than spin forever.
                const std::uint64_t was = pos;
                pos = index.load(std::memory_order_relaxed);
                if (pos == was) return {nullptr, 0};
            }
        }
    }
};

} // namespace ipc::ring
