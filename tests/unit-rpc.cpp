// Remote calls (ipc/rpc.hpp) between real processes: over a Unix socket,
// TCP (IPv4 and IPv6 loopback), a pair of shared-memory rings and a pair of
// pipes; errors that travel back; calls in flight, out of order, timed out;
// servers that die; hostile frames.
#include <ipc/poller.hpp>
#include <ipc/rpc.hpp>

#include <signal.h>

#include <stdexcept>
#include <string>
#include <thread>

#include "support.hpp"

// Heap allocations made by this process (operator new is replaced for this
// test binary): a call on the fast path makes none, on either side.
#include "counting_new.hpp"

using namespace ipc_test;
namespace rpc = ipc::rpc;
using ipc::transport::unix_address;

namespace {

struct ExampleArgs {
    int X;
};
struct ExampleReply {
    int Y;
};

rpc::server make_server() {
    rpc::server srv;
    srv.on("Coordinator.Example", [](const ExampleArgs& a) { return ExampleReply{a.X + 1}; });
    srv.on("Echo.String", [](const std::string& s) { return s + "!"; });
    srv.on("Fail.Throw", [](const int& n) -> int { throw std::runtime_error("disk on fire: " + std::to_string(n)); });
    srv.on("Fail.Code", [](const int&) -> int { throw ipc::error(std::make_error_code(std::errc::permission_denied), "no entry for you"); });
    srv.on("Echo.Big", [](const int& n) { return std::string(static_cast<std::size_t>(n), 'b'); });
    srv.on("Alloc.Count", [](const int&) { return allocations::count.load(); });
    srv.on("Slow.Sleep", [](const int& ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return ms;
    });
    return srv;
}

// A server in a forked child, serving a Unix listener made before the fork.
struct unix_server {
    temp_dir dir;
    std::string path = dir / "rpc.sock";
    ipc::transport::unix_stream_listener listener = ipc::transport::unix_stream_listener::listen(unix_address::path(path));
    child proc;

    explicit unix_server(rpc::server::options o = {})
        : proc([this, o] {
              auto srv = make_server();
              srv.serve(listener, o);
              return 0;
          }) {}
};

// Reads one raw frame (a test playing a hostile or hand-made peer).
template <class Ch>
bool read_frame(Ch& ch, rpc::detail::frame_buffer& f, rpc::frame_view& v) {
    std::error_code ec;
    return ch.recv_for(f, 5s) == ipc::status::ok && rpc::decode(f.bytes, v, ec);
}

}  // namespace

TEST_CASE("rpc: the classic call over a Unix socket, X = 99 gives Y = 100") {
    unix_server s;
    auto c = rpc::connect_unix(s.path);
    CHECK(c.call<ExampleReply>("Coordinator.Example", ExampleArgs{99}).Y == 100);
    CHECK(c.call<std::string>("Echo.String", std::string("hello")) == "hello!");

    ExampleReply r{};
    CHECK(c.call_for("Coordinator.Example", ExampleArgs{1}, r, 5s) == ipc::status::ok);
    CHECK(r.Y == 2);
    std::error_code ec;
    CHECK(c.call("Coordinator.Example", ExampleArgs{-5}, r, ec) == ipc::status::ok);
    CHECK(!ec);
    CHECK(r.Y == -4);
    for (int i = 0; i < 1000; ++i) REQUIRE(c.call<ExampleReply>("Coordinator.Example", ExampleArgs{i}).Y == i + 1);
    CHECK(c.in_flight() == 0);
}

TEST_CASE("rpc: a call with trivially copyable arguments allocates nothing, in the client or the server") {
    unix_server s;
    auto c = rpc::connect_unix(s.path);
    for (int i = 0; i < 10; ++i) REQUIRE(c.call<ExampleReply>("Coordinator.Example", ExampleArgs{i}).Y == i + 1);
    const auto server_before = c.call<std::uint64_t>("Alloc.Count", 0);
    const auto client_before = allocations::count.load();
    ExampleReply r{};
    for (int i = 0; i < 1000; ++i) REQUIRE(c.call_for("Coordinator.Example", ExampleArgs{i}, r, 5s) == ipc::status::ok);
    CHECK(allocations::count.load() == client_before);
    CHECK(c.call<std::uint64_t>("Alloc.Count", 0) == server_before);
}

