// ipc/rpc/client.hpp: the calling side of ipc's remote calls.
//
//   auto c = ipc::rpc::connect_unix("/run/coord.sock");        // or connect_tcp("::1", port), open_shm(name)
//   auto r = c.call<ExampleReply>("Coordinator.Example", ExampleArgs{99});
//
// Every call carries an id; replies may come back in any order and each goes
// to its caller. A call that timed out forgets its id, so a late reply is
// dropped, never handed to another call. There is no hidden thread: whoever
// waits (call, pending::wait_for, process_ready from an event loop) reads the
// connection and files every reply it finds. A client is used by one thread
// at a time.
#pragma once

#include <chrono>
#include <concepts>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "link.hpp"
#include "protocol.hpp"

namespace ipc::rpc {

template <class Link>
class basic_client;

// A call in flight (call_async): wait on it with a timeout while other calls
// proceed; get() takes the reply. Destroying it unanswered abandons the call
// (its reply, if it ever comes, is dropped). Must not outlive its client.
template <class R, class Link>
class [[nodiscard]] pending {
public:
    pending() noexcept = default;
    pending(pending&& o) noexcept : c_(std::exchange(o.c_, nullptr)), id_(o.id_) {}
    pending& operator=(pending&& o) noexcept {
        if (this != &o) {
            reset();
            c_ = std::exchange(o.c_, nullptr);
            id_ = o.id_;
        }
        return *this;
    }
    ~pending() { reset(); }

    // Has the reply (or the end of the connection) arrived? Never reads.
    bool ready() const noexcept { return c_ && c_->settled(id_); }
    // Waits until ready: ok, or timed_out (the call stays in flight), closed, peer_dead.
    template <class Rep, class Period>
    status wait_for(std::chrono::duration<Rep, Period> d) {
        return wait_until_(deadline::after(d));
    }
    template <class Clock, class Dur>
    status wait_until(std::chrono::time_point<Clock, Dur> tp) {
        return wait_until_(deadline::until(tp));
    }
    // Waits and takes the reply: ok, closed, peer_dead; a failed call throws
    // (or, with ec, is status::failed). The handle is empty afterwards.
    status get(R& out) {
        std::error_code ec;
        const status s = get(out, ec);
        if (s == status::failed) ipc::detail::throw_error(ec, "rpc call");
        return s;
    }
    status get(R& out, std::error_code& ec) {
        ec.clear();
        if (!c_) {
            ec = make_error_code(ipc::errc::not_connected);
            return status::failed;
        }
        const status s = c_->finish(id_, out, deadline::never(), ec);
        c_ = nullptr;
        return s;
    }
    R get() {
        R out{};
        const status s = get(out);
        if (s != status::ok) basic_client<Link>::throw_status(s, "rpc call");
        return out;
    }
    explicit operator bool() const noexcept { return c_ != nullptr; }

private:
    friend class basic_client<Link>;
    pending(basic_client<Link>* c, std::uint64_t id) noexcept : c_(c), id_(id) {}
    status wait_until_(const deadline& dl) {
        if (!c_) return status::closed;
        std::error_code ec;
        const status s = c_->wait_settled(id_, dl, ec);
        if (s == status::failed) ipc::detail::throw_error(ec, "rpc call");
        return s;
    }
    void reset() noexcept {
        if (c_) c_->abandon(id_);
        c_ = nullptr;
    }

    basic_client<Link>* c_ = nullptr;
    std::uint64_t id_ = 0;
};

template <class Link>
class basic_client {
public:
    using link_type = Link;
    // Can calls be queued for an event loop (call_queued)? Stream socket links can.
    static constexpr bool queueing = requires(Link& l, const detail::frame_buffer& f, std::error_code& ec) { l.send_or_queue(f, ec); };
    template <class R>
    using pending_call = pending<R, Link>;

    basic_client() = default;
    // Takes a connected link and greets the server; a server of another
    // protocol version refuses with words, one that says nothing within
    // `timeout` is errc::timed_out.
    explicit basic_client(Link link, std::chrono::milliseconds timeout = std::chrono::seconds(5)) : link_(std::move(link)) {
        std::error_code ec;
        if (!greet(deadline::after(timeout), ec)) ipc::detail::throw_error(ec, "rpc handshake");
    }
    basic_client(Link link, std::chrono::milliseconds timeout, std::error_code& ec) : link_(std::move(link)) {
        ec.clear();
        (void)greet(deadline::after(timeout), ec);
    }
    // Moving a client with calls in flight would leave their handles behind: don't.
    basic_client(basic_client&&) = default;
    basic_client& operator=(basic_client&&) = default;

