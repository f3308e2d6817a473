// Shared-memory channels when a peer process dies without closing (SIGKILL):
// waiters learn it within the peer check interval (status::peer_dead), a
// stopped process is not taken for dead, and a restarted process reopens the
// channel by name and carries on; mpmc rings repair slots the dead held.
#include <ipc/channel.hpp>

#include <signal.h>

#include "ring_support.hpp"

namespace {

using namespace ipc_test;

template <class T>
using shm = ipc::transport::posix_shm<T>;

constexpr auto check_interval = 50ms;
// How long a waiter may take to notice a dead peer: a few intervals, with
// room for a loaded machine.
constexpr double noticed_within_ms = 2000.0;

template <class Channel>
Channel open_end(const std::string& name, auto sync) {
    Channel c(Channel::transport_type::open(name), {}, std::move(sync));
    c.transport().peer_check_interval(check_interval);
    return c;
}

// A process dies here as a SIGKILL would take it: no destructor, no leave().
[[noreturn]] void die() {
    ::raise(SIGKILL);
    std::abort();
}

// A producer that claims a slot of the mpmc ring `name`, half-writes it and
// is killed before commit.
void leave_a_dead_claim(const std::string& name) {
    using channel = ipc::channel<std::uint64_t, shm<ipc::ring::mpmc<std::uint64_t>>, ipc::sync::futex>;
    child claimer([&] {
        auto tx = open_end<channel>(name, ipc::sync::futex{});
        auto slot = tx.try_loan();
        if (!slot) return 1;
        *slot = 666;
        die();
    });
    CHECK(claimer.wait() == -SIGKILL);
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("shm crash: every sync policy reports a dead peer", Sync, shm_crash_dead) {
    using transport = shm<ipc::ring::spsc<std::uint64_t>>;
    using channel = ipc::channel<std::uint64_t, transport, Sync>;
    remover<transport> region{unique_name("dead")};
    transport::create(region.name, 2);
    Sync sync = make_sync<Sync>();

    SUBCASE("a receiver blocked on an empty ring gets peer_dead once the sender is killed mid-stream") {
        child sender([&] {
            auto tx = open_end<channel>(region.name, std::move(sync));
            for (std::uint64_t i = 0; i < 3; ++i)
                if (tx.send_for(i, 5s) != ipc::status::ok) return 1;
            die();
        });
        auto rx = open_end<channel>(region.name, std::move(sync));
        std::uint64_t v = 0;
        for (std::uint64_t i = 0; i < 3; ++i) {
            REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
            CHECK(v == i);
        }
        CHECK(sender.wait() == -SIGKILL);
        const auto t0 = std::chrono::steady_clock::now();
        CHECK(rx.recv_for(v, 10s) == ipc::status::peer_dead);
        CHECK(ms_since(t0) < noticed_within_ms);
        std::error_code ec;
        CHECK(rx.recv_for(v, 10s, ec) == ipc::status::peer_dead);
        CHECK(ec == ipc::errc::peer_dead);
    }
    SUBCASE("a sender blocked on a full ring gets peer_dead once the receiver is killed") {
        child receiver([&] {
            auto rx = open_end<channel>(region.name, std::move(sync));
            std::uint64_t v = 0;
            if (rx.recv_for(v, 5s) != ipc::status::ok) return 1;
            die();
        });
        auto tx = open_end<channel>(region.name, std::move(sync));
        ipc::status st = ipc::status::ok;
        const auto t0 = std::chrono::steady_clock::now();
        for (std::uint64_t i = 0; i < 10 && st == ipc::status::ok; ++i) st = tx.send_for(i, 10s);
        CHECK(st == ipc::status::peer_dead);
        CHECK(ms_since(t0) < noticed_within_ms + 5000.0);
        CHECK(receiver.wait() == -SIGKILL);
    }
}
TEST_CASE_TEMPLATE_INVOKE(shm_crash_dead, ipc::sync::futex, ipc::sync::spin, ipc::sync::eventfd, ipc::sync::posix_sem,
                          ipc::sync::sysv_sem);

TEST_CASE("shm crash: a byte-ring receiver learns that its sender was killed") {
    using transport = shm<ipc::ring::bytes>;
    using channel = ipc::shm_message_channel<std::string>;
    remover<transport> region{unique_name("bytes")};
    transport::create(region.name, 4096);
    child sender([&] {
        auto tx = open_end<channel>(region.name, ipc::sync::futex{});
        if (tx.send_for(std::string("last words"), 5s) != ipc::status::ok) return 1;
        die();
    });
    auto rx = open_end<channel>(region.name, ipc::sync::futex{});
    std::string s;
    REQUIRE(rx.recv_for(s, 5s) == ipc::status::ok);
    CHECK(s == "last words");
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(rx.recv_for(s, 10s) == ipc::status::peer_dead);
    CHECK(ms_since(t0) < noticed_within_ms);
    CHECK(sender.wait() == -SIGKILL);
}

TEST_CASE("shm crash: a stopped peer is slow, not dead") {
    using transport = shm<ipc::ring::spsc<std::uint64_t>>;
    using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;
    remover<transport> region{unique_name("stop")};
    transport::create(region.name, 4);
    child sender([&] {
        auto tx = open_end<channel>(region.name, ipc::sync::futex{});
        if (tx.send_for(1, 5s) != ipc::status::ok) return 1;
        std::this_thread::sleep_for(200ms);  // stopped in here
        return tx.send_for(2, 5s) == ipc::status::ok ? 0 : 2;
    });
    auto rx = open_end<channel>(region.name, ipc::sync::futex{});
    std::uint64_t v = 0;
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    REQUIRE(::kill(sender.pid(), SIGSTOP) == 0);
    // Many check intervals pass while it is stopped: still only a timeout.
    CHECK(rx.recv_for(v, 500ms) == ipc::status::timed_out);
    REQUIRE(::kill(sender.pid(), SIGCONT) == 0);
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 2);
    CHECK(sender.wait() == child_ok);
    CHECK(rx.recv_for(v, 5s) == ipc::status::closed);  // it left cleanly: closed, not dead
}

TEST_CASE("shm crash: a restarted producer reopens the channel by name and carries on") {
    using transport = shm<ipc::ring::spsc<std::uint64_t>>;
    using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;
    remover<transport> region{unique_name("restart")};
    transport::create(region.name, 16);
    auto rx = open_end<channel>(region.name, ipc::sync::futex{});

    // The first producer sends 0..9, loans a slot for 10 and dies before commit.
    child first([&] {
        auto tx = open_end<channel>(region.name, ipc::sync::futex{});
        for (std::uint64_t i = 0; i < 10; ++i)
            if (tx.send_for(i, 5s) != ipc::status::ok) return 1;
        auto slot = tx.try_loan();
        if (!slot) return 2;
        *slot = 999;
        die();
    });
    CHECK(first.wait() == -SIGKILL);
    std::uint64_t v = 0;
    for (std::uint64_t i = 0; i < 10; ++i) {
        REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
        CHECK(v == i);
    }
    CHECK(rx.recv_for(v, 10s) == ipc::status::peer_dead);  // the loaned, uncommitted 999 never shows

    // Its successor opens the same name (open_or_create finds it) and goes on.
    child second([&] {
        auto tx = channel::open_or_create(region.name, 16);
        for (std::uint64_t i = 10; i < 20; ++i)
            if (tx.send_for(i, 5s) != ipc::status::ok) return 1;
        return 0;
    });
    for (std::uint64_t i = 10; i < 20; ++i) {
        REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
        CHECK(v == i);
    }
    CHECK(second.wait() == child_ok);
    CHECK(rx.recv_for(v, 5s) == ipc::status::closed);
    CHECK(rx.transport().ring().peers().count().dead == 0);  // the dead producer's slot was reaped
}

TEST_CASE("shm crash: a message a killed consumer was reading is delivered again (at least once)") {
    using transport = shm<ipc::ring::spsc<std::uint64_t>>;
    using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;
    remover<transport> region{unique_name("redeliver")};
    transport::create(region.name, 4);
    auto tx = open_end<channel>(region.name, ipc::sync::futex{});
    REQUIRE(tx.try_send(1) == ipc::status::ok);
    REQUIRE(tx.try_send(2) == ipc::status::ok);
    child reader([&] {
        auto rx = open_end<channel>(region.name, ipc::sync::futex{});
        auto msg = rx.peek_for(5s);
        if (!msg || *msg != 1) return 1;
        die();  // before release()
    });
    CHECK(reader.wait() == -SIGKILL);
    auto rx = open_end<channel>(region.name, ipc::sync::futex{});
    std::uint64_t v = 0;
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 1);
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 2);
}