TEST_CASE("rpc: errors travel back with their words; the connection stays usable") {
    unix_server s;
    auto c = rpc::connect_unix(s.path);
    std::error_code ec;
    int out = 0;

    SUBCASE("unknown method") {
        CHECK(c.call("No.Such", 1, out, ec) == ipc::status::failed);
        CHECK(ec == rpc::errc::unknown_method);
        CHECK(c.last_error_message().find("'No.Such'") != std::string::npos);
        CHECK_THROWS_AS((void)c.call<int>("No.Such", 1), ipc::error);
    }
    SUBCASE("request type mismatch names the handler's type") {
        CHECK(c.call("Coordinator.Example", std::string("99"), out, ec) == ipc::status::failed);
        CHECK(ec == rpc::errc::type_mismatch);
        CHECK(c.last_error_message().find("ExampleArgs") != std::string::npos);
    }
    SUBCASE("reply type mismatch") {
        std::string wrong;
        CHECK(c.call("Coordinator.Example", ExampleArgs{1}, wrong, ec) == ipc::status::failed);
        CHECK(ec == rpc::errc::type_mismatch);
        CHECK(c.last_error_message().find("ExampleReply") != std::string::npos);
    }
    SUBCASE("a handler's exception message") {
        CHECK(c.call("Fail.Throw", 42, out, ec) == ipc::status::failed);
        CHECK(ec == rpc::errc::remote_error);
        CHECK(c.last_error_message() == "disk on fire: 42");
        CHECK(ipc::last_error_detail(ec) == "disk on fire: 42");
        try {
            (void)c.call<int>("Fail.Throw", 7);
            FAIL("no throw");
        } catch (const ipc::error& e) {
            CHECK(std::string(e.what()).find("disk on fire: 7") != std::string::npos);
            CHECK(std::string(e.what()).find("Fail.Throw") != std::string::npos);
        }
    }
    SUBCASE("a handler's error code") {
        CHECK(c.call("Fail.Code", 1, out, ec) == ipc::status::failed);
        CHECK(ec == std::errc::permission_denied);
        CHECK(c.last_error_message().find("no entry for you") != std::string::npos);
    }
    SUBCASE("a method name over the limit is refused before sending") {
        CHECK(c.call(std::string(rpc::max_method_length + 1, 'm'), 1, out, ec) == ipc::status::failed);
        CHECK(ec == rpc::errc::method_name_too_long);
    }
    CHECK(c.call<ExampleReply>("Coordinator.Example", ExampleArgs{99}).Y == 100);
}

TEST_CASE("rpc: a late reply to a timed-out call is dropped, never given to the next call") {
    unix_server s;
    auto c = rpc::connect_unix(s.path);
    int slow = 0;
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(c.call_for("Slow.Sleep", 300, slow, 50ms) == ipc::status::timed_out);
    CHECK(ms_since(t0) >= 50);
    CHECK(c.in_flight() == 0);
    // The slow reply arrives first on the wire, and is dropped.
    CHECK(c.call<int>("Slow.Sleep", 1) == 1);
    CHECK(c.call<ExampleReply>("Coordinator.Example", ExampleArgs{99}).Y == 100);

    // An abandoned async call likewise.
    { auto p = c.call_async<int>("Slow.Sleep", 100); }
    CHECK(c.call<int>("Slow.Sleep", 2) == 2);
}

