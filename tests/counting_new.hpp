// tests/counting_new.hpp: replaces the global operator new of the test binary
// that includes it, to count allocations and remember the largest. Include it
// in one source file of a binary only (it defines the replacement functions).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace allocations {
inline std::atomic<std::uint64_t> count{0};     // allocations since the program started
inline std::atomic<std::size_t> largest{0};     // the largest single one since a test reset it
}  // namespace allocations

// g++ 12 at -O3 sees std::free under a delete whose new it inlined from
// libstdc++ and calls them mismatched; both are this file's, so they match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
    allocations::count.fetch_add(1, std::memory_order_relaxed);
    std::size_t seen = allocations::largest.load(std::memory_order_relaxed);
    while (n > seen && !allocations::largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {}
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
