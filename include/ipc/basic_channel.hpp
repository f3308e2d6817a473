// ipc/basic_channel.hpp: ipc::channel<T, Transport, Sync, Framing>, the typed channel.
#pragma once

#include <array>
#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "codec.hpp"
#include "concepts.hpp"
#include "detail/channel_factories.hpp"
#include "detail/chrono.hpp"
#include "detail/fd.hpp"
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
} // namespace transport

// A typed channel composed at compile time. It sends if the transport writes,
// receives if it reads, and does both over a duplex transport. No virtual
// calls; buffers are allocated once and reused, so the steady state does not
// allocate.
//
// Every operation comes three ways: send (blocks), try_send (never waits),
// send_for/send_until (waits up to a deadline); likewise recv. Each returns a
// status: ok, would_block, timed_out or closed (the peer closed: end of
// stream). Real failures throw ipc::error; the overloads taking a
// std::error_code& never throw and return status::failed instead.
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

    channel() = default;
    explicit channel(Transport t, Framing f = {}, Sync s = {}) noexcept(std::is_nothrow_move_constructible_v<Framing> &&
                                                                         std::is_nothrow_move_constructible_v<Sync>)
        : transport_(std::move(t)), sync_(std::move(s)), framing_(std::move(f)) {}
    channel(channel&&) = default;
    channel& operator=(channel&&) = default;
    // A transport that counts its ends (shared memory) is told this end left,
    // and the peer's waiters are woken through this channel's Sync, so a
    // parked receiver sees status::closed.
    ~channel() {
        if constexpr (transport::membership<Transport>) {
            const unsigned had = transport_.leave();
            for (direction d : {direction::send, direction::recv})
                if (had & Transport::role(d)) sync_.notify(transport_, d);
        }
    }

    // ---- sending -------------------------------------------------------

    status send(const T& v) requires can_send && Sync::can_block { return finish(send_impl(v, deadline::never()), "send"); }
    status send(const T& v, std::error_code& ec) requires can_send && Sync::can_block {
        return finish(send_impl(v, deadline::never()), ec);
    }
    status try_send(const T& v) requires can_send { return finish(send_impl(v, deadline::immediate()), "try_send"); }
    status try_send(const T& v, std::error_code& ec) requires can_send {
        return finish(send_impl(v, deadline::immediate()), ec);
    }
    template <class Rep, class Period>
    status send_for(const T& v, std::chrono::duration<Rep, Period> d) requires can_send && Sync::can_block {
        return finish(timed_send(v, [&] { return deadline::after(d); }), "send_for");
    }
    template <class Rep, class Period>
    status send_for(const T& v, std::chrono::duration<Rep, Period> d, std::error_code& ec) requires can_send && Sync::can_block {
        return finish(timed_send(v, [&] { return deadline::after(d); }), ec);
    }
    template <class Clock, class Dur>
    status send_until(const T& v, std::chrono::time_point<Clock, Dur> tp) requires can_send && Sync::can_block {
        return finish(timed_send(v, [&] { return deadline::until(tp); }), "send_until");
    }
    template <class Clock, class Dur>
    status send_until(const T& v, std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) requires can_send && Sync::can_block {
        return finish(timed_send(v, [&] { return deadline::until(tp); }), ec);
    }

    // ---- receiving -----------------------------------------------------

    // Blocks for the next message: ok, or closed at end of stream.
    status recv(T& out) requires can_recv && Sync::can_block { return finish(recv_impl(out, deadline::never()), "recv"); }
    status recv(T& out, std::error_code& ec) requires can_recv && Sync::can_block {
        return finish(recv_impl(out, deadline::never()), ec);
    }
    // The next message, or nullopt at end of stream.
    std::optional<T> recv() requires can_recv && Sync::can_block && std::is_default_constructible_v<T> {
        std::optional<T> out(std::in_place);
        if (!recv(*out)) out.reset();
        return out;
    }
    status try_recv(T& out) requires can_recv { return finish(recv_impl(out, deadline::immediate()), "try_recv"); }
    status try_recv(T& out, std::error_code& ec) requires can_recv { return finish(recv_impl(out, deadline::immediate()), ec); }
    template <class Rep, class Period>
    status recv_for(T& out, std::chrono::duration<Rep, Period> d) requires can_recv && Sync::can_block {
        return finish(timed_recv(out, [&] { return deadline::after(d); }), "recv_for");
    }
    template <class Rep, class Period>
    status recv_for(T& out, std::chrono::duration<Rep, Period> d, std::error_code& ec) requires can_recv && Sync::can_block {
        return finish(timed_recv(out, [&] { return deadline::after(d); }), ec);
    }
    template <class Clock, class Dur>
    status recv_until(T& out, std::chrono::time_point<Clock, Dur> tp) requires can_recv && Sync::can_block {
        return finish(timed_recv(out, [&] { return deadline::until(tp); }), "recv_until");
    }
    template <class Clock, class Dur>
    status recv_until(T& out, std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) requires can_recv && Sync::can_block {
        return finish(timed_recv(out, [&] { return deadline::until(tp); }), ec);
    }

    // ---- zero copy (memory transports) ----------------------------------
    //
    // loan a slot, construct the message in it, commit() to send; peek the
    // oldest message in place, release() to free its slot. One loan (peek)
    // at a time per channel, committed (released) before the next.

    status try_loan(T*& slot) requires transport::loaning<Transport, T> {
        return finish(loan_impl(slot, deadline::immediate()), "try_loan");
    }
    status try_loan(T*& slot, std::error_code& ec) requires transport::loaning<Transport, T> {
        return finish(loan_impl(slot, deadline::immediate()), ec);
    }
    status loan(T*& slot) requires transport::loaning<Transport, T> && Sync::can_block {
        return finish(loan_impl(slot, deadline::never()), "loan");
    }
    status loan(T*& slot, std::error_code& ec) requires transport::loaning<Transport, T> && Sync::can_block {
        return finish(loan_impl(slot, deadline::never()), ec);
    }
    template <class Rep, class Period>
    status loan_for(T*& slot, std::chrono::duration<Rep, Period> d) requires transport::loaning<Transport, T> && Sync::can_block {
        return finish(loan_impl(slot, deadline::after(d)), "loan_for");
    }
    template <class Rep, class Period>
    status loan_for(T*& slot, std::chrono::duration<Rep, Period> d, std::error_code& ec)
        requires transport::loaning<Transport, T> && Sync::can_block {
        return finish(loan_impl(slot, deadline::after(d)), ec);
    }
    // Sends the loaned slot.
    void commit() noexcept requires transport::loaning<Transport, T> {
        transport_.commit();
        sync_.notify(transport_, direction::send);
    }

    status try_peek(const T*& msg) requires transport::loaning<Transport, T> {
        return finish(peek_impl(msg, deadline::immediate()), "try_peek");
    }
    status try_peek(const T*& msg, std::error_code& ec) requires transport::loaning<Transport, T> {
        return finish(peek_impl(msg, deadline::immediate()), ec);
    }
    status peek(const T*& msg) requires transport::loaning<Transport, T> && Sync::can_block {
        return finish(peek_impl(msg, deadline::never()), "peek");
    }
    status peek(const T*& msg, std::error_code& ec) requires transport::loaning<Transport, T> && Sync::can_block {
        return finish(peek_impl(msg, deadline::never()), ec);
    }
    template <class Rep, class Period>
    status peek_for(const T*& msg, std::chrono::duration<Rep, Period> d) requires transport::loaning<Transport, T> && Sync::can_block {
        return finish(peek_impl(msg, deadline::after(d)), "peek_for");
    }
    template <class Rep, class Period>
    status peek_for(const T*& msg, std::chrono::duration<Rep, Period> d, std::error_code& ec)
        requires transport::loaning<Transport, T> && Sync::can_block {
        return finish(peek_impl(msg, deadline::after(d)), ec);
    }
    // Frees the peeked message's slot.
    void release() noexcept requires transport::loaning<Transport, T> {
        transport_.release();
        sync_.notify(transport_, direction::recv);
    }

    // ---- batches (memory transports) -------------------------------------
    //
    // Moves as many of the messages as fit (at least one unless the status
    // says otherwise) and wakes the peer once for all of them.

    status try_send_n(std::span<const T> vs, std::size_t& sent) requires transport::batching<Transport, T> {
        return finish(send_n_impl(vs, sent, deadline::immediate()), "try_send_n");
    }
    status try_send_n(std::span<const T> vs, std::size_t& sent, std::error_code& ec) requires transport::batching<Transport, T> {
        return finish(send_n_impl(vs, sent, deadline::immediate()), ec);
    }
    template <class Rep, class Period>
    status send_n_for(std::span<const T> vs, std::size_t& sent, std::chrono::duration<Rep, Period> d)
        requires transport::batching<Transport, T> && Sync::can_block {
        return finish(send_n_impl(vs, sent, deadline::after(d)), "send_n_for");
    }
    template <class Rep, class Period>
    status send_n_for(std::span<const T> vs, std::size_t& sent, std::chrono::duration<Rep, Period> d, std::error_code& ec)
        requires transport::batching<Transport, T> && Sync::can_block {
        return finish(send_n_impl(vs, sent, deadline::after(d)), ec);
    }
    status try_recv_n(std::span<T> out, std::size_t& got) requires transport::batching<Transport, T> {
        return finish(recv_n_impl(out, got, deadline::immediate()), "try_recv_n");
    }
    status try_recv_n(std::span<T> out, std::size_t& got, std::error_code& ec) requires transport::batching<Transport, T> {
        return finish(recv_n_impl(out, got, deadline::immediate()), ec);
    }
    template <class Rep, class Period>
    status recv_n_for(std::span<T> out, std::size_t& got, std::chrono::duration<Rep, Period> d)
        requires transport::batching<Transport, T> && Sync::can_block {
        return finish(recv_n_impl(out, got, deadline::after(d)), "recv_n_for");
    }
    template <class Rep, class Period>
    status recv_n_for(std::span<T> out, std::size_t& got, std::chrono::duration<Rep, Period> d, std::error_code& ec)
        requires transport::batching<Transport, T> && Sync::can_block {
        return finish(recv_n_impl(out, got, deadline::after(d)), ec);
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

private:
    static status finish(std::error_code ec, const char* what) {
        if (!ec) return status::ok;
        if (auto s = outcome(ec)) return *s;
        detail::throw_error(ec, what);
    }
    static status finish(std::error_code got, std::error_code& ec) noexcept {
        ec = got;
        if (!got) return status::ok;
        if (auto s = outcome(got)) return *s;
        return status::failed;
    }
    static std::optional<status> outcome(std::error_code ec) noexcept {
        if (ec.category() != ipc_category()) return std::nullopt;
        switch (static_cast<errc>(ec.value())) {
        case errc::would_block: return status::would_block;
        case errc::timed_out: return status::timed_out;
        case errc::peer_closed: return status::closed;
        case errc::peer_dead: return status::peer_dead;
        default: return std::nullopt;
        }
    }

    static bool is(const std::error_code& ec, errc e) noexcept { return ec == make_error_code(e); }

    io_mode mode_for(const deadline& dl) const noexcept {
        return Sync::kernel_blocking && dl.is_never() ? io_mode::blocking : io_mode::nonblocking;
    }

    // Waits in direction d. Once part of a frame has moved, the rest must
    // follow whatever the deadline says (a half frame would corrupt the
    // stream), so that wait is unbounded and does not depend on Sync.
    bool wait(direction d, const deadline& dl, bool mid_frame, std::error_code& ec) {
        if constexpr (transport::pollable<Transport>) {
            if (mid_frame) return detail::wait_fd(transport_.native_handle(), d == direction::recv ? POLLIN : POLLOUT,
                                                  deadline::never(), ec);
        }
        return sync_wait(d, mid_frame ? deadline::never() : dl, ec);
    }

    // Sync::wait, cut into peer_check_interval() slices on a transport whose
    // peers may die silently: when a slice ends with no progress (or the
    // caller's own time runs out) the transport checks its peers. The slice
    // outlives single waits (a spinning policy returns after each pause), so
    // a channel scans its peers at most once per interval.
    bool sync_wait(direction d, const deadline& dl, std::error_code& ec) {
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
    // d between tries, until it succeeds, fails or the deadline passes.
    template <class Op>
    std::error_code retry(direction d, const deadline& dl, Op op) {
        std::error_code ec;
        for (;;) {
            if (op(ec)) return {};
            if (!is(ec, errc::would_block)) return ec;
            ec.clear();
            if (!sync_wait(d, dl, ec)) return ec;
        }
    }

    // Timed calls on a typed transport try once before reading the clock:
    // when the ring has room (or a message), the deadline is never needed.
    template <class MakeDeadline>
    std::error_code timed_send(const T& v, MakeDeadline make) {
        if constexpr (transport::value_writer<Transport, T>) {
            std::error_code ec;
            if (transport_.try_send_value(v, ec)) {
                sync_.notify(transport_, direction::send);
                return {};
            }
            if (!is(ec, errc::would_block)) return ec;
        }
        return send_impl(v, make());
    }
    template <class MakeDeadline>
    std::error_code timed_recv(T& out, MakeDeadline make) {
        if constexpr (transport::value_reader<Transport, T>) {
            std::error_code ec;
            if (transport_.try_recv_value(out, ec)) {
                sync_.notify(transport_, direction::recv);
                return {};
            }
            if (!is(ec, errc::would_block)) return ec;
        }
        return recv_impl(out, make());
    }

    // The typed fast path: the transport moves T itself (no framing, no
    // runtime-sized copy loop).
    std::error_code send_value(const T& v, const deadline& dl) {
        auto ec = retry(direction::send, dl, [&](std::error_code& e) { return transport_.try_send_value(v, e); });
        if (!ec) sync_.notify(transport_, direction::send);
        return ec;
    }
    std::error_code recv_value(T& out, const deadline& dl) {
        auto ec = retry(direction::recv, dl, [&](std::error_code& e) { return transport_.try_recv_value(out, e); });
        if (!ec) sync_.notify(transport_, direction::recv);
        return ec;
    }
    std::error_code loan_impl(T*& slot, const deadline& dl) {
        slot = nullptr;
        return retry(direction::send, dl, [&](std::error_code& e) { return (slot = transport_.try_loan(e)) != nullptr; });
    }
    std::error_code peek_impl(const T*& msg, const deadline& dl) {
        msg = nullptr;
        return retry(direction::recv, dl, [&](std::error_code& e) { return (msg = transport_.try_peek(e)) != nullptr; });
    }
    std::error_code send_n_impl(std::span<const T> vs, std::size_t& sent, const deadline& dl) {
        sent = 0;
        if (vs.empty()) return {};
        auto ec = retry(direction::send, dl, [&](std::error_code& e) { return (sent = transport_.try_send_n(vs, e)) > 0; });
        if (!ec) sync_.notify(transport_, direction::send);
        return ec;
    }
    std::error_code recv_n_impl(std::span<T> out, std::size_t& got, const deadline& dl) {
        got = 0;
        if (out.empty()) return {};
        auto ec = retry(direction::recv, dl, [&](std::error_code& e) { return (got = transport_.try_recv_n(out, e)) > 0; });
        if (!ec) sync_.notify(transport_, direction::recv);
        return ec;
    }

    std::error_code send_impl(const T& v, const deadline& dl) {
        if constexpr (transport::value_writer<Transport, T>) return send_value(v, dl);
        std::error_code ec;
        framing::frame f;
        if (!framing_.encode(v, f, scratch_, ec)) return ec;
        if constexpr (is_stream_out) {
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
        } else {
            for (;;) {
                if (transport_.send_message(f.body, mode_for(dl), ec)) break;
                if (!is(ec, errc::would_block)) return ec;
                ec.clear();
                if (!wait(direction::send, dl, false, ec)) return ec;
            }
        }
        sync_.notify(transport_, direction::send);
        return {};
    }

    std::error_code recv_impl(T& out, const deadline& dl) {
        if constexpr (transport::value_reader<Transport, T>) return recv_value(out, dl);
        std::error_code ec;
        if constexpr (is_stream_in) {
            if (broken_) return make_error_code(errc::bad_message);
            for (;;) {
                auto have = std::span<const std::byte>(rx_.data() + rx_begin_, rx_end_ - rx_begin_);
                framing::cut c = framing_.template cut_stream<T>(have, scanned_);
                if (c.kind == framing::cut::complete) {
                    bool ok = framing_.decode(have.subspan(c.payload_off, c.payload_len), out, ec);
                    rx_begin_ += c.frame_len;
                    if (rx_begin_ == rx_end_) rx_begin_ = rx_end_ = 0;
                    if (!ok) return ec;
                    sync_.notify(transport_, direction::recv);
                    return {};
                }
                if (c.kind == framing::cut::invalid) {
                    // A stream cannot find the next frame after a bad one: refuse from now on.
                    broken_ = true;
                    return make_error_code(c.error);
                }
                if constexpr (writable_codec<T>) {
                    // Header (if any) complete, payload not started: read it straight into out.
                    if (c.need > have.size() && c.payload_off == have.size()) {
                        auto dst = codec<T>::writable(out, c.need - have.size());
                        if (dst.size() == c.need - have.size()) return recv_direct(dst, !have.empty(), dl);
                    }
                }
                std::span<std::byte> room = make_room(c.need);
                const bool mid = have.size() > 0;
                std::size_t n = transport_.read_some(room, mode_for(dl), ec);
                if (n > 0) { rx_end_ += n; continue; }
                if (is(ec, errc::peer_closed)) {
                    if (!mid) return ec;
                    broken_ = true;
                    return make_error_code(errc::truncated);
                }
                if (!is(ec, errc::would_block)) return ec ? ec : make_error_code(errc::peer_closed);
                ec.clear();
                // A timed-out receive keeps its partial frame buffered for the next call.
                if (!wait(direction::recv, dl, false, ec)) return ec;
            }
        } else {
            const std::size_t cap = framing_.template max_payload<T>();
            if (rx_.size() < cap) rx_.resize(cap);
            for (;;) {
                std::size_t n = transport_.recv_message(std::span<std::byte>(rx_.data(), cap), mode_for(dl), ec);
                if (!ec) {
                    auto payload = framing_.message_payload(std::span<const std::byte>(rx_.data(), n));
                    if (!framing_.decode(payload, out, ec)) return ec;
                    sync_.notify(transport_, direction::recv);
                    return {};
                }
                if (!is(ec, errc::would_block)) return ec;
                ec.clear();
                if (!wait(direction::recv, dl, false, ec)) return ec;
            }
        }
    }

    // Reads the rest of a frame into dst, the message's own storage. If the
    // call ends early (timeout, try_), the bytes read so far move to the
    // buffer behind the header, so the next call resumes the same frame.
    std::error_code recv_direct(std::span<std::byte> dst, bool mid, const deadline& dl) {
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
                return make_error_code(errc::truncated);
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
};

} // namespace ipc
