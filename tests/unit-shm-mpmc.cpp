// Many producer and many consumer processes on one MPMC ring: every message
// reaches exactly one consumer, intact, and each producer's messages keep
// their order.
#include <ipc/channel.hpp>

#include <sys/mman.h>

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

} // namespace

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
            std::vector<std::uint64_t> next(producers, 0);
            tagged m{};
            for (std::uint64_t n = 0;; ++n) {
                // Every third message is read in place.
                ipc::status st = ipc::status::ok;
                if ((n + c) % 3 == 0) {
                    const tagged* p = nullptr;
                    st = rx.peek_for(p, 10s);
                    if (st == ipc::status::ok) {
                        m = *p;
                        rx.release();
                    }
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
                    tagged* slot = nullptr;
                    if (tx.loan_for(slot, 10s) != ipc::status::ok) return 1;
                    *slot = m;
                    tx.commit();
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

// Last in this file (doctest runs a file's cases in order): everything above cleaned up.
TEST_CASE("shm: nothing of this run is left in /dev/shm") { CHECK(leftovers_in_dev_shm().empty()); }
