// ipc/rpc/asio.hpp: remote calls from an Asio event loop.
//
//   auto c = ipc::rpc::connect_unix(path);                  // or connect_tcp(host, port)
//   ipc::asio::attached client(io, c);
//   auto r = co_await ipc::asio::async_call<ExampleReply>(client, "Coordinator.Example", ExampleArgs{99}, asio::use_awaitable);
//   client.async_call_for<int>("Slow.Sleep", 5, 100ms, [](std::error_code ec, int r) { ... });
//
// Optional, like ipc/asio.hpp, which it includes: ipc/rpc.hpp does not
// include it (it needs Asio), and ipc/asio.hpp does not (an event loop with
// no remote calls should not compile them). Standalone Asio or Boost.Asio,
// chosen as ipc/asio.hpp says.
//
// Any number of calls may be in flight on one connection; replies come back
// in any order and each completes its own call, matched by id. Completion:
// void(std::error_code, R): the reply, or the handler's error (its code and
// words, as call() throws them), rpc::errc::unknown_method / type_mismatch,
// ipc::errc::timed_out (async_call_for/_until), ipc::errc::peer_closed or
// peer_dead when the connection ended: then every pending call completes at
// once. Cancelled (attached::cancel(), destruction, or with Asio >= 1.19 the
// token's cancellation slot): std::errc::operation_canceled. A call that timed
// out or was cancelled forgets its id, so its late reply is dropped.
//
// No thread is created. A call never waits to send: what the socket does
// not take at once goes out when it is writable. The method name and the
// arguments are read when the operation starts (at once for callbacks and
// use_future, at co_await for use_awaitable) and need live only until then.
// While it is attached, call through the attached object only (a blocking
// call would file replies the event loop is not told about). Over a Unix
// stream or TCP client: the links with one descriptor to wait on both ways.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../asio.hpp"
#include "client.hpp"

namespace ipc::detail {

// What an attached client shares with its calls in flight.
template <class Link, class Executor>
struct rpc_asio_state {
    using executor_type = Executor;
    using client_type = rpc::basic_client<Link>;

    // One call in flight: its timer is both its timeout and how the state
    // wakes it (cancelled when its reply is filed or the connection ends).
    struct waiter {
        explicit waiter(const Executor& ex) : timer(ex) {}
        virtual ~waiter() = default;
        waiter(const waiter&) = delete;
        waiter& operator=(const waiter&) = delete;
        virtual bool settled() const noexcept = 0;
        virtual void abandon() noexcept = 0;  // forget the id: a late reply is dropped
        net::steady_timer timer;
        bool woken = false;
    };

    rpc_asio_state(const Executor& e, client_type& c) : ex(e), client(&c), desc(e) {}
    ~rpc_asio_state() { close(); }

    // Registers the client's descriptor.
    bool init(std::error_code& ec) {
        const int fd = client->native_handle();
        if (fd < 0 || client->state() != status::ok) {
            ec = explain(make_error_code(errc::not_connected), "ipc::asio: the rpc client is not connected (descriptor %d)", fd);
            return false;
        }
        net_error_code e;
        desc.assign(fd, e);
        if (e) {
            ec = explain(static_cast<std::error_code>(e),
                         "ipc::asio: the rpc client's descriptor %d could not be registered with the io_context (attached twice?)", fd);
            return false;
        }
        return true;
    }

    void add(waiter* w) {
        calls.push_back(w);
        want_io();
    }
    void remove(waiter* w) noexcept { calls.erase(std::remove(calls.begin(), calls.end(), w), calls.end()); }