TEST_CASE("rpc: several calls in flight; replies out of order each reach their caller") {
    // A hand-made server that answers the calls it got in reverse order.
    temp_dir dir;
    const std::string path = dir / "rpc.sock";
    auto l = ipc::transport::unix_stream_listener::listen(unix_address::path(path));
    child server([&] {
        rpc::unix_link link(l.accept());
        rpc::detail::frame_buffer f, out;
        rpc::frame_view v;
        std::error_code ec;
        bool greeted = false;
        rpc::server hello_only;
        if (link.recv(f, ipc::deadline::after(5s), ec) != ipc::status::ok || !hello_only.answer(f.bytes, out, greeted)) return 1;
        if (link.send(out, ipc::deadline::after(5s), ec) != ipc::status::ok) return 2;
        std::vector<rpc::header> calls;
        std::vector<int> args;
        for (int i = 0; i < 3; ++i) {
            if (link.recv(f, ipc::deadline::after(5s), ec) != ipc::status::ok || !rpc::decode(f.bytes, v, ec) || v.payload.size() != sizeof(int)) return 3;
            int a = 0;
            std::memcpy(&a, v.payload.data(), sizeof a);
            calls.push_back(v.head);
            args.push_back(a);
        }
        // First a reply to an id nobody asked for: the client drops it.
        rpc::header stray = calls[0];
        stray.kind = rpc::frame_kind::reply;
        stray.id = 999999;
        const int junk = -1;
        if (!rpc::detail::encode(out, stray, {}, junk, ec) || link.send(out, ipc::deadline::after(5s), ec) != ipc::status::ok) return 4;
        for (int i = 2; i >= 0; --i) {
            rpc::header h = calls[static_cast<std::size_t>(i)];
            h.kind = rpc::frame_kind::reply;
            const int r = args[static_cast<std::size_t>(i)] * 10;
            if (!rpc::detail::encode(out, h, {}, r, ec) || link.send(out, ipc::deadline::after(5s), ec) != ipc::status::ok) return 5;
        }
        return link.recv(f, ipc::deadline::after(5s), ec) == ipc::status::closed ? 0 : 6;
    });
    {
        auto c = rpc::connect_unix(path);
        auto a = c.call_async<int>("Times.Ten", 1);
        auto b = c.call_async<int>("Times.Ten", 2);
        auto d = c.call_async<int>("Times.Ten", 3);
        CHECK(c.in_flight() == 3);
        // Waiting for the first pumps the connection and files the others' replies.
        REQUIRE(a.wait_for(5s) == ipc::status::ok);
        CHECK(b.ready());
        CHECK(d.ready());
        CHECK(d.get() == 30);
        CHECK(a.get() == 10);
        CHECK(b.get() == 20);
        CHECK(c.in_flight() == 0);
    }
    CHECK(server.wait() == child_ok);
}

TEST_CASE("rpc: a killed server ends every pending call at once") {
    SUBCASE("Unix socket: closed") {
        unix_server s;
        auto c = rpc::connect_unix(s.path);
        auto a = c.call_async<int>("Slow.Sleep", 10000);
        auto b = c.call_async<int>("Slow.Sleep", 10000);
        std::this_thread::sleep_for(100ms);
        ::kill(s.proc.pid(), SIGKILL);
        const auto t0 = std::chrono::steady_clock::now();
        int out = 0;
        CHECK(a.wait_for(5s) == ipc::status::closed);
        CHECK(b.ready());
        CHECK(b.get(out) == ipc::status::closed);
        CHECK(c.call_for("Coordinator.Example", ExampleArgs{1}, out, 5s) == ipc::status::closed);
        CHECK(ms_since(t0) < 2000);
        CHECK_THROWS_AS((void)c.call<ExampleReply>("Coordinator.Example", ExampleArgs{1}), ipc::error);
        CHECK(s.proc.wait() == -SIGKILL);
    }
    SUBCASE("shared memory: peer_dead") {
        const std::string name = unique_name("rpc-dead");
        auto ready = ipc::pipe_channel<int>::create();
        child server([&] {
            auto link = rpc::shm_endpoint::create(name);
            (void)ready.sender.send_for(1, 5s);
            auto srv = make_server();
            (void)srv.serve_link(link);
            return 0;
        });
        int one = 0;
        REQUIRE(ready.receiver.recv_for(one, 5s) == ipc::status::ok);
        auto c = rpc::open_shm(name);
        rpc::shm_endpoint::remove(name);
        auto a = c.call_async<int>("Slow.Sleep", 10000);
        std::this_thread::sleep_for(100ms);
        ::kill(server.pid(), SIGKILL);
        const auto t0 = std::chrono::steady_clock::now();
        int out = 0;
        CHECK(a.get(out) == ipc::status::peer_dead);
        CHECK(ms_since(t0) < 2000);
        CHECK(server.wait() == -SIGKILL);
    }
}

