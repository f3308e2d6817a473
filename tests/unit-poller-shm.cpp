// ipc::poller over shared-memory rings on the default sync::futex: a ring
// opened by name by an unrelated (exec'd) program is polled on both sides
// with no descriptor passed; the doorbell (ipc/detail/doorbell.hpp) rings
// only a parked side; closing and death are reported while waiting.
#include <ipc/channel.hpp>
#include <ipc/poller.hpp>

#include <sys/socket.h>
#include <sys/un.h>

#include <functional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "peer_program.hpp"
#include "ring_support.hpp"
#include "shared_memory.hpp"

namespace {

using namespace ipc_test;
using namespace std::chrono_literals;
using ipc::ready;
using clk = std::chrono::steady_clock;

using region = ipc::transport::posix_shm<ipc::ring::spsc<long>>;
using ring_channel = ipc::shm_channel<long>;  // sync::futex, the default
static_assert(std::is_same_v<ring_channel::sync_type, ipc::sync::futex>);
static_assert(ipc::sync::pollable<ipc::sync::futex, region>);

using rings = ring_pair<region>;

// Waits in p (bounded) until registration `key` reports; returns what it said.
ready wait_for_key(ipc::poller& p, std::uint64_t key, std::chrono::milliseconds limit = 5s) {
    const auto until = clk::now() + limit;
    while (clk::now() < until)
        for (const auto& ev : p.wait_until(until))
            if (ev.key == key) return ev.what;
    return ready::none;
}

// Nobody is left marked parked on the ring in direction d.
bool no_bell_parked(region& t, ipc::direction d) {
    for (auto& w : ipc::ring::shared_of<ipc::sync::futex>(t.sync_area(), d).parked.word)
        if (w.load() != 0) return false;
    return true;
}

}  // namespace

TEST_CASE("poller + futex ring: an exec'd program opens the rings by name, both sides wait in a poller, messages go both ways") {
    rings r("echo");
    auto tx = ring_channel::open(r.to.name);
    auto rx = ring_channel::open(r.from.name);
    // Long: the close at the end must come by the doorbell, not by a peer check.
    rx.transport().peer_check_interval(60s);
    peer_program peer({"echo", r.to.name, r.from.name, "20"});
    ipc::poller p;
    auto in = p.add(rx, ready::readable, 1);

    // Round trips, each side parked in its poller while the other works;
    // every tenth after a pause, so the peer is surely asleep in epoll.
    for (long i = 1; i <= 200; ++i) {
        if (i % 10 == 0) std::this_thread::sleep_for(20ms);
        REQUIRE(tx.send_for(i, 5s) == ipc::status::ok);
        long got = 0;
        ipc::status s = ipc::status::would_block;
        const auto until = clk::now() + 5s;
        while (s == ipc::status::would_block && clk::now() < until) {
            for (const auto& ev : p.wait_until(until)) {
                CHECK(ev.readable());
                CHECK_FALSE(ev.closed());
            }
            s = rx.try_recv(got);
        }
        REQUIRE(s == ipc::status::ok);
        CHECK(got == i);
    }

    // A burst far larger than both rings: each side also waits for room, in the same poller.
    constexpr long burst = 2000;
    long next_out = 1000, next_in = 1000;
    ipc::poller::registration room;
    const auto until = clk::now() + 10s;
    while (next_in < 1000 + burst && clk::now() < until) {
        while (next_out < 1000 + burst && tx.try_send(next_out) == ipc::status::ok) ++next_out;
        if (next_out < 1000 + burst && !room) room = p.add(tx, ready::writable, 2);
        if (next_out == 1000 + burst) room.reset();
        for (const auto& ev : p.wait_until(until)) CHECK_FALSE(ev.closed());
        long v = 0;
        while (rx.try_recv(v) == ipc::status::ok) CHECK(v == next_in++);
    }
    CHECK(next_in == 1000 + burst);
    room.reset();
    // Not waiting now, so not marked (the peer may be, in its own directions).
    CHECK(no_bell_parked(tx.transport(), ipc::direction::send));
    CHECK(no_bell_parked(rx.transport(), ipc::direction::recv));

    // The peer leaves while this side waits: closed, long before any peer check.
    REQUIRE(tx.send_for(-1L, 5s) == ipc::status::ok);
    const auto t0 = clk::now();
    const ready what = wait_for_key(p, 1);
    CHECK(any(what & ready::closed));
    CHECK_FALSE(any(what & ready::peer_dead));
    CHECK(clk::now() - t0 < 5s);
    long v = 0;
    CHECK(rx.try_recv(v) == ipc::status::closed);
    CHECK(peer.wait() == 0);
}

