// ipc/detail/doorbell.hpp: wake an event loop parked on a shared-memory ring, found by the region alone.
//
// Why this mechanism. Two programs started from two shells share a ring by
// its name and nothing else, so a parked event loop must be reachable through
// what the region can hold. Each parked end owns an AF_UNIX datagram socket
// bound with autobind (bind() with only the family: the kernel picks a unique
// abstract name, "\0" and five hex digits). The end publishes that name in
// the region (sync::futex's shared state) under its peer-table slot, sets its parked bit
// (beside the direction's waiter count), re-checks the ring, then waits in
// epoll. A notifier that finds the bit takes it (one exchange, so one
// datagram per park however busy the sender) and sends one byte to the
// name, read from shared memory and validated.
//   - Nothing is left behind: an abstract name is not a file and dies with
//     its socket, also on SIGKILL; nobody can squat a name the kernel picks.
//   - A wake-up is only a hint (the ring is looked at again), so a stranger's
//     datagram costs one spurious wake and a corrupted table at worst one
//     byte sent to some abstract socket of this network namespace.
//   - Limit: both ends must share a network namespace (abstract names are per
//     namespace); across namespaces the loop wakes only at peer checks.
// Weighed and not taken: a named FIFO beside the region (left in the file
// system when a process is SIGKILLed, squattable), an eventfd (cannot be
// named: passed by hand, which is sync::eventfd), pidfd_getfd (needs ptrace
// rights over the peer), io_uring FUTEX_WAIT plus an eventfd (kernel >= 6.7,
// often refused by seccomp), a rendezvous socket (a thread to answer it).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "../ring/layout.hpp"
#include "fd.hpp"

namespace ipc::detail {

// A name as the region keeps it: a mark bit and the five hex digits as a
// number, so checking one read from shared memory is one mask.
inline constexpr std::uint32_t bell_mark = 0x80000000u;
inline constexpr std::uint32_t bell_digits = 0xfffffu;
constexpr bool valid_bell(std::uint32_t w) noexcept { return (w & bell_mark) != 0 && (w & ~(bell_mark | bell_digits)) == 0; }

// The socket address of a published name (assumed valid).
inline socklen_t bell_address(std::uint32_t w, sockaddr_un& a) noexcept {
    constexpr char hex[] = "0123456789abcdef";
    a = {};
    a.sun_family = AF_UNIX;
    for (int i = 0; i < 5; ++i) a.sun_path[1 + i] = hex[(w >> (4 * (4 - i))) & 0xf];
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 6);
}

// The published form of an autobind address; 0 if it is not exactly one.
inline std::uint32_t bell_from_address(const sockaddr_un& a, socklen_t len) noexcept {
    if (a.sun_family != AF_UNIX || len != offsetof(sockaddr_un, sun_path) + 6 || a.sun_path[0] != '\0') return 0;
    std::uint32_t v = 0;
    for (int i = 1; i <= 5; ++i) {
        const char c = a.sun_path[i];
        if (c >= '0' && c <= '9') v = v * 16 + static_cast<std::uint32_t>(c - '0');
        else if (c >= 'a' && c <= 'f') v = v * 16 + static_cast<std::uint32_t>(c - 'a' + 10);
        else return 0;
    }
    return bell_mark | v;
}

// Sends one byte to a published name from socket fd. Never blocks; a full
// socket (EAGAIN) is readable already and a gone one (ECONNREFUSED) needs
// no wake-up, so failures are dropped.
inline void ring_bell(int fd, std::uint32_t name) noexcept {
    if (fd < 0 || !valid_bell(name)) return;
    sockaddr_un a;
    const socklen_t len = bell_address(name, a);
    const char one = 1;
    [[maybe_unused]] auto r = ::sendto(fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&a), len);
}

// One end's socket: made on first use, bound to a kernel-picked abstract name.
class doorbell {
public:
    doorbell() noexcept = default;

