// ipc::shm_broadcast<T>: the broadcast ring (ring/broadcast.hpp) as a
// channel, across real processes. A publisher and subscribers open one named
// region; every subscriber sees every message once and in order (sequence
// number + words derived from it), except what its slow-subscriber policy
// allows, which it is told (missed() under overwrite, status::dropped under
// drop_slowest); a killed publisher is peer_dead to subscribers, a restarted
// one carries on.
#include <ipc/channel.hpp>
#include <ipc/poller.hpp>

#include <csignal>
#include <memory>
#include <optional>
#include <vector>

#include "broadcast_programs.hpp"
#include "broadcast_tick.hpp"
#include "ring_support.hpp"

namespace {

using namespace ipc_test;
using ipc::ring::slow_policy;
using channel = broadcast_channel;
using transport = broadcast_transport;

// Receives until `last` (inclusive), checking every message (stream_check);
// a drop is allowed only if may_drop. Returns an exit code.
int check_stream(channel& rx, std::uint64_t first, std::uint64_t last, bool may_drop, std::uint64_t* dropped = nullptr) {
    stream_check check{first, rx.transport().missed()};
    for (;;) {
        tick t{};
        const ipc::status s = rx.recv_for(t, 10s);
        if (s == ipc::status::dropped && may_drop) {
            if (dropped) ++*dropped;
            check.on_dropped(rx.transport().missed());
            continue;
        }
        if (s != ipc::status::ok) {
            std::fprintf(stderr, "subscriber: recv_for: %s at %llu\n", s.name(), static_cast<unsigned long long>(check.expect));
            return wrong_status;
        }
        if (int bad = check.on_message(t, rx.transport().missed())) return bad;
        if (t.seq == last) return child_ok;
    }
}

}  // namespace

TEST_CASE("shm broadcast: create takes options, open takes them from the region") {
    remover<transport> region{unique_name("bc-opts")};
    auto pub = channel::create(region.name, {.capacity = 64, .max_subscribers = 5, .slow = slow_policy::overwrite, .history = 3});
    auto sub = channel::open(region.name);
    const auto& o = sub.transport().ring().options();
    CHECK(o.capacity == 64);
    CHECK(o.max_subscribers == 5);
    CHECK(o.slow == slow_policy::overwrite);
    CHECK(o.history == 3);

    // create(name, capacity): the defaults (block, no history).
    remover<transport> plain{unique_name("bc-plain")};
    auto p2 = channel::create(plain.name, 32);
    CHECK(p2.transport().ring().options().capacity == 32);
    CHECK(p2.transport().ring().options().slow == slow_policy::block);

    // Options that make no ring are refused with words, and leave nothing behind.
    std::error_code ec;
    remover<transport> bad{unique_name("bc-bad")};
    auto none = channel::create(bad.name, {.capacity = 8, .history = 8}, ec);
    CHECK(ec == ipc::errc::limit_exceeded);
    CHECK(std::string(ipc::last_error_detail(ec)).find("history") != std::string::npos);
    CHECK_FALSE(transport::remove(bad.name));
}

TEST_CASE("shm broadcast: one publisher, a second is refused; history for a late joiner") {
    remover<transport> region{unique_name("bc-one")};
    auto pub = channel::create(region.name, {.capacity = 16, .history = 4});
    for (std::uint64_t i = 0; i < 10; ++i) REQUIRE(pub.try_send(tick::make(i)) == ipc::status::ok);

    child other([&] {
        auto p = channel::open(region.name);
        std::error_code ec;
        const ipc::status s = p.try_send(tick::make(99), ec);
        if (s != ipc::status::failed || ec != ipc::errc::in_use) return wrong_status;
        // A late joiner starts with the last 4 (history), then reads on.
        auto rx = channel::open(region.name);
        tick t{};
        for (std::uint64_t i = 6; i < 10; ++i) {
            if (rx.try_recv(t) != ipc::status::ok || t.seq != i || !t.check()) return bad_order;
        }
        return rx.try_recv(t) == ipc::status::would_block ? child_ok : wrong_status;
    });
    CHECK(other.wait() == child_ok);
}

