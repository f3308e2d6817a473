// bench/queues.hpp: kernel message queues and the eventfd counter, raw and as
// ipc channels, one queue (or eventfd) per direction.
//
//   raw.posix_mq  mq_send / mq_receive on blocking descriptors, queues of 10
//                 messages of exactly `size` bytes (msgsize_max allows 8192)
//   raw.sysv_mq   msgsnd / msgrcv of `struct { long mtype; char text[size]; }`
//   raw.eventfd   write(1) / read of an EFD_SEMAPHORE eventfd: 8 bytes only
//   raw.sigqueue  sigqueue(2) of a realtime signal with an 8-byte sigval to the
//                 peer's pid, sigwaitinfo(2) on it blocked: 8 bytes only
//
// POSIX queues are unlinked as soon as both ends are open; System V queues go
// with the link (in the parent, once the child is gone).
#pragma once

#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/msg.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ipc/channel.hpp>

#include "channels.hpp"
#include "floors.hpp"
#include "harness.hpp"
#include "raw.hpp"

namespace bench::queues {

inline constexpr std::size_t queue_max_message = 8192;  // the default msgsize_max and msgmax

inline void check_size(std::size_t size) {
    if (size > queue_max_message) throw not_applicable("above the kernel's default message size limit (8192)");
}

// ipc_bench.<pid>.<serial>, a valid POSIX IPC name after a leading '/'.
inline std::string queue_name() {
    static std::atomic<unsigned> serial{0};
    return "ipc_bench." + std::to_string(::getpid()) + ".q" + std::to_string(serial++);
}

// ---- raw -----------------------------------------------------------------------

class raw_posix_mq {
public:
    explicit raw_posix_mq(std::size_t size) : tx_(size, 'x'), rx_(size) {
        check_size(size);
        mq_attr attr{};
        attr.mq_maxmsg = 10;
        attr.mq_msgsize = static_cast<long>(size);
        for (auto& q : q_) {
            const std::string path = "/" + queue_name();
            q.reset(raw::check(::mq_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr), "mq_open"));
            ::mq_unlink(path.c_str());  // the descriptors keep it; the child inherits them
        }
    }
    void open(side s) { out_ = s == side::a ? 0 : 1; }
    void send() {
        while (::mq_send(q_[out_].get(), tx_.data(), tx_.size(), 0) != 0)
            if (errno != EINTR) raw::fail("mq_send");
    }
    void recv() {
        for (;;) {
            const ssize_t n = ::mq_receive(q_[1 - out_].get(), rx_.data(), rx_.size(), nullptr);
            if (n == static_cast<ssize_t>(rx_.size())) return;
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) raw::fail("mq_receive");
            throw std::runtime_error("mq_receive: message of the wrong size");
        }
    }

private:
    raw::unique_fd q_[2];
    int out_ = 0;
    std::vector<char> tx_, rx_;
};

class raw_sysv_mq {
public:
    explicit raw_sysv_mq(std::size_t size) : size_(size), tx_(sizeof(long) + size, 'x'), rx_(sizeof(long) + size) {
        check_size(size);
        const long type = 1;
        std::memcpy(tx_.data(), &type, sizeof type);
        for (int& id : id_) id = raw::check(::msgget(IPC_PRIVATE, IPC_CREAT | 0600), "msgget");
    }
    ~raw_sysv_mq() {
        for (int id : id_) ::msgctl(id, IPC_RMID, nullptr);
    }
    raw_sysv_mq(const raw_sysv_mq&) = delete;
    raw_sysv_mq& operator=(const raw_sysv_mq&) = delete;

    void open(side s) { out_ = s == side::a ? 0 : 1; }
    void send() {
        while (::msgsnd(id_[out_], tx_.data(), size_, 0) != 0)
            if (errno != EINTR) raw::fail("msgsnd");
    }
    void recv() {
        for (;;) {
            const ssize_t n = ::msgrcv(id_[1 - out_], rx_.data(), size_, 0, 0);
            if (n == static_cast<ssize_t>(size_)) return;
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) raw::fail("msgrcv");
            throw std::runtime_error("msgrcv: message of the wrong size");
        }
    }

