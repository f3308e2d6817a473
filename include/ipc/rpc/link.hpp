// ipc/rpc/link.hpp: what carries rpc frames: one duplex channel (a Unix or
// TCP socket), or two one-way channels (a pair of pipes, a pair of
// shared-memory byte rings). Both kinds have the same face:
//   status send(const frame_buffer&, const deadline&, std::error_code&)
//   status recv(frame_buffer&, const deadline&, std::error_code&)
// and native_handle() when the receiving side can be polled.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "../basic_channel.hpp"
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

// One duplex transport (a connected socket) carrying frames both ways.
template <class Transport>
class socket_link {
public:
    using channel_type = detail::frame_channel<Transport>;

    socket_link() = default;
    explicit socket_link(Transport t) : ch_(std::move(t), framing::length_prefixed(max_frame_size)) {}

    status send(const detail::frame_buffer& f, const deadline& dl, std::error_code& ec) { return detail::send_by(ch_, f, dl, ec); }
    status recv(detail::frame_buffer& f, const deadline& dl, std::error_code& ec) { return detail::recv_by(ch_, f, dl, ec); }
    int native_handle() const noexcept { return ch_.native_handle(); }
    // A whole frame already read from the socket (an event loop drains it before waiting again).
    bool has_buffered_frame() const noexcept { return ch_.has_buffered_message(); }
    bool is_open() const noexcept { return ch_.transport().is_open(); }
    channel_type& channel() noexcept { return ch_; }

private:
    channel_type ch_;
};

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
    static std::string request_name(std::string_view name) { return std::string(name) + ".req"; }
    static std::string reply_name(std::string_view name) { return std::string(name) + ".rep"; }

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