    // ---- calls -------------------------------------------------------------
    //
    // R call<R>(method, args): the reply, or an ipc::error (the handler's
    // code and message, rpc::errc::unknown_method / type_mismatch, or
    // ipc::errc::peer_closed / peer_dead when the connection ended).
    // status call(method, args, reply): ok, closed, peer_dead; call_for and
    // call_until also timed_out (the call is abandoned). Their ec twins
    // return status::failed with the code; last_error_message() has the words.

    template <class R, class A>
    R call(std::string_view method, const A& args) {
        R out{};
        std::error_code ec;
        const status s = core(method, args, out, deadline::never(), ec);
        if (s != status::ok) fail(s, ec, method);
        return out;
    }
    template <class A, class R>
    status call(std::string_view method, const A& args, R& out) {
        return timed(method, args, out, deadline::never());
    }
    template <class A, class R>
    status call(std::string_view method, const A& args, R& out, std::error_code& ec) {
        return timed(method, args, out, deadline::never(), ec);
    }
    // call_for and call_until take one optional std::error_code& last (the
    // twin that does not throw), as call does.
    template <class A, class R, class Rep, class Period, class... Ec>
        requires(sizeof...(Ec) <= 1 && (std::same_as<Ec, std::error_code> && ...))
    status call_for(std::string_view method, const A& args, R& out, std::chrono::duration<Rep, Period> d, Ec&... ec) {
        return timed(method, args, out, deadline::after(d), ec...);
    }
    template <class A, class R, class Clock, class Dur, class... Ec>
        requires(sizeof...(Ec) <= 1 && (std::same_as<Ec, std::error_code> && ...))
    status call_until(std::string_view method, const A& args, R& out, std::chrono::time_point<Clock, Dur> tp, Ec&... ec) {
        return timed(method, args, out, deadline::until(tp), ec...);
    }

    // Sends the call and returns at once; the reply is waited for through the handle.
    template <class R, class A>
    pending<R, Link> call_async(std::string_view method, const A& args) {
        std::error_code ec;
        auto p = call_async<R>(method, args, ec);
        if (ec) ipc::detail::throw_error(ec, describe_call(method).c_str());
        if (!p) throw_status(ended_, describe_call(method).c_str());
        return p;
    }
    // An empty handle if the call could not be sent (ec set, or the connection ended).
    template <class R, class A>
    pending<R, Link> call_async(std::string_view method, const A& args, std::error_code& ec) {
        ec.clear();
        std::uint64_t id = 0;
        if (start<R>(method, args, id, deadline::never(), ec) != status::ok) return {};
        return pending<R, Link>(this, id);
    }

    // ---- event loops ---------------------------------------------------------
    //
    // Poll native_handle() for readable (sockets and pipes), then call
    // process_ready(): it files every reply that arrived without waiting and
    // returns how many frames it read; handles then say ready().
    int native_handle() const noexcept
        requires requires(const Link& l) { l.native_handle(); }
    {
        return link_.native_handle();
    }
    std::size_t process_ready() {
        std::error_code ec;
        const std::size_t n = process_ready(ec);
        ipc::detail::throw_if(ec, "rpc process_ready");
        return n;
    }
    std::size_t process_ready(std::error_code& ec) {
        ec.clear();
        std::size_t n = 0;
        while (ended_ == status::ok && pump(deadline::immediate(), ec) == status::ok) ++n;
        if (ec == ipc::errc::would_block) ec.clear();
        return n;
    }

