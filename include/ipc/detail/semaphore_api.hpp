// ipc/detail/semaphore_api.hpp: the acquire/release vocabulary every ipc semaphore shares.
#pragma once

#include <cstddef>
#include <system_error>

#include "../error.hpp"
#include "../status.hpp"
#include "chrono.hpp"
#include "deadline.hpp"

namespace ipc::detail {

// The public calls of a semaphore, written once. D provides
//   bool wait(const deadline&, std::error_code&) noexcept   (false + would_block/timed_out/error)
//   bool post(std::ptrdiff_t n, std::error_code&) noexcept
//   int  get_value(std::error_code&) const noexcept
// The throwing calls report a timeout as `false` and throw only real failures;
// the error_code twins return false and set ec (errc::would_block for try_,
// errc::timed_out for _for/_until), as the channels do.
template <class D, std::ptrdiff_t Max>
class semaphore_api {
public:
    static constexpr std::ptrdiff_t max() noexcept { return Max; }

    void acquire() {
        std::error_code ec;
        acquire(ec);
        throw_if(ec, "semaphore acquire");
    }
    void acquire(std::error_code& ec) noexcept {
        ec.clear();
        (void)self().wait(deadline::never(), ec);
    }

    [[nodiscard]] bool try_acquire() { return timed(deadline::immediate(), "semaphore try_acquire"); }
    [[nodiscard]] bool try_acquire(std::error_code& ec) noexcept { return timed(deadline::immediate(), ec); }

    template <class Rep, class Period>
    [[nodiscard]] bool try_acquire_for(std::chrono::duration<Rep, Period> d) {
        return timed(deadline::after(d), "semaphore try_acquire_for");
    }
    template <class Rep, class Period>
    [[nodiscard]] bool try_acquire_for(std::chrono::duration<Rep, Period> d, std::error_code& ec) noexcept {
        return timed(deadline::after(d), ec);
    }
    template <class Clock, class Dur>
    [[nodiscard]] bool try_acquire_until(std::chrono::time_point<Clock, Dur> tp) {
        return timed(deadline::until(tp), "semaphore try_acquire_until");
    }
    template <class Clock, class Dur>
    [[nodiscard]] bool try_acquire_until(std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) noexcept {
        return timed(deadline::until(tp), ec);
    }

    // Adds n to the count. Going over max() is errc::limit_exceeded and adds nothing
    // where the kernel can check atomically (System V), see each type for details.
    void release(std::ptrdiff_t n = 1) {
        std::error_code ec;
        release(n, ec);
        throw_if(ec, "semaphore release");
    }
    void release(std::ptrdiff_t n, std::error_code& ec) noexcept {
        ec.clear();
        if (n < 0 || n > Max) {
            ec = make_error_code(errc::limit_exceeded);
            return;
        }
        if (n > 0) (void)self().post(n, ec);
    }

    // The count now (already stale when it returns: for diagnostics and tests).
    [[nodiscard]] int value() const {
        std::error_code ec;
        int v = value(ec);
        throw_if(ec, "semaphore value");
        return v;
    }
    [[nodiscard]] int value(std::error_code& ec) const noexcept {
        ec.clear();
        return self().get_value(ec);
    }

protected:
    semaphore_api() = default;

private:
    D& self() noexcept { return static_cast<D&>(*this); }
    const D& self() const noexcept { return static_cast<const D&>(*this); }

    bool timed(const deadline& dl, std::error_code& ec) noexcept {
        ec.clear();
        return self().wait(dl, ec);
    }
    bool timed(const deadline& dl, const char* what) {
        std::error_code ec;
        if (self().wait(dl, ec)) return true;
        if (ec == errc::would_block || ec == errc::timed_out) return false;
        throw_error(ec, what);
    }
};

}  // namespace ipc::detail