TEST_CASE("poller + futex ring: an exec'd peer SIGKILLed while this side waits is reported as peer_dead within peer_check_interval") {
    rings r("kill");
    auto tx = ring_channel::open(r.to.name);
    auto rx = ring_channel::open(r.from.name);
    constexpr auto interval = 100ms;
    rx.transport().peer_check_interval(interval);
    peer_program peer({"echo", r.to.name, r.from.name, "20"});
    // One round trip: the peer is attached as the sender of `from`.
    REQUIRE(tx.send_for(7L, 5s) == ipc::status::ok);
    long v = 0;
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 7);
    ipc::poller p;
    auto in = p.add(rx, ready::readable, 1);
    CHECK(p.wait_for(0s).empty());
    ::kill(peer.pid(), SIGKILL);
    CHECK(peer.wait() == -SIGKILL);
    const auto t0 = clk::now();
    const ready what = wait_for_key(p, 1);
    CHECK(any(what & ready::peer_dead));
    CHECK(any(what & ready::closed));
    // One interval from the last check at most; slack for a loaded machine.
    CHECK(clk::now() - t0 < interval + 900ms);
    CHECK(rx.try_recv(v) == ipc::status::would_block);
    CHECK(rx.recv_for(v, 5s) == ipc::status::peer_dead);
}

TEST_CASE("poller + futex mpmc ring: two receivers parked in their pollers are each rung, for messages and for the close") {
    using mpmc_region = ipc::transport::posix_shm<ipc::ring::mpmc<long>>;
    using mpmc_channel = ipc::shm_mpmc_channel<long>;
    remover<mpmc_region> name{unique_name("mpmc")};
    (void)mpmc_region::create(name.name, 8);
    shared<std::atomic<long>> received, sum, parked;
    auto receiver = [&] {
        auto rx = mpmc_channel::open(name.name);
        rx.transport().end_of_stream(ipc::eos::when_all_senders_left);
        rx.transport().peer_check_interval(60s);  // wake-ups must come by the doorbells
        ipc::poller p;
        p.spin_time(0ns);  // park every time
        auto reg = p.add(rx, ready::readable, 1);
        parked->fetch_add(1);
        for (const auto until = clk::now() + 10s; clk::now() < until;) {
            (void)p.wait_until(until);
            long v = 0;
            ipc::status st = ipc::status::ok;
            while ((st = rx.try_recv(v)) == ipc::status::ok) {
                received->fetch_add(1);
                sum->fetch_add(v);
            }
            if (st == ipc::status::closed) return 0;
        }
        return 1;
    };
    child a(receiver), b(receiver);
    for (auto t0 = clk::now(); parked->load() < 2 && clk::now() - t0 < 5s;) std::this_thread::sleep_for(1ms);
    {
        auto tx = mpmc_channel::open(name.name);
        for (long i = 1; i <= 500; ++i) {
            if (i % 50 == 0) std::this_thread::sleep_for(10ms);  // both receivers park again
            REQUIRE(tx.send_for(i, 5s) == ipc::status::ok);
        }
        for (auto t0 = clk::now(); received->load() < 500 && clk::now() - t0 < 5s;) std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(20ms);  // both parked
    }  // the only sender leaves: both receivers are rung and see closed
    const auto t0 = clk::now();
    CHECK(a.wait() == child_ok);
    CHECK(b.wait() == child_ok);
    CHECK(clk::now() - t0 < 5s);
    CHECK(received->load() == 500);
    CHECK(sum->load() == 500 * 501 / 2);
}

namespace {
// sync::futex whose arm(), when it declines because the ring is ready, first
// runs a hook: it lets a test take the message from under the poller at the
// one instant that matters (what a second receiver does now and then).
struct declining_futex : ipc::sync::futex {
    std::function<void()> on_declined;
    template <class Tr>
    bool arm(Tr& t, ipc::direction d) noexcept {
        const bool parked = futex::arm(t, d);
        if (!parked && on_declined) std::exchange(on_declined, nullptr)();
        return parked;
    }
};
}  // namespace

