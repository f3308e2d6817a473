// bench/broadcast.hpp: ipc::ring::broadcast<T> driven directly, in an
// anonymous shared mapping (no channel, names or sync policy), spinning.
//
//   ring.broadcast.pingpong   one ring per direction, one subscriber on each:
//                             RTT against floor.atomic_pingpong, one-way
//                             throughput against floor.spsc_handwritten
//   ring.broadcast.fanoutN    one publisher, N subscriber processes (block
//                             policy: each gets every message); msgs/s is
//                             messages delivered to each subscriber per second
//   ipc.shm_broadcast.fanoutN the same through ipc::shm_broadcast channels
//                             (named region, sync::futex: subscribers park
//                             when they find nothing, each commit wakes them),
//                             against ring.broadcast.fanoutN
//   ipc.shm_broadcast_bytes.spin    ipc::shm_broadcast_bytes (records of any
//                             size, ring::broadcast_bytes) 1 -> 1 round trip and
//                             throughput, against ipc.shm_broadcast.spin
//   ipc.shm_broadcast_bytes.fanout4 its fan-out to 4, against ipc.shm_broadcast.fanout4
#pragma once

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ipc/ring/broadcast.hpp>
#include <ipc/ring/broadcast_bytes.hpp>

#include "floors.hpp"
#include "harness.hpp"
#include "shm.hpp"

