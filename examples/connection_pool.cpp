// connection_pool: a database-style pool shared by processes. A table of
// "connections" lives in named shared memory; a counting semaphore lets at
// most kConnections processes hold one at once; a robust mutex guards the
// table. One worker is SIGKILLed while it holds the mutex: the next process to
// lock it is told so, gives the dead worker's connection back, and the pool
// carries on. The program checks its invariants and exits 1 if one fails.
#include <ipc/process.hpp>
#include <ipc/shared_memory.hpp>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

constexpr int kConnections = 2, kWorkers = 4, kRounds = 50;

struct connection {
    pid_t owner;             // 0: free
    std::atomic<int> users;  // processes using it right now: must never exceed 1
    int uses;
};

struct pool {
    ipc::sem::shared_robust_mutex lock;                  // guards everything below but `users`
    ipc::sem::shared_semaphore available{kConnections};  // connections not checked out
    pid_t holder = 0;                                    // who holds `lock`: whose connection a repair gives back
    connection conns[kConnections] = {};
    int repairs = 0, uses = 0, overlaps = 0;
    std::atomic<bool> victim_inside{false};
};

// Takes the lock (bounded); after a holder died, gives its connections back first.
std::unique_lock<ipc::sem::shared_robust_mutex> lock_pool(pool& p) {
    using namespace std::chrono_literals;
    std::unique_lock hold(p.lock, std::defer_lock);
    if (!hold.try_lock_for(5s)) ::_exit(2);
    if (p.lock.previous_owner_died()) {
        for (auto& c : p.conns)
            if (c.owner == p.holder) {
                c.owner = 0;
                c.users = 0;
                p.available.release();  // the dead process's count: a POSIX semaphore does not give it back
            }
        ++p.repairs;
    }
    p.holder = ::getpid();
    return hold;
}

connection& check_out(pool& p) {
    auto hold = lock_pool(p);
    for (auto& c : p.conns)
        if (c.owner == 0) {
            c.owner = ::getpid();
            return c;
        }
    ::_exit(3);  // the semaphore let us in, so one must be free
}

int worker(pool& p) {
    using namespace std::chrono_literals;
    for (int i = 0; i < kRounds; ++i) {
        if (!p.available.try_acquire_for(5s)) return 4;
        connection& c = check_out(p);
        const bool alone = ++c.users == 1;  // "use" the connection, alone on it
        std::this_thread::sleep_for(200us);
        --c.users;
        auto hold = lock_pool(p);
        p.overlaps += !alone;
        ++c.uses;
        ++p.uses;
        c.owner = 0;
        hold.unlock();
        p.available.release();
    }
    return 0;
}

int main() {
    using namespace std::chrono_literals;
    const char* name = "example-connection-pool";
    ipc::shared_memory::remove(name);  // a leftover from an earlier run
    // Workers are forked and inherit the mapping; an unrelated program would call open(name).
    auto p = ipc::shared_object<pool>::create(name);

    // The victim checks a connection out and dies before letting go of the lock.
    auto victim = ipc::fork_with([&] {
        if (!p->available.try_acquire_for(5s)) return 4;
        auto hold = lock_pool(*p);
        p->conns[0].owner = ::getpid();
        p->victim_inside = true;
        std::this_thread::sleep_for(60s);  // holding the lock until killed
        return 5;
    });
    for (int i = 0; i < 500 && !p->victim_inside; ++i) std::this_thread::sleep_for(10ms);

    std::vector<ipc::child_process> workers;
    for (int w = 0; w < kWorkers; ++w) workers.push_back(ipc::fork_with([&] { return worker(*p); }));
    std::this_thread::sleep_for(50ms);  // they are waiting for the lock now
    victim.kill(SIGKILL);
    const bool killed = victim.wait_for(5s) == -SIGKILL;

    int failed = 0;
    for (auto& w : workers) failed += w.wait_for(30s) != 0;

    auto hold = lock_pool(*p);
    int out = 0;
    for (auto& c : p->conns) out += c.owner != 0 || c.users != 0;
    const int free_now = p->available.value();
    std::printf("victim killed holding the lock: %s; repairs %d; uses %d of %d; overlaps %d; "
                "connections still out %d; free %d of %d; workers failed %d\n",
                killed ? "yes" : "no", p->repairs, p->uses, kWorkers * kRounds, p->overlaps, out, free_now, kConnections, failed);
    const bool ok = killed && p->repairs == 1 && p->uses == kWorkers * kRounds && p->overlaps == 0 && out == 0 &&
                    free_now == kConnections && failed == 0;
    hold.unlock();
    ipc::shared_memory::remove(name);
    return ok ? 0 : 1;
}
