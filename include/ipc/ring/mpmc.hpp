// ipc/ring/mpmc.hpp: many producers, many consumers, each message taken by exactly one.
#pragma once

#include <cstring>

#include "kind.hpp"

namespace ipc::ring {

// A bounded queue of fixed-size slots that survives processes killed at any
// instruction (SIGKILL) on either side.
//
// The fast path is Vyukov's bounded queue. Each slot's word says which index
// it serves: i while it is free for index i, i + 1 once index i's message is
// in it. A producer claims index `head` by moving head on with one
// compare-and-swap (when the slot is free for it), writes, and stores i + 1;
// a consumer claims `tail` the same way when the slot holds its message,
// reads, and stores i + capacity (free for the next lap). With one producer
// and one consumer each swap is on a line only that side writes, so a message
// costs the line transfers of a hand-written ring: the other side only reads
// the slot word, never swaps on it (a locked instruction on a line the other
// side polls waits for the line to travel, and the earlier design claimed on
// the slot word: measured, 0.3x of an spsc ring, against 0.6-0.7x now).
//
// Crash safety. Just before its swap a claimant stores the index it is
// claiming in a line of its own (claim_intent, one per peer-table slot, owner
// word included; a plain store on a line no one else writes, so it costs
// little). A claim that was never finished is a slot still free for index i
// while head has passed i (its producer never committed) or still holding
// i's message while tail has passed i (its consumer never released). Every
// claimant's store of its intent comes before its swap, and it changes its
// intent only after finishing, so if no live end's line names that index the
// claimant is dead (or recorded nothing: see below), and repair() finishes
// the claim for it, each step one compare-and-swap of the exact word it
// looked at, so it can never undo a claim made or finished since:
//  - a producer's: the slot becomes a hole for index i (its word i + 1 with
//    the hole flag), which the consumer that claims i frees unread, so a
//    half-written message is never delivered;
//  - a consumer's, under delivery::at_most_once: the slot is freed (the
//    message went with the process that took it);
//  - a consumer's, under delivery::at_least_once: the slot is marked pending
//    (producers wait at it as at a full slot) and the message queued again,
//    flagged redelivered, where consumers will reach it:
//      - if producers have claimed every index up to the next one the slot
//        serves (head waits at it: the slot holds them up), the repair claims
//        that index as a producer would and the same slot, unchanged, holds
//        its message (a repair killed between the two steps is finished by
//        the next: head past the index with the slot still pending says so);
//      - otherwise that index may never be reached (producers gone quiet), so
//        the repair marks the slot as being copied (noting it in its own
//        line), copies the message into a slot it claims at head and commits
//        that as redelivered, then frees the old slot. A repair killed in
//        between leaves the mark with no live line naming it: the next repair
//        takes it back to pending and copies again, so at worst the message
//        arrives twice, both flagged. With the ring full it waits for later.
//    A redelivered message comes after up to capacity - 1 later ones; every
//    other message keeps its producer's order.
// Repair runs off the hot path: when an end joins, and when a waiter went a
// whole check interval without progress (ring_region::check_peers). A
// claimant with no owner word writes no intent, so its live claims would look
// dead: a channel end the peer table has no slot for is refused, and a raw
// caller that passes `who` = 0 must not share the ring with a repair.
//
// Indices are 60 bits (a slot word's top bits are its flags): at 10^9
// messages a second they last 36 years.
//
// The delivery guarantee is part of the ring's type (D) because it decides
// what every process's repair does; it is stored in the region and checked
// on attach, so two programs that disagree on it cannot share a ring.

// A claimed mpmc slot: where to construct (or read), which index it is, and
// (consumers) whether a consumer that died holding it had claimed it before.
template <class P>
struct mpmc_claim {
    P* ptr = nullptr;
    std::uint64_t index = 0;
    bool redelivered = false;
    explicit operator bool() const noexcept { return ptr != nullptr; }
};

template <class T, delivery D>
class mpmc : public fixed_slots<mpmc<T, D>, T, kind::mpmc, mpmc_control> {
    using base = fixed_slots<mpmc<T, D>, T, kind::mpmc, mpmc_control>;
    using base::at;
    using base::capacity_;
    using base::mask_;
    using base::st_;

public:
    // Where the slot serving an index is, as inspect() tells it.
    //   free: open to the producer that claims the index; writing: claimed by one;
    //   full: holds the index's message; reading: claimed by a consumer;
    //   hole: a producer's claim given back or repaired, passed over unread;
    //   redelivered: full again, after its consumer died (at_least_once);
    //   pending: its consumer died, the message waits to be queued again.
    enum class phase : std::uint8_t { free, writing, full, hole, reading, redelivered, pending };
    static constexpr ring::delivery delivery_guarantee = D;

