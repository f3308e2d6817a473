// ipc/sync/file_lock.hpp: advisory file locks, as a lock policy for writers and as an inter-process mutex.
//
//   ipc::sync::file_lock   locks a descriptor: flock(2) or fcntl(2) record locks
//   ipc::file_mutex        a lock file as a std::mutex-like inter-process mutex
//
// The kernel drops a file lock when its holder dies, however it dies: unlike
// a mutex in shared memory, nothing is left locked by a crashed process.
// Locks are advisory: they exclude only processes that take them too.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <unistd.h>

#include <type_traits>
#include <utility>

#include "../concepts.hpp"
#include "../detail/chrono.hpp"
#include "../detail/fd.hpp"
#include "../detail/file_open.hpp"
#include "../detail/sleep.hpp"
#include "../error.hpp"
#include "../open_mode.hpp"
#include "../status.hpp"

namespace ipc::sync {

enum class file_lock_kind : unsigned char {
    // fcntl open-file-description locks (F_OFD_SETLK/F_OFD_SETLKW, Linux 3.15):
    // owned by the open file, so two descriptors opened separately exclude each
    // other even in one process (threads each open their own), and closing
    // another descriptor to the same file does not drop the lock. The default.
    // Where the headers lack them this is classic fcntl locking (see process).
    ofd,
    // Classic POSIX record locks (F_SETLK/F_SETLKW): owned by the process. Threads
    // of one process do not exclude each other, and closing ANY descriptor to the
    // file releases the lock. Only for interop with programs that use them.
    process,
    // flock(2): owned by the open file like ofd, whole file only, a separate
    // lock table from fcntl (the two kinds do not see each other).
    flock,
};

// Locks a whole file through a descriptor. Stateless apart from its kind, so
// it costs nothing to keep in every writer. A descriptor opened read-only can
// hold a shared lock but not (for fcntl kinds) an exclusive one.
//
// It is also the channel Sync policy for transports that append under a file
// lock (transport::file_writer): poll(2) calls a regular file always ready, so
// a timed send waits for the writer's lock instead (taking it with the
// deadline, then letting go for the transport to take). Receiving waits with
// poll on native_handle(), as sync::poll does.
class file_lock {
public:
    static constexpr bool kernel_blocking = true;
    static constexpr bool can_block = true;

    constexpr file_lock() noexcept = default;
    constexpr explicit file_lock(file_lock_kind k) noexcept : kind_(k) {}
    constexpr file_lock_kind kind() const noexcept { return kind_; }

    // Takes the lock by deadline: never() blocks in the kernel, immediate()
    // tries once (errc::would_block), at() retries with a short sleep between
    // tries, since no file lock call takes a timeout (errc::timed_out, never
    // before the deadline).
    bool lock(int fd, const deadline& dl, std::error_code& ec, bool shared = false) const noexcept {
        if (dl.is_never()) return set(fd, shared ? F_RDLCK : F_WRLCK, true, ec);
        auto pause = std::chrono::microseconds(50);
        for (;;) {
            if (set(fd, shared ? F_RDLCK : F_WRLCK, false, ec)) return true;
            if (ec != errc::would_block) return false;
            if (dl.is_immediate()) return false;
            if (dl.expired()) {
                ec = make_error_code(errc::timed_out);
                return false;
            }
            ec.clear();
            const auto left = dl.remaining();
            detail::sleep_for(pause < left ? pause : std::chrono::duration_cast<std::chrono::microseconds>(left));
            pause = pause * 2 < std::chrono::milliseconds(5) ? pause * 2 : std::chrono::milliseconds(5);
        }
    }

    bool unlock(int fd, std::error_code& ec) const noexcept { return set(fd, F_UNLCK, false, ec); }

    // ---- as a channel Sync policy ----------------------------------------