TEST_CASE("shm crash: mpmc consumers pass over a slot whose producer died between claim and commit") {
    using transport = shm<ipc::ring::mpmc<std::uint64_t>>;
    using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;
    remover<transport> region{unique_name("hole")};
    transport::create(region.name, 8);
    auto tx = open_end<channel>(region.name, ipc::sync::futex{});
    auto rx = open_end<channel>(region.name, ipc::sync::futex{});
    tx.transport().attach(ipc::direction::send);
    rx.transport().attach(ipc::direction::recv);
    leave_a_dead_claim(region.name);  // after both ends opened (opening repairs what the dead left)
    for (std::uint64_t i = 1; i <= 7; ++i) REQUIRE(tx.try_send(i) == ipc::status::ok);  // the dead claim holds the 8th slot
    std::uint64_t v = 0;
    CHECK(rx.try_recv(v) == ipc::status::would_block);  // stalled at the dead claim until a waiter checks
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(ms_since(t0) < noticed_within_ms);
    CHECK(v == 1);  // 666 is never delivered
    for (std::uint64_t i = 2; i <= 7; ++i) {
        REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
        CHECK(v == i);
    }
    // The ring goes on through the hole's slot, lap after lap.
    for (std::uint64_t i = 100; i < 120; ++i) {
        REQUIRE(tx.send_for(i, 5s) == ipc::status::ok);
        REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
        CHECK(v == i);
    }
}

