// bench/raw.hpp: the raw baselines, written with plain system calls the way a
// careful C programmer writes them: blocking descriptors, read/write of exactly
// the message, writev(header, payload) then read(header), read(payload) for
// length prefixes, a read buffer and memchr for lines, one send/recv per datagram.
//
// A raw case is a setup (which descriptors, made in the parent before fork)
// times an exchange (how one message crosses them).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <ipc/detail/fd.hpp>

#include "harness.hpp"

namespace bench::raw {

using ipc::detail::unique_fd;

[[noreturn]] inline void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }
inline int check(int r, const char* what) {
    if (r < 0) fail(what);
    return r;
}

// What one side reads from and writes to; a socket appears twice (dup'ed), so
// each descriptor has one owner.
struct side_fds {
    unique_fd rx;
    unique_fd tx;
};
struct both_sides {
    side_fds a, b;
};

inline side_fds socket_side(int fd) {
    unique_fd rx(fd);
    return {std::move(rx), unique_fd(check(::fcntl(fd, F_DUPFD_CLOEXEC, 0), "dup"))};
}

// ---- setups ------------------------------------------------------------------

struct pipes {
    static both_sides make(std::size_t) {
        int ab[2], ba[2];
        check(::pipe2(ab, O_CLOEXEC), "pipe2");
        unique_fd ab_r(ab[0]), ab_w(ab[1]);
        check(::pipe2(ba, O_CLOEXEC), "pipe2");
        return {{unique_fd(ba[0]), std::move(ab_w)}, {std::move(ab_r), unique_fd(ba[1])}};
    }
};

// Two FIFOs in a private directory, removed as soon as both ends are open.
struct fifos {
    static both_sides make(std::size_t) {
        temp_dir dir;
        both_sides s;
        auto open_fifo = [&](const char* name, unique_fd& r, unique_fd& w) {
            const std::string path = dir.file(name);
            check(::mkfifo(path.c_str(), 0600), "mkfifo");
            // The read end opens without waiting for a writer; then it is made blocking.
            r.reset(check(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC), "open fifo"));
            w.reset(check(::open(path.c_str(), O_WRONLY | O_CLOEXEC), "open fifo"));
            check(::fcntl(r.get(), F_SETFL, ::fcntl(r.get(), F_GETFL) & ~O_NONBLOCK), "fcntl");
        };
        open_fifo("ab", s.b.rx, s.a.tx);
        open_fifo("ba", s.a.rx, s.b.tx);
        return s;
    }
};

template <int Type>
struct unix_pair {
    static both_sides make(std::size_t) {
        int sv[2];
        check(::socketpair(AF_UNIX, Type | SOCK_CLOEXEC, 0, sv), "socketpair");
        unique_fd keep(sv[1]);
        side_fds a = socket_side(sv[0]);
        return {std::move(a), socket_side(keep.release())};
    }
};
using unix_stream = unix_pair<SOCK_STREAM>;
using unix_seqpacket = unix_pair<SOCK_SEQPACKET>;
using unix_dgram = unix_pair<SOCK_DGRAM>;

inline sockaddr_in loopback_any_port() {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

inline unique_fd bound_socket(int type, sockaddr_in& addr) {
    unique_fd s(check(::socket(AF_INET, type | SOCK_CLOEXEC, 0), "socket"));
    addr = loopback_any_port();
    socklen_t len = sizeof addr;
    check(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), "bind");
    check(::getsockname(s.get(), reinterpret_cast<sockaddr*>(&addr), &len), "getsockname");
    return s;
}

// 127.0.0.1 with Nagle off: every message leaves at once.
struct tcp_loopback {
    static both_sides make(std::size_t) {
        sockaddr_in addr;
        unique_fd listener = bound_socket(SOCK_STREAM, addr);
        check(::listen(listener.get(), 1), "listen");
        unique_fd client(check(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
        check(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), "connect");
        unique_fd server(check(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC), "accept"));
        const int one = 1;
        check(::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), "TCP_NODELAY");
        check(::setsockopt(server.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), "TCP_NODELAY");
        side_fds a = socket_side(client.release());
        return {std::move(a), socket_side(server.release())};
    }
};

// Two connected UDP sockets on 127.0.0.1. UDP may drop when the receiver's
// buffer is full, so the one-way phase runs with credit (see window()), and a
// receive gives up after 2 s instead of waiting forever for a lost datagram.
struct udp_loopback {
    static constexpr std::size_t max_datagram = 65507;

    static both_sides make(std::size_t size) {
        if (size > max_datagram) throw not_applicable("a UDP/IPv4 datagram carries at most 65507 bytes");
        sockaddr_in addr_a, addr_b;
        unique_fd a = bound_socket(SOCK_DGRAM, addr_a);
        unique_fd b = bound_socket(SOCK_DGRAM, addr_b);
        check(::connect(a.get(), reinterpret_cast<sockaddr*>(&addr_b), sizeof addr_b), "connect");
        check(::connect(b.get(), reinterpret_cast<sockaddr*>(&addr_a), sizeof addr_a), "connect");
        const timeval two_s{2, 0};
        for (int fd : {a.get(), b.get()}) check(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &two_s, sizeof two_s), "SO_RCVTIMEO");
        side_fds sa = socket_side(a.release());
        return {std::move(sa), socket_side(b.release())};
    }
    // In flight at once: about 32 KiB, well inside the default receive buffer.
    static std::size_t window(std::size_t size) { return std::clamp<std::size_t>(32768 / size, 1, 64); }
};

