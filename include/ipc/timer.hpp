// ipc/timer.hpp: ipc::timer, a timerfd on the monotonic clock, for event loops.
#pragma once

#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdint>
#include <ctime>
#include <system_error>

#include "detail/chrono.hpp"
#include "detail/fd.hpp"
#include "error.hpp"

namespace ipc {

// A one-shot or periodic timer whose descriptor becomes readable when it
// expires: add it to an ipc::poller (or any poll/epoll loop) beside channels.
// It counts on CLOCK_MONOTONIC, the clock of every ipc deadline, so setting
// the wall clock neither fires nor delays it. After it is reported readable,
// take() the expirations (the descriptor stays readable until then).
class timer {
public:
    using clock = std::chrono::steady_clock;

    // A stopped timer.
    timer() {
        std::error_code ec;
        *this = create(ec);
        detail::throw_if(ec, "timer");
    }
    static timer create(std::error_code& ec) noexcept {
        timer t(no_fd{});
        t.fd_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
        if (!t.fd_) ec = detail::explain(detail::last_error(), "timerfd_create on CLOCK_MONOTONIC failed");
        return t;
    }

    // Fires once, `after` from now (at once if it is zero or negative).
    template <class Rep, class Period>
    void start_once(std::chrono::duration<Rep, Period> after) {
        std::error_code ec;
        detail::throw_if(set(to_ns(after), {}, ec), "timer::start_once");
    }
    template <class Rep, class Period>
    bool start_once(std::chrono::duration<Rep, Period> after, std::error_code& ec) noexcept {
        return !set(to_ns(after), {}, ec);
    }
    // Fires every `period`, the first time one period from now.
    template <class Rep, class Period>
    void start_every(std::chrono::duration<Rep, Period> period) {
        std::error_code ec;
        detail::throw_if(set(to_ns(period), checked_period(period, ec), ec), "timer::start_every");
    }
    template <class Rep, class Period>
    bool start_every(std::chrono::duration<Rep, Period> period, std::error_code& ec) noexcept {
        const auto p = checked_period(period, ec);
        return !ec && !set(to_ns(period), p, ec);
    }
    // Disarms; an expiration not yet taken is dropped.
    void stop() {
        std::error_code ec;
        detail::throw_if(stop(ec) ? std::error_code{} : ec, "timer::stop");
    }
    bool stop(std::error_code& ec) noexcept {
        if (set({}, {}, ec, true)) return false;
        std::uint64_t n;
        [[maybe_unused]] auto r = ::read(fd_.get(), &n, sizeof n);
        return true;
    }

    // Expirations since the last take(): 0 if none (never waits). More than 1
    // means the loop fell behind a periodic timer by that many periods.
    [[nodiscard]] std::uint64_t take() noexcept {
        std::uint64_t n = 0;
        if (detail::retry_eintr([&] { return ::read(fd_.get(), &n, sizeof n); }) != static_cast<ssize_t>(sizeof n)) return 0;
        return n;
    }

    int native_handle() const noexcept { return fd_.get(); }

private:
    struct no_fd {};
    explicit timer(no_fd) noexcept {}

    template <class Rep, class Period>
    static std::chrono::nanoseconds to_ns(std::chrono::duration<Rep, Period> d) noexcept {
        return std::chrono::ceil<std::chrono::nanoseconds>(d);
    }
    template <class Rep, class Period>
    static std::chrono::nanoseconds checked_period(std::chrono::duration<Rep, Period> p, std::error_code& ec) noexcept {
        const auto ns = to_ns(p);
        if (ns.count() <= 0)
            ec = detail::explain(std::make_error_code(std::errc::invalid_argument),
                                 "timer period of %lld ns: a periodic timer needs a positive period",
                                 static_cast<long long>(ns.count()));
        return ns;
    }
    static timespec to_ts(std::chrono::nanoseconds d) noexcept {
        return timespec{static_cast<time_t>(d.count() / 1000000000), static_cast<long>(d.count() % 1000000000)};
    }
    // A zero it_value would disarm: "at once" is the smallest time instead.
    std::error_code& set(std::chrono::nanoseconds first, std::chrono::nanoseconds period, std::error_code& ec,
                         bool disarm = false) noexcept {
        if (ec) return ec;
        if (!disarm && first.count() <= 0) first = std::chrono::nanoseconds(1);
        itimerspec its{to_ts(period), to_ts(disarm ? std::chrono::nanoseconds(0) : first)};
        if (::timerfd_settime(fd_.get(), 0, &its, nullptr) != 0)
            ec = detail::explain(detail::last_error(), "timerfd_settime on descriptor %d failed", fd_.get());
        return ec;
    }

    detail::unique_fd fd_;
};

}  // namespace ipc
