// ipc/detail/channel_factories.hpp: create / open / open_or_create / connect / remove on a
// channel, forwarded to its transport's factories of the same name.
//
// So a named channel opens in one call, `auto ch = ipc::shm_channel<point>::create("points", 1024);`,
// with the transport's own arguments and its std::error_code& twin (which
// returns a closed channel on failure). A transport without a factory of that
// name simply gives its channels none.
#pragma once

#include <string_view>
#include <system_error>
#include <utility>

namespace ipc::detail {

template <class Channel, class Transport>
struct channel_factories {
    template <class... Args>
        requires requires(Args&&... a) { Transport::create(std::forward<Args>(a)...); }
    [[nodiscard]] static Channel create(Args&&... args) {
        return Channel(Transport::create(std::forward<Args>(args)...));
    }
    // A transport whose region is made with options (ring::broadcast_options):
    // spelled out, since a braced list cannot go through the forwarding pack,
    // so that create("ticks", {.capacity = 1024, .history = 8}) reads as it should.
    template <class Tr = Transport>
        requires Tr::has_options
    [[nodiscard]] static Channel create(std::string_view name, const typename Tr::options& o) {
        return Channel(Tr::create(name, o));
    }
    template <class Tr = Transport>
        requires Tr::has_options
    [[nodiscard]] static Channel create(std::string_view name, const typename Tr::options& o, std::error_code& ec) {
        return Channel(Tr::create(name, o, ec));
    }
    template <class Tr = Transport>
        requires Tr::has_options
    [[nodiscard]] static Channel open_or_create(std::string_view name, const typename Tr::options& o) {
        return Channel(Tr::open_or_create(name, o));
    }
    template <class... Args>
        requires requires(Args&&... a) { Transport::open(std::forward<Args>(a)...); }
    [[nodiscard]] static Channel open(Args&&... args) {
        return Channel(Transport::open(std::forward<Args>(args)...));
    }
    template <class... Args>
        requires requires(Args&&... a) { Transport::open_or_create(std::forward<Args>(a)...); }
    [[nodiscard]] static Channel open_or_create(Args&&... args) {
        return Channel(Transport::open_or_create(std::forward<Args>(args)...));
    }
    // Sockets: ipc::tcp_channel<T>::connect(address, 1s), unix_stream_channel<T>::connect(...).
    template <class... Args>
        requires requires(Args&&... a) { Transport::connect(std::forward<Args>(a)...); }
    [[nodiscard]] static Channel connect(Args&&... args) {
        return Channel(Transport::connect(std::forward<Args>(args)...));
    }
    template <class... Args>
        requires requires(Args&&... a) { Transport::remove(std::forward<Args>(a)...); }
    static decltype(auto) remove(Args&&... args) {
        return Transport::remove(std::forward<Args>(args)...);
    }
};

}  // namespace ipc::detail
