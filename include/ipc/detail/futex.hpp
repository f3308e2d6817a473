// ipc/detail/futex.hpp: the two futex calls, on words shared between processes.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <ctime>

namespace ipc::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t), "a futex is a plain 32-bit word");

// Sleeps while *word == expected, until woken or until the absolute
// CLOCK_MONOTONIC time `abs` (nullptr: no limit). Not FUTEX_PRIVATE: the word
// lives in memory shared between processes. Returns 0 or an errno value
// (EAGAIN: the word had changed; ETIMEDOUT; EINTR).
inline int futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, const timespec* abs) noexcept {
    long r = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_BITSET, expected, abs, nullptr,
                       FUTEX_BITSET_MATCH_ANY);
    return r == 0 ? 0 : errno;
}

inline void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace ipc::detail