TEST_CASE("rpc: version handshake refuses a client of another version with words") {
    unix_server s;
    ipc::unix_stream_channel<rpc::detail::frame_buffer> raw(ipc::transport::unix_stream::connect(unix_address::path(s.path), 5s));
    rpc::detail::frame_buffer f;
    rpc::header h;
    h.kind = rpc::frame_kind::hello;
    h.version = 7;
    std::error_code ec;
    REQUIRE(rpc::detail::encode_bytes(f, h, {}, {}, ec));
    REQUIRE(raw.send_for(f, 5s) == ipc::status::ok);
    rpc::frame_view v;
    REQUIRE(read_frame(raw, f, v));
    CHECK(v.head.kind == rpc::frame_kind::error);
    CHECK(rpc::detail::decoded_code(v.head) == rpc::errc::version_mismatch);
    const std::string words(reinterpret_cast<const char*>(v.payload.data()), v.payload.size());
    CHECK(words.find("version 1") != std::string::npos);
    CHECK(words.find("version 7") != std::string::npos);
    CHECK(raw.recv_for(f, 5s) == ipc::status::closed);
}

TEST_CASE("rpc: a client refused by a server of another version throws the server's words") {
    temp_dir dir;
    const std::string path = dir / "rpc.sock";
    auto l = ipc::transport::unix_stream_listener::listen(unix_address::path(path));
    child server([&] {  // plays a server of protocol version 2
        rpc::unix_link link(l.accept());
        rpc::detail::frame_buffer f, out;
        std::error_code ec;
        if (link.recv(f, ipc::deadline::after(5s), ec) != ipc::status::ok) return 1;
        rpc::detail::encode_error(out, 0, rpc::make_error_code(rpc::errc::version_mismatch),
                                  "this server speaks rpc protocol version 2; the client speaks version 1");
        out.bytes[4] = std::byte{2};
        return link.send(out, ipc::deadline::after(5s), ec) == ipc::status::ok ? 0 : 2;
    });
    try {
        (void)rpc::connect_unix(path);
        FAIL("connected to a server of another version");
    } catch (const ipc::error& e) {
        CHECK(e.code() == rpc::errc::version_mismatch);
        CHECK(std::string(e.what()).find("speaks rpc protocol version 2") != std::string::npos);
    }
    CHECK(server.wait() == child_ok);
}

TEST_CASE("rpc: hostile frames get a clear error and cost only their own connection") {
    unix_server s;
    auto good = rpc::connect_unix(s.path);
    ipc::unix_stream_channel<rpc::detail::frame_buffer> raw(ipc::transport::unix_stream::connect(unix_address::path(s.path), 5s));
    rpc::detail::frame_buffer f;
    rpc::frame_view v;
    std::error_code ec;
    // Greet properly first, so what follows is judged as a call.
    rpc::header hello;
    hello.kind = rpc::frame_kind::hello;
    REQUIRE(rpc::detail::encode_bytes(f, hello, {}, {}, ec));
    REQUIRE(raw.send_for(f, 5s) == ipc::status::ok);
    REQUIRE(read_frame(raw, f, v));
    REQUIRE(v.head.kind == rpc::frame_kind::welcome);

    SUBCASE("a length prefix of 1 GB") {
        const unsigned char prefix[4] = {0, 0, 0, 0x40};
        REQUIRE(::send(raw.native_handle(), prefix, sizeof prefix, MSG_NOSIGNAL) == 4);
        REQUIRE(read_frame(raw, f, v));
        CHECK(rpc::detail::decoded_code(v.head) == ipc::errc::message_too_large);
    }
    SUBCASE("a method length that lies about the bytes that follow") {
        rpc::header h;
        h.kind = rpc::frame_kind::request;
        h.id = 5;
        REQUIRE(rpc::detail::encode_bytes(f, h, "Coordinator.Example", {}, ec));
        f.bytes[6] = std::byte{200};  // method_len
        REQUIRE(raw.send_for(f, 5s) == ipc::status::ok);
        REQUIRE(read_frame(raw, f, v));
        CHECK(rpc::detail::decoded_code(v.head) == rpc::errc::bad_frame);
        const std::string words(reinterpret_cast<const char*>(v.payload.data()), v.payload.size());
        CHECK(words.find("200 method bytes") != std::string::npos);
    }
    SUBCASE("a frame that is not rpc at all") {
        f.bytes.assign(100, std::byte{'x'});
        REQUIRE(raw.send_for(f, 5s) == ipc::status::ok);
        REQUIRE(read_frame(raw, f, v));
        CHECK(rpc::detail::decoded_code(v.head) == rpc::errc::bad_frame);
    }
    CHECK(raw.recv_for(f, 5s) == ipc::status::closed);  // the hostile connection is dropped...
    CHECK(good.call<ExampleReply>("Coordinator.Example", ExampleArgs{99}).Y == 100);  // ...and only it
}

