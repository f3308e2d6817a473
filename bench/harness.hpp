// bench/harness.hpp: the one harness every case runs in.
//
// A case is a "link": an object built in the parent before fork() that gives
// each of the two processes a way to send and receive one message of `size`
// bytes. The harness forks, pins the two processes to different CPUs and runs,
// in the same pair of processes:
//   round trips: the parent sends, the child echoes; each round trip is timed;
//   one way:     the parent sends messages back to back, the child answers
//                the last one (and every `window`-th, for lossy transports), and
//                the whole transfer is timed. The child also samples how far
//                behind the parent it is (lag_p50, below).
// Each phase runs for a time budget or a count, whichever ends first.
// At the end the parent sends a goodbye that the child waits for, so neither
// side ever closes with a message still in flight (ZeroMQ and nng send from
// background threads). Strict ping-pong links (rtt_only) end with the message
// that stops the round trips: their single slot holds one message at a time.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

// a: the measuring parent; b: the echoing child.
enum class side { a, b };

// How much one measurement runs: each phase stops at its time budget or its
// count, whichever comes first (--quick makes both smaller).
struct plan {
    std::size_t warmup;          // round trips before timing
    std::size_t max_rounds;      // timed round trips, at most
    std::int64_t rtt_budget_ns;  // and for at most this long
    std::size_t max_messages;    // one-way phase: at most this many messages,
    std::size_t max_bytes;       // this many bytes,
    std::int64_t oneway_budget_ns;  // and this long
    std::size_t memcpy_bytes;    // floor.memcpy: bytes copied per measurement

    std::size_t messages(std::size_t size) const { return std::clamp<std::size_t>(max_bytes / size, 1, max_messages); }
};

inline constexpr double none = std::numeric_limits<double>::quiet_NaN();

// One measurement. NaN where the case does not measure that quantity.
struct result {
    double rtt_p50_ns = none;
    double rtt_p99_ns = none;
    double msgs_per_s = none;
    double mb_per_s = none;  // MB = 10^6 bytes
    // Call cases (calls.hpp): calls per second with one call in flight
    // (msgs_per_s is then calls per second with calls::in_flight in flight).
    double msgs_per_s_1 = none;
    // One way: the median of the receiver's backlog, sampled every
    // lag_every messages it takes: messages sent but not yet received. It
    // says which regime a throughput figure comes from: a receiver that keeps
    // up reads each line as it is written and polls the sender's index all
    // the time (lag near 0), one that lags reads lines long finished, so the
    // same code can move several times the messages per second (see
    // bench/README.md, "Reading a throughput figure").
    double lag_p50 = none;
    std::string error;       // set: failed, or skipped (then `skipped`)
    bool skipped = false;

    static result fail(std::string why) {
        result r;
        r.error = std::move(why);
        return r;
    }
    static result skip(std::string why) {
        result r = fail(std::move(why));
        r.skipped = true;
        return r;
    }
};

// Thrown by a link's constructor when the case does not apply at this size.
struct not_applicable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

using run_fn = result (*)(std::size_t size, const plan&);

struct case_entry {
    const char* name;
    const char* baseline;  // the case this one is compared with, or nullptr
    run_fn run;
    // Where throughput has another reference than the round trip (a
    // shared-memory channel: RTT against a ping-pong floor, throughput against
    // a ring): ratio_tput uses tput_baseline instead of baseline.
    const char* tput_baseline = nullptr;
    // ratio_bw = mb_per_s / this case's mb_per_s (floor.memcpy), or nullptr.
    const char* bw_baseline = nullptr;
};

// Peers add their cases from their own source files, so that a library missing
// at configure time only drops one file from the build.
inline std::vector<case_entry>& peer_cases() {
    static std::vector<case_entry> cases;
    return cases;
}
struct register_peer {
    explicit register_peer(case_entry e) { peer_cases().push_back(e); }
};

// A private directory under /tmp for sockets and FIFOs; it and the files
// named through file() are removed on destruction.
class temp_dir {
public:
    temp_dir() {
        if (!::mkdtemp(path_)) throw std::runtime_error("mkdtemp failed");
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        for (auto& f : files_) ::unlink(f.c_str());
        ::rmdir(path_);
    }
    std::string file(const char* name) { return files_.emplace_back(std::string(path_) + "/" + name); }

private:
    char path_[32] = "/tmp/ipc_bench.XXXXXX";
    std::vector<std::string> files_;
};

// ---- processes ---------------------------------------------------------------

// The CPUs the two sides are pinned to; -1: not pinned (fewer than 2 CPUs).
inline int cpu_of[2] = {-1, -1};

inline void pin(side s) {
    int cpu = cpu_of[s == side::a ? 0 : 1];
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    ::sched_setaffinity(0, sizeof set, &set);
}

// A measurement that hangs (a lost datagram, a peer that died while the other
// spins) ends the run with a message rather than hanging CI.
inline volatile sig_atomic_t hung_child = 0;
inline constexpr unsigned measurement_timeout_s = 60;

