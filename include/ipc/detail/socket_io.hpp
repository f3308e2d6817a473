// ipc/detail/socket_io.hpp: socket I/O shared by every socket transport (Unix, TCP, UDP).
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <initializer_list>
#include <optional>
#include <span>

#include "../concepts.hpp"
#include "chrono.hpp"
#include "deadline.hpp"
#include "fd.hpp"
#include "sleep.hpp"

namespace ipc::detail {

// The socket itself stays blocking, so a blocking call is the one syscall a
// hand-written program makes; nonblocking calls say so per call with
// MSG_DONTWAIT. MSG_NOSIGNAL turns a dead peer into EPIPE instead of SIGPIPE.
constexpr int send_flags(io_mode m) noexcept { return MSG_NOSIGNAL | (m == io_mode::nonblocking ? MSG_DONTWAIT : 0); }
constexpr int recv_flags(io_mode m) noexcept { return m == io_mode::nonblocking ? MSG_DONTWAIT : 0; }

inline unique_fd open_socket(int family, int type, std::error_code& ec) noexcept {
    int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
    if (fd < 0) ec = last_error();
    return unique_fd(fd);
}

inline bool set_int_option(int fd, int level, int name, int value, std::error_code& ec) noexcept {
    if (::setsockopt(fd, level, name, &value, sizeof value) == 0) return true;
    ec = last_error();
    return false;
}

// Connects fd, which was opened with SOCK_NONBLOCK, and makes it blocking
// again. TCP answers EINPROGRESS and is waited for with poll; a Unix listener
// whose backlog is full answers EAGAIN and is retried until the deadline.
inline bool connect_socket(int fd, const sockaddr* sa, socklen_t len, const deadline& dl, std::error_code& ec) noexcept {
    for (;;) {
        if (::connect(fd, sa, len) == 0) break;
        if (errno == EINTR || errno == EINPROGRESS) {
            if (!wait_fd(fd, POLLOUT, dl, ec)) return false;
            int err = 0;
            socklen_t n = sizeof err;
            if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n) != 0) err = errno;
            if (err != 0) { ec = errno_code(err); return false; }
            break;
        }
        if (errno != EAGAIN) { ec = last_error(); return false; }
        if (dl.expired()) { ec = expired_code(dl); return false; }
        sleep_for(std::chrono::milliseconds(1));
    }
    return set_nonblocking(fd, false, ec);
}

// A listening socket received from another process (SCM_RIGHTS) or inherited:
// checked to be listening, of `type`, in one of `families`, then made
// nonblocking and close-on-exec (see accept_socket). The descriptor is owned
// from here on, and closed if it is refused.
inline unique_fd adopt_listening(int fd, int type, std::initializer_list<int> families, const char* what,
                                 std::error_code& ec) noexcept {
    ec.clear();
    unique_fd owned(fd);
    int accepting = 0, got_type = 0, family = 0;
    socklen_t n = sizeof(int);
    if (fd < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &n) != 0) {
        ec = explain(fd < 0 ? std::make_error_code(std::errc::bad_file_descriptor) : last_error(),
                     "%s::adopt: descriptor %d is not a socket", what, fd);
        return {};
    }
    n = sizeof(int);
    ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &got_type, &n);
    n = sizeof(int);
    ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &n);
    bool family_ok = false;
    for (int f : families) family_ok |= f == family;
    if (!accepting || got_type != type || !family_ok) {
        ec = explain(std::make_error_code(std::errc::invalid_argument),
                     "%s::adopt: descriptor %d is not a listening socket of this kind (listening %d, type %d, family %d)",
                     what, fd, accepting, got_type, family);
        return {};
    }
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        ec = explain(last_error(), "%s::adopt: fcntl on descriptor %d failed", what, fd);
        return {};
    }
    return owned;
}

// Accepts from a listener whose descriptor is O_NONBLOCK (so that a peer
// that gives up between poll and accept cannot leave us blocked). The new
// socket is blocking and close-on-exec.
inline unique_fd accept_socket(int listen_fd, const deadline& dl, std::error_code& ec) noexcept {
    ec.clear();
    for (;;) {
        int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) return unique_fd(fd);
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) { ec = last_error(); return {}; }
        if (!wait_fd(listen_fd, POLLIN, dl, ec)) return {};
    }
}

// An owned socket descriptor: what every socket transport has in common.
class socket_handle {
public:
    socket_handle() noexcept = default;
    explicit socket_handle(unique_fd fd) noexcept : fd_(std::move(fd)) {}