// ---- exchanges ---------------------------------------------------------------

inline void write_all(int fd, iovec* iov, int cnt) {
    for (;;) {
        ssize_t n = ::writev(fd, iov, cnt);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("writev");
        }
        auto left = static_cast<std::size_t>(n);
        while (cnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            ++iov;
            --cnt;
        }
        if (cnt == 0) return;
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
    }
}

inline void write_all(int fd, const void* p, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            fail("write");
        }
        p = static_cast<const char*>(p) + w;
        n -= static_cast<std::size_t>(w);
    }
}

inline void read_exact(int fd, void* p, std::size_t n) {
    while (n > 0) {
        ssize_t r = ::read(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            fail("read");
        }
        if (r == 0) throw std::runtime_error("peer closed");
        p = static_cast<char*>(p) + r;
        n -= static_cast<std::size_t>(r);
    }
}

// Exactly `size` bytes each way (the comparable of framing::fixed).
class exact {
public:
    explicit exact(std::size_t size) : tx_(size, 'x'), rx_(size) {}
    void send(int fd) { write_all(fd, tx_.data(), tx_.size()); }
    void recv(int fd) { read_exact(fd, rx_.data(), rx_.size()); }

private:
    std::vector<char> tx_, rx_;
};

// A 4-byte length, then the payload (the comparable of framing::length_prefixed).
class prefixed {
public:
    explicit prefixed(std::size_t size) : tx_(size, 'x'), rx_(size) {}
    void send(int fd) {
        std::uint32_t len = static_cast<std::uint32_t>(tx_.size());
        iovec iov[2] = {{&len, sizeof len}, {tx_.data(), tx_.size()}};
        write_all(fd, iov, 2);
    }
    void recv(int fd) {
        std::uint32_t len = 0;
        read_exact(fd, &len, sizeof len);
        if (len > rx_.size()) throw std::runtime_error("length prefix too large");
        read_exact(fd, rx_.data(), len);
    }

private:
    std::vector<char> tx_, rx_;
};

// Lines ended by '\n', read through a buffer and cut with memchr (the
// comparable of framing::delimited). Lines are handled in place, never copied.
class delimited {
public:
    explicit delimited(std::size_t size) : line_(size + 1, 'x'), buf_(std::max<std::size_t>(65536, 2 * (size + 1))) {
        line_.back() = '\n';
    }
    void send(int fd) { write_all(fd, line_.data(), line_.size()); }
    void recv(int fd) {
        for (;;) {
            const std::size_t from = std::max(begin_, scanned_);
            if (auto* nl = static_cast<char*>(std::memchr(buf_.data() + from, '\n', end_ - from))) {
                auto len = static_cast<std::size_t>(nl - (buf_.data() + begin_));
                if (len + 1 != line_.size()) throw std::runtime_error("line of the wrong length");
                begin_ += len + 1;
                scanned_ = begin_;
                if (begin_ == end_) begin_ = end_ = scanned_ = 0;
                return;
            }
            scanned_ = end_;
            if (end_ == buf_.size()) {  // slide the partial line to the front
                std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
                end_ -= begin_;
                scanned_ -= begin_;
                begin_ = 0;
            }
            ssize_t r = ::read(fd, buf_.data() + end_, buf_.size() - end_);
            if (r < 0) {
                if (errno == EINTR) continue;
                fail("read");
            }
            if (r == 0) throw std::runtime_error("peer closed");
            end_ += static_cast<std::size_t>(r);
        }
    }

private:
    std::vector<char> line_, buf_;
    std::size_t begin_ = 0, end_ = 0, scanned_ = 0;
};

// One send(2) and one recv(2) per message: the transport keeps the boundaries.
class datagram {
public:
    explicit datagram(std::size_t size) : tx_(size, 'x'), rx_(size + 1) {}
    void send(int fd) {
        for (;;) {
            ssize_t n = ::send(fd, tx_.data(), tx_.size(), 0);
            if (n == static_cast<ssize_t>(tx_.size())) return;
            if (n < 0 && errno == EINTR) continue;
            fail("send");
        }
    }
    void recv(int fd) {
        for (;;) {
            ssize_t n = ::recv(fd, rx_.data(), rx_.size(), 0);
            if (n == static_cast<ssize_t>(tx_.size())) return;
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) throw std::runtime_error("no datagram within 2 s (lost?)");
            if (n < 0) fail("recv");
            throw std::runtime_error("datagram of the wrong size");
        }
    }

private:
    std::vector<char> tx_, rx_;
};

// ---- the link ----------------------------------------------------------------

template <class Setup, class Exchange>
class link {
public:
    explicit link(std::size_t size) : size_(size), both_(Setup::make(size)), ex_(size) {}

    void open(side s) {
        me_ = std::move(s == side::a ? both_.a : both_.b);
        both_ = {};  // close the other side's descriptors in this process
    }
    void send() { ex_.send(me_.tx.get()); }
    void recv() { ex_.recv(me_.rx.get()); }

    std::size_t window() const {
        if constexpr (requires { Setup::window(size_); }) return Setup::window(size_);
        return 0;
    }

private:
    std::size_t size_;
    both_sides both_;
    side_fds me_;
    Exchange ex_;
};

}  // namespace bench::raw
