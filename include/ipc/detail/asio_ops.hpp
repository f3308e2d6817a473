// ipc/detail/asio_ops.hpp: the Asio backend <ipc/asio.hpp> was given, and what
// one attached source shares with its operations (state, the operation, the attempts).
#pragma once

#if defined(IPC_ASIO_BOOST) || (defined(BOOST_ASIO_VERSION) && !defined(ASIO_VERSION))
#include <boost/asio.hpp>
#ifndef IPC_ASIO_BOOST
#define IPC_ASIO_BOOST 1
#endif
#define IPC_ASIO_VERSION BOOST_ASIO_VERSION
#else
#include <asio.hpp>
#define IPC_ASIO_VERSION ASIO_VERSION
#endif

#include <cerrno>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#include "../basic_channel.hpp"
#include "../concepts.hpp"
#include "../error.hpp"
#include "../poller.hpp"  // detail::is_channel, latched_signal, has_descriptor
#include "../status.hpp"
#include "../timer.hpp"

// C++20 coroutines (asio::use_awaitable): g++ 11+; not clang 14 over libstdc++.
#if defined(ASIO_HAS_CO_AWAIT) || defined(BOOST_ASIO_HAS_CO_AWAIT)
#define IPC_ASIO_HAS_CO_AWAIT 1
#else
#define IPC_ASIO_HAS_CO_AWAIT 0
#endif

// Per-operation cancellation slots came with Asio 1.19 (Boost 1.77).
#if IPC_ASIO_VERSION >= 101900
#define IPC_ASIO_CANCELLATION_SLOTS 1
#else
#define IPC_ASIO_CANCELLATION_SLOTS 0
#endif

namespace ipc::asio {
#ifdef IPC_ASIO_BOOST
namespace net = ::boost::asio;
#else
namespace net = ::asio;
#endif
}  // namespace ipc::asio

namespace ipc::detail {

namespace net = ipc::asio::net;
#ifdef IPC_ASIO_BOOST
using net_error_code = ::boost::system::error_code;
#else
using net_error_code = ::asio::error_code;
#endif

template <class Ch>
concept asio_fd_channel = is_channel<Ch> && transport::pollable<typename Ch::transport_type>;
template <class Ch>
concept asio_ring_channel = is_channel<Ch> && transport::memory_transport<typename Ch::transport_type> &&
                            sync::pollable<typename Ch::sync_type, typename Ch::transport_type>;
template <class L>
concept asio_listener = has_descriptor<L> && requires(L& l, const deadline& dl, std::error_code& ec) {
    l.accept_until(dl, ec);
};
template <class T>
concept asio_timer = has_descriptor<T> && requires(T& t) {
    { t.take() } -> std::same_as<std::uint64_t>;
};
template <class S>
concept asio_receiver = is_channel<S> && S::can_recv;
template <class S>
concept asio_sender = is_channel<S> && S::can_send;
template <class S>
concept asio_receiver_with_info = asio_receiver<S> && S::with_info;
template <class S>
concept asio_sender_with_options = asio_sender<S> && S::with_options;

// A source's channel types, or placeholders where it is not a channel (so
// that attached<timer> declares async_recv without naming timer::value_type).
struct asio_none {};
template <class S>
struct asio_types {
    using value = asio_none;
    using info = asio_none;
    using options = asio_none;
};
template <class S>
    requires is_channel<S>
struct asio_types<S> {
    using value = typename S::value_type;
    using info = typename S::recv_info;
    using options = typename S::send_options;
};

template <class S>
concept asio_source = asio_fd_channel<S> || asio_ring_channel<S> || asio_listener<S> || latched_signal<S> ||
                      asio_timer<S>;

// A channel call's status as the error_code an Asio completion carries.
inline std::error_code status_code(status st, std::error_code ec) noexcept {
    switch (st.value()) {
    case status::ok: return {};
    case status::would_block: return make_error_code(errc::would_block);
    case status::timed_out: return make_error_code(errc::timed_out);
    case status::closed: return make_error_code(errc::peer_closed);
    case status::peer_dead: return make_error_code(errc::peer_dead);
    case status::dropped: return make_error_code(errc::dropped);
    case status::failed: break;
    }
    return ec;
}
// ECANCELED in the system category: equal to standalone Asio's operation_aborted.
inline std::error_code cancelled_code() noexcept { return {ECANCELED, std::system_category()}; }

// What one attached source shares with its operations (which may outlive the
// attached object: a cancelled handler runs later).
template <class Source, class Executor>
struct asio_state {
    static constexpr bool ring = asio_ring_channel<Source>;
    static constexpr bool checks_peers = [] {
        if constexpr (ring) return transport::watches_peers<typename Source::transport_type>;
        else return false;
    }();