    int native_handle() const noexcept { return fd_.get(); }
    bool is_open() const noexcept { return static_cast<bool>(fd_); }
    void close() noexcept { fd_.reset(); }
    [[nodiscard]] int release() noexcept { return fd_.release(); }

    // Half-close: the peer reads end of stream; this side can still receive.
    void shutdown_send(std::error_code& ec) noexcept {
        if (::shutdown(fd_.get(), SHUT_WR) != 0) ec = last_error();
    }
    void shutdown_send() {
        std::error_code ec;
        shutdown_send(ec);
        throw_if(ec, "shutdown");
    }
    // SO_RCVBUF / SO_SNDBUF (the kernel doubles the value and caps it at rmem_max/wmem_max).
    void set_receive_buffer(int bytes, std::error_code& ec) noexcept { set_int_option(fd_.get(), SOL_SOCKET, SO_RCVBUF, bytes, ec); }
    void set_send_buffer(int bytes, std::error_code& ec) noexcept { set_int_option(fd_.get(), SOL_SOCKET, SO_SNDBUF, bytes, ec); }

protected:
    unique_fd fd_;
};

// A connected byte-stream socket (Unix stream, TCP).
class stream_socket : public socket_handle {
public:
    using socket_handle::socket_handle;

    std::size_t read_some(std::span<std::byte> buf, io_mode m, std::error_code& ec) noexcept {
        ssize_t n = retry_eintr([&] { return ::recv(fd_.get(), buf.data(), buf.size(), recv_flags(m)); });
        if (n > 0) return static_cast<std::size_t>(n);
        ec = n == 0 ? make_error_code(errc::peer_closed) : last_error();
        return 0;
    }

    std::size_t write_some(std::span<const std::span<const std::byte>> parts, io_mode m, std::error_code& ec) noexcept {
        std::array<iovec, 4> iov{};
        msghdr msg{};
        msg.msg_iov = iov.data();
        for (auto p : parts) {
            if (p.empty() || msg.msg_iovlen == iov.size()) continue;
            iov[msg.msg_iovlen++] = {const_cast<std::byte*>(p.data()), p.size()};
        }
        ssize_t n = retry_eintr([&] { return ::sendmsg(fd_.get(), &msg, send_flags(m)); });
        if (n >= 0) return static_cast<std::size_t>(n);
        ec = last_error();
        return 0;
    }
};

// A socket that keeps message boundaries (Unix seqpacket and datagram, UDP).
//
// seqpacket: recv() returning 0 is both an empty message and end of stream.
// The socket runs with SO_PASSCRED, so every real message arrives with a
// credentials control message and end of stream arrives without one.
//
// datagram: there is no end of stream to receive. A connected datagram
// socket whose peer is gone reports ECONNREFUSED (Unix: the peer socket was
// closed; UDP: an ICMP port unreachable came back) and Unix then ENOTCONN;
// both are errc::peer_closed, i.e. status::closed on send.
class message_socket : public socket_handle {
public:
    enum class kind : unsigned char { seqpacket, datagram };

    message_socket() noexcept = default;
    message_socket(unique_fd fd, kind k, bool connected) noexcept
        : socket_handle(std::move(fd)), kind_(k), connected_(connected) {}

    bool send_message(std::span<const std::byte> msg, io_mode m, std::error_code& ec) noexcept {
        return send_message_to(msg, nullptr, 0, m, ec);
    }
    // A datagram to `to` (nullptr: the connected peer).
    bool send_message_to(std::span<const std::byte> msg, const sockaddr* to, socklen_t len, io_mode m, std::error_code& ec) noexcept {
        ssize_t n = retry_eintr([&] { return ::sendto(fd_.get(), msg.data(), msg.size(), send_flags(m), to, to ? len : 0); });
        if (n >= 0) return true;  // a message socket sends all of it or nothing
        ec = peer_error(errno);
        return false;
    }

