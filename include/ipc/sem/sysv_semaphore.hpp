// ipc/sem/sysv_semaphore.hpp: System V semaphores (semget/semop), the ones that survive a crashed holder.
//
//   ipc::sem::sysv_semaphore          counting, up to SEMVMX (32767)
//   ipc::sem::sysv_binary_semaphore   count 0 or 1; release of a full one is refused atomically
//
// What System V adds over POSIX semaphores: SEM_UNDO. With undo on (the
// default) the kernel remembers what each process took and gives it back when
// the process dies, so a holder killed by SIGKILL does not keep the count.
// Undo suits lock-like use, where the process that acquires also releases.
// For signalling, where one process releases what another acquires (turn
// taking, producer/consumer), call set_undo(false): otherwise each process's
// exit would replay its share of the other's operations.
//
// A semaphore set is named by a key: make_key(path, id) (ftok), an explicit
// number, or private_key (IPC_PRIVATE: a new set only this process tree knows,
// by id()). It outlives every process until remove(); created mode 0600
// unless permissions widen it.
#pragma once

#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/stat.h>

#include <cstdio>
#include <utility>

#include "../detail/chrono.hpp"
#include "../detail/fd.hpp"
#include "../detail/name.hpp"
#include "../detail/semaphore_api.hpp"
#include "../detail/sysv_semaphore.hpp"
#include "../error.hpp"
#include "../open_mode.hpp"
#include "../status.hpp"

namespace ipc::sem {

// IPC_PRIVATE: a set no other key can reach; share it by id() (e.g. across fork()).
inline constexpr key_t private_key = IPC_PRIVATE;

// ftok(path, proj_id): the same file and id give the same key in every
// process. Only the low 8 bits of proj_id count, and it must not be 0.
inline key_t make_key(detail::path_ref path, int proj_id, std::error_code& ec) noexcept {
    ec.clear();
    if ((proj_id & 0xff) == 0) {
        ec = detail::explain(make_error_code(errc::name_invalid), "ftok id %d: its low 8 bits must not be 0", proj_id);
        return -1;
    }
    key_t k = ::ftok(path.c_str(), proj_id);
    if (k == -1) ec = detail::last_error();
    return k;
}
inline key_t make_key(detail::path_ref path, int proj_id) {
    std::error_code ec;
    key_t k = make_key(path, proj_id, ec);
    detail::throw_if(ec, "ftok");
    return k;
}

template <std::ptrdiff_t Max>
class basic_sysv_semaphore : public detail::semaphore_api<basic_sysv_semaphore<Max>, Max> {
    static_assert(Max >= 1 && Max <= detail::sysv_sem_value_max);

public:
    basic_sysv_semaphore() noexcept = default;

    // A new set of one semaphore with count `initial`; errc::already_exists if
    // the key is taken. Permissions apply as given (System V has no umask).
    static basic_sysv_semaphore create(key_t key, unsigned initial = 0, permissions p = {}) {
        return or_throw(key, initial, p, &basic_sysv_semaphore::make_set, "sysv_semaphore::create");
    }
    static basic_sysv_semaphore create(key_t key, std::error_code& ec) noexcept { return create(key, 0, permissions{}, ec); }
    static basic_sysv_semaphore create(key_t key, unsigned initial, std::error_code& ec) noexcept { return create(key, initial, permissions{}, ec); }
    static basic_sysv_semaphore create(key_t key, unsigned initial, permissions p, std::error_code& ec) noexcept {
        return opened(key, initial, p, &basic_sysv_semaphore::make_set, ec);
    }
    // The existing set for key; errc::not_found if there is none.
    [[nodiscard]] static basic_sysv_semaphore open(key_t key) { return or_throw(key, 0, {}, &basic_sysv_semaphore::open_set, "sysv_semaphore::open"); }
    [[nodiscard]] static basic_sysv_semaphore open(key_t key, std::error_code& ec) noexcept {
        return opened(key, 0, {}, &basic_sysv_semaphore::open_set, ec);
    }
    // Opens the key's set, or creates it with count `initial`.
    static basic_sysv_semaphore open_or_create(key_t key, unsigned initial = 0, permissions p = {}) {
        return or_throw(key, initial, p, &basic_sysv_semaphore::make_or_open, "sysv_semaphore::open_or_create");
    }
    static basic_sysv_semaphore open_or_create(key_t key, std::error_code& ec) noexcept { return open_or_create(key, 0, permissions{}, ec); }
    static basic_sysv_semaphore open_or_create(key_t key, unsigned initial, std::error_code& ec) noexcept {
        return open_or_create(key, initial, permissions{}, ec);
    }
    static basic_sysv_semaphore open_or_create(key_t key, unsigned initial, permissions p, std::error_code& ec) noexcept {
        return opened(key, initial, p, &basic_sysv_semaphore::make_or_open, ec);
    }

