// The same request/reply program on two machines: only the address changes.
// Run the server on one host and the client on another (here: loopback):
//   across_hosts serve 127.0.0.1 0        prints "listening on <port>", serves until SIGTERM/SIGINT
//   across_hosts call 127.0.0.1 <port>    the classic call: X = 99 gives Y = 100 (exit 0)
// IPv6 works the same way ("::1", or any numeric address of the server's host).
#include <ipc/rpc.hpp>
#include <ipc/transport/signal.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

struct ExampleArgs { int X; };
struct ExampleReply { int Y; };

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: across_hosts serve|call HOST PORT\n");
        return 2;
    }
    const std::string mode = argv[1], host = argv[2];
    const auto port = static_cast<std::uint16_t>(std::atoi(argv[3]));
    try {
        if (mode == "serve") {
            ipc::shutdown_signal stop;
            const auto at = host.find(':') != std::string::npos ? ipc::transport::inet_address::v6(host, port)
                                                                 : ipc::transport::inet_address::v4(host, port);
            auto listener = ipc::transport::tcp_listener::listen(at);
            ipc::rpc::server srv;
            srv.on("Coordinator.Example", [](const ExampleArgs& a) { return ExampleReply{a.X + 1}; });
            std::printf("listening on %u\n", static_cast<unsigned>(listener.local_port()));
            std::fflush(stdout);
            srv.serve(listener, stop);
            return 0;
        }
        if (mode == "call") {
            auto c = ipc::rpc::connect_tcp(host, port);
            const auto r = c.call<ExampleReply>("Coordinator.Example", ExampleArgs{99});
            std::printf("Coordinator.Example(X = 99) -> Y = %d\n", r.Y);
            return r.Y == 100 ? 0 : 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "across_hosts: %s\n", e.what());
        return 1;
    }
    return 2;
}
