// ipc/detail/sigpipe.hpp: write to a pipe without dying of SIGPIPE.
#pragma once

#include <cerrno>
#include <csignal>
#include <ctime>
#include <pthread.h>

namespace ipc::detail {

// Blocks SIGPIPE in this thread for the guard's lifetime. If the guarded write
// raised SIGPIPE (EPIPE), the pending signal is consumed before the old mask is
// restored, so the application's own disposition and mask are left untouched.
// Sockets do not need this: they use MSG_NOSIGNAL.
//
// Blocking and restoring costs two system calls per write, so a guard is
// inactive when the process ignores SIGPIPE (see sigpipe_ignored()).
// Whether SIGPIPE's disposition is SIG_IGN right now (one system call).
inline bool sigpipe_ignored() noexcept {
    struct sigaction sa {};
    return ::sigaction(SIGPIPE, nullptr, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN;
}

class sigpipe_guard {
public:
    explicit sigpipe_guard(bool active = true) noexcept : active_(active) {
        if (!active_) return;
        sigset_t block;
        sigemptyset(&block);
        sigaddset(&block, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &block, &old_);
        was_blocked_ = sigismember(&old_, SIGPIPE) == 1;
    }
    sigpipe_guard(const sigpipe_guard&) = delete;
    sigpipe_guard& operator=(const sigpipe_guard&) = delete;

    // Call after a write failed with EPIPE.
    void consume() noexcept { epipe_ = true; }

    ~sigpipe_guard() {
        if (!active_ || was_blocked_) return;  // the application blocks SIGPIPE itself: leave its pending set alone
        if (epipe_) {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGPIPE);
            timespec zero{0, 0};
            while (::sigtimedwait(&set, nullptr, &zero) == -1 && errno == EINTR) {}
        }
        ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }

private:
    sigset_t old_{};
    bool active_ = true;
    bool was_blocked_ = false;
    bool epipe_ = false;
};

}  // namespace ipc::detail
