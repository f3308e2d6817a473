// ipc/rpc/link.hpp: what carries rpc frames: one duplex channel (a Unix or
// TCP socket), or two one-way channels (a pair of pipes, a pair of
// shared-memory byte rings). Both kinds have the same face:
//   status send(const frame_buffer&, const deadline&, std::error_code&)
//   status recv(frame_buffer&, const deadline&, std::error_code&)
// and native_handle() when the receiving side can be polled.
#pragma once

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../basic_channel.hpp"
#include "../duplex.hpp"
#include "../transport/inet_socket.hpp"
#include "../transport/pipe.hpp"
#include "../transport/posix_shm.hpp"
#include "../transport/unix_socket.hpp"
#include "protocol.hpp"

namespace ipc::rpc {

namespace detail {

// A channel operation with a deadline of any kind.
template <class Ch>
status send_by(Ch& ch, const frame_buffer& f, const deadline& dl, std::error_code& ec) {
    if (dl.is_never()) return ch.send(f, ec);
    if (dl.is_immediate()) return ch.try_send(f, ec);
    return ch.send_until(f, dl.time_point(), ec);
}
template <class Ch>
status recv_by(Ch& ch, frame_buffer& f, const deadline& dl, std::error_code& ec) {
    if (dl.is_never()) return ch.recv(f, ec);
    if (dl.is_immediate()) return ch.try_recv(f, ec);
    return ch.recv_until(f, dl.time_point(), ec);
}

template <class Transport, class Sync = sync::poll>
using frame_channel = channel<frame_buffer, Transport, Sync, framing::length_prefixed>;

}  // namespace detail

// One connected stream socket (Unix stream, TCP) carrying frames both ways,
// each behind a 4-byte little-endian length as framing::length_prefixed
// writes it. Not a channel: a channel reads a prefix and then its body (two
// system calls; it must not read past a frame another reader of a pipe may
// own), while this link is its socket's only reader and reads ahead into its
// own buffer, so a frame, or several, arrive with one read. A frame goes out
// with one gather write.
template <class Socket>
class socket_link {
public:
    static constexpr std::size_t prefix_size = 4;

    socket_link() = default;
    explicit socket_link(Socket s) : sock_(std::move(s)) {}

    status send(const detail::frame_buffer& f, const deadline& dl, std::error_code& ec) { return send(f.bytes, {}, dl, ec); }
    // A frame in two pieces (header and method, then the payload where the
    // caller has it), written with one gather write: the payload is not copied.
    status send(std::span<const std::byte> head, std::span<const std::byte> tail, const deadline& dl, std::error_code& ec) {
        ec.clear();
        if (tx_broken_) return failed_broken(ec);
        // Frames send_or_queue kept go first: bytes of two frames never interleave.
        while (has_queued()) {
            const status q = flush(ec);
            if (q == status::ok) break;
            if (q != status::would_block) return q;
            if (!ipc::detail::wait_fd(sock_.native_handle(), POLLOUT, dl, ec)) return expired(ec);
        }
        if (over_limit(head.size() + tail.size(), ec)) return status::failed;
        const auto prefix = prefix_of(head.size() + tail.size());
        const std::array<std::span<const std::byte>, 3> pieces{prefix, head, tail};
        const std::size_t total = prefix_size + head.size() + tail.size();
        std::size_t& done = last_written_;
        done = 0;
        while (done < total) {
            const std::size_t w = sock_.write_some(after(pieces, done), dl.is_never() ? io_mode::blocking : io_mode::nonblocking, ec);
            done += w;
            if (w > 0) continue;
            if (ec == ipc::errc::peer_closed) return status::closed;
            if (ec != ipc::errc::would_block) return status::failed;
            ec.clear();
            if (!ipc::detail::wait_fd(sock_.native_handle(), POLLOUT, dl, ec)) {
                if (ec != ipc::errc::timed_out && ec != ipc::errc::would_block) return status::failed;
                if (done == 0) return ec == ipc::errc::timed_out ? status::timed_out : status::would_block;
                // Half a frame is on the wire: nothing can follow it now.
                tx_broken_ = true;
                ec = ipc::detail::explain(ec, "rpc link: the deadline passed %zu bytes into a %zu-byte frame; the connection is unusable", done, total);
                return status::failed;
            }
        }
        return status::ok;
    }