    bool open(std::error_code& ec) noexcept {
        if (fd_) return true;
        unique_fd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!s) {
            ec = explain(last_error(), "doorbell: socket(AF_UNIX, SOCK_DGRAM) failed");
            return false;
        }
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof(sa_family_t)) != 0) {
            ec = explain(last_error(), "doorbell: autobind of descriptor %d failed", s.get());
            return false;
        }
        socklen_t len = sizeof a;
        if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            ec = explain(last_error(), "doorbell: getsockname of descriptor %d failed", s.get());
            return false;
        }
        name_ = bell_from_address(a, len);
        if (name_ == 0) {
            ec = explain(make_error_code(errc::unsupported),
                         "doorbell: the kernel's autobind name (%u bytes) is not a NUL and five hex digits",
                         static_cast<unsigned>(len));
            return false;
        }
        fd_ = std::move(s);
        return true;
    }
    int fd() const noexcept { return fd_.get(); }
    std::uint32_t name() const noexcept { return name_; }

    // Takes one ring: a park is owed at most one (the notifier takes the
    // parked bit). An extra one (a stranger's, or one sent just as the loop
    // woke for another reason) wakes the loop once more and is taken then.
    // One recv() is cheaper than recvmmsg() here (measured: ~1.5 us less).
    void drain() noexcept {
        if (!fd_) return;
        char b;
        [[maybe_unused]] auto r = ::recv(fd_.get(), &b, 1, MSG_DONTWAIT);
    }

private:
    unique_fd fd_;
    std::uint32_t name_ = 0;
};

// A memory transport whose region has doorbells (every ring_region).
template <class Tr>
concept doorbell_transport = transport::memory_transport<Tr> && requires(Tr& t, direction d, std::error_code& ec) {
    { t.sync_area() } -> std::same_as<ring::sync_area&>;
    { t.doorbell_slot(d, ec) } -> std::same_as<int>;
};

// ---- the shared half: what sync::futex keeps in the region for them ----------

// Per direction, the event loops parked there, a bit per peer-table slot (in
// sync::futex's per-direction state, on the waiters' line, which a notifier
// has read anyway).
inline constexpr std::size_t parked_words = (ring::max_peers + 63) / 64;
struct parked_bits {
    std::atomic<std::uint64_t> word[parked_words];
};
// Per peer-table slot, the abstract socket name its end listens on. Written
// when it changes, read by a notifier that found the slot's parked bit
// (which it takes: one datagram).
struct bell_names {
    std::atomic<std::uint32_t> name[ring::max_peers];  // 0: none; else detail::doorbell's published form (untrusted)
};

inline std::atomic<std::uint64_t>& parked_word(parked_bits& p, int slot) noexcept {
    return p.word[static_cast<std::size_t>(slot) / 64];
}
constexpr std::uint64_t parked_bit(int slot) noexcept { return std::uint64_t{1} << (static_cast<unsigned>(slot) % 64); }

// Publishes the name of peer-table slot `slot`, then marks it parked (the
// caller then announces itself as a waiter and re-checks: see
// detail::parking; the bit is set first so that a notifier which sees the
// waiter sees the bit too).
inline void park_bell(bell_names& b, parked_bits& p, int slot, std::uint32_t name) noexcept {
    auto& published = b.name[slot];
    if (published.load(std::memory_order_relaxed) != name) published.store(name, std::memory_order_release);
    parked_word(p, slot).fetch_or(parked_bit(slot), std::memory_order_seq_cst);
}
// Unmarks it; false if a notifier took the bit (a datagram is on its way).
inline bool unpark_bell(parked_bits& p, int slot) noexcept {
    return (parked_word(p, slot).fetch_and(~parked_bit(slot), std::memory_order_seq_cst) & parked_bit(slot)) != 0;
}
// The slot's end left or died: no name, no bit.
inline void forget_bell(bell_names& b, parked_bits& p, int slot) noexcept {
    if (slot < 0 || static_cast<std::size_t>(slot) >= ring::max_peers) return;
    (void)unpark_bell(p, slot);
    b.name[slot].store(0, std::memory_order_release);
}

// The notifier's half, after it found waiters in a direction whose parked
// bits are p: rings every loop parked there, each once. sender() gives a
// socket to send from (made only if a bit is found). Costs a load per word
// when nobody is parked.
template <class Sender>
void ring_parked(bell_names& b, parked_bits& p, Sender&& sender) noexcept {
    for (std::size_t w = 0; w < parked_words; ++w) {
        auto& word = p.word[w];
        if (word.load(std::memory_order_acquire) == 0) continue;
        for (std::uint64_t bits = word.exchange(0, std::memory_order_acq_rel); bits != 0; bits &= bits - 1) {
            const std::size_t slot = w * 64 + static_cast<std::size_t>(std::countr_zero(bits));
            if (slot >= ring::max_peers) break;
            ring_bell(sender(), b.name[slot].load(std::memory_order_acquire));
        }
    }
}

}  // namespace ipc::detail
