// ipc/detail/parking.hpp: the no-lost-wake-up protocol the memory sync policies share.
#pragma once

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <ctime>

#include "../concepts.hpp"
#include "../error.hpp"
#include "../status.hpp"
#include "chrono.hpp"
#include "deadline.hpp"

namespace ipc::detail {

constexpr direction opposite(direction d) noexcept { return d == direction::send ? direction::recv : direction::send; }

// An asymmetric barrier between processes (membarrier(2), Linux 4.16+). The
// no-lost-wake-up protocol needs a full barrier between a notifier's publish
// and its check for sleepers, and another between a sleeper's announcement
// and its re-check. Paying the notifier's on every message costs a store-
// buffer drain while the peer polls the same line (measured: 11.6 against
// 28.8 M msg/s). Instead a sleeper, which is about to make a system call
// anyway, runs MEMBARRIER_CMD_GLOBAL_EXPEDITED: a barrier in every running
// process that registered, so a registered notifier may check with a plain
// load. A process that could not register keeps the read-modify-write.
class asymmetric_barrier {
public:
    // This process's notifies are covered by sleepers' barriers.
    static bool covered() noexcept { return state() == registered; }
    // A sleeper's half: orders every registered process's memory accesses.
    static void heavy() noexcept {
        if (state() != unsupported) ::syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
    }

private:
    enum : int { unknown, unsupported, supported, registered };
    static int state() noexcept {
        const int s = state_.load(std::memory_order_acquire);
        return s != unknown ? s : init();
    }
    static int init() noexcept {
        // A forked child checks again (registration belongs to a process);
        // the handler is installed once, by a thread-safe static's initializer.
        [[maybe_unused]] static const bool on_fork = ::pthread_atfork(nullptr, nullptr, [] { state_.store(unknown); }) == 0;
        const long q = ::syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
        int s = unsupported;
        if (q > 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED)) {
            s = (q & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) &&
                        ::syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0
                    ? registered
                    : supported;
        }
        state_.store(s, std::memory_order_release);
        return s;
    }
    static inline std::atomic<int> state_{unknown};
};

// Counts a sleeper in direction d; then the caller re-checks ready(d).
template <class Tr>
void announce_sleeper(Tr& t, direction d) noexcept {
    t.waiters(d).fetch_add(1, std::memory_order_seq_cst);
    asymmetric_barrier::heavy();
}

// A waiter in direction d, counted in the region while it exists. Construct,
// then re-check t.ready(d), then sleep. Without the asymmetric barrier both
// halves touch the counter with a read-modify-write (acq_rel, a full barrier
// on x86): if the notifier's RMW comes first in the counter's order, it
// synchronises with ours and our re-check sees what it published; if ours
// comes first, it sees us and wakes us. (RMWs rather than fences:
// ThreadSanitizer understands them.)
template <class Tr>
class parking {
public:
    parking(Tr& t, direction d) noexcept : w_(t.waiters(d)) { announce_sleeper(t, d); }
    parking(const parking&) = delete;
    parking& operator=(const parking&) = delete;
    ~parking() { w_.fetch_sub(1, std::memory_order_seq_cst); }

private:
    std::atomic<std::uint32_t>& w_;
};

// The notifier's half, called after an operation in direction `done`
// published: is anybody parked waiting for the opposite direction?
template <class Tr>
bool peer_parked(Tr& t, direction done) noexcept {
    auto& w = t.waiters(opposite(done));
    if (asymmetric_barrier::covered()) {
        std::atomic_signal_fence(std::memory_order_seq_cst);  // keep the publish before the load (compiler)
        return w.load(std::memory_order_seq_cst) != 0;
    }
    return w.fetch_add(0, std::memory_order_seq_cst) != 0;
}

// A semaphore-like wake-up (one token) reaches one waiter. The woken one
// passes it on while the condition still holds and others are parked, so a
// close (or a burst of messages) reaches every parked waiter in turn.
template <class Tr>
bool pass_wake_on(Tr& t, direction d) noexcept {
    return t.waiters(d).load(std::memory_order_seq_cst) > 1 && t.ready(d);
}

// Ends a wait whose deadline passed: would_block for try_ calls, else timed_out.
inline bool deadline_passed(const deadline& dl, std::error_code& ec) noexcept {
    ec = expired_code(dl);
    return false;
}

} // namespace ipc::detail
