// ipc/transport/inet_socket.hpp: TCP and UDP over IPv4 and IPv6.
//
//   tcp  a connected byte stream (framing cuts messages), duplex, TCP_NODELAY on
//   udp  datagrams, keeps boundaries; no flow control and no delivery promise
//
// Addresses are numeric only (no name resolution, which can block for seconds).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "../basic_channel.hpp"
#include "../detail/socket_io.hpp"
#include "../fwd.hpp"

namespace ipc::transport {

// An IPv4 or IPv6 address and port. parse() takes "127.0.0.1:80" or
// "[::1]:80"; v4()/v6() take the host and port apart. Bad text is
// errc::name_invalid.
class inet_address {
public:
    inet_address() noexcept = default;

    static inet_address v4(std::string_view host, std::uint16_t port, std::error_code& ec) noexcept {
        return make(AF_INET, host, port, ec);
    }
    static inet_address v6(std::string_view host, std::uint16_t port, std::error_code& ec) noexcept {
        return make(AF_INET6, host, port, ec);
    }
    static inet_address parse(std::string_view text, std::error_code& ec) noexcept {
        std::uint16_t port = 0;
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos || !parse_port(text.substr(colon + 1), port)) {
            ec = make_error_code(errc::name_invalid);
            return {};
        }
        auto host = text.substr(0, colon);
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return v6(host.substr(1, host.size() - 2), port, ec);
        return v4(host, port, ec);
    }
    static inet_address v4(std::string_view host, std::uint16_t port) {
        std::error_code ec;
        inet_address a = v4(host, port, ec);
        return checked(a, ec, host);
    }
    static inet_address v6(std::string_view host, std::uint16_t port) {
        std::error_code ec;
        inet_address a = v6(host, port, ec);
        return checked(a, ec, host);
    }
    static inet_address parse(std::string_view text) {
        std::error_code ec;
        inet_address a = parse(text, ec);
        return checked(a, ec, text);
    }

    static inet_address loopback_v4(std::uint16_t port = 0) noexcept {
        std::error_code ec;
        return v4("127.0.0.1", port, ec);
    }
    static inet_address loopback_v6(std::uint16_t port = 0) noexcept {
        std::error_code ec;
        return v6("::1", port, ec);
    }
    // The address a socket is bound to (getsockname).
    static inet_address local_of(int fd, std::error_code& ec) noexcept {
        inet_address a;
        socklen_t len = sizeof a.sa_;
        if (::getsockname(fd, &a.sa_.any, &len) != 0) ec = detail::last_error();
        return a;
    }

    // The address a socket call returned (recvfrom, accept); empty if not IPv4/IPv6.
    static inet_address from_native(const sockaddr_storage& ss, socklen_t len) noexcept {
        inet_address a;
        if ((ss.ss_family == AF_INET && len >= sizeof(sockaddr_in)) || (ss.ss_family == AF_INET6 && len >= sizeof(sockaddr_in6)))
            std::memcpy(&a.sa_, &ss, ss.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
        return a;
    }

    bool empty() const noexcept { return family() == AF_UNSPEC; }
    friend bool operator==(const inet_address& a, const inet_address& b) noexcept {
        return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
    }
    int family() const noexcept { return sa_.any.sa_family; }
    std::uint16_t port() const noexcept { return ntohs(family() == AF_INET6 ? sa_.v6.sin6_port : sa_.v4.sin_port); }
    inet_address with_port(std::uint16_t port) const noexcept {
        inet_address a = *this;
        (family() == AF_INET6 ? a.sa_.v6.sin6_port : a.sa_.v4.sin_port) = htons(port);
        return a;
    }
    std::string to_string() const {
        char text[INET6_ADDRSTRLEN] = "?";
        if (family() == AF_INET6) {
            ::inet_ntop(AF_INET6, &sa_.v6.sin6_addr, text, sizeof text);
            // Appended, not `"[" + std::string(...)`: g++ 12 -O3 warns a false -Wstringop-overflow on that.
            std::string s("[");
            s += text;
            s += "]:";
            s += std::to_string(port());
            return s;
        }
        ::inet_ntop(AF_INET, &sa_.v4.sin_addr, text, sizeof text);
        return std::string(text) + ":" + std::to_string(port());
    }

    const sockaddr* data() const noexcept { return &sa_.any; }
    socklen_t size() const noexcept { return family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in); }

private:
    static inet_address make(int family, std::string_view host, std::uint16_t port, std::error_code& ec) noexcept {
        ec.clear();
        inet_address a;
        char text[INET6_ADDRSTRLEN];
        void* bytes = family == AF_INET6 ? static_cast<void*>(&a.sa_.v6.sin6_addr) : static_cast<void*>(&a.sa_.v4.sin_addr);
        if (!terminated(host, text) || ::inet_pton(family, text, bytes) != 1) {
            ec = make_error_code(errc::name_invalid);
            return {};
        }
        a.sa_.any.sa_family = static_cast<sa_family_t>(family);
        return a.with_port(port);
    }
    static bool terminated(std::string_view s, char (&out)[INET6_ADDRSTRLEN]) noexcept {
        if (s.empty() || s.size() >= sizeof out || s.find('\0') != std::string_view::npos) return false;
        s.copy(out, s.size());
        out[s.size()] = '\0';
        return true;
    }
    static bool parse_port(std::string_view s, std::uint16_t& port) noexcept {
        if (s.empty() || s.size() > 5) return false;
        unsigned v = 0;
        auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (err != std::errc() || end != s.data() + s.size() || v > 65535) return false;
        port = static_cast<std::uint16_t>(v);
        return true;
    }
    static inet_address checked(inet_address a, std::error_code ec, std::string_view text) {
        if (ec) detail::throw_error(ec, ("not a numeric IPv4/IPv6 address (\"1.2.3.4\", \"::1\", \"1.2.3.4:80\", \"[::1]:80\"): " + std::string(text)).c_str());
        return a;
    }

