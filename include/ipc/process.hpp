// ipc/process.hpp: child processes connected by pipes.
//
//   fork_with(body)                    runs body() in a forked child
//   fork_with<ToChild, FromChild>(body) the same, with a typed pipe each way
//   fork_connected<Channel>(body)      the same, with one duplex socket-pair channel
//   spawn({"sort", "-r"}, stdio_pipes::in_out)  another program with its stdin/stdout piped
//
// Each returns a child_process (or holds one) that waits for the child, and
// whose destructor kills and reaps a child still running: no zombies.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "channel.hpp"
#include "detail/blocked_signals.hpp"
#include "detail/chrono.hpp"

extern char** environ;

namespace ipc {

// A child process this process created. Move-only. Exit results are ints:
// the exit code (0-255), or -N when signal N ended the child.
//
// The destructor of a child still running sends SIGKILL and reaps it: a
// destructor must neither hang nor leave a zombie. To let a child finish,
// wait() (or wait_for()) for it first.
class child_process {
public:
    // A child body that throws ends with this exit code (after printing what()).
    static constexpr int uncaught_exception = 70;

    child_process() noexcept = default;
    explicit child_process(pid_t pid) noexcept : pid_(pid) {}
    child_process(child_process&& o) noexcept : pid_(std::exchange(o.pid_, -1)), result_(o.result_) {}
    child_process& operator=(child_process&& o) noexcept {
        if (this != &o) {
            terminate();
            pid_ = std::exchange(o.pid_, -1);
            result_ = o.result_;
        }
        return *this;
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process() { terminate(); }

    pid_t pid() const noexcept { return pid_; }
    // True until the child has been reaped (by wait, wait_for or the destructor).
    bool running() const noexcept { return pid_ > 0; }

    // Waits for the child to end; returns its result (meaningless if ec is
    // set). Once reaped, returns the same result again.
    int wait(std::error_code& ec) noexcept {
        if (pid_ <= 0) return result_;
        int st = 0;
        if (detail::retry_eintr([&] { return ::waitpid(pid_, &st, 0); }) < 0) {
            ec = detail::last_error();
            return -1;
        }
        return reaped(st);
    }
    int wait() {
        std::error_code ec;
        int r = wait(ec);
        detail::throw_if(ec, "child_process::wait");
        return r;
    }

    // Waits at most `timeout`; nullopt if the child is still running (it is
    // left running: kill() it, or let the destructor do so).
    template <class Rep, class Period>
    std::optional<int> wait_for(std::chrono::duration<Rep, Period> timeout, std::error_code& ec) noexcept {
        return wait_until(deadline::after(timeout), ec);
    }
    template <class Rep, class Period>
    std::optional<int> wait_for(std::chrono::duration<Rep, Period> timeout) {
        std::error_code ec;
        auto r = wait_until(deadline::after(timeout), ec);
        detail::throw_if(ec, "child_process::wait_for");
        return r;
    }

    // Sends sig to a child not yet reaped; false (and nothing sent) once it
    // has been reaped, since its pid may belong to someone else by then.
    bool kill(int sig = SIGKILL) noexcept { return pid_ > 0 && ::kill(pid_, sig) == 0; }

private:
    int reaped(int st) noexcept {
        pid_ = -1;
        result_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -1;
        return result_;
    }

    std::optional<int> wait_until(const deadline& dl, std::error_code& ec) noexcept {
        if (pid_ <= 0) return result_;
        // A pidfd becomes readable when the child exits: one poll, no busy loop.
        detail::unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
        auto pause = std::chrono::microseconds(200);
        for (;;) {
            int st = 0;
            pid_t r = detail::retry_eintr([&] { return ::waitpid(pid_, &st, WNOHANG); });
            if (r == pid_) return reaped(st);
            if (r < 0) {
                ec = detail::last_error();
                return std::nullopt;
            }
            if (dl.expired()) return std::nullopt;
            if (pidfd) {
                std::error_code wait_ec;
                if (!detail::wait_fd(pidfd.get(), POLLIN, dl, wait_ec) && wait_ec != errc::timed_out &&
                    wait_ec != errc::would_block) {
                    ec = wait_ec;
                    return std::nullopt;
                }
            } else {  // kernels before 5.3
                std::this_thread::sleep_for(std::min<deadline::clock::duration>(pause, dl.remaining()));
                pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
            }
        }
    }

    void terminate() noexcept {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        detail::retry_eintr([&] { return ::waitpid(pid_, nullptr, 0); });
        pid_ = -1;
    }

    pid_t pid_ = -1;
    int result_ = 0;
};

namespace detail {

// In a forked child: runs body, then _exits with its result, never returning
// into the parent's code (no atexit handlers, no double-flushed buffers).
template <class F, class... Args>
[[noreturn]] void run_child(F& body, Args&... args) noexcept {
    int code = child_process::uncaught_exception;
    try {
        if constexpr (std::is_void_v<std::invoke_result_t<F&, Args&...>>) {
            body(args...);
            code = 0;
        } else {
            code = static_cast<int>(body(args...));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ipc child %d: %s\n", static_cast<int>(::getpid()), e.what());
    } catch (...) {
        std::fprintf(stderr, "ipc child %d: unknown exception\n", static_cast<int>(::getpid()));
    }
    std::fflush(nullptr);
    ::_exit(code);
}

// The parent's ends of the pipes (and socket pairs) fork_with, fork_connected
// and spawn made for its children. Each new fork_with child closes them first
// thing and so holds only its own ends: closing one worker's pipe is end of
// stream for that worker alone.
// (A spawned program never sees them: they are close-on-exec.) An entry
// names the pipe (device, inode) beside the descriptor, so a descriptor the
// parent closed and reused for something else is left alone (and dropped).
class child_pipe_ends {
public:
    // Locks the list until the caller has started its child and add()ed its
    // `ends` ends, so that no other fork_with or spawn forks meanwhile; room
    // for them is made here, so add() cannot fail.
    static std::unique_lock<std::mutex> hold(std::size_t ends, std::error_code& ec) noexcept {
        auto& self = instance();
        std::unique_lock lock(self.mutex_);
        std::erase_if(self.entries_, [](const entry& e) { return !same_pipe(e); });
        try {
            self.entries_.reserve(self.entries_.size() + ends);
        } catch (...) {
            ec = make_error_code(std::errc::not_enough_memory);
            lock.unlock();
        }
        return lock;
    }
    // Forks, with hold()'s lock. In the child: closes the ends of the other
    // children and unblocks what ipc blocked (blocked_by_ipc()), so it
    // behaves as if ipc had never blocked anything.
    static pid_t fork(std::unique_lock<std::mutex>& lock, std::error_code& ec) noexcept {
        if (!lock.owns_lock()) return -1;  // hold() failed: ec says why
        std::fflush(nullptr);  // or the child would write the parent's buffered output again
        pid_t pid = ::fork();
        if (pid < 0) {
            ec = last_error();
        } else if (pid == 0) {
            auto& self = instance();
            self.close_in_child();
            self.entries_.clear();
            lock.unlock();  // the child may start children of its own
            const sigset_t ours = blocked_by_ipc();
            ::pthread_sigmask(SIG_UNBLOCK, &ours, nullptr);
        }
        return pid;
    }
    // In the parent, with hold()'s lock.
    static void add(int fd) noexcept {
        struct stat st {};
        auto& self = instance();
        if (fd >= 0 && ::fstat(fd, &st) == 0 && self.entries_.size() < self.entries_.capacity())
            self.entries_.push_back({fd, st.st_dev, st.st_ino});
    }

private:
    struct entry {
        int fd;
        dev_t dev;
        ino_t ino;
    };
    static child_pipe_ends& instance() noexcept {
        static child_pipe_ends ends;
        return ends;
    }
    // Closes every descriptor on one of the recorded pipes, not only the
    // recorded ones: a pipe end opens a second, nonblocking description of
    // its pipe on first use (detail::pipe_end), and a child holding that one
    // would keep the pipe open as surely. Only system calls (the child of a
    // threaded parent may not allocate): getdents64 on /proc/self/fd into a
    // buffer on the stack, fstat, close. Without /proc, the recorded ones.
    void close_in_child() noexcept {
        const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0) {
            for (const entry& e : entries_)
                if (same_pipe(e)) ::close(e.fd);
            return;
        }
        alignas(8) char buf[4096];
        for (;;) {
            const long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
            if (n <= 0) break;
            for (long off = 0; off < n;) {
                unsigned short reclen;
                std::memcpy(&reclen, buf + off + 16, sizeof reclen);  // linux_dirent64: ino, off, reclen, type, name
                const char* name = buf + off + 19;
                off += reclen;
                int fd = 0;
                bool digits = *name != '\0';
                for (const char* c = name; *c && digits; ++c) digits = *c >= '0' && *c <= '9' && (fd = fd * 10 + (*c - '0')) >= 0;
                struct stat st {};
                if (!digits || fd == dir || ::fstat(fd, &st) != 0 || !is_channel_end(st)) continue;
                for (const entry& e : entries_)
                    if (st.st_dev == e.dev && st.st_ino == e.ino) {
                        ::close(fd);
                        break;
                    }
            }
        }
        ::close(dir);
    }
    static bool is_channel_end(const struct stat& st) noexcept { return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode); }
    static bool same_pipe(const entry& e) noexcept {
        struct stat st {};
        return ::fstat(e.fd, &st) == 0 && is_channel_end(st) && st.st_dev == e.dev && st.st_ino == e.ino;
    }

