// ipc/sem/robust_mutex.hpp: an inter-process mutex in shared memory that survives a holder's death.
//
//   ipc::sem::robust_mutex        named: a small POSIX shared-memory object, /dev/shm/ipc.mutex.<name>
//   ipc::sem::robust_mutex_view   placed: in memory the caller shares (a MAP_SHARED mapping,
//                                 a region of the caller's own), initialised there
//
// Both are a pthread mutex, PTHREAD_PROCESS_SHARED and PTHREAD_MUTEX_ROBUST:
// each thread's locked robust mutexes are on a list the kernel walks when the
// thread dies (SIGKILL, crash, _exit while holding), marking each one "owner
// died" and waking a waiter. The next lock() then succeeds and
// previous_owner_died() says so. Both meet TimedLockable, so std::lock_guard,
// std::unique_lock and std::scoped_lock work.
//
// What the user must know:
//  - The data the mutex guards is as the dead holder left it, possibly half
//    updated: after an acquisition where previous_owner_died() is true, check
//    or repair it before trusting it.
//  - Recovery marks the mutex consistent at once (pthread_mutex_consistent),
//    so ENOTRECOVERABLE cannot arise. If the recovering process dies too, the
//    next one is told again.
//  - The lock belongs to a thread. A child forked while the parent holds it
//    does not hold it (its unlock fails with EPERM): do not fork while holding.
//  - The kernel recovers only a mutex still mapped when its holder dies, so
//    closing a robust_mutex that this object locked unlocks it first; a placed
//    one's memory must stay mapped while anyone holds it.
//  - Error-checking: locking it again from the holding thread is an error
//    (EDEADLK, thrown by lock()), not a deadlock; so is unlocking a mutex this
//    thread does not hold (unlock(ec) reports EPERM).
//  - Every user must run the same libc ABI (the header records the size of
//    pthread_mutex_t; a mismatch is errc::layout_mismatch).
//
// Timed calls wait on CLOCK_MONOTONIC (pthread_mutex_clocklock) and never
// return before their deadline. Compare ipc::file_mutex (a lock file, also
// released by the kernel, no shared memory) and ipc::sem::sysv_semaphore.
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "../detail/chrono.hpp"
#include "../detail/deadline.hpp"
#include "../detail/fd.hpp"
#include "../detail/name.hpp"
#include "../detail/region.hpp"
#include "../detail/semaphore_api.hpp"
#include "../detail/sleep.hpp"
#include "../error.hpp"
#include "../open_mode.hpp"
#include "../status.hpp"
#include "posix_semaphore.hpp"

// ThreadSanitizer intercepts pthread_mutex_clocklock not at all and _timedlock
// without its EOWNERDEAD case: a lock it cannot see makes the unlock look
// wrong. Its builds take timed locks by polling trylock (which it follows).
// A glibc before 2.30 has no clocklock: timedlock on CLOCK_REALTIME, re-checked
// on the steady clock.
#if defined(__SANITIZE_THREAD__)
#define IPC_DETAIL_ROBUST_POLL 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IPC_DETAIL_ROBUST_POLL 1
#endif
#endif
#if !defined(IPC_DETAIL_ROBUST_POLL) && !(defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30)))
#define IPC_DETAIL_ROBUST_TIMEDLOCK 1
#endif

