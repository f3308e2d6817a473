// Two processes take turns writing to shared memory, handing the turn over
// with two System V semaphores: "ping" lets the parent in, "pong" the child.
//
//   $ ./sysv_sem_turns
//   parent: turn 0 (child wrote -1)
//   child:  turn 0 (parent wrote 0)
//   ...
#include <ipc/sem/sysv_semaphore.hpp>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

struct board {
    int last_parent = -1;
    int last_child = -1;
};

int main() {
    constexpr int turns = 5;
    // Memory both processes see after fork().
    void* mem = ::mmap(nullptr, sizeof(board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return 1;
    auto* b = new (mem) board{};

    // Private sets: only this process tree knows them (by id, inherited over fork).
    auto ping = ipc::sem::sysv_binary_semaphore::create(ipc::sem::private_key, 1);
    auto pong = ipc::sem::sysv_binary_semaphore::create(ipc::sem::private_key, 0);
    // One side releases what the other acquires: that is signalling, so no SEM_UNDO.
    ping.set_undo(false);
    pong.set_undo(false);

    pid_t pid = ::fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        for (int i = 0; i < turns; ++i) {
            if (!pong.try_acquire_for(5s)) ::_exit(2);
            std::printf("child:  turn %d (parent wrote %d)\n", i, b->last_parent);
            std::fflush(stdout);
            b->last_child = i;
            ping.release();
        }
        ::_exit(0);
    }
    int rc = 0;
    for (int i = 0; i < turns && rc == 0; ++i) {
        if (!ping.try_acquire_for(5s)) rc = 3;
        std::printf("parent: turn %d (child wrote %d)\n", i, b->last_child);
        std::fflush(stdout);
        b->last_parent = i;
        pong.release();
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    // System V sets outlive their processes: remove them explicitly.
    ping.remove();
    pong.remove();
    ::munmap(mem, sizeof(board));
    return rc != 0 ? rc : (WIFEXITED(st) ? WEXITSTATUS(st) : 4);
}
