// ipc/basic_channel.hpp: ipc::channel<T, Transport, Sync, Framing>, the typed channel.
#pragma once

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "codec.hpp"
#include "concepts.hpp"
#include "detail/channel_factories.hpp"
#include "detail/chrono.hpp"
#include "detail/fd.hpp"
#include "detail/outcome.hpp"
#include "error.hpp"
#include "framing/fixed.hpp"
#include "fwd.hpp"
#include "framing/length_prefixed.hpp"
#include "status.hpp"
#include "sync/poll.hpp"

namespace ipc {

namespace transport {
// A transport whose peers can die without a word (shared memory): a waiting
// channel wakes every peer_check_interval() and asks check_peers(d), which
// returns errc::peer_dead when the wait can never end.
template <class T>
concept watches_peers = requires(T& t, direction d) {
    { t.peer_check_interval() } -> std::convertible_to<std::chrono::nanoseconds>;
    { t.check_peers(d) } -> std::same_as<std::error_code>;
};
}  // namespace transport

namespace detail {
// Transport::send_options / recv_info, or an empty struct where there is none.
template <class Tr>
struct send_options_of {
    struct type {};
};
template <transport::sends_with_options Tr>
struct send_options_of<Tr> {
    using type = typename Tr::send_options;
};
template <class Tr>
struct recv_info_of {
    struct type {};
};
template <transport::receives_with_info Tr>
struct recv_info_of<Tr> {
    using type = typename Tr::recv_info;
};

// Words naming a transport for an error message: its describe() if it has
// one, else the file its descriptor shows in /proc/self/fd.
template <class Tr>
std::string describe_transport(const Tr& t) {
    if constexpr (requires { { t.describe() } -> std::convertible_to<std::string>; }) {
        return t.describe();
    } else if constexpr (transport::pollable<Tr>) {
        char link[64], path[256];
        std::snprintf(link, sizeof link, "/proc/self/fd/%d", t.native_handle());
        const ssize_t n = ::readlink(link, path, sizeof path - 1);
        if (n <= 0) return {};
        path[n] = '\0';
        return path;
    } else {
        return {};
    }
}
}  // namespace detail

// A typed channel composed at compile time. It sends if the transport writes,
// receives if it reads, and does both over a duplex transport. No virtual
// calls; buffers are allocated once and reused, so the steady state does not
// allocate.
//
// Every operation (send, recv, loan, peek, send_n, recv_n, and send/recv
// with per-message options) comes four ways: send (blocks), try_send (never
// waits), send_for/send_until (waits up to a deadline). Each returns a
// status: ok, would_block, timed_out or closed (the peer closed: end of
// stream); loan and peek return a guard whose status() says the same. Real
// failures throw ipc::error; the overloads taking a std::error_code& never
// throw and return status::failed instead.
//
// Over shared memory a wait may also end with status::peer_dead: every peer
// process died without closing (SIGKILL, crash; pipes and sockets report that
// as closed). It is a status, not an error, because like closed it is an end
// of waiting a program must expect; it is distinct because it says more: a
// message a dead producer was writing is lost, one a dead consumer was
// reading may be delivered again (see transport::ring_region::check_peers).
template <class T, class Transport, class Sync = sync::poll, class Framing = default_framing_t<T>>
class channel : public detail::channel_factories<channel<T, Transport, Sync, Framing>, Transport> {
    static_assert(transport::any_transport<Transport>,
                  "ipc::channel: Transport must read or write (see ipc/concepts.hpp) and be nothrow-movable");
    static_assert(sync::policy_for<Sync, Transport>,
                  "ipc::channel: this Sync policy cannot wait on this Transport (see ipc/concepts.hpp)");
    static_assert(framing::policy_for<Framing, T> && Framing::template check<T>(),
                  "ipc::channel: this Framing cannot carry T");

    static constexpr bool is_stream_in = transport::stream_reader<Transport>;
    static constexpr bool is_stream_out = transport::stream_writer<Transport>;

public:
    using value_type = T;
    using transport_type = Transport;
    using sync_type = Sync;
    using framing_type = Framing;

    static constexpr bool can_send = transport::writable<Transport>;
    static constexpr bool can_recv = transport::readable<Transport>;
    static constexpr bool can_loan = transport::loaning<Transport, T>;
    static constexpr bool can_loan_bytes = transport::loaning_bytes<Transport>;
    static constexpr bool can_batch = transport::batching<Transport, T>;
    static constexpr bool with_options = transport::sends_with_options<Transport>;
    static constexpr bool with_info = transport::receives_with_info<Transport>;
    static constexpr bool blocks = Sync::can_block;

    // Transport::send_options / recv_info where the transport has them.
    using send_options = typename detail::send_options_of<Transport>::type;
    using recv_info = typename detail::recv_info_of<Transport>::type;

    class loan_guard;
    class peek_guard;
    class bytes_loan_guard;
    class bytes_peek_guard;

    channel() = default;
    explicit channel(Transport t, Framing f = {}, Sync s = {}) noexcept(std::is_nothrow_move_constructible_v<Framing> &&
                                                                         std::is_nothrow_move_constructible_v<Sync>)
        : transport_(std::move(t)), sync_(std::move(s)), framing_(std::move(f)) {
        // A shared-memory ring binds its region to this policy when this end attaches.
        if constexpr (requires { transport_.template use_sync<Sync>(); }) transport_.template use_sync<Sync>();
    }
    channel(channel&&) = default;
    channel& operator=(channel&&) = default;
    ~channel() { leave(); }

    // Ends this end now, as destroying the channel would: a pipe or socket
    // closes (the peer reads end of stream), a shared-memory end leaves and
    // wakes parked peers, then unmaps. Later calls fail with not_connected.
    void close() noexcept {
        leave();
        if constexpr (requires { transport_.close(); }) transport_.close();
        rx_begin_ = rx_end_ = 0;
    }

    // ---- the operations ----------------------------------------------------
    //
    // Each operation has one core taking a deadline (the *_core functions
    // below) and the same family of one-line calls over it: op (blocks),
    // try_op (never waits), op_for(duration), op_until(time_point), each as a
    // throwing call and an std::error_code& twin that never throws.

    // ---- sending ----

    status send(const T& v) requires can_send && blocks { return quick_send(v) ? ok("send") : send_slow(v, deadline::never(), "send"); }
    status send(const T& v, std::error_code& ec) requires can_send && blocks { return quick_send(v) ? ok(ec) : send_slow(v, deadline::never(), ec); }
    status try_send(const T& v) requires can_send { return quick_send(v) ? ok("try_send") : send_slow(v, deadline::immediate(), "try_send"); }
    status try_send(const T& v, std::error_code& ec) requires can_send { return quick_send(v) ? ok(ec) : send_slow(v, deadline::immediate(), ec); }
    template <class Rep, class Period>
    status send_for(const T& v, std::chrono::duration<Rep, Period> d) requires can_send && blocks {
        return quick_send(v) ? ok("send_for") : send_slow(v, deadline::lazy_after(d), "send_for");
    }
    template <class Rep, class Period>
    status send_for(const T& v, std::chrono::duration<Rep, Period> d, std::error_code& ec) requires can_send && blocks {
        return quick_send(v) ? ok(ec) : send_slow(v, deadline::lazy_after(d), ec);
    }
    template <class Clock, class Dur>
    status send_until(const T& v, std::chrono::time_point<Clock, Dur> tp) requires can_send && blocks {
        return quick_send(v) ? ok("send_until") : send_slow(v, deadline::until(tp), "send_until");
    }
    template <class Clock, class Dur>
    status send_until(const T& v, std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) requires can_send && blocks {
        return quick_send(v) ? ok(ec) : send_slow(v, deadline::until(tp), ec);
    }