    // The sender's address goes to *from (its length to *from_len) when given.
    std::size_t recv_message(std::span<std::byte> buf, io_mode m, std::error_code& ec, sockaddr_storage* from = nullptr,
                             socklen_t* from_len = nullptr) noexcept {
        iovec iov{buf.data(), buf.size()};
        alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(ucred))> control;  // SCM_CREDENTIALS
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        if (from) {
            msg.msg_name = from;
            msg.msg_namelen = sizeof *from;
        }
        if (kind_ == kind::seqpacket) {
            msg.msg_control = control.data();
            msg.msg_controllen = control.size();
        }
        ssize_t n = retry_eintr([&] { return ::recvmsg(fd_.get(), &msg, recv_flags(m)); });
        if (n < 0) {
            ec = peer_error(errno);
            return 0;
        }
        if (msg.msg_flags & MSG_TRUNC) {  // the kernel dropped the rest: the message is lost
            ec = explain(errc::message_too_large, "a message over the receive buffer of %zu bytes arrived (it was dropped)", buf.size());
            return 0;
        }
        if (n == 0 && kind_ == kind::seqpacket && msg.msg_controllen == 0) {
            ec = make_error_code(errc::peer_closed);
            return 0;
        }
        if (from_len) *from_len = msg.msg_namelen;
        return static_cast<std::size_t>(n);
    }

    // Receives as recv_message does and sets sender to who sent it (empty: unnamed).
    template <class Address>
    std::size_t recv_message_from(std::span<std::byte> buf, Address& sender, io_mode m, std::error_code& ec) noexcept {
        sockaddr_storage from{};
        socklen_t len = 0;
        const std::size_t n = recv_message(buf, m, ec, &from, &len);
        sender = ec ? Address{} : Address::from_native(from, len);
        return n;
    }

protected:
    // connect(2) on a datagram socket: from now on it sends to, and receives only from, that peer.
    bool connect_peer(const sockaddr* sa, socklen_t len, std::error_code& ec) noexcept {
        if (::connect(fd_.get(), sa, len) != 0) {
            ec = last_error();
            return false;
        }
        connected_ = true;
        return true;
    }

private:
    std::error_code peer_error(int e) const noexcept {
        if (kind_ == kind::datagram && connected_ && (e == ECONNREFUSED || e == ENOTCONN)) return make_error_code(errc::peer_closed);
        return errno_code(e);
    }

    kind kind_ = kind::datagram;
    bool connected_ = false;
};

// The throwing and timed faces of a listener's accept, written once over
// Derived::accept_until(deadline, ec).
template <class Derived, class Socket>
class accept_ops {
public:
    // Blocks until a peer connects.
    Socket accept() {
        std::error_code ec;
        Socket s = self().accept_until(deadline::never(), ec);
        throw_if(ec, "accept");
        return s;
    }
    Socket accept(std::error_code& ec) noexcept { return self().accept_until(deadline::never(), ec); }
    // A connection if one is waiting, else nullopt.
    std::optional<Socket> try_accept() { return optional_accept(deadline::immediate()); }
    // A connection within d, else nullopt; failures throw.
    template <class Rep, class Period>
    std::optional<Socket> accept_for(std::chrono::duration<Rep, Period> d) {
        return optional_accept(deadline::after(d));
    }
    template <class Rep, class Period>
    Socket accept_for(std::chrono::duration<Rep, Period> d, std::error_code& ec) noexcept {
        return self().accept_until(deadline::after(d), ec);
    }

private:
    Derived& self() noexcept { return static_cast<Derived&>(*this); }
    std::optional<Socket> optional_accept(const deadline& dl) {
        std::error_code ec;
        Socket s = self().accept_until(dl, ec);
        if (ec == errc::timed_out || ec == errc::would_block) return std::nullopt;
        throw_if(ec, "accept");
        return s;
    }
};

// The throwing and timed faces of a connecting socket, written once over
// Socket::connect_until(address, deadline, ec).
template <class Socket, class Address>
struct connect_ops {
    static Socket connect(const Address& a) {
        std::error_code ec;
        Socket s = Socket::connect_until(a, deadline::never(), ec);
        if (ec) throw_error(ec, ("connect " + a.to_string()).c_str());
        return s;
    }
    static Socket connect(const Address& a, std::error_code& ec) noexcept { return Socket::connect_until(a, deadline::never(), ec); }
    // Gives up with errc::timed_out after `timeout` (a full backlog, an unanswered SYN).
    template <class Rep, class Period>
    static Socket connect(const Address& a, std::chrono::duration<Rep, Period> timeout) {
        std::error_code ec;
        Socket s = Socket::connect_until(a, deadline::after(timeout), ec);
        if (ec) throw_error(ec, ("connect " + a.to_string()).c_str());
        return s;
    }
    template <class Rep, class Period>
    static Socket connect(const Address& a, std::chrono::duration<Rep, Period> timeout, std::error_code& ec) noexcept {
        return Socket::connect_until(a, deadline::after(timeout), ec);
    }
};

}  // namespace ipc::detail