    // Waits for replies while a call waits for one, and for room while bytes are queued.
    void want_io() {
        if (closed) return;
        const bool open = client->state() == status::ok;
        if (!writing && open && client->has_queued()) {
            writing = true;
            desc.async_wait(net::posix::stream_descriptor::wait_write, [w = weak_self](const net_error_code& e) {
                if (auto s = w.lock()) s->on_ready(e, true);
            });
        }
        const bool waiting = std::any_of(calls.begin(), calls.end(), [](const waiter* x) { return !x->woken; });
        if (!reading && open && waiting) {
            reading = true;
            desc.async_wait(net::posix::stream_descriptor::wait_read, [w = weak_self](const net_error_code& e) {
                if (auto s = w.lock()) s->on_ready(e, false);
            });
        }
    }
    void on_ready(const net_error_code& e, bool write) {
        (write ? writing : reading) = false;
        if (closed || e == net::error::operation_aborted) return;
        // Either ends the client on a failure (state() says), which settles every call.
        std::error_code ec;
        if (write) (void)client->flush(ec);
        else (void)client->process_ready(ec);
        wake_settled();
        want_io();
    }
    void wake_settled() noexcept {
        for (waiter* w : calls)
            if (!w->woken && w->settled()) wake(*w);
    }
    static void wake(waiter& w) noexcept {
        w.woken = true;
        try {
            w.timer.cancel();
        } catch (...) {  // cancel() throws only on a failing reactor; the call then ends at its deadline
        }
    }

    void cancel() noexcept {
        for (waiter* w : calls) {
            w->abandon();
            wake(*w);
        }
    }
    // Forgets every call now, while the client is alive (their handlers run
    // later with operation_canceled), and unregisters the descriptor, which stays open.
    void close() noexcept {
        if (closed) return;
        closed = true;
        cancel();
        net_error_code e;
        (void)desc.cancel(e);
        if (desc.is_open()) (void)desc.release();
    }

    Executor ex;
    client_type* client;
    net::posix::stream_descriptor desc;
    std::weak_ptr<rpc_asio_state> weak_self;
    std::vector<waiter*> calls;  // each owned by its operation
    bool reading = false, writing = false, closed = false;
};

// One call: queue it, wait on its timer, then take the reply.
template <class R, class A, class Link, class Executor>
class rpc_call_op {
    using state = rpc_asio_state<Link, Executor>;
    struct call final : state::waiter {
        explicit call(const Executor& ex) : state::waiter(ex) {}
        bool settled() const noexcept override { return p.ready(); }
        void abandon() noexcept override { p = {}; }
        rpc::pending<R, Link> p;
    };

public:
    rpc_call_op(std::shared_ptr<state> st, std::string_view method, const A& args, const deadline& dl)
        : st_(std::move(st)), method_(method), args_(&args), dl_(dl) {}

    template <class Self>
    void operator()(Self& self, net_error_code wait_ec = {}) {
        switch (phase_) {
        case phase::start: return start(self);
        case phase::posted: return complete(self);
        case phase::waiting: break;
        }
        state& st = *st_;
        st.remove(call_.get());
        // Closed: the client may be gone; its calls were forgotten.
        if (st.closed) return complete(self, cancelled_code());
        if (call_->settled()) {
            std::error_code ec;
            const status s = call_->p.get(out_, ec);
            return complete(self, status_code(s, ec));
        }
        call_->abandon();
        if (!wait_ec) {
            return complete(self, explain(make_error_code(errc::timed_out), "rpc call '%.*s': no reply in time",
                                          static_cast<int>(method_.size()), method_.data()));
        }
        complete(self, cancelled_code());
    }

private:
    enum class phase : std::uint8_t { start, waiting, posted };

    template <class Self>
    void start(Self& self) {
#if IPC_ASIO_CANCELLATION_SLOTS
        // Nothing is lost by cancelling a call at any point: its reply is dropped.
        self.reset_cancellation_state(net::enable_total_cancellation());
#endif
        state& st = *st_;
        if (st.closed) return post(self, cancelled_code());
        std::error_code ec;
        auto p = st.client->template call_queued<R>(method_, *args_, ec);
        if (!p) {
            if (!ec) ec = status_code(st.client->state(), ec);
            return post(self, ec);
        }
        call_ = std::make_unique<call>(st.ex);
        call_->p = std::move(p);
        if (dl_.is_never()) call_->timer.expires_at(net::steady_timer::time_point::max());
        else call_->timer.expires_at(dl_.time_point());
        phase_ = phase::waiting;
        auto& timer = call_->timer;
        st.add(call_.get());  // before the move: self (and call_) then live in the wait
        timer.async_wait(std::move(self));
    }

