// Every sync policy over a POSIX shared-memory ring: the conformance suite,
// then what waiting on shared words can get wrong (lost wake-ups, early or
// endless timed waits, a parked receiver never told that the sender left).
#include <ipc/channel.hpp>

#include <sys/sem.h>

#include "ring_support.hpp"

namespace {

using namespace ipc_test;
using ipc::framing::fixed;
using ipc::framing::length_prefixed;

template <class T>
using shm = ipc::transport::posix_shm<T>;

struct futex_setup : named_setup<shm, ipc::sync::futex> {
    static constexpr const char* name = "shm+futex";
};
struct spin_setup : named_setup<shm, ipc::sync::spin> {
    static constexpr const char* name = "shm+spin";
};
// Spinning, with blocking receives that stay 64 bytes (8 messages of 8
// bytes) behind a sender that keeps sending: every conformance test again.
struct spin_behind : ipc::sync::spin {
    spin_behind() noexcept { behind = 64; }
};
struct spin_behind_setup : named_setup<shm, spin_behind> {
    static constexpr const char* name = "shm+spin(behind)";
};
struct eventfd_setup : named_setup<shm, ipc::sync::eventfd> {
    static constexpr const char* name = "shm+eventfd";
};
struct posix_sem_setup : named_setup<shm, ipc::sync::posix_sem> {
    static constexpr const char* name = "shm+posix_sem";
};
struct sysv_sem_setup : named_setup<shm, ipc::sync::sysv_sem> {
    static constexpr const char* name = "shm+sysv_sem";
};

}  // namespace

IPC_CONFORMANCE(combo<futex_setup, fixed>, combo<futex_setup, length_prefixed>, combo<spin_setup, fixed>,
                combo<spin_setup, length_prefixed>, combo<spin_behind_setup, fixed>, combo<eventfd_setup, fixed>,
                combo<eventfd_setup, length_prefixed>,
                combo<posix_sem_setup, fixed>, combo<posix_sem_setup, length_prefixed>, combo<sysv_sem_setup, fixed>,
                combo<sysv_sem_setup, length_prefixed>);

// The blocking policies, each with a tiny ring so that both sides park often.
TEST_CASE_TEMPLATE_DEFINE("shm sync: a parked side is woken by its peer", Sync, shm_sync_wake) {
    using transport = shm<ipc::ring::spsc<std::uint64_t>>;
    using channel = ipc::channel<std::uint64_t, transport, Sync>;
    remover<transport> region{unique_name("wake")};
    transport::create(region.name, 2);
    Sync sync = make_sync<Sync>();

    SUBCASE("a receiver waiting on an empty ring wakes when a message arrives, not at its timeout") {
        child sender([&] {
            channel tx(transport::open(region.name), {}, std::move(sync));
            std::this_thread::sleep_for(50ms);
            return tx.send_for(7, 5s) == ipc::status::ok ? 0 : 1;
        });
        channel rx(transport::open(region.name), {}, std::move(sync));
        std::uint64_t v = 0;
        auto t0 = std::chrono::steady_clock::now();
        REQUIRE(rx.recv_for(v, 10s) == ipc::status::ok);
        CHECK(v == 7);
        CHECK(ms_since(t0) < 5000.0);
        CHECK(sender.wait() == child_ok);
    }
    SUBCASE("a sender waiting on a full ring wakes when the receiver makes room") {
        child receiver([&] {
            channel rx(transport::open(region.name), {}, std::move(sync));
            std::this_thread::sleep_for(100ms);
            std::uint64_t v = 0;
            for (std::uint64_t i = 0; i < 1000; ++i)
                if (rx.recv_for(v, 5s) != ipc::status::ok || v != i) return 1;
            return 0;
        });
        channel tx(transport::open(region.name), {}, std::move(sync));
        REQUIRE(tx.try_send(0) == ipc::status::ok);
        REQUIRE(tx.try_send(1) == ipc::status::ok);
        CHECK(tx.try_send(2) == ipc::status::would_block);
        for (std::uint64_t i = 2; i < 1000; ++i) REQUIRE(tx.send_for(i, 10s) == ipc::status::ok);
        CHECK(receiver.wait() == child_ok);
    }
    // A receiver parks with a deadline that must not be reached: the sender
    // leaving (after 100 ms, as `leave` does) wakes it with status::closed.
    auto parked_until_sender_leaves = [&](auto leave) {
        child sender([&] {
            auto t = transport::open(region.name);
            t.attach(ipc::direction::send);
            leave(std::move(t));
            return 0;
        });
        channel rx(transport::open(region.name), {}, std::move(sync));
        std::uint64_t v = 0;
        auto t0 = std::chrono::steady_clock::now();
        CHECK(rx.recv_for(v, 20s) == ipc::status::closed);
        CHECK(ms_since(t0) < 10000.0);
        CHECK(sender.wait() == child_ok);
    };
    SUBCASE("a receiver parked without a timeout limit learns that the last sender left") {
        parked_until_sender_leaves([&](transport t) {
            channel tx(std::move(t), {}, std::move(sync));
            std::this_thread::sleep_for(100ms);
        });
    }
    if constexpr (!std::is_same_v<Sync, ipc::sync::eventfd>) {
        SUBCASE("a sender that is a bare transport (no channel) wakes the parked receiver as it closes") {
            parked_until_sender_leaves([](transport t) {
                std::this_thread::sleep_for(100ms);
                t.close();
            });
        }
    }
    SUBCASE("a timed wait on a full ring ends on time, never early") {
        channel tx(transport::open(region.name), {}, std::move(sync));
        REQUIRE(tx.try_send(0) == ipc::status::ok);
        REQUIRE(tx.try_send(1) == ipc::status::ok);
        auto t0 = std::chrono::steady_clock::now();
        CHECK(tx.send_for(2, 40ms) == ipc::status::timed_out);
        const double waited = ms_since(t0);
        CHECK(waited >= 40.0);
        CHECK(waited < 2000.0);
        std::error_code ec;
        CHECK(tx.send_until(2, std::chrono::steady_clock::now() + 5ms, ec) == ipc::status::timed_out);
        CHECK(ec == ipc::errc::timed_out);
    }
}
TEST_CASE_TEMPLATE_INVOKE(shm_sync_wake, ipc::sync::futex, ipc::sync::eventfd, ipc::sync::posix_sem, ipc::sync::sysv_sem,
                          ipc::sync::spin);

