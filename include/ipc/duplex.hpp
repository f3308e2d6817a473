// ipc/duplex.hpp: a channel that sends one type and receives another.
//
// ipc::duplex_channel<Tx, Rx, Out, In> sends Tx over the Out transport and
// receives Rx from In, each with its own framing and codec (as a channel<Tx>
// and a channel<Rx> would): a request type one way and a reply type the
// other, with no std::variant and no second connection.
//
//   auto ch = ipc::unix_stream_duplex<request, reply>::connect(address, 1s);  // one socket
//   ch.send(request{...});  reply r;  ch.recv_for(r, 1s);
//
// Over one connected socket (Unix stream or seqpacket, TCP), Out and In are
// the same transport type: the socket is duplicated (dup), one descriptor
// for each direction, both closed together. Over two one-way transports
// (a pair of pipes, a pair of shared-memory rings) each direction is its own.
#pragma once

#include <fcntl.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "basic_channel.hpp"
#include "transport/inet_socket.hpp"
#include "transport/pipe.hpp"
#include "transport/posix_shm.hpp"
#include "transport/unix_socket.hpp"

namespace ipc {

template <class Tx, class Rx, class Out, class In = Out, class Sync = sync::poll, class TxFraming = default_framing_t<Tx>,
          class RxFraming = default_framing_t<Rx>>
class duplex_channel {
public:
    using sender_type = channel<Tx, Out, Sync, TxFraming>;
    using receiver_type = channel<Rx, In, Sync, RxFraming>;

    duplex_channel() = default;
    duplex_channel(sender_type out, receiver_type in) noexcept : out_(std::move(out)), in_(std::move(in)) {}
    duplex_channel(Out out, In in, TxFraming tf = {}, RxFraming rf = {}) : out_(std::move(out), std::move(tf)), in_(std::move(in), std::move(rf)) {}

    // One connected socket for both directions (its descriptor is duplicated).
    explicit duplex_channel(Out socket, TxFraming tf = {}, RxFraming rf = {})
        requires std::same_as<Out, In>
    {
        std::error_code ec;
        In second = duplicate(socket, ec);
        detail::throw_if(ec, "duplex_channel: dup");
        *this = duplex_channel(std::move(socket), std::move(second), std::move(tf), std::move(rf));
    }
    duplex_channel(Out socket, std::error_code& ec)
        requires std::same_as<Out, In>
    {
        ec.clear();
        In second = duplicate(socket, ec);
        if (!ec) *this = duplex_channel(std::move(socket), std::move(second));
    }

    // Sockets: connect and use the one connection both ways.
    template <class... Args>
        requires std::same_as<Out, In> && requires(Args&&... a) { Out::connect(std::forward<Args>(a)...); }
    [[nodiscard]] static duplex_channel connect(Args&&... args) {
        return duplex_channel(Out::connect(std::forward<Args>(args)...));
    }

    // ---- the operations: those of channel<Tx> for sending, channel<Rx> for receiving.
    template <class... A>
    status send(const Tx& v, A&&... a) { return out_.send(v, std::forward<A>(a)...); }
    template <class... A>
    status try_send(const Tx& v, A&&... a) { return out_.try_send(v, std::forward<A>(a)...); }
    template <class... A>
    status send_for(const Tx& v, A&&... a) { return out_.send_for(v, std::forward<A>(a)...); }
    template <class... A>
    status send_until(const Tx& v, A&&... a) { return out_.send_until(v, std::forward<A>(a)...); }
    template <class... A>
    status recv(Rx& v, A&&... a) { return in_.recv(v, std::forward<A>(a)...); }
    template <class... A>
    status try_recv(Rx& v, A&&... a) { return in_.try_recv(v, std::forward<A>(a)...); }
    template <class... A>
    status recv_for(Rx& v, A&&... a) { return in_.recv_for(v, std::forward<A>(a)...); }
    template <class... A>
    status recv_until(Rx& v, A&&... a) { return in_.recv_until(v, std::forward<A>(a)...); }
    // The next Rx, or nothing at end of stream.
    std::optional<Rx> recv() { return in_.recv(); }