    std::mutex mutex_;
    std::vector<entry> entries_;
};

}  // namespace detail

// Runs child_body() in a forked child, which exits with its return value (an
// int, or 0 for void). The child shares nothing with the parent after the
// fork but what it inherited, with two exceptions, so that it behaves like a
// process of its own: the parent's ends of other fork_with children's pipes
// are closed in it, and signals that ipc blocked (shutdown_signal,
// signal_receiver) are unblocked, so SIGTERM ends it (a child that wants to
// read them makes its own shutdown_signal). Signals the program blocked
// itself stay blocked, as fork(2) does.
template <class F>
    requires std::invocable<F&>
child_process fork_with(F&& child_body, std::error_code& ec) {
    auto lock = detail::child_pipe_ends::hold(0, ec);
    pid_t pid = detail::child_pipe_ends::fork(lock, ec);
    if (pid == 0) detail::run_child(child_body);
    return pid > 0 ? child_process(pid) : child_process();
}
template <class F>
    requires std::invocable<F&>
child_process fork_with(F&& child_body) {
    std::error_code ec;
    auto c = fork_with(std::forward<F>(child_body), ec);
    detail::throw_if(ec, "fork");
    return c;
}

// A forked child and the parent's ends of a pipe each way.
template <class ToChild, class FromChild = ToChild, class Sync = sync::poll>
struct forked_child {
    child_process process;
    pipe_sender<ToChild, Sync> to_child;
    pipe_receiver<FromChild, Sync> from_child;
};

// Creates a pipe each way, forks, and runs
//   child_body(pipe_receiver<ToChild>& from_parent, pipe_sender<FromChild>& to_parent)
// in the child, which exits with its return value. The parent gets the other
// ends; each side's copy of the other side's ends is closed, and later
// children do not inherit the parent's ends (see the plain fork_with above),
// so closing (or destroying) to_child is end of stream for this child, and
// the child exiting is end of stream for from_child.
template <class ToChild, class FromChild = ToChild, class Sync = sync::poll, class F>
    requires std::invocable<F&, pipe_receiver<ToChild, Sync>&, pipe_sender<FromChild, Sync>&>
forked_child<ToChild, FromChild, Sync> fork_with(F&& child_body, std::error_code& ec) {
    auto down = transport::make_pipe(ec);
    if (ec) return {};
    auto up = transport::make_pipe(ec);
    if (ec) return {};
    auto lock = detail::child_pipe_ends::hold(2, ec);
    pid_t pid = detail::child_pipe_ends::fork(lock, ec);
    if (pid == 0) {
        down.writer.close();
        up.reader.close();
        pipe_receiver<ToChild, Sync> from_parent(std::move(down.reader));
        pipe_sender<FromChild, Sync> to_parent(std::move(up.writer));
        detail::run_child(child_body, from_parent, to_parent);
    }
    if (pid < 0) return {};
    down.reader.close();  // the child's ends, before another fork could copy them
    up.writer.close();
    detail::child_pipe_ends::add(down.writer.native_handle());
    detail::child_pipe_ends::add(up.reader.native_handle());
    lock.unlock();
    return {child_process(pid), pipe_sender<ToChild, Sync>(std::move(down.writer)),
            pipe_receiver<FromChild, Sync>(std::move(up.reader))};
}
template <class ToChild, class FromChild = ToChild, class Sync = sync::poll, class F>
    requires std::invocable<F&, pipe_receiver<ToChild, Sync>&, pipe_sender<FromChild, Sync>&>
forked_child<ToChild, FromChild, Sync> fork_with(F&& child_body) {
    std::error_code ec;
    auto c = fork_with<ToChild, FromChild, Sync>(std::forward<F>(child_body), ec);
    detail::throw_if(ec, "fork_with");
    return c;
}

// A forked child and the parent's end of a socket pair to it.
template <class Channel>
struct connected_child {
    child_process process;
    Channel channel;
};

// Creates a connected socket pair (Channel's transport: unix_stream or
// unix_seqpacket, e.g. ipc::unix_seqpacket_channel<message>), forks, and runs
//   child_body(Channel& parent)
// in the child, which exits with its return value. One duplex channel, as a
// host talks to a plug-in: as with the pipe form, each side holds only its
// own end and later children do not inherit the parent's, so closing the
// parent's channel is end of stream for this child alone, and the child
// exiting (or crashing) is end of stream for the parent.
template <class Channel, class F>
    requires std::invocable<F&, Channel&>
connected_child<Channel> fork_connected(F&& child_body, std::error_code& ec) {
    auto ends = Channel::transport_type::pair(ec);
    if (ec) return {};
    auto lock = detail::child_pipe_ends::hold(1, ec);
    pid_t pid = detail::child_pipe_ends::fork(lock, ec);
    if (pid == 0) {
        ends.first.close();
        Channel parent(std::move(ends.second));
        detail::run_child(child_body, parent);
    }
    if (pid < 0) return {};
    ends.second.close();  // the child's end, before another fork could copy it
    detail::child_pipe_ends::add(ends.first.native_handle());
    lock.unlock();
    return {child_process(pid), Channel(std::move(ends.first))};
}
template <class Channel, class F>
    requires std::invocable<F&, Channel&>
connected_child<Channel> fork_connected(F&& child_body) {
    std::error_code ec;
    auto c = fork_connected<Channel>(std::forward<F>(child_body), ec);
    detail::throw_if(ec, "fork_connected");
    return c;
}

// Which of a spawned program's standard streams are connected to pipes; the
// others are inherited from this process.
enum class stdio_pipes : unsigned char { none = 0, in = 1, out = 2, in_out = 3 };

// A spawned program: its stdin (write to it) and stdout (read from it), open
// where stdio_pipes asked for them. Wrap them in any channel, e.g.
// pipe_line_sender(std::move(p.in)). Members are destroyed bottom-up: the
// pipes close before the process handle kills a child still running.
struct spawned_process {
    child_process process;
    transport::pipe_writer in;
    transport::pipe_reader out;
};

namespace detail {

class spawn_actions {
public:
    spawn_actions() noexcept { ok_ = ::posix_spawn_file_actions_init(&a_) == 0; }
    ~spawn_actions() {
        if (ok_) ::posix_spawn_file_actions_destroy(&a_);
    }
    spawn_actions(const spawn_actions&) = delete;
    spawn_actions& operator=(const spawn_actions&) = delete;
    // The child gets a copy of fd as its descriptor `target` (0 or 1). The
    // copy, kept here until spawn, sits at 3 or above and is close-on-exec:
    // dup2 onto the target then always makes a fresh descriptor without
    // FD_CLOEXEC (dup2(fd, fd) would keep the flag and the child would lose it).
    bool give(int fd, int target, std::error_code& ec) noexcept {
        unique_fd& copy = given_[target & 1];
        copy.reset(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
        if (!copy) {
            ec = last_error();
            return false;
        }
        if (int e = ok_ ? ::posix_spawn_file_actions_adddup2(&a_, copy.get(), target) : ENOMEM) {
            ec = errno_code(e);
            return false;
        }
        return true;
    }
    const posix_spawn_file_actions_t* get() const noexcept { return &a_; }

private:
    posix_spawn_file_actions_t a_{};
    bool ok_ = false;
    unique_fd given_[2];
};

// The program starts with this thread's signal mask minus what ipc blocked
// (see blocked_by_ipc()): as fork_with's children do, and as if ipc had never
// blocked anything. (Caught signals are reset by exec itself; ipc sets no
// disposition, so none is changed here.)
class spawn_attributes {
public:
    spawn_attributes() noexcept {
        inited_ = ::posix_spawnattr_init(&a_) == 0;
        sigset_t mask;
        if (!inited_ || ::pthread_sigmask(SIG_SETMASK, nullptr, &mask) != 0) return;
        const sigset_t ours = blocked_by_ipc();
        for (int s = 1; s < NSIG; ++s)
            if (sigismember(&ours, s) == 1) sigdelset(&mask, s);
        ok_ = ::posix_spawnattr_setsigmask(&a_, &mask) == 0 && ::posix_spawnattr_setflags(&a_, POSIX_SPAWN_SETSIGMASK) == 0;
    }
    ~spawn_attributes() {
        if (inited_) ::posix_spawnattr_destroy(&a_);
    }
    spawn_attributes(const spawn_attributes&) = delete;
    spawn_attributes& operator=(const spawn_attributes&) = delete;
    // nullptr (the defaults: the mask as it is) if they could not be set.
    const posix_spawnattr_t* get() const noexcept { return ok_ ? &a_ : nullptr; }

private:
    posix_spawnattr_t a_{};
    bool inited_ = false;
    bool ok_ = false;
};

}  // namespace detail

// Starts argv[0] (searched in PATH when it has no '/') with arguments argv[1..],
// this process's environment, and the pipes `pipes` asks for. Signals that
// ipc blocked (shutdown_signal, signal_receiver) are not blocked in the
// program; the rest of the signal mask is inherited. A program that
// cannot be started is an error (errc::not_found for a missing one), not a
// child that exits 127.
inline spawned_process spawn(const std::vector<std::string>& argv, stdio_pipes pipes, std::error_code& ec) {
    if (argv.empty() || argv[0].empty()) {
        ec = make_error_code(errc::name_invalid);
        return {};
    }
    const bool pipe_in = (static_cast<unsigned>(pipes) & 1u) != 0;
    const bool pipe_out = (static_cast<unsigned>(pipes) & 2u) != 0;
    // Held until return, after `actions` has closed the program's ends: no
    // fork_with in another thread copies them, nor the ends we keep.
    auto lock = detail::child_pipe_ends::hold(2, ec);
    if (ec) return {};
    spawned_process p;
    detail::spawn_actions actions;
    if (pipe_in) {
        auto pp = transport::make_pipe(ec);
        if (ec || !actions.give(pp.reader.native_handle(), STDIN_FILENO, ec)) return {};
        p.in = std::move(pp.writer);
    }
    if (pipe_out) {
        auto pp = transport::make_pipe(ec);
        if (ec || !actions.give(pp.writer.native_handle(), STDOUT_FILENO, ec)) return {};
        p.out = std::move(pp.reader);
    }
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const detail::spawn_attributes attributes;
    if (int e = ::posix_spawnp(&pid, args[0], actions.get(), attributes.get(), args.data(), environ)) {
        ec = detail::errno_code(e);
        return {};
    }
    detail::child_pipe_ends::add(p.in.native_handle());
    detail::child_pipe_ends::add(p.out.native_handle());
    p.process = child_process(pid);
    return p;  // the copies in `actions` close here: the child holds the only ones
}
inline spawned_process spawn(const std::vector<std::string>& argv, stdio_pipes pipes = stdio_pipes::in_out) {
    std::error_code ec;
    auto p = spawn(argv, pipes, ec);
    detail::throw_if(ec, "spawn");
    return p;
}

}  // namespace ipc