TEST_CASE("rpc: a hostile server's lying length fails the call, with no allocation for it") {
    temp_dir dir;
    const std::string path = dir / "rpc.sock";
    auto l = ipc::transport::unix_stream_listener::listen(unix_address::path(path));
    child server([&] {
        auto sock = l.accept();
        ipc::unix_stream_channel<rpc::detail::frame_buffer> ch(std::move(sock));
        rpc::detail::frame_buffer f, out;
        bool greeted = false;
        rpc::server hello_only;
        if (ch.recv_for(f, 5s) != ipc::status::ok || !hello_only.answer(f.bytes, out, greeted)) return 1;
        if (ch.send_for(out, 5s) != ipc::status::ok || ch.recv_for(f, 5s) != ipc::status::ok) return 2;
        const unsigned char prefix[4] = {0xff, 0xff, 0xff, 0x7f};
        if (::send(ch.native_handle(), prefix, sizeof prefix, MSG_NOSIGNAL) != 4) return 4;
        return ch.recv_for(f, 5s) == ipc::status::closed ? 0 : 3;
    });
    {
        auto c = rpc::connect_unix(path);
        std::error_code ec;
        int out = 0;
        CHECK(c.call_for("Any", 1, out, 5s, ec) == ipc::status::failed);
        CHECK(ec == ipc::errc::message_too_large);
        CHECK(c.state() == ipc::status::failed);
    }
    CHECK(server.wait() == child_ok);
}

TEST_CASE("rpc: many clients at once; one that disconnects mid-call disturbs nobody") {
    unix_server s;
    std::vector<child> clients;
    for (int k = 0; k < 6; ++k)
        clients.emplace_back([&, k] {
            auto c = rpc::connect_unix(s.path);
            for (int i = 0; i < 300; ++i)
                if (c.call<ExampleReply>("Coordinator.Example", ExampleArgs{k * 1000 + i}).Y != k * 1000 + i + 1) return 1;
            return 0;
        });
    child quitter([&] {
        auto c = rpc::connect_unix(s.path);
        auto p = c.call_async<int>("Slow.Sleep", 50);
        ::_exit(0);  // gone before the reply
        return 0;
    });
    CHECK(quitter.wait() == child_ok);
    for (auto& c : clients) CHECK(c.wait() == child_ok);
    auto c = rpc::connect_unix(s.path);
    CHECK(c.call<ExampleReply>("Coordinator.Example", ExampleArgs{99}).Y == 100);
}

TEST_CASE("rpc: a client that does not read its replies holds up nobody") {
    unix_server s;
    auto slow = rpc::connect_unix(s.path);
    std::vector<rpc::unix_client::pending_call<std::string>> replies;
    SUBCASE("within the limit: every reply arrives once it reads") {
        for (int i = 0; i < 40; ++i) replies.push_back(slow.call_async<std::string>("Echo.Big", 256 << 10));  // 10 MB of replies
        std::this_thread::sleep_for(100ms);  // the server has answered into a full socket
        const auto t0 = std::chrono::steady_clock::now();
        auto quick = rpc::connect_unix(s.path);
        ExampleReply r{};
        CHECK(quick.call_for("Coordinator.Example", ExampleArgs{99}, r, 2s) == ipc::status::ok);
        CHECK(ms_since(t0) < 1000);
        std::string got;
        for (auto& p : replies) {
            REQUIRE(p.wait_for(5s) == ipc::status::ok);
            REQUIRE(p.get(got) == ipc::status::ok);
            REQUIRE(got.size() == 256u << 10);
        }
    }
    SUBCASE("it leaves with replies unread: the server drops it and goes on") {
        for (int i = 0; i < 40; ++i) replies.push_back(slow.call_async<std::string>("Echo.Big", 256 << 10));  // 10 MB
        std::this_thread::sleep_for(100ms);
        replies.clear();
        slow = rpc::unix_client{};
        auto quick = rpc::connect_unix(s.path);
        ExampleReply r{};
        CHECK(quick.call_for("Coordinator.Example", ExampleArgs{99}, r, 2s) == ipc::status::ok);
        CHECK(r.Y == 100);
    }
}

