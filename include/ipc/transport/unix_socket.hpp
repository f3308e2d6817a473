// ipc/transport/unix_socket.hpp: Unix domain sockets: stream, seqpacket and datagram.
//
//   unix_stream     a byte stream (framing cuts messages), duplex
//   unix_seqpacket  connected, reliable, keeps message boundaries, duplex
//   unix_dgram      datagrams to a bound name, keeps boundaries
//
// Names are explicit: unix_address::path("/run/x.sock") is a file,
// unix_address::abstract("x") lives in Linux's abstract namespace (no file,
// gone with the last socket, but reachable by anyone in the network namespace:
// no file mode guards it, so a server checks peer_credentials()).
// A path is created 0600 unless widened; a symbolic link at it is refused by
// listen, bind and connect alike, never followed.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "../basic_channel.hpp"
#include "../detail/name.hpp"
#include "../detail/proc.hpp"
#include "../detail/socket_io.hpp"
#include "../fwd.hpp"
#include "../open_mode.hpp"

namespace ipc::transport {

// Where a Unix socket lives. Validated on construction: a path must fit
// sun_path with its terminating NUL and pass detail::fs_path (no NUL, no ".."
// component); an abstract name must fit after the leading NUL and (by our
// choice, for printable names) have no NUL.
class unix_address {
public:
    static constexpr std::size_t max_length = sizeof(sockaddr_un::sun_path) - 1;

    unix_address() noexcept = default;

    static unix_address path(std::string_view p, std::error_code& ec) noexcept { return make(p, false, ec); }
    static unix_address path(std::string_view p) { return checked(p, false, "unix_address::path"); }
    static unix_address abstract(std::string_view name, std::error_code& ec) noexcept { return make(name, true, ec); }
    static unix_address abstract(std::string_view name) { return checked(name, true, "unix_address::abstract"); }

    // The address a socket call returned (recvfrom, accept); empty for an
    // unnamed socket. Untrusted: the length is bounded by sun_path.
    static unix_address from_native(const sockaddr_storage& ss, socklen_t len) noexcept {
        unix_address a;
        const auto& un = reinterpret_cast<const sockaddr_un&>(ss);
        constexpr auto head = offsetof(sockaddr_un, sun_path);
        if (ss.ss_family != AF_UNIX || len <= head) return a;
        std::size_t n = len - head < sizeof un.sun_path ? len - head : sizeof un.sun_path;
        const bool abstract = un.sun_path[0] == '\0';
        if (!abstract) n = ::strnlen(un.sun_path, n);
        else n -= 1;
        if (n == 0 || n > max_length) return a;
        std::memcpy(a.sa_.sun_path, un.sun_path, n + (abstract ? 1 : 0));
        a.abstract_ = abstract;
        a.name_len_ = n;
        return a;
    }

    bool is_abstract() const noexcept { return abstract_; }
    bool empty() const noexcept { return name_len_ == 0; }
    // The path, or the abstract name without its leading NUL.
    std::string_view name() const noexcept { return {sa_.sun_path + (abstract_ ? 1 : 0), name_len_}; }
    // For messages: "@name" for abstract names, as ss(8) prints them.
    std::string to_string() const {
        // Appended, not `"@" + std::string(...)`: g++ 12 -O2 warns a false -Wrestrict on that.
        std::string s(abstract_ ? "@" : "");
        s += name();
        return s;
    }

    const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&sa_); }
    socklen_t size() const noexcept {
        // Abstract names are exactly their bytes; paths include the NUL.
        return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name_len_);
    }