inline void on_hang(int) {
    if (hung_child > 0) ::kill(hung_child, SIGKILL);
    static const char msg[] = "ipc_bench: a measurement hung; aborting\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(3);
}

inline std::int64_t now_ns() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline double percentile(std::vector<std::int64_t>& v, double q) {
    if (v.empty()) return none;
    auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]);
}

// Links whose single slot has no one-way mode (strict ping-pong floors) say rtt_only.
template <class L>
concept rtt_only_link = requires { requires L::rtt_only; };

// Messages the one-way sender may have in flight before waiting for an answer:
// lossy transports (UDP) need credit; everything else blocks in the kernel.
template <class L>
std::size_t window_of(const L& link, std::size_t msgs) {
    if constexpr (requires { link.window(); }) {
        if (link.window() > 0) return link.window();
    }
    return msgs;
}

// Messages one send()/recv() moves (batches); 1 for everything else.
template <class L>
std::size_t per_call(const L& link) {
    if constexpr (requires { link.messages_per_call(); }) return std::max<std::size_t>(1, link.messages_per_call());
    return 1;
}

// What the parent tells the child outside the measured path, in a shared
// page: when the round trips end and which message is the last one-way one.
// Both are written before the message that makes them matter is sent, so the
// child sees them when it receives that message.
struct control {
    std::atomic<bool> rtt_done{false};
    std::atomic<std::uint64_t> last_message{0};
    // One way: calls sent, stored by the parent every 16 (with its clock
    // read, off the per-message path), on a line of its own; and the child's
    // median lag in calls, read by the parent once the child is gone.
    alignas(64) std::atomic<std::uint64_t> sent{0};
    alignas(64) std::atomic<std::uint64_t> lag_p50{0};
};
// Calls between two lag samples: a sample reads the parent's line once.
inline constexpr std::uint64_t lag_every = 1024;

// Builds a link in the parent; a failure or a size it does not apply to is the result.
template <class L>
std::optional<result> build_link(std::optional<L>& link, std::size_t size) {
    try {
        link.emplace(size);
    } catch (const not_applicable& e) {
        return result::skip(e.what());
    } catch (const std::exception& e) {
        return result::fail(e.what());
    }
    return std::nullopt;
}

// The child's side of a measurement: pinned, bounded in time, ending with
// _exit (the parent owns every named resource and cleans up).
template <class F>
[[noreturn]] void child_main(const char* who, F&& body) {
    int code = 0;
    try {
        pin(side::b);
        ::alarm(measurement_timeout_s);
        body();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ipc_bench %s: %s\n", who, e.what());
        code = 1;
    }
    std::fflush(stderr);
    ::_exit(code);
}