TEST_CASE("rpc: a pool of serving processes or threads: a slow handler does not block other clients") {
    rpc::server::options o;
    SUBCASE("two processes") { o.processes = 2; }
    SUBCASE("two threads") { o.threads = 2; }
    SUBCASE("two processes of two threads") { o.processes = o.threads = 2; }
    unix_server s(o);
    auto slow = rpc::connect_unix(s.path);
    auto p = slow.call_async<int>("Slow.Sleep", 1500);
    std::this_thread::sleep_for(100ms);  // the slow call is running in one process
    const auto t0 = std::chrono::steady_clock::now();
    auto quick = rpc::connect_unix(s.path);
    ExampleReply r{};
    CHECK(quick.call_for("Coordinator.Example", ExampleArgs{99}, r, 1s) == ipc::status::ok);
    CHECK(r.Y == 100);
    CHECK(ms_since(t0) < 1000);
    CHECK(p.get() == 1500);
}

TEST_CASE("rpc: a server of several threads stops when told, its threads joined") {
    temp_dir dir;
    const std::string path = dir / "rpc.sock";
    auto l = rpc::listen_unix(path);
    auto stop = ipc::transport::make_pipe();
    child server([&] {
        stop.writer.close();  // the parent's copy alone: closing it is the stop
        auto srv = make_server();
        srv.serve(l, stop.reader, {.threads = 3});
        return 0;
    });
    stop.reader.close();
    {
        auto a = rpc::connect_unix(path);
        auto b = rpc::connect_unix(path);
        CHECK(a.call<ExampleReply>("Coordinator.Example", ExampleArgs{1}).Y == 2);
        CHECK(b.call<ExampleReply>("Coordinator.Example", ExampleArgs{2}).Y == 3);
    }
    stop.writer.close();
    CHECK(server.wait(5s) == child_ok);
}

TEST_CASE("rpc: over TCP, IPv4 and IPv6 loopback") {
    for (const bool v6 : {false, true}) {
        CAPTURE(v6);
        std::error_code ec;
        auto l = ipc::transport::tcp_listener::listen(v6 ? ipc::transport::inet_address::loopback_v6() : ipc::transport::inet_address::loopback_v4(), ec);
        if (v6 && ec) {
            MESSAGE("no IPv6 loopback here: " << ec.message());
            continue;
        }
        REQUIRE(!ec);
        child server([&] {
            auto srv = make_server();
            srv.serve(l);
            return 0;
        });
        auto c = rpc::connect_tcp(v6 ? "::1" : "127.0.0.1", l.local_port());
        CHECK(c.call<ExampleReply>("Coordinator.Example", ExampleArgs{99}).Y == 100);
        CHECK(c.call<std::string>("Echo.String", std::string(100000, 'z')).size() == 100001);
    }
}

TEST_CASE("rpc: over a Unix seqpacket socket (a frame is one message)") {
    temp_dir dir;
    const std::string path = dir / "rpc.seqpacket";
    auto l = ipc::transport::unix_seqpacket_listener::listen(unix_address::path(path));
    child server([&] {
        auto srv = make_server();
        srv.serve(l);
        return 0;
    });
    auto c = rpc::connect_unix_seqpacket(path);
    CHECK(c.call<ExampleReply>("Coordinator.Example", ExampleArgs{99}).Y == 100);
    CHECK(c.call<std::string>("Echo.String", std::string(5000, 'q')).size() == 5001);
    std::error_code ec;
    int out = 0;
    CHECK(c.call("No.Such", 1, out, ec) == ipc::status::failed);
    CHECK(ec == rpc::errc::unknown_method);
}

