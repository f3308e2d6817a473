// ipc/sync/futex.hpp: spin briefly, then sleep on a futex word in the shared region.
#pragma once


#include "../concepts.hpp"
#include "../detail/chrono.hpp"
#include "../detail/cpu.hpp"
#include "../detail/futex.hpp"
#include "../detail/parking.hpp"

namespace ipc::sync {

// The default for shared-memory channels. A waiter polls ready() for
// spin_time (a peer on another core usually answers within it), then parks
// with FUTEX_WAIT on the direction's word. The notifier makes a system call
// only when a waiter is parked and has not been woken already; otherwise
// notify() is one read-modify-write of the waiter count (see
// detail::parking), so the hot path stays in user space.
struct futex {
    static constexpr bool kernel_blocking = false;
    static constexpr bool can_block = true;

    // How long a waiter polls before it parks. It must outlast the peer's
    // wake-up latency: if it is shorter, two sides of a ping-pong fall into
    // parking every time (measured on a loaded VM: 8 us of spinning gave a
    // 14 us round trip, 32 us or more gave 0.37 us). Zero parks at once.
    std::chrono::nanoseconds spin_time = std::chrono::microseconds(50);

    template <transport::memory_transport Tr>
    bool wait(Tr& t, direction d, const deadline& dl, std::error_code& ec) noexcept {
        if (dl.is_immediate()) return detail::deadline_passed(dl, ec);
        if (spin_time.count() > 0) {
            // The clock is read only every 64 rounds: a peer that answers
            // quickly costs no clock read at all.
            deadline::clock::time_point until{};
            for (unsigned i = 1;; ++i) {
                if (t.ready(d)) return true;
                detail::cpu_relax();
                if (i % 64 != 0) continue;
                const auto now = deadline::clock::now();
                if (i == 64) {
                    until = now + spin_time;
                    if (!dl.is_never() && dl.time_point() < until) until = dl.time_point();
                } else if (now >= until) {
                    break;
                }
            }
        }
        if (dl.expired()) return detail::deadline_passed(dl, ec);
        detail::parking<Tr> parked(t, d);
        t.armed(d).exchange(1, std::memory_order_seq_cst);
        const std::uint32_t seen = t.wait_word(d).load(std::memory_order_seq_cst);
        if (t.ready(d)) return true;
        const timespec abs = detail::monotonic_timespec(dl);
        const int r = detail::futex_wait(t.wait_word(d), seen, dl.is_never() ? nullptr : &abs);
        // Woken, the word moved on, or a signal: the channel retries. A
        // timeout is believed only once the clock agrees: never early.
        if (r == ETIMEDOUT && dl.expired()) return detail::deadline_passed(dl, ec);
        if (r != 0 && r != EAGAIN && r != EINTR && r != ETIMEDOUT) {
            ec = std::error_code(r, std::system_category());
            return false;
        }
        return true;
    }

    template <transport::memory_transport Tr>
    void notify(Tr& t, direction done) noexcept {
        if (!detail::peer_parked(t, done)) return;
        // Sleepers are woken all at once; until one of them sleeps again (and
        // re-arms), further wake-up calls would find nobody new to wake.
        // (A sleeper arming after this exchange reads our 0 with an RMW, so
        // it sees what we published and does not sleep.)
        if (t.armed(detail::opposite(done)).exchange(0, std::memory_order_seq_cst) == 0) return;
        auto& word = t.wait_word(detail::opposite(done));
        word.fetch_add(1, std::memory_order_seq_cst);
        detail::futex_wake_all(word);
    }
};

}  // namespace ipc::sync