    using executor_type = Executor;

    asio_state(const Executor& e, Source& s) : ex(e), src(&s), desc{net::posix::stream_descriptor(e), net::posix::stream_descriptor(e)}, check(e) {}
    ~asio_state() { close(); }

    // Registers the source's descriptor (a ring's: at its first wait).
    bool init(std::error_code& ec) {
        if constexpr (!ring) {
            return assign(src->native_handle(), 0, ec);
        } else if constexpr (Source::can_recv != Source::can_send) {
            // A one-way end registers now. An end that may do both takes its
            // role at its first operation, which prepares (and reports) then.
            return prepare(Source::can_recv ? direction::recv : direction::send, ec);
        }
        return true;
    }

    static std::size_t idx(direction d) noexcept { return d == direction::recv ? 0 : 1; }

    // The descriptor a wait in direction d parks on (fd sources: one for both).
    net::posix::stream_descriptor& desc_for(direction d) noexcept {
        if constexpr (ring) return desc[shared_fd ? 0 : idx(d)];
        else return desc[0];
    }

    bool assign(int fd, std::size_t i, std::error_code& ec) {
        if (fd < 0) {
            ec = explain(std::make_error_code(std::errc::bad_file_descriptor),
                         "ipc::asio: the source has no open descriptor (closed, or moved from)");
            return false;
        }
        net_error_code e;
        desc[i].assign(fd, e);
        if (e) {
            ec = explain(static_cast<std::error_code>(e),
                         "ipc::asio: descriptor %d could not be registered with the io_context (attached twice?)", fd);
            return false;
        }
        return true;
    }

    // A policy that registers with the region (sync::futex: its doorbell and
    // this end's peer slot) says here why it cannot, not as a wait never woken.
    bool prepare(direction d, std::error_code& ec) {
        if constexpr (ring) {
            auto& policy = src->sync_policy();
            if constexpr (requires { { policy.prepare(src->transport(), d, ec) } -> std::same_as<bool>; })
                return policy.prepare(src->transport(), d, ec);
        }
        return true;
    }

    // A ring's doorbell descriptors come from its sync policy, at the first
    // wait in each direction (a policy may make them late).
    bool ring_desc(direction d, std::error_code& ec) {
        if (desc_for(d).is_open()) return true;
        if (!prepare(d, ec)) return false;
        auto& ch = *src;
        const int fd = ch.sync_policy().native_handle(d);
        if (fd < 0) {
            ec = explain(make_error_code(errc::not_connected),
                         "ipc::asio: this ring channel's sync policy has no descriptor for the %s direction "
                         "(sync::eventfd: create() them before fork(), or receive them from the peer)",
                         d == direction::recv ? "receive" : "send");
            return false;
        }
        const direction other = d == direction::recv ? direction::send : direction::recv;
        if (desc[idx(other)].is_open() && ch.sync_policy().native_handle(other) == fd) {
            shared_fd = true;
            return true;
        }
        return assign(fd, idx(d), ec);
    }

    // Parks before a wait in direction d: false with ready set when the ring
    // is ready already (operate again instead of waiting).
    bool park(direction d, bool& ready, std::error_code& ec) {
        ready = false;
        if constexpr (ring) {
            if (!ring_desc(d, ec)) return false;
            if (!src->sync_policy().arm(src->transport(), d)) {
                ready = true;
                return false;
            }
            armed[idx(d)] = true;
            if constexpr (checks_peers) start_check();
        }
        waiting[idx(d)] = true;
        return true;
    }
    void unpark(direction d) noexcept {
        waiting[idx(d)] = false;
        if constexpr (ring) {
            if (armed[idx(d)]) src->sync_policy().disarm(src->transport(), d);
            armed[idx(d)] = false;
        }
    }

    // Every peer_check_interval while a ring wait is parked: the wait is
    // cancelled with check_due set, and the operation asks check_peers().
    // The timer stops when it finds nobody parked, so it costs nothing per wait.
    void start_check() {
        if (checking || closed) return;
        checking = true;
        check.expires_after(std::chrono::ceil<std::chrono::steady_clock::duration>(src->transport().peer_check_interval()));
        check.async_wait([w = weak_self](const net_error_code& e) {
            if (auto s = w.lock()) s->on_check(e);
        });
    }
    void on_check(const net_error_code& e) {
        checking = false;
        if (e || closed) return;
        for (direction d : {direction::recv, direction::send})
            if (waiting[idx(d)]) {
                check_due[idx(d)] = true;
                net_error_code ignored;
                (void)desc_for(d).cancel(ignored);
            }
    }
    std::error_code check_peers(direction d) {
        if constexpr (checks_peers) return src->transport().check_peers(d);
        else return {};
    }

