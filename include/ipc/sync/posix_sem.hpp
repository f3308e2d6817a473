// ipc/sync/posix_sem.hpp: sleep on process-shared POSIX semaphores placed in the region.
#pragma once

#include <semaphore.h>

#include "../concepts.hpp"
#include "../detail/parking.hpp"
#include "../ring/layout.hpp"

namespace ipc::sync {

// One sem_t per direction lives in the region's sync area (initialised when
// the region is formatted). A waiter announces itself, re-checks, then
// sem_clockwait()s on CLOCK_MONOTONIC, so a clock change cannot stretch or
// cut a timed wait; a notifier posts only while someone is parked. A post
// that finds its waiter already gone leaves a token: the next wait returns
// once spuriously and the channel simply retries.
struct posix_sem {
    static constexpr bool kernel_blocking = false;
    static constexpr bool can_block = true;

    template <transport::memory_transport Tr>
        requires requires(Tr& t) { { t.sync_area() } -> std::same_as<ring::sync_area&>; }
    bool wait(Tr& t, direction d, const deadline& dl, std::error_code& ec) noexcept {
        if (dl.is_immediate()) return detail::deadline_passed(dl, ec);
        detail::parking<Tr> parked(t, d);
        if (t.ready(d)) return true;
        sem_t* s = &t.sync_area().sem[ring::detail::index(d)];
        int r;
        if (dl.is_never()) {
            r = ::sem_wait(s);
        } else {
            const timespec abs = detail::monotonic_timespec(dl);
            r = ::sem_clockwait(s, CLOCK_MONOTONIC, &abs);
        }
        if (r == 0) {
            if (detail::pass_wake_on(t, d)) ::sem_post(s);
            return true;
        }
        if (errno == EINTR) return true;
        if (errno == ETIMEDOUT) return dl.expired() ? detail::deadline_passed(dl, ec) : true;
        ec = detail::last_error();
        return false;
    }

    template <transport::memory_transport Tr>
    void notify(Tr& t, direction done) noexcept {
        if (detail::peer_parked(t, done)) ::sem_post(&t.sync_area().sem[ring::detail::index(detail::opposite(done))]);
    }
};

}  // namespace ipc::sync
