// ipc/detail/posix_semaphore.hpp: the sem_t operations both POSIX semaphore kinds share.
#pragma once

#include <semaphore.h>

#include <climits>
#include <cstddef>
#include <system_error>

#include "../error.hpp"
#include "../status.hpp"
#include "deadline.hpp"
#include "semaphore_api.hpp"

namespace ipc::detail {

inline bool posix_sem_wait(sem_t* s, const deadline& dl, std::error_code& ec) noexcept {
    for (;;) {
        int r;
        if (dl.is_never()) {
            r = ::sem_wait(s);
        } else if (dl.is_immediate()) {
            r = ::sem_trywait(s);
        } else {
            timespec abs = monotonic_timespec(dl);
            r = ::sem_clockwait(s, CLOCK_MONOTONIC, &abs);
        }
        if (r == 0) return true;
        int e = errno;
        if (e == EINTR) continue;
        if (e == EAGAIN || e == ETIMEDOUT) {
            if (!dl.is_immediate() && !dl.expired()) continue;  // never give up early
            ec = expired_code(dl);
            return false;
        }
        ec = errno_code(e);
        return false;
    }
}

inline int posix_sem_value(sem_t* s, std::error_code& ec) noexcept {
    int v = 0;
    if (::sem_getvalue(s, &v) != 0) ec = last_error();
    return v < 0 ? 0 : v;  // Linux reports 0, not minus the waiters, but POSIX allows either
}

// Posting a binary semaphore that already holds 1 is refused. The check and
// the post are two steps, so two processes releasing at the same moment can
// still reach 2: a binary POSIX semaphore suits one releaser at a time.
inline bool posix_sem_post(sem_t* s, std::ptrdiff_t n, std::ptrdiff_t max, std::error_code& ec) noexcept {
    if (max < SEM_VALUE_MAX) {
        int v = posix_sem_value(s, ec);
        if (ec) return false;
        if (v + n > max) {
            ec = make_error_code(errc::limit_exceeded);
            return false;
        }
    }
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        if (::sem_post(s) != 0) {
            ec = errno == EOVERFLOW ? make_error_code(errc::limit_exceeded) : last_error();
            return false;
        }
    }
    return true;
}

// What both kinds share: a sem_t* and the operations on it.
template <std::ptrdiff_t Max>
class posix_sem_handle : public semaphore_api<posix_sem_handle<Max>, Max> {
    static_assert(Max >= 1 && Max <= SEM_VALUE_MAX);

public:
    sem_t* native_handle() const noexcept { return sem_; }
    bool is_open() const noexcept { return sem_ != nullptr; }

protected:
    posix_sem_handle() noexcept = default;
    explicit posix_sem_handle(sem_t* s) noexcept : sem_(s) {}

    sem_t* sem_ = nullptr;

private:
    friend class semaphore_api<posix_sem_handle, Max>;

    bool wait(const deadline& dl, std::error_code& ec) noexcept {
        if (!usable(ec)) return false;
        return posix_sem_wait(sem_, dl, ec);
    }
    bool post(std::ptrdiff_t n, std::error_code& ec) noexcept {
        if (!usable(ec)) return false;
        return posix_sem_post(sem_, n, Max, ec);
    }
    int get_value(std::error_code& ec) const noexcept {
        if (!usable(ec)) return 0;
        return posix_sem_value(sem_, ec);
    }
    bool usable(std::error_code& ec) const noexcept {
        if (sem_) return true;
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return false;
    }
};

}  // namespace ipc::detail