namespace bench::broadcast {

template <class T>
using ring = ipc::ring::broadcast<T>;

inline ipc::ring::broadcast_options options_for(std::size_t size, std::uint32_t subscribers) {
    return {shm::slots_for(size), subscribers, ipc::ring::slow_policy::block, 0};
}

// Two rings, one per direction, each subscribed to (in the parent, before
// fork) by the side that reads it; each side opens the publisher of the ring
// it writes.
template <class T>
class link {
public:
    explicit link(std::size_t size)
        : bytes_(ring<T>::required_size(options_for(size, 1))), region_(2 * bytes_), tx_(std::make_unique<T>()), rx_(std::make_unique<T>()) {
        if (sizeof(T) != size) throw not_applicable("ring.broadcast is compiled for 8, 64, 4096 and 65536 bytes");
        tx_->fill(std::byte{'x'});
        for (int i = 0; i < 2; ++i) {
            std::error_code ec;
            ring_[i] = ring<T>::format(std::span<std::byte>(region_.data() + static_cast<std::size_t>(i) * bytes_, bytes_), options_for(size, 1), ec);
            ipc::detail::throw_if(ec, "ring::broadcast::format");
            if (!ring_[i].subscribe(sub_[i], ec)) ipc::detail::throw_error(ec, "ring::broadcast::subscribe");
        }
    }
    void open(side s) {
        out_ = s == side::a ? 0 : 1;
        std::error_code ec;
        if (!ring_[out_].open_publisher(pub_, ec)) ipc::detail::throw_error(ec, "ring::broadcast::open_publisher");
    }
    void send() {
        if (!ring_[out_].try_push(pub_, *tx_)) floors::spin_until([&] { return ring_[out_].try_push(pub_, *tx_); });
    }
    void recv() {
        const int in = 1 - out_;
        if (!ring_[in].try_pop(sub_[in], *rx_)) floors::spin_until([&] { return bool(ring_[in].try_pop(sub_[in], *rx_)); });
    }

private:
    std::size_t bytes_;
    floors::shared_region region_;
    ring<T> ring_[2];
    typename ring<T>::subscriber sub_[2];
    typename ring<T>::publisher pub_;
    int out_ = 0;
    std::unique_ptr<T> tx_, rx_;
};

// What the fan-out's processes share beside the ring.
struct board {
    std::atomic<std::uint32_t> ready{0};
    std::atomic<std::uint32_t> finished{0};
    std::atomic<std::uint64_t> last{UINT64_MAX};  // the last message's number, once sent
};

// Forks n subscriber processes, each running sub() (which subscribes, bumps
// b.ready and reads until b.last), pins the publisher (the parent) to side
// a, and once every subscriber is in, times send(seq) from the first message
// until every subscriber has read the last; then reaps them.
template <class Sub, class Send>
result fan_out(std::uint32_t n, std::size_t size, const plan& p, board& b, Sub sub, Send send) {
    std::fflush(nullptr);
    std::vector<pid_t> kids;
    for (std::uint32_t i = 0; i < n; ++i) {
        const pid_t pid = ::fork();
        if (pid < 0) break;
        if (pid == 0) {
            child_main("subscriber", [&] {
                sub();
                b.finished.fetch_add(1);
            });
        }
        kids.push_back(pid);
    }
    result res;
    try {
        if (kids.size() != n) throw std::runtime_error("fork failed");
        pin(side::a);
        floors::spin_until([&] { return b.ready.load() == n; });
        const std::size_t max_msgs = std::max<std::size_t>(2, p.messages(size));
        const std::int64_t t0 = now_ns();
        std::uint64_t sent = 0;
        while (sent + 1 < max_msgs && (sent % 16 != 0 || now_ns() - t0 < p.oneway_budget_ns)) send(sent++);
        b.last.store(sent, std::memory_order_release);
        send(sent++);
        floors::spin_until([&] { return b.finished.load() == n; });
        const double secs = static_cast<double>(now_ns() - t0) * 1e-9;
        res.msgs_per_s = static_cast<double>(sent) / secs;
        res.mb_per_s = res.msgs_per_s * static_cast<double>(size) * 1e-6;
    } catch (const std::exception& e) {
        res = result::fail(e.what());
        for (pid_t k : kids) ::kill(k, SIGKILL);
    }
    for (pid_t k : kids) {
        int st = 0;
        while (::waitpid(k, &st, 0) < 0 && errno == EINTR) {}
        if (res.error.empty() && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) res = result::fail("a subscriber process failed");
    }
    return res;
}

// ring.broadcast.fanoutN: the ring in an anonymous mapping, spinning (with
// two CPUs the subscribers share side b's).
template <class T, std::uint32_t N>
result run_fanout_sized(std::size_t size, const plan& p) {
    const auto opts = options_for(size, N);
    const std::size_t bytes = ring<T>::required_size(opts);
    floors::shared_region region(bytes), page(sizeof(board));
    board& b = *new (page.data()) board;
    std::error_code ec;
    ring<T> r = ring<T>::format(std::span<std::byte>(region.data(), bytes), opts, ec);
    if (ec) return result::fail(ipc::detail::describe(ec, "ring::broadcast::format"));
    typename ring<T>::publisher pub;
    if (!r.open_publisher(pub, ec)) return result::fail(ipc::detail::describe(ec, "ring::broadcast::open_publisher"));
    auto tx = std::make_unique<T>();
    tx->fill(std::byte{'x'});
    const auto sub = [&] {
        typename ring<T>::subscriber s;
        std::error_code e;
        if (!r.subscribe(s, e)) ipc::detail::throw_error(e, "subscribe");
        b.ready.fetch_add(1);
        auto rx = std::make_unique<T>();
        for (std::uint64_t got = 0;; ++got) {
            // Alone on its CPU a subscriber spins a while; sharing it (they
            // all run on side b's), it yields at once when it finds nothing,
            // so the others read meanwhile.
            typename ring<T>::template read_result<T> rd;
            for (unsigned polls = 1; !(rd = r.try_pop(s, *rx)); ++polls) {
                if (N > 1 || polls % 256 == 0) ::sched_yield();
                else ipc::detail::cpu_relax();
            }
            if (rd.seq != got) throw std::runtime_error("a subscriber missed a message");
            if (rd.seq == b.last.load(std::memory_order_acquire)) break;
        }
    };
    return fan_out(N, size, p, b, sub, [&](std::uint64_t) {
        if (!r.try_push(pub, *tx)) floors::spin_until([&] { return r.try_push(pub, *tx); });
    });
}

// ipc.shm_broadcast.fanoutN: the publisher and N subscriber processes each
// open the region by name (the subscribers before the first message), and
// move messages with send_for / recv_for (sync::futex). Each message carries
// its number in its first 8 bytes, which a subscriber checks.
template <class T, std::uint32_t N>
result run_channel_fanout_sized(std::size_t size, const plan& p) {
    using channel = ipc::shm_broadcast<T>;
    const std::string name = shm::region_name();
    floors::shared_region page(sizeof(board));
    board& b = *new (page.data()) board;
    std::optional<channel> pub;
    try {
        pub.emplace(channel::create(name, options_for(size, N)));
    } catch (const std::exception& e) {
        return result::fail(e.what());
    }
    struct remove_region {
        const std::string& name;
        ~remove_region() {
            std::error_code ec;
            (void)channel::remove(name, ec);
        }
    } remover{name};
    auto tx = std::make_unique<T>();
    tx->fill(std::byte{'x'});
    const auto sub = [&] {
        pub.reset();  // the parent's end, inherited: not this process's
        auto rx = channel::open(name);
        rx.transport().attach(ipc::direction::recv);
        b.ready.fetch_add(1);
        auto msg = std::make_unique<T>();
        for (std::uint64_t got = 0;; ++got) {
            shm::expect(rx.recv_for(*msg, std::chrono::seconds(measurement_timeout_s)), "recv_for");
            std::uint64_t seq = 0;
            std::memcpy(&seq, msg->data(), sizeof seq);
            if (seq != got) throw std::runtime_error("a subscriber missed a message");
            if (seq == b.last.load(std::memory_order_acquire)) break;
        }
    };
    return fan_out(N, size, p, b, sub, [&](std::uint64_t seq) {
        std::memcpy(tx->data(), &seq, sizeof seq);
        shm::expect(pub->send_for(*tx, std::chrono::seconds(measurement_timeout_s)), "send_for");
    });
}

template <std::uint32_t N, std::size_t... I>
result run_channel_fanout(std::size_t size, const plan& p, std::index_sequence<I...>) {
    result r = result::skip("ipc.shm_broadcast cases are compiled for 8, 64, 4096 and 65536 bytes only");
    ((size == shm::sizes[I] ? (r = run_channel_fanout_sized<shm::message<shm::sizes[I]>, N>(size, p), 0) : 0), ...);
    return r;
}
template <std::uint32_t N>
result run_channel_fanout(std::size_t size, const plan& p) {
    return run_channel_fanout<N>(size, p, std::make_index_sequence<std::size(shm::sizes)>{});
}

template <std::uint32_t N, std::size_t... I>
result run_fanout(std::size_t size, const plan& p, std::index_sequence<I...>) {
    result r = result::skip("ring.broadcast cases are compiled for 8, 64, 4096 and 65536 bytes only");
    ((size == shm::sizes[I] ? (r = run_fanout_sized<shm::message<shm::sizes[I]>, N>(size, p), 0) : 0), ...);
    return r;
}
template <std::uint32_t N>
result run_fanout(std::size_t size, const plan& p) {
    return run_fanout<N>(size, p, std::make_index_sequence<std::size(shm::sizes)>{});
}

template <std::size_t N>
using link_of = link<shm::message<N>>;
inline result run_pingpong(std::size_t size, const plan& p) {
    return shm::run_sized<link_of>(size, p, std::make_index_sequence<std::size(shm::sizes)>{});
}

// ---- ipc::shm_broadcast_bytes: the variable-size broadcast ring ------------

namespace bytes {

using message = std::vector<std::byte>;
template <class Sync>
using channel = ipc::shm_broadcast_bytes<message, Sync>;

// As many records as the fixed rings have slots, each a 16-byte header and
// the payload padded to 16.
inline ipc::ring::broadcast_options options_for(std::size_t size, std::uint32_t subscribers, std::uint64_t history) {
    const std::uint64_t capacity = std::bit_ceil(shm::slots_for(size) * (floors::round_up(size, 16) + 16));
    return {capacity, subscribers, ipc::ring::slow_policy::block, history};
}

// Removes a named region when the case ends (in the parent: children _exit).
template <class Channel>
struct region_remover {
    std::string name;
    ~region_remover() {
        std::error_code ec;
        if (!name.empty()) (void)Channel::remove(name, ec);
    }
};

// Two regions, one per direction; each side subscribes to the one it reads
// in open(). A side may send its first record before the other subscribed:
// history 1 hands it that record (a ping-pong has one in flight). Loan: zero
// copy (loan_bytes/commit, peek_bytes/release), the first 8-byte word of each
// record written and read in place, as shm::mode::bytes_loan.
template <class Sync, bool Loan = false>
class link {
    using ch = channel<Sync>;

public:
    explicit link(std::size_t size) : tx_(size, std::byte{'x'}) {
        for (auto& r : regions_) {
            r.name = shm::region_name();
            (void)ch::create(r.name, options_for(size, 1, 1));
        }
    }
    void open(side s) {
        const int o = s == side::a ? 0 : 1;
        out_.emplace(ch::open(regions_[o].name));
        in_.emplace(ch::open(regions_[1 - o].name));
        in_->transport().attach(ipc::direction::recv);
    }
    void send() {
        if constexpr (Loan) {
            auto room = out_->loan_bytes(tx_.size());
            shm::expect(room.status(), "loan_bytes");
            ++seq_;
            std::memcpy(room.data(), &seq_, std::min(sizeof seq_, room.size()));
            room.commit();
        } else {
            shm::expect(out_->send(tx_), "send");
        }
    }
    void recv() {
        if constexpr (Loan) {
            auto rec = in_->peek_bytes();
            shm::expect(rec.status(), "peek_bytes");
            std::uint64_t got = 0;
            std::memcpy(&got, rec.data(), std::min(sizeof got, rec.size()));
            asm volatile("" : : "r"(got));
            if (!rec.release()) throw std::runtime_error("a record was written over while read (block policy)");
        } else {
            shm::expect(in_->recv(rx_), "recv");
        }
    }

private:
    region_remover<ch> regions_[2];
    std::optional<ch> out_, in_;
    message tx_, rx_;
    std::uint64_t seq_ = 0;
};

template <class Sync, bool Loan = false>
result run(std::size_t size, const plan& p) {
    if (size < 1) return result::skip("ipc.shm_broadcast_bytes: records of at least 1 byte");
    return run_link<link<Sync, Loan>>(size, p);
}

// ipc.shm_broadcast_bytes.fanoutN: as run_channel_fanout_sized, through
// shm_broadcast_bytes (sync::futex); each record carries its number.
template <std::uint32_t N>
result run_fanout(std::size_t size, const plan& p) {
    using ch = channel<ipc::sync::futex>;
    if (size < sizeof(std::uint64_t)) return result::skip("ipc.shm_broadcast_bytes.fanout: records of at least 8 bytes");
    region_remover<ch> region{shm::region_name()};
    floors::shared_region page(sizeof(board));
    board& b = *new (page.data()) board;
    std::optional<ch> pub;
    try {
        pub.emplace(ch::create(region.name, options_for(size, N, 0)));
    } catch (const std::exception& e) {
        return result::fail(e.what());
    }
    message tx(size, std::byte{'x'});
    const auto sub = [&] {
        pub.reset();  // the parent's end, inherited: not this process's
        auto rx = ch::open(region.name);
        rx.transport().attach(ipc::direction::recv);
        b.ready.fetch_add(1);
        message msg;
        for (std::uint64_t got = 0;; ++got) {
            shm::expect(rx.recv_for(msg, std::chrono::seconds(measurement_timeout_s)), "recv_for");
            std::uint64_t seq = 0;
            if (msg.size() != size) throw std::runtime_error("a subscriber got a record of another size");
            std::memcpy(&seq, msg.data(), sizeof seq);
            if (seq != got) throw std::runtime_error("a subscriber missed a record");
            if (seq == b.last.load(std::memory_order_acquire)) break;
        }
    };
    return fan_out(N, size, p, b, sub, [&](std::uint64_t seq) {
        std::memcpy(tx.data(), &seq, sizeof seq);
        shm::expect(pub->send_for(tx, std::chrono::seconds(measurement_timeout_s)), "send_for");
    });
}

}  // namespace bytes

}  // namespace bench::broadcast
