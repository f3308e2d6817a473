// Remote calls from an Asio event loop (ipc/rpc/asio.hpp), each against a
// server in a forked process: the classic call from a coroutine, callbacks
// and use_future; calls in flight on one connection answered out of order;
// calls whose bytes the socket cannot take at once; a per-call timeout and
// cancellation, whose late replies are dropped; a killed server ending every
// pending call at once; TCP. Built twice: over standalone Asio, and over
// Boost.Asio with IPC_ASIO_BOOST defined.
#include <ipc/rpc.hpp>
#include <ipc/rpc/asio.hpp>

#include <dirent.h>
#include <signal.h>

#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "support.hpp"

using namespace ipc_test;
namespace rpc = ipc::rpc;
namespace net = ipc::asio::net;
using clk = std::chrono::steady_clock;

namespace {

struct ExampleArgs {
    int X;
};
struct ExampleReply {
    int Y;
};

const std::error_code cancelled{ECANCELED, std::system_category()};

// The methods the forked servers answer.
void add_methods(rpc::server& srv) {
    srv.on("Coordinator.Example", [](const ExampleArgs& a) { return ExampleReply{a.X + 1}; });
    srv.on("Echo.String", [](const std::string& s) { return s + "!"; });
    srv.on("Fail.Throw", [](const int& n) -> int { throw std::runtime_error("out of paper: " + std::to_string(n)); });
    srv.on("Slow.Sleep", [](const int& ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return ms;
    });
}

// A server process on a Unix socket made before the fork.
struct server_process {
    temp_dir dir;
    std::string path = dir / "rpc.sock";
    ipc::transport::unix_stream_listener listener = rpc::listen_unix(path);
    child proc{[this] {
        rpc::server srv;
        add_methods(srv);
        srv.serve(listener);
        return 0;
    }};
};

// Turns the io_context's crank until done() holds (true) or `limit` passes (false).
template <class Done>
bool drive(net::io_context& io, Done done, std::chrono::milliseconds limit = 10s) {
    const auto end = clk::now() + limit;
    while (!done() && clk::now() < end) {
        io.restart();
        io.run_for(std::chrono::milliseconds(10));
    }
    return done();
}

int thread_count() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/task")) {
        while (auto* e = ::readdir(d)) n += e->d_name[0] != '.';
        ::closedir(d);
    }
    return n;
}

// One callback's outcome.
template <class R>
struct outcome {
    bool done = false;
    std::error_code ec;
    R value{};
    auto handler() {
        return [this](std::error_code e, R v) {
            done = true;
            ec = e;
            value = std::move(v);
        };
    }
};

}  // namespace

#if IPC_ASIO_HAS_CO_AWAIT
namespace {
// The classic call and a failing one from a coroutine: standalone Asio
// throws the error, Boost.Asio hands it back with the value.
net::awaitable<void> classic(ipc::asio::attached<rpc::unix_client>& client, int& y, std::string& failure) {
#ifdef IPC_ASIO_BOOST
    auto [ec, reply] = co_await ipc::asio::async_call<ExampleReply>(client, "Coordinator.Example", ExampleArgs{99}, net::use_awaitable);
    y = ec ? -1 : reply.Y;
    auto [fail_ec, ignored] = co_await client.async_call<int>("Fail.Throw", 7, net::use_awaitable);
    (void)ignored;
    failure = fail_ec == rpc::errc::remote_error ? ipc::last_error_detail(fail_ec) : "wrong code: " + fail_ec.message();
#else
    auto reply = co_await ipc::asio::async_call<ExampleReply>(client, "Coordinator.Example", ExampleArgs{99}, net::use_awaitable);
    y = reply.Y;
    try {
        (void)co_await client.async_call<int>("Fail.Throw", 7, net::use_awaitable);
    } catch (const std::system_error& e) {
        failure = e.code() == rpc::errc::remote_error ? ipc::last_error_detail(e.code()) : "wrong code: " + e.code().message();
    }
#endif
}
}  // namespace

TEST_CASE("rpc asio: the classic call from a coroutine, X = 99 gives Y = 100") {
    server_process s;
    auto c = rpc::connect_unix(s.path);
    net::io_context io;
    ipc::asio::attached client(io, c);
    int y = 0;
    std::string failure;
    bool finished = false;
    net::co_spawn(io, classic(client, y, failure), [&](std::exception_ptr e) { finished = !e; });
    REQUIRE(drive(io, [&] { return finished; }));
    CHECK(y == 100);
    CHECK_MESSAGE(failure.find("out of paper: 7") != std::string::npos, failure);
}
#endif

