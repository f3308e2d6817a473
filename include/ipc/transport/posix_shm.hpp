// ipc/transport/posix_shm.hpp: a ring in POSIX shared memory (shm_open), found by name.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>

#include <string>

#include "../basic_channel.hpp"
#include "../detail/fd.hpp"
#include "../framing/length_prefixed.hpp"
#include "../fwd.hpp"
#include "../sync/futex.hpp"
#include "ring_region.hpp"

namespace ipc::detail {
// Objects are named "/ipc.<name>" (visible as /dev/shm/ipc.<name>), so tools
// and people can tell ipc's objects from everyone else's.
struct posix_shm_backing {
    static constexpr const char* what = "posix_shm";
    static bool check_name(std::string_view name, std::error_code& ec) noexcept { return ipc::detail::region_name(name, ec); }
    static std::string object_name(std::string_view name) { return "/ipc." + std::string(name); }

    static ipc::detail::mapping create(std::string_view name, std::size_t size, ::mode_t mode, std::error_code& ec) noexcept {
        const std::string path = object_name(name);
        ipc::detail::unique_fd fd(::shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode));
        if (!fd) {
            ec = ipc::detail::last_error();
            return {};
        }
        auto m = ipc::detail::size_and_map(fd.get(), size, mode, ec);
        if (ec) ::shm_unlink(path.c_str());
        return m;
    }
    static ipc::detail::mapping open(std::string_view name, std::error_code& ec) noexcept {
        ipc::detail::unique_fd fd(::shm_open(object_name(name).c_str(), O_RDWR | O_CLOEXEC, 0));
        if (!fd) {
            ec = ipc::detail::last_error();
            return {};
        }
        return ipc::detail::map_existing(fd.get(), ec);
    }
    static bool unlink(std::string_view name, std::error_code& ec) noexcept {
        if (::shm_unlink(object_name(name).c_str()) == 0) return true;
        ec = ipc::detail::last_error();
        return false;
    }
};
}  // namespace ipc::detail

namespace ipc::transport {

// ipc::transport::posix_shm<ring::spsc<T>> (or ring::mpmc<T>, ring::bytes) is
// named_region<Ring, detail::posix_shm_backing> (declared in ipc/fwd.hpp).
// The object persists until remove(name), like a file.

}  // namespace ipc::transport

// Channels over POSIX shared memory (defined with every other alias in
// ipc/fwd.hpp, included above), each opened in one call:
//   auto rx = ipc::shm_channel<point>::create("points", 1024);  // 1024 slots, 0600
//   auto tx = ipc::shm_channel<point>::open("points");          // in another process
// ipc::shm_channel<T> (one sender, one receiver), ipc::shm_mpmc_channel<T>
// (several of each), ipc::shm_message_channel<T = std::string> (variable size).