    // The receiving side's descriptor: what an event loop waits on for replies.
    int native_handle() const noexcept
        requires transport::pollable<In>
    {
        return in_.native_handle();
    }
    sender_type& sender() noexcept { return out_; }
    receiver_type& receiver() noexcept { return in_; }

private:
    static In duplicate(const Out& s, std::error_code& ec) noexcept {
        const int fd = ::fcntl(s.native_handle(), F_DUPFD_CLOEXEC, 0);
        if (fd < 0) ec = detail::last_error();
        return In(detail::unique_fd(fd));
    }

    sender_type out_;
    receiver_type in_;
};

// ---- over one connected socket
template <class Tx, class Rx, class Sync = sync::poll>
using unix_stream_duplex = duplex_channel<Tx, Rx, transport::unix_stream, transport::unix_stream, Sync>;
template <class Tx, class Rx, class Sync = sync::poll>
using unix_seqpacket_duplex = duplex_channel<Tx, Rx, transport::unix_seqpacket, transport::unix_seqpacket, Sync>;
template <class Tx, class Rx, class Sync = sync::poll>
using tcp_duplex = duplex_channel<Tx, Rx, transport::tcp, transport::tcp, Sync>;

// ---- over two pipes, for a parent and the child it forks
template <class Tx, class Rx, class Sync = sync::poll>
using pipe_duplex = duplex_channel<Tx, Rx, transport::pipe_writer, transport::pipe_reader, Sync>;

// The two ends of a pipe_duplex: `first` sends Tx and receives Rx, `second`
// the other way round. After fork() each process keeps one end and drops the
// other (or neither sees the other close).
template <class Tx, class Rx, class Sync = sync::poll>
struct pipe_duplex_pair {
    pipe_duplex<Tx, Rx, Sync> first;
    pipe_duplex<Rx, Tx, Sync> second;

    static pipe_duplex_pair create() {
        auto a = transport::make_pipe();  // first -> second
        auto b = transport::make_pipe();  // second -> first
        return {pipe_duplex<Tx, Rx, Sync>(std::move(a.writer), std::move(b.reader)),
                pipe_duplex<Rx, Tx, Sync>(std::move(b.writer), std::move(a.reader))};
    }
};

// ---- over two named shared-memory byte rings, `<name>.req` and `<name>.rep`
// The server creates both (0600, exclusive) and sends on .rep; a client
// opens them and sends on .req. One server and one client at a time.
template <class Tx, class Rx, class Sync = sync::futex>
using shm_duplex = duplex_channel<Tx, Rx, transport::posix_shm<ring::bytes>, transport::posix_shm<ring::bytes>, Sync,
                                  framing::length_prefixed, framing::length_prefixed>;

struct shm_duplex_names {
    static std::string request(std::string_view name) { return std::string(name) + ".req"; }
    static std::string reply(std::string_view name) { return std::string(name) + ".rep"; }

    // The server's end (receives requests Rq, sends replies Rp); rings of `capacity` bytes.
    template <class Rq, class Rp, class Sync = sync::futex>
    static shm_duplex<Rp, Rq, Sync> create(std::string_view name, std::size_t capacity) {
        using tr = transport::posix_shm<ring::bytes>;
        auto in = tr::create(request(name), capacity);
        try {
            return {tr::create(reply(name), capacity), std::move(in)};
        } catch (...) {
            tr::remove(request(name));
            throw;
        }
    }
    // A client's end (sends requests Rq, receives replies Rp).
    template <class Rq, class Rp, class Sync = sync::futex>
    static shm_duplex<Rq, Rp, Sync> open(std::string_view name) {
        using tr = transport::posix_shm<ring::bytes>;
        return {tr::open(request(name)), tr::open(reply(name))};
    }
    static bool remove(std::string_view name) {
        using tr = transport::posix_shm<ring::bytes>;
        const bool a = tr::remove(request(name));
        const bool b = tr::remove(reply(name));
        return a || b;
    }
};

}  // namespace ipc
