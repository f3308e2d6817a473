// ipc/detail/sleep.hpp: a nap without <thread> (which costs every includer
// a third of a second of compile time for one function).
#pragma once

#include <time.h>

#include <cerrno>

#include "chrono.hpp"

namespace ipc::detail {

// Sleeps for d (at least; resumed after a signal), like std::this_thread::sleep_for.
inline void sleep_for(std::chrono::nanoseconds d) noexcept {
    if (d <= std::chrono::nanoseconds::zero()) return;
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(d);
    ::timespec left{static_cast<time_t>(s.count()), static_cast<long>((d - s).count())};
    while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

}  // namespace ipc::detail
