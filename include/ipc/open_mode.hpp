// ipc/open_mode.hpp: how a named object is opened: create_only, open_only, open_or_create.
#pragma once

#include <sys/types.h>

namespace ipc {

struct create_only_t {
    explicit create_only_t() = default;
};
struct open_only_t {
    explicit open_only_t() = default;
};
struct open_or_create_t {
    explicit open_or_create_t() = default;
};

// Create a new object; fail with errc::already_exists if the name is taken.
inline constexpr create_only_t create_only{};
// Open an existing object; fail with errc::not_found if there is none.
inline constexpr open_only_t open_only{};
// Open the object, creating it first if it does not exist.
inline constexpr open_or_create_t open_or_create{};

// Who may open an object this process creates: permission bits as for open(2).
// Every object is created 0600, its owner only, unless the caller widens that
// on purpose (permissions{0660}). Objects with a name in a file system (files,
// socket files, POSIX semaphores and queues) lose the umask's bits as well;
// System V objects take the bits as given.
struct permissions {
    mode_t mode = 0600;
};

} // namespace ipc
