// unix_echo_server: one process serving many Unix socket clients at once.
//
//   unix_echo_server --path /run/user/1000/echo.sock    serve until SIGINT/SIGTERM
//   unix_echo_server --abstract echo                    the same, abstract name
//   unix_echo_server --clients 8                        self-test: fork 8 clients,
//                                                       check their echoes, exit 0
//
// One ipc::poller waits on the listener, the signals and every client
// channel; each message (a length-prefixed string) goes back to the client
// that sent it.
#include <ipc/channel.hpp>
#include <ipc/poller.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <string>

namespace {

using namespace std::chrono_literals;
using ipc::transport::unix_address;
using channel = ipc::unix_stream_channel<std::string>;

constexpr int messages_per_client = 100;

// A client: sends numbered messages and checks each echo. Exit code 0 = all good.
int run_client(const unix_address& addr, int id) {
    auto ch = channel::connect(addr, 5s);
    std::string echo;
    for (int i = 0; i < messages_per_client; ++i) {
        std::string msg = "client " + std::to_string(id) + " message " + std::to_string(i);
        if (ch.send_for(msg, 5s) != ipc::status::ok) return 1;
        if (ch.recv_for(echo, 5s) != ipc::status::ok) return 2;
        if (echo != msg) return 3;
    }
    return 0;
}

// Serves until SIGINT/SIGTERM (stop_on), or (self-test) until `expected`
// clients have come and gone. One ipc::poller holds the listener, the
// signals and every client; after an event, try_ calls until would_block.
void serve(ipc::transport::unix_stream_listener& listener, int expected, ipc::shutdown_signal* stop_on) {
    struct client {
        channel ch;
        ipc::poller::registration reg;  // after ch: detached first
    };
    std::list<client> clients;  // the poller points at them: they stay where they are
    enum key : int { k_listener = 1, k_stop };  // a client's key is its address
    ipc::poller p;
    auto accepting = p.add(listener, ipc::ready::readable, k_listener);
    ipc::poller::registration stopping;
    if (stop_on) stopping = p.add(*stop_on, ipc::ready::readable, k_stop);
    int finished = 0;
    auto idle_since = std::chrono::steady_clock::now();
    while (expected == 0 || finished < expected) {
        auto events = p.wait_for(1s);
        if (events.empty()) {
            if (expected > 0 && std::chrono::steady_clock::now() - idle_since > 30s) throw std::runtime_error("self-test stalled");
            continue;
        }
        idle_since = std::chrono::steady_clock::now();
        for (const auto& ev : events) {
            if (ev.key == k_stop) return;
            if (ev.key == k_listener) {
                while (auto s = listener.try_accept()) {
                    auto& c = clients.emplace_back(client{channel(std::move(*s)), {}});
                    c.reg = p.add(c.ch, ipc::ready::readable, &c);
                }
                continue;
            }
            client* c = ev.pointer<client>();
            std::string msg;
            std::error_code ec;
            // Drain what arrived: one read can bring several messages.
            ipc::status st = c->ch.try_recv(msg, ec);
            for (; st == ipc::status::ok; st = c->ch.try_recv(msg, ec))
                if (c->ch.send_for(msg, 5s, ec) != ipc::status::ok) break;
            if (st != ipc::status::would_block) {
                if (st == ipc::status::failed) std::fprintf(stderr, "client: %s\n", ec.message().c_str());
                clients.remove_if([c](const client& x) { return &x == c; });
                ++finished;
            }
        }
    }
}

int self_test(int n) {
    char dir[] = "/tmp/unix-echo-XXXXXX";
    if (!::mkdtemp(dir)) return 1;
    const std::string path = std::string(dir) + "/echo.sock";
    int failures = 0;
    {
        auto addr = unix_address::path(path);
        auto listener = ipc::transport::unix_stream_listener::listen(addr);
        std::map<pid_t, int> kids;
        for (int i = 0; i < n; ++i) {
            std::fflush(nullptr);
            pid_t pid = ::fork();
            if (pid < 0) return 1;
            if (pid == 0) {
                listener.close();  // the child's copy; the parent's file stays
                int code = 90;
                try {
                    code = run_client(addr, i);
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "client %d: %s\n", i, e.what());
                }
                ::_exit(code);
            }
            kids[pid] = i;
        }
        try {
            serve(listener, n, nullptr);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "server: %s\n", e.what());
            ++failures;
            for (auto& [pid, id] : kids) ::kill(pid, SIGKILL);
        }
        for (auto& [pid, id] : kids) {
            int st = 0;
            ::waitpid(pid, &st, 0);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                std::fprintf(stderr, "client %d failed (status %d)\n", id, st);
                ++failures;
            }
        }
    }  // the listener removes its socket file
    ::rmdir(dir);
    std::printf("%d clients x %d messages: %s\n", n, messages_per_client, failures ? "FAILED" : "all echoed");
    return failures ? 1 : 0;
}

int usage() {
    std::fprintf(stderr, "usage: unix_echo_server (--path FILE | --abstract NAME | --clients N)\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) return usage();
    try {
        if (std::strcmp(argv[1], "--clients") == 0) {
            int n = std::atoi(argv[2]);
            return n > 0 ? self_test(n) : usage();
        }
        unix_address addr;
        if (std::strcmp(argv[1], "--path") == 0) addr = unix_address::path(argv[2]);
        else if (std::strcmp(argv[1], "--abstract") == 0) addr = unix_address::abstract(argv[2]);
        else return usage();
        ipc::shutdown_signal stop({SIGINT, SIGTERM});
        auto listener = ipc::transport::unix_stream_listener::listen(addr);
        std::printf("echoing on %s\n", addr.to_string().c_str());
        std::fflush(stdout);
        serve(listener, 0, &stop);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unix_echo_server: %s\n", e.what());
        return 1;
    }
}