    void cancel() noexcept {
        cancelled[0] = cancelled[1] = true;
        net_error_code e;
        for (auto& x : desc) (void)x.cancel(e);
    }
    // Disarms now (the source is alive now; a cancelled handler may run after it is gone).
    void close() noexcept {
        if (closed) return;
        closed = true;
        cancel();
        try {
            check.cancel();
        } catch (...) {
        }
        for (direction d : {direction::recv, direction::send})
            if (armed[idx(d)]) unpark(d);
        for (auto& x : desc)
            if (x.is_open()) (void)x.release();
    }

    Executor ex;
    Source* src;
    net::posix::stream_descriptor desc[2];  // [recv, send]
    net::steady_timer check;
    std::weak_ptr<asio_state> weak_self;
    bool busy[2] = {};       // an operation in that direction is pending
    bool waiting[2] = {};    // ... and parked on its descriptor
    bool armed[2] = {};      // ... and counted as parked on the ring
    bool check_due[2] = {};  // its wait was cancelled for a peer check
    bool cancelled[2] = {};  // cancel() was called during it
    bool shared_fd = false;  // one doorbell descriptor for both directions
    bool checking = false;
    bool closed = false;
};

// What every ipc::asio::attached is: a handle on the state it shares with its
// operations (which may outlive it), made by State::init, closed when the
// handle goes. Derived is the attached class, for attach().
template <class Derived, class State, class Source>
class attached_handle {
public:
    using executor_type = typename State::executor_type;
    using source_type = Source;

    // Throws ipc::error if State::init fails.
    attached_handle(const executor_type& ex, Source& s) {
        std::error_code ec;
        init(ex, s, ec);
        throw_if(ec, "ipc::asio::attached");
    }
    template <class Context>
        requires std::is_convertible_v<Context&, net::execution_context&>
    attached_handle(Context& ctx, Source& s) : attached_handle(executor_type(ctx.get_executor()), s) {}
    // The error_code twin of the constructors.
    static Derived attach(const executor_type& ex, Source& s, std::error_code& ec) {
        Derived a;
        a.init(ex, s, ec);
        return a;
    }

    attached_handle(attached_handle&&) noexcept = default;
    attached_handle& operator=(attached_handle&& o) noexcept {
        if (this != &o) {
            close();
            st_ = std::move(o.st_);
        }
        return *this;
    }
    // Cancels what is pending (its handlers run later with operation_canceled)
    // and unregisters the descriptor, which stays open.
    ~attached_handle() { close(); }

    executor_type get_executor() const noexcept { return st_->ex; }
    // Cancels every pending operation.
    void cancel() noexcept {
        if (st_) st_->cancel();
    }

protected:
    attached_handle() = default;

    std::shared_ptr<State> st_;

private:
    void init(const executor_type& ex, Source& s, std::error_code& ec) {
        st_ = std::make_shared<State>(ex, s);
        st_->weak_self = st_;
        if (!st_->init(ec)) st_.reset();
    }
    void close() noexcept {
        if (st_) st_->close();
    }
};

// One operation: try, and on would_block park on the descriptor and try again.
// Attempt: static constexpr direction dir; using result = ...;
// std::error_code operator()(Source&, result&).
template <class Source, class Executor, class Attempt>
class asio_op {
public:
    using result = typename Attempt::result;
    static constexpr direction dir = Attempt::dir;

    asio_op(std::shared_ptr<asio_state<Source, Executor>> st, Attempt a) : st_(std::move(st)), attempt_(std::move(a)) {}

    template <class Self>
    void operator()(Self& self, net_error_code wait_ec = {}) {
        auto& st = *st_;
        const std::size_t i = st.idx(dir);
        switch (phase_) {
        case phase::start:
#if IPC_ASIO_CANCELLATION_SLOTS
            // Nothing has moved while an operation waits: any cancellation type is honoured.
            self.reset_cancellation_state(net::enable_total_cancellation());
#endif
            if (st.closed) return post(self, cancelled_code());
            if (st.busy[i])
                return post(self, explain(make_error_code(errc::in_use),
                                          "ipc::asio: an operation in this direction is pending on this source already"));
            st.busy[i] = true;
            owns_ = true;
            st.cancelled[i] = false;
            return step(self, false);
        case phase::posted: return finish(self);
        case phase::waiting: {
            st.unpark(dir);
            // Closed: the source may be gone already, even if the wait succeeded.
            if (st.closed) return finish(self, cancelled_code());
            const bool due = std::exchange(st.check_due[i], false);
            if (wait_ec == net::error::operation_aborted) {
                if (st.cancelled[i] || user_cancelled(self) || !due) return finish(self, cancelled_code());
                if (auto dead = st.check_peers(dir)) return finish(self, dead);
            } else if (wait_ec) {
                return finish(self, static_cast<std::error_code>(wait_ec));
            }
            return step(self, true);
        }
        }
    }

private:
    enum class phase : std::uint8_t { start, waiting, posted };

