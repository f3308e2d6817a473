// ipc/detail/posix_name.hpp: checking the name of a POSIX named object (semaphore, shm, mq).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

#include "../error.hpp"

namespace ipc::detail {

// Turns "name" or "/name" into "/name". The name proper is 1..max_len
// characters from [A-Za-z0-9._-], does not start with '.', and has no '/':
// nothing can climb out of /dev/shm or collide with "." and "..".
// Anything else is errc::name_invalid.
inline std::string posix_name(std::string_view name, std::size_t max_len, std::error_code& ec) {
    if (!name.empty() && name.front() == '/') name.remove_prefix(1);
    bool ok = !name.empty() && name.size() <= max_len && name.front() != '.';
    for (char c : name) {
        bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '_' || c == '-';
        ok = ok && allowed;
    }
    if (!ok) {
        ec = make_error_code(errc::name_invalid);
        return {};
    }
    std::string out;
    out.reserve(name.size() + 1);
    out += '/';
    out += name;
    return out;
}

} // namespace ipc::detail