    template <class P>
    using claim = mpmc_claim<P>;

    // Producers and consumers come and go: a count that drops to zero says
    // nothing of the next one (see ipc/eos.hpp).
    static constexpr eos default_eos = eos::never;
    static constexpr std::size_t max_ends(direction) noexcept { return unlimited_ends; }
    // Per end: who it is (its owner word names its claim line) and the slot
    // it loaned or peeked last.
    struct end_state {
        std::uint64_t index = 0;
        std::uint32_t owner = 0;
        bool redelivered = false;
    };

    using base::base;
    using base::push_n;
    using base::pop_n;

    // A restarted process finds the ring usable: what dead ones held is
    // repaired. An end the peer table has no slot for is refused: with no
    // claim line, its live claims would look dead to every repair.
    bool join(direction d, end_state& e, const end_id& id, std::error_code& ec) noexcept {
        if (id.owner == 0) {
            ec = ipc::detail::explain(make_error_code(errc::limit_exceeded),
                                      "the mpmc ring has a claim line for each of %zu ends, and that many live ends hold them", max_peers);
            return false;
        }
        e = {0, id.owner, false};
        claim_intent& l = line(id.owner);
        l.claim.store(0, std::memory_order_relaxed);
        l.repair.store(0, std::memory_order_relaxed);
        l.owner.store(id.owner, std::memory_order_release);
        repairer_[d == direction::recv] = id.owner;
        repair();
        return true;
    }
    void leave(direction d, end_state& e) noexcept {
        if (e.owner != 0) line(e.owner).claim.store(0, std::memory_order_release);
        e = {};
        repairer_[d == direction::recv] = 0;
    }
    bool redelivered(const end_state& e) const noexcept { return e.redelivered; }

    // ---- the kind interface (ring/kind.hpp), over the end's claim ---------
    T* loan(end_state& e) noexcept {
        auto c = loan(e.owner);
        e.index = c.index;
        return c.ptr;
    }
    void commit(end_state& e) noexcept { commit(claim<T>{nullptr, e.index}); }
    void cancel(end_state& e) noexcept { cancel(claim<T>{nullptr, e.index}); }
    const T* front(end_state& e) noexcept {
        auto c = front(e.owner);
        e.index = c.index;
        e.redelivered = c.redelivered;
        return c.ptr;
    }
    bool release(end_state& e) noexcept {
        release(claim<const T>{nullptr, e.index});
        return true;
    }
    std::size_t push_n(std::span<const T> vs, end_state& e) noexcept { return base::push_n(vs, e.owner); }
    std::size_t pop_n(std::span<T> out, end_state& e) noexcept { return base::pop_n(out, e.owner); }
    bool can_push(const end_state&) const noexcept { return can_push(); }
    bool can_pop(const end_state&) const noexcept { return can_pop(); }
    // For ipc-ls: the delivery guarantee and how many were redelivered.
    static bool describe(std::span<const std::byte> region, const header& h, description& out) noexcept {
        if (!base::describe(region, h, out)) return false;
        const mpmc_control* c = control_in<mpmc_control>(region);
        out.add("delivery", delivery_name(c->delivery.load(std::memory_order_relaxed)));
        out.add("redelivered", c->redelivered.load(std::memory_order_relaxed));
        return true;
    }

    static void init_control(mpmc_control& c) noexcept {
        c.delivery.store(static_cast<std::uint32_t>(D), std::memory_order_relaxed);
        c.redelivered.store(0, std::memory_order_relaxed);
    }
    static bool check_control(const mpmc_control& c, std::error_code& ec) noexcept {
        const std::uint32_t found = c.delivery.load(std::memory_order_relaxed);
        if (found == static_cast<std::uint32_t>(D)) return true;
        ec = ipc::detail::explain(make_error_code(errc::layout_mismatch),
                                  "delivery differs: the region's mpmc ring delivers %s, this program expects %s", delivery_name(found),
                                  delivery_name(static_cast<std::uint32_t>(D)));
        return false;
    }
    static const char* delivery_name(std::uint32_t d) noexcept {
        return d == static_cast<std::uint32_t>(ring::delivery::at_most_once)    ? "at most once"
               : d == static_cast<std::uint32_t>(ring::delivery::at_least_once) ? "at least once"
                                                                                  : "in an unknown way";
    }
    // Messages handed to another consumer since the region was made.
    std::uint64_t redelivered() const noexcept { return st_->ctl.redelivered.load(std::memory_order_relaxed); }

    // ---- producers -----------------------------------------------------

