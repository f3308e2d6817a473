// ipc/detail/name.hpp: the two name rules of ipc, checked in one place.
//
//   posix_ipc_name   objects named in a kernel namespace: POSIX semaphores,
//                    message queues, shared memory ("/name")
//   fs_path          objects at a file-system path: log files, lock files,
//                    FIFOs, Unix socket files
//
// Both answer errc::name_invalid, and never touch the system.
#pragma once

#include <limits.h>

#include <cstddef>
#include <new>
#include <string>
#include <string_view>
#include <system_error>

#include "../error.hpp"

namespace ipc::detail {

// What the kernel or libc puts before a POSIX name in its file name: sem_open
// stores "/x" as /dev/shm/sem.x; mq_open and shm_open store it as x.
inline constexpr std::size_t sem_name_prefix = 4;  // "sem."
inline constexpr std::size_t no_name_prefix = 0;

// The rule for a POSIX IPC name:
//   - an optional leading '/', then the name proper;
//   - the name proper is 1..(NAME_MAX - prefix) characters of [A-Za-z0-9._-]
//     (so no second '/', no control characters, no spaces);
//   - it is not "." or "..".
// On success normalized is "/" + the name proper, as sem_open/mq_open/shm_open
// want it. Otherwise ec is errc::name_invalid (or ENOMEM) and normalized is empty.
// The narrow character set keeps names printable, portable and free of any
// way to climb out of /dev/shm or /dev/mqueue.
inline bool posix_ipc_name(std::string_view name, std::string& normalized, std::error_code& ec,
                           std::size_t prefix = no_name_prefix) noexcept {
    normalized.clear();
    if (!name.empty() && name.front() == '/') name.remove_prefix(1);
    bool ok = !name.empty() && prefix < NAME_MAX && name.size() <= NAME_MAX - prefix && name != "." && name != "..";
    for (char c : name) {
        const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                             c == '_' || c == '-';
        ok = ok && allowed;
    }
    if (!ok) {
        ec = make_error_code(errc::name_invalid);
        return false;
    }
    try {
        normalized.reserve(name.size() + 1);
        normalized += '/';
        normalized += name;
    } catch (const std::bad_alloc&) {
        normalized.clear();
        ec = std::make_error_code(std::errc::not_enough_memory);
        return false;
    }
    return true;
}

// Whether a path may climb with "..". Refused unless the caller says so: a
// path built by joining an untrusted leaf to a trusted directory cannot then
// escape it. A caller who means "../x" says parent_refs::allow, or resolves
// the path first (std::filesystem::weakly_canonical).
enum class parent_refs : unsigned char { refuse, allow };

// The rule for a file-system path (log file, lock file, FIFO, socket file):
//   - not empty, no NUL byte (c_str() would silently cut the path there);
//   - shorter than PATH_MAX bytes, every component at most NAME_MAX (Unix
//     sockets have the tighter sun_path limit, which unix_address checks);
//   - the last component names an object: not empty ("dir/"), "." or "..";
//   - no ".." component anywhere unless parent_refs::allow.
// Otherwise errc::name_invalid. Symbolic links are not a matter of the name:
// the open refuses them (O_NOFOLLOW, lstat) at the moment it happens.
inline bool fs_path(std::string_view path, std::error_code& ec, parent_refs parents = parent_refs::refuse) noexcept {
    bool ok = !path.empty() && path.size() < PATH_MAX && path.find('\0') == std::string_view::npos;
    for (std::size_t start = 0; ok;) {
        const std::size_t slash = path.find('/', start);
        const std::string_view comp = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        ok = comp.size() <= NAME_MAX && (comp != ".." || parents == parent_refs::allow);
        if (slash == std::string_view::npos) {
            ok = ok && !comp.empty() && comp != "." && comp != "..";
            break;
        }
        start = slash + 1;
    }
    if (!ok) ec = make_error_code(errc::name_invalid);
    return ok;
}

} // namespace ipc::detail
