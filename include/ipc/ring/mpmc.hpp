// ipc/ring/mpmc.hpp: many producers, many consumers, each message taken by exactly one.
#pragma once

#include <bit>
#include <cstring>

#include "kind.hpp"

namespace ipc::ring {

// A bounded queue of fixed-size slots that survives processes killed at any
// instruction (SIGKILL) on either side.
//
// Each slot has one 64-bit state word: the lap of the ring it serves now
// (index / capacity), a phase, and the claimant's owner_word:
//
//     free(lap) --producer--> writing(lap, who) --commit--> full(lap)
//        ^                          | who died: repair            |
//        |                          v                             | consumer
//        |                      hole(lap) --consumer passes--+    v
//        +------ release / who died: repair --------- reading(lap, who)
//
// A process claims a slot with one compare-and-swap on its word (not on the
// shared index, as in Vyukov's design), so the claim and the record of who
// made it are the same atomic step; commit and release are one store each.
// Whatever instruction a process dies at, each slot it touched is in exactly
// one of these states, naming it, or untouched. The shared head and tail are
// hints: whoever finds the slot at an index already claimed moves the index
// on, so a claimant killed before moving it stalls no one.
//
// What a dead process leaves is repaired by repair(), called by a waiter that
// went a whole check interval without progress (see ring_region::check_peers)
// and by nobody on the hot path: writing(dead) becomes a hole, which
// consumers pass over, so a half-written message is never delivered;
// reading(dead) is handed back to producers (the message went with the
// process that took it) under delivery::at_most_once; under
// delivery::at_least_once the message is queued again, flagged redelivered,
// where consumers will reach it:
//  - producers have claimed every index up to the one the slot serves next
//    (the head waits at it: the slot held them up): the slot becomes
//    redelivered(lap + 1), the same message serving that index, which
//    consumers take as they take a full slot and producers pass;
//  - otherwise that index may never be reached (producers gone quiet, the
//    ring drained), so the repairer takes the claim over, copies the message
//    into a slot it loans at the head, commits that as redelivered and frees
//    the old slot. A repairer killed in between leaves claims of its own,
//    repaired in turn (at worst the message arrives twice, both flagged);
//    with the ring full it leaves the claim to a later repair.
// So a redelivered message comes after up to capacity - 1 later ones; every
// other message keeps its producer's order. Each repair step is one
// compare-and-swap of the whole word, so it cannot undo a live claim made
// since it looked.
//
// Laps are kept mod 2^29: a process stalled for 2^29 laps could claim a slot
// a whole cycle later, which still publishes the slot under the lap it then
// serves. Owner 0 ("unknown": the peer table was full) is never repaired.
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
    using base::st_;

public:
    // redelivered: full again, after its consumer died (delivery::at_least_once).
    enum class phase : std::uint64_t { free = 0, writing = 1, full = 2, hole = 3, reading = 4, redelivered = 5 };
    static constexpr ring::delivery delivery_guarantee = D;

    template <class P>
    using claim = mpmc_claim<P>;

    // Producers and consumers come and go: a count that drops to zero says
    // nothing of the next one (see ipc/eos.hpp).
    static constexpr eos default_eos = eos::never;
    static constexpr std::size_t max_ends(direction) noexcept { return unlimited_ends; }
    // Per end: who it is (recorded in the slots it claims) and the slot it
    // loaned or peeked last.
    struct end_state {
        std::uint64_t index = 0;
        std::uint32_t owner = 0;
        bool redelivered = false;
    };

    using base::base;
    using base::push_n;
    using base::pop_n;