TEST_CASE("shm crash: an mpmc slot held by a killed consumer is handed back to the producers") {
    using transport = shm<ipc::ring::mpmc<std::uint64_t>>;
    using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;
    remover<transport> region{unique_name("held")};
    transport::create(region.name, 2);
    auto tx = open_end<channel>(region.name, ipc::sync::futex{});
    REQUIRE(tx.try_send(1) == ipc::status::ok);
    REQUIRE(tx.try_send(2) == ipc::status::ok);
    child taker([&] {
        auto rx = open_end<channel>(region.name, ipc::sync::futex{});
        auto msg = rx.try_peek();
        if (!msg || *msg != 1) return 1;
        die();  // holding slot 0
    });
    CHECK(taker.wait() == -SIGKILL);
    auto rx = open_end<channel>(region.name, ipc::sync::futex{});
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(tx.send_for(3, 5s) == ipc::status::ok);  // needs slot 0 back
    CHECK(ms_since(t0) < noticed_within_ms);
    std::uint64_t v = 0;
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 2);  // 1 went with the consumer that took it
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 3);
}

TEST_CASE("shm crash: mpmc producers and consumers as threads survive one killed claimant") {
    // The repair racing live threads on both sides (run under TSan).
    using transport = shm<ipc::ring::mpmc<std::uint64_t>>;
    using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;
    remover<transport> region{unique_name("threads")};
    transport::create(region.name, 8);
    leave_a_dead_claim(region.name);
    constexpr std::uint64_t per_thread = 2000;
    std::atomic<std::uint64_t> sum{0}, got{0};
    std::atomic<int> failures{0};
    // The producers count as senders before any consumer waits: with only
    // the dead claimer as a sender, a consumer would rightly see peer_dead.
    std::vector<channel> senders;
    for (int p = 0; p < 2; ++p) {
        senders.push_back(open_end<channel>(region.name, ipc::sync::futex{}));
        senders.back().transport().attach(ipc::direction::send);
    }
    {
        std::vector<std::jthread> threads;
        for (int p = 0; p < 2; ++p)
            threads.emplace_back([&, p] {
                channel tx = std::move(senders[static_cast<std::size_t>(p)]);
                for (std::uint64_t i = 1; i <= per_thread; ++i)
                    if (tx.send_for(i + static_cast<std::uint64_t>(p) * per_thread, 10s) != ipc::status::ok) ++failures;
            });
        for (int c = 0; c < 2; ++c)
            threads.emplace_back([&] {
                auto rx = open_end<channel>(region.name, ipc::sync::futex{});
                std::uint64_t v = 0;
                while (got.load() < 2 * per_thread) {
                    auto st = rx.recv_for(v, 200ms);
                    if (st == ipc::status::ok) {
                        sum += v;
                        ++got;
                    } else if (st == ipc::status::closed) {
                        return;  // the producers left and the ring is empty: the totals tell
                    } else if (st != ipc::status::timed_out) {
                        ++failures;
                        return;
                    }
                }
            });
    }
    CHECK(failures.load() == 0);
    CHECK(got.load() == 2 * per_thread);
    const std::uint64_t n = 2 * per_thread;
    CHECK(sum.load() == n * (n + 1) / 2);
}