    // A result found inside the initiating call is handed over later, from the executor.
    template <class Self>
    void post(Self& self, std::error_code ec) {
        ec_ = ec;
        phase_ = phase::posted;
        net::post(st_->ex, std::move(self));
    }
    template <class Self>
    void complete(Self& self, std::error_code ec) {
        ec_ = ec;
        complete(self);
    }
    template <class Self>
    void complete(Self& self) {
        call_.reset();
        auto keep = std::move(st_);  // the state outlives the handler's call
        R v = std::move(out_);
        self.complete(ec_, std::move(v));
    }

    std::shared_ptr<state> st_;
    std::string_view method_;
    const A* args_;
    deadline dl_;
    std::unique_ptr<call> call_;
    R out_{};
    std::error_code ec_;
    phase phase_ = phase::start;
};

}  // namespace ipc::detail

namespace ipc::asio {

// An rpc client attached to an executor: its calls complete through Asio.
// Movable; not for use from two threads at once (as Asio's own I/O objects).
// The client and the io_context outlive it.
template <class Link, class Executor>
class attached<rpc::basic_client<Link>, Executor>
    : public detail::attached_handle<attached<rpc::basic_client<Link>, Executor>, detail::rpc_asio_state<Link, Executor>, rpc::basic_client<Link>> {
    static_assert(rpc::basic_client<Link>::queueing,
                  "ipc::asio: rpc calls from an event loop run over a Unix stream or TCP client (rpc::connect_unix, "
                  "rpc::connect_tcp): a link whose descriptor can be waited on both ways");
    using base = detail::attached_handle<attached, detail::rpc_asio_state<Link, Executor>, rpc::basic_client<Link>>;
    friend base;

public:
    // attached(executor or io_context, client) registers the client's
    // descriptor and throws ipc::error (a client not connected);
    // attach(executor, client, ec) is its error_code twin. Destroying it, or
    // cancel(), cancels every call in flight (operation_canceled; their replies are dropped).
    using base::base;

    rpc::basic_client<Link>& source() const noexcept { return *st_->client; }

    // ---- calls: void(std::error_code, R) --------------------------------------

    template <class R, class A, class Token>
    auto async_call(std::string_view method, const A& args, Token&& token) {
        return start<R>(method, args, deadline::never(), std::forward<Token>(token));
    }
    template <class R, class A, class Rep, class Period, class Token>
    auto async_call_for(std::string_view method, const A& args, std::chrono::duration<Rep, Period> d, Token&& token) {
        return start<R>(method, args, deadline::after(d), std::forward<Token>(token));
    }
    template <class R, class A, class Clock, class Dur, class Token>
    auto async_call_until(std::string_view method, const A& args, std::chrono::time_point<Clock, Dur> tp, Token&& token) {
        return start<R>(method, args, deadline::until(tp), std::forward<Token>(token));
    }

private:
    using base::st_;
    attached() = default;

    template <class R, class A, class Token>
    auto start(std::string_view method, const A& args, const deadline& dl, Token&& token) {
        static_assert(decodable<R> && std::is_default_constructible_v<R>, "ipc::rpc: the reply type needs an ipc::codec and a default constructor");
        return net::async_compose<Token, void(std::error_code, R)>(detail::rpc_call_op<R, A, Link, Executor>(st_, method, args, dl), token, st_->ex);
    }
};

// The same calls as free functions, for those who read them so:
//   co_await ipc::asio::async_call<Reply>(client, "Method", args, asio::use_awaitable);
template <class R, class Link, class Executor, class A, class Token>
auto async_call(attached<rpc::basic_client<Link>, Executor>& c, std::string_view method, const A& args, Token&& token) {
    return c.template async_call<R>(method, args, std::forward<Token>(token));
}
template <class R, class Link, class Executor, class A, class Rep, class Period, class Token>
auto async_call_for(attached<rpc::basic_client<Link>, Executor>& c, std::string_view method, const A& args,
                    std::chrono::duration<Rep, Period> d, Token&& token) {
    return c.template async_call_for<R>(method, args, d, std::forward<Token>(token));
}

}  // namespace ipc::asio