private:
    static unix_address make(std::string_view s, bool abstract, std::error_code& ec) noexcept {
        ec.clear();
        unix_address a;
        if (s.size() > max_length || (abstract ? s.empty() || s.find('\0') != std::string_view::npos : !detail::fs_path(s, ec))) {
            ec = make_error_code(errc::name_invalid);
            return a;
        }
        a.abstract_ = abstract;
        a.name_len_ = s.size();
        s.copy(a.sa_.sun_path + (abstract ? 1 : 0), s.size());
        return a;
    }
    static unix_address checked(std::string_view s, bool abstract, const char* what) {
        std::error_code ec;
        unix_address a = make(s, abstract, ec);
        if (ec)
            detail::throw_error(ec, (std::string(what) + ": empty, longer than " + std::to_string(max_length) +
                                     " bytes, contains NUL, or (a path) has a \"..\" component")
                                        .c_str());
        return a;
    }

    sockaddr_un sa_{AF_UNIX, {}};
    std::size_t name_len_ = 0;
    bool abstract_ = false;
};

}  // namespace ipc::transport

namespace ipc::detail {

// The socket file a bind created. Removed on destruction, but only by the
// process that created it (a forked child's copy leaves it alone) and only if
// the path still names the same inode (nobody replaced it since).
class socket_file {
public:
    socket_file() noexcept = default;
    socket_file(std::string path, dev_t dev, ino_t ino) : path_(std::move(path)), dev_(dev), ino_(ino), owner_(::getpid()) {}
    socket_file(socket_file&& o) noexcept
        : path_(std::move(o.path_)), dev_(o.dev_), ino_(o.ino_), owner_(std::exchange(o.owner_, 0)) {}
    socket_file& operator=(socket_file&& o) noexcept {
        if (this != &o) {
            remove();
            path_ = std::move(o.path_);
            dev_ = o.dev_;
            ino_ = o.ino_;
            owner_ = std::exchange(o.owner_, 0);
        }
        return *this;
    }
    ~socket_file() { remove(); }

    void remove() noexcept {
        struct stat st {};
        if (owner_ != 0 && owner_ == ::getpid() && ::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
            st.st_dev == dev_ && st.st_ino == ino_)
            ::unlink(path_.c_str());
        owner_ = 0;
    }

private:
    std::string path_;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    pid_t owner_ = 0;
};

// The largest Unix datagram or seqpacket message a sender can make: its
// SO_SNDBUF, which an unprivileged process can raise to twice
// /proc/sys/net/core/wmem_max (the kernel doubles what is asked). Read once.
inline std::size_t unix_message_max() noexcept {
    static const std::size_t v = [] {
        const long w = read_proc_number("/proc/sys/net/core/wmem_max");
        return w > 0 ? 2 * static_cast<std::size_t>(w) : std::size_t{1} << 20;
    }();
    return v;
}

// Is a socket of this type answering at a? ECONNREFUSED means the file is
// a leftover nobody listens on.
inline bool unix_name_is_live(const transport::unix_address& a, int type) noexcept {
    std::error_code ec;
    unique_fd probe = open_socket(AF_UNIX, type | SOCK_NONBLOCK, ec);
    if (ec) return true;
    return ::connect(probe.get(), a.data(), a.size()) == 0 || errno != ECONNREFUSED;
}

// Binds fd to a, with the file created `mode` (the kernel takes a Unix socket
// file's mode from the socket inode minus the umask, so fchmod on the socket
// before bind sets it atomically, with no window and no process-wide umask).
// A leftover socket file nobody listens on is replaced; a live one is
// errc::already_exists; a symlink (ELOOP) or any other file (ENOTSOCK) at
// the path is refused and never followed or removed.
inline socket_file bind_unix(int fd, const transport::unix_address& a, int type, mode_t mode, std::error_code& ec) {
    if (!a.is_abstract() && ::fchmod(fd, mode) != 0) { ec = last_error(); return {}; }
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (::bind(fd, a.data(), a.size()) == 0) {
            if (a.is_abstract()) return {};
            struct stat st {};
            if (::lstat(std::string(a.name()).c_str(), &st) != 0) { ec = last_error(); return {}; }
            return socket_file(std::string(a.name()), st.st_dev, st.st_ino);
        }
        if (errno != EADDRINUSE) { ec = last_error(); return {}; }
        if (a.is_abstract()) break;
        const std::string path(a.name());
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0) {
            if (errno == ENOENT) continue;  // removed meanwhile: try again
            ec = last_error();
            return {};
        }
        if (S_ISLNK(st.st_mode)) { ec = std::error_code(ELOOP, std::system_category()); return {}; }
        if (!S_ISSOCK(st.st_mode)) { ec = std::error_code(ENOTSOCK, std::system_category()); return {}; }
        if (unix_name_is_live(a, type)) break;
        // Stale. Remove it only if it is still the socket we looked at.
        struct stat again {};
        if (::lstat(path.c_str(), &again) == 0 && S_ISSOCK(again.st_mode) && again.st_ino == st.st_ino && again.st_dev == st.st_dev)
            ::unlink(path.c_str());
    }
    ec = make_error_code(errc::already_exists);
    return {};
}

