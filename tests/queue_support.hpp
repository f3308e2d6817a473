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

// A bounded wait on a full queue that holds exactly `capacity` records:
// try_send says would_block, send_for waits its whole time and says
// timed_out, and once a child drains the queue, sending works again.
template <class Channel, class MakeRx>
void check_full_queue(Channel& tx, std::size_t capacity, MakeRx make_rx) {
    gate g;
    child drainer([&] {
        auto rx = make_rx();
        if (!g.wait()) return 1;
        record r{};
        for (std::uint64_t i = 0; i <= capacity; ++i)
            if (rx.recv_for(r, 10s) != ipc::status::ok || !is_msg(i, r, 0)) return 2;
        return 0;
    });
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

// The ipc::errc that f() throws, or errc{} if it throws none.
template <class F>
ipc::errc errc_thrown_by(F&& f) {
    try {
        f();
    } catch (const ipc::error& e) {
        if (e.code().category() == ipc::ipc_category()) return static_cast<ipc::errc>(e.code().value());
    }
    return ipc::errc{};
}

// A foreign sender queued a message larger than a record, then record 7: the
// first receive says message_too_large and drops it, the next gets record 7.
template <class Channel>
void check_oversized_then_intact(Channel& rx) {
    record r{};
    std::error_code ec;
    CHECK(rx.recv_for(r, 5s, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::message_too_large);
    REQUIRE(rx.recv_for(r, 5s) == ipc::status::ok);
    CHECK(is_msg(7, r, 0));
}

}  // namespace ipc_test