    // A restarted process finds the ring usable: what dead ones held is repaired.
    bool join(direction d, end_state& e, const end_id& id, std::error_code&) noexcept {
        e = {0, id.owner, false};
        repairer_[d == direction::recv] = id.owner;
        repair();
        return true;
    }
    void leave(direction d, end_state& e) noexcept {
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
    // `who` is the caller's owner_word.
    [[nodiscard]] claim<T> loan(std::uint32_t who = 0) noexcept {
        std::uint64_t pos = st_->ctl.head.load(std::memory_order_relaxed);
        for (std::uint64_t helped = 0; helped <= capacity_;) {
            auto& s = at(pos);
            std::uint64_t w = s.state.load(std::memory_order_acquire);
            const std::int64_t d = lap_diff(w, pos);
            if (d < 0) return {};  // still holds the previous lap: full
            if (d == 0 && phase_of(w) == phase::free) {
                if (s.state.compare_exchange_strong(w, word(lap_of(pos), phase::writing, who), std::memory_order_acquire,
                                                    std::memory_order_relaxed)) {
                    const std::uint64_t mine = pos;
                    advance(st_->ctl.head, pos);
                    return {s.get(), mine};
                }
                continue;  // another producer took it: look again
            }
            if (advance(st_->ctl.head, pos)) ++helped;  // taken already: the index lags
        }
        return {};  // only a corrupt region gets here
    }
    void commit(claim<T> c) noexcept {
        at(c.index).state.store(word(lap_of(c.index), phase::full, 0), std::memory_order_release);
    }
    // Gives a loaned slot back unsent. The shared head has moved past it and
    // other producers may have committed behind it, so it cannot become free
    // again in place: it becomes a hole, as repair() makes of a dead writer's
    // slot, and the next consumer passes over it and frees it for a later lap.
    void cancel(claim<T> c) noexcept {
        at(c.index).state.store(word(lap_of(c.index), phase::hole, 0), std::memory_order_release);
    }

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
        for (std::uint64_t helped = 0; helped <= capacity_;) {
            auto& s = at(pos);
            std::uint64_t w = s.state.load(std::memory_order_acquire);
            const std::int64_t d = lap_diff(w, pos);
            const phase ph = phase_of(w);
            if (d < 0 || (d == 0 && (ph == phase::free || ph == phase::writing))) return {};  // nothing ready yet
            if (d == 0 && (ph == phase::full || ph == phase::redelivered)) {
                if (s.state.compare_exchange_strong(w, word(lap_of(pos), phase::reading, who), std::memory_order_acquire,
                                                    std::memory_order_relaxed)) {
                    const std::uint64_t mine = pos;
                    advance(st_->ctl.tail, pos);
                    return {s.get(), mine, ph == phase::redelivered};
                }
                continue;
            }
            if (d == 0 && ph == phase::hole) {
                // Its producer died before committing: free the slot unread.
                if (s.state.compare_exchange_strong(w, word(lap_of(pos) + 1, phase::free, 0), std::memory_order_release,
                                                    std::memory_order_relaxed))
                    ++helped;
                continue;  // next time round the slot is a later lap: the index moves on
            }
            if (advance(st_->ctl.tail, pos)) ++helped;  // being read or a later lap: the index lags
        }
        return {};
    }
    void release(claim<const T> c) noexcept {
        at(c.index).state.store(word(lap_of(c.index) + 1, phase::free, 0), std::memory_order_release);
    }

    [[nodiscard]] bool try_pop(T& out, std::uint32_t who = 0) noexcept {
        auto c = front(who);
        if (!c) return false;
        std::memcpy(static_cast<void*>(&out), c.ptr, sizeof(T));
        release(c);
        return true;
    }

    // Whether loan (front) would make progress now: a free slot, or an index
    // that lags and can be moved on.
    bool can_push() const noexcept {
        const std::uint64_t h = st_->ctl.head.load(std::memory_order_relaxed);
        return lap_diff(at(h).state.load(std::memory_order_acquire), h) >= 0;
    }
    bool can_pop() const noexcept {
        const std::uint64_t t = st_->ctl.tail.load(std::memory_order_relaxed);
        const std::uint64_t w = at(t).state.load(std::memory_order_acquire);
        const std::int64_t d = lap_diff(w, t);
        return d > 0 || (d == 0 && phase_of(w) != phase::free && phase_of(w) != phase::writing);
    }

    // ---- repair (see the class comment) ----------------------------------

    // Repairs what processes the peer table knows dead left behind, as this
    // process's end (the owner a copied redelivery is claimed under).
    std::size_t repair() noexcept {
        return repair([&](std::uint32_t who) { return owner_alive(this->peers(), who); }, repairer_[0] ? repairer_[0] : repairer_[1]);
    }

    // Repairs every slot claimed by a process that is dead (alive(owner) is
    // false); returns how many. `me` is the caller's owner_word, under which
    // it claims what it copies (0: it copies nothing, and a redelivery that
    // needs a copy waits for a repairer that has one). Scans the whole ring:
    // it runs only after a waiter saw no progress for a check interval.
    template <class Alive>
    std::size_t repair(Alive alive, std::uint32_t me = 0) noexcept {
        std::size_t n = 0;
        for (std::uint64_t i = 0; i < capacity_; ++i) {
            auto& s = at(i);
            std::uint64_t w = s.state.load(std::memory_order_acquire);
            const phase ph = phase_of(w);
            if (ph != phase::writing && ph != phase::reading) continue;
            const auto who = static_cast<std::uint32_t>(w);
            if (who == 0 || alive(who)) continue;
            const std::uint64_t lap = w >> lap_shift;
            if (ph == phase::reading && D == ring::delivery::at_least_once) {
                n += redeliver(i, w, me) ? 1 : 0;
                continue;
            }
            const std::uint64_t to = ph == phase::writing ? word(lap, phase::hole, 0) : word(lap + 1, phase::free, 0);
            if (s.state.compare_exchange_strong(w, to, std::memory_order_acq_rel, std::memory_order_relaxed)) ++n;
        }
        return n;
    }