    // A handle on a set known by its id (another process's id(), e.g. a private set).
    static basic_sysv_semaphore from_id(int id) noexcept {
        basic_sysv_semaphore s;
        s.id_ = id;
        return s;
    }

    basic_sysv_semaphore(basic_sysv_semaphore&& o) noexcept : id_(std::exchange(o.id_, -1)), undo_(o.undo_) {}
    basic_sysv_semaphore& operator=(basic_sysv_semaphore&& o) noexcept {
        id_ = std::exchange(o.id_, -1);
        undo_ = o.undo_;
        return *this;
    }

    // Removes the set now (IPC_RMID): waiters in every process fail with EIDRM.
    bool remove(std::error_code& ec) noexcept {
        ec.clear();
        if (id_ < 0) {
            ec = std::make_error_code(std::errc::bad_file_descriptor);
            return false;
        }
        if (::semctl(std::exchange(id_, -1), 0, IPC_RMID) != 0) {
            ec = detail::last_error();
            return false;
        }
        return true;
    }
    void remove() {
        std::error_code ec;
        (void)remove(ec);
        detail::throw_if(ec, "semctl(IPC_RMID)");
    }
    // Removes the set for key: true if it was removed, false if there was none
    // (not an error).
    static bool remove(key_t key, std::error_code& ec) noexcept {
        ec.clear();
        const int id = ::semget(key, 0, 0);
        if (id >= 0 && ::semctl(id, 0, IPC_RMID) == 0) return true;
        ec = detail::last_error();
        if (ec == errc::not_found) ec.clear();
        else explain_key(ec, key);
        return false;
    }
    static bool remove(key_t key) {
        std::error_code ec;
        const bool r = remove(key, ec);
        detail::throw_if(ec, "sysv_semaphore::remove");
        return r;
    }

    // SEM_UNDO on acquire and release (default on): see the top of this file.
    void set_undo(bool on) noexcept { undo_ = on; }
    bool undo() const noexcept { return undo_; }

    int id() const noexcept { return id_; }
    int native_handle() const noexcept { return id_; }
    bool is_open() const noexcept { return id_ >= 0; }

private:
    friend class detail::semaphore_api<basic_sysv_semaphore, Max>;

    using step = bool (basic_sysv_semaphore::*)(key_t, unsigned, permissions, std::error_code&) noexcept;
    static std::error_code explain_key(std::error_code ec, key_t key) noexcept {
        char k[24];
        std::snprintf(k, sizeof k, "key %#x", static_cast<unsigned>(key));
        return detail::with_name(ec, k);
    }
    static basic_sysv_semaphore or_throw(key_t key, unsigned initial, permissions p, step how, const char* what) {
        std::error_code ec;
        basic_sysv_semaphore s = opened(key, initial, p, how, ec);
        detail::throw_if(ec, what);
        return s;
    }
    static basic_sysv_semaphore opened(key_t key, unsigned initial, permissions p, step how, std::error_code& ec) noexcept {
        ec.clear();
        basic_sysv_semaphore s;
        if ((s.*how)(key, initial, p, ec)) return s;
        explain_key(ec, key);
        return {};
    }

