// The broadcast ring (ring/broadcast.hpp) across real processes: a publisher
// and N forked subscribers on one anonymous shared mapping, under each slow
// subscriber policy, with subscribers joining, leaving and SIGKILLed, and the
// publisher killed and restarted. Every message carries its sequence number
// and words derived from it, so a subscriber checks order, exactly-once and
// intactness by itself and reports through its exit code.
#include <ipc/ring/broadcast.hpp>
#include <ipc/ring/mpmc.hpp>

#include <random>
#include <vector>

#include "broadcast_ring_support.hpp"

using namespace ipc_test;
using namespace ipc_test::broadcast_ring;
using ipc::ring::broadcast_options;
using ipc::ring::slow_policy;

namespace {

// 64 bytes: a torn copy (words from two messages) fails check().
struct msg {
    std::uint64_t seq;
    std::uint64_t word[7];

    static msg make(std::uint64_t seq) {
        msg m{seq, {}};
        for (std::uint64_t i = 0; i < 7; ++i) m.word[i] = (seq + 1) * 0x9e3779b97f4a7c15ULL ^ (i << 56);
        return m;
    }
    bool check() const {
        for (std::uint64_t i = 0; i < 7; ++i)
            if (word[i] != ((seq + 1) * 0x9e3779b97f4a7c15ULL ^ (i << 56))) return false;
        return true;
    }
};
using ring_t = ipc::ring::broadcast<msg>;
using status = ring_t::read_status;

using shared_ring = shared_ring_of<ring_t>;

// Child exit codes: what a subscriber found wrong (and broadcast_ring_support.hpp's).
constexpr int not_all = 17;

// A subscriber process's loop: reads until it has the publisher's last
// message, checking each is intact and either the next in sequence or
// exactly `missed` after the previous one. Returns a child exit code.
// `allowed` says what loss the test allows: block none; overwrite missed
// messages (counted); drop_slowest being dropped (and then told so: a miss
// is allowed only just before it hears it was dropped).
int read_all(ring_t r, ring_t::subscriber& s, board& b, int me, slow_policy allowed, std::chrono::microseconds pause = {}) {
    std::uint64_t expect = s.next, delivered = 0, missed = 0;
    const auto give_up = clock_type::now() + 20s;
    std::mt19937 rng(static_cast<unsigned>(me));
    const bool allow_missed = allowed != slow_policy::block;
    for (;;) {
        msg m;
        auto rd = r.try_pop(s, m);
        if (rd.status == status::dropped) {
            if (allowed != slow_policy::drop_slowest) return was_dropped;
            b.dropped_seen[me].store(1);
            return 0;
        }
        if (rd) {
            if (!m.check()) return torn;
            if (m.seq != rd.seq || m.seq != expect + rd.missed) return out_of_order;
            if (rd.missed && !allow_missed) return wrong_missed;
            missed += rd.missed;
            ++delivered;
            expect = m.seq + 1;
            b.delivered[me].store(delivered, std::memory_order_relaxed);
            b.missed[me].store(missed, std::memory_order_relaxed);
            if (pause.count() && rng() % 64 == 0) std::this_thread::sleep_for(pause);
            continue;
        }
        if (b.done.load(std::memory_order_acquire) && expect == b.total.load())
            return missed && allowed == slow_policy::drop_slowest ? wrong_missed : 0;
        if (clock_type::now() > give_up) return timed_out_reading;
        std::this_thread::yield();
    }
}

// The publisher's loop in the calling process: n messages numbered by the
// ring's head, waiting (bounded) for room.
void publish(ring_t& r, ring_t::publisher& p, std::uint64_t n, board& b) {
    publish_n(n, [&] {
        msg* slot = r.loan(p);
        if (!slot) return false;
        *slot = msg::make(p.head);
        r.commit(p);
        return true;
    });
    b.finish(p.head);
}

}  // namespace