namespace ipc::detail {

// What lives in the shared memory: a header checked on every open, then the mutex.
struct robust_mutex_state {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t mutex_size;          // sizeof(pthread_mutex_t) of the creator's libc
    std::atomic<std::uint32_t> state;  // 0 while being formatted, robust_mutex_formatted once usable
    std::uint32_t reserved;
    pthread_mutex_t mutex;
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

inline constexpr std::uint64_t robust_mutex_magic = 0x315854554d435049ULL;  // "IPCMUTX1" in memory
inline constexpr std::uint32_t robust_mutex_version = 1;
inline constexpr std::uint32_t robust_mutex_formatted = 0x600d;
// Named objects are /dev/shm/ipc.mutex.<name>: "ipc." marks them as ipc's (as
// posix_shm's rings), "mutex." keeps them apart from a ring of the same name.
// (A ring named "mutex.<name>" takes the same file: each then refuses the other.)
inline constexpr std::string_view robust_mutex_prefix = "ipc.mutex.";

enum class robust_mutex_check : unsigned char { ok, unformatted, bad };

// Reads an untrusted header: what the creator wrote, or a verdict in ec.
inline robust_mutex_check check_robust_mutex(std::span<const std::byte> mem, std::error_code& ec) noexcept {
    if (mem.size() < sizeof(robust_mutex_state)) {
        ec = make_error_code(errc::corrupt);
        return robust_mutex_check::bad;
    }
    auto* st = std::launder(reinterpret_cast<const robust_mutex_state*>(mem.data()));
    const std::uint32_t s = st->state.load(std::memory_order_acquire);
    // A creator writes the magic first and the state last: a zero state with
    // our magic (or none yet) is a format in progress, anything else is not ours.
    if (s == 0 && (st->magic == 0 || st->magic == robust_mutex_magic)) return robust_mutex_check::unformatted;
    if (s != robust_mutex_formatted || st->magic != robust_mutex_magic) {
        ec = make_error_code(errc::corrupt);
        return robust_mutex_check::bad;
    }
    if (st->version != robust_mutex_version || st->mutex_size != sizeof(pthread_mutex_t)) {
        ec = make_error_code(errc::layout_mismatch);
        return robust_mutex_check::bad;
    }
    return robust_mutex_check::ok;
}

// Initialises the header and a process-shared, robust, error-checking mutex.
inline robust_mutex_state* format_robust_mutex(std::span<std::byte> mem, std::error_code& ec) noexcept {
    auto* st = new (mem.data()) robust_mutex_state{};
    st->magic = robust_mutex_magic;
    st->version = robust_mutex_version;
    st->mutex_size = sizeof(pthread_mutex_t);
    pthread_mutexattr_t a;
    int r = ::pthread_mutexattr_init(&a);
    if (r == 0) {
        r = ::pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        if (r == 0) r = ::pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        if (r == 0) r = ::pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
        if (r == 0) r = ::pthread_mutex_init(&st->mutex, &a);
        ::pthread_mutexattr_destroy(&a);
    }
    if (r != 0) {
        ec = errno_code(r);
        return nullptr;
    }
    st->state.store(robust_mutex_formatted, std::memory_order_release);
    return st;
}

// The lock calls both kinds share: a robust_mutex_state* and what to do with it.
class robust_mutex_handle {
public:
    static constexpr std::size_t storage_size = sizeof(robust_mutex_state);
    static constexpr std::size_t storage_align = alignof(robust_mutex_state);

    // Blocks until this thread holds the mutex; throws on a real failure (EDEADLK: it already does).
    void lock() {
        std::error_code ec;
        lock(ec);
        throw_if(ec, "robust_mutex lock");
    }
    void lock(std::error_code& ec) noexcept {
        ec.clear();
        (void)acquire(deadline::never(), ec);
    }
    // False if another thread or process holds it (the twin: errc::would_block).
    [[nodiscard]] bool try_lock() { return timed(deadline::immediate(), "robust_mutex try_lock"); }
    [[nodiscard]] bool try_lock(std::error_code& ec) noexcept { return timed(deadline::immediate(), ec); }
    // False once the deadline passed, never before (the twin: errc::timed_out).
    template <class Rep, class Period>
    [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> d) {
        return timed(deadline::after(d), "robust_mutex try_lock_for");
    }
    template <class Rep, class Period>
    [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> d, std::error_code& ec) noexcept {
        return timed(deadline::after(d), ec);
    }
    template <class Clock, class Dur>
    [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Dur> tp) {
        return timed(deadline::until(tp), "robust_mutex try_lock_until");
    }
    template <class Clock, class Dur>
    [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) noexcept {
        return timed(deadline::until(tp), ec);
    }

    // Never throws: std::lock_guard calls it from a destructor.
    void unlock() noexcept {
        std::error_code ec;
        unlock(ec);
    }
    // EPERM if this thread does not hold it.
    void unlock(std::error_code& ec) noexcept {
        ec.clear();
        if (!usable(ec)) return;
        held_ = false;  // before: once released, another thread may take it through this object
        if (int r = ::pthread_mutex_unlock(&st_->mutex); r != 0) ec = errno_code(r);
    }

    // True if the acquisition that gave this thread the lock took it from a
    // holder that died: the guarded data may be half updated. Read it while
    // holding the lock (the next acquisition through this object resets it).
    [[nodiscard]] bool previous_owner_died() const noexcept { return owner_died_; }

