// peer.iceoryx: iceoryx 2 (C binding) publish/subscribe, one topic per
// direction ("ping" parent -> child, "pong" child -> parent), the receiver
// sleeping in a WaitSet. Copying into a loaned chunk and out of the received
// one, like the other copying cases.
//
// peer.iceoryx.fanout4: one publisher and 4 subscriber processes on one topic,
// each subscriber getting every message (the producer waits for a full queue),
// as ipc.shm_broadcast.fanout4 measures ipc's broadcast channel: messages delivered
// to each subscriber per second.
//
// iceoryx needs its daemon, RouDi. Each measurement starts its own iox-roudi
// (bounded wait for "ready"), and stops and cleans it afterwards. A process
// holds one iceoryx runtime for its life, so every measurement runs in a fresh
// process (isolated) and the bench process itself never touches iceoryx.
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

// The C binding's headers declare C functions without extern "C" of their own.
extern "C" {
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/wait_set.h>
}

#include "floors.hpp"
#include "harness.hpp"

namespace {

using bench::side;

// The subscriber queue: below the default RouDi config's smallest chunk count
// (200 chunks of 128 KiB carry the 64 KiB messages), so a full queue blocks the
// publisher (WAIT_FOR_CONSUMER) instead of starving the memory pool.
constexpr std::uint64_t queue_capacity = 64;
constexpr std::int64_t roudi_ready_timeout_ns = 10'000'000'000;
constexpr std::int64_t connect_timeout_ns = 10'000'000'000;

std::string find_in_path(const char* name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    for (std::size_t pos = 0; pos <= dirs.size();) {
        std::size_t end = dirs.find(':', pos);
        if (end == std::string::npos) end = dirs.size();
        std::string candidate = dirs.substr(pos, end - pos) + "/" + name;
        if (end > pos && ::access(candidate.c_str(), X_OK) == 0) return candidate;
        pos = end + 1;
    }
    return {};
}

bool exists(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
}

void sleep_ms(long ms) {
    timespec ts{ms / 1000, (ms % 1000) * 1'000'000};
    ::nanosleep(&ts, nullptr);
}

// Runs iox-roudi for one measurement. What RouDi leaves behind when it has to
// be killed (its shared memory, its sockets and locks in /tmp) is removed, but
// only the names that did not exist before it started.
class roudi {
public:
    // `apps`: runtime names; their sockets and locks in /tmp are removed too.
    explicit roudi(const std::vector<std::string>& apps) {
        const std::string exe = find_in_path("iox-roudi");
        if (exe.empty()) throw bench::not_applicable("iox-roudi not installed");
        const passwd* pw = ::getpwuid(::geteuid());
        // RouDi names its shared memory after the user (the payload segment)
        // and iceoryx_mgmt, and its sockets and locks in /tmp.
        for (std::string n : {std::string("/dev/shm/iceoryx_mgmt"), std::string("/dev/shm/") + (pw ? pw->pw_name : ""),
                              std::string("/tmp/roudi"), std::string("/tmp/roudi.lock"),
                              std::string("/tmp/iox-unique-roudi.lock")}) {
            if (exists(n)) {
                if (n.rfind("/dev/shm/iceoryx", 0) == 0 || n.rfind("/tmp/roudi", 0) == 0)
                    throw bench::not_applicable("another RouDi seems to be running (" + n + " exists)");
                continue;  // not ours to remove later
            }
            ours_.push_back(n);
        }
        for (auto& app : apps)
            for (std::string n : {"/tmp/" + app, "/tmp/" + app + ".lock"})
                if (!exists(n)) ours_.push_back(n);
        log_ = dir_.file("roudi.log");
        std::fflush(nullptr);
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            ::execl(exe.c_str(), exe.c_str(), "-l", "warning", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        owner_ = ::getpid();
        // RouDi prints this once its shared memory is set up.
        for (const std::int64_t t0 = bench::now_ns();;) {
            std::ifstream in(log_);
            const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
            if (text.find("RouDi is ready for clients") != std::string::npos) break;
            int st = 0;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                pid_ = -1;
                cleanup();
                throw std::runtime_error("iox-roudi exited during startup: " + text.substr(0, 200));
            }
            if (bench::now_ns() - t0 > roudi_ready_timeout_ns) {
                stop();
                throw std::runtime_error("iox-roudi not ready within 10 s");
            }
            sleep_ms(10);
        }
    }
    ~roudi() {
        if (::getpid() == owner_) stop();
    }
    roudi(const roudi&) = delete;
    roudi& operator=(const roudi&) = delete;

private:
    // SIGKILL, not SIGTERM: on SIGTERM RouDi signals every process still
    // registered with it (the measuring process is), and asserts when one has
    // already gone (the echoing child). What it leaves is removed here.
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {}
            pid_ = -1;
        }
        cleanup();
    }
    void cleanup() {
        for (auto& n : ours_) ::unlink(n.c_str());
    }

    bench::temp_dir dir_;
    std::string log_;
    std::vector<std::string> ours_;
    pid_t pid_ = -1;
    pid_t owner_ = -1;
};

