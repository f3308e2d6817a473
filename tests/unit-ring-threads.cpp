// The ring algorithms between threads of one process, where ThreadSanitizer
// can see every access (it cannot follow memory shared between processes).
// Build with -fsanitize=thread to check the memory ordering.
#include <ipc/ring/bytes.hpp>
#include <ipc/ring/mpmc.hpp>
#include <ipc/ring/spsc.hpp>
#include <ipc/sync/eventfd.hpp>
#include <ipc/sync/futex.hpp>
#include <ipc/sync/posix_sem.hpp>
#include <ipc/sync/sysv_sem.hpp>
#include <ipc/transport/memfd.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace {

struct region {
    template <class Ring>
    Ring make(std::uint64_t capacity) {
        const std::size_t n = ipc::ring::required_size<Ring>(capacity);
        mem.reset(static_cast<std::byte*>(std::aligned_alloc(64, n)));
        std::error_code ec;
        Ring r = ipc::ring::format<Ring>({mem.get(), n}, capacity, ec);
        REQUIRE_FALSE(ec);
        return r;
    }
    std::unique_ptr<std::byte, decltype([](std::byte* p) { std::free(p); })> mem;
};

std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15ULL;
    return x ^ (x >> 29);
}

struct msg {
    std::uint32_t producer;
    std::uint32_t pad;
    std::uint64_t seq;
    std::uint64_t check;
};

constexpr std::uint64_t count = 200000;

}  // namespace

TEST_CASE("ring threads: spsc delivers every message once, in order, through many laps") {
    region reg;
    auto ring = reg.make<ipc::ring::spsc<msg>>(64);
    std::thread producer([ring]() mutable {
        for (std::uint64_t i = 0; i < count;) {
            if (i % 2) {
                if (ring.try_push(msg{0, 0, i, mix(i)})) ++i;
                else std::this_thread::yield();
            } else if (msg* slot = ring.loan()) {  // the zero-copy path
                *slot = msg{0, 0, i, mix(i)};
                ring.commit();
                ++i;
            } else {
                std::this_thread::yield();
            }
        }
    });
    std::uint64_t bad = 0;
    for (std::uint64_t i = 0; i < count;) {
        if (i % 3 == 0) {
            if (const msg* m = ring.front()) {
                bad += m->seq != i || m->check != mix(i);
                ring.release();
                ++i;
            } else {
                std::this_thread::yield();
            }
        } else {
            msg m{};
            if (ring.try_pop(m)) {
                bad += m.seq != i || m.check != mix(i);
                ++i;
            } else {
                std::this_thread::yield();
            }
        }
    }
    producer.join();
    CHECK(bad == 0);
    msg m{};
    CHECK_FALSE(ring.try_pop(m));
}

TEST_CASE("ring threads: spsc batches move up to n at once") {
    region reg;
    auto ring = reg.make<ipc::ring::spsc<std::uint64_t>>(16);
    std::thread producer([ring]() mutable {
        std::uint64_t next = 0;
        std::uint64_t batch[7];
        while (next < count) {
            std::size_t n = 0;
            for (; n < 7 && next + n < count; ++n) batch[n] = next + n;
            const std::size_t k = ring.push_n({batch, n});
            if (k == 0) std::this_thread::yield();
            next += k;
        }
    });
    std::uint64_t expect = 0, bad = 0;
    std::uint64_t out[5];
    while (expect < count) {
        const std::size_t n = ring.pop_n(out);
        if (n == 0) std::this_thread::yield();
        bad += n > 5;
        for (std::size_t k = 0; k < n; ++k) bad += out[k] != expect++;
    }
    producer.join();
    CHECK(bad == 0);
}