    pthread_mutex_t* native_handle() const noexcept { return st_ ? &st_->mutex : nullptr; }
    bool is_open() const noexcept { return st_ != nullptr; }

protected:
    robust_mutex_handle() noexcept = default;
    explicit robust_mutex_handle(robust_mutex_state* st) noexcept : st_(st) {}
    robust_mutex_handle(robust_mutex_handle&& o) noexcept
        : st_(std::exchange(o.st_, nullptr)), owner_died_(std::exchange(o.owner_died_, false)), held_(std::exchange(o.held_, false)) {}
    robust_mutex_handle& operator=(robust_mutex_handle&& o) noexcept {
        st_ = std::exchange(o.st_, nullptr);
        owner_died_ = std::exchange(o.owner_died_, false);
        held_ = std::exchange(o.held_, false);
        return *this;
    }
    // Unlocks if a lock call through this object holds it (and forgets the mutex).
    void release_and_forget() noexcept {
        if (held_) unlock();
        st_ = nullptr;
    }
    ~robust_mutex_handle() = default;

    robust_mutex_state* st_ = nullptr;

private:
    bool usable(std::error_code& ec) const noexcept {
        if (st_) return true;
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return false;
    }

    int try_once(const deadline& dl) noexcept {
        pthread_mutex_t* m = &st_->mutex;
        if (dl.is_never()) return ::pthread_mutex_lock(m);
        if (dl.is_immediate()) return ::pthread_mutex_trylock(m);
#if defined(IPC_DETAIL_ROBUST_POLL)
        return ::pthread_mutex_trylock(m);
#elif defined(IPC_DETAIL_ROBUST_TIMEDLOCK)
        const timespec abs = dl.realtime_timespec();
        return ::pthread_mutex_timedlock(m, &abs);
#else
        const timespec abs = monotonic_timespec(dl);
        return ::pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &abs);
#endif
    }

    bool acquire(const deadline& dl, std::error_code& ec) noexcept {
        if (!usable(ec)) return false;
        for (;;) {
            const int r = try_once(dl);
            if (r == 0) {
                owner_died_ = false;
                held_ = true;
                return true;
            }
            if (r == EOWNERDEAD) {
                // We hold it; mark it usable again before anyone unlocks it,
                // else it would turn ENOTRECOVERABLE for good.
                if (int c = ::pthread_mutex_consistent(&st_->mutex); c != 0) {
                    ::pthread_mutex_unlock(&st_->mutex);
                    ec = errno_code(c);
                    return false;
                }
                owner_died_ = true;
                held_ = true;
                return true;
            }
            if (r == EINTR) continue;
            if (r == EBUSY || r == ETIMEDOUT) {
                if (dl.is_immediate() || dl.expired()) {
                    ec = expired_code(dl);
                    return false;
                }
#if defined(IPC_DETAIL_ROBUST_POLL)
                ipc::detail::sleep_for(dl.remaining() < std::chrono::microseconds(100) ? dl.remaining() : std::chrono::microseconds(100));
#endif
                continue;  // early (the wall clock moved): never give up before the deadline
            }
            ec = errno_code(r);
            return false;
        }
    }

    bool timed(const deadline& dl, std::error_code& ec) noexcept {
        ec.clear();
        return acquire(dl, ec);
    }
    bool timed(const deadline& dl, const char* what) {
        std::error_code ec;
        if (acquire(dl, ec)) return true;
        if (ec == errc::would_block || ec == errc::timed_out) return false;
        throw_error(ec, what);
    }

    bool owner_died_ = false;
    bool held_ = false;  // written only by the thread that holds the mutex, like owner_died_
};

}  // namespace ipc::detail

namespace ipc::sem {

// A robust mutex any process can open by name. The name ("name" or "/name",
// [A-Za-z0-9._-], see detail::posix_ipc_name) maps to /dev/shm/ipc.mutex.<name>,
// which stays until remove(name); the mutex stays usable by those that have it
// open. Created with exactly mode 0600 unless permissions say otherwise: only
// the same user can open it. Closing or destroying a robust_mutex unmaps it
// (unlocking it first if this object holds it); the shared mutex lives on.
class robust_mutex : public detail::robust_mutex_handle {
public:
    robust_mutex() noexcept = default;

