// producer_consumer: N producer processes and M consumer processes share one
// queue, first a POSIX message queue, then a lock-free MPMC ring in shared
// memory. Every item is counted in a shared tally, so the program can check
// that each one was consumed exactly once. The two show the two ways a
// consumer learns that the work is over:
//   - message queue: the kernel keeps no count of senders, so once the
//     producers have exited the parent sends one "stop" item per consumer;
//   - MPMC ring: consumers choose eos::when_all_senders_left, and receive
//     status::closed once every sender has left and the ring is empty.
#include <ipc/channel.hpp>
#include <ipc/process.hpp>
#include <ipc/shared_memory.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;
constexpr int kProducers = 3, kConsumers = 2, kItems = 2000;  // items per producer

struct item {
    int producer;  // -1: stop (message queue only)
    int seq;
};

struct tally {
    std::atomic<int> seen[kProducers][kItems];  // how often each item was consumed: must end as 1
};

// Starts the producers and consumers, waits for them, and checks the tally.
template <class Produce, class Consume, class AfterProducers>
bool run(const char* what, tally& t, Produce produce, Consume consume, AfterProducers after_producers) {
    std::vector<ipc::child_process> producers, consumers;
    for (int c = 0; c < kConsumers; ++c) consumers.push_back(ipc::fork_with([&] { return consume(); }));
    for (int p = 0; p < kProducers; ++p) producers.push_back(ipc::fork_with([&, p] { return produce(p); }));
    int failed = 0;
    for (auto& p : producers) failed += p.wait_for(30s) != 0;
    after_producers();  // tell the consumers there is no more
    for (auto& c : consumers) failed += c.wait_for(30s) != 0;
    int once = 0, lost = 0, twice = 0;
    for (auto& row : t.seen)
        for (auto& n : row) {
            const int v = n.exchange(0);
            once += v == 1, lost += v == 0, twice += v > 1;
        }
    std::printf("%-16s %d items consumed once, %d lost, %d more than once; processes failed: %d\n", what, once, lost,
                twice, failed);
    return once == kProducers * kItems && failed == 0;
}

bool count(tally& t, const item& i) {  // false for an item that cannot have been sent
    if (i.producer < 0 || i.producer >= kProducers || i.seq < 0 || i.seq >= kItems) return false;
    ++t.seen[i.producer][i.seq];
    return true;
}

int main() {
    const std::string pid = std::to_string(::getpid());
    const std::string tally_name = "ipc-example-tally-" + pid, mq_name = "/ipc-example-pc-" + pid,
                      ring_name = "ipc-example-pc-ring-" + pid;
    auto t = ipc::shared_object<tally>::create(tally_name);
    ipc::shared_memory::remove(tally_name);  // the children inherit the mapping: the name can go now

    // 1. POSIX message queue. The children inherit the open queue, so its name goes at once too.
    ipc::transport::posix_mq_options o;
    o.message_size = sizeof(item);  // max_messages: 10, the kernel's default limit
    auto mq = ipc::posix_mq_channel<item>::create(mq_name, o);
    ipc::transport::posix_mq::remove(mq_name);
    const bool mq_ok = run(
        "message queue:", *t,
        [&](int p) {
            for (int s = 0; s < kItems; ++s)
                if (mq.send_for(item{p, s}, 10s) != ipc::status::ok) return 1;
            return 0;
        },
        [&] {
            for (item i{};;) {
                if (mq.recv_for(i, 10s) != ipc::status::ok) return 1;
                if (i.producer == -1) return 0;
                if (!count(*t, i)) return 2;
            }
        },
        [&] {
            for (int c = 0; c < kConsumers; ++c) (void)mq.send_for(item{-1, 0}, 10s);  // a consumer missing one fails its wait
        });

    // 2. MPMC ring in shared memory. The parent counts as a sender until the
    // producers are done, so a consumer that starts first does not take the
    // empty, sender-less ring for the end; then it leaves (by destroying its end).
    std::optional<ipc::shm_mpmc_channel<item>> ring = ipc::shm_mpmc_channel<item>::create(ring_name, 64);
    ring->transport().attach(ipc::direction::send);
    const bool ring_ok = run(
        "MPMC ring:", *t,
        [&](int p) {
            auto tx = ipc::shm_mpmc_channel<item>::open(ring_name);  // its own end: counted as a sender
            for (int s = 0; s < kItems; ++s)
                if (tx.send_for(item{p, s}, 10s) != ipc::status::ok) return 1;
            return 0;  // tx leaves here
        },
        [&] {
            auto rx = ipc::shm_mpmc_channel<item>::open(ring_name);
            rx.transport().end_of_stream(ipc::eos::when_all_senders_left);
            for (item i{};;) {
                const ipc::status st = rx.recv_for(i, 10s);
                if (st == ipc::status::closed) return 0;
                if (st != ipc::status::ok) return 1;
                if (!count(*t, i)) return 2;
            }
        },
        [&] { ring.reset(); });
    ipc::transport::posix_shm<ipc::ring::mpmc<item>>::remove(ring_name);

    std::printf(mq_ok && ring_ok ? "nothing lost, nothing twice\n" : "FAILED\n");
    return mq_ok && ring_ok ? 0 : 1;
}