TEST_CASE("ring threads: mpmc gives each message to exactly one consumer, in order per producer") {
    region reg;
    auto ring = reg.make<ipc::ring::mpmc<msg>>(32);
    constexpr unsigned producers = 3, consumers = 3;
    constexpr std::uint64_t each = count / 4;
    std::vector<std::thread> threads;
    for (unsigned p = 0; p < producers; ++p)
        threads.emplace_back([ring, p]() mutable {
            for (std::uint64_t i = 0; i < each;)
                if (ring.try_push(msg{p, 0, i, mix(i + p)})) ++i;
                else std::this_thread::yield();
        });
    std::atomic<std::uint64_t> taken{0};
    std::vector<std::vector<std::uint64_t>> seen(consumers, std::vector<std::uint64_t>(producers, 0));
    std::atomic<std::uint64_t> bad{0};
    std::vector<std::atomic<std::uint8_t>> delivered(producers * each);  // a second delivery is caught here
    for (unsigned c = 0; c < consumers; ++c)
        threads.emplace_back([&, ring, c]() mutable {
            std::vector<std::uint64_t> next(producers, 0);  // per producer: seq must only grow
            while (taken.load() < producers * each) {
                msg m{};
                if (!ring.try_pop(m)) {
                    std::this_thread::yield();
                    continue;
                }
                taken.fetch_add(1);
                if (m.producer >= producers || m.check != mix(m.seq + m.producer) || m.seq < next[m.producer]) ++bad;
                else if (delivered[m.producer * each + m.seq].exchange(1) != 0) ++bad;
                else next[m.producer] = m.seq + 1;
                ++seen[c][m.producer];
            }
        });
    for (auto& t : threads) t.join();
    CHECK(bad.load() == 0);
    for (unsigned p = 0; p < producers; ++p) {
        std::uint64_t total = 0;
        for (unsigned c = 0; c < consumers; ++c) total += seen[c][p];
        CHECK(total == each);  // and none twice (above): none lost
    }
}

TEST_CASE("ring threads: byte records of every size arrive whole across the wrap-around") {
    region reg;
    auto ring = reg.make<ipc::ring::bytes>(1024);
    const std::size_t max = ring.max_record();
    CHECK(max == 504);
    auto size_of = [max](std::uint64_t i) { return static_cast<std::size_t>(mix(i) % (max + 1)); };
    std::thread producer([ring, size_of]() mutable {
        std::vector<std::byte> buf;
        std::error_code ec;
        for (std::uint64_t i = 0; i < count / 4;) {
            const std::size_t n = size_of(i);
            std::byte* p = ring.loan(n, ec);
            if (!p) {
                std::this_thread::yield();
                continue;
            }
            for (std::size_t k = 0; k < n; ++k) p[k] = static_cast<std::byte>(i + k);
            ring.commit(n);
            ++i;
        }
    });
    std::uint64_t bad = 0;
    std::vector<std::byte> buf(max);
    std::error_code ec;
    for (std::uint64_t i = 0; i < count / 4;) {
        auto n = ring.try_pop(buf, ec);
        if (ec) break;
        if (!n) {
            std::this_thread::yield();
            continue;
        }
        bad += *n != size_of(i);
        for (std::size_t k = 0; k < *n; ++k) bad += buf[k] != static_cast<std::byte>(i + k);
        ++i;
    }
    producer.join();
    CHECK_FALSE(ec);
    CHECK(bad == 0);
}

