// What a process killed inside an mpmc ring operation can leave, and how the
// ring gets past it. Each state a SIGKILL can leave is built here exactly (a
// claim made and never finished, an intent written and no claim made, a copy
// cut short), then the survivors go on. ipc_torture --transport shm_mpmc
// --crash --kill-all kills real processes at random instructions; these cases
// pin each state down.
#include <ipc/ring/mpmc.hpp>

#include <sys/mman.h>

#include "support.hpp"

using namespace ipc_test;
using ring_t = ipc::ring::mpmc<int>;
using again_t = ipc::ring::mpmc<int, ipc::ring::delivery::at_least_once>;

namespace {

// A formatted ring in memory shared with forked children.
template <class Ring>
struct shared_ring {
    explicit shared_ring(std::uint64_t capacity) : size(ipc::ring::required_size<Ring>(capacity)) {
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        REQUIRE(p != MAP_FAILED);
        mem = static_cast<std::byte*>(p);
        std::error_code ec;
        ring = ipc::ring::format<Ring>({mem, size}, capacity, ec);
        REQUIRE_FALSE(ec);
    }
    ~shared_ring() { ::munmap(mem, size); }
    shared_ring(const shared_ring&) = delete;
    shared_ring& operator=(const shared_ring&) = delete;

    ipc::ring::mpmc_control& control() { return ipc::ring::state_of<Ring>({mem, size})->ctl; }
    // The claim line of an end (what it wrote just before its swap).
    ipc::ring::claim_intent& line(std::uint32_t who) { return control().intents[who & (ipc::ring::max_peers - 1)]; }
    // The word of the slot serving index i.
    std::atomic<std::uint64_t>& word(std::uint64_t i) {
        auto* slots = reinterpret_cast<ipc::ring::claimed_slot<int>*>(mem + ipc::ring::data_offset<Ring>);
        return slots[i & (ring.capacity() - 1)].state;
    }

    std::size_t size;
    std::byte* mem = nullptr;
    Ring ring;
};

constexpr std::uint32_t alice = ipc::ring::owner_word(1, 1), bob = ipc::ring::owner_word(2, 1), carol = ipc::ring::owner_word(3, 1),
                        dave = ipc::ring::owner_word(4, 1);
auto all_but(std::uint32_t dead) {
    return [dead](std::uint32_t who) { return who != dead; };
}

// The next message a consumer takes is v, flagged as taken before by a consumer that died.
template <class Ring>
void next_is_redelivered(Ring& ring, int v) {
    auto c = ring.front(carol);
    REQUIRE(c);
    CHECK(*c.ptr == v);
    CHECK(c.redelivered);
    ring.release(c);
}

}  // namespace

TEST_CASE("mpmc repair: a producer killed between its claim and its commit") {
    using phase = ring_t::phase;
    shared_ring<ring_t> r(4);
    auto c = r.ring.loan(alice);
    REQUIRE(c);
    *c.ptr = 666;  // half written, never committed: alice dies here

    SUBCASE("other producers go on past it") {
        CHECK(r.ring.can_push());
        CHECK(r.ring.try_push(1, bob));
        CHECK(r.ring.inspect(1).ph == phase::full);
    }
    SUBCASE("consumers wait at the dead claim until it is repaired, then never see its content") {
        REQUIRE(r.ring.try_push(1, bob));
        int v = 0;
        CHECK(r.ring.inspect(0).ph == phase::writing);
        CHECK_FALSE(r.ring.can_pop());
        CHECK_FALSE(r.ring.try_pop(v));
        CHECK(r.ring.repair([](std::uint32_t) { return true; }) == 0);  // alice alive: her claim stands
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
        CHECK(r.ring.repair(all_but(alice)) == 0);  // nothing twice
    }
}