inline void throw_bind_error(std::error_code ec, const transport::unix_address& a) {
    std::string why = "bind " + a.to_string();
    if (ec == std::errc::too_many_symbolic_link_levels) why += ": a symlink is at the socket path; refusing to follow or remove it";
    else if (ec == std::errc::not_a_socket) why += ": a file that is not a socket is at the path; refusing to remove it";
    else if (ec == errc::already_exists) why += ": a live socket is listening there";
    throw_error(ec, why.c_str());
}

// A path address pinned to the file it names now. connect(2) follows a
// symbolic link; this does not: the path is opened O_PATH | O_NOFOLLOW, a link
// found there is refused with ELOOP, and the connect goes through
// /proc/self/fd/N, so the file checked is the file connected to.
struct pinned_unix_address {
    unique_fd file;                  // held until the connect is done
    transport::unix_address address; // a itself (abstract), or /proc/self/fd/N
};
inline bool pin_unix_address(const transport::unix_address& a, pinned_unix_address& out, std::error_code& ec) noexcept {
    if (a.is_abstract()) {
        out.address = a;
        return true;
    }
    // name() of a path address is NUL-terminated in sun_path.
    out.file.reset(retry_eintr([&] { return ::open(a.name().data(), O_PATH | O_NOFOLLOW | O_CLOEXEC); }));
    if (!out.file) { ec = last_error(); return false; }
    struct stat st {};
    if (::fstat(out.file.get(), &st) != 0) { ec = last_error(); return false; }
    if (S_ISLNK(st.st_mode)) { ec = std::error_code(ELOOP, std::system_category()); return false; }
    char proc[32];
    std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", out.file.get());
    out.address = transport::unix_address::path(proc, ec);
    return !ec;
}

inline unique_fd connect_unix(const transport::unix_address& a, int type, const deadline& dl, std::error_code& ec) noexcept {
    ec.clear();
    pinned_unix_address to;
    if (!pin_unix_address(a, to, ec)) return {};
    unique_fd fd = open_socket(AF_UNIX, type | SOCK_NONBLOCK, ec);
    if (ec) return {};
    // seqpacket: see message_socket (credentials tell an empty message from end of stream).
    if (type == SOCK_SEQPACKET && !set_int_option(fd.get(), SOL_SOCKET, SO_PASSCRED, 1, ec)) return {};
    if (!connect_socket(fd.get(), to.address.data(), to.address.size(), dl, ec)) return {};
    return fd;
}

template <class Socket>
struct socket_pair {
    Socket first;
    Socket second;
};

inline bool make_socketpair(int type, unique_fd (&out)[2], std::error_code& ec) noexcept {
    ec.clear();
    int fds[2];
    if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) { ec = last_error(); return false; }
    out[0].reset(fds[0]);
    out[1].reset(fds[1]);
    if (type == SOCK_SEQPACKET)
        return set_int_option(fds[0], SOL_SOCKET, SO_PASSCRED, 1, ec) && set_int_option(fds[1], SOL_SOCKET, SO_PASSCRED, 1, ec);
    return true;
}

