// ipc/asio.hpp: ipc channels, listeners, shutdown signals and timers in an Asio event loop.
//
//   asio::io_context io;
//   ipc::asio::attached jobs(io, jobs_channel);  // any channel ipc::poller takes
//   co_await jobs.async_recv(job, asio::use_awaitable);
//   jobs.async_send(reply, [](std::error_code ec) { ... });
//   auto f = jobs.async_recv(job, asio::use_future);
//
// Optional: nothing else in ipc includes it. It works with standalone Asio
// (Debian libasio-dev, <asio.hpp>, namespace ::asio) or Boost.Asio: define
// IPC_ASIO_BOOST, or include <boost/asio.hpp> (and not <asio.hpp>) first.
// ipc::asio::net names the one chosen.
//
// A source is attached once to an executor: its descriptor is registered with
// the io_context for the attached object's life, not per operation (a
// registration is two epoll_ctl calls). The descriptor stays the source's:
// it is never closed here. What can be attached, and what it waits for:
//   - a channel whose transport has a descriptor (pipe, FIFO, Unix and inet
//     sockets, POSIX mq, eventfd, signal channels): async_recv, async_send;
//   - a shared-memory ring channel whose sync policy meets
//     ipc::sync::pollable (parks with arm(), its native_handle(d), disarm()):
//     the default sync::futex (its doorbell, so a ring opened by name by an
//     unrelated program), or sync::eventfd. A policy's prepare(t, d, ec) is
//     called at attach time for a one-way end, else at the first operation
//     in each direction, and its error is reported there;
//   - a listener: async_accept, completing with the connected transport;
//   - ipc::shutdown_signal: async_wait, with the signal number;
//   - ipc::timer: async_wait, with the number of expirations taken.
//
// Each operation follows the poller's drain rule: it tries first (try_recv,
// try_send, ...) and waits on the descriptor only on would_block, so a
// stream channel's buffered frame or a message sent before the call
// completes at once (never inside the initiating call: it is posted).
// Completion: void(std::error_code[, result]): ipc::errc::peer_closed when
// the peer closed, errc::peer_dead when every shared-memory peer died
// (checked every transport().peer_check_interval() while a ring waits, by a
// timer that stops at the first check finding nothing parked: run() may
// return up to one interval after a ring's last wait),
// std::errc::operation_canceled (== asio::error::operation_aborted with
// standalone Asio) when cancelled. Standalone Asio takes std::error_code as
// its own: use_awaitable and use_future throw std::system_error on failure.
// Boost.Asio has its own error_code and hands a std::error_code back as a
// value (co_await returns it, or a tuple of it and the result).
//
// Cancellation: cancel(), destruction, or (Asio >= 1.19) the per-operation
// cancellation slot of the token (all types). A cancelled operation has
// moved nothing: a cancelled receive took no message, and its ring is
// disarmed. One operation per direction at a time (a second is errc::in_use).
// No thread is created; handlers run where the executor runs them.
//
// Lifetimes: the source and the io_context outlive the attached object (as
// for Asio's own I/O objects), and a value passed to an
// operation lives until it completes (as Asio's buffers). Destroying the
// attached object disarms a parked ring at once and never touches the
// source again; its handlers run later with operation_canceled.
#pragma once

#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#include "detail/asio_ops.hpp"
#include "error.hpp"

namespace ipc::asio {

// A source attached to an executor (see the top of this file). Movable; not
// for use from two threads at once (as Asio's own I/O objects).
template <class Source, class Executor = net::any_io_executor>
class attached : public detail::attached_handle<attached<Source, Executor>, detail::asio_state<Source, Executor>, Source> {
    static_assert(detail::asio_source<Source>,
                  "ipc::asio::attached takes a channel with a descriptor (pipe, FIFO, socket, POSIX mq, eventfd, "
                  "signal), a shared-memory ring on a pollable sync policy (sync::futex, the default, or "
                  "sync::eventfd), a listener, ipc::shutdown_signal or ipc::timer; a System V queue, or a ring on "
                  "spin, semaphores or none, has nothing an event loop can wait on (use a POSIX queue, or sync::futex)");
    using base = detail::attached_handle<attached, detail::asio_state<Source, Executor>, Source>;
    friend base;

public:
    using typename base::executor_type;
    // Channels only: the message type and the transport's per-message options.
    using value_type = typename detail::asio_types<Source>::value;
    using recv_info = typename detail::asio_types<Source>::info;
    using send_options = typename detail::asio_types<Source>::options;

    // attached(executor or io_context, source) registers the source's
    // descriptor (a ring's: at its first wait) and throws ipc::error;
    // attach(executor, source, ec) is its error_code twin.
    using base::base;

    Source& source() const noexcept { return *st_->src; }

    // ---- channels: void(std::error_code) ------------------------------------

    template <class Token>
    auto async_recv(value_type& out, Token&& token) requires detail::asio_receiver<Source> {
        return start(detail::asio_recv<Source, detail::asio_none>{{}, &out, nullptr}, std::forward<Token>(token));
    }
    // With what the transport tells about the message (a POSIX queue's priority, a sender).
    template <class Token>
    auto async_recv(value_type& out, recv_info& info, Token&& token)
        requires detail::asio_receiver_with_info<Source> {
        return start(detail::asio_recv<Source, recv_info>{{}, &out, &info}, std::forward<Token>(token));
    }
    template <class Token>
    auto async_send(const value_type& v, Token&& token) requires detail::asio_sender<Source> {
        return start(detail::asio_send<Source, detail::asio_none>{&v, nullptr}, std::forward<Token>(token));
    }
    template <class Token>
    auto async_send(const value_type& v, const send_options& o, Token&& token)
        requires detail::asio_sender_with_options<Source> {
        return start(detail::asio_send<Source, send_options>{&v, &o}, std::forward<Token>(token));
    }

    // ---- listeners: void(std::error_code, connected transport) ------------

    template <class Token>
    auto async_accept(Token&& token) requires detail::asio_listener<Source> {
        return start(detail::asio_accept<Source>{}, std::forward<Token>(token));
    }

    // ---- shutdown_signal: void(std::error_code, int signal) ---------------
    // ---- ipc::timer: void(std::error_code, std::uint64_t expirations) ----

    template <class Token>
    auto async_wait(Token&& token) requires detail::latched_signal<Source> {
        return start(detail::asio_signal_wait<Source>{}, std::forward<Token>(token));
    }
    template <class Token>
    auto async_wait(Token&& token) requires detail::asio_timer<Source> && (!detail::latched_signal<Source>) {
        return start(detail::asio_timer_wait<Source>{}, std::forward<Token>(token));
    }

private:
    using base::st_;
    attached() = default;

    template <class Attempt, class Token>
    auto start(Attempt a, Token&& token) {
        return net::async_compose<Token, typename Attempt::signature>(detail::asio_op<Source, Executor, Attempt>(st_, std::move(a)),
                                                               token, st_->ex);
    }
};

template <class Context, class Source>
    requires std::is_convertible_v<Context&, net::execution_context&>
attached(Context&, Source&) -> attached<Source>;
template <class Executor, class Source>
    requires(!std::is_convertible_v<Executor&, net::execution_context&>)
attached(const Executor&, Source&) -> attached<Source, Executor>;

}  // namespace ipc::asio