TEST_CASE("rpc asio: callbacks and use_future, many calls in flight on one connection; no thread is made") {
    server_process s;
    auto c = rpc::connect_unix(s.path);
    const int threads = thread_count();
    net::io_context io;
    ipc::asio::attached client(io, c);
    constexpr int n = 64;
    std::vector<outcome<ExampleReply>> got(n);
    for (int i = 0; i < n; ++i) client.async_call<ExampleReply>("Coordinator.Example", ExampleArgs{i}, got[static_cast<std::size_t>(i)].handler());
    CHECK(c.in_flight() == n);
    auto fut = client.async_call<std::string>("Echo.String", std::string("hello"), net::use_future);
    REQUIRE(drive(io, [&] { return fut.wait_for(0s) == std::future_status::ready; }));
    for (int i = 0; i < n; ++i) {
        const auto& g = got[static_cast<std::size_t>(i)];
        REQUIRE(g.done);
        CHECK_FALSE(g.ec);
        CHECK(g.value.Y == i + 1);
    }
#ifdef IPC_ASIO_BOOST
    auto [ec, text] = fut.get();
    CHECK_FALSE(ec);
    CHECK(text == "hello!");
#else
    CHECK(fut.get() == "hello!");
#endif
    outcome<int> unknown;
    client.async_call<int>("No.Such", 1, unknown.handler());
    REQUIRE(drive(io, [&] { return unknown.done; }));
    CHECK(unknown.ec == rpc::errc::unknown_method);
    CHECK(c.in_flight() == 0);
    CHECK(thread_count() == threads);
}

TEST_CASE("rpc asio: replies out of order each complete their own call; a stray reply is dropped") {
    temp_dir dir;
    const std::string path = dir / "rpc.sock";
    auto l = rpc::listen_unix(path);
    constexpr int calls = 4;
    // Answers the hello, reads every call, then replies to an id nobody used and to the calls, last to first.
    child server([&] {
        rpc::unix_link link(l.accept());
        rpc::detail::frame_buffer in, out;
        std::error_code ec;
        bool greeted = false;
        const rpc::server none;
        const auto dl = ipc::deadline::after(5s);
        if (link.recv(in, dl, ec) != ipc::status::ok || !none.answer(in.bytes, out, greeted) || link.send(out, dl, ec) != ipc::status::ok) return 1;
        std::vector<std::pair<rpc::header, int>> seen;
        while (seen.size() < calls) {
            rpc::frame_view v;
            int x = 0;
            if (link.recv(in, dl, ec) != ipc::status::ok || !rpc::decode(in.bytes, v, ec) || !ipc::codec<int>::decode(v.payload, x)) return 2;
            seen.emplace_back(v.head, x);
        }
        rpc::header stray = seen.front().first;
        stray.id = 424242;
        seen.emplace_back(stray, -1);
        for (auto it = seen.rbegin(); it != seen.rend(); ++it) {
            it->first.kind = rpc::frame_kind::reply;
            if (!rpc::detail::encode(out, it->first, {}, it->second * 3, ec) || link.send(out, dl, ec) != ipc::status::ok) return 3;
            std::this_thread::sleep_for(20ms);  // one reply per read: the client completes them as they come
        }
        return link.recv(in, dl, ec) == ipc::status::closed ? 0 : 4;
    });
    {
        auto c = rpc::connect_unix(path);
        net::io_context io;
        ipc::asio::attached client(io, c);
        std::vector<outcome<int>> got(calls);
        std::vector<int> order;
        for (int i = 0; i < calls; ++i)
            client.async_call<int>("Times.Three", i + 1, [&, i](std::error_code ec, int v) {
                order.push_back(i);
                auto& g = got[static_cast<std::size_t>(i)];
                g.done = true;
                g.ec = ec;
                g.value = v;
            });
        REQUIRE(drive(io, [&] { return order.size() == calls; }));
        for (int i = 0; i < calls; ++i) {
            CHECK_FALSE(got[static_cast<std::size_t>(i)].ec);
            CHECK(got[static_cast<std::size_t>(i)].value == 3 * (i + 1));
        }
        CHECK(order == std::vector<int>{3, 2, 1, 0});
    }
    CHECK(server.wait() == child_ok);
}

TEST_CASE("rpc asio: calls larger than the socket takes at once go out as it drains") {
    server_process s;
    auto c = rpc::connect_unix(s.path);
    net::io_context io;
    ipc::asio::attached client(io, c);
    constexpr int n = 8;
    std::vector<outcome<std::string>> got(n);
    for (int i = 0; i < n; ++i)
        client.async_call<std::string>("Echo.String", std::string(256 * 1024, static_cast<char>('a' + i)), got[static_cast<std::size_t>(i)].handler());
    CHECK(c.has_queued());  // 2 MiB is more than a Unix socket holds: the rest waits for room
    REQUIRE(drive(io, [&] { return std::all_of(got.begin(), got.end(), [](const auto& g) { return g.done; }); }));
    for (int i = 0; i < n; ++i) {
        const auto& g = got[static_cast<std::size_t>(i)];
        CHECK_FALSE(g.ec);
        REQUIRE(g.value.size() == 256 * 1024 + 1);
        CHECK(g.value.front() == static_cast<char>('a' + i));
        CHECK(g.value.back() == '!');
    }
    CHECK_FALSE(c.has_queued());
}

