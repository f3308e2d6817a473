// Many producer and many consumer processes on one MPMC ring: every message
// reaches exactly one consumer, intact, and each producer's messages keep
// their order. And what ends a receiver's stream when senders come and go.
#include <ipc/channel.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <csignal>
#include <optional>
#include <vector>

#include "ring_support.hpp"

namespace {

using namespace ipc_test;

struct tagged {
    std::uint32_t producer;
    std::uint32_t pad;
    std::uint64_t seq;
    std::uint64_t check;
};
using transport = ipc::transport::posix_shm<ipc::ring::mpmc<tagged>>;

// Flags shared by every process of the test (an anonymous shared mapping made
// before fork): delivered[p * per_producer + seq] counts deliveries.
struct tally {
    explicit tally(std::size_t n) : n_(n) {
        void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        REQUIRE(p != MAP_FAILED);
        flags_ = static_cast<std::atomic<std::uint8_t>*>(p);
    }
    ~tally() { ::munmap(flags_, n_); }
    std::atomic<std::uint8_t>& operator[](std::size_t i) { return flags_[i]; }
    std::size_t n_;
    std::atomic<std::uint8_t>* flags_;
};

// A worker process takes a task in place (peek), says which, and is
// SIGKILLed before it releases it; returns that task.
template <class Channel>
std::uint64_t kill_a_worker_holding_a_task(const std::string& region) {
    int took[2];
    REQUIRE(::pipe(took) == 0);
    child worker([&] {
        auto rx = Channel::open(region);
        auto task = rx.peek_for(5s);
        if (!task) return 1;
        const std::uint64_t v = *task;
        if (::write(took[1], &v, sizeof v) != sizeof v) return 2;
        std::this_thread::sleep_for(20s);  // "working" until killed, the task still held
        return 3;
    });
    std::uint64_t held = ~0ULL;
    CHECK(::read(took[0], &held, sizeof held) == sizeof held);
    ::kill(worker.pid(), SIGKILL);
    CHECK(worker.wait() == -SIGKILL);
    for (int fd : took) ::close(fd);
    return held;
}

}  // namespace

TEST_CASE_TEMPLATE("shm mpmc: several producer and consumer processes, each message delivered once", Sync,
                   ipc::sync::futex, ipc::sync::posix_sem, ipc::sync::sysv_sem) {
    constexpr std::uint32_t producers = 3, consumers = 3;
    constexpr std::uint64_t per_producer = 20000;
    using channel = ipc::channel<tagged, transport, Sync>;
    remover<transport> region{unique_name("mpmc")};
    // The parent counts as a sender until every producer is done, so consumers
    // cannot see "closed" before the last producer has even started.
    std::optional<channel> keep(std::in_place, transport::create(region.name, 16));
    keep->transport().attach(ipc::direction::send);
    tally delivered(producers * per_producer);

    std::vector<child> procs;
    for (std::uint32_t c = 0; c < consumers; ++c)
        procs.emplace_back([&, c] {
            auto rx = channel::open(region.name);
            rx.transport().end_of_stream(ipc::eos::when_all_senders_left);  // the producers are all known
            std::vector<std::uint64_t> next(producers, 0);
            tagged m{};
            for (std::uint64_t n = 0;; ++n) {
                // Every third message is read in place.
                ipc::status st = ipc::status::ok;
                if ((n + c) % 3 == 0) {
                    auto p = rx.peek_for(10s);
                    st = p.status();
                    if (p) m = *p;  // released when p goes
                } else {
                    st = rx.recv_for(m, 10s);
                }
                if (st == ipc::status::closed) return 0;
                if (st != ipc::status::ok) return 1;
                if (m.producer >= producers || m.seq >= per_producer || m.check != mix(m.seq * 7 + m.producer)) return 2;
                if (m.seq < next[m.producer]) return 3;  // reordered within one producer
                next[m.producer] = m.seq + 1;
                if (delivered[m.producer * per_producer + m.seq].fetch_add(1) != 0) return 4;  // twice
            }
        });
    std::vector<child> makers;
    for (std::uint32_t p = 0; p < producers; ++p)
        makers.emplace_back([&, p] {
            auto tx = channel::open(region.name);
            for (std::uint64_t i = 0; i < per_producer; ++i) {
                const tagged m{p, 0, i, mix(i * 7 + p)};
                if (i % 4 == p % 4) {  // some by loan/commit
                    auto slot = tx.loan_for(10s);
                    if (!slot) return 1;
                    *slot = m;
                    slot.commit();
                } else if (tx.send_for(m, 10s) != ipc::status::ok) {
                    return 1;
                }
            }
            return 0;
        });
    for (auto& m : makers) CHECK(m.wait(60s) == child_ok);
    keep.reset();  // the last sender leaves: parked consumers wake and see closed
    for (auto& c : procs) CHECK(c.wait(60s) == child_ok);
    std::uint64_t missing = 0;
    for (std::size_t i = 0; i < producers * per_producer; ++i) missing += delivered[i].load() != 1;
    CHECK(missing == 0);
}