TEST_CASE("ring: full and empty edges") {
    region reg;
    SUBCASE("spsc") {
        auto ring = reg.make<ipc::ring::spsc<int>>(4);
        int v = 0;
        CHECK_FALSE(ring.can_pop());
        CHECK_FALSE(ring.try_pop(v));
        for (int i = 0; i < 4; ++i) CHECK(ring.try_push(i));
        CHECK_FALSE(ring.can_push());
        CHECK_FALSE(ring.try_push(99));
        CHECK(ring.loan() == nullptr);
        CHECK(ring.size() == 4);
        CHECK(ring.try_pop(v));
        CHECK(v == 0);
        CHECK(ring.try_push(4));
        for (int i = 1; i <= 4; ++i) {
            CHECK(ring.try_pop(v));
            CHECK(v == i);
        }
        CHECK_FALSE(ring.try_pop(v));
        CHECK(ring.front() == nullptr);
    }
    SUBCASE("mpmc") {
        auto ring = reg.make<ipc::ring::mpmc<int>>(2);
        int v = 0;
        CHECK_FALSE(ring.try_pop(v));
        CHECK(ring.try_push(1));
        CHECK(ring.try_push(2));
        CHECK_FALSE(ring.try_push(3));
        CHECK_FALSE(ring.loan());
        CHECK(ring.try_pop(v));
        CHECK(v == 1);
        CHECK(ring.try_pop(v));
        CHECK(v == 2);
        CHECK_FALSE(ring.front());
    }
    SUBCASE("bytes: a record of max_record always fits an empty ring, one byte more never") {
        auto ring = reg.make<ipc::ring::bytes>(64);
        std::error_code ec;
        const std::size_t max = ring.max_record();
        std::vector<std::byte> big(max + 1), out(max + 1);
        CHECK_FALSE(ring.try_push(big, ec));
        CHECK(ec == ipc::errc::message_too_large);
        for (int lap = 0; lap < 20; ++lap) {  // every head position, each time with the ring empty
            ec.clear();
            const std::size_t n = static_cast<std::size_t>(lap % 3 == 0 ? max : lap % 7);
            REQUIRE(ring.try_push(std::span(big).first(n), ec));
            auto got = ring.try_pop(out, ec);
            REQUIRE(got);
            CHECK(*got == n);
        }
        CHECK(ring.try_push(std::span(big).first(0), ec));  // an empty record is a message too
        auto m = ring.front(ec);
        REQUIRE(m);
        CHECK(m->empty());
        ring.release();
        CHECK_FALSE(ring.front(ec));
        CHECK_FALSE(ec);
        SUBCASE("a record bigger than the receiver's buffer is dropped and reported") {
            REQUIRE(ring.try_push(std::span(big).first(10), ec));
            std::byte small[4];
            CHECK_FALSE(ring.try_pop(small, ec));
            CHECK(ec == ipc::errc::message_too_large);
            ec.clear();
            CHECK_FALSE(ring.try_pop(small, ec));
            CHECK_FALSE(ec);
        }
    }
}

// The wait/notify protocol of each policy between two threads on one
// transport (one mapping, so ThreadSanitizer sees both sides). A tiny ring
// makes both threads park over and over: a lost wake-up would hang until the
// deadline and fail.
TEST_CASE_TEMPLATE("ring threads: no wake-up is lost under any sync policy", Sync, ipc::sync::futex, ipc::sync::posix_sem,
                   ipc::sync::sysv_sem, ipc::sync::eventfd) {
    using transport = ipc::transport::memfd<ipc::ring::spsc<std::uint64_t>>;
    auto t = transport::create(2);
    t.attach(ipc::direction::send);
    t.attach(ipc::direction::recv);
    Sync proto = [] {
        if constexpr (std::is_same_v<Sync, ipc::sync::eventfd>) return ipc::sync::eventfd::create();
        else return Sync{};
    }();
    constexpr std::uint64_t n = 20000;
    const auto dl = ipc::deadline::after(std::chrono::seconds(60));
    std::atomic<bool> failed{false};
    auto run = [&](ipc::direction d, auto op, Sync& sync) {
        std::error_code ec;
        for (std::uint64_t i = 0; i < n && !failed; ++i) {
            while (!op(i, ec)) {
                if (ec != ipc::errc::would_block || (ec.clear(), !sync.wait(t, d, dl, ec))) {
                    failed = true;
                    return;
                }
            }
            sync.notify(t, d);
        }
    };
    std::error_code share_ec;
    Sync other = [&] {  // each side its own policy object, as in two processes
        if constexpr (std::is_same_v<Sync, ipc::sync::eventfd>) return proto.share(share_ec);
        else return Sync{};
    }();
    REQUIRE_FALSE(share_ec);
    std::uint64_t bad = 0;
    std::thread producer([&] {
        run(ipc::direction::send, [&](std::uint64_t i, std::error_code& ec) { return t.try_send_value(i, ec); }, proto);
    });
    run(ipc::direction::recv,
        [&](std::uint64_t i, std::error_code& ec) {
            std::uint64_t v = 0;
            if (!t.try_recv_value(v, ec)) return false;
            bad += v != i;
            return true;
        },
        other);
    producer.join();
    CHECK_FALSE(failed.load());
    CHECK(bad == 0);
}