    // For an event loop that must never wait to send (ipc/rpc/asio.hpp), on a
    // stream socket (Unix, TCP): sends the call with what the socket takes
    // now and keeps the rest, to go out by flush() when native_handle() is
    // writable. An empty handle if the call could not be queued (ec set, or
    // the connection ended).
    template <class R, class A>
    pending<R, Link> call_queued(std::string_view method, const A& args, std::error_code& ec)
        requires queueing
    {
        ec.clear();
        std::uint64_t id = 0;
        if (start<R>(method, args, id, deadline::immediate(), ec) != status::ok) return {};
        return pending<R, Link>(this, id);
    }
    // Writes what call_queued kept, without waiting: ok (all out),
    // would_block (some left), or the end of the connection (every pending call ends with it).
    status flush(std::error_code& ec)
        requires queueing
    {
        if (ended_ != status::ok) return ended(ec);
        const status s = link_.flush(ec);
        if (s != status::ok && s != status::would_block) end(s, ec);
        return s;
    }
    bool has_queued() const noexcept
        requires queueing
    {
        return link_.has_queued();
    }

    // ok while the connection is up; closed, peer_dead or failed once it ended.
    status state() const noexcept { return ended_; }
    std::size_t in_flight() const noexcept {
        std::size_t n = 0;
        for (const slot& s : slots_) n += s.id != 0;
        return n;
    }
    // The words of the last failed call's error (the handler's message).
    const std::string& last_error_message() const noexcept { return message_; }
    Link& link() noexcept { return link_; }

    [[noreturn]] static void throw_status(status s, const char* what) {
        const auto e = s == status::peer_dead ? ipc::errc::peer_dead : s == status::timed_out ? ipc::errc::timed_out : ipc::errc::peer_closed;
        throw ipc::error(make_error_code(e), std::string(what) + ": " + (s == status::peer_dead   ? "the server process died"
                                                                         : s == status::timed_out ? "no reply in time"
                                                                                                  : "the server closed the connection"));
    }

private:
    template <class R, class L>
    friend class pending;

    enum class slot_state : std::uint8_t { waiting, answered };
    struct slot {
        std::uint64_t id = 0;  // 0: free for reuse (its buffer is kept)
        slot_state state = slot_state::waiting;
        detail::frame_buffer frame;
    };

    bool greet(const deadline& dl, std::error_code& ec) {
        header h;
        h.kind = frame_kind::hello;
        if (!detail::encode_bytes(tx_, h, {}, {}, ec)) return false;
        status s = link_.send(tx_, dl, ec);
        if (s == status::ok) s = link_.recv(rx_, dl, ec);
        if (s != status::ok) {
            if (s != status::failed)
                ec = ipc::detail::explain(make_error_code(s == status::timed_out ? ipc::errc::timed_out : ipc::errc::peer_closed),
                                          "rpc handshake: the server %s", s == status::timed_out ? "did not answer in time" : "closed the connection");
            ended_ = status::failed;
            return false;
        }
        frame_view v;
        if (!decode(rx_.bytes, v, ec)) {
            ended_ = status::failed;
            return false;
        }
        if (v.head.kind == frame_kind::error) {
            ec = error_of(v);
            ended_ = status::failed;
            return false;
        }
        if (v.head.kind != frame_kind::welcome) {
            ec = ipc::detail::explain(make_error_code(errc::bad_frame), "rpc handshake: the server answered with frame kind %u, not welcome",
                                      static_cast<unsigned>(v.head.kind));
            ended_ = status::failed;
            return false;
        }
        return true;
    }

    std::error_code error_of(const frame_view& v) {
        const std::error_code code = detail::decoded_code(v.head);
        message_.assign(reinterpret_cast<const char*>(v.payload.data()), v.payload.size());
        return ipc::detail::explain(code, "%s", message_.c_str());
    }

    template <class A, class R>
    status timed(std::string_view method, const A& args, R& out, const deadline& dl) {
        return checked(core(method, args, out, dl, last_ec_), method);
    }
    template <class A, class R>
    status timed(std::string_view method, const A& args, R& out, const deadline& dl, std::error_code& ec) {
        return core(method, args, out, dl, ec);
    }

    template <class R, class A>
    status core(std::string_view method, const A& args, R& out, const deadline& dl, std::error_code& ec) {
        ec.clear();
        std::uint64_t id = 0;
        const status s = start<R>(method, args, id, dl, ec);
        if (s != status::ok) return s;
        return finish(id, out, dl, ec);
    }

