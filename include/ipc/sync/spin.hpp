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
    // A successful operation ends the current wait; the next one spins
    // afresh. Stored only if it waited: an operation that never waits stores
    // nothing here (a store per message holds up a producer's ring stores).
    template <class Tr>
    void notify(Tr&, direction) noexcept {
        if (spins_ != 0) [[unlikely]]
            spins_ = 0;
    }

private:
    bool timed_out(const deadline& dl, std::error_code& ec) noexcept {
        ec = make_error_code(dl.reports_would_block() ? errc::would_block : errc::timed_out);
        spins_ = 0;
        return false;
    }
    unsigned spins_ = 0;
};

}  // namespace ipc::sync
