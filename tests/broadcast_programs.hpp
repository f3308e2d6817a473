// tests/broadcast_programs.hpp: what the channel-level tests of both
// broadcast kinds (unit-shm-broadcast.cpp, unit-shm-broadcast-bytes.cpp)
// share: the exec'd peer (tests/broadcast_peer.cpp, IPC_BROADCAST_PEER),
// waiting for subscribers to join, and the publisher-restart scenario.
#pragma once

#include <csignal>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "peer_program.hpp"

namespace ipc_test {

// tests/broadcast_peer.cpp with these arguments.
struct broadcast_peer : peer_program {
    explicit broadcast_peer(std::vector<std::string> args) : peer_program(IPC_BROADCAST_PEER, std::move(args)) {}
};

// Waits (bounded) until n subscribers hold entries in ch's region.
template <class Channel>
bool wait_subscribers(Channel& ch, unsigned n, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (ch.transport().ring().subscribers() < n)
        if (std::chrono::steady_clock::now() >= until) return false;
        else std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return true;
}

// `subs` subscriber programs (the first waiting in a poller; "dead": a dead
// publisher is news to wait through) read messages 0 .. last from the region
// `made` created; a publisher program is SIGKILLed a third of the way
// (published(ring) says how far it got), which they must hear as peer_dead,
// and a second one, started 300 ms later, carries on to the end. Every
// program must exit 0. prefix picks the peer's modes ("", "bytes-").
template <class Channel, class Published>
void kill_and_restart_publisher(Channel& made, const std::string& region, const std::string& prefix, unsigned subs, std::uint64_t last,
                                Published published) {
    const std::string last_s = std::to_string(last);
    std::vector<std::unique_ptr<broadcast_peer>> readers;
    for (unsigned i = 0; i < subs; ++i) {
        std::vector<std::string> a{prefix + "sub", region, last_s, "0", "dead"};
        if (i == 0) a.push_back("poll");
        readers.push_back(std::make_unique<broadcast_peer>(a));
    }
    REQUIRE(wait_subscribers(made, subs));
    auto& ring = made.transport().ring();
    {
        broadcast_peer first({prefix + "pub", region, last_s, "3000"});
        const auto t0 = std::chrono::steady_clock::now();
        while (published(ring) < last / 3 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ::kill(first.pid(), SIGKILL);
        CHECK(first.wait() == -SIGKILL);
    }
    CHECK(published(ring) < last);
    CHECK(ring.publisher_status() == std::remove_cvref_t<decltype(ring)>::publisher_state::dead);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // subscribers are told peer_dead
    broadcast_peer second({prefix + "pub", region, last_s});
    CHECK(second.wait(std::chrono::seconds(30)) == 0);
    for (auto& r : readers) CHECK(r->wait(std::chrono::seconds(30)) == 0);
}

}  // namespace ipc_test
