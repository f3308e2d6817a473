// ipc/version.hpp: the library's version, and the C++20 check every header
// makes first (error.hpp and concepts.hpp include this file).
#pragma once

// Without C++20 a compiler would report hundreds of errors from concepts and
// spans; one line saying why is kinder. The stop after it is fatal, so the
// compile ends there (#error alone lets g++ and clang go on).
#if __cplusplus < 202002L
#error "ipc needs C++20: compile with -std=c++20 (CMake: cxx_std_20, which ipc::ipc adds; Meson: cpp_std=c++20)"
#include <ipc: compile stopped at the C++20 check above>
#endif

#define IPC_VERSION_MAJOR 0
#define IPC_VERSION_MINOR 1
#define IPC_VERSION_PATCH 0

namespace ipc {
inline constexpr int version_major = IPC_VERSION_MAJOR;
inline constexpr int version_minor = IPC_VERSION_MINOR;
inline constexpr int version_patch = IPC_VERSION_PATCH;
}  // namespace ipc