    template <class Tr>
    bool wait(Tr& t, direction d, const deadline& dl, std::error_code& ec) const noexcept {
        if constexpr (requires { t.lock_policy(); }) {
            if (d == direction::send) {
                const file_lock l = t.lock_policy();
                if (!l.lock(t.native_handle(), dl, ec)) return false;
                return l.unlock(t.native_handle(), ec);
            }
        }
        return detail::wait_fd(t.native_handle(), d == direction::recv ? POLLIN : POLLOUT, dl, ec);
    }
    template <class Tr>
    void notify(Tr&, direction) const noexcept {}

private:
    bool set(int fd, short type, bool wait, std::error_code& ec) const noexcept {
        int r;
        if (kind_ == file_lock_kind::flock) {
            int op = type == F_UNLCK ? LOCK_UN : type == F_RDLCK ? LOCK_SH : LOCK_EX;
            r = detail::retry_eintr([&] { return ::flock(fd, op | (wait ? 0 : LOCK_NB)); });
        } else {
            struct flock fl {};
            fl.l_type = type;
            fl.l_whence = SEEK_SET;  // start 0, length 0: the whole file, however long it grows
            int cmd = wait ? F_SETLKW : F_SETLK;
#ifdef F_OFD_SETLK
            if (kind_ == file_lock_kind::ofd) cmd = wait ? F_OFD_SETLKW : F_OFD_SETLK;  // l_pid must stay 0
#endif
            r = detail::retry_eintr([&] { return ::fcntl(fd, cmd, &fl); });
        }
        if (r == 0) return true;
        // fcntl reports a held lock as EACCES on some systems, EAGAIN on Linux.
        ec = errno == EACCES || errno == EWOULDBLOCK ? make_error_code(errc::would_block) : detail::last_error();
        return false;
    }

    file_lock_kind kind_ = file_lock_kind::ofd;
};

}  // namespace ipc::sync

namespace ipc {

// An inter-process mutex backed by a lock file. Meets Lockable (lock,
// try_lock, unlock) and TimedLockable, so std::lock_guard, std::unique_lock
// and std::scoped_lock work. Each file_mutex object is its own open file, so
// with the default ofd kind two objects exclude each other even in one process,
// and a holder that dies releases the lock.
// Not recursive: locking twice through the same object succeeds silently with
// fcntl/flock (the lock is already held); do not rely on it.
class file_mutex {
public:
    file_mutex() noexcept = default;

    // A new lock file (0600 unless widened, less the umask: a process that
    // cannot open the file cannot take the lock); errc::already_exists if the
    // path is taken.
    static file_mutex create(detail::path_ref path, sync::file_lock_kind k = sync::file_lock_kind::ofd, permissions p = {}) {
        return or_throw(path, O_CREAT | O_EXCL, k, p, "file_mutex::create");
    }
    static file_mutex create(detail::path_ref path, std::error_code& ec) noexcept { return opened(path, O_CREAT | O_EXCL, {}, {}, ec); }
    static file_mutex create(detail::path_ref path, sync::file_lock_kind k, std::error_code& ec) noexcept {
        return opened(path, O_CREAT | O_EXCL, k, {}, ec);
    }
    static file_mutex create(detail::path_ref path, sync::file_lock_kind k, permissions p, std::error_code& ec) noexcept {
        return opened(path, O_CREAT | O_EXCL, k, p, ec);
    }
    // An existing lock file; errc::not_found if there is none.
    [[nodiscard]] static file_mutex open(detail::path_ref path, sync::file_lock_kind k = sync::file_lock_kind::ofd) {
        return or_throw(path, 0, k, {}, "file_mutex::open");
    }
    [[nodiscard]] static file_mutex open(detail::path_ref path, std::error_code& ec) noexcept { return opened(path, 0, {}, {}, ec); }
    [[nodiscard]] static file_mutex open(detail::path_ref path, sync::file_lock_kind k, std::error_code& ec) noexcept {
        return opened(path, 0, k, {}, ec);
    }
    // The lock file, created if there is none.
    static file_mutex open_or_create(detail::path_ref path, sync::file_lock_kind k = sync::file_lock_kind::ofd, permissions p = {}) {
        return or_throw(path, O_CREAT, k, p, "file_mutex::open_or_create");
    }
    static file_mutex open_or_create(detail::path_ref path, std::error_code& ec) noexcept { return opened(path, O_CREAT, {}, {}, ec); }
    static file_mutex open_or_create(detail::path_ref path, sync::file_lock_kind k, std::error_code& ec) noexcept {
        return opened(path, O_CREAT, k, {}, ec);
    }
    static file_mutex open_or_create(detail::path_ref path, sync::file_lock_kind k, permissions p, std::error_code& ec) noexcept {
        return opened(path, O_CREAT, k, p, ec);
    }
    // Locks through a descriptor the caller opened (e.g. the file being guarded).
    file_mutex(detail::unique_fd fd, sync::file_lock_kind k) noexcept : fd_(std::move(fd)), lock_(k) {}