// A producer sends three messages and leaves; another opens the ring a
// moment later. The receiver chooses what that gap means.
TEST_CASE_TEMPLATE("shm: end of stream is the receiver's choice when senders come and go", Ring, ipc::ring::mpmc<std::uint64_t>,
                   ipc::ring::spsc<std::uint64_t>) {
    using ring_transport = ipc::transport::posix_shm<Ring>;
    using channel = ipc::channel<std::uint64_t, ring_transport, ipc::sync::futex>;
    constexpr bool mpmc = Ring::ring_kind == ipc::ring::kind::mpmc;
    remover<ring_transport> region{unique_name("eos")};
    (void)ring_transport::create(region.name, 8);
    auto producer = [&](std::uint64_t from, std::chrono::milliseconds after) {
        return child([&, from, after] {
            std::this_thread::sleep_for(after);
            auto tx = channel::open(region.name);
            for (std::uint64_t i = from; i < from + 3; ++i)
                if (tx.send_for(i, 5s) != ipc::status::ok) return 1;
            return 0;
        });
    };
    auto rx = channel::open(region.name);
    rx.transport().attach(ipc::direction::recv);
    CHECK(rx.transport().end_of_stream() == (mpmc ? ipc::eos::never : ipc::eos::when_all_senders_left));
    std::uint64_t v = 0;
    auto receive_three = [&](std::uint64_t from) {
        for (std::uint64_t i = from; i < from + 3; ++i) {
            REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
            CHECK(v == i);
        }
    };

    SUBCASE("never: the receiver waits through the gap and goes on with the next producer") {
        rx.transport().end_of_stream(ipc::eos::never);
        child first = producer(0, 0ms);
        REQUIRE(first.wait() == child_ok);  // came, sent, left
        receive_three(0);
        child second = producer(10, 200ms);
        receive_three(10);  // parked while no sender existed: not closed
        CHECK(second.wait() == child_ok);
        CHECK(rx.recv_for(v, 50ms) == ipc::status::timed_out);
    }
    SUBCASE("when_all_senders_left: closed once drained, and again after the next producer") {
        rx.transport().end_of_stream(ipc::eos::when_all_senders_left);
        child first = producer(0, 0ms);
        REQUIRE(first.wait() == child_ok);
        receive_three(0);
        auto t0 = std::chrono::steady_clock::now();
        CHECK(rx.recv_for(v, 5s) == ipc::status::closed);
        CHECK(ms_since(t0) < 1000.0);  // at once, not at the deadline
        child second = producer(10, 0ms);
        REQUIRE(second.wait() == child_ok);
        receive_three(10);
        CHECK(rx.recv_for(v, 5s) == ipc::status::closed);
    }
}

