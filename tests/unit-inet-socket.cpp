// TCP and UDP over IPv4 loopback: the conformance suite, addresses, listening,
// connecting and closed peers. IPv6 is in unit-inet6-socket.cpp, which skips
// itself where ::1 is unavailable.
#include <ipc/channel.hpp>

#include <netinet/tcp.h>

#include <vector>

#include "inet_setup.hpp"

namespace {

using namespace ipc_test;
using ipc::framing::delimited;
using ipc::framing::fixed;
using ipc::framing::length_prefixed;
using ipc::transport::inet_address;
using ipc::transport::tcp;
using ipc::transport::tcp_listener;
using ipc::transport::udp;

using tcp4 = tcp_setup<AF_INET>;
using udp4 = udp_setup<AF_INET>;

int int_option(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    REQUIRE(::getsockopt(fd, level, name, &v, &len) == 0);
    return v;
}

// A loopback port nobody listens on: bound, then released.
std::uint16_t closed_port() {
    auto l = tcp_listener::listen(inet_address::loopback_v4());
    return l.local_port();
}

}  // namespace

IPC_CONFORMANCE(combo<tcp4, fixed>, combo<tcp4, length_prefixed>, combo<tcp4, delimited>, combo<udp4, fixed>);

TEST_CASE("inet_address: numeric IPv4 and IPv6 with a port; anything else is name_invalid") {
    CHECK(inet_address::parse("127.0.0.1:8080").to_string() == "127.0.0.1:8080");
    CHECK(inet_address::parse("127.0.0.1:8080").family() == AF_INET);
    CHECK(inet_address::parse("[::1]:80").to_string() == "[::1]:80");
    CHECK(inet_address::parse("[::1]:80").family() == AF_INET6);
    CHECK(inet_address::parse("127.0.0.1:0").port() == 0);
    CHECK(inet_address::v4("127.0.0.1", 65535).port() == 65535);
    CHECK(inet_address::v6("::1", 1).to_string() == "[::1]:1");
    CHECK(inet_address::loopback_v4(7).with_port(9).to_string() == "127.0.0.1:9");
    CHECK(inet_address().empty());

    for (const char* bad : {"", "localhost:80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                            "127.0.0.1:8a", "127.0.0.1:+80", "127.0.0.1:000080", "127.1:80x", "[::1]", "::1:80",
                            "[127.0.0.1]:80", "127.0.0.256:1", "[::1%lo]:80"}) {
        INFO(bad);
        std::error_code ec;
        (void)inet_address::parse(bad, ec);
        CHECK(ec == ipc::errc::name_invalid);
        CHECK_THROWS_AS((void)inet_address::parse(bad), ipc::error);
    }
    std::error_code ec;
    (void)inet_address::v4("::1", 1, ec);
    CHECK(ec == ipc::errc::name_invalid);
    ec.clear();
    (void)inet_address::v6("127.0.0.1", 1, ec);
    CHECK(ec == ipc::errc::name_invalid);
}

TEST_CASE("tcp_listener: port 0 is an ephemeral port; a second listener there is already_exists") {
    auto l = tcp_listener::listen(inet_address::loopback_v4());
    CHECK(l.local_port() != 0);
    CHECK(l.local_address().to_string() == "127.0.0.1:" + std::to_string(l.local_port()));
    CHECK(int_option(l.native_handle(), SOL_SOCKET, SO_REUSEADDR) != 0);
    std::error_code ec;
    (void)tcp_listener::listen(l.local_address(), ec);
    CHECK(ec == ipc::errc::already_exists);
}

TEST_CASE("tcp: both ends have TCP_NODELAY; a child's connection is accepted") {
    auto l = tcp_listener::listen(inet_address::loopback_v4());
    child client([&] {
        auto s = tcp::connect(l.local_address(), 5s);
        if (int_option(s.native_handle(), IPPROTO_TCP, TCP_NODELAY) == 0) return 1;
        ipc::tcp_channel<std::string> ch(std::move(s));
        return ch.send_for("hello", 5s) == ipc::status::ok ? 0 : 2;
    });
    auto s = l.accept_for(5s);
    REQUIRE(s.has_value());
    CHECK(int_option(s->native_handle(), IPPROTO_TCP, TCP_NODELAY) != 0);
    ipc::tcp_channel<std::string> ch(std::move(*s));
    std::string got;
    REQUIRE(ch.recv_for(got, 5s) == ipc::status::ok);
    CHECK(got == "hello");
    CHECK(ch.recv_for(got, 5s) == ipc::status::closed);
    CHECK(client.wait() == child_ok);
}

TEST_CASE("tcp: connecting to a port nobody listens on is connection_refused") {
    std::error_code ec;
    (void)tcp::connect(inet_address::loopback_v4(closed_port()), 2s, ec);
    CHECK(ec == std::errc::connection_refused);
    CHECK_THROWS_AS((void)tcp::connect(inet_address::loopback_v4(closed_port())), ipc::error);
}