    union {
        sockaddr any;
        sockaddr_in v4;
        sockaddr_in6 v6;
    } sa_{};
};

// A connected TCP socket: read_some/write_some, both directions. TCP_NODELAY
// is on: a channel writes each message with one gather call, so Nagle's delay
// would only add latency.
class tcp : public detail::stream_socket, public detail::connect_ops<tcp, inet_address> {
public:
    tcp() noexcept = default;
    explicit tcp(detail::unique_fd fd) noexcept : stream_socket(std::move(fd)) {}

    static tcp connect_until(const inet_address& a, const deadline& dl, std::error_code& ec) noexcept {
        ec.clear();
        detail::unique_fd fd = detail::open_socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK, ec);
        if (ec || !detail::connect_socket(fd.get(), a.data(), a.size(), dl, ec)) return {};
        tcp s(std::move(fd));
        if (!s.set_nodelay(true, ec)) return {};
        return s;
    }

    bool set_nodelay(bool on, std::error_code& ec) noexcept { return detail::set_int_option(fd_.get(), IPPROTO_TCP, TCP_NODELAY, on, ec); }
    inet_address local_address(std::error_code& ec) const noexcept { return inet_address::local_of(fd_.get(), ec); }
};

// Listens on a TCP address (SO_REUSEADDR, so a restarted server can bind
// while old connections linger in TIME_WAIT). Port 0 picks a free port:
// ask local_port(). An IPv6 listener is IPv6 only.
class tcp_listener : public detail::accept_ops<tcp_listener, tcp> {
public:
    tcp_listener() noexcept = default;

    // Listens on `a` (port 0: the kernel picks, see local_address()) with room
    // for `backlog` pending connections; a port in use is errc::already_exists.
    static tcp_listener listen(const inet_address& a, int backlog = SOMAXCONN) {
        std::error_code ec;
        tcp_listener l = listen(a, backlog, ec);
        detail::throw_if(ec, ("listen " + a.to_string()).c_str());
        return l;
    }
    static tcp_listener listen(const inet_address& a, std::error_code& ec) noexcept { return listen(a, SOMAXCONN, ec); }
    static tcp_listener listen(const inet_address& a, int backlog, std::error_code& ec) noexcept {
        ec.clear();
        tcp_listener l;
        l.fd_ = detail::open_socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK, ec);  // see detail::accept_socket
        if (ec || !detail::set_int_option(l.fd_.get(), SOL_SOCKET, SO_REUSEADDR, 1, ec)) return {};
        if (a.family() == AF_INET6 && !detail::set_int_option(l.fd_.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, ec)) return {};
        if (::bind(l.fd_.get(), a.data(), a.size()) != 0 || ::listen(l.fd_.get(), backlog) != 0) {
            ec = errno == EADDRINUSE ? make_error_code(errc::already_exists) : detail::last_error();
            return {};
        }
        l.address_ = inet_address::local_of(l.fd_.get(), ec);
        return l;
    }

    // A listening TCP socket another process made and sent (ipc::recv_fd_for),
    // or one inherited; owned from here on (closed if refused).
    [[nodiscard]] static tcp_listener adopt(int fd) {
        std::error_code ec;
        tcp_listener l = adopt(fd, ec);
        detail::throw_if(ec, "tcp_listener adopt");
        return l;
    }
    [[nodiscard]] static tcp_listener adopt(int fd, std::error_code& ec) noexcept {
        tcp_listener l;
        l.fd_ = detail::adopt_listening(fd, SOCK_STREAM, {AF_INET, AF_INET6}, "tcp_listener", ec);
        if (!ec) l.address_ = inet_address::local_of(l.fd_.get(), ec);
        if (ec) l.fd_.reset();
        return l;
    }

    tcp accept_until(const deadline& dl, std::error_code& ec) noexcept {
        tcp s(detail::accept_socket(fd_.get(), dl, ec));
        if (s.is_open() && !s.set_nodelay(true, ec)) return {};
        return s;
    }

    // The bound address, with the port the kernel chose for port 0.
    const inet_address& local_address() const noexcept { return address_; }
    std::uint16_t local_port() const noexcept { return address_.port(); }
    int native_handle() const noexcept { return fd_.get(); }
    bool is_open() const noexcept { return static_cast<bool>(fd_); }
    void close() noexcept { fd_.reset(); }

