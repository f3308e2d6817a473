// The variable-size broadcast ring (ring/broadcast_bytes.hpp) across real
// processes: a publisher and forked subscribers on one anonymous shared
// mapping, under each slow-subscriber policy, with records of 1 byte to
// several KiB. Every record carries its sequence number, its length follows
// from it and every byte from both, so a subscriber checks order, exactly-once
// and intactness by itself and reports through its exit code.
#include <ipc/ring/broadcast_bytes.hpp>
#include <ipc/ring/bytes.hpp>

#include <csignal>
#include <vector>

#include "broadcast_ring_support.hpp"

using namespace ipc_test;
using namespace ipc_test::broadcast_ring;
using ipc::ring::broadcast_options;
using ipc::ring::slow_policy;

namespace {

using ring_t = ipc::ring::broadcast_bytes;
using status = ring_t::read_status;

// Record seq: 8 bytes of seq, then filler; its length is 1 .. max bytes
// (records under 8 bytes carry the seq's low bytes only).
std::size_t length_of(std::uint64_t seq, std::size_t max) { return 1 + (seq * 2654435761u) % max; }
std::byte filler(std::uint64_t seq, std::size_t i) { return static_cast<std::byte>((seq * 131 + i * 7) & 0xff); }
void fill(std::byte* p, std::uint64_t seq, std::size_t n) {
    std::byte s[8];
    std::memcpy(s, &seq, 8);
    for (std::size_t i = 0; i < n; ++i) p[i] = i < 8 ? s[i] : filler(seq, i);
}
// Whether r is record `seq` exactly.
bool is_record(std::span<const std::byte> r, std::uint64_t seq, std::size_t max) {
    if (r.size() != length_of(seq, max)) return false;
    std::byte s[8];
    std::memcpy(s, &seq, 8);
    for (std::size_t i = 0; i < r.size(); ++i)
        if (r[i] != (i < 8 ? s[i] : filler(seq, i))) return false;
    return true;
}

using shared_ring = shared_ring_of<ring_t>;

// The next record's number and length (it must be there, and intact).
std::pair<std::uint64_t, std::size_t> read_one(ring_t& r, ring_t::subscriber& s) {
    const auto rd = r.front(s);
    REQUIRE(rd);
    const std::pair<std::uint64_t, std::size_t> got{rd.seq, rd.data.size()};
    REQUIRE(r.release(s));
    return got;
}

// Child exit codes beyond broadcast_ring_support.hpp's.
constexpr int corrupt_seen = 17, not_dropped = 18;

// Reads (in place) until the publisher's last record. Each record must be
// intact and be the next in sequence, or exactly the missed() it was told of
// after the previous one (which the policy must allow). Exit code.
int read_all(ring_t r, ring_t::subscriber& s, board& b, int me, slow_policy allowed, std::size_t max, std::chrono::microseconds pause = {}) {
    std::uint64_t delivered = 0, reported = s.missed;
    std::uint64_t expect = s.expect;
    const auto give_up = clock_type::now() + 20s;
    for (std::uint64_t n = 0;; ++n) {
        auto rd = r.front(s);
        if (rd.status == status::dropped) return allowed == slow_policy::drop_slowest ? 0 : was_dropped;
        if (rd.status == status::corrupt) return corrupt_seen;
        if (rd) {
            const std::uint64_t seq = rd.seq;
            const bool whole = is_record(rd.data, seq, max);
            if (!r.release(s)) continue;  // written over while read: discarded, counted with the next one
            if (!whole) return torn;
            const std::uint64_t gap = seq - expect;
            if (seq < expect || s.missed - reported != gap) return out_of_order;
            if (gap && allowed == slow_policy::block) return wrong_missed;
            reported = s.missed;
            expect = seq + 1;
            b.delivered[me].store(++delivered, std::memory_order_relaxed);
            b.missed[me].store(s.missed, std::memory_order_relaxed);
            if (pause.count() && n % 64 == 0) std::this_thread::sleep_for(pause);
            continue;
        }
        if (b.done.load(std::memory_order_acquire) && expect == b.total.load()) return 0;
        if (clock_type::now() > give_up) return timed_out_reading;
        std::this_thread::yield();
    }
}

// Publishes n records from the calling process, waiting (bounded) for room.
void publish(ring_t& r, ring_t::publisher& p, std::uint64_t n, board& b, std::size_t max) {
    publish_n(n, [&] {
        const std::size_t len = length_of(p.count, max);
        std::error_code ec;
        std::byte* at = r.loan(p, len, ec);
        REQUIRE_FALSE(ec);
        if (!at) return false;
        fill(at, p.count, len);
        r.commit(p, len);
        return true;
    });
    b.finish(p.count);
}

}  // namespace