// socketpair() as two transports: Socket::pair(), for a parent and the child it forks.
template <class Socket>
struct pair_ops {
    static socket_pair<Socket> pair(std::error_code& ec) {
        unique_fd fds[2];
        if (!make_socketpair(Socket::socket_type, fds, ec)) return {};
        if constexpr (Socket::socket_type == SOCK_DGRAM)  // each end is connected to the other
            return {Socket(std::move(fds[0]), true), Socket(std::move(fds[1]), true)};
        else
            return {Socket(std::move(fds[0])), Socket(std::move(fds[1]))};
    }
    static socket_pair<Socket> pair() {
        std::error_code ec;
        auto p = pair(ec);
        throw_if(ec, "socketpair");
        return p;
    }
};

}  // namespace ipc::detail

namespace ipc::transport {

template <class Socket>
using socket_pair = detail::socket_pair<Socket>;

// Who is at the other end of a connected Unix socket, as the kernel recorded
// it when the connection was made (SO_PEERCRED): a server checks uid before
// it trusts a client. The pid may have exited, and been reused, since.
struct unix_credentials {
    pid_t pid = 0;
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
};

}  // namespace ipc::transport

namespace ipc::detail {

// peer_credentials() for the connected Unix sockets, written once over Socket::native_handle().
template <class Socket>
class peer_credential_ops {
public:
    transport::unix_credentials peer_credentials(std::error_code& ec) const noexcept {
        ec.clear();
        ucred c{};
        socklen_t n = sizeof c;
        if (::getsockopt(static_cast<const Socket&>(*this).native_handle(), SOL_SOCKET, SO_PEERCRED, &c, &n) != 0) {
            ec = last_error();
            return {};
        }
        return {c.pid, c.uid, c.gid};
    }
    transport::unix_credentials peer_credentials() const {
        std::error_code ec;
        auto c = peer_credentials(ec);
        throw_if(ec, "getsockopt(SO_PEERCRED)");
        return c;
    }
};

}  // namespace ipc::detail

namespace ipc::transport {

// A connected Unix stream socket: read_some/write_some, both directions.
class unix_stream : public detail::stream_socket,
                    public detail::connect_ops<unix_stream, unix_address>,
                    public detail::pair_ops<unix_stream>,
                    public detail::peer_credential_ops<unix_stream> {
public:
    unix_stream() noexcept = default;
    explicit unix_stream(detail::unique_fd fd) noexcept : stream_socket(std::move(fd)) {}

    static unix_stream connect_until(const unix_address& a, const deadline& dl, std::error_code& ec) noexcept {
        return unix_stream(detail::connect_unix(a, SOCK_STREAM, dl, ec));
    }
    static constexpr int socket_type = SOCK_STREAM;
};

// A connected Unix seqpacket socket: send_message/recv_message, both directions.
class unix_seqpacket : public detail::message_socket,
                       public detail::connect_ops<unix_seqpacket, unix_address>,
                       public detail::pair_ops<unix_seqpacket>,
                       public detail::peer_credential_ops<unix_seqpacket> {
public:
    unix_seqpacket() noexcept = default;
    // Adopts fd; it must have SO_PASSCRED set (see detail::message_socket).
    explicit unix_seqpacket(detail::unique_fd fd) noexcept : message_socket(std::move(fd), kind::seqpacket, true) {}

    static unix_seqpacket connect_until(const unix_address& a, const deadline& dl, std::error_code& ec) noexcept {
        return unix_seqpacket(detail::connect_unix(a, SOCK_SEQPACKET, dl, ec));
    }
    static constexpr int socket_type = SOCK_SEQPACKET;
    // The largest message a peer can send (see detail::unix_message_max).
    static std::size_t max_message_size() noexcept { return detail::unix_message_max(); }
};

// A Unix datagram socket. bind() gives it a name to receive on (the file is
// created 0600 and removed when the socket is destroyed); connect() fixes the
// peer it sends to. Sending to a connected peer that closed its socket is
// errc::peer_closed (status::closed); a receiver never sees end of stream.
class unix_dgram : public detail::message_socket, public detail::pair_ops<unix_dgram> {
public:
    unix_dgram() noexcept = default;
    // Adopts fd; `connected` says it has a peer (so that ECONNREFUSED is peer_closed).
    explicit unix_dgram(detail::unique_fd fd, bool connected = false, detail::socket_file file = {}) noexcept
        : message_socket(std::move(fd), kind::datagram, connected), file_(std::move(file)) {}
    static constexpr int socket_type = SOCK_DGRAM;