private:
    std::size_t size_;
    int id_[2] = {-1, -1};
    int out_ = 0;
    std::vector<char> tx_, rx_;  // mtype, then the text
};

inline void check_8_bytes(std::size_t size, const char* what) {
    if (size != sizeof(std::uint64_t)) throw not_applicable(what);
}

class raw_eventfd {
public:
    explicit raw_eventfd(std::size_t size) {
        check_8_bytes(size, "an eventfd carries an 8-byte counter");
        // EFD_SEMAPHORE: every write of 1 is one read, so back-to-back sends are not summed into one.
        for (auto& fd : fd_) fd.reset(raw::check(::eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE), "eventfd"));
    }
    void open(side s) { out_ = s == side::a ? 0 : 1; }
    void send() {
        const std::uint64_t one = 1;
        raw::write_all(fd_[out_].get(), &one, sizeof one);
    }
    void recv() {
        std::uint64_t v = 0;
        raw::read_exact(fd_[1 - out_].get(), &v, sizeof v);
    }

private:
    raw::unique_fd fd_[2];
    int out_ = 0;
};

// A realtime signal per direction, sent to the peer's pid. The child blocks
// its signal and then publishes its pid; the parent waits for that before its
// first send (an unblocked realtime signal would kill the child). Each side
// receives everything the other sends, so nothing is left pending when the
// parent unblocks its signal again.
class signal_pids {
public:
    explicit signal_pids(std::size_t size) : page_(sizeof(std::atomic<pid_t>)) {
        check_8_bytes(size, "a signal carries an 8-byte sigval");
        child_ = new (page_.data()) std::atomic<pid_t>(0);
    }
    // Direction 0 is a -> b, 1 is b -> a.
    static int signal_of(int direction) { return SIGRTMIN + 1 + direction; }
    // Call once the receiving side is ready: returns the peer's pid.
    pid_t ready(side s) {
        if (s == side::b) {
            child_->store(::getpid(), std::memory_order_release);
            return ::getppid();
        }
        floors::spin_until([&] { return child_->load(std::memory_order_acquire) != 0; });
        return child_->load(std::memory_order_acquire);
    }

private:
    floors::shared_region page_;
    std::atomic<pid_t>* child_;
};