TEST_CASE("shm broadcast: every subscriber process sees every message once and in order (block)") {
    constexpr unsigned subs = 4;
    constexpr std::uint64_t n = 20000;
    remover<transport> region{unique_name("bc-block")};
    // A small ring: the publisher blocks on the slowest subscriber and is
    // woken by its releases; subscribers park and are woken by commits.
    auto pub = channel::create(region.name, {.capacity = 16, .max_subscribers = 8, .slow = slow_policy::block});
    std::vector<child> procs;
    for (unsigned i = 0; i < subs; ++i)
        procs.emplace_back([&] {
            auto rx = channel::open(region.name);
            rx.transport().attach(ipc::direction::recv);
            const int r = check_stream(rx, 0, n - 1, false);
            return r == child_ok && rx.transport().missed() != 0 ? wrong_count : r;
        });
    REQUIRE(wait_subscribers(pub, subs));
    for (std::uint64_t i = 0; i < n; ++i) REQUIRE(pub.send_for(tick::make(i), 10s) == ipc::status::ok);
    for (auto& p : procs) CHECK(p.wait() == child_ok);
    CHECK(pub.transport().ring().dropped() == 0);
}

TEST_CASE("shm broadcast: a lapped subscriber is told how many it missed (overwrite)") {
    constexpr std::uint64_t n = 4000;
    remover<transport> region{unique_name("bc-over")};
    auto pub = channel::create(region.name, {.capacity = 16, .slow = slow_policy::overwrite});
    child slow([&] {
        auto rx = channel::open(region.name);
        rx.transport().attach(ipc::direction::recv);
        // Sleep before reading: the publisher laps this subscriber many times.
        std::this_thread::sleep_for(300ms);
        const int r = check_stream(rx, 0, n - 1, false);
        if (r != child_ok) return r;
        return rx.transport().missed() > 0 ? child_ok : not_told;
    });
    REQUIRE(wait_subscribers(pub, 1));
    // overwrite never waits for anyone: a try_send always goes through.
    for (std::uint64_t i = 0; i < n; ++i) REQUIRE(pub.try_send(tick::make(i)) == ipc::status::ok);
    CHECK(slow.wait() == child_ok);
}

// A message as large as a page run: copying one out takes long enough for the
// publisher to write over it meanwhile, which a two-slot ring under
// overwrite makes happen again and again.
struct page {
    std::uint64_t seq;
    std::uint64_t word[2047];
    static page make(std::uint64_t seq) {
        page p{seq, {}};
        for (std::uint64_t i = 0; i < 2047; ++i) p.word[i] = seq * 2047 + i;
        return p;
    }
    bool check() const {
        for (std::uint64_t i = 0; i < 2047; ++i)
            if (word[i] != seq * 2047 + i) return false;
        return true;
    }
};

TEST_CASE("shm broadcast: a copy the publisher wrote over while it was made is never handed out, and is counted as missed (overwrite)") {
    using page_channel = ipc::shm_broadcast<page>;
    remover<ipc::transport::posix_shm<ipc::ring::broadcast<page>>> region{unique_name("bc-torn")};
    auto rx = page_channel::create(region.name, {.capacity = 2, .slow = slow_policy::overwrite});
    rx.transport().attach(ipc::direction::recv);
    constexpr std::uint64_t n = 20000;
    child pub([&] {
        auto tx = page_channel::open(region.name);
        tx.transport().attach(ipc::direction::send);
        for (std::uint64_t i = 0; i < n; ++i)
            if (tx.try_send(page::make(i)) != ipc::status::ok) return wrong_status;
        return child_ok;
    });
    auto got = std::make_unique<page>();
    std::uint64_t expect = 0, received = 0, torn_seen = 0;
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until) {
        // The first message may take a while on a loaded machine (the
        // publisher forks and opens first); after it, a quiet 100 ms means
        // the publisher has finished.
        const ipc::status s = rx.recv_for(*got, received == 0 ? 10s : 100ms);
        if (s == ipc::status::timed_out) break;
        REQUIRE(s == ipc::status::ok);
        if (!got->check()) ++torn_seen;
        REQUIRE(got->seq >= expect);
        // Every gap is told: missed() counts what was skipped and what was discarded.
        CHECK(rx.transport().missed() + received >= got->seq);
        expect = got->seq + 1;
        ++received;
        if (got->seq == n - 1) break;
    }
    CHECK(torn_seen == 0);
    CHECK(received > 0);
    CHECK(pub.wait() == child_ok);
}

