// ipc/detail/fd_passing.hpp: handing a file descriptor to another process over a Unix socket.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "fd.hpp"

namespace ipc::detail {

// A connected pair of Unix stream sockets (both close on exec).
inline bool fd_socketpair(unique_fd& a, unique_fd& b, std::error_code& ec) noexcept {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        ec = last_error();
        return false;
    }
    a.reset(sv[0]);
    b.reset(sv[1]);
    return true;
}

// Sends fd (SCM_RIGHTS) with one byte of payload, as the ancillary data needs.
inline bool send_fd(int sock, int fd, std::error_code& ec) noexcept {
    char byte = 'F';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof ctrl;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (retry_eintr([&] { return ::sendmsg(sock, &msg, MSG_NOSIGNAL); }) != 1) {
        ec = last_error();
        return false;
    }
    return true;
}

// Receives one descriptor sent by send_fd (close-on-exec). A message without
// exactly one descriptor is errc::bad_message; end of stream is peer_closed.
inline unique_fd recv_fd(int sock, std::error_code& ec) noexcept {
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof ctrl;
    const ssize_t n = retry_eintr([&] { return ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); });
    if (n < 0) {
        ec = last_error();
        return {};
    }
    if (n == 0) {
        ec = make_error_code(errc::peer_closed);
        return {};
    }
    unique_fd got;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (!got) got.reset(fd);
            else ::close(fd);  // more than asked for: never leak them
        }
    }
    if ((msg.msg_flags & MSG_CTRUNC) || !got) {
        ec = make_error_code(errc::bad_message);
        return {};
    }
    return got;
}

} // namespace ipc::detail