    // With per-message options (Transport::send_options: a POSIX queue's
    // priority, a System V mtype, a datagram's destination).
    status send(const T& v, const send_options& o) requires with_options && blocks { return done(send_core(v, &o, deadline::never()), "send"); }
    status send(const T& v, const send_options& o, std::error_code& ec) requires with_options && blocks {
        return done(send_core(v, &o, deadline::never()), ec);
    }
    status try_send(const T& v, const send_options& o) requires with_options { return done(send_core(v, &o, deadline::immediate()), "try_send"); }
    status try_send(const T& v, const send_options& o, std::error_code& ec) requires with_options {
        return done(send_core(v, &o, deadline::immediate()), ec);
    }
    template <class Rep, class Period>
    status send_for(const T& v, const send_options& o, std::chrono::duration<Rep, Period> d) requires with_options && blocks {
        return done(send_core(v, &o, deadline::lazy_after(d)), "send_for");
    }
    template <class Rep, class Period>
    status send_for(const T& v, const send_options& o, std::chrono::duration<Rep, Period> d, std::error_code& ec)
        requires with_options && blocks {
        return done(send_core(v, &o, deadline::lazy_after(d)), ec);
    }
    template <class Clock, class Dur>
    status send_until(const T& v, const send_options& o, std::chrono::time_point<Clock, Dur> tp) requires with_options && blocks {
        return done(send_core(v, &o, deadline::until(tp)), "send_until");
    }
    template <class Clock, class Dur>
    status send_until(const T& v, const send_options& o, std::chrono::time_point<Clock, Dur> tp, std::error_code& ec)
        requires with_options && blocks {
        return done(send_core(v, &o, deadline::until(tp)), ec);
    }

    // ---- receiving ----

    // Blocks for the next message: ok, or closed at end of stream.
    status recv(T& out) requires can_recv && blocks {
        hold_back();
        return quick_recv(out) ? ok("recv") : recv_slow(out, deadline::never(), "recv");
    }
    status recv(T& out, std::error_code& ec) requires can_recv && blocks {
        hold_back();
        return quick_recv(out) ? ok(ec) : recv_slow(out, deadline::never(), ec);
    }
    // The next message, or nullopt at end of stream.
    std::optional<T> recv() requires can_recv && blocks && std::is_default_constructible_v<T> {
        std::optional<T> out(std::in_place);
        if (!recv(*out)) out.reset();
        return out;
    }
    status try_recv(T& out) requires can_recv { return quick_recv(out) ? ok("try_recv") : recv_slow(out, deadline::immediate(), "try_recv"); }
    status try_recv(T& out, std::error_code& ec) requires can_recv { return quick_recv(out) ? ok(ec) : recv_slow(out, deadline::immediate(), ec); }
    template <class Rep, class Period>
    status recv_for(T& out, std::chrono::duration<Rep, Period> d) requires can_recv && blocks {
        hold_back();
        return quick_recv(out) ? ok("recv_for") : recv_slow(out, deadline::lazy_after(d), "recv_for");
    }
    template <class Rep, class Period>
    status recv_for(T& out, std::chrono::duration<Rep, Period> d, std::error_code& ec) requires can_recv && blocks {
        hold_back();
        return quick_recv(out) ? ok(ec) : recv_slow(out, deadline::lazy_after(d), ec);
    }
    template <class Clock, class Dur>
    status recv_until(T& out, std::chrono::time_point<Clock, Dur> tp) requires can_recv && blocks {
        return quick_recv(out) ? ok("recv_until") : recv_slow(out, deadline::until(tp), "recv_until");
    }
    template <class Clock, class Dur>
    status recv_until(T& out, std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) requires can_recv && blocks {
        return quick_recv(out) ? ok(ec) : recv_slow(out, deadline::until(tp), ec);
    }

    // With what the transport tells about the message (Transport::recv_info:
    // its priority, mtype or sender; for System V also which type to take).
    status recv(T& out, recv_info& i) requires with_info && blocks { return done(recv_core(out, &i, deadline::never()), "recv"); }
    status recv(T& out, recv_info& i, std::error_code& ec) requires with_info && blocks {
        return done(recv_core(out, &i, deadline::never()), ec);
    }
    status try_recv(T& out, recv_info& i) requires with_info { return done(recv_core(out, &i, deadline::immediate()), "try_recv"); }
    status try_recv(T& out, recv_info& i, std::error_code& ec) requires with_info {
        return done(recv_core(out, &i, deadline::immediate()), ec);
    }
    template <class Rep, class Period>
    status recv_for(T& out, recv_info& i, std::chrono::duration<Rep, Period> d) requires with_info && blocks {
        return done(recv_core(out, &i, deadline::lazy_after(d)), "recv_for");
    }
    template <class Rep, class Period>
    status recv_for(T& out, recv_info& i, std::chrono::duration<Rep, Period> d, std::error_code& ec) requires with_info && blocks {
        return done(recv_core(out, &i, deadline::lazy_after(d)), ec);
    }
    template <class Clock, class Dur>
    status recv_until(T& out, recv_info& i, std::chrono::time_point<Clock, Dur> tp) requires with_info && blocks {
        return done(recv_core(out, &i, deadline::until(tp)), "recv_until");
    }
    template <class Clock, class Dur>
    status recv_until(T& out, recv_info& i, std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) requires with_info && blocks {
        return done(recv_core(out, &i, deadline::until(tp)), ec);
    }

    // ---- zero copy (memory transports) ----
    //
    //   auto s = ch.loan();  *s = point{1, 2};  s.commit();    // sent
    //   auto m = ch.peek();  use(*m);                           // released at scope end
    //
    // loan() returns a guard over a slot to construct the message in; commit()
    // sends it, and a guard dropped without commit() sends nothing (the slot
    // serves a later message). peek() returns a guard over the oldest message
    // in place, released (consumed) by release() or its destructor. An empty
    // guard's status() says why (would_block, timed_out, closed, peer_dead;
    // failed with the error_code twins). One guard at a time per channel: a
    // second loan or peek while one is held fails with errc::in_use. The
    // channel must outlive its guard and stay where it is while one is held.