TEST_CASE("poller + futex mpmc ring: a message another receiver takes while the poller arms does not leave the poller unparked") {
    using mpmc_region = ipc::transport::posix_shm<ipc::ring::mpmc<long>>;
    using racing_channel = ipc::channel<long, mpmc_region, declining_futex, ipc::framing::fixed>;
    remover<mpmc_region> name{unique_name("taken")};
    (void)mpmc_region::create(name.name, 8);
    shared<std::atomic<int>> stolen;
    auto rx = racing_channel::open(name.name);
    auto thief = ipc::shm_mpmc_channel<long>::open(name.name);
    rx.transport().peer_check_interval(60s);  // the second message must come by the doorbell
    ipc::poller p;
    p.spin_time(0ns);
    auto reg = p.add(rx, ready::readable, 1);
    child sender([&] {
        auto tx = ipc::shm_mpmc_channel<long>::open(name.name);
        if (tx.send_for(1L, 5s) != ipc::status::ok) return 1;
        for (auto t0 = clk::now(); stolen->load() == 0 && clk::now() - t0 < 5s;) std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(50ms);  // the poller is in epoll by now
        return tx.send_for(2L, 5s) == ipc::status::ok ? 0 : 2;
    });
    for (auto t0 = clk::now(); !rx.transport().ready(ipc::direction::recv) && clk::now() - t0 < 5s;)
        std::this_thread::sleep_for(1ms);
    rx.sync_policy().on_declined = [&] {
        long v = 0;
        if (thief.try_recv(v) == ipc::status::ok && v == 1) stolen->store(1);
    };
    const auto t0 = clk::now();
    const ready got = wait_for_key(p, 1, 5s);
    CHECK(stolen->load() == 1);
    CHECK(any(got & ready::readable));
    CHECK(clk::now() - t0 < 3s);  // rung by the second message, not woken by the deadline
    long v = 0;
    CHECK(rx.try_recv(v) == ipc::status::ok);
    CHECK(v == 2);
    CHECK(sender.wait() == child_ok);
}

TEST_CASE("poller + futex ring: a message sent before the ring was added is reported at once") {
    rings r("before");
    auto tx = ring_channel::open(r.to.name);
    auto rx = ring_channel::open(r.from.name);
    peer_program peer({"echo", r.to.name, r.from.name, "20"});
    REQUIRE(tx.send_for(5L, 5s) == ipc::status::ok);
    // The echo is in the ring before any poller exists.
    for (auto t0 = clk::now(); !rx.transport().ready(ipc::direction::recv) && clk::now() - t0 < 5s;)
        std::this_thread::sleep_for(1ms);
    ipc::poller p;
    auto in = p.add(rx, ready::readable, 1);
    const auto t0 = clk::now();
    auto r0 = p.wait_for(0s);  // never sleeps
    REQUIRE(r0.size() == 1);
    CHECK(r0.begin()->readable());
    CHECK(clk::now() - t0 < 1s);
    long v = 0;
    CHECK(rx.try_recv(v) == ipc::status::ok);
    CHECK(v == 5);
    CHECK(p.wait_for(20ms).empty());
    REQUIRE(tx.send_for(-1L, 5s) == ipc::status::ok);
    CHECK(peer.wait() == 0);
}

TEST_CASE("poller + futex ring: an end leaving through the bare transport (no channel) rings the parked side too") {
    remover<region> name{unique_name("bare")};
    (void)region::create(name.name, 8);
    auto rx = ring_channel::open(name.name);
    rx.transport().peer_check_interval(60s);  // the close must come by the doorbell
    child sender([&] {
        auto t = region::open(name.name);
        t.attach(ipc::direction::send);
        std::this_thread::sleep_for(100ms);  // the parent is parked by now
        t.close();  // leaves: ring_region wakes the receivers' side itself
        return 0;
    });
    ipc::poller p;
    auto reg = p.add(rx, ready::readable, 1);
    const auto t0 = clk::now();
    const ready what = wait_for_key(p, 1);
    CHECK(any(what & ready::closed));
    CHECK(clk::now() - t0 < 5s);
    long v = 0;
    CHECK(rx.try_recv(v) == ipc::status::closed);
    CHECK(sender.wait() == child_ok);
}

