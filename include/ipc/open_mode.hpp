// ipc/open_mode.hpp: who may open a new object (permissions), and how an
// object placed in memory the caller provides is set up.
//
// Named objects open through static factories (posix_shm<R>::create(name, capacity),
// ::open(name), ::open_or_create(...), ::remove(name)); the tags below are for
// the placed ones, which have no name: unnamed_semaphore(create_only, where)
// formats the memory, (open_only, where) uses what another process formatted.
#pragma once

#include <sys/types.h>

namespace ipc {

struct create_only_t {
    explicit create_only_t() = default;
};
struct open_only_t {
    explicit open_only_t() = default;
};

// Format the memory as a new object.
inline constexpr create_only_t create_only{};
// Use an object another process formatted in the memory.
inline constexpr open_only_t open_only{};

// Who may open an object this process creates: permission bits as for open(2).
// Every object is created 0600, its owner only, unless the caller widens that
// on purpose (permissions{0660}). Objects with a name in a file system (files,
// socket files, POSIX semaphores and queues) lose the umask's bits as well;
// System V objects take the bits as given.
struct permissions {
    mode_t mode = 0600;
};

}  // namespace ipc