    status recv(detail::frame_buffer& f, const deadline& dl, std::error_code& ec) {
        std::span<const std::byte> v;
        const status s = recv_view(v, dl, ec);
        if (s == status::ok) f.bytes.assign(v.begin(), v.end());  // keeps f's capacity: no allocation in steady state
        return s;
    }
    // Like recv, but `frame` views the frame where it was read, valid until
    // the next receive: a server answers from it without a copy.
    status recv_view(std::span<const std::byte>& frame, const deadline& dl, std::error_code& ec) {
        ec.clear();
        if (rx_broken_) return failed_broken(ec);
        bool waited = dl.is_never() || dl.is_immediate();  // timed: wait first (poll, then read: two calls, not three)
        for (;;) {
            const std::size_t have = end_ - begin_;
            if (have >= prefix_size) {
                std::uint32_t n = 0;
                for (std::size_t i = 0; i < prefix_size; ++i) n |= std::uint32_t(std::to_integer<std::uint8_t>(buf_[begin_ + i])) << (8 * i);
                if (n > max_frame_size) {
                    rx_broken_ = true;
                    ec = ipc::detail::explain(make_error_code(ipc::errc::message_too_large),
                                              "rpc link: a frame of %u bytes announced, over the limit of %zu", static_cast<unsigned>(n),
                                              max_frame_size);
                    return status::failed;
                }
                if (have >= prefix_size + n) {
                    frame = std::span<const std::byte>(buf_).subspan(begin_ + prefix_size, n);
                    begin_ += prefix_size + n;
                    if (begin_ == end_) begin_ = end_ = 0;
                    return status::ok;
                }
                reserve(prefix_size + n);
            } else {
                reserve(prefix_size);
            }
            if (!waited) {
                waited = true;
                if (!ipc::detail::wait_fd(sock_.native_handle(), POLLIN, dl, ec)) return expired(ec);
            }
            const std::size_t got = sock_.read_some(std::span<std::byte>(buf_).subspan(end_), dl.is_never() ? io_mode::blocking : io_mode::nonblocking, ec);
            if (got > 0) {
                end_ += got;
                continue;
            }
            if (ec == ipc::errc::peer_closed) {
                if (end_ == begin_) return status::closed;
                rx_broken_ = true;
                ec = ipc::detail::explain(make_error_code(ipc::errc::truncated), "rpc link: the peer closed %zu bytes into a frame", end_ - begin_);
                return status::failed;
            }
            if (ec != ipc::errc::would_block) return status::failed;
            ec.clear();
            if (dl.is_immediate()) return status::would_block;
            if (!ipc::detail::wait_fd(sock_.native_handle(), POLLIN, dl, ec)) return expired(ec);
        }
    }

    // For a side that must not wait on its peer (the server on a slow
    // reader, a client in an event loop): sends what the socket takes now
    // and keeps the rest for flush() when the socket is writable. The server
    // reads nothing more from that client meanwhile, so it keeps at most one
    // frame; a client may queue several, behind each other.
    status send_or_queue(const detail::frame_buffer& f, std::error_code& ec) { return send_or_queue(f.bytes, {}, ec); }
    status send_or_queue(std::span<const std::byte> head, std::span<const std::byte> tail, std::error_code& ec) {
        ec.clear();
        std::size_t written = 0;
        if (queued_.size() == qoff_) {
            const status s = send(head, tail, deadline::immediate(), ec);
            if (s != status::would_block && !(s == status::failed && tx_broken_ && ec == ipc::errc::would_block)) return s;
            // Nothing, or part, went out: queue the rest (send() counted what it wrote).
            tx_broken_ = false;
            ec.clear();
            written = last_written_;
        } else if (over_limit(head.size() + tail.size(), ec)) {
            return status::failed;
        }
        const auto prefix = prefix_of(head.size() + tail.size());
        for (const auto part : after(std::array<std::span<const std::byte>, 3>{prefix, head, tail}, written))
            queued_.insert(queued_.end(), part.begin(), part.end());
        return status::ok;
    }
    // Writes queued bytes without waiting: ok (all out), would_block (some left), closed or failed.
    status flush(std::error_code& ec) {
        ec.clear();
        while (qoff_ < queued_.size()) {
            const std::array<std::span<const std::byte>, 1> part{std::span<const std::byte>(queued_).subspan(qoff_)};
            const std::size_t w = sock_.write_some(part, io_mode::nonblocking, ec);
            qoff_ += w;
            if (w > 0) continue;
            if (ec == ipc::errc::would_block) { ec.clear(); return status::would_block; }
            return ec == ipc::errc::peer_closed ? status::closed : status::failed;
        }
        queued_.clear();
        qoff_ = 0;
        return status::ok;
    }
    bool has_queued() const noexcept { return qoff_ < queued_.size(); }

