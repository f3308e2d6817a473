// ipc/detail/file_open.hpp: opening a regular file by path, the secure way.
#pragma once

#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include "../open_mode.hpp"
#include "fd.hpp"
#include "name.hpp"

namespace ipc::detail {

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
inline unique_fd open_regular_file(path_ref path, int flags, std::error_code& ec, permissions p = {}) noexcept {
    ec.clear();
    if (!fs_path(path.view(), ec)) return {};
    return open_checked(path.c_str(), flags | O_NOCTTY, p.mode & 0777, S_IFREG,
                        std::make_error_code(std::errc::invalid_argument), ec);
}

// unlink(path): true if removed, false if there was nothing (not an error).
// A symbolic link at path is removed itself; unlink never touches what it points to.
inline bool remove_file(path_ref path, std::error_code& ec) noexcept {
    ec.clear();
    if (!fs_path(path.view(), ec)) return false;
    if (::unlink(path.c_str()) == 0) return true;
    ec = last_error();
    if (ec == errc::not_found) ec.clear();
    else with_name(ec, path.view());
    return false;
}
inline bool remove_file(path_ref path, const char* what) {
    std::error_code ec;
    const bool r = remove_file(path, ec);
    throw_if(ec, what);
    return r;
}

}  // namespace ipc::detail