    loan_guard loan() requires can_loan && blocks { return lend(deadline::never(), "loan"); }
    loan_guard loan(std::error_code& ec) requires can_loan && blocks { return lend(deadline::never(), ec); }
    loan_guard try_loan() requires can_loan { return lend(deadline::immediate(), "try_loan"); }
    loan_guard try_loan(std::error_code& ec) requires can_loan { return lend(deadline::immediate(), ec); }
    template <class Rep, class Period>
    loan_guard loan_for(std::chrono::duration<Rep, Period> d) requires can_loan && blocks { return lend(deadline::lazy_after(d), "loan_for"); }
    template <class Rep, class Period>
    loan_guard loan_for(std::chrono::duration<Rep, Period> d, std::error_code& ec) requires can_loan && blocks {
        return lend(deadline::lazy_after(d), ec);
    }
    template <class Clock, class Dur>
    loan_guard loan_until(std::chrono::time_point<Clock, Dur> tp) requires can_loan && blocks { return lend(deadline::until(tp), "loan_until"); }
    template <class Clock, class Dur>
    loan_guard loan_until(std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) requires can_loan && blocks {
        return lend(deadline::until(tp), ec);
    }

    peek_guard peek() requires can_loan && blocks { return look(deadline::never(), "peek"); }
    peek_guard peek(std::error_code& ec) requires can_loan && blocks { return look(deadline::never(), ec); }
    peek_guard try_peek() requires can_loan { return look(deadline::immediate(), "try_peek"); }
    peek_guard try_peek(std::error_code& ec) requires can_loan { return look(deadline::immediate(), ec); }
    template <class Rep, class Period>
    peek_guard peek_for(std::chrono::duration<Rep, Period> d) requires can_loan && blocks { return look(deadline::lazy_after(d), "peek_for"); }
    template <class Rep, class Period>
    peek_guard peek_for(std::chrono::duration<Rep, Period> d, std::error_code& ec) requires can_loan && blocks {
        return look(deadline::lazy_after(d), ec);
    }
    template <class Clock, class Dur>
    peek_guard peek_until(std::chrono::time_point<Clock, Dur> tp) requires can_loan && blocks { return look(deadline::until(tp), "peek_until"); }
    template <class Clock, class Dur>
    peek_guard peek_until(std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) requires can_loan && blocks {
        return look(deadline::until(tp), ec);
    }

    // ---- zero copy of variable-size records (ring::bytes, ring::broadcast_bytes) ----
    //
    //   auto l = tx.loan_bytes(n);  auto used = fill(l.bytes());  l.commit(used);  // one record of `used` <= n bytes
    //   auto r = rx.peek_bytes();   use(r.bytes());  bool intact = r.release();
    //
    // The same guards and rules as loan()/peek(), over raw record bytes:
    // loan_bytes(n) lends exactly n bytes in the ring (n over
    // transport().max_record() is refused: errc::message_too_large naming
    // both), commit() sends all n, commit(used) the first `used`, and a guard
    // dropped without commit sends nothing (though under overwrite, the old
    // records its room reached are gone already). peek_bytes() shows the oldest
    // record in place; release() (or the destructor) consumes it and returns
    // false if a broadcast publisher wrote over it while it was held (discard
    // what was read; it counts in transport().missed()). A record is what
    // T's codec reads: a peer may recv() a T from committed bytes, and
    // peek_bytes() shows what a send(T) wrote.

    bytes_loan_guard loan_bytes(std::size_t n) requires can_loan_bytes && blocks { return lend_bytes(n, deadline::never(), "loan_bytes"); }
    bytes_loan_guard loan_bytes(std::size_t n, std::error_code& ec) requires can_loan_bytes && blocks {
        return lend_bytes(n, deadline::never(), ec);
    }
    bytes_loan_guard try_loan_bytes(std::size_t n) requires can_loan_bytes { return lend_bytes(n, deadline::immediate(), "try_loan_bytes"); }
    bytes_loan_guard try_loan_bytes(std::size_t n, std::error_code& ec) requires can_loan_bytes {
        return lend_bytes(n, deadline::immediate(), ec);
    }
    template <class Rep, class Period>
    bytes_loan_guard loan_bytes_for(std::size_t n, std::chrono::duration<Rep, Period> d) requires can_loan_bytes && blocks {
        return lend_bytes(n, deadline::lazy_after(d), "loan_bytes_for");
    }
    template <class Rep, class Period>
    bytes_loan_guard loan_bytes_for(std::size_t n, std::chrono::duration<Rep, Period> d, std::error_code& ec) requires can_loan_bytes && blocks {
        return lend_bytes(n, deadline::lazy_after(d), ec);
    }
    template <class Clock, class Dur>
    bytes_loan_guard loan_bytes_until(std::size_t n, std::chrono::time_point<Clock, Dur> tp) requires can_loan_bytes && blocks {
        return lend_bytes(n, deadline::until(tp), "loan_bytes_until");
    }
    template <class Clock, class Dur>
    bytes_loan_guard loan_bytes_until(std::size_t n, std::chrono::time_point<Clock, Dur> tp, std::error_code& ec)
        requires can_loan_bytes && blocks {
        return lend_bytes(n, deadline::until(tp), ec);
    }

    bytes_peek_guard peek_bytes() requires can_loan_bytes && blocks { return look_bytes(deadline::never(), "peek_bytes"); }
    bytes_peek_guard peek_bytes(std::error_code& ec) requires can_loan_bytes && blocks { return look_bytes(deadline::never(), ec); }
    bytes_peek_guard try_peek_bytes() requires can_loan_bytes { return look_bytes(deadline::immediate(), "try_peek_bytes"); }
    bytes_peek_guard try_peek_bytes(std::error_code& ec) requires can_loan_bytes { return look_bytes(deadline::immediate(), ec); }
    template <class Rep, class Period>
    bytes_peek_guard peek_bytes_for(std::chrono::duration<Rep, Period> d) requires can_loan_bytes && blocks {
        return look_bytes(deadline::lazy_after(d), "peek_bytes_for");
    }
    template <class Rep, class Period>
    bytes_peek_guard peek_bytes_for(std::chrono::duration<Rep, Period> d, std::error_code& ec) requires can_loan_bytes && blocks {
        return look_bytes(deadline::lazy_after(d), ec);
    }
    template <class Clock, class Dur>
    bytes_peek_guard peek_bytes_until(std::chrono::time_point<Clock, Dur> tp) requires can_loan_bytes && blocks {
        return look_bytes(deadline::until(tp), "peek_bytes_until");
    }
    template <class Clock, class Dur>
    bytes_peek_guard peek_bytes_until(std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) requires can_loan_bytes && blocks {
        return look_bytes(deadline::until(tp), ec);
    }

    // ---- batches (memory transports) ----
    //
    // Moves as many of the messages as fit, at least one unless the status
    // says otherwise (`done` tells how many), and wakes the peer once for
    // all of them. The plain call blocks until at least one moved.

