// ipc/sync/spin.hpp: busy-wait with a CPU pause, then yield; never sleeps in the kernel.
#pragma once

#include <sched.h>

#include "../concepts.hpp"
#include "../detail/cpu.hpp"
#include "../error.hpp"
#include "no_shared_state.hpp"

namespace ipc::sync {

// Lowest latency when both sides have a core of their own. Works with any
// transport: the channel retries the nonblocking operation between waits.
// After spin_limit pauses a waiter yields the CPU on every round, so a
// spinning process on a busy machine does not starve its own peer.
struct spin : public no_shared_state {
    static constexpr bool kernel_blocking = false;
    static constexpr bool can_block = true;

    // A ring is named as spinning (ring/sync_shared.hpp), though nothing is
    // kept for it: its notify wakes nobody, so a peer of another policy would
    // sleep through its messages.
    static constexpr std::string_view shared_name = "spin";

    unsigned spin_limit = 4096;
    // Bytes a blocking receive stays behind a sender that keeps sending; 0:
    // none. A receiver on the sender's heels reads each cache line as it is
    // written and looks at the sender's index all the time, which takes those
    // lines from the sender and slows it (bench/README.md, "Reading a
    // throughput figure"); about 2 KiB back, neither touches the other's
    // lines. For streams of small messages whose receiver does little with
    // each: a receive within `behind` bytes of the newest message it knows of
    // looks again, and waits while the sender keeps adding but is still
    // closer than that; once a few looks in a row find the sender standing
    // still (the end of a burst), it takes what is there. So it holds a
    // message back by at most settle_looks pauses after the sender stops, or
    // until more than `behind` bytes wait unread. A receive that finds its
    // ring empty waits as before and takes the next message at once, so a
    // round trip pays next to nothing. try_recv never holds back. Rings that keep a
    // receiver's own copy of the sender's index (ring::spsc: shm_channel and
    // every other transport over that ring) honour it; elsewhere it is a no-op.
    std::size_t behind = 0;

    template <class Tr>
    bool wait(Tr& t, direction d, const deadline& dl, std::error_code& ec) noexcept {
        if (dl.expired()) return timed_out(dl, ec);
        if (spins_ >= spin_limit) {
            ::sched_yield();
            return true;
        }
        // A memory transport says itself when an operation would go through
        // (a ring: its indices, two loads), so the pauses are spent here,
        // polling that, and the channel retries once per message instead of
        // once per pause: its full path (an error code, the peer-check slice's
        // clock) made a receiver that ran dry slow to see the next message.
        // The deadline is read every 64 pauses, as sync::futex's spin does.
        if constexpr (requires { t.ready(d); }) {
            for (;;) {
                ipc::detail::cpu_relax();
                if (t.ready(d) || ++spins_ >= spin_limit) return true;
                if (spins_ % 64 == 0 && dl.expired()) return timed_out(dl, ec);
            }
        } else {
            ++spins_;
            ipc::detail::cpu_relax();
            return true;
        }
    }
    // Called by a blocking receive before it takes a message (see behind).
    template <class Tr>
    [[gnu::always_inline]] void hold_back(Tr& t) noexcept {
        if constexpr (requires { t.unread_bytes(false); }) {
            if (behind == 0 || t.unread_bytes(false) > behind) [[likely]]
                return;
            hold_back_slow(t);
        }
    }
    // A successful operation ends the current wait; the next one spins
    // afresh. Stored only if it waited: an operation that never waits stores
    // nothing here (a store per message holds up a producer's ring stores).
    template <class Tr>
    void notify(Tr&, direction) noexcept {
        if (spins_ != 0) [[unlikely]]
            spins_ = 0;
    }

private:
    // Looks in a row that find the sender where it was before the receiver
    // takes what is there: one look a pause after the last is shorter than
    // the gap between two messages of a sender slowed by a receiver on its
    // heels (64 B: with 1 it stayed on the heels, lag 0; with 4 and 8 it
    // held 32 messages back and moved 1.6x and 1.9x the plain channel).
    static constexpr unsigned settle_looks = 8;
    // Each look returns, finds the sender still, or finds more unread than
    // the last (it moved), so it ends within about behind / message size +
    // settle_looks looks; the bound is for a corrupt index moving back and forth.
    template <class Tr>
    [[gnu::noinline]] void hold_back_slow(Tr& t) noexcept {
        std::uint64_t seen = t.unread_bytes(false);
        for (unsigned looks = 0, still = 0; looks < 4096; ++looks) {
            const std::uint64_t now = t.unread_bytes(true);
            // Far enough back; or nothing there (the wait that follows finds
            // the next message); or the sender stood still for a few looks.
            if (now > behind || now == 0) return;
            still = now == seen ? still + 1 : 0;
            if (still >= settle_looks) return;
            seen = now;
            ipc::detail::cpu_relax();
        }
    }
    bool timed_out(const deadline& dl, std::error_code& ec) noexcept {
        ec = make_error_code(dl.reports_would_block() ? errc::would_block : errc::timed_out);
        spins_ = 0;
        return false;
    }
    unsigned spins_ = 0;
};

}  // namespace ipc::sync