TEST_CASE("rpc: over a pair of shared-memory rings") {
    const std::string name = unique_name("rpc-shm");
    auto ready = ipc::pipe_channel<int>::create();
    auto stop = ipc::pipe_channel<int>::create();
    child server([&] {
        stop.sender = {};
        auto link = rpc::shm_endpoint::create(name);
        (void)ready.sender.send_for(1, 5s);
        auto srv = make_server();
        return srv.serve_link(link, stop.receiver) == ipc::status::ok ? 0 : 1;
    });
    stop.receiver = {};
    int one = 0;
    REQUIRE(ready.receiver.recv_for(one, 5s) == ipc::status::ok);
    {
        auto c = rpc::open_shm(name);
        CHECK(c.call<ExampleReply>("Coordinator.Example", ExampleArgs{99}).Y == 100);
        CHECK(c.call<std::string>("Echo.String", std::string("shm")) == "shm!");
        for (int i = 0; i < 1000; ++i) REQUIRE(c.call<ExampleReply>("Coordinator.Example", ExampleArgs{i}).Y == i + 1);
        std::error_code ec;
        int out = 0;
        CHECK(c.call("Fail.Throw", 3, out, ec) == ipc::status::failed);
        CHECK(c.last_error_message() == "disk on fire: 3");
        // A second client is refused: the rings have one sender and one receiver.
        CHECK_THROWS_AS((void)rpc::open_shm(name, 1s), ipc::error);
        stop.sender = {};  // the server's stop pipe reads end of file: it returns ok
        CHECK(server.wait() == child_ok);
    }
    CHECK(rpc::shm_endpoint::remove(name));
}

TEST_CASE("rpc: over a pair of pipes to a forked child") {
    auto links = rpc::pipe_link_pair::create();
    child server([&] {
        links.client = {};
        auto srv = make_server();
        return srv.serve_link(links.server) == ipc::status::closed ? 0 : 1;
    });
    links.server = {};
    {
        rpc::pipe_client c(std::move(links.client));
        CHECK(c.call<ExampleReply>("Coordinator.Example", ExampleArgs{99}).Y == 100);
        CHECK(c.call<std::string>("Echo.String", std::string("pipe")) == "pipe!");
    }
    CHECK(server.wait() == child_ok);
}

TEST_CASE("rpc: serve_link on one accepted socket returns when its client closes") {
    temp_dir dir;
    const std::string path = dir / "one.sock";
    auto listener = rpc::listen_unix(path);
    child server([&] {
        auto s = listener.accept_for(5s);
        if (!s) return 2;
        rpc::unix_link link(std::move(*s));
        auto srv = make_server();
        return srv.serve_link(link) == ipc::status::closed ? 0 : 1;
    });
    {
        auto c = rpc::connect_unix(path);
        listener = {};
        CHECK(c.call<ExampleReply>("Coordinator.Example", ExampleArgs{99}).Y == 100);
        auto a = c.call_async<std::string>("Echo.String", std::string("one"));
        auto b = c.call_async<int>("Slow.Sleep", 1);
        CHECK(a.get() == "one!");
        CHECK(b.get() == 1);
    }
    CHECK(server.wait() == child_ok);
}

TEST_CASE("rpc: an ipc::poller loop drives a client (native_handle + process_ready)") {
    unix_server s;
    auto c = rpc::connect_unix(s.path);
    struct source {
        int fd;
        int native_handle() const noexcept { return fd; }
    } src{c.native_handle()};
    ipc::poller loop;
    auto reg = loop.add(src, ipc::ready::readable, 1);
    auto a = c.call_async<int>("Slow.Sleep", 20);
    auto b = c.call_async<ExampleReply>("Coordinator.Example", ExampleArgs{99});
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!(a.ready() && b.ready()) && std::chrono::steady_clock::now() < until)
        for (const auto& ev : loop.wait_for(1s)) {
            CHECK(ev.key == 1);
            (void)c.process_ready();
        }
    REQUIRE(a.ready());
    REQUIRE(b.ready());
    CHECK(a.get() == 20);
    CHECK(b.get().Y == 100);
}
