// <ipc/asio.hpp>: ipc channels in an Asio io_context, each fed or drained by
// another process: a shared-memory ring on sync::eventfd, the default
// shm_channel (sync::futex) opened by name by an exec'd program, Unix stream
// sockets, a POSIX queue, signals, a timer and a listener; callbacks,
// use_future and (where the compiler has them) coroutines; cancellation
// that loses no message and leaves the ring disarmed; many channels in one
// io_context; a peer closing or dying. Built twice: over standalone Asio, and
// over Boost.Asio with IPC_ASIO_BOOST defined.
#include <ipc/channel.hpp>
#include <ipc/timer.hpp>
#include <ipc/asio.hpp>

#include <poll.h>

#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "peer_program.hpp"
#include "ring_support.hpp"
#include "support.hpp"

namespace {

using namespace ipc_test;
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;
namespace net = ipc::asio::net;
using ipc::asio::attached;

using ring_transport = ipc::transport::posix_shm<ipc::ring::spsc<int>>;
using ring_channel = ipc::channel<int, ring_transport, ipc::sync::eventfd>;
using stream_channel = ipc::unix_stream_channel<int>;

const std::error_code cancelled{ECANCELED, std::system_category()};

// Runs io until done() or the time is up (then false): every wait is bounded.
template <class Pred>
bool run_until(net::io_context& io, Pred done, std::chrono::milliseconds limit = 10s) {
    const auto until = clk::now() + limit;
    io.restart();
    while (!done()) {
        if (clk::now() >= until) return false;
        io.run_one_for(std::chrono::milliseconds(20));
        if (io.stopped()) io.restart();
    }
    return true;
}

// A named spsc ring on sync::eventfd, its doorbells made before fork().
struct eventfd_ring {
    remover<ring_transport> region;
    ipc::sync::eventfd doorbells = ipc::sync::eventfd::create();

    explicit eventfd_ring(const std::string& tag) : region{unique_name(tag)} { (void)ring_transport::create(region.name, 8); }
    ring_channel end(ipc::direction d) {
        std::error_code ec;
        ring_channel ch(ring_transport::open(region.name), {}, doorbells.share(ec));
        REQUIRE_FALSE(ec);
        ch.transport().attach(d);
        return ch;
    }
};

// Sends 0..n-1, each after the last completed (callbacks only).
template <class Source>
struct send_chain {
    send_chain(attached<Source>& a, int count) : tx(a), n(count) {}
    attached<Source>& tx;
    int n;
    int i = 0;
    int v = 0;
    std::error_code err;
    bool done = false;
    void next() {
        if (i == n) {
            done = true;
            return;
        }
        v = i++;
        tx.async_send(v, [this](std::error_code ec) {
            if (ec) {
                err = ec;
                done = true;
                return;
            }
            next();
        });
    }
};
// Receives until n values came, counting those out of order.
template <class Source>
struct recv_chain {
    recv_chain(attached<Source>& a, int count) : rx(a), n(count) {}
    attached<Source>& rx;
    int n;
    int got = 0;
    int wrong = 0;
    int v = -1;
    std::error_code err;
    bool done = false;
    void next() {
        if (got == n) {
            done = true;
            return;
        }
        rx.async_recv(v, [this](std::error_code ec) {
            if (ec) {
                err = ec;
                done = true;
                return;
            }
            wrong += v != got;
            ++got;
            next();
        });
    }
};

bool fd_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

}  // namespace

TEST_CASE("asio: a ring on sync::eventfd made before fork: a child's io_context sends, the parent's receives, both waiting") {
    constexpr int n = 3000;  // the ring holds 8: the sender waits for room, the receiver for data
    eventfd_ring ring("asio-ring");
    child producer([&] {
        ring_channel tx = ring.end(ipc::direction::send);
        net::io_context io;
        attached<ring_channel> a(io, tx);
        send_chain<ring_channel> s{a, n};
        s.next();
        if (!run_until(io, [&] { return s.done; }, 20s)) return 2;
        return s.err ? 3 : 0;
    });
    ring_channel rx = ring.end(ipc::direction::recv);
    net::io_context io;
    attached<ring_channel> a(io, rx);
    recv_chain<ring_channel> r{a, n};
    r.next();
    REQUIRE(run_until(io, [&] { return r.done; }, 20s));
    CHECK_FALSE(r.err);
    CHECK(r.got == n);
    CHECK(r.wrong == 0);
    CHECK(producer.wait() == child_ok);
    CHECK(rx.transport().waiters(ipc::direction::recv).load() == 0);  // disarmed after every wait
}