TEST_CASE("tcp: connect(address, timeout) gives up with timed_out when the listener's queue is full") {
    auto l = tcp_listener::listen(inet_address::loopback_v4(), 0);  // never accepts
    std::vector<tcp> queued;
    std::error_code ec;
    for (int i = 0; i < 8 && !ec; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto s = tcp::connect(l.local_address(), 100ms, ec);
        if (s.is_open()) queued.push_back(std::move(s));
        else CHECK(ms_since(t0) >= 100.0);
    }
    CHECK(ec == ipc::errc::timed_out);
    CHECK(queued.size() >= 1);
}

TEST_CASE("tcp_listener: accept_for waits as long as asked") {
    auto l = tcp_listener::listen(inet_address::loopback_v4());
    CHECK_FALSE(l.try_accept().has_value());
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(l.accept_for(50ms).has_value());
    CHECK(ms_since(t0) >= 50.0);
}

TEST_CASE("tcp: a peer that dies mid-message is truncated") {
    auto l = tcp_listener::listen(inet_address::loopback_v4());
    child quitter([&] {
        auto s = tcp::connect(l.local_address(), 5s);
        const unsigned char frame[6] = {10, 0, 0, 0, 'a', 'b'};  // promises 10 bytes, sends 2
        std::span<const std::byte> part(reinterpret_cast<const std::byte*>(frame), sizeof frame);
        std::error_code ec;
        if (s.write_some(std::span<const std::span<const std::byte>>(&part, 1), ipc::io_mode::blocking, ec) != sizeof frame) return 1;
        ::raise(SIGKILL);
        return 0;
    });
    auto s = l.accept_for(5s);
    REQUIRE(s.has_value());
    ipc::tcp_channel<std::string> rx(std::move(*s));
    std::string got;
    std::error_code ec;
    CHECK(rx.recv_for(got, 5s, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::truncated);
    CHECK(quitter.wait() == -SIGKILL);
}

TEST_CASE("udp: a receive tells the sender's address; an unconnected server answers each client with send_to") {
    ipc::udp_channel<int> server(udp::bind(inet_address::loopback_v4()));
    std::error_code ec;
    const auto server_addr = server.transport().local_address(ec);
    REQUIRE_FALSE(ec);
    std::vector<child> clients;
    for (int c = 0; c < 2; ++c)
        clients.emplace_back([&, c] {
            ipc::udp_channel<int> ch(udp::connect(server_addr));
            if (ch.send_for(100 * c, 5s) != ipc::status::ok) return 1;
            udp::recv_info from;
            int v = 0;
            if (ch.recv_for(v, from, 5s) != ipc::status::ok) return 2;
            return v == 100 * c + 1 && from.sender == server_addr ? 0 : 3;
        });
    for (int i = 0; i < 2; ++i) {
        udp::recv_info from;
        int v = -1;
        REQUIRE(server.recv_for(v, from, 5s) == ipc::status::ok);
        CHECK(from.sender.family() == AF_INET);
        CHECK(from.sender.port() != server_addr.port());
        REQUIRE(server.send_for(v + 1, {.to = from.sender}, 5s) == ipc::status::ok);  // the reply
    }
    for (auto& c : clients) CHECK(c.wait() == child_ok);
}

TEST_CASE("udp: a connected sender whose receiver left gets status::closed (ICMP port unreachable)") {
    auto bound = udp::bind(inet_address::loopback_v4());
    std::error_code ec;
    auto addr = bound.local_address(ec);
    REQUIRE_FALSE(ec);
    child receiver([&] {
        ipc::udp_channel<int> rx(std::move(bound));
        int v = 0;
        return rx.recv_for(v, 5s) == ipc::status::ok && v == 1 ? 0 : 1;
    });
    bound.close();
    auto tx = ipc::udp_channel<int>::connect(addr);
    REQUIRE(tx.send_for(1, 5s) == ipc::status::ok);
    REQUIRE(receiver.wait() == child_ok);
    // The first send after the receiver left draws the ICMP error; a later one reports it.
    ipc::status st = ipc::status::ok;
    for (int i = 0; i < 100 && st == ipc::status::ok; ++i) {
        st = tx.send_for(2, 1s, ec);
        if (st == ipc::status::ok) std::this_thread::sleep_for(1ms);
    }
    CHECK(st == ipc::status::closed);
    CHECK(ec == ipc::errc::peer_closed);
}

TEST_CASE("udp: bind to a port in use is already_exists; a datagram too big for the buffer is message_too_large") {
    auto a = udp::bind(inet_address::loopback_v4());
    std::error_code ec;
    auto addr = a.local_address(ec);
    (void)udp::bind(addr, ec);
    CHECK(ec == ipc::errc::already_exists);

    ipc::udp_channel<std::string> rx(std::move(a), length_prefixed(16));
    child sender([&] {
        auto tx = ipc::udp_channel<std::string>::connect(addr);
        return tx.send_for(std::string(100, 'x'), 5s) == ipc::status::ok && tx.send_for("fits", 5s) == ipc::status::ok ? 0 : 1;
    });
    std::string got;
    ec.clear();
    CHECK(rx.recv_for(got, 5s, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::message_too_large);
    CHECK(rx.recv_for(got, 5s) == ipc::status::ok);
    CHECK(got == "fits");
    CHECK(sender.wait() == child_ok);
}
