// bench/channels.hpp: ipc channels as bench links.
//
// A maker builds, in the parent, the two endpoints of a duplex connection for
// a message type T and a framing F; each endpoint has send(const T&) and
// recv(T&) returning ipc::status: a pair of one-way channels (split_endpoint)
// or one duplex channel. A new transport needs one maker here and one line per
// framing in the case table (cases_channels.cpp, cases_sockets.cpp).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ipc/channel.hpp>

#include "harness.hpp"
#include "raw.hpp"

namespace bench::channels {

// One side of a pair of one-way channels (pipes, FIFOs): it sends on one, receives on the other.
template <class Tx, class Rx>
struct split_endpoint {
    Tx tx;
    Rx rx;
    template <class T>
    ipc::status send(const T& v) { return tx.send(v); }
    template <class T>
    ipc::status recv(T& v) { return rx.recv(v); }
};

template <class Tx, class Rx>
std::pair<split_endpoint<Tx, Rx>, split_endpoint<Tx, Rx>> cross(Tx ab_tx, Rx ab_rx, Tx ba_tx, Rx ba_rx) {
    using endpoint = split_endpoint<Tx, Rx>;
    return {endpoint{std::move(ab_tx), std::move(ba_rx)}, endpoint{std::move(ba_tx), std::move(ab_rx)}};
}

// ---- makers, one per transport -------------------------------------------------
//
// make<T, F>(size) returns the two endpoints; it may throw not_applicable for
// a size the transport cannot carry. window(size), where present, is the
// one-way credit for lossy transports (see harness.hpp).

struct pipe_maker {
    template <class T, class F>
    static auto make(std::size_t) {
        auto ab = ipc::pipe_channel<T, ipc::sync::poll, F>::create();
        auto ba = ipc::pipe_channel<T, ipc::sync::poll, F>::create();
        return cross(std::move(ab.sender), std::move(ab.receiver), std::move(ba.sender), std::move(ba.receiver));
    }
};

// Two FIFOs in a private directory, unlinked once both ends are open.
struct fifo_maker {
    template <class T, class F>
    static auto make(std::size_t) {
        using namespace ipc::transport;
        temp_dir dir;
        auto open_one = [&](const char* name) {
            const std::string path = dir.file(name);
            fifo::create(path);
            fifo_reader r = fifo_reader::open(path);
            fifo_writer w = fifo_writer::open(path, std::chrono::seconds(5));
            return std::pair{ipc::fifo_sender<T, ipc::sync::poll, F>(std::move(w)), ipc::fifo_receiver<T, ipc::sync::poll, F>(std::move(r))};
        };
        auto ab = open_one("ab");
        auto ba = open_one("ba");
        return cross(std::move(ab.first), std::move(ab.second), std::move(ba.first), std::move(ba.second));
    }
};

// One duplex channel per side over socketpair(2).
template <class Socket>
struct socketpair_maker {
    template <class T, class F>
    static auto make(std::size_t) {
        using chan = ipc::channel<T, Socket, ipc::sync::poll, F>;
        auto p = Socket::pair();
        return std::pair<chan, chan>{chan(std::move(p.first)), chan(std::move(p.second))};
    }
};

struct tcp_maker {
    template <class T, class F>
    static auto make(std::size_t) {
        using namespace ipc::transport;
        using chan = ipc::tcp_channel<T, ipc::sync::poll, F>;
        auto listener = tcp_listener::listen(ipc::transport::inet_address::loopback_v4());
        tcp client = tcp::connect(inet_address::loopback_v4(listener.local_port()));
        return std::pair<chan, chan>{chan(std::move(client)), chan(listener.accept())};
    }
};

struct udp_maker {
    template <class T, class F>
    static auto make(std::size_t size) {
        using namespace ipc::transport;
        using chan = ipc::udp_channel<T, ipc::sync::poll, F>;
        if (size > raw::udp_loopback::max_datagram) throw not_applicable("a UDP/IPv4 datagram carries at most 65507 bytes");
        udp a = udp::bind(inet_address::loopback_v4());
        udp b = udp::bind(inet_address::loopback_v4());
        std::error_code ec;
        if (!a.set_peer(b.local_address(ec), ec) || !b.set_peer(a.local_address(ec), ec)) ipc::detail::throw_if(ec, "udp connect");
        return std::pair<chan, chan>{chan(std::move(a)), chan(std::move(b))};
    }
    static std::size_t window(std::size_t size) { return raw::udp_loopback::window(size); }
};

// ---- messages ------------------------------------------------------------------

// The message type each framing carries: fixed needs sizeof(T) == size, so it
// is compiled for these sizes only; the others carry size bytes at run time.
inline constexpr std::size_t fixed_sizes[] = {8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};

template <class T>
T make_message(std::size_t size) {
    if constexpr (requires { std::tuple_size<T>::value; }) {
        T m;
        m.fill(std::byte{'x'});
        return m;
    } else {
        return T(size, typename T::value_type('x'));
    }
}

// ---- the link ------------------------------------------------------------------

// A channel call that must succeed: anything but ok ends the measurement.
inline void expect(ipc::status st, const char* what) {
    if (st != ipc::status::ok) throw std::runtime_error(std::string(what) + ": " + st.name());
}

template <class Maker, class Framing, class T>
class link {
    using pair_type = decltype(Maker::template make<T, Framing>(0));
    using endpoint = typename pair_type::first_type;

public:
    explicit link(std::size_t size) : size_(size), tx_(make_message<T>(size)), rx_(tx_) {
        both_.emplace(Maker::template make<T, Framing>(size));
    }

    void open(side s) {
        me_.emplace(std::move(s == side::a ? both_->first : both_->second));
        both_.reset();  // close the other side's ends in this process
    }
    void send() { expect(me_->send(tx_), "channel send"); }
    void recv() { expect(me_->recv(rx_), "channel recv"); }
    std::size_t window() const {
        if constexpr (requires { Maker::window(size_); }) return Maker::window(size_);
        return 0;
    }

private:
    std::size_t size_;
    std::optional<pair_type> both_;
    std::optional<endpoint> me_;
    T tx_, rx_;
};

template <class Maker, class Framing, std::size_t... I>
result run_fixed(std::size_t size, const plan& p, std::index_sequence<I...>) {
    result r = result::skip("framing::fixed is compiled for powers of two from 8 to 65536 bytes only");
    ((size == fixed_sizes[I] ? (r = run_link<link<Maker, Framing, std::array<std::byte, fixed_sizes[I]>>>(size, p), 0) : 0), ...);
    return r;
}

// The case-table entry point for a channel over Maker's transport with Framing.
template <class Maker, class Framing>
result run(std::size_t size, const plan& p) {
    if constexpr (std::is_same_v<Framing, ipc::framing::fixed>)
        return run_fixed<Maker, Framing>(size, p, std::make_index_sequence<std::size(fixed_sizes)>{});
    else if constexpr (std::is_same_v<Framing, ipc::framing::delimited>)
        return run_link<link<Maker, Framing, std::string>>(size, p);
    else
        return run_link<link<Maker, Framing, std::vector<std::byte>>>(size, p);
}

}  // namespace bench::channels