TEST_CASE("asio: a handler never runs inside the initiating call, even when the message is there already") {
    auto sp = stream_channel::transport_type::pair();
    stream_channel a(std::move(sp.first)), b(std::move(sp.second));
    REQUIRE(a.try_send(41) == ipc::status::ok);
    net::io_context io;
    attached<stream_channel> rx(io, b);
    int v = 0;
    bool called = false;
    rx.async_recv(v, [&](std::error_code ec) {
        CHECK_FALSE(ec);
        called = true;
    });
    CHECK_FALSE(called);
    REQUIRE(run_until(io, [&] { return called; }, 5s));
    CHECK(v == 41);
}

TEST_CASE("asio: a stream channel's second buffered frame completes while its descriptor is quiet (the drain rule)") {
    // Lines: a read takes what is there, so the first receive buffers the second line.
    using line_channel = ipc::channel<std::string, ipc::transport::unix_stream, ipc::sync::poll, ipc::framing::delimited>;
    auto sp = ipc::transport::unix_stream::pair();
    line_channel local(std::move(sp.first));
    child peer([&] {
        // Two lines in one write, straight to the socket.
        const std::string two = "seven\neight\n";
        const std::span<const std::byte> part = std::as_bytes(std::span<const char>(two));
        std::error_code ec;
        const std::size_t n = sp.second.write_some(std::span<const std::span<const std::byte>>(&part, 1), ipc::io_mode::blocking, ec);
        if (n != two.size()) return 1;
        line_channel rest(std::move(sp.second));
        std::string bye;
        return rest.recv_for(bye, 10s) == ipc::status::ok ? 0 : 2;  // alive, writing nothing, until told
    });
    sp.second = {};  // the child's end
    net::io_context io;
    attached<line_channel> rx(io, local);
    std::string v;
    int calls = 0;
    std::error_code got;
    rx.async_recv(v, [&](std::error_code ec) { got = ec, ++calls; });
    REQUIRE(run_until(io, [&] { return calls == 1; }, 5s));
    CHECK_FALSE(got);
    CHECK(v == "seven");
    CHECK(local.has_buffered_message());
    CHECK_FALSE(fd_readable(local.native_handle()));
    // The peer is gone and the socket is drained: only the buffer can complete it.
    rx.async_recv(v, [&](std::error_code ec) { got = ec, ++calls; });
    REQUIRE(run_until(io, [&] { return calls == 2; }, 5s));
    CHECK_FALSE(got);
    CHECK(v == "eight");
    REQUIRE(local.send("bye") == ipc::status::ok);
    REQUIRE(peer.wait() == child_ok);
    rx.async_recv(v, [&](std::error_code ec) { got = ec, ++calls; });
    REQUIRE(run_until(io, [&] { return calls == 3; }, 5s));
    CHECK(got == ipc::errc::peer_closed);
}

#if IPC_ASIO_HAS_CO_AWAIT