TEST_CASE("rpc asio: a timed-out or cancelled call's late reply is dropped, never given to the next call") {
    server_process s;
    auto c = rpc::connect_unix(s.path);
    net::io_context io;
    auto client = std::make_unique<ipc::asio::attached<rpc::unix_client>>(io, c);
    outcome<int> slow;
    const auto t0 = clk::now();
    SUBCASE("by its timeout") {
        client->async_call_for<int>("Slow.Sleep", 300, 50ms, slow.handler());
        REQUIRE(drive(io, [&] { return slow.done; }));
        CHECK(slow.ec == ipc::errc::timed_out);
        CHECK(ms_since(t0) >= 50);
        CHECK(ms_since(t0) < 300);
    }
    SUBCASE("by cancel()") {
        client->async_call<int>("Slow.Sleep", 300, slow.handler());
        CHECK_FALSE(drive(io, [&] { return slow.done; }, 50ms));
        client->cancel();
    }
#if IPC_ASIO_CANCELLATION_SLOTS
    net::cancellation_signal cs;  // outlives the operation bound to its slot
    SUBCASE("by the operation's cancellation slot") {
        client->async_call<int>("Slow.Sleep", 300, net::bind_cancellation_slot(cs.slot(), slow.handler()));
        CHECK_FALSE(drive(io, [&] { return slow.done; }, 50ms));
        cs.emit(net::cancellation_type::terminal);
    }
#endif
    SUBCASE("by destroying the attached object") {
        client->async_call<int>("Slow.Sleep", 300, slow.handler());
        CHECK_FALSE(drive(io, [&] { return slow.done; }, 50ms));
        client.reset();
        CHECK(c.in_flight() == 0);  // forgotten at once, while the client is here
        client = std::make_unique<ipc::asio::attached<rpc::unix_client>>(io, c);
    }
    REQUIRE(drive(io, [&] { return slow.done; }));
    if (slow.ec != ipc::errc::timed_out) CHECK(slow.ec == cancelled);
    CHECK(slow.value == 0);
    CHECK(c.in_flight() == 0);
    // The slow reply comes first on the wire and is dropped.
    outcome<int> next;
    client->async_call<int>("Slow.Sleep", 1, next.handler());
    REQUIRE(drive(io, [&] { return next.done; }));
    CHECK_FALSE(next.ec);
    CHECK(next.value == 1);
    CHECK(ms_since(t0) >= 300);
}

TEST_CASE("rpc asio: a killed server ends every pending call at once with peer_closed") {
    server_process s;
    auto c = rpc::connect_unix(s.path);
    net::io_context io;
    ipc::asio::attached client(io, c);
    std::vector<outcome<int>> got(3);
    for (auto& g : got) client.async_call_for<int>("Slow.Sleep", 10000, 20s, g.handler());
    CHECK_FALSE(drive(io, [&] { return got[0].done; }, 100ms));
    ::kill(s.proc.pid(), SIGKILL);
    const auto t0 = clk::now();
    REQUIRE(drive(io, [&] { return std::all_of(got.begin(), got.end(), [](const auto& g) { return g.done; }); }));
    CHECK(ms_since(t0) < 2000);
    for (const auto& g : got) CHECK(g.ec == ipc::errc::peer_closed);
    outcome<int> after;
    client.async_call<int>("Slow.Sleep", 1, after.handler());
    REQUIRE(drive(io, [&] { return after.done; }, 2s));
    CHECK(after.ec == ipc::errc::peer_closed);
    CHECK(s.proc.wait() == -SIGKILL);
}

TEST_CASE("rpc asio: over TCP (IPv4 loopback)") {
    auto l = rpc::listen_tcp("127.0.0.1");
    child server([&] {
        rpc::server srv;
        add_methods(srv);
        srv.serve(l);
        return 0;
    });
    auto c = rpc::connect_tcp("127.0.0.1", l.local_port());
    net::io_context io;
    ipc::asio::attached client(io, c);
    outcome<ExampleReply> a;
    outcome<std::string> b;
    client.async_call<ExampleReply>("Coordinator.Example", ExampleArgs{99}, a.handler());
    client.async_call<std::string>("Echo.String", std::string(100000, 'z'), b.handler());
    REQUIRE(drive(io, [&] { return a.done && b.done; }));
    CHECK_FALSE(a.ec);
    CHECK(a.value.Y == 100);
    CHECK_FALSE(b.ec);
    CHECK(b.value.size() == 100001);
}