    status send_n(std::span<const T> vs, std::size_t& sent) requires can_batch && blocks {
        return done(send_n_core(vs, sent, deadline::never()), "send_n");
    }
    status send_n(std::span<const T> vs, std::size_t& sent, std::error_code& ec) requires can_batch && blocks {
        return done(send_n_core(vs, sent, deadline::never()), ec);
    }
    status try_send_n(std::span<const T> vs, std::size_t& sent) requires can_batch {
        return done(send_n_core(vs, sent, deadline::immediate()), "try_send_n");
    }
    status try_send_n(std::span<const T> vs, std::size_t& sent, std::error_code& ec) requires can_batch {
        return done(send_n_core(vs, sent, deadline::immediate()), ec);
    }
    template <class Rep, class Period>
    status send_n_for(std::span<const T> vs, std::size_t& sent, std::chrono::duration<Rep, Period> d) requires can_batch && blocks {
        return done(send_n_core(vs, sent, deadline::lazy_after(d)), "send_n_for");
    }
    template <class Rep, class Period>
    status send_n_for(std::span<const T> vs, std::size_t& sent, std::chrono::duration<Rep, Period> d, std::error_code& ec)
        requires can_batch && blocks {
        return done(send_n_core(vs, sent, deadline::lazy_after(d)), ec);
    }
    template <class Clock, class Dur>
    status send_n_until(std::span<const T> vs, std::size_t& sent, std::chrono::time_point<Clock, Dur> tp) requires can_batch && blocks {
        return done(send_n_core(vs, sent, deadline::until(tp)), "send_n_until");
    }
    template <class Clock, class Dur>
    status send_n_until(std::span<const T> vs, std::size_t& sent, std::chrono::time_point<Clock, Dur> tp, std::error_code& ec)
        requires can_batch && blocks {
        return done(send_n_core(vs, sent, deadline::until(tp)), ec);
    }

    status recv_n(std::span<T> out, std::size_t& got) requires can_batch && blocks {
        return done(recv_n_core(out, got, deadline::never()), "recv_n");
    }
    status recv_n(std::span<T> out, std::size_t& got, std::error_code& ec) requires can_batch && blocks {
        return done(recv_n_core(out, got, deadline::never()), ec);
    }
    status try_recv_n(std::span<T> out, std::size_t& got) requires can_batch {
        return done(recv_n_core(out, got, deadline::immediate()), "try_recv_n");
    }
    status try_recv_n(std::span<T> out, std::size_t& got, std::error_code& ec) requires can_batch {
        return done(recv_n_core(out, got, deadline::immediate()), ec);
    }
    template <class Rep, class Period>
    status recv_n_for(std::span<T> out, std::size_t& got, std::chrono::duration<Rep, Period> d) requires can_batch && blocks {
        return done(recv_n_core(out, got, deadline::lazy_after(d)), "recv_n_for");
    }
    template <class Rep, class Period>
    status recv_n_for(std::span<T> out, std::size_t& got, std::chrono::duration<Rep, Period> d, std::error_code& ec)
        requires can_batch && blocks {
        return done(recv_n_core(out, got, deadline::lazy_after(d)), ec);
    }
    template <class Clock, class Dur>
    status recv_n_until(std::span<T> out, std::size_t& got, std::chrono::time_point<Clock, Dur> tp) requires can_batch && blocks {
        return done(recv_n_core(out, got, deadline::until(tp)), "recv_n_until");
    }
    template <class Clock, class Dur>
    status recv_n_until(std::span<T> out, std::size_t& got, std::chrono::time_point<Clock, Dur> tp, std::error_code& ec)
        requires can_batch && blocks {
        return done(recv_n_core(out, got, deadline::until(tp)), ec);
    }

    // ---- access --------------------------------------------------------

    // The descriptor to hand to poll/epoll, where the transport has one.
    int native_handle() const noexcept requires transport::pollable<Transport> { return transport_.native_handle(); }
    Transport& transport() noexcept { return transport_; }
    const Transport& transport() const noexcept { return transport_; }
    Sync& sync_policy() noexcept { return sync_; }
    const Framing& framing_policy() const noexcept { return framing_; }
    // Bytes received but not yet returned as a message (stream transports).
    std::size_t buffered() const noexcept { return rx_end_ - rx_begin_; }
    // A receive would return without reading (a whole frame is buffered, or
    // one the framing refuses), per the framing's cut; consumes nothing. For
    // event loops (ipc::poller): a half frame alone is not worth a wake-up.
    bool has_buffered_message() const noexcept requires is_stream_in {
        if (broken_) return true;
        std::size_t scanned = scanned_;  // a delimiter search resumes where the last one stopped
        const auto c = framing_.template cut_stream<T>(std::span<const std::byte>(rx_.data() + rx_begin_, rx_end_ - rx_begin_), scanned);
        return c.kind != framing::cut::need_more;
    }

    // ---- zero-copy guards ------------------------------------------------

private:
    // What a zero-copy guard holds: the channel to hand its slot or record
    // back to, what it lends (Held: a pointer, or a span of bytes), and how
    // getting it went. Moving hands them on; Self ends a held one (end())
    // before taking another's.
    template <class Self, class Held>
    class guard_base {
    public:
        guard_base(guard_base&& o) noexcept : ch_(std::exchange(o.ch_, nullptr)), held_(std::exchange(o.held_, {})), st_(o.st_) {}
        guard_base& operator=(guard_base&& o) noexcept {
            if (this != &o) {
                static_cast<Self*>(this)->end();
                ch_ = std::exchange(o.ch_, nullptr);
                held_ = std::exchange(o.held_, {});
                st_ = o.st_;
            }
            return *this;
        }

        // Holds its slot or record (not yet ended); a record of 0 bytes counts.
        explicit operator bool() const noexcept { return ch_ != nullptr; }
        // How getting it went: ok, or why the guard is empty.
        ipc::status status() const noexcept { return st_; }

    protected:
        guard_base(channel* ch, Held h, ipc::status st) noexcept : ch_(ch), held_(h), st_(st) {}
        ~guard_base() = default;
        // The channel, once: the guard is empty afterwards.
        channel* take() noexcept {
            held_ = {};
            return std::exchange(ch_, nullptr);
        }
        channel* ch_;
        Held held_;
        ipc::status st_;
    };
    // A bytes guard's view of what it lends.
    template <class Self, class Bytes>
    class bytes_guard : public guard_base<Self, Bytes> {
    public:
        Bytes bytes() const noexcept { return this->held_; }
        auto* data() const noexcept { return this->held_.data(); }
        std::size_t size() const noexcept { return this->held_.size(); }

    protected:
        using guard_base<Self, Bytes>::guard_base;
    };

public:
    // A loaned slot: construct the message through * or ->, then commit().
    // Dropped (or cancel()led) without commit, it sends nothing.
    class [[nodiscard]] loan_guard : public guard_base<loan_guard, T*> {
        using base = guard_base<loan_guard, T*>;

    public:
        loan_guard(loan_guard&&) noexcept = default;
        loan_guard& operator=(loan_guard&&) noexcept = default;
        ~loan_guard() { cancel(); }

        T& operator*() const noexcept { return *this->held_; }
        T* operator->() const noexcept { return this->held_; }
        T* get() const noexcept { return this->held_; }

