// ipc/detail/proc.hpp: reading the kernel's limits from /proc/sys.
#pragma once

#include <cstdio>

namespace ipc::detail {

// The number a /proc/sys file holds (e.g. /proc/sys/kernel/msgmax), or -1
// when it cannot be read. Only error paths and limit reports call this.
inline long read_proc_number(const char* path) noexcept {
    long v = -1;
    if (std::FILE* f = std::fopen(path, "re")) {
        if (std::fscanf(f, "%ld", &v) != 1) v = -1;
        std::fclose(f);
    }
    return v;
}

}  // namespace ipc::detail