TEST_CASE("broadcast region: options are recorded, checked on attach and visible") {
    const broadcast_options o{64, 1000, slow_policy::drop_slowest, 7};
    shared_ring r(o);
    std::error_code ec;
    auto a = ring_t::attach(r.span(), ec);
    REQUIRE_FALSE(ec);
    CHECK(a.options().capacity == 64);
    CHECK(a.options().max_subscribers == 1000);
    CHECK(a.options().slow == slow_policy::drop_slowest);
    CHECK(a.options().history == 7);
    CHECK(std::string(ipc::ring::kind_name(a.hdr().kind)) == "broadcast");
    // The region's size follows max_subscribers: no cap but the size.
    CHECK(ring_t::required_size({64, 2000, slow_policy::block, 0}) > ring_t::required_size(o));

    SUBCASE("another T, or another ring kind, is refused") {
        auto other = ipc::ring::broadcast<std::uint64_t>::attach(r.span(), ec);
        CHECK(ec == ipc::errc::layout_mismatch);
        CHECK_FALSE(other.valid());
        ec.clear();
        auto m = ipc::ring::attach<ipc::ring::mpmc<msg>>(r.span(), ec);
        CHECK(ec == ipc::errc::layout_mismatch);
        CHECK(words(ec).find("broadcast") != std::string::npos);
        CHECK_FALSE(m.valid());
    }
    SUBCASE("invalid options are refused with the value and the limit") {
        shared_mem m(1 << 16);
        auto bad = ring_t::format(m.span(), {48, 4, slow_policy::block, 0}, ec);
        CHECK(ec == ipc::errc::limit_exceeded);
        CHECK(words(ec).find("48") != std::string::npos);
        CHECK_FALSE(bad.valid());
        ec.clear();
        (void)ring_t::format(m.span(), {64, 4, slow_policy::block, 64}, ec);
        CHECK(ec == ipc::errc::limit_exceeded);
        CHECK(words(ec).find("history 64") != std::string::npos);
        ec.clear();
        (void)ring_t::format(m.span(), {64, 0, slow_policy::block, 0}, ec);
        CHECK(ec == ipc::errc::limit_exceeded);
        ec.clear();
        (void)ring_t::format(m.span(), {64, 4, static_cast<slow_policy>(9), 0}, ec);
        CHECK(ec == ipc::errc::limit_exceeded);
        ec.clear();
        (void)ring_t::format(m.span().first(100), {64, 4, slow_policy::block, 0}, ec);
        CHECK(ec == ipc::errc::corrupt);
    }
}

TEST_CASE("broadcast: every subscriber reads every message in place or by copy; late joiners start at the newest or with history") {
    shared_ring r({16, 8, slow_policy::block, 3});
    auto p = open_pub(r.ring);
    ring_t::subscriber a, b;
    std::error_code ec;
    REQUIRE(r.ring.subscribe(a, 0, ec));
    for (std::uint64_t i = 0; i < 5; ++i) REQUIRE(r.ring.try_push(p, msg::make(i)));
    REQUIRE(r.ring.subscribe(b, ec));  // the region's history: the last 3
    auto f = r.ring.front(a);
    REQUIRE(f);
    CHECK(f.ptr->seq == 0);
    CHECK(r.ring.release(a));
    msg m;
    for (std::uint64_t i = 1; i < 5; ++i) {
        auto rd = r.ring.try_pop(a, m);
        REQUIRE(rd);
        CHECK(m.seq == i);
        CHECK(rd.missed == 0);
    }
    CHECK(r.ring.try_pop(a, m).status == status::empty);
    for (std::uint64_t i = 2; i < 5; ++i) {
        REQUIRE(r.ring.try_pop(b, m));
        CHECK(m.seq == i);
    }
    CHECK_FALSE(r.ring.can_pop(b));
    ring_t::subscriber c;
    REQUIRE(r.ring.subscribe(c, 0, ec));
    CHECK(r.ring.try_pop(c, m).status == status::empty);  // the newest: nothing yet
    REQUIRE(r.ring.try_push(p, msg::make(5)));
    REQUIRE(r.ring.try_pop(c, m));
    CHECK(m.seq == 5);
    unsigned held = r.ring.for_each_subscriber([](const ring_t::subscriber_info& i) { CHECK(i.id.pid == ::getpid()); });
    CHECK(held == 3);
    r.ring.unsubscribe(b);
    CHECK(r.ring.try_pop(b, m).status == status::not_subscribed);
    CHECK(r.ring.for_each_subscriber([](const ring_t::subscriber_info&) {}) == 2);

    SUBCASE("cancel sends nothing and the next loan writes the same message") {
        REQUIRE(r.ring.loan(p));
        r.ring.cancel(p);
        CHECK(r.ring.try_pop(c, m).status == status::empty);
        REQUIRE(r.ring.try_push(p, msg::make(6)));
        REQUIRE(r.ring.try_pop(c, m));
        CHECK(m.seq == 6);
    }
    SUBCASE("a second live publisher is refused") {
        ring_t::publisher q;
        CHECK_FALSE(r.ring.open_publisher(q, ec));
        CHECK(ec == ipc::errc::in_use);
        CHECK(r.ring.publisher_status() == ring_t::publisher_state::live);
        r.ring.close_publisher(p);
        CHECK(r.ring.publisher_status() == ring_t::publisher_state::left);
        ec.clear();
        CHECK(r.ring.open_publisher(q, ec));
    }
}

