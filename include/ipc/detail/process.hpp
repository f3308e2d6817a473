// ipc/detail/process.hpp: who a process is, in a way that survives pid reuse.
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "fd.hpp"

namespace ipc::detail {

// A pid alone is not an identity: after a process dies the kernel hands its
// pid to the next one. A pid plus its start time (clock ticks since boot,
// field 22 of /proc/<pid>/stat) is.
struct process_identity {
    std::int32_t pid = 0;
    std::uint64_t start_time = 0;

    friend bool operator==(const process_identity&, const process_identity&) = default;
};

struct proc_stat {
    std::uint64_t start_time = 0;  // 0: no such process, or /proc unreadable
    char state = '?';              // 'Z' zombie, 'X' dead, ...
};

// Fields 3 and 22 of /proc/<pid>/stat.
inline proc_stat read_proc_stat(std::int32_t pid) noexcept {
    char path[48];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    unique_fd fd(retry_eintr([&] { return ::open(path, O_RDONLY | O_CLOEXEC); }));
    if (!fd) return {};
    char buf[1024];
    ssize_t n = retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf - 1); });
    if (n <= 0) return {};
    buf[n] = '\0';
    // The command name (field 2) is in parentheses and may itself contain
    // spaces or ')': fields are counted from the last ')'.
    char* p = std::strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2]) return {};
    proc_stat out;
    out.state = p[2];
    int field = 2;
    for (++p; *p && field < 22; ++p)
        if (*p == ' ') ++field;
    if (field != 22) return {};
    for (; *p >= '0' && *p <= '9'; ++p) out.start_time = out.start_time * 10 + static_cast<std::uint64_t>(*p - '0');
    return out;
}

inline std::uint64_t process_start_time(std::int32_t pid) noexcept { return read_proc_stat(pid).start_time; }

inline process_identity self_identity() noexcept {
    // Cached per process; a forked child has another pid, so it is re-read then.
    static thread_local process_identity cached{};
    std::int32_t pid = static_cast<std::int32_t>(::getpid());
    if (cached.pid != pid) cached = {pid, process_start_time(pid)};
    return cached;
}

// How many forks lie between this process and the first that called
// watch_forks(): an object that registered itself somewhere shared (a peer
// table, a count of mappings) records the epoch, and a forked child using an
// inherited copy sees another one and registers as itself. Reading it is one
// relaxed load; the count moves in pthread_atfork's child handler.
inline std::atomic<std::uint32_t> fork_epoch_counter{0};
inline void watch_forks() noexcept {
    static const bool watching = [] {
        return ::pthread_atfork(nullptr, nullptr, [] { fork_epoch_counter.fetch_add(1, std::memory_order_relaxed); }) == 0;
    }();
    (void)watching;
}
inline std::uint32_t fork_epoch() noexcept { return fork_epoch_counter.load(std::memory_order_relaxed); }

// Alive means: a process with that pid exists, started at that time, and is
// not a zombie. A zombie is dead for ipc's purposes: it will never touch a
// channel again, and its parent may be the very process waiting on it.
inline bool is_alive(const process_identity& id) noexcept {
    if (id.pid <= 0) return false;
    if (::kill(id.pid, 0) != 0 && errno == ESRCH) return false;
    proc_stat st = read_proc_stat(id.pid);
    if (st.start_time == 0) return ::kill(id.pid, 0) == 0 || errno == EPERM;  // no /proc: the pid test is all there is
    return st.start_time == id.start_time && st.state != 'Z' && st.state != 'X';
}

}  // namespace ipc::detail
