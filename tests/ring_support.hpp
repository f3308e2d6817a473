// tests/ring_support.hpp: shared-memory channel setups for the conformance
// suite and the shm tests, over any named transport and sync policy.
#pragma once

#include <ipc/channel.hpp>

#include <filesystem>
#include <type_traits>
#include <vector>

#include "conformance.hpp"

namespace ipc_test {

// A fresh policy object; eventfds are made here, in the parent, so that the
// forked children share them (they cannot travel through shared memory).
template <class Sync>
Sync make_sync() {
    if constexpr (std::is_same_v<Sync, ipc::sync::eventfd>) return ipc::sync::eventfd::create();
    else return Sync{};
}

template <class T>
using ring_for = std::conditional_t<std::is_trivially_copyable_v<T>, ipc::ring::spsc<T>, ipc::ring::bytes>;

// Removes a named region (and anything attached to it) when the test ends.
template <class Named>
struct remover {
    std::string name;
    ~remover() {
        std::error_code ec;
        (void)Named::remove(name, ec);
    }
};

// Objects this test process (or its children, whose names it made) left in
// /dev/shm: every test removes what it made, so this must stay empty.
inline std::vector<std::string> leftovers_in_dev_shm() {
    const std::string mine = "ipc.ipc-test-" + std::to_string(::getpid()) + "-";
    std::vector<std::string> found;
    for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
        if (e.path().filename().string().rfind(mine, 0) == 0) found.push_back(e.path().filename().string());
    return found;
}

// Capacity of the rings in conformance cases: small, so they wrap and fill.
template <class T>
inline constexpr std::uint64_t conformance_capacity = std::is_trivially_copyable_v<T> ? 64 : 16384;

// The two ends of a conformance case over a region: Derived::open() makes a
// new transport on it in the calling process; each end says which end it is
// (attach), so the peer can tell when it leaves.
template <class Derived, class T, class Transport, class Sync, class Framing>
struct region_ends {
    using channel = ipc::channel<T, Transport, Sync, Framing>;
    Sync sync = make_sync<Sync>();

    channel open_as(ipc::direction d) {
        Transport t = static_cast<Derived&>(*this).open();
        t.attach(d);
        return channel(std::move(t), Framing{}, std::move(sync));
    }
    channel make_sender() { return open_as(ipc::direction::send); }
    channel make_receiver() { return open_as(ipc::direction::recv); }
};

// Setup for IPC_CONFORMANCE over a named transport: the region is created in
// the parent and opened by name in each process.
template <template <class> class Named, class Sync>
struct named_setup {
    static constexpr bool reports_close = true;
    static constexpr std::size_t max_message = 8000;

    template <class T, class Framing>
    struct ends : region_ends<ends<T, Framing>, T, Named<ring_for<T>>, Sync, Framing> {
        using transport = Named<ring_for<T>>;
        remover<transport> region{unique_name("conf")};
        ends() { transport::create(region.name, conformance_capacity<T>); }
        transport open() { return transport::open(region.name); }
    };
};

// Two named rings of 8 slots for a test and an exec'd peer (tests/poller_peer.cpp):
// `to` carries test -> peer, `from` peer -> test.
template <class Region>
struct ring_pair {
    remover<Region> to, from;
    explicit ring_pair(const std::string& tag) : to{unique_name(tag + "-to")}, from{unique_name(tag + "-from")} {
        (void)Region::create(to.name, 8);
        (void)Region::create(from.name, 8);
    }
};

}  // namespace ipc_test