TEST_CASE("broadcast block: 4 and 16 subscriber processes each see every message exactly once, in order") {
    // 64 slots: every tail stored; 1024: tails stored every 16 messages (and on catching up).
    for (const auto& shape : {std::pair{4u, 64u}, std::pair{16u, 64u}, std::pair{4u, 1024u}}) {
        const std::uint32_t n = shape.first, capacity = shape.second;
        INFO("subscribers: " << n << ", capacity: " << capacity);
        shared_ring r({capacity, n, slow_policy::block, 0});
        shared_board sb;
        auto subs = subscriber_processes(r.ring, *sb.b, n, [&](ring_t::subscriber& s, std::uint32_t i) {
            // Some subscribers pause now and then: the publisher must wait for them.
            return read_all(r.ring, s, *sb.b, static_cast<int>(i), slow_policy::block, i % 3 == 0 ? 200us : 0us);
        });
        wait_ready(*sb.b, n);
        auto p = open_pub(r.ring);
        const std::uint64_t total = 20000;
        publish(r.ring, p, total, *sb.b);
        for (std::uint32_t i = 0; i < n; ++i) {
            CHECK(subs[i].wait() == 0);
            CHECK(sb.b->delivered[i].load() == total);
        }
    }
}

TEST_CASE("broadcast block, tails published lazily: the publisher sees a reader's progress every capacity/64 messages and once it finds nothing new, and never overwrites an unread message") {
    // 256 slots: a tail is stored every 4 messages. Two subscribers; b keeps
    // up, a reads in steps, so the room the publisher sees is a's.
    shared_ring r({256, 2, slow_policy::block, 0});
    auto p = open_pub(r.ring);
    ring_t::subscriber a, b;
    std::error_code ec;
    REQUIRE(r.ring.subscribe(a, 0, ec));
    REQUIRE(r.ring.subscribe(b, 0, ec));
    msg m;
    const auto push_all = [&] {
        std::uint64_t n = 0;
        while (r.ring.try_push(p, msg::make(p.head))) ++n;
        return n;
    };
    const auto drain_b = [&] {
        while (r.ring.try_pop(b, m)) {}
    };
    CHECK(push_all() == 256);
    drain_b();
    std::uint64_t expect = 0;
    const auto read_a = [&](std::uint64_t n) {
        for (std::uint64_t i = 0; i < n; ++i) {
            auto rd = r.ring.try_pop(a, m);
            REQUIRE(rd);
            REQUIRE(m.check());
            REQUIRE(m.seq == expect);
            REQUIRE(rd.missed == 0);
            ++expect;
        }
    };
    read_a(3);  // not yet on a boundary, more to read: not published
    CHECK_FALSE(r.ring.can_push(p));
    CHECK(push_all() == 0);
    read_a(1);  // tail 4: published
    CHECK(push_all() == 4);
    drain_b();
    read_a(6);  // tail 10: 8 published
    CHECK(push_all() == 4);
    drain_b();
    read_a(256 - 10 + 4 + 4);
    CHECK(r.ring.try_pop(a, m).status == status::empty);
    CHECK(push_all() == 256);
    drain_b();
    read_a(256);
    // In place too: the tail is published once the in-place read is released.
    CHECK(push_all() == 256);
    drain_b();
    auto f = r.ring.front(a);
    REQUIRE(f);
    CHECK(f.ptr->seq == expect);
    CHECK(push_all() == 0);  // the message being read is never written over
    CHECK(r.ring.release(a));
    ++expect;
    CHECK(push_all() == 0);  // tail expect, not on a boundary: not published
    read_a(3);
    CHECK(push_all() == 4);

    // A read that finds nothing new publishes all it read, on a boundary or not.
    shared_ring q({256, 1, slow_policy::block, 0});
    auto qp = open_pub(q.ring);
    ring_t::subscriber c;
    REQUIRE(q.ring.subscribe(c, 0, ec));
    for (std::uint64_t i = 0; i < 6; ++i) REQUIRE(q.ring.try_push(qp, msg::make(i)));
    for (std::uint64_t i = 0; i < 6; ++i) REQUIRE(q.ring.try_pop(c, m));
    const auto listed_lag = [&] {
        std::uint64_t lag = ~std::uint64_t{0};
        (void)q.ring.for_each_subscriber([&](const ring_t::subscriber_info& i) { lag = i.lag; });
        return lag;
    };
    CHECK(listed_lag() == 2);  // 6 read, 4 published
    CHECK(q.ring.try_pop(c, m).status == status::empty);
    CHECK(listed_lag() == 0);
    std::uint64_t room = 0;
    while (q.ring.try_push(qp, msg::make(qp.head))) ++room;
    CHECK(room == 256);
}

