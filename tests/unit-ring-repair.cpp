// What a process killed inside an mpmc ring operation can leave, and how the
// ring gets past it. Each state a SIGKILL can leave is built here exactly
// (an index not yet moved, a claim never finished), then the survivors go on.
// ipc_torture --transport shm_mpmc --crash --kill-all kills real processes at
// random instructions; these cases pin each state down.
#include <ipc/ring/mpmc.hpp>

#include <sys/mman.h>

#include "support.hpp"

using namespace ipc_test;
using ring_t = ipc::ring::mpmc<int>;
using phase = ring_t::phase;

namespace {

// A formatted ring in memory shared with forked children.
struct shared_ring {
    explicit shared_ring(std::uint64_t capacity) : size(ipc::ring::required_size<ring_t>(capacity)) {
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        REQUIRE(p != MAP_FAILED);
        mem = static_cast<std::byte*>(p);
        std::error_code ec;
        ring = ipc::ring::format<ring_t>({mem, size}, capacity, ec);
        REQUIRE_FALSE(ec);
    }
    ~shared_ring() { ::munmap(mem, size); }
    shared_ring(const shared_ring&) = delete;
    shared_ring& operator=(const shared_ring&) = delete;

    // The shared index a claimant moves right after its claim: rewinding it
    // gives the state of a claimant killed between the two.
    std::atomic<std::uint64_t>& head() { return ipc::ring::state_of<ring_t>({mem, size})->ctl.head; }
    std::atomic<std::uint64_t>& tail() { return ipc::ring::state_of<ring_t>({mem, size})->ctl.tail; }

    std::size_t size;
    std::byte* mem = nullptr;
    ring_t ring;
};

constexpr std::uint32_t alice = ipc::ring::owner_word(1, 1), bob = ipc::ring::owner_word(2, 1), carol = ipc::ring::owner_word(3, 1);
auto all_but(std::uint32_t dead) {
    return [dead](std::uint32_t who) { return who != dead; };
}

}  // namespace

TEST_CASE("mpmc repair: a producer killed between its claim and moving the index") {
    shared_ring r(4);
    auto c = r.ring.loan(alice);
    REQUIRE(c);
    *c.ptr = 666;  // half written, never committed
    r.head().store(c.index);

    SUBCASE("other producers move the index on for it") {
        CHECK(r.ring.can_push());
        CHECK(r.ring.try_push(1, bob));
        CHECK(r.ring.inspect(1).ph == phase::full);
    }
    SUBCASE("consumers wait at the dead claim until it is repaired, then never see its content") {
        REQUIRE(r.ring.try_push(1, bob));
        int v = 0;
        CHECK_FALSE(r.ring.can_pop());
        CHECK_FALSE(r.ring.try_pop(v));
        CHECK(r.ring.repair(all_but(alice)) == 1);
        CHECK(r.ring.inspect(0).ph == phase::hole);
        CHECK(r.ring.can_pop());
        REQUIRE(r.ring.try_pop(v, carol));
        CHECK(v == 1);
        CHECK_FALSE(r.ring.try_pop(v));
        CHECK(r.ring.size() == 0);
    }
    SUBCASE("the ring goes on through the repaired slot, lap after lap") {
        CHECK(r.ring.repair(all_but(alice)) == 1);
        for (int i = 0; i < 40; ++i) {
            REQUIRE(r.ring.try_push(i, bob));
            int v = -1;
            REQUIRE(r.ring.try_pop(v, carol));
            CHECK(v == i);
        }
    }
}

TEST_CASE("mpmc repair: a consumer killed holding a message, before moving the index") {
    shared_ring r(2);
    REQUIRE(r.ring.try_push(1, alice));
    REQUIRE(r.ring.try_push(2, alice));
    auto c = r.ring.front(bob);
    REQUIRE(c);
    CHECK(*c.ptr == 1);
    r.tail().store(c.index);

    int v = 0;
    REQUIRE(r.ring.try_pop(v, carol));  // another consumer moves the index on and takes the next
    CHECK(v == 2);
    CHECK_FALSE(r.ring.try_push(3, alice));  // bob's slot is not back yet
    CHECK(r.ring.repair(all_but(bob)) == 1);  // 1 went with bob
    CHECK(r.ring.try_push(3, alice));
    CHECK(r.ring.try_push(4, alice));
    REQUIRE(r.ring.try_pop(v, carol));
    CHECK(v == 3);
    REQUIRE(r.ring.try_pop(v, carol));
    CHECK(v == 4);
}

TEST_CASE("mpmc repair: live claims and claims of unknown owners are never touched") {
    shared_ring r(4);
    auto w = r.ring.loan(alice);
    auto u = r.ring.loan(0);  // a process the peer table had no room for
    REQUIRE(w);
    REQUIRE(u);
    REQUIRE(r.ring.try_push(7, alice));
    auto rd = r.ring.front(bob);
    CHECK_FALSE(rd);  // the oldest message is still being written
    CHECK(r.ring.repair([](std::uint32_t) { return true; }) == 0);
    CHECK(r.ring.repair([](std::uint32_t who) { return who == 0; }) == 1);  // alice is dead: only her claim is repaired
    CHECK(r.ring.inspect(w.index).ph == phase::hole);
    CHECK(r.ring.inspect(u.index).ph == phase::writing);  // owner unknown: left alone
    *u.ptr = 5;
    r.ring.commit(u);
    int v = 0;
    REQUIRE(r.ring.try_pop(v, bob));
    CHECK(v == 5);
    REQUIRE(r.ring.try_pop(v, bob));
    CHECK(v == 7);
}

TEST_CASE("mpmc repair: a process SIGKILLed at random points of its loop leaves a ring the others finish") {
    // Real kills at arbitrary instructions: a child producer and a child
    // consumer loop on the ring and are killed after a random delay; the
    // parent repairs with the children's owners dead and drains. Every value
    // the parent sees is whole (value == its slot's check) and the ring ends
    // usable. (The full accounting under kills is ipc_torture's job.)
    for (int round = 0; round < 20; ++round) {
        shared_ring r(8);
        child producer([&] {
            for (int i = 0; i < 1 << 30;)
                if (r.ring.try_push(i, alice)) ++i;
                else std::this_thread::yield();
            return 0;
        });
        child consumer([&] {
            int v;
            for (;;)
                if (!r.ring.try_pop(v, bob)) std::this_thread::yield();
            return 0;
        });
        std::this_thread::sleep_for(std::chrono::microseconds(200 + 137 * round));
        ::kill(producer.pid(), SIGKILL);
        ::kill(consumer.pid(), SIGKILL);
        CHECK(producer.wait() == -SIGKILL);
        CHECK(consumer.wait() == -SIGKILL);
        (void)r.ring.repair([](std::uint32_t who) { return who != alice && who != bob; });
        int v = 0, last = -1, got = 0;
        while (r.ring.try_pop(v, carol)) {
            CHECK(v > last);  // one producer: increasing, never a torn or repeated value
            last = v;
            ++got;
        }
        CHECK(got <= 8);
        for (int i = 0; i < 20; ++i) {  // and the ring carries on, past whatever was repaired
            REQUIRE(r.ring.try_push(1000 + i, carol));
            REQUIRE(r.ring.try_pop(v, carol));
            CHECK(v == 1000 + i);
        }
    }
}