    int native_handle() const noexcept { return sock_.native_handle(); }
    // A whole frame (or a prefix over the limit) is already read: answer it before waiting on the socket again.
    bool has_buffered_frame() const noexcept {
        const std::size_t have = end_ - begin_;
        if (have < prefix_size) return false;
        std::uint32_t n = 0;
        for (std::size_t i = 0; i < prefix_size; ++i) n |= std::uint32_t(std::to_integer<std::uint8_t>(buf_[begin_ + i])) << (8 * i);
        return n > max_frame_size || have >= prefix_size + n;
    }
    bool is_open() const noexcept { return sock_.is_open(); }
    Socket& socket() noexcept { return sock_; }

private:
    static constexpr std::size_t read_ahead = 64 * 1024;

    // Room after end_ for at least `frame` buffered bytes (a frame's size, at
    // most max_frame_size + prefix), and read_ahead for small ones.
    void reserve(std::size_t frame) {
        if (begin_ > 0 && (buf_.size() - begin_ < frame || begin_ >= buf_.size() / 2)) {
            std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        const std::size_t want = std::max(frame, read_ahead);
        if (buf_.size() < want) buf_.resize(want);
    }
    status expired(std::error_code& ec) const noexcept {
        if (ec == ipc::errc::timed_out) { ec.clear(); return status::timed_out; }
        if (ec == ipc::errc::would_block) { ec.clear(); return status::would_block; }
        return status::failed;
    }
    static bool over_limit(std::size_t frame, std::error_code& ec) {
        if (frame <= max_frame_size) return false;
        ec = ipc::detail::explain(make_error_code(ipc::errc::message_too_large), "rpc frame of %zu bytes is over the limit of %zu", frame,
                                  max_frame_size);
        return true;
    }
    static std::array<std::byte, prefix_size> prefix_of(std::size_t frame) noexcept {
        std::array<std::byte, prefix_size> prefix;
        for (std::size_t i = 0; i < prefix_size; ++i) prefix[i] = static_cast<std::byte>(frame >> (8 * i));
        return prefix;
    }
    // What is left of `pieces` once the first `done` bytes went out.
    static std::array<std::span<const std::byte>, 3> after(const std::array<std::span<const std::byte>, 3>& pieces, std::size_t done) noexcept {
        std::array<std::span<const std::byte>, 3> rest{};
        std::size_t k = 0;
        for (const auto piece : pieces) {
            const std::size_t skip = std::min(done, piece.size());
            done -= skip;
            if (skip < piece.size()) rest[k++] = piece.subspan(skip);
        }
        return rest;
    }
    status failed_broken(std::error_code& ec) const noexcept {
        ec = ipc::detail::explain(make_error_code(ipc::errc::bad_message), "rpc link: this direction lost its framing after an earlier failure");
        return status::failed;
    }

    Socket sock_;
    std::vector<std::byte> buf_;
    std::size_t begin_ = 0, end_ = 0;
    std::size_t last_written_ = 0;    // bytes of the last frame send() wrote
    std::vector<std::byte> queued_;   // send_or_queue's bytes the peer has not taken yet
    std::size_t qoff_ = 0;
    bool tx_broken_ = false;  // half a frame went out: nothing can follow it
    bool rx_broken_ = false;  // the incoming stream lost its framing
};

// One connected socket that keeps message boundaries (Unix seqpacket): a
// frame is one message, read and written with one call each.
template <class Socket>
class message_link {
public:
    using channel_type = detail::frame_channel<Socket>;

    message_link() = default;
    explicit message_link(Socket s) : ch_(std::move(s), framing::length_prefixed(max_frame_size)) {}

    status send(const detail::frame_buffer& f, const deadline& dl, std::error_code& ec) { return detail::send_by(ch_, f, dl, ec); }
    status recv(detail::frame_buffer& f, const deadline& dl, std::error_code& ec) { return detail::recv_by(ch_, f, dl, ec); }
    int native_handle() const noexcept { return ch_.native_handle(); }
    bool has_buffered_frame() const noexcept { return false; }  // the kernel keeps the messages
    bool is_open() const noexcept { return ch_.transport().is_open(); }

private:
    channel_type ch_;
};

// The link a server gives a connection accepted as Socket.
template <class Socket>
using link_for = std::conditional_t<transport::stream_reader<Socket>, socket_link<Socket>, message_link<Socket>>;

// Two one-way channels: frames go out on one and come in on the other.
template <class Out, class In>
class split_link {
public:
    split_link() = default;
    split_link(Out out, In in) : out_(std::move(out)), in_(std::move(in)) {}