class iceoryx_link {
public:
    explicit iceoryx_link(std::size_t size) : size_(checked(size)), tx_(size, 'x') {}
    ~iceoryx_link() {
        if (::getpid() != roudi_owner_) return;  // the child only _exits
        // Leave RouDi before it stops, so it has no one to signal.
        if (ws_) ::iox_ws_deinit(ws_);
        if (sub_) ::iox_sub_deinit(sub_);
        if (pub_) ::iox_pub_deinit(pub_);
    }
    iceoryx_link(const iceoryx_link&) = delete;
    iceoryx_link& operator=(const iceoryx_link&) = delete;

    void open(side s) {
        const bool a = s == side::a;
        ::iox_set_loglevel(Iceoryx_LogLevel_Warn);  // the runtime logs every segment it maps
        ::iox_runtime_init(app_name(s).c_str());

        iox_pub_options_t po;
        ::iox_pub_options_init(&po);
        po.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
        pub_ = ::iox_pub_init(&pub_storage_, "ipc_bench", "peer", a ? "ping" : "pong", &po);

        iox_sub_options_t so;
        ::iox_sub_options_init(&so);
        so.queueCapacity = queue_capacity;
        so.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
        sub_ = ::iox_sub_init(&sub_storage_, "ipc_bench", "peer", a ? "pong" : "ping", &so);

        ws_ = ::iox_ws_init(&ws_storage_);
        if (::iox_ws_attach_subscriber_state(ws_, sub_, SubscriberState_HAS_DATA, 0, nullptr) != WaitSetResult_SUCCESS)
            throw std::runtime_error("iceoryx: attaching the subscriber to the WaitSet failed");

        // RouDi connects ports asynchronously: a message sent before the other
        // side's subscriber is connected would be lost.
        for (const std::int64_t t0 = bench::now_ns();
             !(::iox_pub_has_subscribers(pub_) && ::iox_sub_get_subscription_state(sub_) == SubscribeState_SUBSCRIBED);) {
            if (bench::now_ns() - t0 > connect_timeout_ns) throw std::runtime_error("iceoryx: peer not connected within 10 s");
            sleep_ms(1);
        }
    }
    // One-way credit: the receiver answers every window()-th message, so the
    // queue never fills. A full queue makes WAIT_FOR_CONSUMER publishers poll
    // with sleeps, which measured that backoff rather than iceoryx.
    static std::size_t window() { return queue_capacity / 2; }

    void send() {
        void* chunk = nullptr;
        const auto r = ::iox_pub_loan_chunk(pub_, &chunk, size_);
        if (r != AllocationResult_SUCCESS) throw std::runtime_error("iceoryx: loan failed (" + std::to_string(r) + ")");
        std::memcpy(chunk, tx_.data(), size_);
        ::iox_pub_publish_chunk(pub_, chunk);
    }
    void recv() {
        for (;;) {
            const void* chunk = nullptr;
            const auto r = ::iox_sub_take_chunk(sub_, &chunk);
            if (r == ChunkReceiveResult_SUCCESS) {
                std::memcpy(rx_.data(), chunk, size_);
                ::iox_sub_release_chunk(sub_, chunk);
                return;
            }
            if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE) throw std::runtime_error("iceoryx: take failed (" + std::to_string(r) + ")");
            iox_notification_info_t events[1];
            std::uint64_t missed = 0;
            (void)::iox_ws_wait(ws_, events, 1, &missed);
        }
    }