TEST_CASE("broadcast: subscribers join, leave and are SIGKILLed mid-stream under each policy; dead ones never hold the publisher") {
    for (auto policy : {slow_policy::block, slow_policy::overwrite, slow_policy::drop_slowest}) {
        INFO(ipc::ring::slow_policy_name(static_cast<std::uint64_t>(policy)));
        const std::uint32_t n = 8;
        shared_ring r({32, n, policy, 0});
        shared_board sb;
        auto p = open_pub(r.ring);
        std::vector<child> subs;
        const auto pub_some = [&](std::uint64_t k) {
            const auto give_up = clock_type::now() + 20s;
            for (std::uint64_t i = 0; i < k;) {
                if (r.ring.try_push(p, msg::make(p.head))) {
                    ++i;
                } else {
                    if (clock_type::now() >= give_up) FAIL("no progress in time");
                    std::this_thread::yield();
                }
            }
        };
        // 0..3 read to the end; 4, 5 stall at once and are killed; 6 leaves
        // cleanly after 50 messages; 7 joins late.
        const auto start = [&](int i) {
            subs.push_back(subscriber_process(r.ring, *sb.b, [&, i](ring_t::subscriber& s) {
                if (i == 4 || i == 5)
                    for (;;) std::this_thread::sleep_for(1ms);
                if (i == 6) {
                    msg m;
                    const auto give_up = clock_type::now() + 20s;
                    for (std::uint64_t got = 0; got < 50;) {
                        const auto rd = r.ring.try_pop(s, m);
                        if (rd) ++got;
                        else if (rd.status == status::dropped || sb.b->done.load()) break;  // dropped, or lapped to the end
                        else if (clock_type::now() > give_up) return timed_out_reading;
                    }
                    r.ring.unsubscribe(s);
                    return 0;
                }
                return read_all(r.ring, s, *sb.b, i, policy);
            }));
        };
        for (int i = 0; i < 7; ++i) start(i);
        wait_ready(*sb.b, 7);
        std::uint64_t pushed = 0;
        for (int i = 0; i < 200 && r.ring.try_push(p, msg::make(p.head)); ++i) ++pushed;
        // block: the stalled ones hold the ring until they are killed; the others never wait.
        CHECK(pushed == (policy == slow_policy::block ? 32u : 200u));
        ::kill(subs[4].pid(), SIGKILL);
        ::kill(subs[5].pid(), SIGKILL);
        CHECK(subs[4].wait() == -SIGKILL);
        CHECK(subs[5].wait() == -SIGKILL);
        pub_some(3000);  // block: goes on once the dead are reaped
        start(7);
        wait_ready(*sb.b, 8);
        pub_some(3000);
        sb.b->total.store(p.head);
        sb.b->done.store(1);
        for (int i : {0, 1, 2, 3, 6, 7}) CHECK(subs[static_cast<std::size_t>(i)].wait() == 0);
        if (policy == slow_policy::block) {
            CHECK(sb.b->delivered[7].load() >= 3000);
        } else if (policy == slow_policy::overwrite) {
            for (int i : {0, 1, 2, 3, 7}) CHECK(sb.b->delivered[i].load() + sb.b->missed[i].load() == (i == 7 ? 3000u : p.head));
        } else {
            for (int i : {0, 1, 2, 3, 7})
                if (!sb.b->dropped_seen[i].load()) CHECK(sb.b->delivered[i].load() == (i == 7 ? 3000u : p.head));
        }
        (void)r.ring.reap();  // those that ended without unsubscribing (and, but under block, the killed)
        CHECK(r.ring.for_each_subscriber([](const ring_t::subscriber_info&) {}) == 0);
    }
}

