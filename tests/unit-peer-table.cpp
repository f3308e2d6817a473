// The peer table in a shared region tells the survivors who died.
#include <ipc/detail/peer_table.hpp>

#include <sys/mman.h>

#include <vector>

#include "support.hpp"

using namespace ipc_test;
using ipc::detail::peer_role;
using table = ipc::detail::peer_table<8>;

namespace {
// A zeroed table in memory shared with forked children.
table* shared_table() {
    void* p = ::mmap(nullptr, sizeof(table), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    return static_cast<table*>(p);
}
}  // namespace

TEST_CASE("peer table: a killed member is counted dead, a clean one leaves no trace") {
    table* t = shared_table();
    child stays([&] {
        if (t->join(peer_role::sender) < 0) return 1;
        ::pause();  // until killed
        return 0;
    });
    child leaves([&] {
        int slot = t->join(peer_role::receiver);
        if (slot < 0) return 1;
        t->leave(slot);
        return 0;
    });
    CHECK(leaves.wait() == child_ok);
    auto t0 = std::chrono::steady_clock::now();
    while (t->count(peer_role::sender).alive == 0 && ms_since(t0) < 5000) std::this_thread::sleep_for(1ms);
    CHECK(t->count(peer_role::sender).alive == 1);
    CHECK(t->count(peer_role::receiver).alive + t->count(peer_role::receiver).dead == 0);

    ::kill(stays.pid(), SIGKILL);
    t0 = std::chrono::steady_clock::now();
    while (t->count(peer_role::sender).dead == 0 && ms_since(t0) < 5000) std::this_thread::sleep_for(1ms);
    CHECK(t->count(peer_role::sender).dead == 1);
    CHECK(t->reap() == 1);
    CHECK(t->count().alive + t->count().dead == 0);
    CHECK(stays.wait() == -SIGKILL);
    ::munmap(t, sizeof(table));
}

TEST_CASE("peer table: a full table reclaims the slots of the dead") {
    table* t = shared_table();
    {
        std::vector<child> dead;
        for (int i = 0; i < 8; ++i)
            dead.emplace_back([&] { return t->join(peer_role::sender) >= 0 ? 0 : 1; });  // exits without leave()
        for (auto& c : dead) CHECK(c.wait() == child_ok);
    }
    CHECK(t->count().dead == 8);
    int slot = t->join(peer_role::receiver);
    CHECK(slot >= 0);
    CHECK(t->count().alive == 1);
    CHECK(t->count().dead == 0);
    t->leave(slot);
    ::munmap(t, sizeof(table));
}