TEST_CASE("mpmc repair: a process killed after writing its intent, before its swap, leaves nothing to repair") {
    shared_ring<ring_t> r(4);
    // alice said she was claiming index 0 (as producer), then died before her swap.
    r.line(alice).owner.store(alice);
    r.line(alice).claim.store(ring_t::intent_word(0, 0));
    CHECK(r.ring.repair(all_but(alice)) == 0);
    REQUIRE(r.ring.try_push(7, bob));
    int v = 0;
    REQUIRE(r.ring.try_pop(v, carol));
    CHECK(v == 7);
}

TEST_CASE("mpmc repair: a live claim is never repaired, even where a dead end's line names the same index") {
    using phase = ring_t::phase;
    shared_ring<ring_t> r(4);
    // alice and bob both went for index 0; bob's swap won, then alice died.
    r.line(alice).owner.store(alice);
    r.line(alice).claim.store(ring_t::intent_word(0, 0));
    auto c = r.ring.loan(bob);
    REQUIRE(c);
    REQUIRE(c.index == 0);
    CHECK(r.ring.repair(all_but(alice)) == 0);
    CHECK(r.ring.inspect(0).ph == phase::writing);
    *c.ptr = 5;
    r.ring.commit(c);
    int v = 0;
    REQUIRE(r.ring.try_pop(v, carol));
    CHECK(v == 5);
}

TEST_CASE("mpmc repair: an end that found nothing to claim leaves no intent standing") {
    shared_ring<ring_t> r(2);
    int v = 0;
    REQUIRE(r.ring.try_push(1, alice));
    REQUIRE(r.ring.try_pop(v, bob));
    CHECK(r.line(bob).claim.load() == ring_t::intent_word(0, 1));  // its last claim (finished)
    CHECK_FALSE(r.ring.try_pop(v, bob));
    CHECK(r.line(bob).claim.load() == 0);  // an idle end never holds up a repair
    REQUIRE(r.ring.try_push(2, alice));
    REQUIRE(r.ring.try_push(3, alice));
    CHECK_FALSE(r.ring.try_push(4, alice));
    CHECK(r.line(alice).claim.load() == 0);
}

TEST_CASE("mpmc repair: a consumer killed holding a message (at most once: the message went with it)") {
    shared_ring<ring_t> r(2);
    REQUIRE(r.ring.try_push(1, alice));
    REQUIRE(r.ring.try_push(2, alice));
    auto c = r.ring.front(bob);
    REQUIRE(c);
    CHECK(*c.ptr == 1);  // bob dies holding it

    int v = 0;
    REQUIRE(r.ring.try_pop(v, carol));  // another consumer takes the next
    CHECK(v == 2);
    CHECK_FALSE(r.ring.try_push(3, alice));  // bob's slot is not back yet
    CHECK(r.ring.repair(all_but(carol)) == 0);  // bob lives
    CHECK(r.ring.repair(all_but(bob)) == 1);  // 1 went with bob
    CHECK(r.ring.redelivered() == 0);
    CHECK(r.ring.try_push(3, alice));
    CHECK(r.ring.try_push(4, alice));
    REQUIRE(r.ring.try_pop(v, carol));
    CHECK(v == 3);
    REQUIRE(r.ring.try_pop(v, carol));
    CHECK(v == 4);
}