        // Sends the message; the guard is empty afterwards.
        void commit() noexcept {
            if (*this) this->take()->end_loan(true);
        }
        // Gives the slot back unsent.
        void cancel() noexcept {
            if (*this) this->take()->end_loan(false);
        }

    private:
        friend class channel;
        friend base;
        using base::base;
        void end() noexcept { cancel(); }
    };

    // The oldest message in place, read through * or ->; release() (or the
    // destructor) consumes it and frees its slot.
    class [[nodiscard]] peek_guard : public guard_base<peek_guard, const T*> {
        using base = guard_base<peek_guard, const T*>;

    public:
        peek_guard(peek_guard&&) noexcept = default;
        peek_guard& operator=(peek_guard&&) noexcept = default;
        ~peek_guard() { (void)release(); }

        const T& operator*() const noexcept { return *this->held_; }
        const T* operator->() const noexcept { return this->held_; }
        const T* get() const noexcept { return this->held_; }

        // Consumes the message; the guard is empty afterwards. False if the
        // message was written over while it was read (only a broadcast
        // subscriber under slow_policy::overwrite, or one being dropped): what
        // was read must be discarded; it counts in missed().
        bool release() noexcept { return !*this || this->take()->end_peek(); }

    private:
        friend class channel;
        friend base;
        using base::base;
        void end() noexcept { (void)release(); }
    };

public:
    // Room for one record of up to size() bytes in the ring, written through
    // bytes(); commit(used) sends the first `used` bytes as one record.
    // Dropped (or cancel()led) without commit, it sends nothing.
    class [[nodiscard]] bytes_loan_guard : public bytes_guard<bytes_loan_guard, std::span<std::byte>> {
        using base = bytes_guard<bytes_loan_guard, std::span<std::byte>>;

    public:
        bytes_loan_guard(bytes_loan_guard&&) noexcept = default;
        bytes_loan_guard& operator=(bytes_loan_guard&&) noexcept = default;
        ~bytes_loan_guard() { cancel(); }

        // Sends all size() bytes; the guard is empty afterwards.
        void commit() noexcept { finish(true, this->size()); }
        // Sends the first `used` bytes. More than were loaned is refused
        // (errc::message_too_large, naming both) and the loan stays held.
        void commit(std::size_t used) {
            std::error_code ec;
            commit(used, ec);
            detail::throw_if(ec, "commit");
        }
        void commit(std::size_t used, std::error_code& ec) noexcept {
            ec.clear();
            if (used > this->size() && *this) {
                ec = detail::explain(errc::message_too_large, "a commit of %zu bytes is over its loan of %zu bytes (loan_bytes(n) lends n)",
                                     used, this->size());
                return;
            }
            finish(true, used);
        }
        // Gives the room back unsent.
        void cancel() noexcept { finish(false, 0); }

    private:
        friend class channel;
        friend base;
        using base::base;
        void end() noexcept { cancel(); }
        void finish(bool send, std::size_t used) noexcept {
            if (*this) this->take()->end_bytes_loan(send, used);
        }
    };

    // The oldest record in place, read through bytes(); release() (or the
    // destructor) consumes it.
    class [[nodiscard]] bytes_peek_guard : public bytes_guard<bytes_peek_guard, std::span<const std::byte>> {
        using base = bytes_guard<bytes_peek_guard, std::span<const std::byte>>;

    public:
        bytes_peek_guard(bytes_peek_guard&&) noexcept = default;
        bytes_peek_guard& operator=(bytes_peek_guard&&) noexcept = default;
        ~bytes_peek_guard() { (void)release(); }

        // Consumes the record; the guard is empty afterwards. False if it was
        // written over while held (a broadcast subscriber under
        // slow_policy::overwrite, or one being dropped): discard what was read.
        bool release() noexcept { return !*this || this->take()->end_peek(); }

    private:
        friend class channel;
        friend base;
        using base::base;
        void end() noexcept { (void)release(); }
    };

private:
    // A transport that counts its ends (shared memory) is told this end left,
    // and the peer's waiters are woken through this channel's Sync, so a
    // parked receiver sees status::closed.
    void leave() noexcept {
        if constexpr (transport::membership<Transport>) {
            const unsigned had = transport_.leave();
            for (direction d : {direction::send, direction::recv})
                if (had & Transport::role(d)) sync_.notify(transport_, d);
        }
    }

    // ---- turning a core's error_code into what a call returns --------------

    // A failure that is not an expected status gets the transport's name in
    // its explanation (only on that path: describing may allocate).
    template <class How>
    status done(std::error_code ec, How&& how) {
        if (ec) [[unlikely]] {
            if (!detail::expected_status(ec)) name_failure(ec);
        }
        return detail::settle(ec, std::forward<How>(how));
    }
    void name_failure(std::error_code ec) const noexcept {
        try {
            const std::string who = detail::describe_transport(transport_);
            if (who.empty()) return;
            const std::string why(last_error_detail(ec));  // a copy: explain() rewrites the buffer it views
            if (why.compare(0, who.size(), who) == 0) return;
            if (why.empty()) detail::explain(ec, "%s", who.c_str());
            else detail::explain(ec, "%s: %s", who.c_str(), why.c_str());
        } catch (...) {
            // Only the words are lost.
        }
    }

    template <class How>
    loan_guard lend(deadline dl, How&& how) {
        if constexpr (requires { transport_.try_loan_quick(); }) {
            if (!loaned_) {
                if (T* slot = transport_.try_loan_quick()) [[likely]] {
                    loaned_ = true;
                    return loan_guard(this, slot, ok(how));
                }
            }
        }
        const auto [slot, st] = lend_slow(dl, std::forward<How>(how));
        return loan_guard(slot ? this : nullptr, slot, st);
    }
    // The full paths, out of line (here and below): inlined, their calls
    // made the caller save registers on entry, stores a producer pays for on
    // every message (see quick_send). They return what the guard is made of,
    // in registers (a guard has a destructor, so it would be returned
    // through memory, and the quick path's guard with it).
    template <class P>
    struct lent {
        P at;
        status st;
    };
    template <class How>
    [[gnu::noinline]] lent<T*> lend_slow(deadline dl, How&& how) {
        T* slot = nullptr;
        const status st = done(loan_core(slot, dl), std::forward<How>(how));
        return {slot, st};
    }
    template <class How>
    peek_guard look(deadline dl, How&& how) {
        if constexpr (requires { transport_.try_peek_quick(); }) {
            if (!peeked_) {
                if (const T* msg = transport_.try_peek_quick()) [[likely]] {
                    peeked_ = true;
                    return peek_guard(this, msg, ok(how));
                }
            }
        }
        const auto [msg, st] = look_slow(dl, std::forward<How>(how));
        return peek_guard(msg ? this : nullptr, msg, st);
    }
    template <class How>
    [[gnu::noinline]] lent<const T*> look_slow(deadline dl, How&& how) {
        const T* msg = nullptr;
        const status st = done(peek_core(msg, dl), std::forward<How>(how));
        return {msg, st};
    }
    template <class How>
    bytes_loan_guard lend_bytes(std::size_t n, deadline dl, How&& how) {
        std::byte* at = nullptr;
        const status st = done(loan_bytes_core(n, at, dl), std::forward<How>(how));
        return at ? bytes_loan_guard(this, std::span<std::byte>(at, n), st) : bytes_loan_guard(nullptr, {}, st);
    }
    template <class How>
    bytes_peek_guard look_bytes(deadline dl, How&& how) {
        std::optional<std::span<const std::byte>> rec;
        const status st = done(peek_bytes_core(rec, dl), std::forward<How>(how));
        return rec ? bytes_peek_guard(this, *rec, st) : bytes_peek_guard(nullptr, {}, st);
    }
    void end_bytes_loan(bool send, std::size_t used) noexcept {
        loaned_ = false;
        if (send) {
            transport_.commit(used);
            sync_.notify(transport_, direction::send);
        } else {
            transport_.cancel_loan();  // nothing of it was visible: no one to wake
        }
    }
    void end_loan(bool send) noexcept {
        loaned_ = false;
        if (send) transport_.commit();
        else transport_.cancel_loan();
        sync_.notify(transport_, direction::send);  // cancelled (mpmc): a hole the receivers must pass
    }
    bool end_peek() noexcept {
        peeked_ = false;
        const bool intact = transport_.release();
        sync_.notify(transport_, direction::recv);
        return intact;
    }