    // Creating and opening race with other processes doing the same: retry
    // until one of them wins (a set removed in between is simply made again).
    bool make_or_open(key_t key, unsigned initial, permissions p, std::error_code& ec) noexcept {
        for (int attempt = 0; attempt < 100; ++attempt) {
            ec.clear();
            if (make_set(key, initial, p, ec)) return true;
            if (ec != errc::already_exists) return false;
            ec.clear();
            if (open_set(key, initial, p, ec)) return true;
            if (ec != errc::not_found) return false;
        }
        return false;
    }

    bool make_set(key_t key, unsigned initial, permissions p, std::error_code& ec) noexcept {
        if (initial > static_cast<unsigned>(Max)) {
            ec = detail::explain(make_error_code(errc::limit_exceeded), "initial count %u is over the semaphore's maximum %td", initial,
                                 static_cast<std::ptrdiff_t>(Max));
            return false;
        }
        int id = ::semget(key, 1, IPC_CREAT | IPC_EXCL | static_cast<int>(p.mode & 0777));
        if (id < 0) {
            ec = detail::last_error();
            return false;
        }
        if (!detail::sysv_sem_init(id, initial, ec)) {
            ::semctl(id, 0, IPC_RMID);
            return false;
        }
        id_ = id;
        return true;
    }

    bool open_set(key_t key, unsigned, permissions, std::error_code& ec) noexcept {
        // Asking for read and alter access checks it now: a process without it
        // is refused here (EACCES), not at its first wait. semget with 0 checks nothing.
        int id = ::semget(key, 0, S_IRUSR | S_IWUSR);
        if (id < 0) {
            ec = detail::last_error();
            return false;
        }
        if (!detail::sysv_sem_wait_ready(id, ec)) return false;
        id_ = id;
        return true;
    }

    short flags() const noexcept { return undo_ ? SEM_UNDO : 0; }

    bool wait(const deadline& dl, std::error_code& ec) noexcept {
        sembuf op{0, -1, flags()};
        for (;;) {
            int r;
            if (dl.is_never()) {
                r = ::semop(id_, &op, 1);
            } else if (dl.is_immediate()) {
                sembuf nb = op;
                nb.sem_flg = static_cast<short>(nb.sem_flg | IPC_NOWAIT);
                r = ::semop(id_, &nb, 1);
            } else {
                timespec left = dl.remaining_timespec();
                r = ::semtimedop(id_, &op, 1, &left);
            }
            if (r == 0) return true;
            int e = errno;
            if (e == EINTR) continue;
            if (e == EAGAIN) {
                if (!dl.is_immediate() && !dl.expired()) continue;  // never give up early
                ec = detail::expired_code(dl);
                return false;
            }
            ec = detail::errno_code(e);
            return false;
        }
    }

    bool post(std::ptrdiff_t n, std::error_code& ec) noexcept {
        // Binary: "is zero" and "+1" in one semop, which the kernel applies atomically.
        sembuf ops[2] = {{0, 0, IPC_NOWAIT}, {0, static_cast<short>(n), flags()}};
        sembuf* first = Max == 1 ? ops : ops + 1;
        int count = Max == 1 ? 2 : 1;
        if (detail::retry_eintr([&] { return ::semop(id_, first, count); }) == 0) return true;
        ec = errno == EAGAIN || errno == ERANGE ? make_error_code(errc::limit_exceeded) : detail::last_error();
        return false;
    }

    int get_value(std::error_code& ec) const noexcept {
        int v = ::semctl(id_, 0, GETVAL);
        if (v < 0) {
            ec = detail::last_error();
            return 0;
        }
        return v;
    }

    int id_ = -1;
    bool undo_ = true;
};

using sysv_semaphore = basic_sysv_semaphore<detail::sysv_sem_value_max>;
using sysv_binary_semaphore = basic_sysv_semaphore<1>;

}  // namespace ipc::sem