    template <class R, class A>
    status start(std::string_view method, const A& args, std::uint64_t& id, const deadline& dl, std::error_code& ec) {
        static_assert(encodable<A>, "ipc::rpc: the request type needs an ipc::codec (trivially copyable types, strings and byte vectors have one)");
        static_assert(decodable<R> && std::is_default_constructible_v<R>, "ipc::rpc: the reply type needs an ipc::codec and a default constructor");
        if (ended_ != status::ok) return ended(ec);
        header h;
        h.kind = frame_kind::request;
        h.id = next_id_;
        h.request_tag = ring::type_tag<A>;
        h.reply_tag = ring::type_tag<R>;
        status s = status::failed;
        if constexpr (queueing && contiguous_codec<A>) {
            // The arguments' bytes go out from where they are, behind the header (one gather write).
            const std::span<const std::byte> payload = codec<A>::bytes(args);
            if (!detail::prepare_head(tx_, h, method, payload.size(), ec)) return status::failed;
            s = dl.is_immediate() ? link_.send_or_queue(tx_.bytes, payload, ec) : link_.send(tx_.bytes, payload, dl, ec);
        } else {
            if (!detail::encode(tx_, h, method, args, ec)) return status::failed;
            if constexpr (queueing) s = dl.is_immediate() ? link_.send_or_queue(tx_, ec) : link_.send(tx_, dl, ec);
            else s = link_.send(tx_, dl, ec);
        }
        if (s != status::ok) {
            // A frame cut short (or a dead peer) leaves the stream unusable.
            if (s != status::timed_out) end(s, ec);
            return s;
        }
        id = next_id_++;
        slot* free = nullptr;
        for (slot& x : slots_)
            if (x.id == 0) { free = &x; break; }
        if (!free) free = &slots_.emplace_back();
        free->id = id;
        free->state = slot_state::waiting;
        return status::ok;
    }

    slot* find(std::uint64_t id) noexcept {
        for (slot& s : slots_)
            if (s.id == id) return &s;
        return nullptr;
    }
    bool settled(std::uint64_t id) noexcept {
        const slot* s = find(id);
        return !s || s->state == slot_state::answered || ended_ != status::ok;
    }
    void abandon(std::uint64_t id) noexcept {
        if (slot* s = find(id)) s->id = 0;
    }

    // Reads frames until call `id` is answered, the deadline passes or the connection ends.
    status wait_settled(std::uint64_t id, const deadline& dl, std::error_code& ec) {
        ec.clear();
        for (;;) {
            const slot* s = find(id);
            if (!s) return status::closed;
            if (s->state == slot_state::answered) return status::ok;
            if (ended_ != status::ok) return ended(ec);
            const status p = pump(dl, ec);
            if (p != status::ok) return p;
        }
    }

    template <class R>
    status finish(std::uint64_t id, R& out, const deadline& dl, std::error_code& ec) {
        const status w = wait_settled(id, dl, ec);
        slot* s = find(id);
        if (w != status::ok) {
            if (s) s->id = 0;  // abandoned: a late reply finds no slot and is dropped
            return w;
        }
        s->id = 0;
        frame_view v;
        if (!decode(s->frame.bytes, v, ec)) return status::failed;  // checked when it arrived; cannot fail
        if (v.head.kind == frame_kind::error) {
            ec = error_of(v);
            return status::failed;
        }
        if (v.head.reply_tag != ring::type_tag<R>) {
            ec = ipc::detail::explain(make_error_code(errc::type_mismatch), "rpc reply to call %llu has type tag %016llx, this caller expects %.*s",
                                      static_cast<unsigned long long>(id), static_cast<unsigned long long>(v.head.reply_tag),
                                      static_cast<int>(ring::type_name<R>::value.size()), ring::type_name<R>::value.data());
            return status::failed;
        }
        if (!codec<R>::decode(v.payload, out)) {
            ec = ipc::detail::explain(make_error_code(errc::bad_frame), "rpc reply of %zu bytes is not a valid %.*s", v.payload.size(),
                                      static_cast<int>(ring::type_name<R>::value.size()), ring::type_name<R>::value.data());
            return status::failed;
        }
        return status::ok;
    }