    static bool is(const std::error_code& ec, errc e) noexcept { return ec == make_error_code(e); }

    io_mode mode_for(const deadline& dl) const noexcept {
        return Sync::kernel_blocking && dl.is_never() ? io_mode::blocking : io_mode::nonblocking;
    }

    // ---- waiting -----------------------------------------------------------

    // Waits in direction d. Once part of a frame has moved, the rest must
    // follow whatever the deadline says (a half frame would corrupt the
    // stream), so that wait is unbounded and does not depend on Sync.
    bool wait(direction d, deadline& dl, bool mid_frame, std::error_code& ec) {
        if (mid_frame) {
            if constexpr (transport::pollable<Transport>)
                return detail::wait_fd(transport_.native_handle(), d == direction::recv ? POLLIN : POLLOUT, deadline::never(), ec);
            deadline never = deadline::never();
            return sync_wait(d, never, ec);
        }
        return sync_wait(d, dl, ec);
    }

    // Sync::wait, cut into peer_check_interval() slices on a transport whose
    // peers may die silently: when a slice ends with no progress (or the
    // caller's own time runs out) the transport checks its peers. The slice
    // outlives single waits (a spinning policy returns after each pause), so
    // a channel scans its peers at most once per interval. A lazy deadline
    // (a _for call) starts here, at the first wait.
    bool sync_wait(direction d, deadline& dl, std::error_code& ec) {
        dl.start();
        if constexpr (transport::watches_peers<Transport>) {
            if (!dl.is_immediate()) {
                if (check_at_ == deadline::clock::time_point{})
                    check_at_ = deadline::clock::now() +
                                std::chrono::ceil<deadline::clock::duration>(transport_.peer_check_interval());
                const bool sliced = dl.is_never() || check_at_ < dl.time_point();
                if (sync_.wait(transport_, d, sliced ? deadline::at(check_at_) : dl, ec)) return true;
                if (!is(ec, errc::timed_out)) return false;
                check_at_ = {};
                if (auto dead = transport_.check_peers(d)) {
                    ec = dead;
                    return false;
                }
                if (!sliced) return false;
                ec.clear();
                return true;
            }
        }
        return sync_.wait(transport_, d, dl, ec);
    }

    // Retries a nonblocking memory-transport operation, waiting in direction
    // d between tries, until it succeeds, fails or the deadline passes. The
    // first try comes before any clock is read.
    template <class Op>
    std::error_code retry(direction d, deadline& dl, Op op) {
        std::error_code ec;
        for (;;) {
            if (op(ec)) return {};
            if (!is(ec, errc::would_block)) return ec;
            ec.clear();
            if (!sync_wait(d, dl, ec)) return ec;
        }
    }

    // A send or receive a ring can do at once, storing nothing but the
    // message and the ring's index (see ring_region::try_send_quick); false:
    // the core runs, which waits or says why.
    [[gnu::always_inline]] bool quick_send(const T& v) noexcept {
        if constexpr (requires { transport_.try_send_quick(v); }) {
            if (!loaned_ && transport_.try_send_quick(v)) [[likely]] {
                sync_.notify(transport_, direction::send);
                return true;
            }
        }
        return false;
    }
    // A blocking receive lets a policy that stays behind a moving sender
    // (sync::spin's `behind`) wait before it takes; a no-op for the rest.
    [[gnu::always_inline]] void hold_back() noexcept {
        if constexpr (requires { sync_.hold_back(transport_); }) sync_.hold_back(transport_);
    }
    // (Not noexcept: a record ring's decode may throw, as from the full path.)
    [[gnu::always_inline]] bool quick_recv(T& out) {
        if constexpr (requires { transport_.try_recv_quick(out); }) {
            if (!peeked_ && transport_.try_recv_quick(out)) [[likely]] {
                sync_.notify(transport_, direction::recv);
                return true;
            }
        }
        return false;
    }
    // The cores behind them, out of line: see lend_slow.
    template <class How>
    [[gnu::noinline]] status send_slow(const T& v, deadline dl, How&& how) {
        return done(send_core(v, nullptr, dl), std::forward<How>(how));
    }
    template <class How>
    [[gnu::noinline]] status recv_slow(T& out, deadline dl, How&& how) {
        return done(recv_core(out, nullptr, dl), std::forward<How>(how));
    }
    static status ok(const char*) noexcept { return status::ok; }
    static status ok(std::error_code& ec) noexcept {
        ec.clear();
        return status::ok;
    }

    // ---- the cores: one per operation ------------------------------------