    // A socket that receives on `local` (a socket file gets p.mode, 0600 unless widened).
    static unix_dgram bind(const unix_address& local, permissions p = {}) {
        std::error_code ec;
        unix_dgram s = bind(local, p, ec);
        if (ec) detail::throw_bind_error(ec, local);
        return s;
    }
    static unix_dgram bind(const unix_address& local, std::error_code& ec) { return bind(local, permissions{}, ec); }
    static unix_dgram bind(const unix_address& local, permissions p, std::error_code& ec) {
        ec.clear();
        detail::unique_fd fd = detail::open_socket(AF_UNIX, SOCK_DGRAM, ec);
        if (ec) return {};
        detail::socket_file file = detail::bind_unix(fd.get(), local, SOCK_DGRAM, p.mode, ec);
        if (ec) return {};
        return unix_dgram(std::move(fd), false, std::move(file));
    }
    // A socket that sends to `remote` (and receives only from it), unnamed
    // or bound to `local` so that the peer can answer.
    static unix_dgram connect(const unix_address& remote, const unix_address& local = {}) {
        std::error_code ec;
        unix_dgram s = connect(remote, local, ec);
        detail::throw_if(ec, ("connect " + remote.to_string()).c_str());
        return s;
    }
    static unix_dgram connect(const unix_address& remote, std::error_code& ec) { return connect(remote, unix_address{}, ec); }
    static unix_dgram connect(const unix_address& remote, const unix_address& local, std::error_code& ec) {
        ec.clear();
        unix_dgram s = local.empty() ? unix_dgram(detail::open_socket(AF_UNIX, SOCK_DGRAM, ec)) : bind(local, ec);
        if (ec || !s.set_peer(remote, ec)) return {};
        return s;
    }
    // Connects this socket (e.g. a bound server answering one client). A
    // socket connected elsewhere refuses datagrams from others: EPERM.
    // A symbolic link at remote's path is refused (ELOOP), as for connect.
    bool set_peer(const unix_address& remote, std::error_code& ec) noexcept {
        ec.clear();
        detail::pinned_unix_address to;
        return detail::pin_unix_address(remote, to, ec) && connect_peer(to.address.data(), to.address.size(), ec);
    }

    // Per message: where to send it (empty: the connected peer), and who
    // sent the one received (empty if the sender's socket is unnamed: bind
    // it, or connect with a local address, to be answered):
    //   ipc::transport::unix_dgram::recv_info from;  ch.recv(req, from);  ch.send(reply, {.to = from.sender});
    // A path is opened O_NOFOLLOW first, as for set_peer.
    struct send_options {
        unix_address to;
    };
    struct recv_info {
        unix_address sender;
    };
    using message_socket::recv_message;
    using message_socket::send_message;
    bool send_message(std::span<const std::byte> msg, const send_options& o, io_mode m, std::error_code& ec) noexcept {
        if (o.to.empty()) return send_message(msg, m, ec);
        detail::pinned_unix_address to;
        return detail::pin_unix_address(o.to, to, ec) && send_message_to(msg, to.address.data(), to.address.size(), m, ec);
    }
    std::size_t recv_message(std::span<std::byte> buf, recv_info& i, io_mode m, std::error_code& ec) noexcept {
        return recv_message_from(buf, i.sender, m, ec);
    }
    static std::size_t max_message_size() noexcept { return detail::unix_message_max(); }
    std::string describe() const {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unix_dgram";
        const unix_address a = unix_address::from_native(ss, len);
        return a.empty() ? std::string("unix_dgram (unnamed)") : "unix_dgram " + a.to_string();
    }

private:
    detail::socket_file file_;
};

// Listens on a Unix name and accepts Socket (unix_stream or unix_seqpacket)
// connections. The socket file is created 0600 (permissions) and removed by the
// destructor; see detail::bind_unix for what happens to an existing file.
template <class Socket>
class basic_unix_listener : public detail::accept_ops<basic_unix_listener<Socket>, Socket> {
public:
    basic_unix_listener() noexcept = default;