    // Reads one frame and files it with its call; a reply nobody waits for is dropped.
    status pump(const deadline& dl, std::error_code& ec) {
        const status s = link_.recv(rx_, dl, ec);
        if (s != status::ok) {
            if (s != status::timed_out && s != status::would_block) end(s, ec);
            return s;
        }
        frame_view v;
        if (!decode(rx_.bytes, v, ec)) {
            end(status::failed, ec);
            return status::failed;
        }
        if (v.head.kind == frame_kind::error && v.head.id == 0) {  // about the connection, not a call
            ec = error_of(v);
            end(status::failed, ec);
            return status::failed;
        }
        if (v.head.kind != frame_kind::reply && v.head.kind != frame_kind::error) {
            ec = ipc::detail::explain(make_error_code(errc::bad_frame), "rpc client received frame kind %u, expected a reply",
                                      static_cast<unsigned>(v.head.kind));
            end(status::failed, ec);
            return status::failed;
        }
        if (slot* x = find(v.head.id); x && x->state == slot_state::waiting) {
            std::swap(x->frame, rx_);  // buffers circulate: no copy, no allocation
            x->state = slot_state::answered;
        }
        return status::ok;
    }

    // The connection ended: every call still waiting ends with the same status.
    void end(status s, const std::error_code& ec) noexcept {
        ended_ = s;
        ended_ec_ = ec;
    }
    status ended(std::error_code& ec) const noexcept {
        if (ended_ == status::failed) ec = ended_ec_;
        return ended_;
    }

    status checked(status s, std::string_view method) {
        if (s == status::failed) fail(s, last_ec_, method);
        return s;
    }
    [[noreturn]] void fail(status s, std::error_code ec, std::string_view method) {
        if (s == status::failed) ipc::detail::throw_error(ec, describe_call(method).c_str());
        throw_status(s, describe_call(method).c_str());
    }
    static std::string describe_call(std::string_view method) {
        std::string s("rpc call '");
        s += method.substr(0, max_method_length);
        s += "'";
        return s;
    }

    Link link_;
    detail::frame_buffer tx_, rx_;
    std::vector<slot> slots_;
    std::uint64_t next_id_ = 1;
    status ended_ = status::ok;
    std::error_code ended_ec_;
    std::error_code last_ec_;
    std::string message_;
};

using unix_client = basic_client<unix_link>;
using unix_seqpacket_client = basic_client<unix_seqpacket_link>;
using tcp_client = basic_client<tcp_link>;
using shm_client = basic_client<shm_link>;
using pipe_client = basic_client<pipe_link>;

// ---- connecting ------------------------------------------------------------
// Each waits up to `timeout` for the connection and the server's welcome.

inline unix_client connect_unix(const transport::unix_address& a, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return unix_client(unix_link(transport::unix_stream::connect(a, timeout)), timeout);
}
inline unix_client connect_unix(std::string_view path, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return connect_unix(transport::unix_address::path(path), timeout);
}
inline unix_client connect_unix(const transport::unix_address& a, std::chrono::milliseconds timeout, std::error_code& ec) {
    auto s = transport::unix_stream::connect(a, timeout, ec);
    if (ec) return {};
    return unix_client(unix_link(std::move(s)), timeout, ec);
}

// A Unix seqpacket socket: each frame one message.
inline unix_seqpacket_client connect_unix_seqpacket(std::string_view path, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return unix_seqpacket_client(unix_seqpacket_link(transport::unix_seqpacket::connect(transport::unix_address::path(path), timeout)),
                                 timeout);
}

inline tcp_client connect_tcp(const transport::inet_address& a, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return tcp_client(tcp_link(transport::tcp::connect(a, timeout)), timeout);
}
// host is numeric: "127.0.0.1" or "::1" (a ':' makes it IPv6).
inline tcp_client connect_tcp(std::string_view host, std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const bool v6 = host.find(':') != std::string_view::npos;
    return connect_tcp(v6 ? transport::inet_address::v6(host, port) : transport::inet_address::v4(host, port), timeout);
}
inline tcp_client connect_tcp(const transport::inet_address& a, std::chrono::milliseconds timeout, std::error_code& ec) {
    auto s = transport::tcp::connect(a, timeout, ec);
    if (ec) return {};
    return tcp_client(tcp_link(std::move(s)), timeout, ec);
}

// The client end of a shared-memory link a server made with shm_endpoint::create(name).
inline shm_client open_shm(std::string_view name, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return shm_client(shm_endpoint::open(name), timeout);
}

}  // namespace ipc::rpc