private:
    // RouDi's default mempools hold 200 chunks of 128 KiB but only 50 or fewer
    // of each larger size: not enough for a queue and its credit in flight.
    static std::uint32_t checked(std::size_t size) {
        if (size == 0 || size > 65536)
            throw bench::not_applicable("the default RouDi mempools carry 1 to 65536 bytes with a queue of 64");
        return static_cast<std::uint32_t>(size);
    }

    // Named after the parent's pid, so the parent knows the child's name too.
    std::string app_name(side s) const {
        return "ipc_bench_" + std::to_string(roudi_owner_) + (s == side::a ? "_a" : "_b");
    }

    std::uint32_t size_;  // first: checked before RouDi starts
    pid_t roudi_owner_ = ::getpid();
    roudi daemon_{{app_name(side::a), app_name(side::b)}};  // started before, stopped after the ports
    std::vector<char> tx_;
    std::vector<char> rx_ = std::vector<char>(size_);
    iox_pub_storage_t pub_storage_{};
    iox_sub_storage_t sub_storage_{};
    iox_ws_storage_t ws_storage_{};
    iox_pub_t pub_ = nullptr;
    iox_sub_t sub_ = nullptr;
    iox_ws_t ws_ = nullptr;
};

const bench::register_peer reg{{"peer.iceoryx", "raw.unix_stream", bench::isolated<bench::run_link<iceoryx_link>>}};

// What the fan-out's processes share beside iceoryx.
struct board {
    std::atomic<std::uint32_t> ready{0};     // subscribers connected
    std::atomic<std::uint32_t> finished{0};  // subscribers that read the last message
    std::atomic<std::uint64_t> last{UINT64_MAX};
};

// A subscriber process: its own runtime, every message in order (each
// carries its number in its first 8 bytes), waiting in a WaitSet when none.
void fanout_subscriber(const std::string& app, std::size_t size, board& b) {
    ::iox_set_loglevel(Iceoryx_LogLevel_Warn);
    ::iox_runtime_init(app.c_str());
    iox_sub_options_t so;
    ::iox_sub_options_init(&so);
    so.queueCapacity = queue_capacity;
    so.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
    iox_sub_storage_t sub_storage{};
    iox_sub_t sub = ::iox_sub_init(&sub_storage, "ipc_bench", "fanout", "ticks", &so);
    iox_ws_storage_t ws_storage{};
    iox_ws_t ws = ::iox_ws_init(&ws_storage);
    if (::iox_ws_attach_subscriber_state(ws, sub, SubscriberState_HAS_DATA, 0, nullptr) != WaitSetResult_SUCCESS)
        throw std::runtime_error("iceoryx: attaching the subscriber to the WaitSet failed");
    for (const std::int64_t t0 = bench::now_ns(); ::iox_sub_get_subscription_state(sub) != SubscribeState_SUBSCRIBED;) {
        if (bench::now_ns() - t0 > connect_timeout_ns) throw std::runtime_error("iceoryx: subscriber not connected within 10 s");
        sleep_ms(1);
    }
    b.ready.fetch_add(1);
    std::vector<char> rx(size);
    for (std::uint64_t expected = 0;;) {
        const void* chunk = nullptr;
        const auto r = ::iox_sub_take_chunk(sub, &chunk);
        if (r == ChunkReceiveResult_NO_CHUNK_AVAILABLE) {
            iox_notification_info_t events[1];
            std::uint64_t missed = 0;
            (void)::iox_ws_wait(ws, events, 1, &missed);
            continue;
        }
        if (r != ChunkReceiveResult_SUCCESS) throw std::runtime_error("iceoryx: take failed (" + std::to_string(r) + ")");
        std::memcpy(rx.data(), chunk, size);
        ::iox_sub_release_chunk(sub, chunk);
        std::uint64_t seq = 0;
        std::memcpy(&seq, rx.data(), sizeof seq);
        if (seq != expected++) throw std::runtime_error("iceoryx: a subscriber missed a message");
        if (seq == b.last.load(std::memory_order_acquire)) break;
    }
    b.finished.fetch_add(1);
    ::iox_ws_deinit(ws);
    ::iox_sub_deinit(sub);
}