class raw_sigqueue {
public:
    explicit raw_sigqueue(std::size_t size) : pids_(size) {}
    ~raw_sigqueue() {
        if (blocked_) ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    raw_sigqueue(const raw_sigqueue&) = delete;
    raw_sigqueue& operator=(const raw_sigqueue&) = delete;

    void open(side s) {
        const int out = s == side::a ? 0 : 1;
        out_sig_ = signal_pids::signal_of(out);
        sigemptyset(&in_);
        sigaddset(&in_, signal_pids::signal_of(1 - out));
        ::pthread_sigmask(SIG_BLOCK, &in_, &old_);
        blocked_ = true;
        peer_ = pids_.ready(s);
    }
    void send() {
        sigval v{};
        v.sival_ptr = reinterpret_cast<void*>(++seq_);
        // EAGAIN: the receiver's queue (RLIMIT_SIGPENDING) is full; let it drain.
        while (::sigqueue(peer_, out_sig_, v) != 0)
            if (errno == EAGAIN) ::sched_yield();
            else raw::fail("sigqueue");
    }
    void recv() {
        siginfo_t info;
        while (::sigwaitinfo(&in_, &info) < 0)
            if (errno != EINTR) raw::fail("sigwaitinfo");
    }

private:
    signal_pids pids_;
    sigset_t in_, old_;
    bool blocked_ = false;
    int out_sig_ = 0;
    pid_t peer_ = 0;
    std::uintptr_t seq_ = 0;
};

// ---- ipc channels ----------------------------------------------------------------

// Each queue opened twice (the sending and the receiving end), then unlinked.
struct posix_mq_maker {
    template <class T, class F>
    static auto make(std::size_t size) {
        using namespace ipc::transport;
        using chan = ipc::posix_mq_channel<T, ipc::sync::poll, F>;
        check_size(size);
        posix_mq_options o;
        o.message_size = size;
        auto open_one = [&] {
            const std::string name = queue_name();
            o.access = mq_access::send;
            auto tx = chan::create(name, o);
            auto rx = chan::open(name, mq_access::recv);
            posix_mq::remove(name);
            return std::pair{std::move(tx), std::move(rx)};
        };
        auto ab = open_one();
        auto ba = open_one();
        return channels::cross(std::move(ab.first), std::move(ab.second), std::move(ba.first), std::move(ba.second));
    }
};

// Removes System V queues when the last endpoint holding it goes (in the
// parent: the child _exits without destructors).
struct sysv_queues {
    int id[2] = {-1, -1};
    ~sysv_queues() {
        for (int i : id)
            if (i >= 0) ::msgctl(i, IPC_RMID, nullptr);
    }
};

template <class Tx, class Rx>
struct owning_endpoint : channels::split_endpoint<Tx, Rx> {
    std::shared_ptr<sysv_queues> queues;
};

struct sysv_mq_maker {
    template <class T, class F>
    static auto make(std::size_t size) {
        using namespace ipc::transport;
        using chan = ipc::sysv_mq_channel<T, ipc::sync::backoff, F>;
        using endpoint = owning_endpoint<chan, chan>;
        check_size(size);
        sysv_mq_options o;
        o.max_message = size;
        auto queues = std::make_shared<sysv_queues>();
        sysv_mq q[2] = {sysv_mq::create(sysv_key::private_key(), o), sysv_mq::create(sysv_key::private_key(), o)};
        for (int i = 0; i < 2; ++i) queues->id[i] = q[i].id();
        auto a = endpoint{{chan(std::move(q[0])), chan(sysv_mq::attach(queues->id[1], o))}, queues};
        auto b = endpoint{{chan(std::move(q[1])), chan(sysv_mq::attach(queues->id[0], o))}, queues};
        return std::pair<endpoint, endpoint>{std::move(a), std::move(b)};
    }
};

// ipc::eventfd_channel in semaphore mode, one eventfd per direction; each
// channel owns its descriptor, so the receiving end gets a duplicate.
class ipc_eventfd {
    using chan = ipc::eventfd_channel;

public:
    explicit ipc_eventfd(std::size_t size) {
        check_8_bytes(size, "an eventfd carries an 8-byte counter");
        for (int i = 0; i < 2; ++i) {
            auto e = ipc::transport::eventfd::create(ipc::transport::eventfd_mode::semaphore);
            raw::unique_fd dup(raw::check(::fcntl(e.native_handle(), F_DUPFD_CLOEXEC, 0), "dup"));
            tx_[i].emplace(std::move(e));
            rx_[i].emplace(ipc::transport::eventfd(std::move(dup)));
        }
    }
    void open(side s) { out_ = s == side::a ? 0 : 1; }
    void send() { channels::expect(tx_[out_]->send(1), "send"); }
    void recv() {
        std::uint64_t v = 0;
        channels::expect(rx_[1 - out_]->recv(v), "recv");
        if (v != 1) throw std::runtime_error("eventfd: a semaphore read returned " + std::to_string(v));
    }

private:
    std::optional<chan> tx_[2], rx_[2];
    int out_ = 0;
};

// ipc::signal_sender / signal_receiver<std::uint64_t>, the same exchange as raw.sigqueue.
class ipc_signal {
public:
    explicit ipc_signal(std::size_t size) : pids_(size) {}
    void open(side s) {
        const int out = s == side::a ? 0 : 1;
        rx_.emplace(ipc::transport::signal_reader::open(signal_pids::signal_of(1 - out)));
        tx_.emplace(ipc::transport::sigqueue_writer::open(pids_.ready(s), signal_pids::signal_of(out)));
    }
    void send() { channels::expect(tx_->send(++seq_), "send"); }
    void recv() {
        std::uint64_t v = 0;
        channels::expect(rx_->recv(v), "recv");
    }

private:
    signal_pids pids_;
    std::optional<ipc::signal_receiver<std::uint64_t>> rx_;
    std::optional<ipc::signal_sender<std::uint64_t>> tx_;
    std::uint64_t seq_ = 0;
};

}  // namespace bench::queues
