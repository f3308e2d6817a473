// ipc/transport/eventfd.hpp: eventfd(2), a kernel 64-bit counter, as a channel of std::uint64_t.
//
// Each message is one uint64_t. What a receive returns depends on the mode:
//   counter    a read takes the whole count: sends of 3 and 4 arrive as one 7.
//              Wake-ups and "this much work is waiting", not a queue.
//   semaphore  (EFD_SEMAPHORE) a read takes 1 and returns 1: sends of 3 and 4
//              are seven receives of 1. A counting semaphore that poll() sees.
// So messages are never queued as sent: only their sum is kept. 0 cannot be
// sent (it changes nothing and would never arrive), nor can UINT64_MAX; a
// send that would take the count past UINT64_MAX - 1 is would_block.
// There is no end of stream: an eventfd has no peers, only holders.
//
// Share it by fork() (the child inherits it) or pass it to an unrelated
// process over a Unix socket (send_fd / receive_fd, SCM_RIGHTS). It is created
// close-on-exec.
//
// Blocking calls are the plain read(2)/write(2) on a blocking descriptor: one
// system call. Nonblocking reads use preadv2(RWF_NOWAIT), which asks the
// kernel not to wait without touching the O_NONBLOCK flag that every holder
// of the descriptor shares. Where the kernel lacks that (before ~6.7), and
// for writes, they check readiness with poll first: then two receivers racing
// for the last count can make the loser wait for the next send, so give each
// receiver its own eventfd there. A descriptor that arrives with O_NONBLOCK
// already set is used as is, with poll for blocking calls.
#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "../basic_channel.hpp"
#include "../concepts.hpp"
#include "../detail/fd.hpp"
#include "../detail/fd_passing.hpp"
#include "../framing/fixed.hpp"
#include "../fwd.hpp"
#include "../sync/poll.hpp"

namespace ipc::transport {

enum class eventfd_mode : unsigned char { counter, semaphore };

class eventfd {
public:
    eventfd() noexcept = default;
    // Adopts an eventfd descriptor (inherited, or from receive_fd).
    explicit eventfd(detail::unique_fd fd) noexcept : fd_(std::move(fd)) {
        int fl = fd_ ? ::fcntl(fd_.get(), F_GETFL) : -1;
        fd_nonblocking_ = fl >= 0 && (fl & O_NONBLOCK);
    }

    // A new eventfd with count `initial`.
    static eventfd create(eventfd_mode m, unsigned initial, std::error_code& ec) noexcept {
        ec.clear();
        detail::unique_fd fd(::eventfd(initial, EFD_CLOEXEC | (m == eventfd_mode::semaphore ? EFD_SEMAPHORE : 0)));
        if (!fd) ec = detail::last_error();
        return eventfd(std::move(fd));
    }
    static eventfd create(std::error_code& ec) noexcept { return create(eventfd_mode::counter, 0, ec); }
    static eventfd create(eventfd_mode m = eventfd_mode::counter, unsigned initial = 0) {
        std::error_code ec;
        auto e = create(m, initial, ec);
        detail::throw_if(ec, "eventfd");
        return e;
    }

    eventfd(eventfd&&) noexcept = default;
    eventfd& operator=(eventfd&&) noexcept = default;

    // Adds the 8-byte value in msg to the count.
    bool send_message(std::span<const std::byte> msg, io_mode m, std::error_code& ec) noexcept {
        std::uint64_t v = 0;
        if (msg.size() != sizeof v) {
            ec = make_error_code(errc::bad_message);
            return false;
        }
        std::memcpy(&v, msg.data(), sizeof v);
        if (v == 0 || v == UINT64_MAX) {
            ec = std::make_error_code(std::errc::invalid_argument);
            return false;
        }
        for (;;) {
            if (!ready(POLLOUT, m, ec)) return false;
            ssize_t n = detail::retry_eintr([&] { return ::write(fd_.get(), &v, sizeof v); });
            if (n == sizeof v) return true;
            if (n < 0 && errno == EAGAIN && m == io_mode::blocking) continue;  // a descriptor with O_NONBLOCK
            ec = n < 0 ? detail::last_error() : make_error_code(errc::bad_message);
            return false;
        }
    }

    // Takes the count (counter mode) or 1 (semaphore mode) into buf's first 8 bytes.
    std::size_t recv_message(std::span<std::byte> buf, io_mode m, std::error_code& ec) noexcept {
        std::uint64_t v = 0;
        if (buf.size() < sizeof v) {
            ec = make_error_code(errc::message_too_large);
            return 0;
        }
        for (;;) {
            ssize_t n = -1;
            if (m == io_mode::nonblocking && !fd_nonblocking_ && rwf_nowait_) {
                iovec iov{&v, sizeof v};
                n = detail::retry_eintr([&] { return ::preadv2(fd_.get(), &iov, 1, -1, RWF_NOWAIT); });
                if (n < 0 && errno == EOPNOTSUPP) {
                    rwf_nowait_ = false;  // an older kernel: check readiness with poll instead
                    continue;
                }
            } else {
                if (!ready(POLLIN, m, ec)) return 0;
                n = detail::retry_eintr([&] { return ::read(fd_.get(), &v, sizeof v); });
            }
            if (n == sizeof v) {
                std::memcpy(buf.data(), &v, sizeof v);
                return sizeof v;
            }
            if (n < 0 && errno == EAGAIN && m == io_mode::blocking) continue;
            ec = n < 0 ? detail::last_error() : make_error_code(errc::bad_message);
            return 0;
        }
    }

    int native_handle() const noexcept { return fd_.get(); }
    bool is_open() const noexcept { return static_cast<bool>(fd_); }
    void close() noexcept { fd_.reset(); }
    [[nodiscard]] int release() noexcept { return fd_.release(); }

private:
    // A nonblocking call on a blocking descriptor first checks it is ready;
    // a blocking call on an O_NONBLOCK descriptor first waits until it is.
    bool ready(short events, io_mode m, std::error_code& ec) noexcept {
        if (!fd_) {
            ec = std::make_error_code(std::errc::bad_file_descriptor);
            return false;
        }
        if (m == io_mode::nonblocking && !fd_nonblocking_) return detail::wait_fd(fd_.get(), events, deadline::immediate(), ec);
        if (m == io_mode::blocking && fd_nonblocking_) return detail::wait_fd(fd_.get(), events, deadline::never(), ec);
        return true;
    }

    detail::unique_fd fd_;
    bool fd_nonblocking_ = false;
    bool rwf_nowait_ = true;
};

}  // namespace ipc::transport

// The channel over an eventfd (defined in ipc/fwd.hpp, included above):
// ipc::eventfd_channel, a duplex channel of 64-bit counts: send adds, recv
// takes (see eventfd_mode).
