// ipc::shm_broadcast_bytes: the variable-size broadcast ring
// (ring/broadcast_bytes.hpp) as a channel of std::string, across real
// processes. Publisher and subscriber programs (tests/broadcast_peer.cpp,
// bytes modes) open one named region; each subscriber checks every record's
// length and bytes against its sequence number (tests/broadcast_text.hpp).
#include <ipc/channel.hpp>
#include <ipc/poller.hpp>

#include <csignal>
#include <memory>
#include <vector>

#include "broadcast_programs.hpp"
#include "broadcast_text.hpp"
#include "broadcast_tick.hpp"
#include "ring_support.hpp"

namespace {

using namespace ipc_test;
using ipc::ring::slow_policy;
using channel = bytes_broadcast_channel;
using transport = bytes_broadcast_transport;

using peer = broadcast_peer;

// A publisher program and subscriber programs (one waiting in an
// ipc::poller) started independently; each subscriber exits 0 if it saw
// every record once, whole and in order, except what it was told it lost.
void run_programs(slow_policy policy, unsigned subs, std::uint64_t last) {
    CAPTURE(ipc::ring::slow_policy_name(static_cast<std::uint64_t>(policy)));
    const std::string last_s = std::to_string(last);
    remover<transport> region{unique_name("bcb-progs")};
    auto made = channel::create(region.name, {.capacity = 1 << 14, .max_subscribers = 8, .slow = policy});
    std::vector<std::unique_ptr<peer>> readers;
    for (unsigned i = 0; i < subs; ++i) {
        std::vector<std::string> a{"bytes-sub", region.name, last_s, "0"};
        if (i == 0) a.push_back("poll");
        readers.push_back(std::make_unique<peer>(a));
    }
    REQUIRE(wait_subscribers(made, subs));
    peer pub({"bytes-pub", region.name, last_s, "500"});
    CHECK(pub.wait(30s) == 0);
    for (auto& r : readers) CHECK(r->wait(30s) == 0);
    if (policy == slow_policy::block) CHECK(made.transport().ring().dropped() == 0);
}

}  // namespace