// Runs one measurement of link type L at `size` bytes. L(size) is built in the
// parent; L::open(side) runs in each process after fork; send()/recv() move one
// message (or L::messages_per_call(), for batches) and throw on failure.
template <class L>
result run_link(std::size_t size, const plan& p) {
    void* page = ::mmap(nullptr, sizeof(control), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return result::fail("mmap failed");
    struct unmap {
        void* p;
        ~unmap() { ::munmap(p, sizeof(control)); }
    } unmap_page{page};
    control& ctl = *new (page) control;

    std::optional<L> link;
    if (auto failed = build_link(link, size)) return *failed;
    const std::size_t per = per_call(*link);
    const std::size_t max_msgs = std::max<std::size_t>(1, p.messages(size) / per);  // calls, each `per` messages
    const std::size_t window = window_of(*link, max_msgs);

    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return result::fail("fork failed");
    if (pid == 0) {
        child_main("child", [&] {
            link->open(side::b);
            for (;;) {
                link->recv();
                if (ctl.rtt_done.load(std::memory_order_acquire)) break;
                link->send();
            }
            if constexpr (!rtt_only_link<L>) {
                std::vector<std::int64_t> lags;
                lags.reserve(max_msgs / lag_every + 1);
                for (std::uint64_t got = 1;; ++got) {
                    link->recv();
                    const bool last = got == ctl.last_message.load(std::memory_order_acquire);
                    if (got % lag_every == 0) {
                        const std::uint64_t sent = ctl.sent.load(std::memory_order_relaxed);  // at most 15 calls old
                        lags.push_back(sent > got ? static_cast<std::int64_t>(sent - got) : 0);
                    }
                    if (last) ctl.lag_p50.store(lags.empty() ? 0 : static_cast<std::uint64_t>(percentile(lags, 0.50)), std::memory_order_relaxed);
                    if (last || got % window == 0) link->send();
                    if (last) break;
                }
                link->recv();  // goodbye
            }
        });
    }

    hung_child = pid;
    ::alarm(measurement_timeout_s);
    result r;
    try {
        link->open(side::a);
        for (std::size_t i = 0; i < p.warmup; ++i) {
            link->send();
            link->recv();
        }
        std::vector<std::int64_t> rtt;
        rtt.reserve(p.max_rounds);
        for (const std::int64_t start = now_ns(); rtt.size() < p.max_rounds;) {
            const std::int64_t t0 = now_ns();
            link->send();
            link->recv();
            const std::int64_t t1 = now_ns();
            rtt.push_back(t1 - t0);
            if (t1 - start > p.rtt_budget_ns) break;
        }
        ctl.rtt_done.store(true, std::memory_order_release);
        link->send();
        r.rtt_p50_ns = percentile(rtt, 0.50);
        r.rtt_p99_ns = percentile(rtt, 0.99);

        if constexpr (!rtt_only_link<L>) {
            const std::int64_t t0 = now_ns();
            std::uint64_t sent = 0;
            // Checking the clock, and telling the child how many went, every 16
            // messages keeps both off the fast cases' path.
            while (sent + 1 < max_msgs) {
                if (sent % 16 == 0) {
                    ctl.sent.store(sent, std::memory_order_relaxed);
                    if (now_ns() - t0 >= p.oneway_budget_ns) break;
                }
                link->send();
                if (++sent % window == 0) link->recv();
            }
            ctl.last_message.store(++sent, std::memory_order_release);
            link->send();
            link->recv();
            const double secs = static_cast<double>(now_ns() - t0) * 1e-9;
            r.msgs_per_s = static_cast<double>(sent * per) / secs;
            r.mb_per_s = r.msgs_per_s * static_cast<double>(size) * 1e-6;
            link->send();  // goodbye
        }
    } catch (const std::exception& e) {
        r = result::fail(e.what());
        ::kill(pid, SIGKILL);
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    ::alarm(0);
    hung_child = 0;
    if (r.error.empty() && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) r = result::fail("the child process failed");
    // The child stored it before its last answer, and is gone now.
    if (r.error.empty() && !std::isnan(r.msgs_per_s)) r.lag_p50 = static_cast<double>(ctl.lag_p50.load(std::memory_order_relaxed) * per);
    link.reset();  // only now: the child is gone, so named objects can be removed
    return r;
}

// fork() with a pipe from the child to the parent: returns the child's pid (0
// in the child, -1 on failure, with nothing left open); `fd` is the pipe's
// write end in the child and its read end in the parent.
inline pid_t fork_with_pipe(int& fd) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        return -1;
    }
    ::close(fds[pid == 0 ? 0 : 1]);
    fd = fds[pid == 0 ? 1 : 0];
    return pid;
}

// Runs `run` in a fresh child process and returns what it measured: for
// libraries that refuse to run in a child forked after they were used (nng
// panics), so the bench process itself must never touch them.
template <run_fn run>
result isolated(std::size_t size, const plan& p) {
    int fd = -1;
    const pid_t pid = fork_with_pipe(fd);
    if (pid < 0) return result::fail("pipe2 or fork failed");
    if (pid == 0) {
        const result r = run(size, p);
        const double nums[6] = {r.rtt_p50_ns, r.rtt_p99_ns, r.msgs_per_s, r.mb_per_s, r.msgs_per_s_1, r.lag_p50};
        const char skipped = r.skipped ? 1 : 0;
        [[maybe_unused]] ssize_t n = ::write(fd, nums, sizeof nums);
        n = ::write(fd, &skipped, 1);
        n = ::write(fd, r.error.data(), r.error.size());
        ::_exit(0);
    }
    std::string got;
    char buf[512];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
        else if (errno != EINTR) break;
    }
    ::close(fd);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
    double nums[6];
    if (got.size() < sizeof nums + 1) return result::fail("the measuring process died");
    std::memcpy(nums, got.data(), sizeof nums);
    result r;
    r.rtt_p50_ns = nums[0];
    r.rtt_p99_ns = nums[1];
    r.msgs_per_s = nums[2];
    r.mb_per_s = nums[3];
    r.msgs_per_s_1 = nums[4];
    r.lag_p50 = nums[5];
    r.error = got.substr(sizeof nums + 1);
    r.skipped = got[sizeof nums] != 0;
    return r;
}

// The median of each quantity over repeated measurements (failures are left out;
// all failing reports the first failure).
inline result median_of(const std::vector<result>& runs) {
    std::vector<const result*> ok;
    for (auto& r : runs)
        if (r.error.empty()) ok.push_back(&r);
    if (ok.empty()) return runs.front();
    auto med = [&](double result::*field) {
        std::vector<double> v;
        for (auto* r : ok)
            if (!std::isnan(r->*field)) v.push_back(r->*field);
        if (v.empty()) return none;
        std::sort(v.begin(), v.end());
        const std::size_t n = v.size();
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    };
    result m;
    m.rtt_p50_ns = med(&result::rtt_p50_ns);
    m.rtt_p99_ns = med(&result::rtt_p99_ns);
    m.msgs_per_s = med(&result::msgs_per_s);
    m.mb_per_s = med(&result::mb_per_s);
    m.msgs_per_s_1 = med(&result::msgs_per_s_1);
    m.lag_p50 = med(&result::lag_p50);
    return m;
}

}  // namespace bench