// The race a notifier can lose: it checks for sleepers just as its peer
// announces itself. With spin_time 0 every wait parks, so each of the 40000
// exchanges over a 2-slot ring is that race. Threads that start and exit
// meanwhile in both processes leave Linux's membarrier bookkeeping stale, the
// condition under which the former plain-load check missed sleepers.
TEST_CASE("shm sync: futex waiters that park at once lose no wake-up between processes while threads come and go") {
    using transport = ipc::transport::memfd<ipc::ring::spsc<std::uint64_t>>;
    auto t = transport::create(2);
    constexpr std::uint64_t n = 20000;
    std::atomic<bool> stop{false};
    auto churn = [&] {
        return std::thread([&] {
            while (!stop.load()) std::thread([] {}).join();
        });
    };
    // Returns 0, or 1 when a wait ended without the ring becoming ready (a lost wake-up).
    auto run = [&](ipc::direction d, auto op) {
        ipc::sync::futex sync;
        sync.spin_time = std::chrono::nanoseconds(0);
        const auto dl = ipc::deadline::after(30s);
        std::error_code ec;
        for (std::uint64_t i = 0; i < n; ++i) {
            while (!op(i, ec)) {
                if (ec != ipc::errc::would_block) return 1;
                ec.clear();
                if (!sync.wait(t, d, dl, ec)) return 1;
            }
            sync.notify(t, d);
        }
        return 0;
    };
    child sender([&] {
        std::thread c = churn();
        const int r = run(ipc::direction::send, [&](std::uint64_t i, std::error_code& ec) { return t.try_send_value(i, ec); });
        stop = true;
        c.join();
        return r;
    });
    std::thread c = churn();
    std::uint64_t bad = 0;
    const int r = run(ipc::direction::recv, [&](std::uint64_t i, std::error_code& ec) {
        std::uint64_t v = 0;
        if (!t.try_recv_value(v, ec)) return false;
        bad += v != i;
        return true;
    });
    stop = true;
    c.join();
    CHECK(r == 0);
    CHECK(bad == 0);
    CHECK(sender.wait(40s) == child_ok);
}

