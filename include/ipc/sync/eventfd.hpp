// ipc/sync/eventfd.hpp: wait on eventfds, so a shared-memory channel can sit in an event loop.
#pragma once

#include <poll.h>
#include <sys/eventfd.h>

#include <cstdint>

#include "../concepts.hpp"
#include "../detail/fd.hpp"
#include "../detail/parking.hpp"
#include "no_shared_state.hpp"

namespace ipc::sync {

// Two eventfds, one per direction: native_handle(direction::recv) becomes
// readable when a message may be there, native_handle(direction::send) when
// room may be. A descriptor cannot live in shared memory, so both processes
// must hold the same eventfds: create() them before fork(), or send them to
// the peer with ipc::detail::send_fd (share() gives copies to send). A policy
// made with the default constructor has none, and its waits fail with
// errc::not_connected.
//
// The eventfds count (EFD_SEMAPHORE): each wake-up is one token, so with many
// receivers a token is never swallowed by a waiter that did not need it.
// A notifier writes only while someone is parked; an event loop parks by
// arm() before polling and disarm() after.
class eventfd : public no_shared_state {
public:
    static constexpr bool kernel_blocking = false;
    static constexpr bool can_block = true;

    // A ring is named as waiting with eventfds (ring/sync_shared.hpp), though
    // only the waiter counts every policy shares are used: an end of another
    // policy, whose notify would never write these eventfds, is refused. The
    // descriptors are not in the region, so an end that leaves wakes sleepers
    // through its channel's notify, and those of an end that died find out
    // at their next peer check.
    static constexpr std::string_view shared_name = "eventfd";

    eventfd() noexcept = default;
    // Adopts descriptors: `room` wakes senders, `data` wakes receivers.
    eventfd(detail::unique_fd room, detail::unique_fd data) noexcept : fd_{std::move(room), std::move(data)} {}

    static eventfd create(std::error_code& ec) noexcept {
        detail::unique_fd a(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE));
        detail::unique_fd b(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE));
        if (!a || !b) {
            ec = detail::last_error();
            return {};
        }
        return eventfd(std::move(a), std::move(b));
    }
    static eventfd create() {
        std::error_code ec;
        auto e = create(ec);
        detail::throw_if(ec, "eventfd");
        return e;
    }
    // Copies of both descriptors (for a second channel, or to send to a peer).
    eventfd share(std::error_code& ec) const noexcept {
        detail::unique_fd a(::fcntl(fd_[0].get(), F_DUPFD_CLOEXEC, 0));
        detail::unique_fd b(::fcntl(fd_[1].get(), F_DUPFD_CLOEXEC, 0));
        if (!a || !b) {
            ec = detail::last_error();
            return {};
        }
        return eventfd(std::move(a), std::move(b));
    }

    // The descriptor to poll for direction d.
    int native_handle(direction d) const noexcept { return fd_[idx(d)].get(); }

    // For event loops: counts this process as parked in direction d. False
    // means the channel is ready already (do not poll, operate now); true
    // means poll native_handle(d), then disarm().
    template <transport::memory_transport Tr>
    bool arm(Tr& t, direction d) noexcept {
        detail::announce_sleeper(t, d);
        if (!t.ready(d)) return true;
        t.waiters(d).fetch_sub(1, std::memory_order_seq_cst);
        return false;
    }
    template <transport::memory_transport Tr>
    void disarm(Tr& t, direction d) noexcept {
        t.waiters(d).fetch_sub(1, std::memory_order_seq_cst);
        take_token(d);
    }

    template <transport::memory_transport Tr>
    bool wait(Tr& t, direction d, const deadline& dl, std::error_code& ec) noexcept {
        if (dl.is_immediate()) return detail::deadline_passed(dl, ec);
        if (!fd_[idx(d)]) {
            ec = make_error_code(errc::not_connected);
            return false;
        }
        detail::parking<Tr> parked(t, d);
        if (t.ready(d)) return true;
        if (!detail::wait_fd(fd_[idx(d)].get(), POLLIN, dl, ec)) return false;
        take_token(d);
        if (detail::pass_wake_on(t, d)) post(d);
        return true;
    }

    template <transport::memory_transport Tr>
    void notify(Tr& t, direction done) noexcept {
        if (detail::peer_parked(t, done)) post(detail::opposite(done));
    }

private:
    void post(direction d) noexcept {
        const std::uint64_t one = 1;
        // A full counter (EAGAIN) already wakes everyone: nothing is lost.
        [[maybe_unused]] auto r = ::write(fd_[idx(d)].get(), &one, sizeof one);
    }
    static constexpr std::size_t idx(direction d) noexcept { return d == direction::send ? 0 : 1; }
    void take_token(direction d) noexcept {
        std::uint64_t v;
        // Another waiter may have taken it (EAGAIN): a spurious wake-up is allowed.
        [[maybe_unused]] auto r = ::read(fd_[idx(d)].get(), &v, sizeof v);
    }

    detail::unique_fd fd_[2];
};

}  // namespace ipc::sync