TEST_CASE("broadcast_bytes region: options are recorded and checked; a record over the limit is refused naming both") {
    const broadcast_options o{4096, 100, slow_policy::overwrite, 5};
    shared_ring r(o);
    std::error_code ec;
    auto a = ring_t::attach(r.span(), ec);
    REQUIRE_FALSE(ec);
    CHECK(a.options().capacity == 4096);
    CHECK(a.options().max_subscribers == 100);
    CHECK(a.options().slow == slow_policy::overwrite);
    CHECK(a.options().history == 5);
    CHECK(std::string(ipc::ring::kind_name(a.hdr().kind)) == "broadcast_bytes");
    CHECK(ring_t::required_size({4096, 200, slow_policy::block, 0}) > ring_t::required_size(o));
    CHECK(a.max_record() == 4096 / 2 - 16);

    auto p = open_pub(a);
    CHECK(a.loan(p, a.max_record() + 1, ec) == nullptr);
    CHECK(ec == ipc::errc::message_too_large);
    const std::string said = words(ec);  // (read once: reading clears them)
    CHECK(said.find(std::to_string(a.max_record() + 1) + " bytes") != std::string::npos);
    CHECK(said.find("limit of " + std::to_string(a.max_record())) != std::string::npos);
    ec.clear();
    CHECK(a.loan(p, a.max_record(), ec) != nullptr);
    CHECK_FALSE(ec);

    SUBCASE("another ring kind is refused, both ways") {
        auto b = ipc::ring::broadcast<std::uint64_t>::attach(r.span(), ec);
        CHECK(ec == ipc::errc::layout_mismatch);
        CHECK_FALSE(b.valid());
        ec.clear();
        auto m = ipc::ring::attach<ipc::ring::bytes>(r.span(), ec);
        CHECK(ec == ipc::errc::layout_mismatch);
        CHECK(words(ec).find("broadcast_bytes") != std::string::npos);
        CHECK_FALSE(m.valid());
    }
    SUBCASE("invalid options are refused with the value and the limit") {
        shared_mem m(1 << 16);
        (void)ring_t::format(m.span(), {100, 4, slow_policy::block, 0}, ec);
        CHECK(ec == ipc::errc::limit_exceeded);
        CHECK(words(ec).find("100") != std::string::npos);
        ec.clear();
        (void)ring_t::format(m.span(), {1024, 4, slow_policy::block, 64}, ec);
        CHECK(ec == ipc::errc::limit_exceeded);
        CHECK(words(ec).find("history 64") != std::string::npos);
        ec.clear();
        (void)ring_t::format(m.span(), {1024, 0, slow_policy::block, 0}, ec);
        CHECK(ec == ipc::errc::limit_exceeded);
        ec.clear();
        (void)ring_t::format(m.span(), {1024, 4, static_cast<slow_policy>(7), 0}, ec);
        CHECK(ec == ipc::errc::limit_exceeded);
        ec.clear();
        (void)ring_t::format(m.span().first(100), {1024, 4, slow_policy::block, 0}, ec);
        CHECK(ec == ipc::errc::corrupt);
    }
}

