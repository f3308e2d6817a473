// A coordinator hands out tasks by remote call to worker processes that ask
// for work and report results. A task not reported within its lease goes to
// the next worker that asks, so a killed worker (one here kills itself
// mid-task) loses nothing. Over a Unix socket, or TCP on loopback:
//   coordinator [unix|tcp] [workers] [tasks]      exit 0 when every result is right
#include <ipc/rpc.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

struct ask { int worker; };
struct task { int id; long input; };  // id -1: none free now, ask again; -2: all done, exit
struct result { int id; long output; };
struct ack { bool accepted; };

template <class Client>
int work(Client c, int me) {
    for (int done = 0;;) {
        const task t = c.template call<task>("Coordinator.GetTask", ask{me});
        if (t.id == -2) return 0;
        if (t.id == -1) { ::usleep(10000); continue; }
        if (me == 0 && done == 0) ::raise(SIGKILL);  // dies holding a task: it is handed out again
        (void)c.template call<ack>("Coordinator.Report", result{t.id, t.input * t.input});
        ++done;
    }
}

int main(int argc, char** argv) {
    using clock = std::chrono::steady_clock;
    const bool tcp = argc > 1 && std::string(argv[1]) == "tcp";
    const int workers = argc > 2 ? std::atoi(argv[2]) : 4;
    const int ntasks = argc > 3 ? std::atoi(argv[3]) : 40;
    const auto lease = std::chrono::milliseconds(300);

    struct state { long output = 0; bool done = false; int handed = 0; clock::time_point due{}; };
    std::vector<state> tasks(static_cast<std::size_t>(ntasks));
    int finished = 0;
    auto all_done = ipc::pipe_channel<int>::create();  // readable once the last result is in: stops serve()

    ipc::rpc::server srv;
    bool first_given = false;
    srv.on("Coordinator.GetTask", [&](const ask& a) {
        if (finished == ntasks) return task{-2, 0};
        if (!first_given && a.worker != 0) return task{-1, 0};  // worker 0, the one that dies, goes first
        first_given = true;
        const auto now = clock::now();
        for (int i = 0; i < ntasks; ++i) {
            state& s = tasks[static_cast<std::size_t>(i)];
            if (s.done || (s.handed > 0 && now < s.due)) continue;  // done, or leased to a live worker
            ++s.handed;
            s.due = now + lease;
            return task{i, 1000L + i};
        }
        return task{-1, 0};
    });
    srv.on("Coordinator.Report", [&](const result& r) {
        if (r.id < 0 || r.id >= ntasks || tasks[static_cast<std::size_t>(r.id)].done) return ack{false};
        tasks[static_cast<std::size_t>(r.id)] = {r.output, true, tasks[static_cast<std::size_t>(r.id)].handed, {}};
        if (++finished == ntasks) (void)all_done.sender.try_send(1);
        return ack{true};
    });

    char dir[] = "/tmp/ipc-example-XXXXXX";
    if (!tcp && !::mkdtemp(dir)) return 1;
    const std::string path = std::string(dir) + "/coordinator.sock";
    auto run = [&](auto& listener, auto connect) {
        std::vector<pid_t> pids;
        for (int w = 0; w < workers; ++w)
            if (const pid_t pid = ::fork(); pid == 0) {
                int code = 1;
                try { code = work(connect(), w); } catch (const std::exception&) { code = 0; }  // the coordinator left first
                ::_exit(code);
            } else {
                pids.push_back(pid);
            }
        srv.serve(listener, all_done.receiver);
        listener.close();  // workers still asking now see the connection close
        int killed = 0;
        for (pid_t p : pids) {
            int st = 0;
            ::waitpid(p, &st, 0);
            killed += WIFSIGNALED(st);
        }
        return killed;
    };
    int killed = 0;
    if (tcp) {
        auto l = ipc::rpc::listen_tcp("127.0.0.1");  // port 0: the kernel picks
        const std::uint16_t port = l.local_port();
        killed = run(l, [port] { return ipc::rpc::connect_tcp("127.0.0.1", port); });
    } else {
        auto l = ipc::rpc::listen_unix(path);
        killed = run(l, [&] { return ipc::rpc::connect_unix(path); });
        ::rmdir(dir);
    }

    int wrong = 0, reassigned = 0;
    for (int i = 0; i < ntasks; ++i) {
        const state& s = tasks[static_cast<std::size_t>(i)];
        wrong += !s.done || s.output != (1000L + i) * (1000L + i);
        reassigned += s.handed > 1;
    }
    std::printf("%d tasks over %s by %d workers (%d killed): %d wrong, %d handed out again\n", ntasks, tcp ? "tcp" : "unix", workers,
                killed, wrong, reassigned);
    return wrong == 0 && (workers == 0 || killed == 1) && reassigned >= killed ? 0 : 1;
}
