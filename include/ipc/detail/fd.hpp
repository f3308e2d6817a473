// ipc/detail/fd.hpp: an owning file descriptor and EINTR-safe system calls.
#pragma once

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <span>
#include <system_error>
#include <utility>

#include "../error.hpp"
#include "../status.hpp"

namespace ipc::detail {

// Owns one file descriptor; closes it on destruction. Move-only.
class unique_fd {
public:
    constexpr unique_fd() noexcept = default;
    constexpr explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) reset(std::exchange(o.fd_, -1));
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    constexpr int get() const noexcept { return fd_; }
    constexpr explicit operator bool() const noexcept { return fd_ >= 0; }
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
    void reset(int fd = -1) noexcept {
        // close() is not retried on EINTR: on Linux the descriptor is gone either way.
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

// Runs a system call until it stops failing with EINTR.
template <class F>
inline auto retry_eintr(F&& f) noexcept {
    for (;;) {
        auto r = f();
        if (r != -1 || errno != EINTR) return r;
    }
}

inline bool set_nonblocking(int fd, bool on, std::error_code& ec) noexcept {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) { ec = last_error(); return false; }
    int want = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    if (want != flags && ::fcntl(fd, F_SETFL, want) < 0) { ec = last_error(); return false; }
    return true;
}

inline bool set_cloexec(int fd, bool on, std::error_code& ec) noexcept {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0) { ec = last_error(); return false; }
    int want = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
    if (want != flags && ::fcntl(fd, F_SETFD, want) < 0) { ec = last_error(); return false; }
    return true;
}

// Waits until fd is ready for `events` (POLLIN/POLLOUT) or the deadline passes.
// Returns true when ready (including hang-up and error, which the next I/O call
// reports); false with ec = would_block (immediate deadline) or timed_out.
inline bool wait_fd(int fd, short events, const deadline& dl, std::error_code& ec) noexcept {
    for (;;) {
        pollfd p{fd, events, 0};
        int r;
        if (dl.is_never()) {
            r = ::ppoll(&p, 1, nullptr, nullptr);
        } else {
            timespec ts = dl.remaining_timespec();
            r = ::ppoll(&p, 1, &ts, nullptr);
        }
        if (r > 0) {
            if (p.revents & POLLNVAL) { ec = std::error_code(EBADF, std::system_category()); return false; }
            return true;
        }
        if (r < 0 && errno != EINTR) { ec = last_error(); return false; }
        // A timeout from ppoll is trusted only once the clock agrees: never return early.
        if (r == 0 && dl.expired()) {
            ec = make_error_code(dl.reports_would_block() ? errc::would_block : errc::timed_out);
            return false;
        }
    }
}

}  // namespace ipc::detail
