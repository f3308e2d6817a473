// ipc/sync/backoff.hpp: wait by retrying with exponentially growing sleeps.
#pragma once

#include <time.h>


#include "../concepts.hpp"
#include "../detail/chrono.hpp"
#include "../detail/deadline.hpp"
#include "../error.hpp"

namespace ipc::sync {

// For transports nothing can wait on with poll(2), such as System V message
// queues. Plain blocking calls are the transport's own blocking system call
// (one msgrcv that sleeps in the kernel); timed calls retry the nonblocking
// operation, sleeping first `initial`, then twice as long each round up to
// `limit`, and never past the deadline. Works with any transport; the price
// is up to `limit` of extra latency on a timed call.
struct backoff {
    static constexpr bool kernel_blocking = true;
    static constexpr bool can_block = true;

    std::chrono::nanoseconds initial = std::chrono::microseconds(10);
    std::chrono::nanoseconds limit = std::chrono::milliseconds(1);

    template <class Tr>
    bool wait(Tr&, direction, const deadline& dl, std::error_code& ec) noexcept {
        if (dl.expired()) {
            ec = detail::expired_code(dl);
            step_ = {};
            return false;
        }
        step_ = step_ == std::chrono::nanoseconds::zero() ? initial : step_ * 2 < limit ? step_ * 2 : limit;
        const std::chrono::nanoseconds left = dl.is_never() ? step_ : dl.remaining();
        const auto nap = step_ < left ? step_ : left;
        timespec ts{static_cast<time_t>(nap.count() / 1000000000), static_cast<long>(nap.count() % 1000000000)};
        // An early wake-up (a signal) is harmless: the channel retries and we wait again.
        ::nanosleep(&ts, nullptr);
        return true;
    }
    // A successful operation ends the current wait; the next one starts short again.
    template <class Tr>
    void notify(Tr&, direction) noexcept { step_ = {}; }

private:
    std::chrono::nanoseconds step_{};
};

}  // namespace ipc::sync