TEST_CASE("broadcast_bytes: records of every size in place, across the wrap; late joiners start at the newest or with history") {
    shared_ring r({1024, 8, slow_policy::block, 3});
    auto p = open_pub(r.ring);
    ring_t::subscriber a, b, c;
    std::error_code ec;
    REQUIRE(r.ring.subscribe(a, 0, ec));
    const std::size_t max = 300;
    for (std::uint64_t i = 0; i < 5; ++i) {
        std::vector<std::byte> v(length_of(i, max));
        fill(v.data(), i, v.size());
        REQUIRE(r.ring.try_push(p, v, ec));
    }
    REQUIRE(r.ring.subscribe(b, ec));  // the region's history: the last 3
    REQUIRE(r.ring.subscribe(c, 0, ec));
    for (std::uint64_t i = 0; i < 5; ++i) {
        auto rd = r.ring.front(a);
        REQUIRE(rd);
        CHECK(rd.seq == i);
        CHECK(is_record(rd.data, i, max));
        CHECK(r.ring.release(a));
    }
    CHECK(r.ring.front(a).status == status::empty);
    std::vector<std::byte> buf(max);
    for (std::uint64_t i = 2; i < 5; ++i) {
        auto n = r.ring.try_pop(b, buf, ec);
        REQUIRE(n);
        CHECK(is_record(std::span<const std::byte>(buf).first(*n), i, max));
    }
    CHECK(b.missed == 0);
    CHECK_FALSE(r.ring.can_pop(c));
    // Many laps of the ring, every size from 1 byte to 300: a and c read all.
    for (std::uint64_t i = 5; i < 2000; ++i) {
        std::vector<std::byte> v(length_of(i, max));
        fill(v.data(), i, v.size());
        REQUIRE(r.ring.try_push(p, v, ec));
        for (auto* s : {&a, &b, &c}) {
            auto rd = r.ring.front(*s);
            REQUIRE(rd);
            CHECK(rd.seq == i);
            CHECK(is_record(rd.data, i, max));
            CHECK(r.ring.release(*s));
        }
    }
    CHECK(a.missed + b.missed + c.missed == 0);
    CHECK(r.ring.subscribers() == 3);
    r.ring.unsubscribe(b);
    CHECK(r.ring.front(b).status == status::not_subscribed);
    CHECK(r.ring.subscribers() == 2);
    // Block: a full ring refuses a loan until the slowest subscriber reads.
    std::uint64_t sent = 0;
    for (std::vector<std::byte> v(100); r.ring.try_push(p, v, ec); ++sent) {
    }
    CHECK_FALSE(ec);
    CHECK(sent > 0);
    CHECK(sent <= 1024 / 112);
    ring_t::end_state e;
    e.pub = p;
    CHECK_FALSE(r.ring.can_push(e));
    REQUIRE(r.ring.front(a));
    CHECK(r.ring.release(a));
    CHECK_FALSE(r.ring.can_push(e));  // c still holds it

    SUBCASE("a second live publisher is refused; one that left is replaced and carries the count on") {
        ring_t::publisher q;
        CHECK_FALSE(r.ring.open_publisher(q, ec));
        CHECK(ec == ipc::errc::in_use);
        r.ring.close_publisher(p);
        CHECK(r.ring.publisher_status() == ring_t::publisher_state::left);
        ec.clear();
        REQUIRE(r.ring.open_publisher(q, ec));
        CHECK(q.count == 2000 + sent);
    }
}

TEST_CASE("broadcast_bytes block: 4 subscriber processes each see every record exactly once, in order") {
    const std::uint32_t n = 4;
    const std::size_t max = 3000;
    shared_ring r({32768, n, slow_policy::block, 0});
    shared_board sb;
    auto subs = subscriber_processes(r.ring, *sb.b, n, [&](ring_t::subscriber& s, std::uint32_t i) {
        return read_all(r.ring, s, *sb.b, static_cast<int>(i), slow_policy::block, max, i % 2 ? 200us : 0us);
    });
    wait_ready(*sb.b, n);
    auto p = open_pub(r.ring);
    const std::uint64_t total = 10000;
    publish(r.ring, p, total, *sb.b, max);
    for (std::uint32_t i = 0; i < n; ++i) {
        CHECK(subs[i].wait() == 0);
        CHECK(sb.b->delivered[i].load() == total);
    }
}