    // Claims a free slot (empty claim when full); commit() must follow.
    // `who` is the caller's owner_word (0: records no intent; see the class
    // comment). A `who` holds one claim at a time, loaned or peeked: its line
    // names one index, so a second claim made before the first is committed
    // (released) would leave the first looking dead to a repair. (A channel
    // end refuses a second loan or peek with errc::in_use.)
    [[nodiscard]] claim<T> loan(std::uint32_t who = 0) noexcept {
        std::uint64_t pos = st_->ctl.head.load(std::memory_order_relaxed);
        for (std::uint64_t tries = 0; tries < retry_limit(); ++tries) {
            auto& s = at(pos);
            const std::uint64_t w = s.state.load(std::memory_order_acquire);
            const std::int64_t d = ahead(w & index_mask, pos);
            if (d == 0 && (w & flags) == 0) {
                intend(who, pos, 0);
                const std::uint64_t mine = pos;
                if (st_->ctl.head.compare_exchange_strong(pos, pos + 1, std::memory_order_release, std::memory_order_relaxed))
                    return {s.get(), mine};
                continue;  // another producer took it: pos is the head now
            }
            if (d > 0) {  // taken and written since we read head
                pos = st_->ctl.head.load(std::memory_order_relaxed);
                continue;
            }
            break;  // still holds an earlier index: full
        }
        forget(who);
        return {};
    }
    void commit(claim<T> c) noexcept { at(c.index).state.store(c.index + 1, std::memory_order_release); }
    // Gives a loaned slot back unsent. Other producers may have claimed later
    // indices, so it cannot become free again in place: it becomes a hole, as
    // repair() makes of a dead writer's slot, which the consumer that reaches
    // it frees unread.
    void cancel(claim<T> c) noexcept { at(c.index).state.store((c.index + 1) | hole_flag, std::memory_order_release); }

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
        std::uint64_t pos = st_->ctl.tail.load(std::memory_order_relaxed);
        for (std::uint64_t tries = 0; tries < retry_limit(); ++tries) {
            auto& s = at(pos);
            const std::uint64_t w = s.state.load(std::memory_order_acquire);
            const std::int64_t d = ahead(w & index_mask, pos + 1);
            if (d == 0 && (w & (pending_flag | copying_flag)) == 0) {
                intend(who, pos, 1);
                const std::uint64_t mine = pos;
                if (!st_->ctl.tail.compare_exchange_strong(pos, pos + 1, std::memory_order_acq_rel, std::memory_order_relaxed))
                    continue;  // another consumer took it: pos is the tail now
                if ((w & hole_flag) == 0) return {s.get(), mine, (w & redelivered_flag) != 0};
                // Its producer gave it back or died writing: free it unread, go on.
                s.state.store(mine + capacity_, std::memory_order_release);
                ++pos;
                continue;
            }
            if (d >= 0) {  // taken since we read tail
                pos = st_->ctl.tail.load(std::memory_order_relaxed);
                continue;
            }
            break;  // not written yet: empty
        }
        forget(who);
        return {};
    }
    void release(claim<const T> c) noexcept { at(c.index).state.store(c.index + capacity_, std::memory_order_release); }

    [[nodiscard]] bool try_pop(T& out, std::uint32_t who = 0) noexcept {
        auto c = front(who);
        if (!c) return false;
        std::memcpy(static_cast<void*>(&out), c.ptr, sizeof(T));
        release(c);
        return true;
    }

    // Whether loan (front) would make progress now: a free slot (a message),
    // or an index that moved on since it was read.
    bool can_push() const noexcept {
        const std::uint64_t h = st_->ctl.head.load(std::memory_order_relaxed);
        const std::uint64_t w = at(h).state.load(std::memory_order_acquire);
        return ahead(w & index_mask, h) >= 0;
    }
    bool can_pop() const noexcept {
        const std::uint64_t t = st_->ctl.tail.load(std::memory_order_relaxed);
        const std::uint64_t w = at(t).state.load(std::memory_order_acquire);
        return ahead(w & index_mask, t + 1) >= 0;
    }

    // ---- repair (see the class comment) ----------------------------------

    // Repairs what dead processes left, as this process's end (the owner a
    // copied redelivery is claimed under).
    std::size_t repair() noexcept {
        return repair([&](std::uint32_t who) { return owner_alive(this->peers(), who); }, repairer_[0] ? repairer_[0] : repairer_[1]);
    }

