// ipc/sync/sysv_sem.hpp: sleep on a System V semaphore set (semop / semtimedop).
#pragma once

#include <sys/ipc.h>
#include <sys/sem.h>

#include "../concepts.hpp"
#include "../detail/parking.hpp"
#include "../ring/sync_shared.hpp"
#include "no_shared_state.hpp"

namespace ipc::sync {

// A set of two semaphores (one per direction), made by the first waiter and
// handed to the region (sync_area's sysv_sem_set), whose last mapping (or the
// transport's remove()) deletes it, so nothing is left in `ipcs`.
//
// Semaphores here count wake-ups, not ownership, so SEM_UNDO is not used: it
// would take a poster's wake-ups back when the poster exits (a receiver could
// sleep through the last message), and hand a waiter's taken tokens back as
// a burst of spurious wake-ups. A dead waiter simply leaves; a dead poster's
// wake-ups stay delivered.
struct sysv_sem : public no_shared_state {
    static constexpr bool kernel_blocking = false;
    static constexpr bool can_block = true;

    // ---- what it keeps in the region (ring/sync_shared.hpp) --------------------
    // Nothing of its own: the set's id is where the region frees it from.
    static constexpr std::string_view shared_name = "sysv_sem";
    // An end left or died: one token, which each woken sleeper passes on.
    static void wake_all(ring::sync_area& a, direction d) noexcept {
        if (const std::int64_t id = a.policy.sysv_sem_set.load(std::memory_order_acquire); id > 0) {
            ::sembuf op{static_cast<unsigned short>(ring::detail::index(d)), 1, 0};
            ::semop(static_cast<int>(id - 1), &op, 1);
        }
    }

    template <transport::memory_transport Tr>
    bool wait(Tr& t, direction d, const deadline& dl, std::error_code& ec) noexcept {
        if (dl.is_immediate()) return detail::deadline_passed(dl, ec);
        const int id = set_of(t, ec);
        if (id < 0) return false;
        detail::parking<Tr> parked(t, d);
        if (t.ready(d)) return true;
        ::sembuf op{static_cast<unsigned short>(ring::detail::index(d)), -1, 0};
        int r;
        if (dl.is_never()) {
            r = ::semop(id, &op, 1);
        } else {
            timespec rel = dl.remaining_timespec();
            r = ::semtimedop(id, &op, 1, &rel);
        }
        if (r == 0) {
            if (detail::pass_wake_on(t, d)) {
                op.sem_op = 1;
                ::semop(id, &op, 1);
            }
            return true;
        }
        if (errno == EINTR || errno == EIDRM || errno == EINVAL) return true;  // removed: the next wait makes a new set
        if (errno == EAGAIN) return dl.expired() ? detail::deadline_passed(dl, ec) : true;
        ec = detail::last_error();
        return false;
    }

    template <transport::memory_transport Tr>
    void notify(Tr& t, direction done) noexcept {
        if (!detail::peer_parked(t, done)) return;
        // A parked waiter made the set before announcing itself, so it is
        // there. (ERANGE, SEMVMX tokens pending, loses nothing.)
        wake_all(t.sync_area(), detail::opposite(done));
    }

private:
    template <class Tr>
    static int set_of(Tr& t, std::error_code& ec) noexcept {
        auto& slot = t.sync_area().policy.sysv_sem_set;
        std::int64_t v = slot.load(std::memory_order_acquire);
        if (v > 0) return static_cast<int>(v - 1);
        const int id = ::semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
        if (id < 0) {
            ec = detail::last_error();
            return -1;
        }
        std::int64_t expected = 0;
        if (slot.compare_exchange_strong(expected, std::int64_t{id} + 1, std::memory_order_acq_rel)) return id;
        ::semctl(id, 0, IPC_RMID);  // another process won the race
        return static_cast<int>(expected - 1);
    }
};

}  // namespace ipc::sync
