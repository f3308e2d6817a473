// ipc/transport/signal.hpp: realtime signals as a tiny message channel, and
// shutdown signals as an event a program can poll alongside its channels.
//
// What a signal can carry, and what it cannot:
//   - one sigval: an int or a pointer-sized value (8 bytes here). Messages are
//     T with sizeof(T) <= sizeof(sigval) (framing::fixed); both sides use the same T.
//     A pointer means nothing in another process.
//   - only to a process, by pid: no names, no groups, no broadcast. The sender
//     holds a pidfd where the kernel has them (5.3), so a pid reused after the
//     receiver died is never signalled by mistake: that send is status::closed.
//   - realtime signals only (SIGRTMIN..SIGRTMAX): those queue, one entry per
//     send, and are delivered in the order sent (lowest number first across
//     numbers). Standard signals (SIGUSR1...) merge while pending: two sends can
//     arrive as one. They are refused here with errc::unsupported.
//   - the queue is bounded by the receiver user's RLIMIT_SIGPENDING (all of its
//     processes together). sigqueue fails with EAGAIN when it is full: a
//     send is then would_block, and a timed or blocking send retries.
//   - each message is whole: no boundaries to keep, nothing to frame.
//   - the sender's pid and uid come with each message (recv(v, info):
//     info.sender), but a process of the same user can forge them
//     (rt_sigqueueinfo): not a proof.
//   - a signal sent without a value (kill(1), `kill -RTMIN+1 pid` from a
//     shell, raise) is still a message: it arrives as status::ok with a
//     zero value, and info.has_value is false. A signal is an event first.
//
// The receiver must keep the signal blocked in EVERY thread of its process,
// or the kernel delivers it to a thread that does not, whose default action
// for a realtime signal is to terminate the process. The constructor blocks
// it in the calling thread; threads inherit the mask of the thread that
// creates them, so create the receiver (and ipc::shutdown_signal) in main()
// before starting any thread. It is destroyed in the same thread.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>
#include <optional>

#include "../basic_channel.hpp"
#include "../concepts.hpp"
#include "../detail/blocked_signals.hpp"
#include "../detail/chrono.hpp"
#include "../detail/fd.hpp"
#include "../framing/fixed.hpp"
#include "../fwd.hpp"
#include "../sync/poll.hpp"
#include "../sync/spin.hpp"

namespace ipc::transport {

// SIGRTMIN + n, the n-th realtime signal free for applications (glibc keeps
// the first few for itself and moves SIGRTMIN past them).
inline int realtime_signal(int n) noexcept { return n >= 0 && n <= SIGRTMAX - SIGRTMIN ? SIGRTMIN + n : -1; }

// Who sent the last message (as the kernel reports it; see the top of this file).
struct signal_sender_info {
    pid_t pid = 0;
    uid_t uid = 0;
};

// Sends messages as a realtime signal with a sigval payload to one process.
class sigqueue_writer {
public:
    sigqueue_writer() noexcept = default;

    // Sends realtime signal `signo` to process `pid`, which it holds by a
    // pidfd (so a reused pid is never signalled); errc::peer_closed if the
    // process is gone, errc::unsupported for a signal that is not realtime.
    [[nodiscard]] static sigqueue_writer open(pid_t pid, int signo) {
        std::error_code ec;
        sigqueue_writer w = open(pid, signo, ec);
        ipc::detail::throw_if(ec, "sigqueue_writer::open");
        return w;
    }
    [[nodiscard]] static sigqueue_writer open(pid_t pid, int signo, std::error_code& ec) noexcept {
        ec.clear();
        if (!ipc::detail::is_realtime(signo) || pid <= 0) {
            ec = ipc::detail::explain(make_error_code(errc::unsupported), "signal %d to pid %d: a message needs a realtime signal (SIGRTMIN..SIGRTMAX) and a pid > 0",
                                      signo, static_cast<int>(pid));
            return {};
        }
        sigqueue_writer w;
#ifdef SYS_pidfd_open
        w.pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
        if (!w.pidfd_ && errno == ESRCH) {
            ec = ipc::detail::explain(make_error_code(errc::peer_closed), "pid %d: no such process", static_cast<int>(pid));
            return {};
        }
        // ENOSYS (before 5.3): plain sigqueue by pid.
#endif
        w.pid_ = pid;
        w.signo_ = signo;
        return w;
    }

    bool send_message(std::span<const std::byte> msg, io_mode, std::error_code& ec) noexcept {
        if (pid_ <= 0) {
            ec = make_error_code(errc::not_connected);
            return false;
        }
        sigval v{};
        if (msg.size() > sizeof v) {
            ec = make_error_code(errc::message_too_large);
            return false;
        }
        std::memcpy(&v, msg.data(), msg.size());
        int r;
#ifdef SYS_pidfd_send_signal
        if (pidfd_) {
            // What sigqueue(3) would send, through the pidfd.
            siginfo_t info{};
            info.si_signo = signo_;
            info.si_code = SI_QUEUE;
            info.si_pid = ::getpid();
            info.si_uid = ::getuid();
            info.si_value = v;
            r = static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd_.get(), signo_, &info, 0));
        } else
#endif
        {
            r = ::sigqueue(pid_, signo_, v);
        }
        if (r == 0) return true;
        // The receiver is gone. EAGAIN (queue full) becomes would_block.
        ec = errno == ESRCH ? make_error_code(errc::peer_closed) : ipc::detail::last_error();
        return false;
    }

    pid_t pid() const noexcept { return pid_; }
    int signal_number() const noexcept { return signo_; }

