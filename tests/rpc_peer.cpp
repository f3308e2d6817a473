// tests/rpc_peer.cpp: one side of a remote call, run as its own program, so
// tests/rpc_peer.sh can start a server and a client as two unrelated
// processes (no fork, nothing shared but the address).
//
//   rpc_peer serve unix PATH | tcp HOST PORT | shm NAME   prints "ready <port>", serves until SIGTERM
//                                                        (shm: until its one client leaves)
//   rpc_peer call  unix PATH | tcp HOST PORT | shm NAME   the classic call and the error cases; exit 0 if all hold
//   rpc_peer hang  ...                                   starts a call the server never answers in time and
//                                                        reports how it ended ("closed", "peer_dead") once the
//                                                        server is killed
#include <ipc/rpc.hpp>
#include <ipc/transport/signal.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

namespace rpc = ipc::rpc;
using namespace std::chrono_literals;

namespace {

struct ExampleArgs {
    int X;
};
struct ExampleReply {
    int Y;
};

std::uint16_t port_of(const char* s) {
    unsigned v = 0;
    const auto [end, err] = std::from_chars(s, s + std::strlen(s), v);
    if (err != std::errc() || *end != '\0' || v > 65535) throw std::invalid_argument(std::string("not a port: ") + s);
    return static_cast<std::uint16_t>(v);
}

int serve(int argc, char** argv) {
    rpc::server srv;
    srv.on("Coordinator.Example", [](const ExampleArgs& a) { return ExampleReply{a.X + 1}; });
    srv.on("Fail.Throw", [](const int& n) -> int { throw std::runtime_error("handler failed on " + std::to_string(n)); });
    srv.on("Slow.Sleep", [](const int& ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return ms;
    });
    ipc::shutdown_signal stop;
    const std::string kind = argv[2];
    if (kind == "unix" && argc == 4) {
        auto l = ipc::transport::unix_stream_listener::listen(ipc::transport::unix_address::path(argv[3]));
        std::printf("ready 0\n");
        std::fflush(stdout);
        srv.serve(l, stop);
        return 0;
    }
    if (kind == "tcp" && argc == 5) {
        const std::string host = argv[3];
        const auto a = host.find(':') != std::string::npos ? ipc::transport::inet_address::v6(host, port_of(argv[4]))
                                                            : ipc::transport::inet_address::v4(host, port_of(argv[4]));
        auto l = ipc::transport::tcp_listener::listen(a);
        std::printf("ready %u\n", static_cast<unsigned>(l.local_port()));
        std::fflush(stdout);
        srv.serve(l, stop);
        return 0;
    }
    if (kind == "shm" && argc == 4) {
        auto link = rpc::shm_endpoint::create(argv[3]);
        std::printf("ready 0\n");
        std::fflush(stdout);
        const ipc::status s = srv.serve_link(link, stop);
        rpc::shm_endpoint::remove(argv[3]);
        return s == ipc::status::closed || s == ipc::status::ok ? 0 : 1;
    }
    return 2;
}

template <class Client>
int call(Client& c) {
    const ExampleReply r = c.template call<ExampleReply>("Coordinator.Example", ExampleArgs{99});
    std::printf("Coordinator.Example(X = 99) = Y = %d\n", r.Y);
    if (r.Y != 100) return 1;
    std::error_code ec;
    int out = 0;
    if (c.call("Fail.Throw", 5, out, ec) != ipc::status::failed || c.last_error_message() != "handler failed on 5") return 3;
    if (c.call("No.Such", 5, out, ec) != ipc::status::failed || ec != rpc::errc::unknown_method) return 4;
    std::string wrong;
    if (c.call("Coordinator.Example", ExampleArgs{1}, wrong, ec) != ipc::status::failed || ec != rpc::errc::type_mismatch) return 5;
    std::printf("errors: ok\n");
    return 0;
}

template <class Client>
int hang(Client& c) {
    int out = 0;
    const auto t0 = std::chrono::steady_clock::now();
    const ipc::status s = c.call_for("Slow.Sleep", 60000, out, 30s);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s after %lld ms\n", s.name(), static_cast<long long>(ms));
    return s == ipc::status::closed || s == ipc::status::peer_dead ? 0 : 1;
}

template <class F>
int with_client(int argc, char** argv, F&& f) {
    const std::string kind = argv[2];
    if (kind == "unix" && argc == 4) {
        auto c = rpc::connect_unix(argv[3]);
        return f(c);
    }
    if (kind == "tcp" && argc == 5) {
        auto c = rpc::connect_tcp(argv[3], port_of(argv[4]));
        return f(c);
    }
    if (kind == "shm" && argc == 4) {
        auto c = rpc::open_shm(argv[3]);
        return f(c);
    }
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: rpc_peer serve|call|hang unix PATH | tcp HOST PORT | shm NAME\n");
        return 2;
    }
    try {
        const std::string mode = argv[1];
        if (mode == "serve") return serve(argc, argv);
        if (mode == "call") return with_client(argc, argv, [](auto& c) { return call(c); });
        if (mode == "hang") return with_client(argc, argv, [](auto& c) { return hang(c); });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rpc_peer: %s\n", e.what());
        return 1;
    }
    return 2;
}
