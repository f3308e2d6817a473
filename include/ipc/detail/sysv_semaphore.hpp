// ipc/detail/sysv_semaphore.hpp: the semget/semctl steps behind ipc::sem::sysv_semaphore.
#pragma once

#include <sys/ipc.h>
#include <sys/sem.h>

#include <cstddef>
#include <system_error>

#include "../error.hpp"
#include "chrono.hpp"
#include "fd.hpp"
#include "sleep.hpp"

namespace ipc::detail {

// glibc leaves union semun to the caller.
union semun {
    int val;
    semid_ds* buf;
    unsigned short* array;
};

// The largest count a System V semaphore holds (SEMVMX in the kernel).
inline constexpr std::ptrdiff_t sysv_sem_value_max = 32767;

// A new set's semaphore starts at 0; it is brought to `initial` by semop(),
// which also sets sem_otime. An opener waits for sem_otime != 0, so it never
// uses a set its creator has not finished (the classic System V race).
inline bool sysv_sem_init(int id, unsigned initial, std::error_code& ec) noexcept {
    sembuf op{0, static_cast<short>(initial), static_cast<short>(initial == 0 ? IPC_NOWAIT : 0)};
    if (retry_eintr([&] { return ::semop(id, &op, 1); }) != 0) {
        ec = last_error();
        return false;
    }
    return true;
}

inline bool sysv_sem_wait_ready(int id, std::error_code& ec) noexcept {
    for (int tries = 0; tries < 2000; ++tries) {
        semid_ds ds{};
        semun arg{};
        arg.buf = &ds;
        if (::semctl(id, 0, IPC_STAT, arg) != 0) {
            ec = last_error();
            return false;
        }
        if (ds.sem_otime != 0) return true;
        sleep_for(std::chrono::milliseconds(1));
    }
    // The creator died between semget and its first semop.
    ec = make_error_code(errc::timed_out);
    return false;
}

}  // namespace ipc::detail