TEST_CASE("broadcast_bytes overwrite: a lagging subscriber is told exactly how many it missed and never reads a torn record") {
    const std::uint32_t n = 4;
    const std::size_t max = 2000;
    shared_ring r({4096, n, slow_policy::overwrite, 0});
    shared_board sb;
    auto subs = subscriber_processes(r.ring, *sb.b, n, [&](ring_t::subscriber& s, std::uint32_t i) {
        return read_all(r.ring, s, *sb.b, static_cast<int>(i), slow_policy::overwrite, max, i == 0 ? 0us : 500us);
    });
    wait_ready(*sb.b, n);
    auto p = open_pub(r.ring);
    const std::uint64_t total = 50000;
    publish(r.ring, p, total, *sb.b, max);
    std::uint64_t missed = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
        CHECK(subs[i].wait() == 0);
        CHECK(sb.b->delivered[i].load() + sb.b->missed[i].load() == total);
        missed += sb.b->missed[i].load();
    }
    CHECK(missed > 0);  // the pausing ones were lapped (the publisher never waits)
}

TEST_CASE("broadcast_bytes drop_slowest: a stalled subscriber is dropped and told; the others see everything") {
    const std::size_t max = 200;
    shared_ring r({4096, 4, slow_policy::drop_slowest, 0});
    shared_board sb;
    auto subs = subscriber_processes(r.ring, *sb.b, 2, [&](ring_t::subscriber& s, std::uint32_t i) {
        return read_all(r.ring, s, *sb.b, static_cast<int>(i), slow_policy::block, max);
    });
    // Stalls until the publisher is done, then must hear it was dropped.
    subs.push_back(subscriber_process(r.ring, *sb.b, [&](ring_t::subscriber& s) {
        const auto give_up = clock_type::now() + 20s;
        while (!sb.b->done.load())
            if (clock_type::now() > give_up) return timed_out_reading;
            else std::this_thread::sleep_for(1ms);
        auto rd = r.ring.front(s);
        return rd.status == status::dropped ? 0 : not_dropped;
    }));
    wait_ready(*sb.b, 3);
    auto p = open_pub(r.ring);
    // Paced by the two readers (never more than a quarter ring ahead of
    // them), so only the stalled one can be the slowest a ring behind.
    const auto give_up = clock_type::now() + 20s;
    const std::uint64_t total = 20000, ahead = 4096 / 4 / (max + 16);
    for (std::uint64_t i = 0; i < total;) {
        if (clock_type::now() >= give_up) FAIL("no progress in time");
        if (p.count - sb.b->delivered[0].load() > ahead || p.count - sb.b->delivered[1].load() > ahead) {
            std::this_thread::yield();
            continue;
        }
        std::error_code ec;
        const std::size_t len = length_of(p.count, max);
        std::byte* at = r.ring.loan(p, len, ec);
        REQUIRE(at);
        fill(at, p.count, len);
        r.ring.commit(p, len);
        ++i;
    }
    sb.b->total.store(p.count);
    sb.b->done.store(1, std::memory_order_release);
    for (auto& c : subs) CHECK(c.wait() == 0);
    CHECK(r.ring.dropped() >= 1);
}