TEST_CASE("broadcast overwrite: the publisher never waits; lapped subscribers are told exactly how many they missed, never a torn message") {
    const std::uint32_t n = 4;
    shared_ring r({16, n, slow_policy::overwrite, 0});
    shared_board sb;
    auto subs = subscriber_processes(r.ring, *sb.b, n, [&](ring_t::subscriber& s, std::uint32_t i) {
        if (i == 0) {
            // In place: release() says whether what was read was intact.
            std::uint64_t expect = 0, delivered = 0, missed = 0;
            const auto give_up = clock_type::now() + 20s;
            while (!(sb.b->done.load() && expect == sb.b->total.load())) {
                if (clock_type::now() > give_up) return timed_out_reading;
                auto f = r.ring.front(s);
                if (!f) continue;
                const msg copy = *f.ptr;
                if (f.seq != expect + f.missed) return out_of_order;
                missed += f.missed;
                expect = f.seq + 1;
                if (r.ring.release(s)) {
                    if (!copy.check() || copy.seq != f.seq) return torn;
                    ++delivered;
                } else {
                    ++missed;  // counted by the ring too
                }
            }
            if (s.missed != missed) return wrong_missed;
            sb.b->delivered[i].store(delivered);
            sb.b->missed[i].store(missed);
            return 0;
        }
        return read_all(r.ring, s, *sb.b, static_cast<int>(i), slow_policy::overwrite, i == 1 ? 300us : 0us);
    });
    wait_ready(*sb.b, n);
    auto p = open_pub(r.ring);
    const std::uint64_t total = 100000;
    const auto t0 = clock_type::now();
    for (std::uint64_t i = 0; i < total; ++i) REQUIRE(r.ring.try_push(p, msg::make(p.head)));  // never full
    CHECK(clock_type::now() - t0 < 10s);
    sb.b->total.store(p.head);
    sb.b->done.store(1);
    std::uint64_t lapped = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
        CHECK(subs[i].wait() == 0);
        CHECK(sb.b->delivered[i].load() + sb.b->missed[i].load() == total);  // each message delivered or reported missed
        lapped += sb.b->missed[i].load();
    }
    CHECK(sb.b->missed[1].load() > 0);  // the one that pauses was lapped (a 16-slot ring, 300us pauses)
    CHECK(lapped > 0);
}

TEST_CASE("broadcast drop_slowest: a stalled subscriber is dropped and told so; the others see everything") {
    const std::uint32_t n = 4;
    shared_ring r({32, n, slow_policy::drop_slowest, 0});
    shared_board sb;
    auto subs = subscriber_processes(r.ring, *sb.b, n, [&](ring_t::subscriber& s, std::uint32_t i) {
        if (i == 0) {
            // Reads one message (unless dropped already: a slow start
            // under a sanitizer), then stalls until the publisher is done.
            msg m;
            const auto give_up = clock_type::now() + 20s;
            status st;
            while ((st = r.ring.try_pop(s, m).status) == status::empty)
                if (clock_type::now() > give_up) return timed_out_reading;
            while (!sb.b->done.load())
                if (clock_type::now() > give_up) return timed_out_reading;
                else std::this_thread::sleep_for(1ms);
            if (st != status::dropped) st = r.ring.try_pop(s, m).status;
            if (st != status::dropped) return not_all;
            r.ring.unsubscribe(s);
            std::error_code ec;
            if (!r.ring.subscribe(s, 0, ec)) return subscribe_failed;  // and may come back
            return 0;
        }
        return read_all(r.ring, s, *sb.b, static_cast<int>(i), slow_policy::block);  // paced: never dropped
    });
    wait_ready(*sb.b, n);
    auto p = open_pub(r.ring);
    // Paced so that the others never fall half a ring behind (a subscriber
    // descheduled for long is rightly dropped too): only the stalled one is.
    const std::uint64_t total = 5000;
    const auto give_up = clock_type::now() + 20s;
    for (std::uint64_t i = 0; i < total;) {
        std::uint64_t least = UINT64_MAX;
        for (std::uint32_t k = 1; k < n; ++k) least = std::min(least, sb.b->delivered[k].load());
        if (p.head - least < 16 && r.ring.try_push(p, msg::make(p.head))) ++i;
        else if (clock_type::now() >= give_up) FAIL("no progress in time");
    }
    sb.b->total.store(p.head);
    sb.b->done.store(1);
    CHECK(subs[0].wait() == 0);
    for (std::uint32_t i = 1; i < n; ++i) {
        CHECK(subs[i].wait() == 0);
        CHECK(sb.b->delivered[i].load() == total);
    }
    CHECK(r.ring.dropped() >= 1);
}

