// ipc/transport/mapped_file.hpp: a ring in an mmap'd file, which outlives every process.
#pragma once

#include <fcntl.h>
#include <limits.h>

#include <string>

#include "../basic_channel.hpp"
#include "../detail/fd.hpp"
#include "../framing/length_prefixed.hpp"
#include "../fwd.hpp"
#include "../sync/futex.hpp"
#include "ring_region.hpp"

namespace ipc::detail {
// The name is a file path. Messages left in the ring stay in the file: the
// next run that opens it reads them (the kernel writes the pages back on its
// own; a crash of the machine, not of a process, may lose the latest ones).
struct mapped_file_backing {
    static constexpr const char* what = "mapped_file";
    static bool check_name(std::string_view path, std::error_code& ec) noexcept {
        return ipc::detail::fs_path(path, ec, ipc::detail::parent_refs::allow);
    }
    static ipc::detail::mapping create(std::string_view path, std::size_t size, ::mode_t mode, std::error_code& ec) noexcept {
        const std::string p(path);
        ipc::detail::unique_fd fd(::open(p.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
        if (!fd) {
            ec = ipc::detail::last_error();
            return {};
        }
        auto m = ipc::detail::size_and_map(fd.get(), size, mode, ec);
        if (ec) ::unlink(p.c_str());
        return m;
    }
    static ipc::detail::mapping open(std::string_view path, std::error_code& ec) noexcept {
        ipc::detail::unique_fd fd(::open(std::string(path).c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) {
            ec = ipc::detail::last_error();
            return {};
        }
        return ipc::detail::map_existing(fd.get(), ec);
    }
    static bool unlink(std::string_view path, std::error_code& ec) noexcept {
        if (::unlink(std::string(path).c_str()) == 0) return true;
        ec = ipc::detail::last_error();
        return false;
    }
};
}  // namespace ipc::detail

// Channels over an mmap'd file (defined in ipc/fwd.hpp, included above):
// ipc::mapped_file_channel<T>::open_or_create("/var/lib/app/jobs.ring", 1024);
// also ipc::mapped_file_mpmc_channel<T> and ipc::mapped_file_message_channel<T = std::string>.
