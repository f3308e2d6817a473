// A table in named shared memory, guarded by a robust mutex that lives in it,
// with a semaphore in it that lets at most two workers in at a time: the
// classic "shared table guarded by a semaphore", with no mmap by hand.
// Four forked workers record their visits; the parent prints the table.
#include <ipc/shared_memory.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

struct table {
    ipc::sem::shared_robust_mutex lock;      // guards rows and visits
    ipc::sem::shared_semaphore desks{2};     // two workers at a time
    int rows[4] = {};
    int visits = 0;
};

int main() {
    using namespace std::chrono_literals;
    const char* name = "example-table";
    ipc::shared_memory::remove(name);              // a leftover from an earlier run
    auto t = ipc::shared_object<table>::create(name);  // constructs table once, here

    for (int w = 0; w < 4; ++w) {
        if (::fork() == 0) {  // a worker: opens the table by name, as an unrelated program would
            auto mine = ipc::shared_object<table>::open(name);
            for (int i = 0; i < 100; ++i) {
                if (!mine->desks.try_acquire_for(5s)) ::_exit(1);
                {
                    std::lock_guard hold(mine->lock);
                    if (mine->lock.previous_owner_died()) std::puts("a worker died holding the lock: rows may be off");
                    ++mine->rows[w];
                    ++mine->visits;
                }
                mine->desks.release();
            }
            ::_exit(0);
        }
    }
    int failed = 0;
    for (int w = 0; w < 4; ++w) {
        int st = 0;
        ::wait(&st);
        failed += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    std::lock_guard hold(t->lock);
    for (int w = 0; w < 4; ++w) std::printf("worker %d: %d visits\n", w, t->rows[w]);
    std::printf("total %d (expected 400)\n", t->visits);
    ipc::shared_memory::remove(name);
    return failed == 0 && t->visits == 400 ? 0 : 1;
}