    std::error_code send_core(const T& v, const send_options* o, deadline dl) {
        if (loaned_) return loan_held();  // the slot it would write is the loan's
        if constexpr (transport::value_writer<Transport, T>) return send_value(v, dl);
        else if constexpr (is_stream_out) return send_stream(v, dl);
        else return send_message(v, o, dl);
    }
    std::error_code recv_core(T& out, recv_info* i, deadline dl) {
        if (peeked_) return peek_held();  // the message it would take is the peek's
        if constexpr (transport::value_reader<Transport, T>) return recv_value(out, dl);
        else if constexpr (is_stream_in) return recv_stream(out, dl);
        else return recv_message(out, i, dl);
    }
    std::error_code loan_core(T*& slot, deadline dl) {
        if (loaned_) return loan_held();
        auto ec = retry(direction::send, dl, [&](std::error_code& e) { return (slot = transport_.try_loan(e)) != nullptr; });
        loaned_ = !ec;
        return ec;
    }
    std::error_code peek_core(const T*& msg, deadline dl) {
        if (peeked_) return peek_held();
        auto ec = retry(direction::recv, dl, [&](std::error_code& e) { return (msg = transport_.try_peek(e)) != nullptr; });
        peeked_ = !ec;
        return ec;
    }
    std::error_code loan_bytes_core(std::size_t n, std::byte*& at, deadline dl) {
        if (loaned_) return loan_held();
        auto ec = retry(direction::send, dl, [&](std::error_code& e) { return (at = transport_.try_loan(n, e)) != nullptr; });
        loaned_ = !ec;
        return ec;
    }
    std::error_code peek_bytes_core(std::optional<std::span<const std::byte>>& rec, deadline dl) {
        if (peeked_) return peek_held();
        auto ec = retry(direction::recv, dl, [&](std::error_code& e) { return (rec = transport_.try_peek(e)).has_value(); });
        peeked_ = !ec;
        return ec;
    }
    // One guard per direction at a time, and no send (receive) past an
    // outstanding loan (peek): it would write (take) the slot the guard holds.
    static std::error_code loan_held() noexcept {
        return detail::explain(errc::in_use, "channel: a loan is still held; commit or cancel it before sending or loaning again");
    }
    static std::error_code peek_held() noexcept {
        return detail::explain(errc::in_use, "channel: a peek is still held; release it before receiving or peeking again");
    }
    std::error_code send_n_core(std::span<const T> vs, std::size_t& sent, deadline dl) {
        sent = 0;
        if (vs.empty()) return {};
        if (loaned_) return loan_held();
        auto ec = retry(direction::send, dl, [&](std::error_code& e) { return (sent = transport_.try_send_n(vs, e)) > 0; });
        if (!ec) sync_.notify(transport_, direction::send);
        return ec;
    }
    std::error_code recv_n_core(std::span<T> out, std::size_t& got, deadline dl) {
        got = 0;
        if (out.empty()) return {};
        if (peeked_) return peek_held();
        auto ec = retry(direction::recv, dl, [&](std::error_code& e) { return (got = transport_.try_recv_n(out, e)) > 0; });
        if (!ec) sync_.notify(transport_, direction::recv);
        return ec;
    }

    // ---- value transports: the transport moves T itself (no framing) ------

    std::error_code send_value(const T& v, deadline& dl) {
        auto ec = retry(direction::send, dl, [&](std::error_code& e) { return transport_.try_send_value(v, e); });
        if (!ec) sync_.notify(transport_, direction::send);
        return ec;
    }
    std::error_code recv_value(T& out, deadline& dl) {
        auto ec = retry(direction::recv, dl, [&](std::error_code& e) { return transport_.try_recv_value(out, e); });
        if (!ec) sync_.notify(transport_, direction::recv);
        return ec;
    }

    // ---- message transports: one frame body per message -------------------

    std::error_code send_message(const T& v, const send_options* o, deadline& dl) {
        std::error_code ec;
        framing::frame f;
        if (!framing_.encode(v, f, scratch_, ec)) return ec;
        const std::span<const std::byte> msg = f.tail.empty() ? f.body : with_tail(f);
        for (;;) {
            if (put_message(msg, o, mode_for(dl), ec)) break;
            if (is(ec, errc::message_too_large)) return too_large(ec, msg.size());
            if (!is(ec, errc::would_block)) return ec;
            ec.clear();
            if (!wait(direction::send, dl, false, ec)) return ec;
        }
        sync_.notify(transport_, direction::send);
        return {};
    }
    // Body and trailer as one message (a line and its delimiter), in scratch_.
    std::span<const std::byte> with_tail(const framing::frame& f) {
        if (f.body.data() != scratch_.data()) scratch_.assign(f.body.begin(), f.body.end());
        scratch_.insert(scratch_.end(), f.tail.begin(), f.tail.end());
        return scratch_;
    }
    bool put_message(std::span<const std::byte> body, const send_options* o, io_mode m, std::error_code& ec) {
        if constexpr (with_options) {
            if (o) return transport_.send_message(body, *o, m, ec);
        }
        return transport_.send_message(body, m, ec);
    }
    // The transport refused a message as too large: say its size and the limit.
    std::error_code too_large(std::error_code ec, std::size_t size) const noexcept {
        if (!last_error_detail(ec).empty()) return ec;
        if constexpr (transport::sized_messages<Transport>)
            return detail::explain(ec, "a message of %zu bytes is over the transport's limit of %zu bytes", size,
                                   static_cast<std::size_t>(transport_.max_message_size()));
        return detail::explain(ec, "a message of %zu bytes is over the transport's limit", size);
    }

    std::error_code recv_message(T& out, recv_info* i, deadline& dl) {
        const std::size_t cap = message_capacity();
        if (rx_.size() < cap) rx_.resize(cap);
        std::error_code ec;
        for (;;) {
            const std::size_t n = take_message(std::span<std::byte>(rx_.data(), cap), i, mode_for(dl), ec);
            if (!ec) {
                auto payload = framing_.message_payload(std::span<const std::byte>(rx_.data(), n));
                if (!framing_.decode(payload, out, ec)) return ec;
                sync_.notify(transport_, direction::recv);
                return {};
            }
            if (is(ec, errc::message_too_large) && last_error_detail(ec).empty())
                return detail::explain(ec, "a received message was over this channel's limit of %zu bytes (the framing's maximum)", cap);
            if (!is(ec, errc::would_block)) return ec;
            ec.clear();
            if (!wait(direction::recv, dl, false, ec)) return ec;
        }
    }
    std::size_t take_message(std::span<std::byte> buf, recv_info* i, io_mode m, std::error_code& ec) {
        if constexpr (with_info) {
            if (i) return transport_.recv_message(buf, *i, m, ec);
        }
        return transport_.recv_message(buf, m, ec);
    }
    // A receive buffer as large as the largest message that can arrive: the
    // framing's maximum, or the transport's own limit when smaller (a queue
    // of 512-byte messages needs 512 bytes, not the framing's 1 MiB).
    std::size_t message_capacity() const noexcept {
        std::size_t cap = framing_.template max_payload<T>();
        if constexpr (transport::sized_messages<Transport>) {
            const auto limit = static_cast<std::size_t>(transport_.max_message_size());
            if (limit > 0 && limit < cap) cap = limit;
        }
        return cap;
    }

    // ---- stream transports: frames cut out of a byte stream ----------------

    std::error_code send_stream(const T& v, deadline& dl) {
        std::error_code ec;
        framing::frame f;
        if (!framing_.encode(v, f, scratch_, ec)) return ec;
        // The frame's non-empty pieces, [first, nparts) still to write; a
        // short write trims them in place. Written as three tests, not a
        // loop, so that the compiler folds them for a framing whose head
        // and tail are always empty (fixed): one piece, no bookkeeping.
        // This is the writer's per-message path: on a one-way stream every
        // nanosecond here lets the reader drain the pipe and sleep sooner.
        std::array<std::span<const std::byte>, 3> rest;
        std::size_t nparts = 0, first = 0;
        if (f.head_len > 0) rest[nparts++] = std::span<const std::byte>(f.head.data(), f.head_len);
        if (!f.body.empty()) rest[nparts++] = f.body;
        if (!f.tail.empty()) rest[nparts++] = f.tail;
        bool mid = false;
        while (first < nparts) {
            std::size_t n = transport_.write_some(std::span<const std::span<const std::byte>>(rest.data() + first, nparts - first),
                                                  mid ? (Sync::kernel_blocking ? io_mode::blocking : io_mode::nonblocking)
                                                      : mode_for(dl),
                                                  ec);
            if (n > 0) {
                mid = true;
                for (; first < nparts && n >= rest[first].size(); ++first) n -= rest[first].size();
                if (first < nparts) rest[first] = rest[first].subspan(n);
                continue;
            }
            if (!is(ec, errc::would_block)) return ec ? ec : make_error_code(errc::peer_closed);
            ec.clear();
            if (!wait(direction::send, dl, mid, ec)) return ec;
        }
        sync_.notify(transport_, direction::send);
        return {};
    }