    status send(const detail::frame_buffer& f, const deadline& dl, std::error_code& ec) { return detail::send_by(out_, f, dl, ec); }
    status recv(detail::frame_buffer& f, const deadline& dl, std::error_code& ec) { return detail::recv_by(in_, f, dl, ec); }
    int native_handle() const noexcept
        requires transport::pollable<typename In::transport_type>
    {
        return in_.native_handle();
    }
    bool has_buffered_frame() const noexcept
        requires transport::stream_reader<typename In::transport_type>
    {
        return in_.has_buffered_message();
    }
    Out& sender() noexcept { return out_; }
    In& receiver() noexcept { return in_; }

private:
    Out out_;
    In in_;
};

using unix_link = socket_link<transport::unix_stream>;
using unix_seqpacket_link = message_link<transport::unix_seqpacket>;
using tcp_link = socket_link<transport::tcp>;
using pipe_link = split_link<detail::frame_channel<transport::pipe_writer>, detail::frame_channel<transport::pipe_reader>>;
using shm_link = split_link<detail::frame_channel<transport::posix_shm<ring::bytes>, sync::futex>,
                            detail::frame_channel<transport::posix_shm<ring::bytes>, sync::futex>>;

// Two pipe links joined crosswise, for a parent and the child it forks: the
// parent keeps `client` and drops `server`, the child the other way round
// (each must drop the other's ends, or neither sees the other close).
struct pipe_link_pair {
    pipe_link client;
    pipe_link server;

    static pipe_link_pair create() {
        auto up = transport::make_pipe();    // client -> server
        auto down = transport::make_pipe();  // server -> client
        using out = detail::frame_channel<transport::pipe_writer>;
        using in = detail::frame_channel<transport::pipe_reader>;
        const framing::length_prefixed f(max_frame_size);
        return {pipe_link(out(std::move(up.writer), f), in(std::move(down.reader), f)),
                pipe_link(out(std::move(down.writer), f), in(std::move(up.reader), f))};
    }
};

// The two rings of a shared-memory link, named `<name>.req` (client to
// server) and `<name>.rep`: one server and one client at a time.
struct shm_endpoint {
    // The names ipc::shm_duplex_names uses: a duplex_channel can stand in for either side.
    static std::string request_name(std::string_view name) { return shm_duplex_names::request(name); }
    static std::string reply_name(std::string_view name) { return shm_duplex_names::reply(name); }

    // The server's end: creates both rings (0600, exclusive) of `capacity` bytes each.
    static shm_link create(std::string_view name, std::size_t capacity = 64 * 1024) {
        using tr = transport::posix_shm<ring::bytes>;
        (void)tr::create(request_name(name), capacity);
        try {
            (void)tr::create(reply_name(name), capacity);
        } catch (...) {
            tr::remove(request_name(name));
            throw;
        }
        return open_as(name, false);
    }
    // The client's end, opening rings a server created.
    static shm_link open(std::string_view name) { return open_as(name, true); }
    // Removes both rings' names; returns whether any was there.
    static bool remove(std::string_view name) {
        using tr = transport::posix_shm<ring::bytes>;
        const bool a = tr::remove(request_name(name));
        const bool b = tr::remove(reply_name(name));
        return a || b;
    }

private:
    static shm_link open_as(std::string_view name, bool client) {
        using ch = detail::frame_channel<transport::posix_shm<ring::bytes>, sync::futex>;
        const framing::length_prefixed f(max_frame_size);
        auto req = ch(transport::posix_shm<ring::bytes>::open(request_name(name)), f);
        auto rep = ch(transport::posix_shm<ring::bytes>::open(reply_name(name)), f);
        // Joined now, not at the first frame: a peer that dies before ever
        // sending is then seen as peer_dead, and a second client is refused (errc::in_use).
        std::error_code ec;
        if (!(client ? req : rep).transport().attach(direction::send, ec) || !(client ? rep : req).transport().attach(direction::recv, ec))
            ipc::detail::throw_error(ec, ("rpc shm link '" + std::string(name) + "': a " + (client ? "client" : "server") +
                                          " is already attached")
                                             .c_str());
        return client ? shm_link(std::move(req), std::move(rep)) : shm_link(std::move(rep), std::move(req));
    }
};

}  // namespace ipc::rpc
