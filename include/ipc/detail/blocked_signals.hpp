// ipc/detail/blocked_signals.hpp: signals blocked in this thread and waited for with a signalfd.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <atomic>
#include <initializer_list>
#include <utility>

#include "../concepts.hpp"
#include "fd.hpp"

namespace ipc::detail {

inline bool is_realtime(int signo) noexcept { return signo >= SIGRTMIN && signo <= SIGRTMAX; }

// Per signal, how many live blocked_signals blocked it (it was not blocked
// before). A child process unblocks these (see ipc::fork_with, ipc::spawn):
// ipc blocked them only to read them in this process, and a child that
// inherited the mask would ignore SIGTERM.
inline std::atomic<unsigned> blocked_by_ipc_count[NSIG]{};

inline void count_blocked_by_ipc(const sigset_t& set, bool blocked) noexcept {
    for (int s = 1; s < NSIG; ++s)
        if (sigismember(&set, s) == 1) {
            if (blocked) blocked_by_ipc_count[s].fetch_add(1, std::memory_order_relaxed);
            else blocked_by_ipc_count[s].fetch_sub(1, std::memory_order_relaxed);
        }
}

// The signals some live blocked_signals of this process blocked.
inline sigset_t blocked_by_ipc() noexcept {
    sigset_t set;
    sigemptyset(&set);
    for (int s = 1; s < NSIG; ++s)
        if (blocked_by_ipc_count[s].load(std::memory_order_relaxed) != 0) sigaddset(&set, s);
    return set;
}

// Blocks a set of signals in the calling thread and opens a signalfd on it,
// for poll/epoll. Receiving is sigtimedwait/sigwaitinfo, which takes the same
// pending signals without touching the descriptor's flags. On destruction,
// what is still pending is discarded and the signals that were not blocked
// before are unblocked again.
class blocked_signals {
public:
    blocked_signals() noexcept = default;
    blocked_signals(std::initializer_list<int> signals, std::error_code& ec) noexcept {
        ec.clear();
        sigemptyset(&set_);
        for (int s : signals)
            if (sigaddset(&set_, s) != 0) {
                ec = std::make_error_code(std::errc::invalid_argument);
                return;
            }
        sigset_t old;
        if (int e = ::pthread_sigmask(SIG_BLOCK, &set_, &old); e != 0) {
            ec = errno_code(e);
            return;
        }
        sigemptyset(&was_unblocked_);
        for (int s : signals)
            if (!sigismember(&old, s)) sigaddset(&was_unblocked_, s);
        blocked_ = true;
        count_blocked_by_ipc(was_unblocked_, true);
        fd_.reset(::signalfd(-1, &set_, SFD_CLOEXEC));
        if (!fd_) {
            ec = last_error();
            restore();
        }
    }
    blocked_signals(blocked_signals&& o) noexcept
        : fd_(std::move(o.fd_)), set_(o.set_), was_unblocked_(o.was_unblocked_), blocked_(std::exchange(o.blocked_, false)) {}
    blocked_signals& operator=(blocked_signals&& o) noexcept {
        if (this != &o) {
            restore();
            fd_ = std::move(o.fd_);
            set_ = o.set_;
            was_unblocked_ = o.was_unblocked_;
            blocked_ = std::exchange(o.blocked_, false);
        }
        return *this;
    }
    ~blocked_signals() { restore(); }

    // One pending signal: blocking waits for it, nonblocking is would_block.
    bool take(io_mode m, siginfo_t& info, std::error_code& ec) noexcept {
        if (!fd_) {
            ec = std::make_error_code(std::errc::bad_file_descriptor);
            return false;
        }
        static constexpr timespec zero{0, 0};
        int r = retry_eintr([&] { return m == io_mode::blocking ? ::sigwaitinfo(&set_, &info) : ::sigtimedwait(&set_, &info, &zero); });
        if (r > 0) return true;
        ec = last_error();  // EAGAIN: none pending
        return false;
    }

    int native_handle() const noexcept { return fd_.get(); }
    bool is_open() const noexcept { return static_cast<bool>(fd_); }

private:
    void restore() noexcept {
        if (!blocked_) return;
        blocked_ = false;
        fd_.reset();
        // Discard what is pending first: unblocking would deliver it, and the
        // default action of most of these signals ends the process.
        siginfo_t info;
        static constexpr timespec zero{0, 0};
        while (::sigtimedwait(&set_, &info, &zero) > 0) {
        }
        count_blocked_by_ipc(was_unblocked_, false);
        ::pthread_sigmask(SIG_UNBLOCK, &was_unblocked_, nullptr);
    }

    unique_fd fd_;
    sigset_t set_{};
    sigset_t was_unblocked_{};
    bool blocked_ = false;  // set_ is blocked here (and was_unblocked_ counted)
};

}  // namespace ipc::detail
