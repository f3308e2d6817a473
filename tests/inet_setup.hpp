// tests/inet_setup.hpp: TCP and UDP conformance setups over 127.0.0.1 or ::1
// (loopback only: the tests never touch any other address).
#pragma once

#include <ipc/channel.hpp>

#include "conformance.hpp"

namespace ipc_test {

template <int Family>
ipc::transport::inet_address loopback(std::uint16_t port = 0) {
    return Family == AF_INET6 ? ipc::transport::inet_address::loopback_v6(port) : ipc::transport::inet_address::loopback_v4(port);
}

// The receiver listens (before the fork) and accepts; the sender connects.
template <int Family>
struct tcp_setup {
    static constexpr const char* name = Family == AF_INET6 ? "tcp over ::1" : "tcp over 127.0.0.1";
    static constexpr bool reports_close = true;
    static constexpr std::size_t max_message = 1 << 16;

    template <class T, class Framing>
    struct ends {
        ipc::transport::tcp_listener listener = ipc::transport::tcp_listener::listen(loopback<Family>());

        auto make_sender() { return ipc::tcp_channel<T, ipc::sync::poll, Framing>(ipc::transport::tcp::connect(listener.local_address(), 10s)); }
        auto make_receiver() {
            auto s = listener.accept_for(10s);
            REQUIRE(s.has_value());
            return ipc::tcp_channel<T, ipc::sync::poll, Framing>(std::move(*s));
        }
    };
};

// The receiver binds an ephemeral port before the fork; the sender connects
// to it. UDP has no flow control: the receive buffer is made large enough to
// hold a whole conformance run, so a busy machine does not drop datagrams.
template <int Family>
struct udp_setup {
    static constexpr const char* name = Family == AF_INET6 ? "udp over ::1" : "udp over 127.0.0.1";
    static constexpr bool reports_close = false;
    static constexpr std::size_t max_message = 1 << 16;

    template <class T, class Framing>
    struct ends {
        ipc::transport::udp bound = ipc::transport::udp::bind(loopback<Family>());
        ipc::transport::inet_address addr;

        ends() {
            std::error_code ec;
            bound.set_receive_buffer(4 << 20, ec);
            addr = bound.local_address(ec);
            REQUIRE_FALSE(ec);
        }
        auto make_sender() {
            bound.close();
            return ipc::udp_channel<T, ipc::sync::poll, Framing>(ipc::transport::udp::connect(addr));
        }
        auto make_receiver() { return ipc::udp_channel<T, ipc::sync::poll, Framing>(std::move(bound)); }
    };
};

}  // namespace ipc_test
