// ipc/sync/futex.hpp: spin briefly, then sleep on a futex word in the shared region.
#pragma once


#include "../concepts.hpp"
#include "../detail/chrono.hpp"
#include "../detail/cpu.hpp"
#include "../detail/doorbell.hpp"
#include "../detail/futex.hpp"
#include "../detail/parking.hpp"
#include "../ring/sync_shared.hpp"

namespace ipc::sync {

// The default for shared-memory channels. A waiter polls ready() for
// spin_time (a peer on another core usually answers within it), then parks
// with FUTEX_WAIT on the direction's word. The notifier makes a system call
// only when a waiter is parked and has not been woken already; otherwise
// notify() is one read-modify-write of the waiter count (see
// detail::parking), so the hot path stays in user space.
//
// It is also pollable (sync::pollable): an event loop (ipc::poller, Asio)
// parks on the ring by arm(), waits for native_handle() to be readable, then
// disarm()s. The descriptor is this end's doorbell, an abstract datagram
// socket whose name the end publishes in the region (see detail/doorbell.hpp
// for why), so a ring opened by name by an unrelated program polls with no
// descriptor passed. Futex sleepers and parked loops coexist: notify() stays
// one RMW while nobody is parked, and sends a datagram only to a loop that is.
// The policy is move-only (it owns the socket, made on first use).
struct futex {
    static constexpr bool kernel_blocking = false;
    static constexpr bool can_block = true;

    // ---- what it keeps in the region (ring/sync_shared.hpp) --------------------
    static constexpr std::string_view shared_name = "futex";
    struct shared_direction {
        std::atomic<std::uint32_t> word;   // sleepers FUTEX_WAIT on it; a wake-up bumps it
        std::atomic<std::uint32_t> armed;  // a sleeper wants a wake-up system call
        detail::parked_bits parked;        // event loops parked in this direction
    };
    struct shared {
        detail::bell_names bells;  // their doorbells, per peer-table slot
    };
    static bool init_shared(ring::sync_area&, std::error_code&) noexcept { return true; }  // zero: nobody parked
    // An end left or died: every sleeper in d looks at the ring again.
    static void wake_all(ring::sync_area& a, direction d) noexcept {
        auto& sd = ring::shared_of<futex>(a, d);
        detail::unique_fd sender;  // made only if an event loop is parked (an end leaving is rare)
        detail::ring_parked(ring::shared_of<futex>(a).bells, sd.parked, [&] {
            if (!sender) sender.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            return sender.get();
        });
        sd.word.fetch_add(1, std::memory_order_seq_cst);
        detail::futex_wake_all(sd.word);
    }
    static void forget_end(ring::sync_area& a, direction d, int slot) noexcept {
        detail::forget_bell(ring::shared_of<futex>(a).bells, ring::shared_of<futex>(a, d).parked, slot);
    }

    // How long a waiter polls before it parks. It must outlast the peer's
    // wake-up latency: if it is shorter, two sides of a ping-pong fall into
    // parking every time (measured on a loaded VM: 8 us of spinning gave a
    // 14 us round trip, 32 us or more gave 0.37 us). Zero parks at once.
    std::chrono::nanoseconds spin_time = std::chrono::microseconds(50);

    template <transport::memory_transport Tr>
    bool wait(Tr& t, direction d, const deadline& dl, std::error_code& ec) noexcept {
        if (dl.is_immediate()) return detail::deadline_passed(dl, ec);
        if (spin_time.count() > 0) {
            // The clock is read only every 64 rounds: a peer that answers
            // quickly costs no clock read at all.
            deadline::clock::time_point until{};
            for (unsigned i = 1;; ++i) {
                if (t.ready(d)) return true;
                detail::cpu_relax();
                if (i % 64 != 0) continue;
                const auto now = deadline::clock::now();
                if (i == 64) {
                    until = now + spin_time;
                    if (!dl.is_never() && dl.time_point() < until) until = dl.time_point();
                } else if (now >= until) {
                    break;
                }
            }
        }
        if (dl.expired()) return detail::deadline_passed(dl, ec);
        detail::parking<Tr> parked(t, d);
        auto& sd = ring::shared_of<futex>(t.sync_area(), d);
        sd.armed.exchange(1, std::memory_order_seq_cst);
        const std::uint32_t seen = sd.word.load(std::memory_order_seq_cst);
        if (t.ready(d)) return true;
        const timespec abs = detail::monotonic_timespec(dl);
        const int r = detail::futex_wait(sd.word, seen, dl.is_never() ? nullptr : &abs);
        // Woken, the word moved on, or a signal: the channel retries. A
        // timeout is believed only once the clock agrees: never early.
        if (r == ETIMEDOUT && dl.expired()) return detail::deadline_passed(dl, ec);
        if (r != 0 && r != EAGAIN && r != EINTR && r != ETIMEDOUT) {
            ec = std::error_code(r, std::system_category());
            return false;
        }
        return true;
    }