TEST_CASE("broadcast: a SIGKILLed subscriber is reaped under every policy") {
    for (auto policy : {slow_policy::block, slow_policy::overwrite, slow_policy::drop_slowest}) {
        INFO(ipc::ring::slow_policy_name(static_cast<std::uint64_t>(policy)));
        shared_ring r({8, 2, policy, 0});
        shared_board sb;
        child victim = subscriber_process(r.ring, *sb.b, [](ring_t::subscriber&) -> int {
            for (;;) std::this_thread::sleep_for(1ms);
        });
        wait_ready(*sb.b, 1);
        ::kill(victim.pid(), SIGKILL);
        CHECK(victim.wait() == -SIGKILL);
        auto p = open_pub(r.ring);
        std::this_thread::sleep_for(2ms);  // a peer check is due
        const auto give_up = clock_type::now() + 5s;
        for (int i = 0; i < 100;)
            if (r.ring.try_push(p, msg::make(p.head))) ++i;
            else if (clock_type::now() >= give_up) FAIL("no progress in time");
        (void)r.ring.reap();
        // Both entries are free again: the dead one's place can be taken.
        ring_t::subscriber a, b;
        std::error_code ec;
        CHECK(r.ring.subscribe(a, ec));
        CHECK(r.ring.subscribe(b, ec));
    }
}

TEST_CASE("broadcast: a publisher killed mid-stream is reported dead; a restarted one carries on from the region's head") {
    shared_ring r({16, 4, slow_policy::block, 0});
    shared_board sb;
    ring_t::subscriber s;
    std::error_code ec;
    REQUIRE(r.ring.subscribe(s, ec));
    std::uint64_t expect = 0;
    msg m;
    const auto drain = [&] {
        for (;;) {
            auto rd = r.ring.try_pop(s, m);
            if (!rd) return;
            REQUIRE(m.check());
            REQUIRE(m.seq == expect);  // no gap, no repeat across the restarts
            REQUIRE(rd.missed == 0);
            ++expect;
        }
    };
    std::mt19937 rng(42);
    for (int round = 0; round < 20; ++round) {
        child pub([&] {
            ring_t::publisher p;
            std::error_code e;
            if (!r.ring.open_publisher(p, e)) return subscribe_failed;
            sb.b->ready.store(1);
            for (;;) {
                if (msg* slot = r.ring.loan(p)) {
                    *slot = msg::make(p.head);
                    r.ring.commit(p);
                }
            }
        });
        const auto give_up = clock_type::now() + 10s;
        while (sb.b->ready.load() == 0) if (clock_type::now() >= give_up) FAIL("no progress in time");
        sb.b->ready.store(0);
        for (unsigned k = rng() % 200; k > 0; --k) {
            drain();
            std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20));
        }
        ::kill(pub.pid(), SIGKILL);
        CHECK(pub.wait() == -SIGKILL);
        CHECK(r.ring.publisher_status() == ring_t::publisher_state::dead);
        drain();
    }
    CHECK(expect > 20);
}

TEST_CASE("broadcast: 1000 subscribers, with no compile-time cap; the 1001st is refused with the limit") {
    shared_ring r({64, 1000, slow_policy::block, 0});
    std::vector<ring_t::subscriber> subs(1000);
    std::error_code ec;
    // Four processes hold 250 each.
    shared_board sb;
    std::vector<child> kids;
    for (int k = 0; k < 4; ++k)
        kids.emplace_back([&, k] {
            std::vector<ring_t::subscriber> mine(250);
            std::error_code e;
            for (auto& s : mine)
                if (!r.ring.subscribe(s, e)) return subscribe_failed;
            sb.b->ready.fetch_add(1);
            std::vector<std::uint64_t> expect(mine.size(), 0);
            const auto give_up = clock_type::now() + 20s;
            for (std::uint64_t least = 0; !(sb.b->done.load() && least == sb.b->total.load());) {
                if (clock_type::now() > give_up) return timed_out_reading;
                msg m;
                least = UINT64_MAX;
                for (std::size_t i = 0; i < mine.size(); ++i) {
                    auto rd = r.ring.try_pop(mine[i], m);
                    if (rd.status != status::empty && (!rd || m.seq != expect[i]++ || !m.check())) return out_of_order;
                    least = std::min(least, expect[i]);
                }
            }
            sb.b->delivered[k].store(expect[0]);
            return 0;
        });
    wait_ready(*sb.b, 4);
    ring_t::subscriber extra;
    CHECK_FALSE(r.ring.subscribe(extra, ec));
    CHECK(ec == ipc::errc::limit_exceeded);
    CHECK(words(ec).find("1000") != std::string::npos);
    auto p = open_pub(r.ring);
    publish(r.ring, p, 2000, *sb.b);
    for (int k = 0; k < 4; ++k) {
        CHECK(kids[static_cast<std::size_t>(k)].wait() == 0);
        CHECK(sb.b->delivered[k].load() == 2000);
    }
}

