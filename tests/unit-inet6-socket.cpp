// TCP and UDP over IPv6 loopback (::1). A machine without IPv6 loopback skips
// this whole program (exit code 77, which ctest reports as skipped) with a
// message, decided at run time before any test starts.
#include <ipc/channel.hpp>

#include <cstdio>
#include <cstdlib>

#include "inet_setup.hpp"

namespace {

using namespace ipc_test;
using ipc::framing::delimited;
using ipc::framing::fixed;
using ipc::framing::length_prefixed;
using ipc::transport::inet_address;
using ipc::transport::tcp;
using ipc::transport::tcp_listener;

using tcp6 = tcp_setup<AF_INET6>;
using udp6 = udp_setup<AF_INET6>;

const bool ipv6_checked = [] {
    std::error_code ec;
    (void)ipc::transport::udp::bind(inet_address::loopback_v6(), ec);
    if (ec) {
        std::fprintf(stderr, "IPv6 loopback (::1) is unavailable here (%s): skipping the IPv6 socket tests\n",
                     ec.message().c_str());
        std::exit(77);
    }
    return true;
}();

}  // namespace

IPC_CONFORMANCE(combo<tcp6, fixed>, combo<tcp6, length_prefixed>, combo<tcp6, delimited>, combo<udp6, fixed>);

TEST_CASE("tcp over ::1: the listener reports its ephemeral port; nobody there is connection_refused") {
    CHECK(ipv6_checked);
    std::uint16_t port = 0;
    {
        auto l = tcp_listener::listen(inet_address::loopback_v6());
        port = l.local_port();
        CHECK(port != 0);
        CHECK(l.local_address().to_string() == "[::1]:" + std::to_string(port));
        std::error_code ec;
        (void)tcp_listener::listen(l.local_address(), ec);
        CHECK(ec == ipc::errc::already_exists);
    }
    std::error_code ec;
    (void)tcp::connect(inet_address::loopback_v6(port), 2s, ec);
    CHECK(ec == std::errc::connection_refused);
}
