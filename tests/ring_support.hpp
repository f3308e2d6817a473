// tests/ring_support.hpp: shared-memory channel setups for the conformance
// suite and the shm tests, over any named transport and sync policy.
#pragma once

#include <ipc/channel.hpp>

#include <type_traits>

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

// Setup for IPC_CONFORMANCE: a region is created in the parent; each process
// opens it by name and says which end it is (attach), so the peer can tell
// when it leaves.
template <template <class> class Named, class Sync>
struct named_setup {
    static constexpr bool reports_close = true;
    static constexpr std::size_t max_message = 8000;

    template <class T, class Framing>
    struct ends {
        using transport = Named<ring_for<T>>;
        using channel = ipc::channel<T, transport, Sync, Framing>;
        static constexpr std::uint64_t capacity = std::is_trivially_copyable_v<T> ? 64 : 16384;

        remover<transport> region{unique_name("conf")};
        Sync sync = make_sync<Sync>();

        ends() { transport(ipc::create_only, region.name, capacity); }
        channel open_as(ipc::direction d) {
            transport t(ipc::open_only, region.name);
            t.attach(d);
            return channel(std::move(t), Framing{}, std::move(sync));
        }
        channel make_sender() { return open_as(ipc::direction::send); }
        channel make_receiver() { return open_as(ipc::direction::recv); }
    };
};

} // namespace ipc_test