TEST_CASE("broadcast: a corrupted control or table is refused, or bounded") {
    shared_ring r({16, 4, slow_policy::block, 2});
    std::error_code ec;
    auto& c = r.ctl();
    SUBCASE("lying counts and offsets are refused on attach") {
        for (int lie = 0; lie < 5; ++lie) {
            const auto max = c.ends.max_subscribers;
            const auto off = c.table_offset;
            const auto hist = c.ends.history;
            const auto slow = c.ends.slow;
            auto& h = ipc::ring::state_of<ring_t>(r.span())->hdr;
            const auto cap = h.capacity;
            switch (lie) {
            case 0: c.ends.max_subscribers = 1u << 30; break;  // a table far outside the region
            case 1: c.table_offset = 1u << 20; break;
            case 2: c.ends.history = 16; break;
            case 3: c.ends.slow = 0; break;
            case 4: h.capacity = 1u << 20; break;
            }
            ec.clear();
            auto a = ring_t::attach(r.span(), ec);
            CHECK_MESSAGE(ec == ipc::errc::corrupt, lie);
            CHECK_FALSE(a.valid());
            c.ends.max_subscribers = max;
            c.table_offset = off;
            c.ends.history = hist;
            c.ends.slow = slow;
            h.capacity = cap;
        }
        ec.clear();
        CHECK(ring_t::attach(r.span(), ec).valid());
    }
    SUBCASE("lying indices, versions and table entries are bounded") {
        auto p = open_pub(r.ring);
        ring_t::subscriber s;
        REQUIRE(r.ring.subscribe(s, ec));
        c.ends.used.store(UINT32_MAX);  // scans stop at the table this view checked
        c.head.store(UINT64_MAX - 3);
        auto* slots = reinterpret_cast<ipc::ring::versioned_slot<msg>*>(r.mem + ring_t::data_offset);
        for (int i = 0; i < 16; ++i) slots[i].version.store(UINT64_MAX - static_cast<std::uint64_t>(i));  // every slot "lapped"
        msg m;
        auto rd = r.ring.try_pop(s, m);
        CHECK(rd.status == status::empty);  // gives up after a bounded number of steps
        for (int i = 0; i < 100; ++i) (void)r.ring.try_push(p, msg::make(static_cast<std::uint64_t>(i)));
        (void)r.ring.reap();
        (void)r.ring.for_each_subscriber([](const ring_t::subscriber_info& i) { CHECK(i.lag <= 16); });
        ring_t::subscriber t;
        ec.clear();
        (void)r.ring.subscribe(t, ec);  // no crash, whatever it finds
    }
    SUBCASE("ipc-ls's description reads only the table entries inside the region given, whatever the control says") {
        ring_t::subscriber s1, s2;
        REQUIRE(r.ring.subscribe(s1, ec));
        REQUIRE(r.ring.subscribe(s2, ec));
        struct rows_seen {
            std::uint64_t entry[8];
            std::size_t n = 0;
        } seen;
        auto describe = [&](std::size_t bytes) {
            seen.n = 0;
            ipc::ring::description d;
            d.row_context = &seen;
            d.on_row = [](void* context, const ipc::ring::description::row& row) noexcept {
                auto& s = *static_cast<rows_seen*>(context);
                if (s.n < std::size(s.entry)) s.entry[s.n++] = row.fields[0].number;
            };
            REQUIRE(ring_t::describe({r.mem, bytes}, ipc::ring::state_of<ring_t>(r.span())->hdr, d));
            for (std::size_t i = 0; i < d.field_count; ++i)
                if (d.fields[i].name == "entries_not_shown") return d.fields[i].number;
            return std::uint64_t{0};
        };
        const std::uint64_t table_at = ring_t::data_offset + c.table_offset;
        CHECK(describe(r.size) == 0);
        CHECK(seen.n == 2);
        CHECK((seen.entry[0] == 0 && seen.entry[1] == 1));
        // The region cut inside the second entry: the first is read, the second is not.
        CHECK(describe(table_at + sizeof(ipc::ring::subscriber_entry) + 8) == 1);
        CHECK((seen.n == 1 && seen.entry[0] == 0));
        // A table far larger than the region: only what it holds is read (all free but the two).
        c.ends.used.store(UINT32_MAX);
        c.ends.max_subscribers = UINT32_MAX;
        CHECK(describe(r.size) == UINT32_MAX - (r.size - table_at) / sizeof(ipc::ring::subscriber_entry));
        CHECK(seen.n == 2);
        c.ends.used.store(2);
        c.ends.max_subscribers = 4;
        // A table offset past the region, or not on an entry's alignment: nothing is read.
        for (std::uint64_t lie : {std::uint64_t{1} << 40, UINT64_MAX, c.table_offset + 8}) {
            const std::uint64_t off = c.table_offset;
            c.table_offset = lie;
            CHECK(describe(r.size) == 2);
            CHECK(seen.n == 0);
            c.table_offset = off;
        }
    }
}

