// ipc/detail/deadline.hpp: what every wait does with its deadline, written once.
#pragma once

#include <ctime>
#include <system_error>

#include "../error.hpp"
#include "../status.hpp"
#include "chrono.hpp"

namespace ipc::detail {

// The deadline as an absolute CLOCK_MONOTONIC time (steady_clock on Linux,
// libstdc++ and libc++), for sem_clockwait and FUTEX_WAIT_BITSET.
inline timespec monotonic_timespec(const deadline& dl) noexcept {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(dl.time_point().time_since_epoch()).count();
    if (ns < 0) ns = 0;
    return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

// The error a wait that ran out of time reports: would_block for try_ calls, else timed_out.
inline std::error_code expired_code(const deadline& dl) noexcept {
    return make_error_code(dl.reports_would_block() ? errc::would_block : errc::timed_out);
}

}  // namespace ipc::detail
