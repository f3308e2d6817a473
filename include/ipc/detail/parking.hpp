// ipc/detail/parking.hpp: the no-lost-wake-up protocol the memory sync policies share.
#pragma once

#include <atomic>

#include "../concepts.hpp"
#include "../error.hpp"
#include "../status.hpp"
#include "chrono.hpp"
#include "deadline.hpp"

namespace ipc::detail {

constexpr direction opposite(direction d) noexcept { return d == direction::send ? direction::recv : direction::send; }

// Counts a sleeper in direction d; then the caller re-checks ready(d).
// Notifiers check with an RMW too, not with a plain load covered by the
// sleeper's membarrier(GLOBAL_EXPEDITED): Linux picks whom that interrupts
// from a per-CPU copy of the registration that goes stale (measured on 6.18:
// a registered thread running on the other CPU got no IPI), so a notifier
// could miss a sleeper, which then slept through its wake-up.
template <class Tr>
void announce_sleeper(Tr& t, direction d) noexcept {
    t.waiters(d).fetch_add(1, std::memory_order_seq_cst);
}

// A waiter in direction d, counted in the region while it exists. Construct,
// then re-check t.ready(d), then sleep. Both halves touch the counter with a
// read-modify-write (a full barrier on x86): if the notifier's RMW comes
// first in the counter's order, it synchronises with ours and our re-check
// sees what it published; if ours comes first, it sees us and wakes us.
// (RMWs rather than fences: ThreadSanitizer understands them.)
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
    return t.waiters(opposite(done)).fetch_add(0, std::memory_order_seq_cst) != 0;
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

}  // namespace ipc::detail
