// ipc/detail/file_open.hpp: opening a regular file by path, the secure way.
#pragma once

#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include <filesystem>

#include "../open_mode.hpp"
#include "fd.hpp"
#include "name.hpp"

namespace ipc::detail {

inline int creation_flags(create_only_t) noexcept { return O_CREAT | O_EXCL; }
inline int creation_flags(open_only_t) noexcept { return 0; }
inline int creation_flags(open_or_create_t) noexcept { return O_CREAT; }

// Opens path without following a symbolic link in its last component and
// without blocking in open() (a FIFO with no peer, a device), checks that what
// was opened is of `type` (S_IFREG, S_IFIFO; the path may have been swapped
// since any earlier check: else wrong_type), and returns it blocking. The
// descriptor is its own open file description, so clearing O_NONBLOCK on it
// affects no other process.
inline unique_fd open_checked(const char* path, int flags, mode_t mode, mode_t type, std::error_code wrong_type,
                              std::error_code& ec) noexcept {
    unique_fd fd(retry_eintr([&] { return ::open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode); }));
    if (!fd) {
        ec = last_error();
        return {};
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        ec = last_error();
        return {};
    }
    if ((st.st_mode & S_IFMT) != type) {
        ec = wrong_type;
        return {};
    }
    if (!set_nonblocking(fd.get(), false, ec)) return {};
    return fd;
}

// Opens `path` (checked by fs_path) with `flags` (access mode, O_APPEND,
// O_CREAT/O_EXCL...), always adding O_NOFOLLOW (a symbolic link is refused
// with ELOOP rather than followed somewhere an attacker chose) and O_CLOEXEC;
// a new file gets p.mode (0600 unless widened) less the umask.
// Anything but a regular file (a FIFO, a device) is refused with EINVAL; it is
// opened with O_NONBLOCK so that even a FIFO cannot hang the open, and
// O_NOCTTY so that a terminal at the path cannot become ours.
inline unique_fd open_regular_file(const std::filesystem::path& path, int flags, std::error_code& ec,
                                   permissions p = {}) noexcept {
    ec.clear();
    if (!fs_path(path.native(), ec)) return {};
    return open_checked(path.c_str(), flags | O_NOCTTY, p.mode & 0777, S_IFREG,
                        std::make_error_code(std::errc::invalid_argument), ec);
}

// unlink(path): true if removed; a missing file is errc::not_found. A symbolic
// link at path is removed itself; unlink never touches what it points to.
inline bool remove_file(const std::filesystem::path& path, std::error_code& ec) noexcept {
    ec.clear();
    if (!fs_path(path.native(), ec)) return false;
    if (::unlink(path.c_str()) == 0) return true;
    ec = last_error();
    return false;
}
// The throwing twin returns false (no throw) when there was nothing to remove.
inline bool remove_file(const std::filesystem::path& path) {
    std::error_code ec;
    if (remove_file(path, ec)) return true;
    if (ec == errc::not_found) return false;
    throw_error(ec, "unlink");
}

} // namespace ipc::detail
