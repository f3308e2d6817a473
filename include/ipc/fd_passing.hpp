// ipc/fd_passing.hpp: handing an open descriptor (a listening socket, a file,
// a memfd, an eventfd) to another process over a connected Unix socket, with
// SCM_RIGHTS. The receiver gets its own descriptor for the same open file, as
// if it had been inherited:
//
//   auto ends = ipc::transport::unix_seqpacket::pair();      // before fork
//   ipc::send_fd(ends.first, listener.native_handle());      // parent
//   int fd = ipc::recv_fd_for(ends.second, 1s);               // child: owns fd now
//
// Works on any connected AF_UNIX transport (unix_stream, unix_seqpacket,
// unix_dgram), or ch.transport() of a channel over one. A descriptor travels
// as a one-byte message of its own: on a stream socket, do not interleave it
// with a channel's messages the peer might read first.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <concepts>
#include <system_error>

#include "detail/chrono.hpp"
#include "detail/fd_passing.hpp"
#include "error.hpp"

namespace ipc {

// A connected Unix socket transport: anything with the socket's descriptor.
template <class S>
concept unix_socket_end = requires(const S& s) {
    { s.native_handle() } -> std::convertible_to<int>;
};

// Sends a copy of `fd`; fd stays open here. A closed peer is errc::peer_closed (never SIGPIPE).
template <unix_socket_end S>
bool send_fd(S& over, int fd, std::error_code& ec) noexcept {
    return detail::send_fd(over.native_handle(), fd, ec);
}
template <unix_socket_end S>
void send_fd(S& over, int fd) {
    std::error_code ec;
    if (!send_fd(over, fd, ec)) detail::throw_error(ec, "send_fd");
}

// Waits at most `timeout` for a descriptor sent with send_fd and returns it
// (close-on-exec); the caller owns it and must close it. On failure returns
// -1 and sets ec: errc::timed_out, errc::peer_closed (the peer closed with
// nothing sent), errc::bad_message (a message without exactly one
// descriptor: any it carried are closed, so a hostile peer cannot fill our
// descriptor table).
template <unix_socket_end S, class Rep, class Period>
int recv_fd_for(S& from, std::chrono::duration<Rep, Period> timeout, std::error_code& ec) noexcept {
    ec.clear();
    const auto until = std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::milliseconds>(timeout);
    pollfd p{from.native_handle(), POLLIN, 0};
    for (;;) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        const int n = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count())));
        if (n > 0) break;
        if (n == 0) {
            ec = make_error_code(errc::timed_out);
            return -1;
        }
        if (errno != EINTR) {
            ec = detail::last_error();
            return -1;
        }
    }
    return detail::receive_fd(from.native_handle(), ec).release();
}
template <unix_socket_end S, class Rep, class Period>
int recv_fd_for(S& from, std::chrono::duration<Rep, Period> timeout) {
    std::error_code ec;
    const int fd = recv_fd_for(from, timeout, ec);
    if (fd < 0) detail::throw_error(ec, "recv_fd");
    return fd;
}

}  // namespace ipc