    template <transport::memory_transport Tr>
    void notify(Tr& t, direction done) noexcept {
        if (!detail::peer_parked(t, done)) [[likely]]
            return;
        wake(t, done);
    }

private:
    // Out of line: inlined, its calls made every sender save registers on
    // entry, stores that wait behind the ring's line transfers.
    template <transport::memory_transport Tr>
    [[gnu::noinline]] void wake(Tr& t, direction done) noexcept {
        auto& sd = ring::shared_of<futex>(t.sync_area(), detail::opposite(done));
        detail::ring_parked(ring::shared_of<futex>(t.sync_area()).bells, sd.parked, [this] { return sender(); });
        // Sleepers are woken all at once; until one of them sleeps again (and
        // re-arms), further wake-up calls would find nobody new to wake.
        // (A sleeper arming after this exchange reads our 0 with an RMW, so
        // it sees what we published and does not sleep.)
        if (sd.armed.exchange(0, std::memory_order_seq_cst) == 0) return;
        sd.word.fetch_add(1, std::memory_order_seq_cst);
        detail::futex_wake_all(sd.word);
    }

public:
    // ---- for event loops (sync::pollable) ------------------------------------

    // Makes the doorbell and registers this end (attaching it in direction d),
    // so that arm() cannot fail later: errc::in_use (another live end of a
    // single-end ring), errc::limit_exceeded (the peer table was full), or
    // the socket's own error.
    template <detail::doorbell_transport Tr>
    bool prepare(Tr& t, direction d, std::error_code& ec) noexcept {
        return bell_.open(ec) && t.doorbell_slot(d, ec) >= 0;
    }
    // Readable when a peer rang (one descriptor for both directions); -1 if
    // no socket can be made (errno says why).
    int native_handle(direction) noexcept {
        std::error_code ec;
        return bell_.open(ec) ? bell_.fd() : -1;
    }
    // Parks: publishes the doorbell, sets the parked bit, counts a waiter,
    // re-checks. False: ready already (or this end cannot register: the
    // operation then says why), operate instead of waiting.
    template <detail::doorbell_transport Tr>
    bool arm(Tr& t, direction d) noexcept {
        std::error_code ec;
        const int slot = t.doorbell_slot(d, ec);
        if (slot < 0 || !bell_.open(ec)) return false;
        auto& parked = ring::shared_of<futex>(t.sync_area(), d).parked;
        detail::park_bell(ring::shared_of<futex>(t.sync_area()).bells, parked, slot, bell_.name());
        detail::announce_sleeper(t, d);
        if (!t.ready(d)) return true;
        t.waiters(d).fetch_sub(1, std::memory_order_seq_cst);
        (void)detail::unpark_bell(parked, slot);  // a datagram already sent is drained by the next disarm
        return false;
    }
    template <detail::doorbell_transport Tr>
    void disarm(Tr& t, direction d) noexcept {
        t.waiters(d).fetch_sub(1, std::memory_order_seq_cst);
        std::error_code ec;
        if (const int slot = t.doorbell_slot(d, ec); slot >= 0)
            (void)detail::unpark_bell(ring::shared_of<futex>(t.sync_area(), d).parked, slot);
        bell_.drain();
    }

private:
    int sender() noexcept {
        std::error_code ec;
        return bell_.open(ec) ? bell_.fd() : -1;
    }
    detail::doorbell bell_;
};

}  // namespace ipc::sync
