// ipc/sync/posix_sem.hpp: sleep on process-shared POSIX semaphores placed in the region.
#pragma once

#include <semaphore.h>

#include "../concepts.hpp"
#include "../detail/parking.hpp"
#include "../ring/sync_shared.hpp"

namespace ipc::sync {

// One sem_t per direction lives in the region's sync area (set up by the
// first end that uses the region with this policy). A waiter announces itself, re-checks, then
// sem_clockwait()s on CLOCK_MONOTONIC, so a clock change cannot stretch or
// cut a timed wait; a notifier posts only while someone is parked. A post
// that finds its waiter already gone leaves a token: the next wait returns
// once spuriously and the channel simply retries.
struct posix_sem {
    static constexpr bool kernel_blocking = false;
    static constexpr bool can_block = true;

    // ---- what it keeps in the region (ring/sync_shared.hpp) --------------------
    static constexpr std::string_view shared_name = "posix_sem";
    struct shared {};
    struct shared_direction {
        sem_t sem;  // process-shared
    };
    static bool init_shared(ring::sync_area& a, std::error_code& ec) noexcept {
        for (direction d : {direction::send, direction::recv})
            if (::sem_init(&ring::shared_of<posix_sem>(a, d).sem, 1, 0) != 0) {
                ec = detail::explain(detail::last_error(), "sem_init of the region's POSIX semaphore failed");
                return false;
            }
        return true;
    }
    // An end left or died: one token, which each woken sleeper passes on.
    static void wake_all(ring::sync_area& a, direction d) noexcept { ::sem_post(&ring::shared_of<posix_sem>(a, d).sem); }
    static void forget_end(ring::sync_area&, direction, int) noexcept {}

    template <transport::memory_transport Tr>
    bool wait(Tr& t, direction d, const deadline& dl, std::error_code& ec) noexcept {
        if (dl.is_immediate()) return detail::deadline_passed(dl, ec);
        detail::parking<Tr> parked(t, d);
        if (t.ready(d)) return true;
        sem_t* s = &ring::shared_of<posix_sem>(t.sync_area(), d).sem;
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
        if (detail::peer_parked(t, done)) ::sem_post(&ring::shared_of<posix_sem>(t.sync_area(), detail::opposite(done)).sem);
    }
};

}  // namespace ipc::sync
