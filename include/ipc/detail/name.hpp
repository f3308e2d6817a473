// ipc/detail/name.hpp: the name rules of ipc, checked in one place.
//
//   region_name      shared-memory rings (POSIX and System V shm): "name"
//   posix_ipc_name   objects named in a kernel namespace: POSIX semaphores,
//                    message queues, robust mutexes ("/name")
//   fs_path          objects at a file-system path: log files, lock files,
//                    FIFOs, Unix socket files, mapped files
//
// Each answers errc::name_invalid with the broken rule in words (see
// ipc::last_error_detail), and never touches the system.
#pragma once

#include <limits.h>

#include <concepts>
#include <cstddef>
#include <cstdio>
#include <cstring>
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

// The longest name of a shared-memory ring ("/dev/shm/ipc.<name>").
inline constexpr std::size_t region_name_max = 200;

// How much of a name an explanation quotes (the text has a fixed size).
inline int quoted_length(std::string_view s) noexcept { return static_cast<int>(s.size() < 80 ? s.size() : 80); }

// Adds "'name': " before this thread's explanation of ec (or makes "'name'"
// the explanation when there is none), so every failure of a named object
// names it: "posix_shm::create: 'jobs': capacity 1000 is not a power of two".
inline std::error_code with_name(std::error_code ec, std::string_view name) noexcept {
    if (ec == errc::name_invalid) return ec;  // the naming rule's words quote it already
    error_detail& d = last_detail();
    char before[sizeof d.text];
    if (d.code == ec && d.text[0] != '\0') std::memcpy(before, d.text, sizeof before);
    else before[0] = '\0';
    if (before[0] != '\0') return explain(ec, "'%.*s': %s", quoted_length(name), name.data(), before);
    return explain(ec, "'%.*s'", quoted_length(name), name.data());
}

// The first character of `name` outside [A-Za-z0-9._-], or npos.
inline std::size_t first_bad_char(std::string_view name) noexcept {
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return i;
    }
    return std::string_view::npos;
}

// errc::name_invalid, explained: the name, the rule it broke, the limit.
inline std::error_code bad_character(std::string_view name, std::size_t at, std::size_t max) noexcept {
    const auto c = static_cast<unsigned char>(name[at]);
    char shown[8];
    if (c > 0x20 && c < 0x7f) std::snprintf(shown, sizeof shown, "'%c'", c);
    else std::snprintf(shown, sizeof shown, "0x%02x", c);
    return explain(make_error_code(errc::name_invalid),
                   "name '%.*s': character %s at position %zu is not allowed (a name is 1 to %zu characters of [A-Za-z0-9._-])",
                   quoted_length(name), name.data(), shown, at, max);
}
inline std::error_code bad_length(std::string_view name, std::size_t max) noexcept {
    return explain(make_error_code(errc::name_invalid), "name '%.*s' has %zu characters; a name is 1 to %zu characters of [A-Za-z0-9._-]",
                   quoted_length(name), name.data(), name.size(), max);
}

// The rule for a shared-memory ring's name: 1 to region_name_max characters
// of [A-Za-z0-9._-], so a name can never climb out of /dev/shm or smuggle a
// separator.
inline bool region_name(std::string_view name, std::error_code& ec) noexcept {
    if (name.empty() || name.size() > region_name_max) {
        ec = bad_length(name, region_name_max);
        return false;
    }
    if (const std::size_t at = first_bad_char(name); at != std::string_view::npos) {
        ec = bad_character(name, at, region_name_max);
        return false;
    }
    return true;
}
inline bool valid_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= region_name_max && first_bad_char(name) == std::string_view::npos;
}

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
    const std::string_view given = name;
    if (!name.empty() && name.front() == '/') name.remove_prefix(1);
    const std::size_t max = prefix < NAME_MAX ? NAME_MAX - prefix : 0;
    if (name.empty() || name.size() > max) {
        ec = bad_length(given, max);
        return false;
    }
    if (const std::size_t at = first_bad_char(name); at != std::string_view::npos) {
        ec = bad_character(given, at + (given.size() - name.size()), max);
        return false;
    }
    if (name == "." || name == "..") {
        ec = explain(make_error_code(errc::name_invalid), "name '%.*s' is not allowed (\".\" and \"..\" name directories)",
                     quoted_length(given), given.data());
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

// A path argument without <filesystem> (a third of a second of compile time
// for every includer): a C string, an std::string, or an std::filesystem::path
// (anything with c_str()). It refers to the caller's string, so it lives for
// one call.
class path_ref {
public:
    path_ref(const char* p) noexcept : p_(p ? p : "") {}
    path_ref(const std::string& s) noexcept : p_(s.c_str()), n_(s.size()) {}
    template <class P>
        requires requires(const P& p) {
            { p.c_str() } -> std::same_as<const char*>;
            p.native();
        }
    path_ref(const P& p) noexcept : p_(p.c_str()), n_(p.native().size()) {}

    const char* c_str() const noexcept { return p_; }
    std::string_view view() const noexcept { return n_ == npos ? std::string_view(p_) : std::string_view(p_, n_); }

private:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    const char* p_;
    std::size_t n_ = npos;
};

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
    const int n = quoted_length(path);
    const auto refuse = [&](std::error_code e) {
        ec = e;
        return false;
    };
    const std::error_code invalid = make_error_code(errc::name_invalid);
    if (path.empty()) return refuse(explain(invalid, "the path is empty"));
    if (path.size() >= PATH_MAX)
        return refuse(explain(invalid, "path '%.*s...' has %zu bytes; a path has fewer than PATH_MAX (%d)", n, path.data(), path.size(), PATH_MAX));
    if (const std::size_t nul = path.find('\0'); nul != std::string_view::npos)
        return refuse(explain(invalid, "path '%.*s' has a NUL byte at position %zu", static_cast<int>(nul), path.data(), nul));
    for (std::size_t start = 0;;) {
        const std::size_t slash = path.find('/', start);
        const std::string_view comp = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (comp.size() > NAME_MAX)
            return refuse(explain(invalid, "path '%.*s': a component has %zu bytes; the limit is NAME_MAX (%d)", n, path.data(), comp.size(), NAME_MAX));
        if (comp == ".." && parents == parent_refs::refuse)
            return refuse(explain(invalid, "path '%.*s' has a \"..\" component (refused: it could climb out of its directory)", n, path.data()));
        if (slash == std::string_view::npos) {
            if (comp.empty() || comp == "." || comp == "..")
                return refuse(explain(invalid, "path '%.*s' does not end in a file name (it ends in \"/\", \".\" or \"..\")", n, path.data()));
            return true;
        }
        start = slash + 1;
    }
}

}  // namespace ipc::detail
