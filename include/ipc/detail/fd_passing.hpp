// ipc/detail/fd_passing.hpp: handing a descriptor to another process over a Unix socket (SCM_RIGHTS).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>

#include "fd.hpp"

namespace ipc::detail {

// Sends one descriptor (and one byte, since a message must carry data) over a
// connected AF_UNIX socket. The receiver gets its own descriptor for the same
// open file; fd stays open here. EPIPE is errc::peer_closed, never SIGPIPE.
inline bool send_fd(int sock, int fd, std::error_code& ec) noexcept {
    ec.clear();
    char byte = 'F';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (retry_eintr([&] { return ::sendmsg(sock, &msg, MSG_NOSIGNAL); }) < 0) {
        ec = last_error();
        return false;
    }
    return true;
}

// Receives one descriptor sent with send_fd; it arrives close-on-exec. Blocks
// as the socket does. A message without exactly one descriptor (or whose
// control data was cut short) is errc::bad_message, and any descriptors it did
// carry are closed, so a hostile peer cannot fill our descriptor table.
// An orderly shutdown of the peer is errc::peer_closed.
inline unique_fd receive_fd(int sock, std::error_code& ec) noexcept {
    ec.clear();
    char byte = 0;
    iovec iov{&byte, 1};
    // Room for credentials too: seqpacket sockets have SO_PASSCRED set, and
    // without it their descriptor would be cut off (MSG_CTRUNC).
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4) + CMSG_SPACE(sizeof(ucred))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = retry_eintr([&] { return ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); });
    if (n < 0) {
        ec = last_error();
        return {};
    }
    unique_fd got;
    bool extra = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (!got) {
                got.reset(fd);
            } else {
                ::close(fd);
                extra = true;
            }
        }
    }
    if (n == 0 && !got) {
        ec = make_error_code(errc::peer_closed);
        return {};
    }
    if (!got || extra || (msg.msg_flags & MSG_CTRUNC)) {
        ec = make_error_code(errc::bad_message);
        return {};
    }
    return got;
}

}  // namespace ipc::detail