// Standalone Asio takes std::error_code as its own (co_await throws on failure);
// Boost.Asio hands it back as the co_await's value.
#ifdef IPC_ASIO_BOOST
#define IPC_AWAIT_OK(op)                                        \
    do {                                                        \
        const std::error_code awaited_ec_ = co_await (op);      \
        if (awaited_ec_) throw ipc::error(awaited_ec_, #op);    \
    } while (0)
#else
#define IPC_AWAIT_OK(op) co_await (op)
#endif

namespace {
// value + 1 back, n times, over a ring pair and a Unix stream at once.
net::awaitable<void> echo(attached<ring_channel>& in, attached<ring_channel>& out, int n) {
    int v = 0;
    for (int i = 0; i < n; ++i) {
        IPC_AWAIT_OK(in.async_recv(v, net::use_awaitable));
        ++v;
        IPC_AWAIT_OK(out.async_send(v, net::use_awaitable));
    }
}
net::awaitable<void> echo(attached<stream_channel>& s, int n) {
    int v = 0;
    for (int i = 0; i < n; ++i) {
        IPC_AWAIT_OK(s.async_recv(v, net::use_awaitable));
        v *= 2;
        IPC_AWAIT_OK(s.async_send(v, net::use_awaitable));
    }
}
net::awaitable<void> ask(attached<ring_channel>& out, attached<ring_channel>& in, int n, int& bad) {
    int v = 0;
    for (int i = 0; i < n; ++i) {
        IPC_AWAIT_OK(out.async_send(i, net::use_awaitable));
        IPC_AWAIT_OK(in.async_recv(v, net::use_awaitable));
        bad += v != i + 1;
    }
}
net::awaitable<void> ask(attached<stream_channel>& s, int n, int& bad) {
    int v = 0;
    for (int i = 0; i < n; ++i) {
        IPC_AWAIT_OK(s.async_send(i, net::use_awaitable));
        IPC_AWAIT_OK(s.async_recv(v, net::use_awaitable));
        bad += v != 2 * i;
    }
}
// co_spawn's completion: records an escaped exception.
struct spawned {
    int* finished;
    std::string* failure;
    void operator()(std::exception_ptr e) const {
        ++*finished;
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            *failure = x.what();
        }
    }
};
}  // namespace

TEST_CASE("asio: coroutines (use_awaitable) on both sides, a ring pair and a Unix stream in one io_context each") {
    constexpr int n = 500;
    eventfd_ring up("asio-up"), down("asio-down");
    auto sp = stream_channel::transport_type::pair();
    child server([&] {
        ring_channel in = down.end(ipc::direction::recv);
        ring_channel out = up.end(ipc::direction::send);
        stream_channel s(std::move(sp.second));
        net::io_context io;
        attached<ring_channel> ain(io, in), aout(io, out);
        attached<stream_channel> as(io, s);
        int finished = 0;
        std::string failure;
        net::co_spawn(io, echo(ain, aout, n), spawned{&finished, &failure});
        net::co_spawn(io, echo(as, n), spawned{&finished, &failure});
        if (!run_until(io, [&] { return finished == 2; }, 20s)) return 2;
        if (!failure.empty()) std::fprintf(stderr, "server: %s\n", failure.c_str());
        return failure.empty() ? 0 : 3;
    });
    sp.second = {};
    ring_channel out = down.end(ipc::direction::send);
    ring_channel in = up.end(ipc::direction::recv);
    stream_channel s(std::move(sp.first));
    net::io_context io;
    attached<ring_channel> aout(io, out), ain(io, in);
    attached<stream_channel> as(io, s);
    int finished = 0, bad_ring = 0, bad_stream = 0;
    std::string failure;
    net::co_spawn(io, ask(aout, ain, n, bad_ring), spawned{&finished, &failure});
    net::co_spawn(io, ask(as, n, bad_stream), spawned{&finished, &failure});
    REQUIRE(run_until(io, [&] { return finished == 2; }, 20s));
    CHECK_MESSAGE(failure.empty(), failure);
    CHECK(bad_ring == 0);
    CHECK(bad_stream == 0);
    CHECK(server.wait() == child_ok);
}
#endif

