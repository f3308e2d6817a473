// master_workers: the way nginx runs. A master opens a listening Unix socket,
// starts worker processes and hands each the listening socket over its
// control socket (SCM_RIGHTS: ipc::send_fd), as it must for a worker that was
// exec'd rather than forked. The workers accept clients in turn. The master
// sends them commands (reload, quit) over the same control sockets, and
// restarts a worker that is killed; a client process is served throughout.
#include <ipc/channel.hpp>
#include <ipc/fd_passing.hpp>
#include <ipc/poller.hpp>
#include <ipc/process.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
constexpr int kWorkers = 3, kRequests = 300;

struct message {  // a command (master <-> worker) or a request/reply (client <-> worker)
    enum kind_t : int { request, reload, quit } kind;
    int value;       // the request's number; a reply's answer
    int generation;  // the configuration the worker runs: 0, then 1 after a reload
};
using control = ipc::unix_seqpacket_channel<message>;

// Answers one client on an accepted connection.
void serve(ipc::unix_stream_channel<message> client, int generation) {
    message m{};
    if (client.recv_for(m, 2s) == ipc::status::ok && m.kind == message::request)
        (void)client.send_for(message{message::request, m.value * 2, generation}, 2s);
}

int run_worker(control master) {
    // The listening socket the master made, received over the control socket.
    auto listening = ipc::transport::unix_stream_listener::adopt(ipc::recv_fd_for(master.transport(), 5s));
    int generation = 0;
    ipc::poller p;
    enum : ipc::poller::key_type { clients, commands };
    auto r1 = p.add(listening, ipc::ready::readable, clients);
    auto r2 = p.add(master, ipc::ready::readable, commands);
    for (;;) {
        const auto ready = p.wait_for(10s);
        if (ready.empty()) return 1;  // ten silent seconds: the master is gone
        for (const auto& ev : ready) {
            if (ev.key == commands) {
                message c{};
                if (master.recv_for(c, 1s) != ipc::status::ok || c.kind == message::quit) return 0;  // quit, or master closed
                if (c.kind == message::reload && master.send_for(message{message::reload, 0, ++generation}, 1s) != ipc::status::ok)
                    return 1;
            } else if (auto client = listening.try_accept()) {  // else another worker took it
                serve(ipc::unix_stream_channel<message>(std::move(*client)), generation);
            }
        }
    }
}

struct worker {
    control ctl;
    ipc::child_process process;
};

int main() {
    const std::string path = "/tmp/ipc-example-master-" + std::to_string(::getpid()) + ".sock";
    const auto address = ipc::transport::unix_address::path(path);
    auto listener = ipc::transport::unix_stream_listener::listen(address);  // removes its file when destroyed

    std::vector<worker> workers;
    auto start_worker = [&] {
        auto ends = ipc::transport::unix_seqpacket::pair();
        auto child = ipc::fork_with([&] {
            // Hold nothing of the master's: the worker uses the socket it is sent, as an exec'd one would.
            ::close(listener.native_handle());
            ends.first.close();
            for (auto& w : workers) w.ctl.close();
            return run_worker(control(std::move(ends.second)));
        });
        ipc::send_fd(ends.first, listener.native_handle());
        return worker{control(std::move(ends.first)), std::move(child)};
    };
    for (int i = 0; i < kWorkers; ++i) workers.push_back(start_worker());

    // The client: kRequests requests, each on a new connection; a request whose worker died under it is retried.
    auto client = ipc::fork_with<int, int>([&](ipc::pipe_receiver<int>&, ipc::pipe_sender<int>& report) {
        int served = 0, retried = 0;
        for (int i = 0; i < kRequests; ++i) {
            for (int attempt = 0; attempt < 3; ++attempt, ++retried) {
                message reply{};
                auto c = ipc::unix_stream_channel<message>::connect(address, 2s);
                if (c.send_for(message{message::request, i, 0}, 2s) == ipc::status::ok &&
                    c.recv_for(reply, 2s) == ipc::status::ok && reply.value == 2 * i) {
                    ++served;
                    break;
                }
            }
            std::this_thread::sleep_for(1ms);
        }
        return report.send_for(served, 5s) == ipc::status::ok && report.send_for(retried, 5s) == ipc::status::ok ? 0 : 1;
    });

    std::this_thread::sleep_for(50ms);
    int reloaded = 0;  // reload: every worker acknowledges its new generation
    for (auto& w : workers) {
        message ack{};
        reloaded += w.ctl.send_for(message{message::reload, 0, 0}, 1s) == ipc::status::ok &&
                    w.ctl.recv_for(ack, 2s) == ipc::status::ok && ack.generation == 1;
    }
    workers[1].process.kill(SIGKILL);  // as the OOM killer might
    const bool killed = workers[1].process.wait_for(5s) == -SIGKILL;
    workers[1] = start_worker();  // the master restarts it (its configuration: generation 0)

    int served = 0, retried = 0;
    const bool client_ok = client.from_child.recv_for(served, 30s) == ipc::status::ok &&
                           client.from_child.recv_for(retried, 5s) == ipc::status::ok && client.process.wait_for(5s) == 0;
    int quit = 0;
    for (auto& w : workers) quit += w.ctl.send_for(message{message::quit, 0, 0}, 1s) == ipc::status::ok && w.process.wait_for(5s) == 0;
    std::printf("%d of %d requests served (%d retried); reload acknowledged by %d of %d; worker killed: %s, restarted; "
                "%d of %d quit cleanly\n",
                served, kRequests, retried, reloaded, kWorkers, killed ? "yes" : "no", quit, kWorkers);
    return client_ok && served == kRequests && reloaded == kWorkers && killed && quit == kWorkers ? 0 : 1;
}
