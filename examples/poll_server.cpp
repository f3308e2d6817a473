// poll_server: the classic multiplexing server, every source in one ipc::poller.
//
//   poll_server            serves, starts itself as an unrelated producer program, checks, exits 0
//   poll_server produce N  (the producer) opens the server's channels by name N and uses each once
//
// At once: Unix socket clients (echo), jobs on a shared-memory channel that
// the unrelated program opened by name (no descriptor passed), notes on a
// POSIX queue, and SIGTERM, which ends the loop cleanly. After each event:
// try_ calls until would_block (the drain rule).
#include <ipc/channel.hpp>
#include <ipc/poller.hpp>
#include <ipc/process.hpp>

#include <unistd.h>

#include <cstdio>
#include <list>
#include <string>

namespace {

using namespace std::chrono_literals;
using ipc::ready;
constexpr long jobs = 1000;

struct names {
    std::string ring, queue;
    ipc::transport::unix_address socket;
    explicit names(const std::string& n) : ring(n), queue("/" + n), socket(ipc::transport::unix_address::abstract(n)) {}
};

// The other program: knows the names only.
int produce(const names& n) {
    auto jobs_tx = ipc::shm_channel<long>::open(n.ring);
    for (long i = 1; i <= jobs; ++i)
        if (jobs_tx.send_for(i, 5s) != ipc::status::ok) return 1;
    auto notes = ipc::posix_mq_channel<std::string>::open(n.queue, ipc::transport::mq_access::send);
    if (notes.send_for(std::string("jobs sent"), 5s) != ipc::status::ok) return 2;
    auto client = ipc::unix_stream_channel<std::string>::connect(n.socket, 5s);
    std::string echo;
    if (client.send_for(std::string("hello"), 5s) != ipc::status::ok || client.recv_for(echo, 5s) != ipc::status::ok ||
        echo != "hello")
        return 3;
    return ::kill(::getppid(), SIGTERM) == 0 ? 0 : 4;  // done: stop the server
}

int serve() {
    const names n("poll-server-" + std::to_string(::getpid()));
    ipc::shutdown_signal stop({SIGTERM, SIGINT});
    auto jobs_rx = ipc::shm_channel<long>::create(n.ring, 64);
    auto notes = ipc::posix_mq_channel<std::string>::create(n.queue);
    auto listener = ipc::transport::unix_stream_listener::listen(n.socket);
    ipc::poller p;  // before everything registered in it: destroyed after them
    struct client {
        ipc::unix_stream_channel<std::string> ch;
        ipc::poller::registration reg;  // after ch: detached first
    };
    std::list<client> clients;  // stay where they are: the poller points at them
    enum key : int { k_jobs = 1, k_notes, k_listener, k_stop };
    auto r1 = p.add(jobs_rx, ready::readable, k_jobs);
    auto r2 = p.add(notes, ready::readable, k_notes);
    auto r3 = p.add(listener, ready::readable, k_listener);
    auto r4 = p.add(stop, ready::readable, k_stop);
    auto producer = ipc::spawn({"/proc/self/exe", "produce", n.ring}, ipc::stdio_pipes::none);

    long sum = 0, echoed = 0;
    std::string note, msg;
    for (bool running = true; running;) {
        auto events = p.wait_for(10s);
        if (events.empty()) break;  // 10 s of nothing: the producer failed
        for (const auto& ev : events) {
            switch (ev.key) {
            case k_stop: running = false; break;
            case k_jobs:
                for (long j = 0; jobs_rx.try_recv(j) == ipc::status::ok;) sum += j;
                break;
            case k_notes:
                while (notes.try_recv(note) == ipc::status::ok) std::printf("note: %s\n", note.c_str());
                break;
            case k_listener:
                while (auto s = listener.try_accept()) {
                    auto& c = clients.emplace_back(client{ipc::unix_stream_channel<std::string>(std::move(*s)), {}});
                    c.reg = p.add(c.ch, ready::readable, &c);
                }
                break;
            default: {  // a client: its key is its address
                auto* c = ev.pointer<client>();
                ipc::status st = ipc::status::ok;
                while ((st = c->ch.try_recv(msg)) == ipc::status::ok) echoed += c->ch.send_for(msg, 1s) == ipc::status::ok;
                if (st != ipc::status::would_block) clients.remove_if([c](const client& x) { return &x == c; });
            }
            }
        }
    }
    const int code = producer.process.wait_for(5s).value_or(-1);
    (void)ipc::shm_channel<long>::remove(n.ring);
    (void)ipc::posix_mq_channel<std::string>::remove(n.queue);
    const bool ok = code == 0 && sum == jobs * (jobs + 1) / 2 && echoed == 1;
    std::printf("jobs sum %ld, %ld echoed, producer exit %d: %s\n", sum, echoed, code, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc == 3 && std::string(argv[1]) == "produce") return produce(names(argv[2]));
        return serve();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "poll_server: %s\n", e.what());
        return 1;
    }
}