TEST_CASE("shm broadcast_bytes: create takes options, open takes them from the region; a record over the limit is refused") {
    remover<transport> region{unique_name("bcb-opts")};
    auto pub = channel::create(region.name, {.capacity = 4096, .max_subscribers = 5, .slow = slow_policy::overwrite, .history = 3});
    auto sub = channel::open(region.name);
    const auto& o = sub.transport().ring().options();
    CHECK(o.capacity == 4096);
    CHECK(o.max_subscribers == 5);
    CHECK(o.slow == slow_policy::overwrite);
    CHECK(o.history == 3);
    CHECK(sub.transport().ring().max_record() == 4096 / 2 - 16);

    std::error_code ec;
    CHECK(pub.try_send(std::string(4096, 'x'), ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::message_too_large);
    CHECK(std::string(ipc::last_error_detail(ec)).find("2032") != std::string::npos);

    remover<transport> bad{unique_name("bcb-bad")};
    auto none = channel::create(bad.name, {.capacity = 1024, .history = 64}, ec);
    CHECK(ec == ipc::errc::limit_exceeded);
    CHECK(std::string(ipc::last_error_detail(ec)).find("history 64") != std::string::npos);
    CHECK_FALSE(transport::remove(bad.name));
}

TEST_CASE("shm broadcast_bytes: one publisher, a second is refused; history for a late joiner; records of every size") {
    remover<transport> region{unique_name("bcb-one")};
    auto pub = channel::create(region.name, {.capacity = 1 << 15, .history = 4});
    for (std::uint64_t i = 0; i < 10; ++i) REQUIRE(pub.try_send(make_text(i)) == ipc::status::ok);
    child other([&] {
        auto p = channel::open(region.name);
        std::error_code ec;
        if (p.try_send(make_text(99), ec) != ipc::status::failed || ec != ipc::errc::in_use) return wrong_status;
        auto rx = channel::open(region.name);
        std::string m;
        for (std::uint64_t i = 6; i < 10; ++i)
            if (rx.try_recv(m) != ipc::status::ok || text_seq(m) != i) return bad_order;
        return rx.try_recv(m) == ipc::status::would_block ? child_ok : wrong_status;
    });
    CHECK(other.wait() == child_ok);
}

TEST_CASE("shm broadcast_bytes: a subscriber in an ipc::poller is woken by a record from another process") {
    remover<transport> region{unique_name("bcb-poll")};
    auto made = channel::create(region.name, {.capacity = 1 << 14});
    auto rx = channel::open(region.name);
    rx.transport().attach(ipc::direction::recv);
    ipc::poller p;
    auto reg = p.add(rx, ipc::ready::readable, 7);
    CHECK(p.wait_for(50ms).empty());
    child sender([&] {
        std::this_thread::sleep_for(50ms);  // the parent waits first
        auto tx = channel::open(region.name);
        return tx.send_for(make_text(0), 5s) == ipc::status::ok && tx.send_for(make_text(1), 5s) == ipc::status::ok ? child_ok
                                                                                                                    : wrong_status;
    });
    bool woken = false;
    for (const auto until = std::chrono::steady_clock::now() + 10s; !woken && std::chrono::steady_clock::now() < until;)
        for (const auto& ev : p.wait_for(1s))
            if (ev.key == 7 && ev.readable()) woken = true;
    CHECK(woken);
    std::string m;
    REQUIRE(rx.recv_for(m, 5s) == ipc::status::ok);
    CHECK(text_seq(m) == 0);
    CHECK(sender.wait() == child_ok);
    REQUIRE(rx.recv_for(m, 5s) == ipc::status::ok);
    CHECK(text_seq(m) == 1);
}

TEST_CASE("shm broadcast_bytes: the slowest subscriber is dropped and told so (drop_slowest)") {
    remover<transport> region{unique_name("bcb-drop")};
    auto pub = channel::create(region.name, {.capacity = 4096, .slow = slow_policy::drop_slowest});
    child stalled([&] {
        auto rx = channel::open(region.name);
        rx.transport().attach(ipc::direction::recv);
        for (const auto until = std::chrono::steady_clock::now() + 10s; rx.transport().ring().records() < 100;)
            if (std::chrono::steady_clock::now() > until) return ran_out;
            else std::this_thread::sleep_for(1ms);
        std::string m;
        std::error_code ec;
        return rx.try_recv(m, ec) == ipc::status::dropped && ec == ipc::errc::dropped ? child_ok : wrong_status;
    });
    REQUIRE(wait_subscribers(pub, 1));
    for (std::uint64_t i = 0; i < 100; ++i) REQUIRE(pub.send_for(make_text(i, 500), 5s) == ipc::status::ok);
    CHECK(stalled.wait() == child_ok);
    CHECK(pub.transport().ring().dropped() == 1);
}

TEST_CASE("shm broadcast_bytes: a publisher program and 4 subscriber programs, each record once and in order (block)") {
    run_programs(slow_policy::block, 4, 5999);
}
TEST_CASE("shm broadcast_bytes: a publisher program and 4 subscriber programs, losses told (overwrite)") {
    run_programs(slow_policy::overwrite, 4, 5999);
}
TEST_CASE("shm broadcast_bytes: a publisher program and 4 subscriber programs, the slow dropped and told (drop_slowest)") {
    run_programs(slow_policy::drop_slowest, 4, 5999);
}

TEST_CASE("shm broadcast_bytes: a killed publisher program is peer_dead to subscriber programs; a restarted one carries on") {
    remover<transport> region{unique_name("bcb-restart")};
    auto made = channel::create(region.name, {.capacity = 1 << 14, .max_subscribers = 8});
    kill_and_restart_publisher(made, region.name, "bytes-", 3, 5999, [](const auto& ring) { return ring.records(); });
}

TEST_CASE("shm broadcast_bytes: nothing left in /dev/shm") { CHECK(leftovers_in_dev_shm().empty()); }