template <std::uint32_t N>
bench::result run_fanout(std::size_t size, const bench::plan& p) {
    if (size < sizeof(std::uint64_t) || size > 65536) return bench::result::skip("the fan-out carries 8 to 65536 bytes");
    const std::string prefix = "ipc_bench_fan_" + std::to_string(::getpid()) + "_";
    std::vector<std::string> apps{prefix + "pub"};
    for (std::uint32_t i = 0; i < N; ++i) apps.push_back(prefix + std::to_string(i));
    bench::floors::shared_region page(sizeof(board));
    board& b = *new (page.data()) board;
    roudi daemon(apps);
    std::fflush(nullptr);
    std::vector<pid_t> kids;
    for (std::uint32_t i = 0; i < N; ++i) {
        const pid_t pid = ::fork();
        if (pid < 0) break;
        if (pid == 0) bench::child_main("iceoryx subscriber", [&] { fanout_subscriber(apps[i + 1], size, b); });
        kids.push_back(pid);
    }
    bench::result res;
    iox_pub_t pub = nullptr;
    iox_pub_storage_t pub_storage{};
    try {
        if (kids.size() != N) throw std::runtime_error("fork failed");
        bench::pin(side::a);
        ::iox_set_loglevel(Iceoryx_LogLevel_Warn);
        ::iox_runtime_init(apps[0].c_str());
        iox_pub_options_t po;
        ::iox_pub_options_init(&po);
        po.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
        pub = ::iox_pub_init(&pub_storage, "ipc_bench", "fanout", "ticks", &po);
        for (const std::int64_t t0 = bench::now_ns(); b.ready.load() != N;) {
            if (bench::now_ns() - t0 > connect_timeout_ns) throw std::runtime_error("iceoryx: subscribers not connected within 10 s");
            sleep_ms(1);
        }
        std::vector<char> tx(size, 'x');
        // A loan fails while every chunk is still held by a subscriber's
        // queue: that is the publisher waiting for the slowest, so it retries.
        const auto publish = [&](std::uint64_t seq) {
            void* chunk = nullptr;
            for (;;) {
                const auto r = ::iox_pub_loan_chunk(pub, &chunk, static_cast<std::uint32_t>(size));
                if (r == AllocationResult_SUCCESS) break;
                if (r != AllocationResult_RUNNING_OUT_OF_CHUNKS && r != AllocationResult_TOO_MANY_CHUNKS_ALLOCATED_IN_PARALLEL)
                    throw std::runtime_error("iceoryx: loan failed (" + std::to_string(r) + ")");
                ::sched_yield();
            }
            std::memcpy(tx.data(), &seq, sizeof seq);
            std::memcpy(chunk, tx.data(), size);
            ::iox_pub_publish_chunk(pub, chunk);
        };
        const std::size_t max_msgs = std::max<std::size_t>(2, p.messages(size));
        const std::int64_t t0 = bench::now_ns();
        std::uint64_t sent = 0;
        while (sent + 1 < max_msgs && (sent % 16 != 0 || bench::now_ns() - t0 < p.oneway_budget_ns)) publish(sent++);
        b.last.store(sent, std::memory_order_release);
        publish(sent++);
        for (const std::int64_t t1 = bench::now_ns(); b.finished.load() != N;) {
            if (bench::now_ns() - t1 > connect_timeout_ns) throw std::runtime_error("iceoryx: subscribers did not finish within 10 s");
            ::sched_yield();
        }
        const double secs = static_cast<double>(bench::now_ns() - t0) * 1e-9;
        res.msgs_per_s = static_cast<double>(sent) / secs;
        res.mb_per_s = res.msgs_per_s * static_cast<double>(size) * 1e-6;
    } catch (const std::exception& e) {
        res = bench::result::fail(e.what());
        for (pid_t k : kids) ::kill(k, SIGKILL);
    }
    for (pid_t k : kids) {
        int st = 0;
        while (::waitpid(k, &st, 0) < 0 && errno == EINTR) {}
        if (res.error.empty() && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) res = bench::result::fail("an iceoryx subscriber process failed");
    }
    if (pub) ::iox_pub_deinit(pub);  // before RouDi stops, so it has no one to signal
    return res;
}

const bench::register_peer reg_fanout{{"peer.iceoryx.fanout4", "ipc.shm_broadcast.fanout4", bench::isolated<run_fanout<4>>}};

}  // namespace