private:
    ipc::detail::unique_fd pidfd_;
    pid_t pid_ = -1;
    int signo_ = 0;
};

// Receives the messages sent to this process with one realtime signal.
// native_handle() is a signalfd: poll/epoll it with the program's other
// descriptors. Blocking receives are one sigwaitinfo(2) call.
class signal_reader {
public:
    signal_reader() noexcept = default;

    // Takes realtime signal `signo` for this process: blocks it in the calling
    // thread and reads it from a signalfd; errc::unsupported if not realtime.
    [[nodiscard]] static signal_reader open(int signo) {
        std::error_code ec;
        signal_reader r = open(signo, ec);
        ipc::detail::throw_if(ec, "signal_reader::open");
        return r;
    }
    [[nodiscard]] static signal_reader open(int signo, std::error_code& ec) noexcept {
        ec.clear();
        if (!ipc::detail::is_realtime(signo)) {
            ec = ipc::detail::explain(make_error_code(errc::unsupported), "signal %d: a message needs a realtime signal (SIGRTMIN..SIGRTMAX)", signo);
            return {};
        }
        signal_reader r;
        r.signals_ = ipc::detail::blocked_signals({signo}, ec);
        if (ec) return {};
        r.signo_ = signo;
        return r;
    }

    // Per message: who sent it, and whether it carried a value.
    struct recv_info {
        signal_sender_info sender;
        bool has_value = false;  // false: sent with kill(1) or raise, not sigqueue; the value reads as zero
    };

    // The payload's first min(buf.size(), sizeof(sigval)) bytes; zeros for a
    // signal sent without one (see the top of this file).
    std::size_t recv_message(std::span<std::byte> buf, io_mode m, std::error_code& ec) noexcept {
        recv_info i;
        return recv_message(buf, i, m, ec);
    }
    std::size_t recv_message(std::span<std::byte> buf, recv_info& i, io_mode m, std::error_code& ec) noexcept {
        siginfo_t info{};
        if (!signals_.take(m, info, ec)) return 0;
        i.sender = {info.si_pid, info.si_uid};
        i.has_value = info.si_code == SI_QUEUE;
        const std::size_t n = buf.size() < sizeof(sigval) ? buf.size() : sizeof(sigval);
        if (i.has_value) std::memcpy(buf.data(), &info.si_value, n);
        else std::memset(buf.data(), 0, n);
        return n;
    }
    int signal_number() const noexcept { return signo_; }
    int native_handle() const noexcept { return signals_.native_handle(); }
    bool is_open() const noexcept { return signals_.is_open(); }

private:
    ipc::detail::blocked_signals signals_;
    int signo_ = 0;
};

}  // namespace ipc::transport

namespace ipc {

// SIGTERM, SIGINT and SIGHUP (or the signals given) turned into an event:
// poll native_handle() with the program's channels, or wait_for() it. The
// signals are blocked in the calling thread (the rule for threads at the top
// of this file applies), so instead of killing the process they wait to be
// taken here. Once one arrives the event stays set: signal() says which.
class shutdown_signal {
public:
    shutdown_signal() : shutdown_signal({SIGTERM, SIGINT, SIGHUP}) {}
    explicit shutdown_signal(std::initializer_list<int> signals) {
        std::error_code ec;
        signals_ = detail::blocked_signals(signals, ec);
        detail::throw_if(ec, "shutdown_signal");
    }
    shutdown_signal(std::initializer_list<int> signals, std::error_code& ec) noexcept
        : signals_(signals, ec) {}

    // Readable once a shutdown signal is pending (not after it was taken: check triggered()).
    int native_handle() const noexcept { return signals_.native_handle(); }

    // Has a signal arrived? Never waits.
    [[nodiscard]] bool triggered() noexcept { return take(deadline::immediate()); }
    // Waits until a signal arrives or the time is up.
    template <class Rep, class Period>
    [[nodiscard]] bool wait_for(std::chrono::duration<Rep, Period> d) noexcept {
        return take(deadline::after(d));
    }
    template <class Clock, class Dur>
    [[nodiscard]] bool wait_until(std::chrono::time_point<Clock, Dur> tp) noexcept {
        return take(deadline::until(tp));
    }
    // Waits for a signal; returns its number.
    int wait() noexcept {
        (void)take(deadline::never());
        return signo_;
    }

    // The signal that arrived (0: none yet) and who sent it.
    int signal() const noexcept { return signo_; }
    transport::signal_sender_info sender() const noexcept { return sender_; }

private:
    bool take(const deadline& dl) noexcept {
        while (signo_ == 0) {
            std::error_code ec;
            siginfo_t info{};
            if (signals_.take(io_mode::nonblocking, info, ec)) {
                signo_ = info.si_signo;
                sender_ = {info.si_pid, info.si_uid};
                break;
            }
            if (ec != errc::would_block) return false;
            ec.clear();
            if (!detail::wait_fd(signals_.native_handle(), POLLIN, dl, ec)) return false;
        }
        return true;
    }

    detail::blocked_signals signals_;
    transport::signal_sender_info sender_{};
    int signo_ = 0;
};

}  // namespace ipc

// Channels over realtime signals (defined in ipc/fwd.hpp, included above):
// ipc::signal_sender<T>::open(pid, SIGRTMIN), ipc::signal_receiver<T>::open(SIGRTMIN),
// for a T of at most sizeof(sigval) bytes.