    // Listens on `a` with room for `backlog` pending connections; a socket file gets p.mode.
    static basic_unix_listener listen(const unix_address& a, int backlog = SOMAXCONN, permissions p = {}) {
        std::error_code ec;
        basic_unix_listener l = listen(a, backlog, p, ec);
        if (ec) detail::throw_bind_error(ec, a);
        return l;
    }
    static basic_unix_listener listen(const unix_address& a, std::error_code& ec) { return listen(a, SOMAXCONN, permissions{}, ec); }
    static basic_unix_listener listen(const unix_address& a, int backlog, std::error_code& ec) { return listen(a, backlog, permissions{}, ec); }
    static basic_unix_listener listen(const unix_address& a, int backlog, permissions p, std::error_code& ec) {
        ec.clear();
        basic_unix_listener l;
        // Nonblocking: see detail::accept_socket.
        l.fd_ = detail::open_socket(AF_UNIX, Socket::socket_type | SOCK_NONBLOCK, ec);
        if (ec) return {};
        if (Socket::socket_type == SOCK_SEQPACKET && !detail::set_int_option(l.fd_.get(), SOL_SOCKET, SO_PASSCRED, 1, ec))
            return {};
        l.file_ = detail::bind_unix(l.fd_.get(), a, Socket::socket_type, p.mode, ec);
        if (ec) return {};
        if (::listen(l.fd_.get(), backlog) != 0) {
            ec = detail::last_error();
            return {};
        }
        l.address_ = a;
        return l;
    }

    // A listening socket another process made and sent (ipc::recv_fd_for), as
    // a master hands its workers the socket they accept on. The descriptor is
    // owned from here on (closed if refused: std::errc::invalid_argument when it
    // is not a listening Unix socket of this kind). The socket file stays the
    // maker's to remove.
    [[nodiscard]] static basic_unix_listener adopt(int fd) {
        std::error_code ec;
        basic_unix_listener l = adopt(fd, ec);
        detail::throw_if(ec, "unix listener adopt");
        return l;
    }
    [[nodiscard]] static basic_unix_listener adopt(int fd, std::error_code& ec) noexcept {
        basic_unix_listener l;
        l.fd_ = detail::adopt_listening(fd, Socket::socket_type, {AF_UNIX}, "unix listener", ec);
        return l;
    }

    Socket accept_until(const deadline& dl, std::error_code& ec) noexcept {
        detail::unique_fd fd = detail::accept_socket(fd_.get(), dl, ec);
        if (fd && Socket::socket_type == SOCK_SEQPACKET && !detail::set_int_option(fd.get(), SOL_SOCKET, SO_PASSCRED, 1, ec))
            return {};
        return Socket(std::move(fd));
    }

    const unix_address& local_address() const noexcept { return address_; }
    int native_handle() const noexcept { return fd_.get(); }
    bool is_open() const noexcept { return static_cast<bool>(fd_); }
    // Stops listening and removes the socket file now.
    void close() noexcept {
        file_.remove();
        fd_.reset();
    }

private:
    detail::unique_fd fd_;
    detail::socket_file file_;
    unix_address address_;
};

using unix_stream_listener = basic_unix_listener<unix_stream>;
using unix_seqpacket_listener = basic_unix_listener<unix_seqpacket>;

}  // namespace ipc::transport

// Channels over Unix sockets (defined in ipc/fwd.hpp, included above):
// ipc::unix_stream_channel<T>, ipc::unix_seqpacket_channel<T>, ipc::unix_dgram_channel<T>;
// e.g. auto ch = ipc::unix_stream_channel<T>::connect(address, 1s).