    // The state of the slot serving `index` (for tests and tools).
    struct slot_state {
        std::int64_t lap_ahead;  // lap of the slot minus lap of index
        phase ph;
        std::uint32_t owner;
    };
    slot_state inspect(std::uint64_t index) const noexcept {
        const std::uint64_t w = at(index).state.load(std::memory_order_acquire);
        return {lap_diff(w, index), phase_of(w), static_cast<std::uint32_t>(w)};
    }

private:
    // This process's owner word as a producer [0] and as a consumer [1] (0:
    // not that end): a repair claims its copies under one.
    std::uint32_t repairer_[2] = {0, 0};

    // Queues again the message of slot i, claimed (word w) by a dead
    // consumer (see the class comment); true once it is queued.
    bool redeliver(std::uint64_t i, std::uint64_t w, std::uint32_t me) noexcept {
        auto& s = at(i);
        const std::uint64_t lap = w >> lap_shift;
        // The index the slot serves next, as the head names it: there, every
        // index before it has been claimed, and consumers will reach it.
        auto head_waits_here = [&] {
            const std::uint64_t h = st_->ctl.head.load(std::memory_order_acquire);
            return (h & (capacity_ - 1)) == i && lap_diff(word(lap + 1, phase::free, 0), h) == 0;
        };
        auto in_place = [&](std::uint64_t from) {
            if (!s.state.compare_exchange_strong(from, word(lap + 1, phase::redelivered, 0), std::memory_order_acq_rel,
                                                 std::memory_order_relaxed))
                return false;
            st_->ctl.redelivered.fetch_add(1, std::memory_order_relaxed);
            return true;
        };
        if (head_waits_here()) return in_place(w);
        if (me == 0) return false;
        // Take the claim over first: no other repairer copies it too.
        const std::uint64_t mine = word(lap, phase::reading, me);
        if (!s.state.compare_exchange_strong(w, mine, std::memory_order_acq_rel, std::memory_order_relaxed)) return false;
        auto c = loan(me);
        if (!c) {
            // Full: the head may have reached the slot meanwhile; if not,
            // the claim goes back as it was, for a later repair.
            if (head_waits_here()) return in_place(mine);
            s.state.store(w, std::memory_order_release);
            return false;
        }
        std::memcpy(static_cast<void*>(c.ptr), static_cast<const void*>(s.get()), sizeof(T));
        at(c.index).state.store(word(lap_of(c.index), phase::redelivered, 0), std::memory_order_release);
        st_->ctl.redelivered.fetch_add(1, std::memory_order_relaxed);
        s.state.store(word(lap + 1, phase::free, 0), std::memory_order_release);
        return true;
    }

    static constexpr unsigned lap_shift = 35;  // [lap: 29 bits][phase: 3 bits][owner: 32 bits]
    static_assert(static_cast<std::uint64_t>(phase::redelivered) < 8);

    static constexpr std::uint64_t word(std::uint64_t lap, phase p, std::uint32_t who) noexcept {
        return lap << lap_shift | static_cast<std::uint64_t>(p) << 32 | who;
    }
    static constexpr phase phase_of(std::uint64_t w) noexcept { return static_cast<phase>((w >> 32) & 7); }
    std::uint64_t lap_of(std::uint64_t index) const noexcept { return index >> std::countr_zero(capacity_); }
    // The slot's lap minus index's lap, both mod 2^29: < 0 the slot is still
    // on an earlier lap, 0 it serves index, > 0 it has moved past index.
    std::int64_t lap_diff(std::uint64_t w, std::uint64_t index) const noexcept {
        return static_cast<std::int64_t>(((w >> lap_shift) - lap_of(index)) << lap_shift) >> lap_shift;
    }
    // Moves a lagging index from pos to pos + 1. pos becomes the index's
    // value now; true if this call moved it.
    static bool advance(std::atomic<std::uint64_t>& index, std::uint64_t& pos) noexcept {
        if (index.compare_exchange_strong(pos, pos + 1, std::memory_order_relaxed)) {
            ++pos;
            return true;
        }
        return false;
    }
};

static_assert(fixed_kind<mpmc<int, delivery::at_most_once>>);

}  // namespace ipc::ring