    void lock() {
        std::error_code ec;
        lock(ec);
        detail::throw_if(ec, "file_mutex lock");
    }
    void lock(std::error_code& ec) noexcept {
        ec.clear();
        (void)lock_.lock(fd_.get(), deadline::never(), ec);
    }
    [[nodiscard]] bool try_lock() { return timed(deadline::immediate()); }
    [[nodiscard]] bool try_lock(std::error_code& ec) noexcept { return timed(deadline::immediate(), ec); }
    template <class Rep, class Period>
    [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> d) {
        return timed(deadline::after(d));
    }
    template <class Rep, class Period>
    [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> d, std::error_code& ec) noexcept {
        return timed(deadline::after(d), ec);
    }
    template <class Clock, class Dur>
    [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Dur> tp) {
        return timed(deadline::until(tp));
    }
    template <class Clock, class Dur>
    [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) noexcept {
        return timed(deadline::until(tp), ec);
    }
    // Never throws: std::lock_guard calls it from a destructor.
    void unlock() noexcept {
        std::error_code ec;
        (void)lock_.unlock(fd_.get(), ec);
    }

    // Removes the lock file. Only once no process uses it: a process that opens
    // the path afterwards gets a new file, and a lock that excludes nobody.
    // True if it was removed, false if there was none (not an error).
    static bool remove(detail::path_ref path, std::error_code& ec) noexcept { return detail::remove_file(path, ec); }
    static bool remove(detail::path_ref path) { return detail::remove_file(path, "file_mutex::remove"); }

    int native_handle() const noexcept { return fd_.get(); }
    bool is_open() const noexcept { return static_cast<bool>(fd_); }
    sync::file_lock_kind kind() const noexcept { return lock_.kind(); }

private:
    static file_mutex or_throw(detail::path_ref path, int create, sync::file_lock_kind k, permissions p, const char* what) {
        std::error_code ec;
        file_mutex m = opened(path, create, k, p, ec);
        detail::throw_if(ec, what);
        return m;
    }
    static file_mutex opened(detail::path_ref path, int create, sync::file_lock_kind k, permissions p, std::error_code& ec) noexcept {
        file_mutex m;
        m.lock_ = sync::file_lock(k);
        m.fd_ = detail::open_regular_file(path, O_RDWR | create, ec, p);
        if (ec) detail::with_name(ec, path.view());
        return m;
    }
    bool timed(const deadline& dl) {
        std::error_code ec;
        if (timed(dl, ec)) return true;
        if (ec == errc::would_block || ec == errc::timed_out) return false;
        detail::throw_error(ec, "file_mutex try_lock");
    }
    bool timed(const deadline& dl, std::error_code& ec) noexcept {
        ec.clear();
        return lock_.lock(fd_.get(), dl, ec);
    }

    detail::unique_fd fd_;
    sync::file_lock lock_;
};

}  // namespace ipc
