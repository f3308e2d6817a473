// bench/channels.hpp: ipc channels as bench links.
//
// A maker builds, in the parent, the two endpoints of a duplex connection for
// a message type T and a framing F; each endpoint has send(const T&) and
// recv(T&) returning ipc::status. A new transport needs one maker here and one
// line per framing in the case table (main.cpp).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ipc/channel.hpp>

#include "harness.hpp"

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

struct pipe_maker {
    template <class T, class F>
    static auto make() {
        auto ab = ipc::pipe_channel<T, ipc::sync::poll, F>::create();
        auto ba = ipc::pipe_channel<T, ipc::sync::poll, F>::create();
        return cross(std::move(ab.sender), std::move(ab.receiver), std::move(ba.sender), std::move(ba.receiver));
    }
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

template <class Maker, class Framing, class T>
class link {
    using pair_type = decltype(Maker::template make<T, Framing>());
    using endpoint = typename pair_type::first_type;

public:
    explicit link(std::size_t size) : tx_(make_message<T>(size)), rx_(tx_) { both_.emplace(Maker::template make<T, Framing>()); }

    void open(side s) {
        me_.emplace(std::move(s == side::a ? both_->first : both_->second));
        both_.reset();  // close the other side's ends in this process
    }
    void send() { expect(me_->send(tx_)); }
    void recv() { expect(me_->recv(rx_)); }

private:
    static void expect(ipc::status st) {
        if (!st) throw std::runtime_error(std::string("channel: ") + st.name());
    }

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

} // namespace bench::channels