    std::error_code recv_stream(T& out, deadline& dl) {
        if (broken_) return detail::explain(errc::bad_message, "the stream lost its framing after an earlier bad frame");
        std::error_code ec;
        for (;;) {
            auto have = std::span<const std::byte>(rx_.data() + rx_begin_, rx_end_ - rx_begin_);
            framing::cut c = framing_.template cut_stream<T>(have, scanned_);
            if (c.kind == framing::cut::complete) return deliver(have, c, out);
            if (c.kind == framing::cut::invalid) {
                // A stream cannot find the next frame after a bad one: refuse from now on.
                broken_ = true;
                return bad_frame(c);
            }
            if constexpr (writable_codec<T>) {
                // Header (if any) complete, payload not started: read it straight into out.
                if (c.need > have.size() && c.payload_off == have.size()) {
                    auto dst = codec<T>::writable(out, c.need - have.size());
                    if (dst.size() == c.need - have.size()) return recv_direct(dst, !have.empty(), dl);
                }
            }
            std::span<std::byte> room = make_room(c.need);
            std::size_t n = transport_.read_some(room, mode_for(dl), ec);
            if (n > 0) {
                rx_end_ += n;
                continue;
            }
            if (is(ec, errc::peer_closed)) return end_of_stream(ec, out);
            if (!is(ec, errc::would_block)) return ec ? ec : make_error_code(errc::peer_closed);
            ec.clear();
            // A timed-out receive keeps its partial frame buffered for the next call.
            if (!wait(direction::recv, dl, false, ec)) return ec;
        }
    }
    // Decodes the complete frame c at the front of the buffer and consumes it.
    std::error_code deliver(std::span<const std::byte> have, const framing::cut& c, T& out) {
        std::error_code ec;
        const bool ok = framing_.decode(have.subspan(c.payload_off, c.payload_len), out, ec);
        rx_begin_ += c.frame_len;
        if (rx_begin_ == rx_end_) rx_begin_ = rx_end_ = 0;
        if (!ok) return ec;
        sync_.notify(transport_, direction::recv);
        return {};
    }
    // The stream ended. Nothing buffered: end of stream. A partial frame:
    // the framing may accept it as the last one (a line without its newline);
    // otherwise the message was cut off.
    std::error_code end_of_stream(std::error_code closed, T& out) {
        const auto have = std::span<const std::byte>(rx_.data() + rx_begin_, rx_end_ - rx_begin_);
        if (have.empty()) return closed;
        if constexpr (requires { framing_.template cut_final<T>(have); }) {
            const framing::cut c = framing_.template cut_final<T>(have);
            if (c.kind == framing::cut::complete) return deliver(have, c, out);
        }
        broken_ = true;
        return detail::explain(errc::truncated, "the peer closed after %zu bytes of a message", have.size());
    }
    std::error_code bad_frame(const framing::cut& c) const noexcept {
        if (c.error == errc::message_too_large)
            return detail::explain(c.error, "a frame of %s%zu bytes is over the framing's maximum of %zu bytes", c.need ? "" : "more than ",
                                   c.need ? c.need : framing_.template max_payload<T>(), framing_.template max_payload<T>());
        return make_error_code(c.error);
    }

    // Reads the rest of a frame into dst, the message's own storage. If the
    // call ends early (timeout, try_), the bytes read so far move to the
    // buffer behind the header, so the next call resumes the same frame.
    std::error_code recv_direct(std::span<std::byte> dst, bool mid, deadline& dl) {
        std::error_code ec;
        std::size_t got = 0;
        for (;;) {
            std::size_t n = transport_.read_some(dst.subspan(got), mode_for(dl), ec);
            if (n > 0) {
                got += n;
                if (got < dst.size()) continue;
                rx_begin_ = rx_end_ = 0;  // the header, if any, is consumed with its payload
                sync_.notify(transport_, direction::recv);
                return {};
            }
            if (is(ec, errc::peer_closed)) {
                if (!mid && got == 0) return ec;
                broken_ = true;
                return detail::explain(errc::truncated, "the peer closed after %zu of a message's %zu payload bytes", got, dst.size());
            }
            if (is(ec, errc::would_block)) {
                ec.clear();
                if (wait(direction::recv, dl, false, ec)) continue;
            }
            if (got > 0) {
                auto room = make_room(rx_end_ - rx_begin_ + got);
                std::memcpy(room.data(), dst.data(), got);
                rx_end_ += got;
            }
            return ec ? ec : make_error_code(errc::peer_closed);
        }
    }

    // Free space after the buffered bytes. need > 0: exactly enough to reach
    // `need` buffered bytes (never read past a frame another reader may own);
    // need == 0: whatever fits up to the framing's maximum.
    std::span<std::byte> make_room(std::size_t need) {
        const std::size_t have = rx_end_ - rx_begin_;
        std::size_t want = need > have ? need - have : 0;
        if (need == 0) {
            std::size_t max = framing_.template max_payload<T>() + 1;
            if (rx_.size() < max) rx_.resize(max);
        }
        if (rx_begin_ > 0 && rx_.size() - rx_end_ < (want ? want : 1)) {
            std::memmove(rx_.data(), rx_.data() + rx_begin_, have);
            rx_begin_ = 0;
            rx_end_ = have;
        }
        if (rx_.size() < rx_end_ + want) rx_.resize(rx_end_ + want);
        std::size_t len = need ? want : rx_.size() - rx_end_;
        return {rx_.data() + rx_end_, len};
    }

    Transport transport_{};
    [[no_unique_address]] Sync sync_{};
    [[no_unique_address]] Framing framing_{};
    std::vector<std::byte> rx_;       // stream: buffered bytes [rx_begin_, rx_end_); message: one message
    std::vector<std::byte> scratch_;  // encoded bodies of types without a byte view
    std::size_t rx_begin_ = 0;
    std::size_t rx_end_ = 0;
    std::size_t scanned_ = 0;  // how far a delimiter search has looked
    bool broken_ = false;      // the stream lost its framing
    deadline::clock::time_point check_at_{};  // watches_peers: when waiting next checks the peers
    bool loaned_ = false;      // a loan guard is out: sends wait for it (loan_held)
    bool peeked_ = false;      // a peek guard is out: receives wait for it (peek_held)
};

}  // namespace ipc
