// ipc/sem/posix_semaphore.hpp: POSIX semaphores, named (sem_open) or placed in shared memory (sem_init).
//
//   ipc::sem::posix_semaphore          named, counting      sem_open("/name"), lives in /dev/shm
//   ipc::sem::posix_binary_semaphore   named, count 0 or 1
//   ipc::sem::unnamed_semaphore        a sem_t inside memory the caller shares (pshared = 1)
//   ipc::sem::unnamed_binary_semaphore
//
// All offer acquire / try_acquire / try_acquire_for / try_acquire_until /
// release(n) / value(), each with an std::error_code& twin. Waits retry EINTR;
// timed waits use sem_clockwait on CLOCK_MONOTONIC (the steady clock), so a
// change of the wall clock neither shortens nor stretches them, and they
// never return before the deadline.
//
// A POSIX semaphore has no crash recovery: a process that dies between
// acquire and release keeps the count. Use ipc::sem::sysv_semaphore (SEM_UNDO)
// or ipc::file_mutex where a holder may die.
#pragma once

#include <fcntl.h>
#include <semaphore.h>
#include <sys/stat.h>

#include <climits>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "../detail/chrono.hpp"
#include "../detail/name.hpp"
#include "../detail/posix_semaphore.hpp"
#include "../error.hpp"
#include "../open_mode.hpp"
#include "../status.hpp"

namespace ipc::sem {

// A named semaphore any process can open by name. The name ("name" or
// "/name", up to 251 characters of [A-Za-z0-9._-]: see detail::posix_ipc_name)
// lives in /dev/shm until remove(name); the object stays usable by those that
// have it open. Created with mode 0600 unless permissions widen it: only the
// same user can open it.
template <std::ptrdiff_t Max>
class basic_posix_semaphore : public detail::posix_sem_handle<Max> {
    using detail::posix_sem_handle<Max>::sem_;

public:
    basic_posix_semaphore() noexcept = default;

    // A new semaphore with count `initial`; errc::already_exists if the name is
    // taken (O_EXCL). Permissions wider than 0600 lose the umask's bits.
    static basic_posix_semaphore create(std::string_view name, unsigned initial = 0, permissions p = {}) {
        return or_throw(name, O_CREAT | O_EXCL, initial, p, "posix_semaphore::create");
    }
    static basic_posix_semaphore create(std::string_view name, std::error_code& ec) noexcept { return create(name, 0, permissions{}, ec); }
    static basic_posix_semaphore create(std::string_view name, unsigned initial, std::error_code& ec) noexcept {
        return create(name, initial, permissions{}, ec);
    }
    static basic_posix_semaphore create(std::string_view name, unsigned initial, permissions p, std::error_code& ec) noexcept {
        return opened(name, O_CREAT | O_EXCL, initial, p, ec);
    }
    // An existing semaphore; errc::not_found if there is none.
    [[nodiscard]] static basic_posix_semaphore open(std::string_view name) { return or_throw(name, 0, 0, {}, "posix_semaphore::open"); }
    [[nodiscard]] static basic_posix_semaphore open(std::string_view name, std::error_code& ec) noexcept { return opened(name, 0, 0, {}, ec); }
    // Opens it, or creates it with count `initial` (the kernel makes this one atomic step).
    static basic_posix_semaphore open_or_create(std::string_view name, unsigned initial = 0, permissions p = {}) {
        return or_throw(name, O_CREAT, initial, p, "posix_semaphore::open_or_create");
    }
    static basic_posix_semaphore open_or_create(std::string_view name, std::error_code& ec) noexcept {
        return open_or_create(name, 0, permissions{}, ec);
    }
    static basic_posix_semaphore open_or_create(std::string_view name, unsigned initial, std::error_code& ec) noexcept {
        return open_or_create(name, initial, permissions{}, ec);
    }
    static basic_posix_semaphore open_or_create(std::string_view name, unsigned initial, permissions p, std::error_code& ec) noexcept {
        return opened(name, O_CREAT, initial, p, ec);
    }

    basic_posix_semaphore(basic_posix_semaphore&& o) noexcept : detail::posix_sem_handle<Max>(std::exchange(o.sem_, nullptr)) {}
    basic_posix_semaphore& operator=(basic_posix_semaphore&& o) noexcept {
        if (this != &o) {
            close();
            sem_ = std::exchange(o.sem_, nullptr);
        }
        return *this;
    }
    ~basic_posix_semaphore() { close(); }

    // Removes the name; processes that have it open keep using it.
    // True if it was removed, false if there was none (not an error).
    static bool remove(std::string_view name, std::error_code& ec) noexcept {
        ec.clear();
        std::string n;
        if (!detail::posix_ipc_name(name, n, ec, detail::sem_name_prefix)) return false;
        if (::sem_unlink(n.c_str()) == 0) return true;
        ec = detail::last_error();
        if (ec == errc::not_found) ec.clear();
        else detail::with_name(ec, name);
        return false;
    }
    static bool remove(std::string_view name) {
        std::error_code ec;
        const bool r = remove(name, ec);
        detail::throw_if(ec, "posix_semaphore::remove");
        return r;
    }