    // A new mutex, unlocked; errc::already_exists if the name is taken.
    static robust_mutex create(std::string_view name, permissions p = {}) { return or_throw(name, p, &robust_mutex::make, "robust_mutex::create"); }
    static robust_mutex create(std::string_view name, std::error_code& ec) noexcept { return create(name, permissions{}, ec); }
    static robust_mutex create(std::string_view name, permissions p, std::error_code& ec) noexcept { return opened(name, p, &robust_mutex::make, ec); }
    // An existing mutex; errc::not_found if there is none, errc::corrupt or
    // errc::layout_mismatch if the object is not a robust_mutex this code can use.
    [[nodiscard]] static robust_mutex open(std::string_view name) { return or_throw(name, {}, &robust_mutex::attach, "robust_mutex::open"); }
    [[nodiscard]] static robust_mutex open(std::string_view name, std::error_code& ec) noexcept {
        return opened(name, {}, &robust_mutex::attach, ec);
    }
    // Opens it, or creates it; two processes doing this at once share one mutex.
    static robust_mutex open_or_create(std::string_view name, permissions p = {}) {
        return or_throw(name, p, &robust_mutex::make_or_attach, "robust_mutex::open_or_create");
    }
    static robust_mutex open_or_create(std::string_view name, std::error_code& ec) noexcept { return open_or_create(name, permissions{}, ec); }
    static robust_mutex open_or_create(std::string_view name, permissions p, std::error_code& ec) noexcept {
        return opened(name, p, &robust_mutex::make_or_attach, ec);
    }

    robust_mutex(robust_mutex&& o) noexcept = default;
    robust_mutex& operator=(robust_mutex&& o) noexcept {
        if (this != &o) {
            close();
            map_ = std::move(o.map_);
            detail::robust_mutex_handle::operator=(std::move(o));
        }
        return *this;
    }
    ~robust_mutex() { close(); }

    // Unmaps; unlocks first if this object holds the lock (see the top of the file).
    void close() noexcept {
        release_and_forget();
        map_.reset();
    }

    // Removes the name; processes that have it open keep using the mutex, a
    // process opening the name afterwards gets a new one. True if it was
    // removed, false if there was none (not an error).
    static bool remove(std::string_view name) {
        std::error_code ec;
        const bool r = remove(name, ec);
        ipc::detail::throw_if(ec, "robust_mutex::remove");
        return r;
    }
    static bool remove(std::string_view name, std::error_code& ec) noexcept {
        ec.clear();
        std::string path;
        if (!object_name(name, path, ec)) return false;
        if (::shm_unlink(path.c_str()) == 0) return true;
        ec = ipc::detail::last_error();
        if (ec == errc::not_found) ec.clear();
        else ipc::detail::with_name(ec, name);
        return false;
    }

private:
    using step = void (robust_mutex::*)(std::string_view, permissions, std::error_code&) noexcept;
    static robust_mutex or_throw(std::string_view name, permissions p, step how, const char* what) {
        std::error_code ec;
        robust_mutex m = opened(name, p, how, ec);
        ipc::detail::throw_if(ec, what);
        return m;
    }
    static robust_mutex opened(std::string_view name, permissions p, step how, std::error_code& ec) noexcept {
        robust_mutex m;
        (m.*how)(name, p, ec);
        if (!ec) return m;
        ipc::detail::with_name(ec, name);
        return {};
    }

    static bool object_name(std::string_view name, std::string& path, std::error_code& ec) noexcept {
        std::string n;
        if (!ipc::detail::posix_ipc_name(name, n, ec, detail::robust_mutex_prefix.size())) return false;
        try {
            path = "/";
            path += detail::robust_mutex_prefix;
            path.append(n, 1);
        } catch (const std::bad_alloc&) {
            ec = std::make_error_code(std::errc::not_enough_memory);
            return false;
        }
        return true;
    }