TEST_CASE("broadcast_bytes: a SIGKILLed subscriber is reaped under block; a killed publisher is dead and a restarted one carries on") {
    const std::size_t max = 500;
    shared_ring r({2048, 4, slow_policy::block, 0});
    shared_board sb;
    child stalled = subscriber_process(r.ring, *sb.b, [](ring_t::subscriber&) {
        for (;;) std::this_thread::sleep_for(1ms);
        return 0;
    });
    child reader = subscriber_process(r.ring, *sb.b, [&](ring_t::subscriber& s) {
        return read_all(r.ring, s, *sb.b, 0, slow_policy::block, max);  // the publisher's death loses nothing (see the next test)
    });
    wait_ready(*sb.b, 2);
    // A publisher process that is killed mid-stream: the stalled subscriber holds it.
    child first([&] {
        auto p = open_pub(r.ring);
        for (std::uint64_t i = 0;; ++i) {
            std::error_code ec;
            std::byte* at = r.ring.loan(p, length_of(p.count, max), ec);
            if (!at) {
                std::this_thread::yield();
                continue;
            }
            fill(at, p.count, length_of(p.count, max));
            r.ring.commit(p, length_of(p.count, max));
        }
        return 0;
    });
    const auto until = clock_type::now() + 10s;
    while (r.ring.records() < 3 && clock_type::now() < until) std::this_thread::sleep_for(1ms);
    REQUIRE(r.ring.records() >= 3);
    std::this_thread::sleep_for(20ms);
    const std::uint64_t before = r.ring.records();
    CHECK(before < 3 + 2048 / 16);  // held by the stalled subscriber
    ::kill(first.pid(), SIGKILL);
    CHECK(first.wait() == -SIGKILL);
    CHECK(r.ring.publisher_status() == ring_t::publisher_state::dead);
    ::kill(stalled.pid(), SIGKILL);
    CHECK(stalled.wait() == -SIGKILL);
    auto p = open_pub(r.ring);  // takes the dead one's place
    CHECK(p.count >= before);
    publish(r.ring, p, 3000, *sb.b, max);  // reaps the killed subscriber to make room
    CHECK(reader.wait() == 0);
    CHECK(sb.b->delivered[0].load() + sb.b->missed[0].load() == sb.b->total.load());
    CHECK(sb.b->missed[0].load() == 0);
    CHECK(r.ring.reap() == 1);  // the reader, gone without unsubscribing (the stalled one was reaped by the publisher)
    CHECK(r.ring.subscribers() == 0);
}

// A publisher killed inside commit(), after counting its record and before
// announcing it (storing head), made here by putting head back where it was.
TEST_CASE("broadcast_bytes: a publisher killed between counting a record and announcing it costs subscribers nothing") {
    shared_ring r({1024, 2, slow_policy::block, 0});
    auto p = open_pub(r.ring);
    auto s = subscribed(r.ring);
    std::error_code ec;
    const auto push = [&](ring_t::publisher& q, std::size_t len) {
        std::vector<std::byte> v(len, std::byte{static_cast<unsigned char>(q.count)});
        REQUIRE(r.ring.try_push(q, v, ec));
    };
    const auto read = [&] { return read_one(r.ring, s); };
    // The records before it; the one cut short starts right after them, or
    // (padding) at the wrap: 1024 - 2 * 496 bytes are left, and it needs 128.
    std::vector<std::size_t> before{40};
    SUBCASE("right after the last record") {}
    SUBCASE("after padding, at the wrap") { before = {480, 480}; }
    SUBCASE("the very first record") { before = {}; }
    for (std::size_t len : before) push(p, len);
    for (std::size_t i = 0; i < before.size(); ++i) CHECK(read() == std::pair<std::uint64_t, std::size_t>{i, before[i]});
    const std::uint64_t announced = r.ring.head();
    push(p, 100);
    REQUIRE(r.ring.records() == before.size() + 1);
    r.ctl().head.store(announced);  // killed before this store
    r.ring.close_publisher(p);

    auto q = open_pub(r.ring);
    CHECK(q.count == before.size());  // the number of the record no one could read, taken back
    CHECK(r.ring.records() == before.size());
    push(q, 10);
    CHECK(read() == std::pair<std::uint64_t, std::size_t>{before.size(), 10});
    CHECK(s.missed == 0);
}

