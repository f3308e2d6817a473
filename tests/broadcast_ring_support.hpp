// tests/broadcast_ring_support.hpp: what the ring-level tests of both
// broadcast kinds (unit-ring-broadcast.cpp, unit-ring-broadcast-bytes.cpp)
// share: a ring formatted in an anonymous shared mapping that forked
// subscribers inherit, the board where they report, and the fork-and-check
// shapes (subscriber processes, waiting for them, a publisher's bounded loop).
// What each kind's subscribers check stays in its own test file.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "support.hpp"

namespace ipc_test::broadcast_ring {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// An anonymous shared mapping, inherited by forked children.
struct shared_mem {
    explicit shared_mem(std::size_t n) : size(n) {
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        REQUIRE(p != MAP_FAILED);
        mem = static_cast<std::byte*>(p);
    }
    ~shared_mem() { ::munmap(mem, size); }
    shared_mem(const shared_mem&) = delete;
    shared_mem& operator=(const shared_mem&) = delete;
    std::span<std::byte> span() { return {mem, size}; }
    std::size_t size;
    std::byte* mem;
};

// A Ring (either broadcast kind) made with these options in its own mapping.
template <class Ring>
struct shared_ring_of : shared_mem {
    explicit shared_ring_of(const ipc::ring::broadcast_options& o) : shared_mem(Ring::required_size(o)) {
        REQUIRE(size > 0);
        std::error_code ec;
        ring = Ring::format(span(), o, ec);
        REQUIRE_FALSE(ec);
    }
    typename Ring::control& ctl() { return ipc::ring::state_of<Ring>(span())->ctl; }
    Ring ring;
};

// Flags and counters the test's processes share, beside the ring.
struct board {
    std::atomic<std::uint32_t> ready;  // subscribers that have subscribed
    std::atomic<std::uint32_t> done;   // the publisher has published everything
    std::atomic<std::uint64_t> total;  // messages published, once done
    std::atomic<std::uint64_t> delivered[64];
    std::atomic<std::uint64_t> missed[64];
    std::atomic<std::uint32_t> dropped_seen[64];

    // The publisher is done: `published` messages in all.
    void finish(std::uint64_t published) {
        total.store(published);
        done.store(1, std::memory_order_release);
    }
};
struct shared_board : shared_mem {
    shared_board() : shared_mem(sizeof(board)) { b = new (mem) board{}; }
    board* b;
};

// The words recorded where ec was found (ipc::detail::explain).
inline std::string words(std::error_code ec) { return ipc::detail::describe(ec, "said"); }

// Child exit codes both kinds' subscribers use (a test file adds its own from 17 on).
constexpr int out_of_order = 11, torn = 12, wrong_missed = 13, timed_out_reading = 14, subscribe_failed = 15, was_dropped = 16;

// Waits (bounded) until n subscribers said they subscribed.
inline void wait_ready(board& b, std::uint32_t n) {
    const auto give_up = clock_type::now() + 20s;
    while (b.ready.load() < n) {
        if (clock_type::now() >= give_up) FAIL("no progress in time");
        std::this_thread::sleep_for(100us);
    }
}

// Publishes n messages from the calling process: put() writes one and
// returns true, or returns false when there is no room (waited for, bounded).
template <class Put>
void publish_n(std::uint64_t n, Put put) {
    const auto give_up = clock_type::now() + 20s;
    for (std::uint64_t i = 0; i < n;) {
        if (put()) {
            ++i;
            continue;
        }
        if (clock_type::now() >= give_up) FAIL("no progress in time");
        std::this_thread::yield();
    }
}

// This process as the ring's publisher, checking for dead subscribers every millisecond.
template <class Ring>
typename Ring::publisher open_pub(Ring& r) {
    typename Ring::publisher p;
    std::error_code ec;
    REQUIRE(r.open_publisher(p, ec));
    p.check_interval = 1ms;
    return p;
}

// This process as a subscriber, with the region's history.
template <class Ring>
typename Ring::subscriber subscribed(Ring& r) {
    typename Ring::subscriber s;
    std::error_code ec;
    REQUIRE(r.subscribe(s, ec));
    return s;
}

// A child that subscribes, says so on the board, then runs body(s); an
// exit code either way.
template <class Ring, class Body>
child subscriber_process(Ring& r, board& b, Body body) {
    return child([&r, &b, body] {
        typename Ring::subscriber s;
        std::error_code ec;
        if (!r.subscribe(s, ec)) return subscribe_failed;
        b.ready.fetch_add(1);
        return body(s);
    });
}

// n such children, body(s, i) in child i.
template <class Ring, class Body>
std::vector<child> subscriber_processes(Ring& r, board& b, std::uint32_t n, Body body) {
    std::vector<child> subs;
    for (std::uint32_t i = 0; i < n; ++i)
        subs.push_back(subscriber_process(r, b, [body, i](typename Ring::subscriber& s) { return body(s, i); }));
    return subs;
}

}  // namespace ipc_test::broadcast_ring
