// ipc/sync/futex.hpp: spin briefly, then sleep on a futex word in the shared region.
#pragma once

#include "../concepts.hpp"
#include "../detail/cpu.hpp"
#include "../detail/futex.hpp"
#include "../detail/parking.hpp"

namespace ipc::sync {

// The default for shared-memory channels. A waiter polls ready() for
// spin_limit rounds (a peer on another core usually answers within them),
// then parks with FUTEX_WAIT on the direction's word. The notifier makes a
// system call only when a waiter is parked; otherwise notify() is one load
// of a cache line nobody writes, so the hot path stays in user space.
struct futex {
    static constexpr bool kernel_blocking = false;
    static constexpr bool can_block = true;

    unsigned spin_limit = 256;

    template <transport::memory_transport Tr>
    bool wait(Tr& t, direction d, const deadline& dl, std::error_code& ec) noexcept {
        if (dl.is_immediate()) return detail::deadline_passed(dl, ec);
        for (unsigned i = 0; i < spin_limit; ++i) {
            if (t.ready(d)) return true;
            detail::cpu_relax();
        }
        if (dl.expired()) return detail::deadline_passed(dl, ec);
        detail::parking<Tr> parked(t, d);
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
        auto& word = t.wait_word(detail::opposite(done));
        word.fetch_add(1, std::memory_order_seq_cst);
        detail::futex_wake_all(word);
    }
};

} // namespace ipc::sync
