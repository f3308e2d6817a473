// ipc/transport/sysv_shm.hpp: a ring in a System V shared memory segment (shmget/shmat).
#pragma once

#include <sys/ipc.h>
#include <sys/shm.h>

#include <string>

#include "../basic_channel.hpp"
#include "../framing/length_prefixed.hpp"
#include "../fwd.hpp"
#include "../sync/futex.hpp"
#include "ring_region.hpp"

namespace ipc::detail {
// System V segments are found by a numeric key; ours is a 31-bit hash of
// "ipc.<name>". Two names with the same hash would meet on one segment: the
// region header then catches a different T or layout, not a same-typed twin.
// Names follow the shm rules so the same name works for both transports.
struct sysv_shm_backing {
    static constexpr const char* what = "sysv_shm";
    static bool check_name(std::string_view name, std::error_code& ec) noexcept { return ipc::detail::region_name(name, ec); }
    static ::key_t key_of(std::string_view name) noexcept {
        const std::uint64_t h = ring::detail::fnv1a("ipc." + std::string(name));
        const auto k = static_cast<::key_t>((h ^ (h >> 32)) & 0x7fffffff);
        return k == IPC_PRIVATE ? 1 : k;
    }
    static ipc::detail::mapping attach(int id, std::size_t size, std::error_code& ec) noexcept {
        void* p = ::shmat(id, nullptr, 0);
        if (p == reinterpret_cast<void*>(-1)) {
            ec = ipc::detail::last_error();
            return {};
        }
        return {p, size, ipc::detail::mapping::kind::sysv};
    }
    static ipc::detail::mapping create(std::string_view name, std::size_t size, ::mode_t mode, std::error_code& ec) noexcept {
        const int id = ::shmget(key_of(name), size, IPC_CREAT | IPC_EXCL | static_cast<int>(mode & 0777));
        if (id < 0) {
            ec = ipc::detail::last_error();
            return {};
        }
        auto m = attach(id, size, ec);
        if (ec) ::shmctl(id, IPC_RMID, nullptr);
        return m;
    }
    static ipc::detail::mapping open(std::string_view name, std::error_code& ec) noexcept {
        const int id = ::shmget(key_of(name), 0, 0);
        if (id < 0) {
            ec = ipc::detail::last_error();
            return {};
        }
        ::shmid_ds ds{};
        if (::shmctl(id, IPC_STAT, &ds) != 0) {
            ec = ipc::detail::last_error();
            return {};
        }
        return attach(id, ds.shm_segsz, ec);
    }
    static bool unlink(std::string_view name, std::error_code& ec) noexcept {
        const int id = ::shmget(key_of(name), 0, 0);
        if (id < 0 || ::shmctl(id, IPC_RMID, nullptr) != 0) {
            ec = ipc::detail::last_error();
            return false;
        }
        return true;
    }
};
}  // namespace ipc::detail

// Channels over System V shared memory (defined in ipc/fwd.hpp, included
// above): ipc::sysv_shm_channel<T>::create("jobs", 1024), ::open("jobs");
// also ipc::sysv_shm_mpmc_channel<T> and ipc::sysv_shm_message_channel<T = std::string>.
