// ipc/detail/cpu.hpp: cache-line size and the spin-wait hint.
#pragma once

#include <cstddef>

namespace ipc::detail {

// 64 on every x86-64 and most arm64; a constant (not hardware_destructive_
// interference_size) because it is baked into shared-memory layouts.
inline constexpr std::size_t cache_line = 64;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

}  // namespace ipc::detail