    template <class Self>
    void step(Self& self, bool in_handler) {
        auto& st = *st_;
        for (;;) {
            std::error_code ec = attempt_(*st.src, value_);
            if (ec != errc::would_block) return in_handler ? finish(self, ec) : post(self, ec);
            ec.clear();
            bool ready = false;
            if (st.park(dir, ready, ec)) break;
            if (ec) return in_handler ? finish(self, ec) : post(self, ec);
        }
        phase_ = phase::waiting;
        st.desc_for(dir).async_wait(Attempt::writes ? net::posix::stream_descriptor::wait_write
                                                    : net::posix::stream_descriptor::wait_read,
                                    std::move(self));
    }

    template <class Self>
    static bool user_cancelled([[maybe_unused]] Self& self) noexcept {
#if IPC_ASIO_CANCELLATION_SLOTS
        return self.get_cancellation_state().cancelled() != net::cancellation_type::none;
#else
        return false;
#endif
    }

    // A result found inside the initiating call is handed over later, from the executor.
    template <class Self>
    void post(Self& self, std::error_code ec) {
        ec_ = ec;
        phase_ = phase::posted;
        net::post(st_->ex, std::move(self));
    }
    template <class Self>
    void finish(Self& self, std::error_code ec) {
        ec_ = ec;
        finish(self);
    }
    template <class Self>
    void finish(Self& self) {
        if (owns_) st_->busy[st_->idx(dir)] = false;
        auto keep = std::move(st_);  // the state outlives the handler's call
        const std::error_code ec = ec_;
        if constexpr (std::is_void_v<result_or_void>) {
            self.complete(ec);
        } else {
            result v = std::move(value_);
            self.complete(ec, std::move(v));
        }
    }
    using result_or_void = typename Attempt::completion;

    std::shared_ptr<asio_state<Source, Executor>> st_;
    Attempt attempt_;
    result value_{};
    std::error_code ec_;
    phase phase_ = phase::start;
    bool owns_ = false;  // set busy: clears it when done
};

// An attempt that waits for its descriptor to be readable.
struct asio_reading {
    static constexpr direction dir = direction::recv;
    static constexpr bool writes = false;
};

template <class Ch, class Opt>
struct asio_recv : asio_reading {
    using result = asio_none;
    using completion = void;
    using signature = void(std::error_code);
    typename Ch::value_type* out;
    Opt* info;
    std::error_code operator()(Ch& ch, asio_none&) const {
        std::error_code ec;
        status st = status::failed;
        if constexpr (std::is_same_v<Opt, asio_none>) st = ch.try_recv(*out, ec);
        else st = ch.try_recv(*out, *info, ec);
        return status_code(st, ec);
    }
};
template <class Ch, class Opt>
struct asio_send {
    static constexpr direction dir = direction::send;
    static constexpr bool writes = !asio_ring_channel<Ch>;  // a ring's room doorbell is readable
    using result = asio_none;
    using completion = void;
    using signature = void(std::error_code);
    const typename Ch::value_type* v;
    const Opt* opts;
    std::error_code operator()(Ch& ch, asio_none&) const {
        std::error_code ec;
        status st = status::failed;
        if constexpr (std::is_same_v<Opt, asio_none>) st = ch.try_send(*v, ec);
        else st = ch.try_send(*v, *opts, ec);
        return status_code(st, ec);
    }
};
template <class L>
struct asio_accept : asio_reading {
    using result = decltype(std::declval<L&>().accept_until(deadline::immediate(), std::declval<std::error_code&>()));
    using completion = result;
    using signature = void(std::error_code, completion);
    std::error_code operator()(L& l, result& out) const {
        std::error_code ec;
        out = l.accept_until(deadline::immediate(), ec);
        return ec;
    }
};
template <class S>
struct asio_signal_wait : asio_reading {
    using result = int;
    using completion = int;
    using signature = void(std::error_code, completion);
    std::error_code operator()(S& s, int& signo) const {
        if (!s.triggered()) return make_error_code(errc::would_block);
        signo = s.signal();
        return {};
    }
};
template <class T>
struct asio_timer_wait : asio_reading {
    using result = std::uint64_t;
    using completion = std::uint64_t;
    using signature = void(std::error_code, completion);
    std::error_code operator()(T& t, std::uint64_t& n) const {
        n = t.take();
        return n ? std::error_code{} : make_error_code(errc::would_block);
    }
};

}  // namespace ipc::detail
