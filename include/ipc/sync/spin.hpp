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
    bool wait(Tr&, direction, const deadline& dl, std::error_code& ec) noexcept {
        if (dl.expired()) {
            ec = make_error_code(dl.reports_would_block() ? errc::would_block : errc::timed_out);
            spins_ = 0;
            return false;
        }
        if (spins_ < spin_limit) {
            ++spins_;
            ipc::detail::cpu_relax();
        } else {
            ::sched_yield();
        }
        return true;
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
    unsigned spins_ = 0;
};

}  // namespace ipc::sync