    // Finishes every claim no live end names (alive(owner) false for the
    // owner of each line that names it); returns how many it finished. `me`
    // is the caller's owner_word, under which it claims what it copies (0: it
    // copies nothing, and a redelivery that needs a copy waits for a repairer
    // that has one). Assumes every claimant records its owner. Scans the
    // whole ring: it runs only after a waiter saw no progress for a while.
    template <class Alive>
    std::size_t repair(Alive alive, std::uint32_t me = 0) noexcept {
        std::size_t n = 0;
        for (std::uint64_t i = 0; i < capacity_; ++i) {
            auto& s = at(i);
            std::uint64_t w = s.state.load(std::memory_order_acquire);
            const std::uint64_t f = w & flags, v = w & index_mask;
            if ((f & (pending_flag | copying_flag)) != 0) {
                n += requeue(i, w, alive, me) ? 1 : 0;
                continue;
            }
            if (f == 0 && (v & mask_) == i) {  // free for index v: stuck if a producer claimed v
                if (!passed(st_->ctl.head, v) || named(v, 0, alive)) continue;
                if (s.state.compare_exchange_strong(w, (v + 1) | hole_flag, std::memory_order_acq_rel, std::memory_order_relaxed)) ++n;
                continue;
            }
            if (((v - 1) & mask_) != i) continue;  // not a word this slot can hold
            const std::uint64_t idx = v - 1;  // holds index idx's message: stuck if a consumer claimed it
            if (!passed(st_->ctl.tail, idx) || named(idx, 1, alive)) continue;
            if (D == ring::delivery::at_least_once && (f & hole_flag) == 0) {
                std::uint64_t pending = v | pending_flag;
                if (!s.state.compare_exchange_strong(w, pending, std::memory_order_acq_rel, std::memory_order_relaxed)) continue;
                if (requeue(i, pending, alive, me)) ++n;
                continue;
            }
            if (s.state.compare_exchange_strong(w, idx + capacity_, std::memory_order_acq_rel, std::memory_order_relaxed)) ++n;
        }
        return n;
    }

    // The state of the slot serving `index` (for tests and tools).
    struct slot_state {
        std::int64_t lap_ahead;  // laps the slot is past index (< 0: still on an earlier one)
        phase ph;
    };
    slot_state inspect(std::uint64_t index) const noexcept {
        const std::uint64_t w = at(index).state.load(std::memory_order_acquire);
        const std::uint64_t f = w & flags, v = w & index_mask;
        const std::int64_t d = ahead(v, index);
        if ((f & (pending_flag | copying_flag)) != 0) return {0, phase::pending};  // for the index after the one it held
        if (d < 0) return {-1, phase::full};
        if (d == 0) return {0, passed(st_->ctl.head, index) ? phase::writing : phase::free};
        if (d == 1) {
            if ((f & hole_flag) != 0) return {0, phase::hole};
            if (passed(st_->ctl.tail, index)) return {0, phase::reading};
            return {0, (f & redelivered_flag) != 0 ? phase::redelivered : phase::full};
        }
        return {d / static_cast<std::int64_t>(capacity_), phase::free};
    }

    // A slot word, as the region holds it: [flags: 4 bits][index: 60 bits].
    static constexpr std::uint64_t hole_flag = std::uint64_t{1} << 63;         // passed over unread
    static constexpr std::uint64_t redelivered_flag = std::uint64_t{1} << 62;  // its first consumer died
    static constexpr std::uint64_t pending_flag = std::uint64_t{1} << 61;      // its consumer died, not yet queued again
    static constexpr std::uint64_t copying_flag = std::uint64_t{1} << 60;      // a repair is copying it (instead of pending)
    static constexpr std::uint64_t flags = hole_flag | redelivered_flag | pending_flag | copying_flag;
    static constexpr std::uint64_t index_mask = ~flags;
    // What a claim line says while its end claims index on a side (1: consumer).
    static constexpr std::uint64_t intent_word(std::uint64_t index, std::uint64_t side) noexcept { return (index + 1) << 1 | side; }

private:
    // This process's owner word as a producer [0] and as a consumer [1] (0:
    // not that end): a repair claims its copies under one.
    std::uint32_t repairer_[2] = {0, 0};

    // a - b as 60-bit indices, signed.
    static constexpr std::int64_t ahead(std::uint64_t a, std::uint64_t b) noexcept {
        return static_cast<std::int64_t>((a - b) << 4) >> 4;
    }
    // Whether the shared index has moved past i (someone claimed i).
    static bool passed(const std::atomic<std::uint64_t>& index, std::uint64_t i) noexcept {
        return ahead(index.load(std::memory_order_acquire) & index_mask, i) > 0;
    }
    // A claim loop gives up after this many tries (only contention or a
    // corrupt region gets near it; the caller then waits and tries again).
    std::uint64_t retry_limit() const noexcept { return 2 * capacity_ + 1024; }