TEST_CASE("mpmc repair: a consumer killed holding a message (at least once: it is queued again, flagged)") {
    using phase = again_t::phase;
    SUBCASE("producers wait at its slot: the same slot holds it for its next index") {
        shared_ring<again_t> r(2);
        REQUIRE(r.ring.try_push(1, alice));
        REQUIRE(r.ring.try_push(2, alice));
        REQUIRE(r.ring.front(bob));  // bob dies holding 1
        int v = 0;
        REQUIRE(r.ring.try_pop(v, carol));
        CHECK(v == 2);
        CHECK_FALSE(r.ring.try_push(3, alice));  // index 2's slot is the one bob held
        CHECK(r.ring.repair(all_but(bob)) == 1);  // no copy needed: `me` may be 0
        CHECK(r.ring.redelivered() == 1);
        REQUIRE(r.ring.try_push(3, alice));
        next_is_redelivered(r.ring, 1);
        REQUIRE(r.ring.try_pop(v, carol));
        CHECK(v == 3);
        CHECK_FALSE(r.ring.try_pop(v, carol));
    }
    SUBCASE("producers are elsewhere: a repair with an owner copies it to the head") {
        shared_ring<again_t> r(4);
        REQUIRE(r.ring.try_push(1, alice));
        REQUIRE(r.ring.try_push(2, alice));
        auto held = r.ring.front(bob);  // bob dies holding 1
        REQUIRE(held);
        CHECK(r.ring.repair(all_but(bob)) == 0);  // no owner to copy under: it waits, marked
        CHECK(r.ring.inspect(held.index).ph == phase::pending);
        CHECK(r.ring.repair(all_but(bob), carol) == 1);
        CHECK(r.ring.redelivered() == 1);
        int v = 0;
        REQUIRE(r.ring.try_pop(v, carol));
        CHECK(v == 2);
        next_is_redelivered(r.ring, 1);
        for (int i = 0; i < 12; ++i) {  // every slot usable again
            REQUIRE(r.ring.try_push(i, alice));
            REQUIRE(r.ring.try_pop(v, carol));
            CHECK(v == i);
        }
        CHECK(r.ring.repair(all_but(bob), carol) == 0);
    }
    SUBCASE("a repair killed while copying: the next one copies again (twice at worst, both flagged)") {
        shared_ring<again_t> r(4);
        REQUIRE(r.ring.try_push(1, alice));
        REQUIRE(r.ring.try_push(2, alice));
        auto held = r.ring.front(bob);
        REQUIRE(held);
        // dave marked it as his to copy (his line says so), then died.
        r.line(dave).owner.store(dave);
        r.line(dave).repair.store(held.index + 1);
        r.word(held.index).store((held.index + 1) | again_t::copying_flag);
        auto dead = [](std::uint32_t who) { return who != bob && who != dave; };
        CHECK(r.ring.repair([](std::uint32_t) { return true; }, carol) == 0);  // dave lives: his copy stands
        CHECK(r.ring.repair(dead, carol) == 1);
        int v = 0;
        REQUIRE(r.ring.try_pop(v, carol));
        CHECK(v == 2);
        next_is_redelivered(r.ring, 1);
        CHECK_FALSE(r.ring.try_pop(v, carol));
    }
    SUBCASE("a repair killed between claiming the next index and filling it: the next one finishes") {
        shared_ring<again_t> r(2);
        REQUIRE(r.ring.try_push(1, alice));
        REQUIRE(r.ring.try_push(2, alice));
        auto held = r.ring.front(bob);
        REQUIRE(held);
        int v = 0;
        REQUIRE(r.ring.try_pop(v, carol));
        // A repair marked it pending and claimed index 2 (the next its slot
        // serves) for it, then died before filling it.
        r.word(held.index).store((held.index + 1) | again_t::pending_flag);
        r.control().head.store(3);
        CHECK(r.ring.repair(all_but(bob)) == 1);
        REQUIRE(r.ring.try_push(3, alice));
        next_is_redelivered(r.ring, 1);
        REQUIRE(r.ring.try_pop(v, carol));
        CHECK(v == 3);
    }
}

TEST_CASE("mpmc repair: a process SIGKILLed at random points of its loop leaves a ring the others finish") {
    // Real kills at arbitrary instructions: a child producer and a child
    // consumer loop on the ring and are killed after a random delay; the
    // parent repairs with the children's owners dead and drains. Every value
    // the parent sees is whole (a single producer's increasing values, never
    // repeated) and the ring ends usable. (The full accounting under kills is
    // ipc_torture's job.)
    for (int round = 0; round < 20; ++round) {
        shared_ring<ring_t> r(8);
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
            CHECK(v > last);
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