TEST_CASE("shm broadcast: a peeked message written over before it is released says so (overwrite)") {
    remover<transport> region{unique_name("bc-peek")};
    auto pub = channel::create(region.name, {.capacity = 4, .slow = slow_policy::overwrite});
    auto sub = channel::open(region.name);
    sub.transport().attach(ipc::direction::recv);
    REQUIRE(pub.try_send(tick::make(0)) == ipc::status::ok);
    {
        auto m = sub.try_peek();
        REQUIRE(m);
        CHECK(m->seq == 0);
        CHECK(m.release());  // nothing wrote over it: intact
    }
    auto m = sub.try_peek();
    CHECK_FALSE(m);  // nothing more yet
    REQUIRE(pub.try_send(tick::make(1)) == ipc::status::ok);
    m = sub.try_peek();
    REQUIRE(m);
    CHECK(m->seq == 1);
    // The publisher laps it while it is held: four more messages.
    for (std::uint64_t i = 2; i < 6; ++i) REQUIRE(pub.try_send(tick::make(i)) == ipc::status::ok);
    const std::uint64_t missed_before = sub.transport().missed();
    CHECK_FALSE(m.release());
    CHECK(sub.transport().missed() == missed_before + 1);
    // The next read goes on from the oldest message still whole.
    tick t{};
    REQUIRE(sub.try_recv(t) == ipc::status::ok);
    CHECK(t.check());
    CHECK(t.seq >= 2);
}

TEST_CASE("shm broadcast: the slowest subscriber is dropped and told so (drop_slowest)") {
    constexpr std::uint64_t n = 4000;
    remover<transport> region{unique_name("bc-drop")};
    auto pub = channel::create(region.name, {.capacity = 16, .slow = slow_policy::drop_slowest});
    child slow([&] {
        auto rx = channel::open(region.name);
        rx.transport().attach(ipc::direction::recv);
        std::this_thread::sleep_for(300ms);
        std::uint64_t dropped = 0;
        const int r = check_stream(rx, 0, n - 1, true, &dropped);
        if (r != child_ok) return r;
        return dropped > 0 ? child_ok : not_told;
    });
    REQUIRE(wait_subscribers(pub, 1));
    for (std::uint64_t i = 0; i + 1 < n; ++i) REQUIRE(pub.try_send(tick::make(i)) == ipc::status::ok);
    // The last one once the subscriber has come back (it resubscribes at the
    // newest message after being told): it must reach it.
    std::this_thread::sleep_for(500ms);
    REQUIRE(pub.try_send(tick::make(n - 1)) == ipc::status::ok);
    CHECK(slow.wait() == child_ok);
    CHECK(pub.transport().ring().dropped() >= 1);
}