TEST_CASE_TEMPLATE("shm: a single-sender ring refuses a second live sender and replaces a dead one", Ring,
                   ipc::ring::spsc<std::uint64_t>, ipc::ring::bytes) {
    using transport = shm<Ring>;
    using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;
    remover<transport> region{unique_name("one-sender")};
    transport::create(region.name, 64);
    child first([&] {
        auto tx = open_end<channel>(region.name, ipc::sync::futex{});
        if (tx.try_send(1) != ipc::status::ok) return 1;
        ::pause();  // a live sender, until killed
        return 0;
    });
    auto rx = open_end<channel>(region.name, ipc::sync::futex{});
    std::uint64_t v = 0;
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);  // the first sender is attached and alive
    CHECK(v == 1);

    auto second = open_end<channel>(region.name, ipc::sync::futex{});
    std::error_code ec;
    CHECK(second.try_send(2, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::in_use);
    CHECK_THROWS_AS(second.transport().attach(ipc::direction::send), std::system_error);
    CHECK(rx.try_recv(v) == ipc::status::would_block);  // nothing of the refused sender got in

    ::kill(first.pid(), SIGKILL);
    CHECK(first.wait() == -SIGKILL);
    REQUIRE(second.send_for(3, 5s) == ipc::status::ok);  // the dead one is replaced
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 3);
}

TEST_CASE("shm: a single-receiver ring refuses a second live receiver; an mpmc ring takes many") {
    SUBCASE("spsc") {
        using transport = shm<ipc::ring::spsc<std::uint64_t>>;
        using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;
        remover<transport> region{unique_name("one-receiver")};
        transport::create(region.name, 4);
        auto tx = open_end<channel>(region.name, ipc::sync::futex{});
        child first([&] {
            auto rx = open_end<channel>(region.name, ipc::sync::futex{});
            std::uint64_t v = 0;
            if (rx.recv_for(v, 5s) != ipc::status::ok || v != 1) return 1;
            ::pause();
            return 0;
        });
        REQUIRE(tx.send_for(1, 5s) == ipc::status::ok);
        const auto t0 = std::chrono::steady_clock::now();
        while (tx.transport().ring().size() != 0 && ms_since(t0) < 5000) std::this_thread::sleep_for(1ms);
        auto second = open_end<channel>(region.name, ipc::sync::futex{});
        std::uint64_t v = 0;
        std::error_code ec;
        CHECK(second.try_recv(v, ec) == ipc::status::failed);
        CHECK(ec == ipc::errc::in_use);
        ::kill(first.pid(), SIGKILL);
        CHECK(first.wait() == -SIGKILL);
        REQUIRE(tx.send_for(2, 5s) == ipc::status::ok);
        REQUIRE(second.recv_for(v, 5s) == ipc::status::ok);
        CHECK(v == 2);
    }
    SUBCASE("mpmc") {
        using transport = shm<ipc::ring::mpmc<std::uint64_t>>;
        using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;
        remover<transport> region{unique_name("many")};
        transport::create(region.name, 4);
        child other([&] {
            auto tx = open_end<channel>(region.name, ipc::sync::futex{});
            return tx.send_for(1, 5s) == ipc::status::ok ? 0 : 1;
        });
        auto tx = open_end<channel>(region.name, ipc::sync::futex{});
        CHECK(tx.send_for(2, 5s) == ipc::status::ok);
        CHECK(other.wait() == child_ok);
    }
}

TEST_CASE("shm crash: a forked child using an inherited channel is itself, not its dead parent") {
    // The child registers as itself on first use, so the parent's death is
    // taken neither for "every sender is dead" nor for a dead claim to repair
    // under the child's hands.
    using transport = shm<ipc::ring::mpmc<std::uint64_t>>;
    using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;
    remover<transport> region{unique_name("inherited")};
    transport::create(region.name, 4);
    auto rx = open_end<channel>(region.name, ipc::sync::futex{});
    rx.transport().attach(ipc::direction::recv);
    child parent([&] {
        auto tx = open_end<channel>(region.name, ipc::sync::futex{});
        if (tx.try_send(1) != ipc::status::ok) return 1;
        int ready[2];
        if (::pipe(ready) != 0) return 2;
        const pid_t c = ::fork();
        if (c < 0) return 3;
        if (c == 0) {
            auto slot = tx.try_loan();  // claimed through the inherited channel
            const bool loaned = static_cast<bool>(slot);
            (void)!::write(ready[1], "x", 1);
            std::this_thread::sleep_for(300ms);  // the parent is dead; the receiver checks its peers meanwhile
            if (loaned) {
                *slot = 2;
                slot.commit();
            }
            ::_exit(loaned ? 0 : 1);
        }
        ::close(ready[1]);
        char b;
        (void)!::read(ready[0], &b, 1);  // returns at EOF too, should the child die
        die();
    });
    CHECK(parent.wait() == -SIGKILL);
    std::uint64_t v = 0;
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 1);
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);  // not peer_dead, and the child's claim was not repaired
    CHECK(v == 2);
}

// Last in this file (doctest runs a file's cases in order): everything above cleaned up.
TEST_CASE("shm crash: nothing of this run is left in /dev/shm") { CHECK(leftovers_in_dev_shm().empty()); }