TEST_CASE("asio: use_future over a POSIX queue, with the priority each message came with") {
    std::string name = "/" + unique_name("mq");
    struct gone {
        std::string n;
        ~gone() {
            std::error_code ec;
            (void)ipc::transport::posix_mq::remove(n, ec);
        }
    } cleanup{name};
    ipc::transport::posix_mq_options o;
    o.max_messages = 4;
    o.message_size = 64;
    (void)ipc::transport::posix_mq::create(name, o);
    using mq_channel = ipc::posix_mq_channel<int>;
    mq_channel rx(ipc::transport::posix_mq::open(name, ipc::transport::mq_access::recv));
    net::io_context io;
    attached<mq_channel> a(io, rx);
    int v = 0;
    mq_channel::recv_info info;
    auto first = a.async_recv(v, info, net::use_future);
    child sender([&] {
        mq_channel tx(ipc::transport::posix_mq::open(name, ipc::transport::mq_access::send));
        std::this_thread::sleep_for(50ms);  // the parent is parked by now
        return tx.send(11, {.priority = 3}) == ipc::status::ok ? 0 : 1;
    });
    REQUIRE(run_until(io, [&] { return first.wait_for(0s) == std::future_status::ready; }, 10s));
    first.get();  // throws if it failed
    CHECK(v == 11);
    CHECK(info.priority == 3);
    CHECK(sender.wait() == child_ok);
    // The parent's own sends: the higher priority is taken first.
    mq_channel tx(ipc::transport::posix_mq::open(name, ipc::transport::mq_access::send));
    attached<mq_channel> atx(io, tx);
    auto s1 = atx.async_send(1, {.priority = 1}, net::use_future);
    REQUIRE(run_until(io, [&] { return s1.wait_for(0s) == std::future_status::ready; }, 5s));
    s1.get();
    auto s2 = atx.async_send(9, {.priority = 9}, net::use_future);
    REQUIRE(run_until(io, [&] { return s2.wait_for(0s) == std::future_status::ready; }, 5s));
    s2.get();
    auto second = a.async_recv(v, info, net::use_future);
    REQUIRE(run_until(io, [&] { return second.wait_for(0s) == std::future_status::ready; }, 5s));
    second.get();
    CHECK(v == 9);
    CHECK(info.priority == 9);
}

TEST_CASE("asio: a shutdown signal, a realtime signal channel and a timer, in one io_context") {
    const int rt = ipc::transport::realtime_signal(4);
    ipc::shutdown_signal stop({SIGTERM});
    auto sig_rx = ipc::signal_receiver<int>::open(rt);
    ipc::timer t;
    net::io_context io;
    attached a_stop(io, stop);
    attached a_sig(io, sig_rx);
    attached a_timer(io, t);
    int signo = 0, value = 0;
    std::uint64_t fired = 0;
    std::error_code e_stop, e_sig, e_timer;
    bool stopped = false, got = false, ticked = false;
    const auto t0 = clk::now();
    t.start_once(60ms);
    a_timer.async_wait([&](std::error_code ec, std::uint64_t n) {
        e_timer = ec, fired = n, ticked = true;
        CHECK(clk::now() - t0 >= 60ms);  // never early
    });
    a_sig.async_recv(value, [&](std::error_code ec) { e_sig = ec, got = true; });
    a_stop.async_wait([&](std::error_code ec, int s) { e_stop = ec, signo = s, stopped = true; });
    const pid_t parent = ::getpid();
    child sender([&] {
        std::this_thread::sleep_for(20ms);
        auto tx = ipc::signal_sender<int>::open(parent, rt);
        if (tx.try_send(77) != ipc::status::ok) return 1;
        return ::kill(parent, SIGTERM) == 0 ? 0 : 2;
    });
    REQUIRE(run_until(io, [&] { return stopped && got && ticked; }, 10s));
    CHECK_FALSE(e_stop);
    CHECK(signo == SIGTERM);
    CHECK(stop.signal() == SIGTERM);
    CHECK_FALSE(e_sig);
    CHECK(value == 77);
    CHECK_FALSE(e_timer);
    CHECK(fired == 1);
    CHECK(sender.wait() == child_ok);
    // The shutdown event stays set: a later wait completes at once.
    bool again = false;
    a_stop.async_wait([&](std::error_code ec, int s) { again = !ec && s == SIGTERM; });
    REQUIRE(run_until(io, [&] { return again; }, 2s));
}

TEST_CASE("asio: async_accept on a Unix listener, then the accepted connection's messages") {
    temp_dir dir;
    const auto addr = ipc::transport::unix_address::path(dir / "s");
    auto listener = ipc::transport::unix_stream_listener::listen(addr);
    net::io_context io;
    attached al(io, listener);
    std::optional<stream_channel> conn;
    std::error_code e_accept;
    bool accepted = false;
    al.async_accept([&](std::error_code ec, ipc::transport::unix_stream s) {
        e_accept = ec, accepted = true;
        if (!ec) conn.emplace(std::move(s));
    });
    child client([&] {
        stream_channel c(ipc::transport::unix_stream::connect(addr, 5s));
        for (int i = 1; i <= 3; ++i)
            if (c.send(i * 10) != ipc::status::ok) return 1;
        return 0;
    });
    REQUIRE(run_until(io, [&] { return accepted; }, 10s));
    REQUIRE_FALSE(e_accept);
    REQUIRE(conn);
    attached<stream_channel> ac(io, *conn);
    int sum = 0, v = 0, calls = 0;
    std::error_code last;
    std::function<void()> more = [&] {
        ac.async_recv(v, [&](std::error_code ec) {
            ++calls;
            last = ec;
            if (ec) return;
            sum += v;
            more();
        });
    };
    more();
    REQUIRE(run_until(io, [&] { return bool(last); }, 10s));
    CHECK(sum == 60);
    CHECK(calls == 4);
    CHECK(last == ipc::errc::peer_closed);  // the client exited
    CHECK(client.wait() == child_ok);
}