TEST_CASE("poller + futex ring: removed while ready, it is not reported, and no parked mark is left in the region") {
    remover<region> name{unique_name("removal")};
    (void)region::create(name.name, 8);
    auto rx = ring_channel::open(name.name);
    rx.transport().attach(ipc::direction::recv);
    child sender([&] {
        auto tx = ring_channel::open(name.name);
        const bool ok = tx.try_send(1L) == ipc::status::ok;
        std::this_thread::sleep_for(3s);  // stays a sender: nothing reads as closed
        return ok ? 0 : 1;
    });
    for (auto t0 = clk::now(); !rx.transport().ready(ipc::direction::recv) && clk::now() - t0 < 5s;)
        std::this_thread::sleep_for(1ms);
    ipc::poller p;
    auto reg = p.add(rx, ready::readable, 1);
    auto other = ipc::pipe_channel<int>::create();
    auto quiet = p.add(other.receiver, ready::readable, 2);
    reg.reset();
    CHECK(p.size() == 1);
    CHECK(p.wait_for(30ms).empty());
    CHECK(no_bell_parked(rx.transport(), ipc::direction::recv));
    CHECK(rx.transport().waiters(ipc::direction::recv).load() == 0);
    // Added again, drained, then a wait that parks and times out: nothing stays marked.
    reg = p.add(rx, ready::readable, 1);
    REQUIRE(p.wait_for(0s).size() == 1);
    long v = 0;
    CHECK(rx.try_recv(v) == ipc::status::ok);
    CHECK(p.wait_for(30ms).empty());
    CHECK(no_bell_parked(rx.transport(), ipc::direction::recv));
    CHECK(rx.transport().waiters(ipc::direction::recv).load() == 0);
    ::kill(sender.pid(), SIGKILL);
    CHECK(sender.wait() == -SIGKILL);
}

TEST_CASE("poller + futex ring: a stranger's datagram to the doorbell is one spurious wake, never an event or an early return") {
    remover<region> name{unique_name("stranger")};
    (void)region::create(name.name, 8);
    auto rx = ring_channel::open(name.name);
    ipc::poller p;
    auto reg = p.add(rx, ready::readable, 1);
    std::error_code ec;
    const int slot = rx.transport().doorbell_slot(ipc::direction::recv, ec);
    REQUIRE(slot >= 0);
    // Park once so the name is published, then read it as a stranger would.
    CHECK(p.wait_for(1ms).empty());
    const std::uint32_t bell = ipc::ring::shared_of<ipc::sync::futex>(rx.transport().sync_area()).bells.name[slot].load();
    REQUIRE(ipc::detail::valid_bell(bell));
    child stranger([&] {
        std::this_thread::sleep_for(50ms);
        ipc::detail::unique_fd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        sockaddr_un a;
        const socklen_t len = ipc::detail::bell_address(bell, a);
        const char junk[] = "junk";
        return ::sendto(s.get(), junk, sizeof junk, 0, reinterpret_cast<const sockaddr*>(&a), len) == sizeof junk ? 0 : 1;
    });
    const auto t0 = clk::now();
    CHECK(p.wait_for(300ms).empty());
    CHECK(clk::now() - t0 >= 300ms);
    CHECK(stranger.wait() == child_ok);
    CHECK(p.wait_for(0s).empty());
}

TEST_CASE("poller + futex ring: the spin before parking is bounded by the deadline and does not starve descriptors") {
    remover<region> name{unique_name("spin")};
    (void)region::create(name.name, 8);
    auto rx = ring_channel::open(name.name);
    auto pipe = ipc::pipe_channel<int>::create();
    ipc::poller p;
    CHECK(p.spin_time() > 0ns);  // spins first by default, as sync::futex does
    p.spin_time(2s);             // far longer than anything below may take
    auto ring_reg = p.add(rx, ready::readable, 1);
    auto pipe_reg = p.add(pipe.receiver, ready::readable, 2);
    // The deadline ends the spin: neither early nor at the end of spin_time.
    auto t0 = clk::now();
    CHECK(p.wait_for(100ms).empty());
    CHECK(clk::now() - t0 >= 100ms);
    CHECK(clk::now() - t0 < 1500ms);
    // A descriptor made ready while the poller spins is seen long before the spin ends.
    child writer([&] {
        std::this_thread::sleep_for(50ms);
        return pipe.sender.try_send(3) == ipc::status::ok ? 0 : 1;
    });
    t0 = clk::now();
    auto r = p.wait_for(10s);
    REQUIRE(r.size() == 1);
    CHECK(r.begin()->key == 2);
    CHECK(clk::now() - t0 < 1500ms);
    CHECK(writer.wait() == child_ok);
    // And a ring message while it spins (no doorbell needed: nobody is parked).
    child sender([&] {
        auto tx = ring_channel::open(name.name);
        std::this_thread::sleep_for(50ms);
        const bool ok = tx.try_send(9L) == ipc::status::ok;
        std::this_thread::sleep_for(2s);  // stays: nothing reads as closed
        return ok ? 0 : 1;
    });
    int drained = 0;
    CHECK(pipe.receiver.try_recv(drained) == ipc::status::ok);
    t0 = clk::now();
    r = p.wait_for(10s);
    REQUIRE(r.size() == 1);
    CHECK(r.begin()->key == 1);
    CHECK(clk::now() - t0 < 1500ms);
    CHECK(no_bell_parked(rx.transport(), ipc::direction::recv));
    ::kill(sender.pid(), SIGKILL);
    CHECK(sender.wait() == -SIGKILL);
}