// Two publisher deaths at the wrap. The first is killed between counting
// record N and announcing it, and that record went after padding at the wrap;
// the next publisher takes N back and writes a shorter record N that exactly
// fills the room before the wrap, then dies (anywhere: even a clean close
// would do). The first one's record N still sits at the wrap, right at head,
// and once read as "a record counted and not announced": a third publisher
// took N back again and subscribers saw N twice. Likewise a shorter record N
// written where a longer one was leaves its payload at head, whose bytes may
// read as record N's header.
TEST_CASE("broadcast_bytes: two publisher deaths never number a record twice, at the wrap or over a longer record's payload") {
    shared_ring r({1024, 2, slow_policy::block, 0});
    auto p = open_pub(r.ring);
    auto s = subscribed(r.ring);
    std::error_code ec;
    const auto push = [&](ring_t::publisher& q, std::vector<std::byte> v) { REQUIRE(r.ring.try_push(q, v, ec)); };
    const auto bytes = [](std::size_t len, std::uint64_t seq) {
        std::vector<std::byte> v(len);
        fill(v.data(), seq, len);
        return v;
    };
    const auto read = [&] { return read_one(r.ring, s); };
    // The first death's record, and the second publisher's shorter one.
    std::vector<std::byte> cut_short, shorter;
    std::vector<std::size_t> before;
    SUBCASE("the first record after padding at the wrap, the second exactly filling the room before it") {
        before = {480, 480};                         // 2 * 496 bytes: 32 left before the wrap
        cut_short = bytes(100, before.size());       // 128 bytes: padding, then the record at the wrap
        shorter = bytes(16, before.size());          // 32 bytes: ends exactly at the wrap
    }
    SUBCASE("the second record shorter, its end inside the first one's payload, which reads as that record's header") {
        before = {40};
        // The payload's first 16 bytes look like the header of record 1 of 0 bytes.
        const std::uint64_t seq = before.size();
        cut_short = std::vector<std::byte>(100);
        std::memcpy(cut_short.data(), &seq, 8);
        shorter = {};  // a 16-byte record: its end is where cut_short's payload starts
    }
    for (std::size_t i = 0; i < before.size(); ++i) push(p, bytes(before[i], i));
    for (std::size_t i = 0; i < before.size(); ++i) CHECK(read() == std::pair<std::uint64_t, std::size_t>{i, before[i]});
    const std::uint64_t announced = r.ring.head();
    push(p, cut_short);
    r.ctl().head.store(announced);  // killed before this store
    r.ring.close_publisher(p);

    auto q = open_pub(r.ring);
    CHECK(q.count == before.size());  // taken back: no one could read it
    push(q, shorter);
    r.ring.close_publisher(q);  // (a death here leaves the same)

    auto third = open_pub(r.ring);
    CHECK(third.count == before.size() + 1);  // the shorter record was announced: its number stays taken
    CHECK(r.ring.records() == before.size() + 1);
    push(third, bytes(30, third.count));
    CHECK(read() == std::pair<std::uint64_t, std::size_t>{before.size(), shorter.size()});
    CHECK(read() == std::pair<std::uint64_t, std::size_t>{before.size() + 1, 30});
    CHECK(s.missed == 0);
    CHECK(r.ring.front(s).status == status::empty);
}