TEST_CASE("asio: a cancelled receive takes no message and leaves the ring disarmed; the next receive gets it") {
    eventfd_ring ring("asio-cancel");
    ring_channel rx = ring.end(ipc::direction::recv);
    net::io_context io;
    auto a = std::make_unique<attached<ring_channel>>(io, rx);
    int v = -1;
    std::error_code got;
    bool done = false;
    auto on_done = [&](std::error_code ec) { got = ec, done = true; };

    SUBCASE("by cancel()") {
        a->async_recv(v, on_done);
        CHECK_FALSE(run_until(io, [&] { return done; }, 50ms));  // parked: nothing to receive
        CHECK(rx.transport().waiters(ipc::direction::recv).load() == 1);
        a->cancel();
    }
#if IPC_ASIO_CANCELLATION_SLOTS
    net::cancellation_signal cs;  // outlives the operation bound to its slot
    SUBCASE("by the operation's cancellation slot") {
        a->async_recv(v, net::bind_cancellation_slot(cs.slot(), on_done));
        CHECK_FALSE(run_until(io, [&] { return done; }, 50ms));
        cs.emit(net::cancellation_type::terminal);
    }
#endif
    SUBCASE("by destroying the attached object") {
        a->async_recv(v, on_done);
        CHECK_FALSE(run_until(io, [&] { return done; }, 50ms));
        a.reset();
        CHECK(rx.transport().waiters(ipc::direction::recv).load() == 0);  // disarmed at once
        a = std::make_unique<attached<ring_channel>>(io, rx);
    }
    REQUIRE(run_until(io, [&] { return done; }, 5s));
    CHECK(got == cancelled);
    CHECK(got == std::errc::operation_canceled);
    CHECK(v == -1);
    CHECK(rx.transport().waiters(ipc::direction::recv).load() == 0);

    child sender([&] {
        ring_channel tx = ring.end(ipc::direction::send);
        return tx.try_send(5) == ipc::status::ok ? 0 : 1;
    });
    REQUIRE(sender.wait() == child_ok);
    done = false;
    a->async_recv(v, on_done);
    REQUIRE(run_until(io, [&] { return done; }, 5s));
    CHECK_FALSE(got);
    CHECK(v == 5);
}

TEST_CASE("asio: a second receive while one is pending is refused with errc::in_use; the first is unharmed") {
    auto p = ipc::pipe_channel<int>::create();
    net::io_context io;
    attached rx(io, p.receiver);
    int v1 = 0, v2 = 0;
    std::error_code e1, e2;
    bool d1 = false, d2 = false;
    rx.async_recv(v1, [&](std::error_code ec) { e1 = ec, d1 = true; });
    rx.async_recv(v2, [&](std::error_code ec) { e2 = ec, d2 = true; });
    REQUIRE(run_until(io, [&] { return d2; }, 5s));
    CHECK(e2 == ipc::errc::in_use);
    CHECK_FALSE(d1);
    child sender([&] { return p.sender.try_send(3) == ipc::status::ok ? 0 : 1; });
    REQUIRE(run_until(io, [&] { return d1; }, 5s));
    CHECK_FALSE(e1);
    CHECK(v1 == 3);
    CHECK(sender.wait() == child_ok);
}