TEST_CASE("broadcast overwrite, in one process: release() reports a message written over while it was read; a lapped reader is told the exact count") {
    shared_ring r({4, 2, slow_policy::overwrite, 0});
    auto p = open_pub(r.ring);
    ring_t::subscriber s;
    std::error_code ec;
    REQUIRE(r.ring.subscribe(s, ec));
    REQUIRE(r.ring.try_push(p, msg::make(0)));
    auto f = r.ring.front(s);
    REQUIRE(f);
    CHECK(f.ptr->seq == 0);
    for (std::uint64_t i = 1; i <= 4; ++i) REQUIRE(r.ring.try_push(p, msg::make(i)));  // 4 goes where 0 is
    CHECK_FALSE(r.ring.release(s));
    CHECK(s.missed == 1);
    msg m;
    auto rd = r.ring.try_pop(s, m);
    REQUIRE(rd);
    CHECK(m.seq == 1);
    CHECK(rd.missed == 0);
    for (std::uint64_t i = 5; i < 15; ++i) REQUIRE(r.ring.try_push(p, msg::make(i)));
    rd = r.ring.try_pop(s, m);
    REQUIRE(rd);
    // Lapped at 2: it starts again half a ring behind the head (15 - 2), told of 2..12.
    CHECK(rd.seq == 13);
    CHECK(m.seq == 13);
    CHECK(rd.missed == 11);
    CHECK(s.missed == 12);
    bool seen = false;
    (void)r.ring.for_each_subscriber([&](const ring_t::subscriber_info& i) {
        seen = true;
        CHECK(i.missed == 12);
        CHECK(i.lag == 1);
    });
    CHECK(seen);
}

TEST_CASE("broadcast history: joiners under a running publisher get at most the last K (told of any written over while they joined), then every message") {
    shared_ring r({64, 4, slow_policy::block, 8});
    shared_board sb;
    child pub([&] {
        ring_t::publisher p;
        std::error_code e;
        if (!r.ring.open_publisher(p, e)) return subscribe_failed;
        const auto give_up = clock_type::now() + 20s;
        while (!sb.b->done.load() && clock_type::now() < give_up)
            if (!r.ring.try_push(p, msg::make(p.head))) std::this_thread::yield();
        return 0;
    });
    for (int round = 0; round < 30; ++round) {
        ring_t::subscriber s;
        std::error_code ec;
        const std::uint64_t before = r.ring.head();
        REQUIRE(r.ring.subscribe(s, ec));
        const std::uint64_t after = r.ring.head();
        std::uint64_t expect = UINT64_MAX;
        const auto give_up = clock_type::now() + 10s;
        for (int got = 0; got < 300;) {
            msg m;
            const auto rd = r.ring.try_pop(s, m);
            if (!rd) {
                if (rd.status != status::empty) FAIL("dropped or unsubscribed under block");
                if (clock_type::now() >= give_up) FAIL("no progress in time");
                continue;
            }
            REQUIRE(m.check());
            // Only history can be missed: written over while it joined (and it is told).
            if (rd.missed) REQUIRE(m.seq <= after);
            if (expect == UINT64_MAX) CHECK(m.seq + 8 >= before);  // history: the last 8 at most
            else REQUIRE(m.seq == expect + rd.missed);
            expect = m.seq + 1;
            ++got;
        }
        r.ring.unsubscribe(s);
    }
    sb.b->done.store(1);
    CHECK(pub.wait() == 0);
}