    claim_intent& line(std::uint32_t who) const noexcept { return st_->ctl.intents[who & (max_peers - 1)]; }
    // Before a claim's swap: says which index this end is claiming.
    void intend(std::uint32_t who, std::uint64_t index, std::uint64_t side) noexcept {
        if (who == 0) return;
        claim_intent& l = line(who);
        if (l.owner.load(std::memory_order_relaxed) != who) l.owner.store(who, std::memory_order_relaxed);
        l.claim.store(intent_word(index, side), std::memory_order_release);
    }
    // After a claim attempt that took nothing: an intent left standing would
    // hold up the repair of the index it names while this end is idle.
    void forget(std::uint32_t who) noexcept {
        if (who != 0) line(who).claim.store(0, std::memory_order_release);
    }
    // Whether a live end's line names index on that side (1: consumer), or a
    // repair's copy of index (side 2).
    template <class Alive>
    bool named(std::uint64_t index, std::uint64_t side, Alive& alive) const noexcept {
        for (const claim_intent& l : st_->ctl.intents) {
            const bool says = side == 2 ? l.repair.load(std::memory_order_acquire) == index + 1
                                        : l.claim.load(std::memory_order_acquire) == intent_word(index, side);
            if (says && alive(l.owner.load(std::memory_order_relaxed))) return true;
        }
        return false;
    }

    // Queues again the message of slot i (word w, pending or being copied),
    // whose consumer died (see the class comment); true once it is queued.
    template <class Alive>
    bool requeue(std::uint64_t i, std::uint64_t w, Alive& alive, std::uint32_t me) noexcept {
        auto& s = at(i);
        const std::uint64_t idx = (w & index_mask) - 1;
        if ((idx & mask_) != i) return false;  // not a word this slot can hold
        if ((w & copying_flag) != 0) {
            if (named(idx, 2, alive)) return false;  // a live repair is copying it
            const std::uint64_t back = (w & ~copying_flag) | pending_flag;
            if (!s.state.compare_exchange_strong(w, back, std::memory_order_acq_rel, std::memory_order_relaxed)) return false;
            w = back;  // its copier died: maybe after its copy was queued (then it arrives twice, both flagged)
        }
        const std::uint64_t next = idx + capacity_;  // the index the slot serves next
        auto in_place = [&] {
            if (!s.state.compare_exchange_strong(w, (next + 1) | redelivered_flag, std::memory_order_acq_rel, std::memory_order_relaxed))
                return false;
            st_->ctl.redelivered.fetch_add(1, std::memory_order_relaxed);
            return true;
        };
        // Producers claim an index only from a slot free for it, so head past
        // `next` means a repair claimed it for this message (and may have died).
        std::uint64_t h = st_->ctl.head.load(std::memory_order_acquire) & index_mask;
        if (ahead(h, next) > 0) return in_place();
        if (h == next && st_->ctl.head.compare_exchange_strong(h, next + 1, std::memory_order_acq_rel, std::memory_order_relaxed)) {
            if (in_place()) return true;
            // Another repair copied it away and freed the slot for `next`,
            // which this one has just claimed: a hole, as a cancel leaves.
            std::uint64_t free_word = next;
            s.state.compare_exchange_strong(free_word, (next + 1) | hole_flag, std::memory_order_acq_rel, std::memory_order_relaxed);
            return false;
        }
        if (me == 0) return false;
        // Copy it to the head, under a mark no other repair copies through.
        claim_intent& mine = line(me);
        mine.repair.store(idx + 1, std::memory_order_release);
        const std::uint64_t copying = (w & ~pending_flag) | copying_flag;
        if (!s.state.compare_exchange_strong(w, copying, std::memory_order_acq_rel, std::memory_order_relaxed)) {
            mine.repair.store(0, std::memory_order_release);
            return false;
        }
        auto c = loan(me);
        if (!c) {  // full: a later repair tries again
            s.state.store(w, std::memory_order_release);
            mine.repair.store(0, std::memory_order_release);
            return false;
        }
        std::memcpy(static_cast<void*>(c.ptr), static_cast<const void*>(s.get()), sizeof(T));
        at(c.index).state.store((c.index + 1) | redelivered_flag, std::memory_order_release);
        st_->ctl.redelivered.fetch_add(1, std::memory_order_relaxed);
        s.state.store(next, std::memory_order_release);
        mine.repair.store(0, std::memory_order_release);
        return true;
    }
};

static_assert(fixed_kind<mpmc<int, delivery::at_most_once>>);

}  // namespace ipc::ring