TEST_CASE("shm mpmc: a loan dropped without commit is passed over, while messages committed behind it arrive") {
    using channel = ipc::channel<std::uint64_t, ipc::transport::posix_shm<ipc::ring::mpmc<std::uint64_t>>, ipc::sync::futex>;
    using tr = channel::transport_type;
    remover<tr> region{unique_name("mpmc-cancel")};
    auto rx = channel::create(region.name, 4);
    rx.transport().attach(ipc::direction::recv);
    rx.transport().end_of_stream(ipc::eos::when_all_senders_left);  // so the end below is seen as closed
    std::optional<channel> keep(std::in_place, tr::open(region.name));  // a sender until the end: no early closed
    keep->transport().attach(ipc::direction::send);
    int loaned[2], go[2];
    REQUIRE(::pipe(loaned) == 0);
    REQUIRE(::pipe(go) == 0);
    // A claims the slot at the head and holds it until told to drop it; it
    // stays alive afterwards, so the slot is not a dead writer's to repair.
    child a([&] {
        auto tx = channel::open(region.name);
        tx.transport().attach(ipc::direction::send);
        char b = 'l';
        {
            auto slot = tx.loan_for(5s);
            if (!slot) return 1;
            *slot = 666;
            if (::write(loaned[1], &b, 1) != 1 || ::read(go[0], &b, 1) != 1) return 2;
        }  // the guard goes here, uncommitted
        if (::read(go[0], &b, 1) != 1) return 3;
        return 0;
    });
    char b = 0;
    REQUIRE(::read(loaned[0], &b, 1) == 1);
    // B commits two messages behind A's claimed slot.
    child bee([&] {
        auto tx = channel::open(region.name);
        tx.transport().attach(ipc::direction::send);
        return tx.send_for(1, 5s) == ipc::status::ok && tx.send_for(2, 5s) == ipc::status::ok ? 0 : 1;
    });
    REQUIRE(bee.wait() == child_ok);
    std::uint64_t v = 0;
    CHECK(rx.recv_for(v, 50ms) == ipc::status::timed_out);  // queued behind A's open claim
    REQUIRE(::write(go[1], &b, 1) == 1);
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 1);
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 2);
    // The slot serves later laps as any other.
    child c([&] {
        auto tx = channel::open(region.name);
        tx.transport().attach(ipc::direction::send);
        for (std::uint64_t i = 10; i < 30; ++i)
            if (tx.send_for(i, 5s) != ipc::status::ok) return 1;
        return 0;
    });
    for (std::uint64_t i = 10; i < 30; ++i) {
        REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
        CHECK(v == i);
    }
    CHECK(c.wait() == child_ok);
    REQUIRE(::write(go[1], &b, 1) == 1);
    CHECK(a.wait() == child_ok);
    keep.reset();
    CHECK(rx.recv_for(v, 5s) == ipc::status::closed);  // 666 never arrives
    for (int fd : {loaned[0], loaned[1], go[0], go[1]}) ::close(fd);
}

// A worker takes a task in place (peek) and is SIGKILLed before it releases
// it. Under at-least-once delivery another consumer gets that task, told it
// is a redelivery; under at-most-once it went with the worker. The ring is
// full behind the dead worker's slot, so this also shows the redelivered task
// does not hold up the producers.
TEST_CASE_TEMPLATE("shm mpmc: a consumer killed holding a peeked message; at least once, another consumer gets it", Ring,
                   ipc::ring::mpmc<std::uint64_t, ipc::ring::delivery::at_least_once>, ipc::ring::mpmc<std::uint64_t>) {
    constexpr bool at_least_once = Ring::delivery_guarantee == ipc::ring::delivery::at_least_once;
    using channel = ipc::channel<std::uint64_t, ipc::transport::posix_shm<Ring>, ipc::sync::futex>;
    using tr = typename channel::transport_type;
    remover<tr> region{unique_name("mpmc-redeliver")};
    auto tx = channel::create(region.name, 4);
    for (std::uint64_t i = 0; i < 4; ++i) REQUIRE(tx.send_for(i, 5s) == ipc::status::ok);  // full
    CHECK(kill_a_worker_holding_a_task<channel>(region.name) == 0);

    // Another consumer process takes everything there is.
    child other([&] {
        auto rx = channel::open(region.name);
        rx.transport().peer_check_interval(20ms);  // a waiter checks for the dead this often
        std::uint64_t v = 0;
        for (std::uint64_t want : {1, 2, 3}) {
            if (rx.recv_for(v, 5s) != ipc::status::ok || v != want) return 10 + static_cast<int>(want);
            if (rx.transport().redelivered()) return 20;
        }
        const ipc::status st = rx.recv_for(v, at_least_once ? 5s : 300ms);
        if (!at_least_once) return st == ipc::status::timed_out ? 0 : 30;  // it went with the worker
        if (st != ipc::status::ok || v != 0) return 31;
        if (!rx.transport().redelivered()) return 32;
        // A redelivered slot serves its new lap and the ring goes on as before.
        for (std::uint64_t want : {4, 5, 6, 7, 8}) {
            if (rx.recv_for(v, 5s) != ipc::status::ok || v != want) return 40;
            if (rx.transport().redelivered()) return 41;
        }
        return 0;
    });
    if (at_least_once) {
        for (std::uint64_t i = 4; i < 9; ++i) CHECK(tx.send_for(i, 5s) == ipc::status::ok);
    }
    CHECK(other.wait() == child_ok);
    CHECK(tx.transport().ring().redelivered() == (at_least_once ? 1u : 0u));
}