TEST_CASE("asio: many channels in one io_context, each fed by its own child") {
    constexpr int pipes = 12, n = 200;
    std::vector<ipc::pipe_channel<int>> ps;
    for (int i = 0; i < pipes; ++i) ps.push_back(ipc::pipe_channel<int>::create());
    eventfd_ring ring("asio-many");
    std::vector<std::unique_ptr<child>> kids;
    for (int k = 0; k < pipes; ++k)
        kids.push_back(std::make_unique<child>([&, k] {
            for (int i = 0; i < n; ++i)
                if (ps[k].sender.send(i) != ipc::status::ok) return 1;
            return 0;
        }));
    kids.push_back(std::make_unique<child>([&] {
        ring_channel tx = ring.end(ipc::direction::send);
        for (int i = 0; i < n; ++i)
            if (tx.send_for(i, 10s) != ipc::status::ok) return 1;
        return 0;
    }));
    for (auto& p : ps) p.sender = {};  // the children hold the write ends now
    ring_channel rx = ring.end(ipc::direction::recv);
    net::io_context io;
    std::vector<std::unique_ptr<attached<ipc::pipe_receiver<int>>>> as;
    std::vector<std::unique_ptr<recv_chain<ipc::pipe_receiver<int>>>> chains;
    for (auto& p : ps) {
        as.push_back(std::make_unique<attached<ipc::pipe_receiver<int>>>(io, p.receiver));
        chains.push_back(std::make_unique<recv_chain<ipc::pipe_receiver<int>>>(*as.back(), n));
        chains.back()->next();
    }
    attached<ring_channel> ar(io, rx);
    recv_chain<ring_channel> rc{ar, n};
    rc.next();
    auto all = [&] {
        for (auto& c : chains)
            if (!c->done) return false;
        return rc.done;
    };
    REQUIRE(run_until(io, all, 20s));
    for (auto& c : chains) {
        CHECK_FALSE(c->err);
        CHECK(c->got == n);
        CHECK(c->wrong == 0);
    }
    CHECK_FALSE(rc.err);
    CHECK(rc.got == n);
    for (auto& k : kids) CHECK(k->wait() == child_ok);
}

TEST_CASE("asio: a peer closing or dying completes the wait with its error code") {
    SUBCASE("a pipe's writer exits: errc::peer_closed") {
        auto p = ipc::pipe_channel<int>::create();
        net::io_context io;
        attached rx(io, p.receiver);
        int v = 0;
        std::error_code got;
        bool done = false;
        rx.async_recv(v, [&](std::error_code ec) { got = ec, done = true; });
        child writer([&] {
            std::this_thread::sleep_for(20ms);
            return 0;  // exits holding the only write end
        });
        p.sender = {};
        REQUIRE(run_until(io, [&] { return done; }, 10s));
        CHECK(got == ipc::errc::peer_closed);
        CHECK(writer.wait() == child_ok);
    }
    SUBCASE("a pipe's reader exits: the pending send's errc::peer_closed") {
        auto p = ipc::pipe_channel<int>::create(ipc::framing::fixed{}, 4096);
        child reader([&] {
            std::this_thread::sleep_for(30ms);
            return 0;
        });
        p.receiver = {};
        net::io_context io;
        attached tx(io, p.sender);
        send_chain<ipc::pipe_sender<int>> s{tx, 1 << 20};  // fills the pipe, then waits for room
        s.next();
        REQUIRE(run_until(io, [&] { return s.done; }, 10s));
        CHECK(s.err == ipc::errc::peer_closed);
        CHECK(reader.wait() == child_ok);
    }
    SUBCASE("a ring's sender alive but silent: each peer check parks again, and its late message arrives") {
        eventfd_ring ring("asio-late");
        ring_channel rx = ring.end(ipc::direction::recv);
        rx.transport().peer_check_interval(10ms);
        child late([&] {
            ring_channel tx = ring.end(ipc::direction::send);
            std::this_thread::sleep_for(150ms);  // about 15 peer checks
            return tx.try_send(9) == ipc::status::ok ? 0 : 1;
        });
        net::io_context io;
        attached<ring_channel> a(io, rx);
        int v = 0;
        std::error_code got;
        bool done = false;
        a.async_recv(v, [&](std::error_code ec) { got = ec, done = true; });
        REQUIRE(run_until(io, [&] { return done; }, 10s));
        CHECK_FALSE(got);
        CHECK(v == 9);
        CHECK(late.wait() == child_ok);
        CHECK(rx.transport().waiters(ipc::direction::recv).load() == 0);
    }
    SUBCASE("a ring's only sender is killed: errc::peer_dead within the peer check interval") {
        eventfd_ring ring("asio-dead");
        ring_channel rx = ring.end(ipc::direction::recv);
        rx.transport().peer_check_interval(50ms);
        child doomed([&] {
            ring_channel tx = ring.end(ipc::direction::send);
            ::raise(SIGKILL);
            return 1;
        });
        CHECK(doomed.wait() == -SIGKILL);
        net::io_context io;
        attached<ring_channel> a(io, rx);
        int v = 0;
        std::error_code got;
        bool done = false;
        const auto t0 = clk::now();
        a.async_recv(v, [&](std::error_code ec) { got = ec, done = true; });
        REQUIRE(run_until(io, [&] { return done; }, 10s));
        CHECK(got == ipc::errc::peer_dead);
        CHECK(clk::now() - t0 < 5s);
        CHECK(rx.transport().waiters(ipc::direction::recv).load() == 0);
    }
}