TEST_CASE("shm sync: eventfd descriptors can sit in an event loop beside sockets") {
    using transport = shm<ipc::ring::spsc<int>>;
    using channel = ipc::channel<int, transport, ipc::sync::eventfd>;
    remover<transport> region{unique_name("evloop")};
    transport::create(region.name, 8);
    auto ev = ipc::sync::eventfd::create();
    child sender([&] {
        channel tx(transport::open(region.name), {}, std::move(ev));
        std::this_thread::sleep_for(50ms);
        return tx.send_for(42, 5s) == ipc::status::ok ? 0 : 1;
    });
    channel rx(transport::open(region.name), {}, std::move(ev));
    auto& sync = rx.sync_policy();
    // Nothing there yet: arm() says "poll", and the descriptor becomes readable on send.
    REQUIRE(sync.arm(rx.transport(), ipc::direction::recv));
    pollfd p{sync.native_handle(ipc::direction::recv), POLLIN, 0};
    CHECK(::poll(&p, 1, 10000) == 1);
    sync.disarm(rx.transport(), ipc::direction::recv);
    int v = 0;
    CHECK(rx.try_recv(v) == ipc::status::ok);
    CHECK(v == 42);
    CHECK(sender.wait() == child_ok);
    // A ready channel needs no poll: arm() says so.
    CHECK_FALSE(sync.arm(rx.transport(), ipc::direction::send));
}

TEST_CASE("shm sync: eventfds passed over a Unix socket work like inherited ones") {
    using transport = shm<ipc::ring::spsc<int>>;
    using channel = ipc::channel<int, transport, ipc::sync::eventfd>;
    remover<transport> region{unique_name("evpass")};
    transport::create(region.name, 8);
    ipc::detail::unique_fd sockets[2];
    std::error_code ec;
    REQUIRE(ipc::detail::make_socketpair(SOCK_STREAM, sockets, ec));
    auto& here = sockets[0];
    auto& there = sockets[1];
    child receiver([&] {
        // This child made no eventfd before fork: it receives both.
        here.reset();
        auto room = ipc::detail::receive_fd(there.get(), ec);
        auto data = ipc::detail::receive_fd(there.get(), ec);
        if (ec) return 1;
        channel rx(transport::open(region.name), {}, ipc::sync::eventfd(std::move(room), std::move(data)));
        int v = 0;
        for (int i = 0; i < 100; ++i)
            if (rx.recv_for(v, 5s) != ipc::status::ok || v != i) return 2;
        return 0;
    });
    there.reset();
    auto ev = ipc::sync::eventfd::create();
    REQUIRE(ipc::detail::send_fd(here.get(), ev.native_handle(ipc::direction::send), ec));
    REQUIRE(ipc::detail::send_fd(here.get(), ev.native_handle(ipc::direction::recv), ec));
    channel tx(transport::open(region.name), {}, std::move(ev));
    for (int i = 0; i < 100; ++i) {
        REQUIRE(tx.send_for(i, 5s) == ipc::status::ok);
        if (i % 10 == 0) std::this_thread::sleep_for(2ms);  // let the receiver park now and then
    }
    CHECK(receiver.wait() == child_ok);
}

TEST_CASE("shm sync: the System V semaphore set goes with the region's last mapping") {
    using transport = shm<ipc::ring::spsc<int>>;
    using channel = ipc::channel<int, transport, ipc::sync::sysv_sem>;
    remover<transport> region{unique_name("sysvgone")};
    int id = -1;
    {
        auto rx = channel::create(region.name, 4);
        int v = 0;
        CHECK(rx.recv_for(v, 5ms) == ipc::status::timed_out);  // parks: makes the set
        const auto slot = rx.transport().sync_area().policy.sysv_sem_set.load();
        REQUIRE(slot > 0);
        id = static_cast<int>(slot - 1);
        CHECK(::semctl(id, 0, GETVAL) == 0);
    }
    CHECK(::semctl(id, 0, GETVAL) == -1);
}

