// ipc/status.hpp: the outcome of a send or receive, and the deadline a call waits until.
#pragma once

#include <cstdint>
#include <ctime>

#include "detail/chrono.hpp"

namespace ipc {

// What a send or receive did. The normal outcomes of waiting (nothing there,
// time ran out, the peer closed) are statuses, not exceptions; real failures
// throw ipc::error (or set the error_code of the twin, with status::failed).
class [[nodiscard]] status {
public:
    enum value_type : std::uint8_t {
        ok,           // the message was sent or received
        would_block,  // try_: nothing to receive, or no room to send, right now
        timed_out,    // _for/_until: the deadline passed first
        closed,       // the peer closed: end of stream on receive, EPIPE on send
        failed,       // only from error_code twins: see the error_code
        peer_dead,    // shared memory: every peer died without closing (SIGKILL, crash)
        dropped,      // a broadcast subscriber was dropped for being too slow; it reads on from the newest message
    };
    constexpr status(value_type v) noexcept : v_(v) {}
    constexpr explicit operator bool() const noexcept { return v_ == ok; }
    constexpr value_type value() const noexcept { return v_; }
    friend constexpr bool operator==(status a, status b) noexcept { return a.v_ == b.v_; }
    friend constexpr bool operator==(status a, value_type b) noexcept { return a.v_ == b; }

    constexpr const char* name() const noexcept {
        switch (v_) {
        case ok: return "ok";
        case would_block: return "would_block";
        case timed_out: return "timed_out";
        case closed: return "closed";
        case failed: return "failed";
        case peer_dead: return "peer_dead";
        case dropped: return "dropped";
        }
        return "?";
    }

private:
    value_type v_;
};

// When a call gives up. try_ calls use immediate(), plain calls never(),
// _for/_until calls a point on the steady clock.
class deadline {
public:
    using clock = std::chrono::steady_clock;

    static constexpr deadline never() noexcept { return deadline(kind::never, {}); }
    static constexpr deadline immediate() noexcept { return deadline(kind::immediate, {}); }
    static deadline at(clock::time_point tp) noexcept { return deadline(kind::at, tp); }
    template <class Rep, class Period>
    static deadline after(std::chrono::duration<Rep, Period> d) noexcept {
        if (d <= d.zero()) return at(clock::now());
        return at(clock::now() + std::chrono::ceil<clock::duration>(d));
    }
    // Like after(d), but the clock starts at the first wait (start()): an
    // operation that succeeds at once never reads the clock. The channel's
    // _for calls use it; anything handed to a wait must be started first.
    template <class Rep, class Period>
    static deadline lazy_after(std::chrono::duration<Rep, Period> d) noexcept {
        return deadline(kind::relative, clock::time_point(d > d.zero() ? std::chrono::ceil<clock::duration>(d) : clock::duration::zero()));
    }
    // Turns a lazy_after deadline into a point on the clock (others are unchanged).
    void start() noexcept {
        if (kind_ == kind::relative) *this = at(clock::now() + tp_.time_since_epoch());
    }
    template <class Clock, class Duration>
    static deadline until(std::chrono::time_point<Clock, Duration> tp) noexcept {
        if constexpr (std::is_same_v<Clock, clock>)
            return at(std::chrono::time_point_cast<clock::duration>(tp));
        else
            return after(tp - Clock::now());
    }

    constexpr bool is_never() const noexcept { return kind_ == kind::never; }
    constexpr bool is_immediate() const noexcept { return kind_ == kind::immediate; }
    // An unstarted lazy_after deadline reads as if it started now.
    clock::time_point time_point() const noexcept { return kind_ == kind::relative ? clock::now() + tp_.time_since_epoch() : tp_; }

    bool expired() const noexcept {
        if (kind_ == kind::never) return false;
        if (kind_ == kind::immediate) return true;
        if (kind_ == kind::relative) return tp_.time_since_epoch() == clock::duration::zero();
        return clock::now() >= tp_;
    }
    // Time left, never negative; only meaningful for at() (and lazy_after()).
    clock::duration remaining() const noexcept {
        if (kind_ == kind::relative) return tp_.time_since_epoch();
        if (kind_ != kind::at) return clock::duration::zero();
        auto left = tp_ - clock::now();
        return left > clock::duration::zero() ? left : clock::duration::zero();
    }
    timespec remaining_timespec() const noexcept {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(remaining()).count();
        return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    }
    // For APIs that take an absolute CLOCK_REALTIME time (mq_timedsend, sem_timedwait).
    timespec realtime_timespec() const noexcept {
        timespec now{};
        ::clock_gettime(CLOCK_REALTIME, &now);
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(remaining()).count();
        long long total = static_cast<long long>(now.tv_nsec) + ns % 1000000000;
        timespec out{now.tv_sec + static_cast<time_t>(ns / 1000000000 + total / 1000000000),
                     static_cast<long>(total % 1000000000)};
        return out;
    }
    // The errc a wait that ran out reports: try_ calls say would_block, timed ones timed_out.
    constexpr bool reports_would_block() const noexcept { return kind_ == kind::immediate; }

private:
    enum class kind : std::uint8_t { immediate, at, never, relative };
    constexpr deadline(kind k, clock::time_point tp) noexcept : kind_(k), tp_(tp) {}
    kind kind_;
    clock::time_point tp_;
};

}  // namespace ipc
