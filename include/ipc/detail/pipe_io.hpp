// ipc/detail/pipe_io.hpp: reading and writing pipe and FIFO descriptors.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstdio>
#include <span>

#include "../concepts.hpp"
#include "fd.hpp"
#include "sigpipe.hpp"

namespace ipc::detail {

// One end of a pipe or FIFO. The descriptor stays blocking, so a plain
// blocking call is the single read(2)/write(2) a hand-written program makes.
// Pipes have no per-call MSG_DONTWAIT, so nonblocking calls go through a
// second open file description of the same pipe (/proc/self/fd/N) that has
// O_NONBLOCK set; it is opened on first use. Toggling O_NONBLOCK on the one
// description instead would change it for every process sharing it.
class pipe_end {
public:
    pipe_end() noexcept = default;
    explicit pipe_end(unique_fd fd, int access) noexcept : fd_(std::move(fd)), access_(access) {}

    int native_handle() const noexcept { return fd_.get(); }
    bool is_open() const noexcept { return static_cast<bool>(fd_); }
    void close() noexcept {
        nb_.reset();
        fd_.reset();
    }
    // Gives up ownership (e.g. to hand the descriptor to exec'd code).
    [[nodiscard]] int release() noexcept {
        nb_.reset();
        return fd_.release();
    }

    std::size_t read(std::span<std::byte> buf, io_mode m, std::error_code& ec) noexcept {
        int fd = pick(m, ec);
        if (fd < 0) return 0;
        ssize_t n = retry_eintr([&] { return ::read(fd, buf.data(), buf.size()); });
        if (n > 0) return static_cast<std::size_t>(n);
        ec = n == 0 ? make_error_code(errc::peer_closed) : last_error();
        return 0;
    }

    std::size_t write(std::span<const std::span<const std::byte>> parts, io_mode m, std::error_code& ec) noexcept {
        int fd = pick(m, ec);
        if (fd < 0) return 0;
        // Asked once per end: a program that ignores SIGPIPE (as most servers
        // do at startup) writes with no guard. One that later restores the
        // default after ignoring it must make a new end. The unguarded path
        // is the per-message path: it builds no guard at all (an inactive one
        // still cleared a 128-byte sigset_t on every write).
        if (sigpipe_ignored_ < 0) sigpipe_ignored_ = sigpipe_ignored() ? 1 : 0;
        if (sigpipe_ignored_ == 1) return written(write_fd(fd, parts), ec);
        sigpipe_guard guard;
        ssize_t n = write_fd(fd, parts);
        if (n < 0 && errno == EPIPE) guard.consume();
        return written(n, ec);
    }

private:
    // One write(2), or writev(2) of the non-empty parts (at most 4). A single
    // part, the common case (a fixed-size message), builds no iovec array.
    static ssize_t write_fd(int fd, std::span<const std::span<const std::byte>> parts) noexcept {
        if (parts.size() == 1) return retry_eintr([&] { return ::write(fd, parts[0].data(), parts[0].size()); });
        std::array<iovec, 4> iov{};
        int cnt = 0;
        for (auto p : parts) {
            if (p.empty() || cnt == static_cast<int>(iov.size())) continue;
            iov[cnt++] = {const_cast<std::byte*>(p.data()), p.size()};
        }
        return retry_eintr([&] { return cnt == 1 ? ::write(fd, iov[0].iov_base, iov[0].iov_len) : ::writev(fd, iov.data(), cnt); });
    }
    static std::size_t written(ssize_t n, std::error_code& ec) noexcept {
        if (n >= 0) return static_cast<std::size_t>(n);
        ec = last_error();
        return 0;
    }

    int pick(io_mode m, std::error_code& ec) noexcept {
        if (!fd_) {
            ec = std::error_code(EBADF, std::system_category());
            return -1;
        }
        if (m == io_mode::blocking) return fd_.get();
        if (!nb_) {
            char path[32];
            std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd_.get());
            int fd = ::open(path, access_ | O_NONBLOCK | O_CLOEXEC);
            if (fd < 0) {
                // A write end reopened after the last reader left: the peer is gone.
                ec = errno == ENXIO ? make_error_code(errc::peer_closed) : last_error();
                return -1;
            }
            nb_.reset(fd);
        }
        return nb_.get();
    }

    unique_fd fd_;
    unique_fd nb_;
    int access_ = O_RDONLY;
    signed char sigpipe_ignored_ = -1;  // -1: not asked yet
};

}  // namespace ipc::detail