TEST_CASE("asio: attaching registers the descriptor once and leaves it open; errors are words, not crashes") {
    const int before = open_fd_count();
    {
        auto p = ipc::pipe_channel<int>::create();
        net::io_context io;
        {
            attached rx(io, p.receiver);
            std::error_code ec;
            auto twice = attached<ipc::pipe_receiver<int>>::attach(io.get_executor(), p.receiver, ec);
            CHECK(ec);  // one registration per descriptor and io_context
            CHECK_FALSE(ipc::last_error_detail(ec).empty());
        }
        CHECK(fcntl(p.receiver.native_handle(), F_GETFD) != -1);  // still open, still the channel's
        attached again(io, p.receiver);  // unregistered by the destructor: attachable again
        CHECK(p.sender.try_send(1) == ipc::status::ok);
        int v = 0;
        bool done = false;
        again.async_recv(v, [&](std::error_code ec) { done = !ec; });
        REQUIRE(run_until(io, [&] { return done; }, 5s));
        CHECK(v == 1);
    }
    CHECK(open_fd_count() == before);
    // A ring whose policy has no descriptors says so when it would wait.
    eventfd_ring ring("asio-nofd");
    ring_channel bare(ring_transport::open(ring.region.name));  // sync::eventfd{}: no eventfds
    net::io_context io;
    attached<ring_channel> a(io, bare);
    int v = 0;
    std::error_code got;
    bool done = false;
    a.async_recv(v, [&](std::error_code ec) { got = ec, done = true; });
    REQUIRE(run_until(io, [&] { return done; }, 5s));
    CHECK(got == ipc::errc::not_connected);
}

// ---- the default shm_channel (sync::futex), opened by name by an exec'd program ----

namespace {

using futex_region = ipc::transport::posix_shm<ipc::ring::spsc<long>>;
using futex_channel = ipc::shm_channel<long>;
static_assert(std::is_same_v<futex_channel::sync_type, ipc::sync::futex>);

using futex_rings = ring_pair<futex_region>;

}  // namespace

