// ipc/sem/shared.hpp: a semaphore and a robust mutex that are themselves the shared data.
//
//   ipc::sem::shared_semaphore       a counting POSIX semaphore (sem_t, pshared = 1)
//   ipc::sem::shared_binary_semaphore
//   ipc::sem::shared_robust_mutex    a robust pthread mutex (see robust_mutex.hpp)
//
// unnamed_semaphore and robust_mutex_view are views: they hold a pointer into
// this process's mapping, so they cannot live in shared memory themselves.
// These types hold the sem_t or pthread_mutex_t by value and no pointer, so
// they can be members of a struct placed in shared memory (most simply an
// ipc::shared_object<T>, see shared_memory.hpp):
//
//   struct table {
//       ipc::sem::shared_robust_mutex lock;       // initialised by table's constructor
//       ipc::sem::shared_semaphore free_rows{8};  // which the creator alone runs
//       int rows[8];
//   };
//
// Their constructor initialises the object where it stands, so exactly one
// process constructs each (the creator of the memory); every other process
// uses the object it finds there and never constructs or copies it. They have
// no destructor to run: on Linux a sem_t or robust mutex holds no resource
// outside its own bytes, so the memory may simply be unmapped or removed.
#pragma once

#include <semaphore.h>

#include <cstddef>
#include <span>
#include <system_error>

#include "../detail/chrono.hpp"
#include "../detail/posix_semaphore.hpp"
#include "../detail/semaphore_api.hpp"
#include "../error.hpp"
#include "../open_mode.hpp"
#include "robust_mutex.hpp"

namespace ipc::sem {

// acquire / try_acquire / try_acquire_for / try_acquire_until / release(n) /
// value(), each with an std::error_code& twin, as every ipc semaphore. A
// holder that dies keeps its count (see posix_semaphore.hpp).
template <std::ptrdiff_t Max>
class basic_shared_semaphore : public ipc::detail::semaphore_api<basic_shared_semaphore<Max>, Max> {
    static_assert(Max >= 1 && Max <= SEM_VALUE_MAX);

public:
    // sem_init(pshared = 1) with count `initial`; over Max is errc::limit_exceeded.
    explicit basic_shared_semaphore(unsigned initial = 0) {
        if (initial > static_cast<unsigned>(Max))
            ipc::detail::throw_error(ipc::detail::explain(make_error_code(errc::limit_exceeded),
                                                          "shared semaphore: initial count %u is over its maximum %lld",
                                                          initial, static_cast<long long>(Max)),
                                     "sem_init");
        if (::sem_init(&sem_, 1, initial) != 0) ipc::detail::throw_error(ipc::detail::last_error(), "sem_init");
    }
    basic_shared_semaphore(const basic_shared_semaphore&) = delete;
    basic_shared_semaphore& operator=(const basic_shared_semaphore&) = delete;

    sem_t* native_handle() noexcept { return &sem_; }

private:
    friend class ipc::detail::semaphore_api<basic_shared_semaphore, Max>;

    bool wait(const deadline& dl, std::error_code& ec) noexcept { return ipc::detail::posix_sem_wait(&sem_, dl, ec); }
    bool post(std::ptrdiff_t n, std::error_code& ec) noexcept { return ipc::detail::posix_sem_post(&sem_, n, Max, ec); }
    int get_value(std::error_code& ec) const noexcept { return ipc::detail::posix_sem_value(const_cast<sem_t*>(&sem_), ec); }

    sem_t sem_;
};

using shared_semaphore = basic_shared_semaphore<SEM_VALUE_MAX>;
using shared_binary_semaphore = basic_shared_semaphore<1>;

// A robust mutex by value: lock / try_lock / try_lock_for / try_lock_until /
// unlock (TimedLockable: std::lock_guard and std::unique_lock work), each with
// an std::error_code& twin, and previous_owner_died() after a lock that took
// it from a holder that died. Everything robust_mutex.hpp says applies; each
// call works through a robust_mutex_view of the bytes (a check of the header,
// a few loads), since a view's pointer cannot be stored here.
class shared_robust_mutex {
public:
    // A new, unlocked mutex (process-shared, robust, error-checking).
    shared_robust_mutex() { robust_mutex_view(create_only, storage()); }
    shared_robust_mutex(const shared_robust_mutex&) = delete;
    shared_robust_mutex& operator=(const shared_robust_mutex&) = delete;

    void lock() {
        std::error_code ec;
        lock(ec);
        ipc::detail::throw_if(ec, "shared_robust_mutex lock");
    }
    void lock(std::error_code& ec) noexcept {
        with_view(ec, [&](robust_mutex_view& v) {
            v.lock(ec);
            return !ec;
        });
    }
    [[nodiscard]] bool try_lock() { return timed([&](robust_mutex_view& v, std::error_code& ec) { return v.try_lock(ec); }); }
    [[nodiscard]] bool try_lock(std::error_code& ec) noexcept {
        return with_view(ec, [&](robust_mutex_view& v) { return v.try_lock(ec); });
    }
    template <class Rep, class Period>
    [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> d) {
        return try_lock_until(std::chrono::steady_clock::now() + d);
    }
    template <class Rep, class Period>
    [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> d, std::error_code& ec) noexcept {
        return try_lock_until(std::chrono::steady_clock::now() + d, ec);
    }
    template <class Clock, class Dur>
    [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Dur> tp) {
        return timed([&](robust_mutex_view& v, std::error_code& ec) { return v.try_lock_until(tp, ec); });
    }
    template <class Clock, class Dur>
    [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) noexcept {
        return with_view(ec, [&](robust_mutex_view& v) { return v.try_lock_until(tp, ec); });
    }
    // Never throws (std::lock_guard calls it from a destructor).
    void unlock() noexcept {
        std::error_code ec;
        unlock(ec);
    }
    // EPERM if this thread does not hold it.
    void unlock(std::error_code& ec) noexcept {
        ec.clear();
        robust_mutex_view v(open_only, storage(), ec);
        if (!ec) v.unlock(ec);
    }

    // True if the lock this thread holds was taken from a holder that died:
    // the data it guards may be half updated. (Written by whoever acquires
    // the mutex, so only its holder may read it.)
    [[nodiscard]] bool previous_owner_died() const noexcept { return owner_died_; }

private:
    std::span<std::byte> storage() noexcept { return storage_; }

    // Runs f on a view of this mutex; a successful acquisition records whether
    // the previous holder died.
    template <class F>
    bool with_view(std::error_code& ec, F&& f) noexcept {
        ec.clear();
        robust_mutex_view v(open_only, storage(), ec);
        if (ec || !f(v)) return false;
        owner_died_ = v.previous_owner_died();
        return true;
    }
    // A timed or try call that throws: false on would_block / timed_out, else the error.
    template <class F>
    bool timed(F&& f) {
        std::error_code ec;
        if (with_view(ec, [&](robust_mutex_view& v) { return f(v, ec); })) return true;
        if (ec == errc::would_block || ec == errc::timed_out) return false;
        ipc::detail::throw_error(ec, "shared_robust_mutex try_lock");
    }

    alignas(robust_mutex_view::storage_align) std::byte storage_[robust_mutex_view::storage_size];
    bool owner_died_ = false;
};

}  // namespace ipc::sem
