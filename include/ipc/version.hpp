// ipc/version.hpp
#pragma once

#define IPC_VERSION_MAJOR 0
#define IPC_VERSION_MINOR 1
#define IPC_VERSION_PATCH 0

namespace ipc {
inline constexpr int version_major = IPC_VERSION_MAJOR;
inline constexpr int version_minor = IPC_VERSION_MINOR;
inline constexpr int version_patch = IPC_VERSION_PATCH;
} // namespace ipc