    void close() noexcept {
        if (sem_) ::sem_close(std::exchange(sem_, nullptr));
    }

private:
    static basic_posix_semaphore or_throw(std::string_view name, int flags, unsigned initial, permissions p, const char* what) {
        std::error_code ec;
        basic_posix_semaphore s = opened(name, flags, initial, p, ec);
        detail::throw_if(ec, what);
        return s;
    }
    static basic_posix_semaphore opened(std::string_view name, int flags, unsigned initial, permissions p, std::error_code& ec) noexcept {
        basic_posix_semaphore s;
        s.open(name, flags, initial, p, ec);
        if (ec) detail::with_name(ec, name);
        return s;
    }

    void open(std::string_view name, int flags, unsigned initial, permissions p, std::error_code& ec) noexcept {
        ec.clear();
        if (initial > static_cast<unsigned>(Max)) {
            ec = detail::explain(make_error_code(errc::limit_exceeded), "initial count %u is over the semaphore's maximum %td", initial,
                                 static_cast<std::ptrdiff_t>(Max));
            return;
        }
        std::string n;
        if (!detail::posix_ipc_name(name, n, ec, detail::sem_name_prefix)) return;
        // glibc opens /dev/shm/sem.<name> with O_NOFOLLOW, creates it by link(2)
        // from an O_EXCL temporary file (never through a planted link), and
        // closes the descriptor once it is mapped.
        sem_t* s = (flags & O_CREAT) ? ::sem_open(n.c_str(), flags, p.mode & 0777, initial) : ::sem_open(n.c_str(), flags);
        if (s == SEM_FAILED) {
            ec = detail::last_error();
            return;
        }
        sem_ = s;
    }

};

// A semaphore in memory the caller provides and shares between processes
// (a MAP_SHARED mapping, POSIX or System V shared memory), initialised with
// pshared = 1. The object is a non-owning view: the memory outlives it, and
// any number of views, in any process, may point at the same sem_t.
// The storage must be storage_size bytes aligned to storage_align.
template <std::ptrdiff_t Max>
class basic_unnamed_semaphore : public detail::posix_sem_handle<Max> {
    using detail::posix_sem_handle<Max>::sem_;

public:
    static constexpr std::size_t storage_size = sizeof(sem_t);
    static constexpr std::size_t storage_align = alignof(sem_t);

    basic_unnamed_semaphore() noexcept = default;

    // Initialises a new semaphore at `where` with count `initial`. Exactly one
    // process does this, before any other process uses the memory.
    basic_unnamed_semaphore(create_only_t, void* where, unsigned initial = 0) {
        std::error_code ec;
        *this = basic_unnamed_semaphore(create_only, where, initial, ec);
        detail::throw_if(ec, "sem_init");
    }
    basic_unnamed_semaphore(create_only_t, void* where, unsigned initial, std::error_code& ec) noexcept {
        ec.clear();
        if (!aligned(where, ec)) return;
        if (initial > static_cast<unsigned>(Max)) {
            ec = make_error_code(errc::limit_exceeded);
            return;
        }
        if (::sem_init(static_cast<sem_t*>(where), 1, initial) != 0) {
            ec = detail::last_error();
            return;
        }
        sem_ = static_cast<sem_t*>(where);
    }
    // A view of a semaphore another process (or this one) initialised at `where`.
    basic_unnamed_semaphore(open_only_t, void* where) {
        std::error_code ec;
        *this = basic_unnamed_semaphore(open_only, where, ec);
        detail::throw_if(ec, "unnamed semaphore");
    }
    basic_unnamed_semaphore(open_only_t, void* where, std::error_code& ec) noexcept {
        ec.clear();
        if (aligned(where, ec)) sem_ = static_cast<sem_t*>(where);
    }

    basic_unnamed_semaphore(basic_unnamed_semaphore&& o) noexcept
        : detail::posix_sem_handle<Max>(std::exchange(o.sem_, nullptr)) {}
    basic_unnamed_semaphore& operator=(basic_unnamed_semaphore&& o) noexcept {
        sem_ = std::exchange(o.sem_, nullptr);
        return *this;
    }

    // sem_destroy: only once no process waits on it or will use it again.
    void destroy() noexcept {
        if (sem_) ::sem_destroy(std::exchange(sem_, nullptr));
    }

private:
    static bool aligned(void* where, std::error_code& ec) noexcept {
        if (where && reinterpret_cast<std::uintptr_t>(where) % storage_align == 0) return true;
        ec = std::make_error_code(std::errc::invalid_argument);
        return false;
    }
};

using posix_semaphore = basic_posix_semaphore<SEM_VALUE_MAX>;
using posix_binary_semaphore = basic_posix_semaphore<1>;
using unnamed_semaphore = basic_unnamed_semaphore<SEM_VALUE_MAX>;
using unnamed_binary_semaphore = basic_unnamed_semaphore<1>;

}  // namespace ipc::sem