// The same two deaths with real processes: each publisher is a process that
// SIGKILLs itself (the first after putting head back where it was before its
// last record, as a death between the two stores leaves it), and a subscriber
// process reads the stream once they are gone: every number once, no miss.
TEST_CASE("broadcast_bytes: SIGKILLed publishers at the wrap, one after the other: a subscriber process sees each record once") {
    shared_ring r({1024, 2, slow_policy::block, 0});
    shared_board sb;
    std::error_code ec;
    // Records 0 and 1 (2 * 496 bytes: 32 left before the wrap), before anyone subscribes.
    {
        auto p = open_pub(r.ring);
        for (std::uint64_t i = 0; i < 2; ++i) {
            std::vector<std::byte> v(480);
            fill(v.data(), i, v.size());
            REQUIRE(r.ring.try_push(p, v, ec));
        }
        r.ring.close_publisher(p);
    }
    // Starts at record 2 and reads once the publishers are done (its reads
    // must not meet the first one's manufactured head).
    child reader = subscriber_process(r.ring, *sb.b, [&](ring_t::subscriber& s) {
        const auto give_up = clock_type::now() + 20s;
        while (!sb.b->done.load(std::memory_order_acquire)) {
            if (clock_type::now() > give_up) return timed_out_reading;
            std::this_thread::yield();
        }
        std::uint64_t expect = 2;
        while (expect != sb.b->total.load()) {
            const auto rd = r.ring.front(s);
            if (rd.status == status::corrupt) return corrupt_seen;
            if (!rd) {
                if (clock_type::now() > give_up) return timed_out_reading;
                std::this_thread::yield();
                continue;
            }
            std::vector<std::byte> want(rd.data.size());
            fill(want.data(), rd.seq, want.size());
            const bool same = std::equal(want.begin(), want.end(), rd.data.begin());
            if (!r.ring.release(s)) return torn;  // nothing writes while it reads
            if (rd.seq != expect || s.missed != 0) return out_of_order;
            if (!same) return torn;
            sb.b->delivered[0].store(++expect - 2);
        }
        return r.ring.front(s).status == status::empty ? 0 : out_of_order;
    });
    wait_ready(*sb.b, 1);
    const auto publisher = [&](std::size_t len, bool unannounce) {
        return child([&r, len, unannounce] {
            ring_t::publisher p;
            std::error_code e;
            if (!r.ring.open_publisher(p, e) || p.count != 2) return 1;
            const std::uint64_t announced = r.ring.head();
            std::byte* at = r.ring.loan(p, len, e);
            if (!at) return 2;
            fill(at, p.count, len);
            r.ring.commit(p, len);
            if (unannounce) r.ctl().head.store(announced);
            ::raise(SIGKILL);
            return 3;
        });
    };
    child first = publisher(100, true);  // padding, then record 2 at the wrap, unannounced
    CHECK(first.wait() == -SIGKILL);
    child second = publisher(16, false);  // record 2 again, exactly filling the room before the wrap
    CHECK(second.wait() == -SIGKILL);
    CHECK(r.ring.publisher_status() == ring_t::publisher_state::dead);
    auto p = open_pub(r.ring);
    CHECK(p.count == 3);
    for (std::uint64_t i = 0; i < 5; ++i) {
        std::vector<std::byte> v(40 + i);
        fill(v.data(), p.count, v.size());
        REQUIRE(r.ring.try_push(p, v, ec));
    }
    sb.b->finish(p.count);
    CHECK(reader.wait() == 0);
    CHECK(sb.b->delivered[0].load() == 6);
}

TEST_CASE("broadcast_bytes: lying lengths and positions in a corrupted region are refused, never followed") {
    shared_ring r({1024, 2, slow_policy::overwrite, 0});
    auto p = open_pub(r.ring);
    auto s = subscribed(r.ring);
    std::error_code ec;
    std::vector<std::byte> v(40);
    REQUIRE(r.ring.try_push(p, v, ec));
    std::byte* rec = r.span().data() + ring_t::data_offset;  // the first record's header
    const auto set_len = [&](std::uint32_t len) { std::memcpy(rec + 8, &len, 4); };

    SUBCASE("a length past what is committed") {
        set_len(900);
        CHECK(r.ring.front(s).status == status::corrupt);
        auto got = r.ring.try_pop(s, v, ec);
        CHECK_FALSE(got);
        CHECK(ec == ipc::errc::corrupt);
    }
    SUBCASE("a length past the ring") {
        set_len(0xfffffff0u);
        CHECK(r.ring.front(s).status == status::corrupt);
    }
    SUBCASE("a head past the ring and an oldest bound that cannot be") {
        r.ctl().head.store(1u << 20);
        CHECK(r.ring.front(s).status == status::corrupt);
        r.ctl().head.store(56);
        r.ctl().oldest.store(40);  // no record boundary: the subscriber must not jump to it
        CHECK(r.ring.front(s).status == status::corrupt);
    }
    SUBCASE("a restarted publisher refuses a head that is no record boundary") {
        r.ring.close_publisher(p);
        r.ctl().head.store(57);
        ring_t::publisher q;
        CHECK_FALSE(r.ring.open_publisher(q, ec));
        CHECK(ec == ipc::errc::corrupt);
    }
    SUBCASE("a lying attach is refused") {
        r.ctl().table_offset += 128;
        (void)ring_t::attach(r.span(), ec);
        CHECK(ec == ipc::errc::corrupt);
    }
}
