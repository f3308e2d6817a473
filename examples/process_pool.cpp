// process_pool: a parent hands tasks to 4 worker processes, one task at a
// time each, over a pipe each way, and collects the results. One worker is
// SIGKILLed in the middle of a task (here it kills itself, as the OOM killer
// would): the parent learns of it only because that worker's result pipe
// reaches end of file, reaps it, starts a new worker in its place and gives
// the unfinished task to the pool again. The program checks that every
// task's result arrived exactly once and exits 1 if not.
#include <ipc/poller.hpp>
#include <ipc/process.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
constexpr int kWorkers = 4, kTasks = 40, kDoomed = 7;  // the task whose first attempt is killed

struct task {
    int id;
    int attempt;  // 0 the first time, 1 after a worker died doing it, ...
};
struct result {
    int id;
    long value;
};

int work(ipc::pipe_receiver<task>& tasks, ipc::pipe_sender<result>& results) {
    for (task t{};;) {
        const ipc::status st = tasks.recv_for(t, 30s);
        if (st == ipc::status::closed) return 0;  // the parent closed our pipe: no more work
        if (st != ipc::status::ok) return 1;
        std::this_thread::sleep_for(2ms);          // half the work
        if (t.id == kDoomed && t.attempt == 0) ::kill(::getpid(), SIGKILL);
        std::this_thread::sleep_for(2ms);          // the other half
        if (results.send_for(result{t.id, long{t.id} * t.id}, 30s) != ipc::status::ok) return 1;
    }
}

struct worker {
    ipc::forked_child<task, result> child = ipc::fork_with<task, result>(work);
    int busy_with = -1;  // the task it holds, or -1
    task current{};
};

int main() {
    std::deque<task> todo;
    for (int i = 0; i < kTasks; ++i) todo.push_back({i, 0});
    ipc::poller results;  // one wait over every worker's result pipe
    std::vector<worker> pool(kWorkers);
    std::vector<ipc::poller::registration> watched;
    for (int i = 0; i < kWorkers; ++i) watched.push_back(results.add(pool[i].child.from_child, ipc::ready::readable, i));
    std::vector<int> arrived(kTasks, 0);
    int done = 0, deaths = 0, bad = 0;

    const auto give_up = std::chrono::steady_clock::now() + 30s;
    while (done < kTasks && std::chrono::steady_clock::now() < give_up) {
        for (auto& w : pool)  // give every idle worker a task
            if (w.busy_with < 0 && !todo.empty()) {
                w.current = todo.front();
                todo.pop_front();
                // Blocking but bounded: an idle worker's pipe is empty, so 8 bytes fit at once.
                if (w.child.to_child.send(w.current) != ipc::status::ok) ++bad;
                w.busy_with = w.current.id;
            }
        // A result, or an end of file, from any worker.
        for (const auto& ev : results.wait_for(100ms)) {
            worker& w = pool[ev.key];
            result r{};
            // Readable: a whole result (written in one piece) or end of file, so this cannot block.
            const ipc::status st = w.child.from_child.recv(r);
            if (st == ipc::status::ok && r.id == w.busy_with && r.value == long{r.id} * r.id) {
                ++arrived[r.id];
                ++done;
                w.busy_with = -1;
            } else if (st == ipc::status::closed) {  // the worker died: reap it, retry its task, replace it
                const pid_t pid = w.child.process.pid();
                const auto code = w.child.process.wait_for(5s);
                std::printf("worker %d died (%s) during task %d: task given out again, worker restarted\n", pid, code == -SIGKILL ? "SIGKILL" : "other", w.busy_with);
                ++deaths;
                if (w.busy_with >= 0) todo.push_front({w.current.id, w.current.attempt + 1});
                watched[ev.key].reset();
                w = worker{};
                watched[ev.key] = results.add(w.child.from_child, ipc::ready::readable, ev.key);
            } else {
                ++bad;  // a wrong or unreadable result
                w.busy_with = -1;
            }
        }
    }

    int stopped = 0;  // closing a worker's task pipe tells it to finish
    for (auto& w : pool) {
        w.child.to_child.close();
        stopped += w.child.process.wait_for(5s) == 0;
    }
    int once = 0;
    for (int n : arrived) once += n == 1;
    std::printf("%d of %d tasks done exactly once; %d worker death(s); %d of %d workers stopped cleanly; %d errors\n",
                once, kTasks, deaths, stopped, kWorkers, bad);
    return once == kTasks && deaths == 1 && stopped == kWorkers && bad == 0 ? 0 : 1;
}