TEST_CASE("shm sync: the first end's policy sets the region's sync area up; an end of another policy is refused, naming both") {
    using transport = shm<ipc::ring::spsc<int>>;
    using futex_channel = ipc::channel<int, transport, ipc::sync::futex>;
    using sem_channel = ipc::channel<int, transport, ipc::sync::posix_sem>;
    using spin_channel = ipc::channel<int, transport, ipc::sync::spin>;
    remover<transport> region{unique_name("mixed")};
    auto tx = futex_channel::create(region.name, 4);
    {
        auto bare = transport::open(region.name);  // no policy yet: the area is not bound by opening
        CHECK(bare.sync_area().policy.tag.load() == 0);
    }
    REQUIRE(tx.try_send(1) == ipc::status::ok);  // attaches: binds the area to sync::futex
    CHECK(tx.transport().sync_area().policy.tag.load() == ipc::ring::sync_tag<ipc::sync::futex>);
    child other([&] {
        auto rx = sem_channel::open(region.name);
        int v = 0;
        std::error_code ec;
        if (rx.try_recv(v, ec) != ipc::status::failed || ec != ipc::errc::layout_mismatch) return 1;
        const std::string words(ipc::last_error_detail(ec));
        if (words.find("sync::futex") == std::string::npos || words.find("sync::posix_sem") == std::string::npos) return 2;
        auto spinning = spin_channel::open(region.name);
        if (spinning.try_recv(v, ec) != ipc::status::failed || ec != ipc::errc::layout_mismatch) return 3;
        // The same policy as the region's works, and receives what was sent.
        auto rx2 = futex_channel::open(region.name);
        if (rx2.recv_for(v, 5s) != ipc::status::ok || v != 1) return 4;
        return 0;
    });
    CHECK(other.wait() == child_ok);
}

TEST_CASE("shm sync: a POSIX-semaphore region sets its semaphores up at first use, and a sleeper is woken across processes") {
    using transport = shm<ipc::ring::spsc<int>>;
    using channel = ipc::channel<int, transport, ipc::sync::posix_sem>;
    remover<transport> region{unique_name("semfirst")};
    auto rx = channel::create(region.name, 4);
    child sender([&] {
        auto tx = channel::open(region.name);
        std::this_thread::sleep_for(50ms);  // the parent sleeps on the semaphore by now
        return tx.send_for(42, 5s) == ipc::status::ok ? 0 : 1;
    });
    rx.transport().peer_check_interval(60s);  // the wake-up must come from the semaphore
    int v = 0;
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(rx.recv_for(v, 10s) == ipc::status::ok);
    CHECK(v == 42);
    CHECK(ms_since(t0) < 5000);
    CHECK(rx.transport().sync_area().policy.tag.load() == ipc::ring::sync_tag<ipc::sync::posix_sem>);
    CHECK(sender.wait() == child_ok);
}

TEST_CASE("shm sync: a spinning receiver that stays behind a moving sender gets every message in order, and each burst's end at once") {
    using transport = shm<ipc::ring::spsc<std::uint64_t>>;
    using channel = ipc::channel<std::uint64_t, transport, ipc::sync::spin>;
    remover<transport> data{unique_name("behind")}, acks{unique_name("behind-ack")};
    transport::create(data.name, 1024);
    transport::create(acks.name, 8);
    constexpr std::uint64_t bursts = 20, per_burst = 3000;

    // The sender waits for the receiver's word that it has a whole burst
    // before it sends the next: a receiver that held the end of a burst back
    // for more messages would never give it, and the sender's wait times out.
    child sender([&] {
        channel tx(transport::open(data.name), {}, ipc::sync::spin{});
        channel ack(transport::open(acks.name), {}, ipc::sync::spin{});
        std::uint64_t n = 0, got = 0;
        for (std::uint64_t b = 0; b < bursts; ++b) {
            for (std::uint64_t i = 0; i < per_burst; ++i)
                if (tx.send_for(n++, 5s) != ipc::status::ok) return 1;
            if (ack.recv_for(got, 5s) != ipc::status::ok || got != b) return 2;
        }
        return 0;
    });
    ipc::sync::spin held;
    held.behind = 2048;  // 256 messages
    channel rx(transport::open(data.name), {}, held);
    channel ack(transport::open(acks.name), {}, ipc::sync::spin{});
    std::uint64_t v = 0;
    for (std::uint64_t b = 0; b < bursts; ++b) {
        for (std::uint64_t i = 0; i < per_burst; ++i) {
            REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
            REQUIRE(v == b * per_burst + i);
        }
        REQUIRE(ack.send_for(b, 5s) == ipc::status::ok);
    }
    CHECK(sender.wait() == child_ok);
    // Holding back never outlives the sender: its leaving ends the stream.
    CHECK(rx.recv_for(v, 5s) == ipc::status::closed);
}

// Last in this file (doctest runs a file's cases in order): everything above cleaned up.
TEST_CASE("shm: nothing of this run is left in /dev/shm") { CHECK(leftovers_in_dev_shm().empty()); }