    void make(std::string_view name, permissions p, std::error_code& ec) noexcept {
        ec.clear();
        std::string path;
        if (!object_name(name, path, ec)) return;
        const ::mode_t mode = p.mode & 0777;
        ipc::detail::unique_fd fd(::shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
        if (!fd) {
            ec = ipc::detail::last_error();
            return;
        }
        ipc::detail::mapping m = ipc::detail::size_and_map(fd.get(), storage_size, mode, ec);
        detail::robust_mutex_state* st = ec ? nullptr : detail::format_robust_mutex(m.bytes(), ec);
        if (!st) {
            ::shm_unlink(path.c_str());
            return;
        }
        map_ = std::move(m);
        st_ = st;
    }

    void attach(std::string_view name, permissions, std::error_code& ec) noexcept {
        ec.clear();
        std::string path;
        if (!object_name(name, path, ec)) return;
        // A creator may be between creating and formatting: give it a moment.
        // One that died there leaves an object that is corrupt until removed.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        for (;;) {
            ipc::detail::unique_fd fd(::shm_open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0));
            if (!fd) {
                ec = ipc::detail::last_error();
                return;
            }
            struct stat sb {};
            if (::fstat(fd.get(), &sb) != 0) {
                ec = ipc::detail::last_error();
                return;
            }
            if (!S_ISREG(sb.st_mode) || (sb.st_size > 0 && static_cast<std::uint64_t>(sb.st_size) < storage_size)) {
                ec = make_error_code(errc::corrupt);
                return;
            }
            ipc::detail::mapping m;
            if (sb.st_size > 0) {
                m = ipc::detail::mapping::map_fd(fd.get(), storage_size, ec);
                if (ec) return;
                const auto verdict = detail::check_robust_mutex(m.bytes(), ec);
                if (verdict == detail::robust_mutex_check::bad) return;
                if (verdict == detail::robust_mutex_check::ok) {
                    st_ = std::launder(reinterpret_cast<detail::robust_mutex_state*>(m.bytes().data()));
                    map_ = std::move(m);
                    return;
                }
            }
            if (std::chrono::steady_clock::now() >= until) {
                ec = make_error_code(errc::corrupt);
                return;
            }
            ipc::detail::sleep_for(std::chrono::milliseconds(1));
        }
    }

    void make_or_attach(std::string_view name, permissions p, std::error_code& ec) noexcept {
        for (int attempt = 0; attempt < 100; ++attempt) {
            make(name, p, ec);
            if (ec != errc::already_exists) return;
            attach(name, p, ec);
            if (ec != errc::not_found) return;  // removed in between: try again
        }
    }

    ipc::detail::mapping map_;
};

// A robust mutex in memory the caller provides and shares between processes
// (a MAP_SHARED mapping, a region of its own), storage_size bytes aligned to
// storage_align. Non-owning: the memory outlives every view, and any number
// of views, in any process, may use the same mutex.
class robust_mutex_view : public detail::robust_mutex_handle {
public:
    robust_mutex_view() noexcept = default;

    // Initialises a new, unlocked mutex in `storage`. Exactly one process does
    // this, before any other uses the memory (views opened meanwhile are refused).
    robust_mutex_view(create_only_t, std::span<std::byte> storage) {
        std::error_code ec;
        *this = robust_mutex_view(create_only, storage, ec);
        ipc::detail::throw_if(ec, "robust_mutex_view(create_only)");
    }
    robust_mutex_view(create_only_t, std::span<std::byte> storage, std::error_code& ec) noexcept {
        ec.clear();
        if (fits(storage, ec)) st_ = detail::format_robust_mutex(storage, ec);
    }
    // A view of a mutex initialised in `storage` (by this process or another);
    // errc::corrupt or errc::layout_mismatch if what is there is not one.
    robust_mutex_view(open_only_t, std::span<std::byte> storage) {
        std::error_code ec;
        *this = robust_mutex_view(open_only, storage, ec);
        ipc::detail::throw_if(ec, "robust_mutex_view(open_only)");
    }
    robust_mutex_view(open_only_t, std::span<std::byte> storage, std::error_code& ec) noexcept {
        ec.clear();
        if (!fits(storage, ec)) return;
        const auto verdict = detail::check_robust_mutex(storage, ec);
        if (verdict == detail::robust_mutex_check::unformatted) ec = make_error_code(errc::corrupt);
        if (verdict == detail::robust_mutex_check::ok) st_ = std::launder(reinterpret_cast<detail::robust_mutex_state*>(storage.data()));
    }

    robust_mutex_view(robust_mutex_view&&) noexcept = default;
    robust_mutex_view& operator=(robust_mutex_view&&) noexcept = default;

    // pthread_mutex_destroy, and the header marked unformatted: only once no
    // process holds, waits on or will use the mutex again.
    void destroy() noexcept {
        if (!st_) return;
        st_->state.store(0, std::memory_order_release);
        ::pthread_mutex_destroy(&std::exchange(st_, nullptr)->mutex);
    }

private:
    static bool fits(std::span<std::byte> storage, std::error_code& ec) noexcept {
        if (storage.data() && storage.size() >= storage_size &&
            reinterpret_cast<std::uintptr_t>(storage.data()) % storage_align == 0)
            return true;
        ec = std::make_error_code(std::errc::invalid_argument);
        return false;
    }
};

}  // namespace ipc::sem