TEST_CASE("shm broadcast: a killed publisher is peer_dead to subscribers, a restarted one carries on") {
    remover<transport> region{unique_name("bc-dead")};
    { auto made = channel::create(region.name, {.capacity = 64}); }
    // The subscriber counts to 200 across two publishers.
    child sub([&] {
        auto rx = channel::open(region.name);
        rx.transport().attach(ipc::direction::recv);
        rx.transport().peer_check_interval(20ms);
        tick t{};
        std::uint64_t expect = 0;
        bool told_dead = false;
        while (expect < 200) {
            const ipc::status s = rx.recv_for(t, 10s);
            if (s == ipc::status::peer_dead) {
                told_dead = true;
                continue;
            }
            if (s != ipc::status::ok) return wrong_status;
            if (!t.check() || t.seq != expect) return bad_order;
            ++expect;
        }
        return told_dead ? child_ok : not_told;
    });
    {
        auto probe = channel::open(region.name);
        REQUIRE(wait_subscribers(probe, 1));
    }
    child first([&] {
        auto tx = channel::open(region.name);
        for (std::uint64_t i = 0; i < 100; ++i)
            if (tx.send_for(tick::make(i), 5s) != ipc::status::ok) return wrong_status;
        ::raise(SIGKILL);
        return child_ok;
    });
    CHECK(first.wait() == -SIGKILL);
    std::this_thread::sleep_for(300ms);  // the subscriber sees peer_dead
    child second([&] {
        auto tx = channel::open(region.name);
        for (std::uint64_t i = 100; i < 200; ++i)
            if (tx.send_for(tick::make(i), 5s) != ipc::status::ok) return wrong_status;
        return child_ok;
    });
    CHECK(second.wait() == child_ok);
    CHECK(sub.wait() == child_ok);
}

TEST_CASE("shm broadcast: a publisher that leaves ends the stream only for a subscriber that asks") {
    remover<transport> region{unique_name("bc-eos")};
    auto made = channel::create(region.name, {.capacity = 16});
    child sub([&] {
        auto asks = channel::open(region.name);
        asks.transport().end_of_stream(ipc::eos::when_all_senders_left);
        asks.transport().attach(ipc::direction::recv);
        auto waits = channel::open(region.name);
        waits.transport().attach(ipc::direction::recv);
        tick t{};
        if (asks.recv_for(t, 10s) != ipc::status::ok || t.seq != 7) return bad_order;
        if (asks.recv_for(t, 10s) != ipc::status::closed) return wrong_status;
        if (waits.recv_for(t, 10s) != ipc::status::ok || t.seq != 7) return bad_order;
        return waits.recv_for(t, 200ms) == ipc::status::timed_out ? child_ok : wrong_status;
    });
    REQUIRE(wait_subscribers(made, 2));
    {
        auto tx = channel::open(region.name);
        REQUIRE(tx.send_for(tick::make(7), 5s) == ipc::status::ok);
    }
    CHECK(sub.wait() == child_ok);
}

TEST_CASE("shm broadcast: subscribers beyond the peer table's 128 ends work; such a one is not pollable, and says so") {
    constexpr unsigned subs = ipc::ring::max_peers + 4;
    remover<transport> region{unique_name("bc-many")};
    auto pub = channel::create(region.name, {.capacity = 16, .max_subscribers = subs});
    std::vector<channel> rx;
    for (unsigned i = 0; i < subs; ++i) {
        rx.push_back(channel::open(region.name));
        rx.back().transport().attach(ipc::direction::recv);
    }
    CHECK(pub.transport().ring().subscribers() == subs);
    child sender([&] {
        auto tx = channel::open(region.name);
        return tx.send_for(tick::make(0), 5s) == ipc::status::ok ? child_ok : wrong_status;
    });
    REQUIRE(sender.wait() == child_ok);
    for (auto& r : rx) {
        tick t{};
        REQUIRE(r.recv_for(t, 5s) == ipc::status::ok);
        CHECK(t.seq == 0);
    }
    // The first subscriber has a peer-table slot for its doorbell; the last cannot have one.
    ipc::poller p;
    std::error_code ec;
    auto ok = p.add(rx.front(), ipc::ready::readable, 1, ec);
    CHECK_FALSE(ec);
    auto refused = p.add(rx.back(), ipc::ready::readable, 2, ec);
    CHECK(ec == ipc::errc::limit_exceeded);
    CHECK(std::string(ipc::last_error_detail(ec)).find("peer table") != std::string::npos);
}