TEST_CASE("poller + futex ring: a ring that is always ready (reported without a system call) does not starve a descriptor") {
    remover<region> name{unique_name("busy")};
    (void)region::create(name.name, 8);
    auto rx = ring_channel::open(name.name);
    auto pipe = ipc::pipe_channel<int>::create();
    child sender([&] {
        auto tx = ring_channel::open(name.name);
        if (pipe.sender.try_send(1) != ipc::status::ok) return 1;
        for (long i = 0;; ++i)  // keeps the ring full until killed
            if (tx.send_for(i, 10s) != ipc::status::ok) return 2;
    });
    for (auto t0 = clk::now(); !rx.transport().ready(ipc::direction::recv) && clk::now() - t0 < 5s;)
        std::this_thread::sleep_for(1ms);
    ipc::poller p;
    auto ring_reg = p.add(rx, ready::readable, 1);
    auto pipe_reg = p.add(pipe.receiver, ready::readable, 2);
    int waits = 0;
    bool pipe_seen = false;
    while (!pipe_seen && waits < 1000) {
        for (const auto& ev : p.wait_for(5s)) pipe_seen = pipe_seen || ev.key == 2;
        ++waits;
        long v = 0;
        (void)rx.try_recv(v);  // one message a wait: the ring stays ready
    }
    CHECK(pipe_seen);
    CHECK(waits <= 64);  // the full round (with epoll) comes every 64th wait at least
    ::kill(sender.pid(), SIGKILL);
    CHECK(sender.wait() == -SIGKILL);
}

TEST_CASE("poller + futex ring: a thread sending while the poller parks and spins loses no wake-up (ThreadSanitizer sees both sides)") {
    remover<region> name{unique_name("thread")};
    (void)region::create(name.name, 8);
    auto rx = ring_channel::open(name.name);
    auto tx = ring_channel::open(name.name);
    constexpr long n = 20000;
    std::thread producer([&] {
        for (long i = 0; i < n; ++i) {
            if (i % 1000 == 0) std::this_thread::sleep_for(1ms);  // the poller parks now and then
            if (tx.send_for(i, 10s) != ipc::status::ok) return;
        }
        tx = ring_channel{};  // leaves: closed
    });
    ipc::poller p;
    long next = 0;
    bool closed = false;
    auto reg = p.add(rx, ready::readable, [&](const ipc::poller::event&) {
        long v = 0;
        ipc::status st = ipc::status::ok;
        while ((st = rx.try_recv(v)) == ipc::status::ok) CHECK(v == next++);
        closed = st == ipc::status::closed;
    });
    for (const auto until = clk::now() + 30s; !closed && clk::now() < until;) (void)p.wait_until(until);
    producer.join();
    CHECK(next == n);
    CHECK(closed);
}

TEST_CASE("doorbell: names read from shared memory are checked; an autobind address round-trips") {
    using namespace ipc::detail;
    CHECK_FALSE(valid_bell(0));
    CHECK_FALSE(valid_bell(0x12345));                  // no mark
    CHECK_FALSE(valid_bell(bell_mark | 0x100000));    // a sixth digit
    CHECK_FALSE(valid_bell(0xffffffffu));
    CHECK(valid_bell(bell_mark | 0xfffff));
    sockaddr_un a;
    const socklen_t len = bell_address(bell_mark | 0x0a3f9, a);
    CHECK(a.sun_path[0] == '\0');
    CHECK(std::string(a.sun_path + 1, 5) == "0a3f9");
    CHECK(bell_from_address(a, len) == (bell_mark | 0x0a3f9));
    CHECK(bell_from_address(a, len + 1) == 0);          // longer than autobind's
    a.sun_path[3] = 'F';                                 // the kernel writes lower case
    CHECK(bell_from_address(a, len) == 0);
    a.sun_path[3] = '3';
    a.sun_path[0] = '/';                                 // a path, not abstract
    CHECK(bell_from_address(a, len) == 0);
    doorbell d;
    std::error_code ec;
    REQUIRE(d.open(ec));
    CHECK(valid_bell(d.name()));
    CHECK(d.fd() >= 0);
}