TEST_CASE("asio + futex ring: an exec'd program opens the rings by name; round trips, a burst both ways, then its leaving") {
    futex_rings r("asio-fx");
    auto tx = futex_channel::open(r.to.name);
    auto rx = futex_channel::open(r.from.name);
    // Long: the close at the end must come by the doorbell, not by a peer check.
    rx.transport().peer_check_interval(60s);
    peer_program peer({"echo", r.to.name, r.from.name, "20"});
    net::io_context io;
    attached out(io, tx);
    attached in(io, rx);

    // Round trips, each side parked (the peer in its poller, this one in the
    // io_context); every tenth after a pause, so the peer is surely asleep.
    long sent = 0, got = 0;
    for (long i = 1; i <= 100; ++i) {
        if (i % 10 == 0) std::this_thread::sleep_for(10ms);
        sent = i;
        std::error_code se{make_error_code(ipc::errc::would_block)}, re{se};
        bool sd = false, rd = false;
        out.async_send(sent, [&](std::error_code ec) { se = ec, sd = true; });
        in.async_recv(got, [&](std::error_code ec) { re = ec, rd = true; });
        REQUIRE(run_until(io, [&] { return sd && rd; }, 5s));
        REQUIRE_FALSE(se);
        REQUIRE_FALSE(re);
        CHECK(got == i);
    }

    // A burst far larger than both rings (8 slots): both directions wait for
    // room or messages in the same io_context.
    constexpr long first = 1000, burst = 2000;
    long next_out = first, next_in = first;
    std::error_code err;
    std::function<void()> send_next = [&] {
        if (next_out == first + burst || err) return;
        sent = next_out;
        out.async_send(sent, [&](std::error_code ec) {
            if (ec) err = ec;
            ++next_out;
            send_next();
        });
    };
    std::function<void()> recv_next = [&] {
        in.async_recv(got, [&](std::error_code ec) {
            if (ec) err = ec;
            if (ec) return;
            CHECK(got == next_in);
            if (++next_in < first + burst) recv_next();
        });
    };
    send_next();
    recv_next();
    REQUIRE(run_until(io, [&] { return next_in == first + burst || bool(err); }, 20s));
    CHECK_FALSE(err);
    CHECK(next_out == first + burst);
    CHECK(tx.transport().waiters(ipc::direction::send).load() == 0);
    CHECK(rx.transport().waiters(ipc::direction::recv).load() == 0);

    // The peer leaves while this side waits: peer_closed, by its doorbell.
    std::error_code closed_ec;
    bool done = false;
    const auto t0 = clk::now();
    in.async_recv(got, [&](std::error_code ec) { closed_ec = ec, done = true; });
    sent = -1;
    out.async_send(sent, [&](std::error_code ec) { CHECK_FALSE(ec); });
    REQUIRE(run_until(io, [&] { return done; }, 10s));
    CHECK(closed_ec == ipc::errc::peer_closed);
    CHECK(clk::now() - t0 < 5s);
    CHECK(peer.wait() == 0);
    CHECK(rx.transport().waiters(ipc::direction::recv).load() == 0);
}

TEST_CASE("asio + futex ring: the exec'd peer SIGKILLed while this side waits completes the receive with peer_dead") {
    futex_rings r("asio-fx-kill");
    auto tx = futex_channel::open(r.to.name);
    auto rx = futex_channel::open(r.from.name);
    constexpr auto interval = 100ms;
    rx.transport().peer_check_interval(interval);
    net::io_context io;
    attached in(io, rx);
    peer_program peer({"echo", r.to.name, r.from.name, "20"});
    // One round trip, so that the peer is attached as the sender of `from`.
    const long seven = 7;
    long v = 0;
    std::error_code got{make_error_code(ipc::errc::would_block)};
    bool done = false;
    {
        attached out(io, tx);
        out.async_send(seven, [](std::error_code ec) { CHECK_FALSE(ec); });
        in.async_recv(v, [&](std::error_code ec) { got = ec, done = true; });
        REQUIRE(run_until(io, [&] { return done; }, 5s));
        REQUIRE_FALSE(got);
        CHECK(v == seven);
    }
    done = false;
    in.async_recv(v, [&](std::error_code ec) { got = ec, done = true; });
    CHECK_FALSE(run_until(io, [&] { return done; }, 50ms));  // parked: the peer is alive and silent
    ::kill(peer.pid(), SIGKILL);
    CHECK(peer.wait() == -SIGKILL);
    const auto t0 = clk::now();
    REQUIRE(run_until(io, [&] { return done; }, 10s));
    CHECK(got == ipc::errc::peer_dead);
    // One interval from the last check at most; slack for a loaded machine.
    CHECK(clk::now() - t0 < interval + 900ms);
    CHECK(rx.transport().waiters(ipc::direction::recv).load() == 0);
}

TEST_CASE("asio + futex ring: an end the ring cannot take (a second receiver of an spsc ring) completes with in_use, not a wait") {
    remover<futex_region> name{unique_name("asio-fx-busy")};
    (void)futex_region::create(name.name, 8);
    auto first = futex_channel::open(name.name);
    long v = 0;
    REQUIRE(first.try_recv(v) == ipc::status::would_block);  // takes the receiving end
    auto second = futex_channel::open(name.name);
    net::io_context io;
    attached a(io, second);
    std::error_code got;
    bool done = false;
    a.async_recv(v, [&](std::error_code ec) { got = ec, done = true; });
    REQUIRE(run_until(io, [&] { return done; }, 5s));
    CHECK(got == ipc::errc::in_use);
}