namespace {

// A subscriber or publisher program (tests/broadcast_peer.cpp).
using peer = broadcast_peer;

// A publisher program and 16 subscriber programs started independently,
// under one policy: 10 read the whole stream (one of them waiting in an
// ipc::poller), 2 leave mid-stream, 2 are SIGKILLed mid-stream and 2 join
// late. Each checks its own stream (tests/broadcast_peer.cpp) and exits 0 if
// it saw every message once and in order except what it was told it lost.
void run_sixteen(slow_policy policy) {
    CAPTURE(ipc::ring::slow_policy_name(static_cast<std::uint64_t>(policy)));
    constexpr std::uint64_t last = 29999;
    const std::string last_s = std::to_string(last);
    remover<transport> region{unique_name("bc-16")};
    auto made = channel::create(region.name, {.capacity = 64, .max_subscribers = 32, .slow = policy});
    std::vector<std::unique_ptr<peer>> whole, leavers, victims, late;
    for (int i = 0; i < 10; ++i) {
        std::vector<std::string> a{"sub", region.name, last_s, "0"};
        if (i == 0) a.push_back("poll");
        whole.push_back(std::make_unique<peer>(a));
    }
    for (int i = 0; i < 2; ++i) leavers.push_back(std::make_unique<peer>(std::vector<std::string>{"sub", region.name, last_s, "0", "leave=3000"}));
    for (int i = 0; i < 2; ++i) victims.push_back(std::make_unique<peer>(std::vector<std::string>{"sub", region.name, last_s, "0"}));
    REQUIRE(wait_subscribers(made, 14));
    peer pub({"pub", region.name, last_s, "2000"});
    // Mid-stream: kill two, and two more join (they start at the newest).
    const auto t0 = std::chrono::steady_clock::now();
    while (made.transport().ring().head() < last / 4 && std::chrono::steady_clock::now() - t0 < 20s) std::this_thread::sleep_for(1ms);
    for (auto& v : victims) ::kill(v->pid(), SIGKILL);
    for (int i = 0; i < 2; ++i) late.push_back(std::make_unique<peer>(std::vector<std::string>{"sub", region.name, last_s, "any"}));
    CHECK(made.transport().ring().head() < last);  // it really was mid-stream
    // Under block, the dead must not hold the publisher: it finishes.
    CHECK(pub.wait(60s) == 0);
    for (auto& p : whole) CHECK(p->wait(30s) == 0);
    for (auto& p : leavers) CHECK(p->wait(30s) == 0);
    for (auto& p : late) CHECK(p->wait(30s) == 0);
    for (auto& v : victims) CHECK(v->wait(5s) == -SIGKILL);
}

}  // namespace

TEST_CASE("shm broadcast: a publisher and 16 subscriber programs, coming, going and killed (block)") {
    run_sixteen(slow_policy::block);
}
TEST_CASE("shm broadcast: a publisher and 16 subscriber programs, coming, going and killed (overwrite)") {
    run_sixteen(slow_policy::overwrite);
}
TEST_CASE("shm broadcast: a publisher and 16 subscriber programs, coming, going and killed (drop_slowest)") {
    run_sixteen(slow_policy::drop_slowest);
}

TEST_CASE("shm broadcast: a killed publisher program is peer_dead to subscriber programs; a restarted one carries on") {
    remover<transport> region{unique_name("bc-restart")};
    auto made = channel::create(region.name, {.capacity = 64, .max_subscribers = 8});
    kill_and_restart_publisher(made, region.name, "", 4, 9999, [](const auto& ring) { return ring.head(); });
}

TEST_CASE("shm broadcast: nothing left in /dev/shm") { CHECK(leftovers_in_dev_shm().empty()); }