private:
    detail::unique_fd fd_;
    inet_address address_;
};

// A UDP socket. bind() receives on a local address (port 0: the kernel
// picks; see local_address()); connect() fixes the peer it sends to. A
// connected socket whose peer port is closed gets errc::peer_closed once the
// ICMP error comes back; nothing else ever reports a close. Datagrams that
// overflow the receiver's buffer are dropped silently: that is UDP.
class udp : public detail::message_socket {
public:
    udp() noexcept = default;
    explicit udp(detail::unique_fd fd, bool connected = false) noexcept : message_socket(std::move(fd), kind::datagram, connected) {}

    static udp bind(const inet_address& local, std::error_code& ec) noexcept {
        ec.clear();
        detail::unique_fd fd = detail::open_socket(local.family(), SOCK_DGRAM, ec);
        if (ec) return {};
        if (::bind(fd.get(), local.data(), local.size()) != 0) {
            ec = errno == EADDRINUSE ? make_error_code(errc::already_exists) : detail::last_error();
            return {};
        }
        return udp(std::move(fd));
    }
    static udp bind(const inet_address& local) {
        std::error_code ec;
        udp s = bind(local, ec);
        detail::throw_if(ec, ("bind " + local.to_string()).c_str());
        return s;
    }
    // Sends to (and receives only from) remote; from an ephemeral port, or from local.
    static udp connect(const inet_address& remote, const inet_address& local = {}) {
        std::error_code ec;
        udp s = connect(remote, local, ec);
        detail::throw_if(ec, ("connect " + remote.to_string()).c_str());
        return s;
    }
    static udp connect(const inet_address& remote, std::error_code& ec) noexcept { return connect(remote, inet_address{}, ec); }
    static udp connect(const inet_address& remote, const inet_address& local, std::error_code& ec) noexcept {
        ec.clear();
        udp s = local.empty() ? udp(detail::open_socket(remote.family(), SOCK_DGRAM, ec)) : bind(local, ec);
        if (ec || !s.set_peer(remote, ec)) return {};
        return s;
    }

    // Connects this socket (e.g. a bound server answering one client).
    bool set_peer(const inet_address& remote, std::error_code& ec) noexcept { return connect_peer(remote.data(), remote.size(), ec); }
    inet_address local_address(std::error_code& ec) const noexcept { return inet_address::local_of(fd_.get(), ec); }

    // Per message: where to send it (empty: the connected peer), and who sent
    // the one received, so a bound server answers each client:
    //   ipc::transport::udp::recv_info from;  ch.recv(req, from);  ch.send(reply, {.to = from.sender});
    struct send_options {
        inet_address to;
    };
    struct recv_info {
        inet_address sender;
    };
    using message_socket::recv_message;
    using message_socket::send_message;
    bool send_message(std::span<const std::byte> msg, const send_options& o, io_mode m, std::error_code& ec) noexcept {
        return send_message_to(msg, o.to.empty() ? nullptr : o.to.data(), o.to.size(), m, ec);
    }
    std::size_t recv_message(std::span<std::byte> buf, recv_info& i, io_mode m, std::error_code& ec) noexcept {
        return recv_message_from(buf, i.sender, m, ec);
    }
    // The largest UDP payload (65535 less the UDP header; IPv4 allows 20 bytes less).
    static constexpr std::size_t max_message_size() noexcept { return 65527; }
    std::string describe() const {
        std::error_code ec;
        const inet_address a = local_address(ec);
        return ec ? std::string("udp") : "udp " + a.to_string();
    }
};

}  // namespace ipc::transport

// Channels over TCP and UDP (defined in ipc/fwd.hpp, included above): a
// connected socket is one channel that both sends and receives,
// auto ch = ipc::tcp_channel<T>::connect(address, 1s); ipc::udp_channel<T>.
