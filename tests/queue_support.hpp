// tests/queue_support.hpp: what the POSIX and System V queue tests check the same way.
#pragma once

#include <cstdint>
#include <vector>

#include "conformance.hpp"

namespace ipc_test {

// Two worker processes receive from one queue while the parent sends `count`
// sequence numbers and then one stop mark per worker. Each worker says it is
// ready, then reports what it got through a pipe, pausing briefly after each
// message so that the other one gets work too; every number must arrive
// exactly once in total. make_tx() and make_rx() open channels of
// std::uint64_t on the queue.
template <class MakeTx, class MakeRx>
void check_two_receivers_share(MakeTx make_tx, MakeRx make_rx, std::uint64_t count = 300) {
    constexpr std::uint64_t stop = ~std::uint64_t{0};
    auto report_a = ipc::pipe_channel<std::uint64_t>::create();
    auto report_b = ipc::pipe_channel<std::uint64_t>::create();
    auto worker = [&](ipc::pipe_channel<std::uint64_t>& report) {
        return [&] {
            report.receiver.transport().close();
            auto rx = make_rx();
            if (report.sender.send_for(stop, 10s) != ipc::status::ok) return 3;  // ready
            std::uint64_t v = 0;
            for (;;) {
                if (rx.recv_for(v, 10s) != ipc::status::ok) return 1;
                if (v == stop) return 0;
                if (report.sender.send_for(v, 10s) != ipc::status::ok) return 2;
                ::usleep(200);
            }
        };
    };
    child a(worker(report_a));
    child b(worker(report_b));
    report_a.sender.transport().close();
    report_b.sender.transport().close();

    std::uint64_t ready = 0;
    REQUIRE(report_a.receiver.recv_for(ready, 10s) == ipc::status::ok);
    REQUIRE(report_b.receiver.recv_for(ready, 10s) == ipc::status::ok);
    auto tx = make_tx();
    for (std::uint64_t i = 0; i < count; ++i) REQUIRE(tx.send_for(i, 10s) == ipc::status::ok);
    REQUIRE(tx.send_for(stop, 10s) == ipc::status::ok);
    REQUIRE(tx.send_for(stop, 10s) == ipc::status::ok);
    CHECK(a.wait() == child_ok);
    CHECK(b.wait() == child_ok);

    std::vector<int> seen(count, 0);
    auto collect = [&](ipc::pipe_receiver<std::uint64_t>& report) {
        std::uint64_t n = 0, v = 0;
        while (report.recv_for(v, 5s) == ipc::status::ok) {
            REQUIRE(v < count);
            ++seen[v];
            ++n;
        }
        return n;
    };
    const std::uint64_t by_a = collect(report_a.receiver), by_b = collect(report_b.receiver);
    CHECK(by_a > 0);
    CHECK(by_b > 0);
    CHECK(by_a + by_b == count);
    for (std::uint64_t i = 0; i < count; ++i) REQUIRE_MESSAGE(seen[i] == 1, "message ", i, " arrived ", seen[i], " times");
}

// A bounded wait on a full queue: try_send says would_block, send_for waits
// its whole time and says timed_out, and once a child drains the queue after
// `g` opens, sending works again. The queue holds exactly `capacity` records.
template <class Channel>
void check_full_queue(Channel& tx, std::size_t capacity, gate& g, child& drainer) {
    for (std::size_t i = 0; i < capacity; ++i) REQUIRE(tx.try_send(make_msg<record>(i, 0)) == ipc::status::ok);
    CHECK(tx.try_send(make_msg<record>(capacity, 0)) == ipc::status::would_block);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(tx.send_for(make_msg<record>(capacity, 0), 30ms) == ipc::status::timed_out);
    CHECK(ms_since(t0) >= 30.0);
    CHECK(ms_since(t0) < 1000.0);
    g.open();
    CHECK(tx.send_for(make_msg<record>(capacity, 0), 10s) == ipc::status::ok);
    CHECK(drainer.wait() == child_ok);
}

} // namespace ipc_test