TEST_CASE("poller + futex ring: a region whose doorbell table is garbage costs the notifier nothing but a look") {
    remover<region> name{unique_name("garbage")};
    (void)region::create(name.name, 8);
    auto rx = ring_channel::open(name.name);
    auto tx = ring_channel::open(name.name);
    tx.transport().attach(ipc::direction::send);  // binds the region to sync::futex, which sets its state up
    auto& area = tx.transport().sync_area();
    auto& shared = ipc::ring::shared_of<ipc::sync::futex>(area);
    auto& send_side = ipc::ring::shared_of<ipc::sync::futex>(area, ipc::direction::send);
    auto& recv_side = ipc::ring::shared_of<ipc::sync::futex>(area, ipc::direction::recv);
    // Every slot "parked" with a name no autobind ever makes; a waiter counted so the notifier looks.
    for (auto* side : {&send_side, &recv_side})
        for (auto& w : side->parked.word) w.store(~std::uint64_t{0});
    for (auto& n : shared.bells.name) n.store(0x7fff0000u);
    tx.transport().waiters(ipc::direction::recv).fetch_add(1);
    CHECK(tx.try_send(1L) == ipc::status::ok);
    CHECK(tx.try_send(2L) == ipc::status::ok);
    tx.transport().waiters(ipc::direction::recv).fetch_sub(1);
    // The receiver's marks were taken (each notifier takes what it rings); the sender's direction is untouched.
    for (auto& w : recv_side.parked.word) CHECK(w.load() == 0);
    for (auto& w : send_side.parked.word) CHECK(w.load() == ~std::uint64_t{0});
    for (auto& w : send_side.parked.word) w.store(0);
    long v = 0;
    CHECK(rx.try_recv(v) == ipc::status::ok);
    CHECK(v == 1);
}

// Last: it may end the program with 77 (skipped) when descriptors are too few.
TEST_CASE("poller + futex ring: 64 rings and 2000 eventfds in one poller; another process wakes one ring") {
    constexpr int rings_n = 64, fds_n = 2000;
    descriptor_limit lim(fds_n + 2 * rings_n + 64, "64 rings and 2000 eventfds");
    std::vector<remover<region>> names;
    std::vector<ring_channel> rxs;
    names.reserve(rings_n);
    rxs.reserve(rings_n);
    for (int i = 0; i < rings_n; ++i) {
        names.push_back({unique_name("many")});
        (void)region::create(names.back().name, 8);
        rxs.push_back(ring_channel::open(names.back().name));
    }
    std::vector<ipc::eventfd_channel> efds;
    efds.reserve(fds_n);
    for (int i = 0; i < fds_n; ++i) efds.emplace_back(ipc::transport::eventfd::create());
    ipc::poller p;
    std::vector<ipc::poller::registration> regs;
    for (int i = 0; i < rings_n; ++i) regs.push_back(p.add(rxs[i], ready::readable, i));
    for (int i = 0; i < fds_n; ++i) regs.push_back(p.add(efds[i], ready::readable, rings_n + i));
    CHECK(p.size() == rings_n + fds_n);
    CHECK(p.wait_for(0s).empty());
    constexpr int chosen = 37;
    child sender([&] {
        auto tx = ring_channel::open(names[chosen].name);
        std::this_thread::sleep_for(50ms);  // the parent is parked by now
        const bool ok = tx.try_send(long{chosen}) == ipc::status::ok;
        std::this_thread::sleep_for(3s);
        return ok ? 0 : 1;
    });
    std::set<std::uint64_t> got;
    const auto until = clk::now() + 5s;
    while (got.empty() && clk::now() < until)
        for (const auto& ev : p.wait_until(until)) got.insert(ev.key);
    CHECK(got == std::set<std::uint64_t>{chosen});
    long v = 0;
    CHECK(rxs[chosen].try_recv(v) == ipc::status::ok);
    CHECK(v == chosen);
    CHECK(p.wait_for(0s).empty());
    regs.clear();
    ::kill(sender.pid(), SIGKILL);
    CHECK(sender.wait() == -SIGKILL);
}