// The same, with the ring far from full and nothing sent after the kill: the
// slot's next index is one no producer will reach, so the redelivered task
// must be queued where consumers are (CI's torture once lost such a task,
// redelivered at the end of a run into a lap nobody came to).
TEST_CASE("shm mpmc: at least once, a killed consumer's task reaches another consumer with no more sends") {
    using channel = ipc::channel<std::uint64_t, ipc::transport::posix_shm<ipc::ring::mpmc<std::uint64_t, ipc::ring::delivery::at_least_once>>,
                                 ipc::sync::futex>;
    using tr = channel::transport_type;
    remover<tr> region{unique_name("mpmc-quiet")};
    auto tx = channel::create(region.name, 8);
    for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(tx.send_for(i, 5s) == ipc::status::ok);
    CHECK(kill_a_worker_holding_a_task<channel>(region.name) == 0);

    child other([&] {
        auto rx = channel::open(region.name);
        rx.transport().peer_check_interval(20ms);
        std::uint64_t v = 0;
        std::vector<std::uint64_t> got;
        for (int i = 0; i < 3; ++i) {
            if (rx.recv_for(v, 5s) != ipc::status::ok) return 10 + i;
            if (rx.transport().redelivered() != (v == 0)) return 20 + i;  // only the killed worker's task is flagged
            got.push_back(v);
        }
        std::sort(got.begin(), got.end());
        if (got != std::vector<std::uint64_t>{0, 1, 2}) return 30;
        return rx.recv_for(v, 100ms) == ipc::status::timed_out ? 0 : 31;  // and it came once
    });
    CHECK(other.wait() == child_ok);
    CHECK(tx.transport().ring().redelivered() == 1u);
}

// Each MPMC end has a claim line (one per peer-table slot); a repair tells a
// live claim from a dead one by them, so an end with no line is refused
// rather than left unrepairable. A slot freed by an end that leaves is taken
// by the next.
TEST_CASE("shm mpmc: the ring takes as many live ends as it has claim lines, and refuses the next with words") {
    using channel = ipc::channel<std::uint64_t, ipc::transport::posix_shm<ipc::ring::mpmc<std::uint64_t>>, ipc::sync::spin>;
    using tr = channel::transport_type;
    remover<tr> region{unique_name("mpmc-ends")};
    auto tx = channel::create(region.name, 8);
    REQUIRE(tx.send_for(1, 1s) == ipc::status::ok);  // tx is an end: 127 lines left
    std::vector<channel> rxs;
    std::error_code ec;
    for (std::size_t i = 1; i < ipc::ring::max_peers; ++i) {
        rxs.push_back(channel::open(region.name));
        REQUIRE(rxs.back().transport().attach(ipc::direction::recv, ec));  // what its first receive does
    }
    auto one_more = channel::open(region.name);
    CHECK_FALSE(one_more.transport().attach(ipc::direction::recv, ec));
    CHECK(ec == ipc::errc::limit_exceeded);
    CHECK(ipc::last_error_detail(ec).find("128 ends") != std::string_view::npos);
    std::uint64_t v = 0;
    CHECK_THROWS_AS((void)one_more.try_recv(v), ipc::error);
    rxs.pop_back();
    ec.clear();
    auto now = channel::open(region.name);
    CHECK(now.try_recv(v) == ipc::status::ok);
    CHECK(v == 1);
    CHECK(tx.send_for(7, 1s) == ipc::status::ok);
    CHECK(now.recv_for(v, 1s) == ipc::status::ok);
    CHECK(v == 7);
}

// Last in this file (doctest runs a file's cases in order): everything above cleaned up.
TEST_CASE("shm: nothing of this run is left in /dev/shm") { CHECK(leftovers_in_dev_shm().empty()); }
