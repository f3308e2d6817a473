// bench/shm.hpp: shared-memory channels as bench links, and the library's own
// rings driven directly (ring.spsc.raw, ring.mpmc.raw, ring.bytes.raw), to tell
// a ring's cost from its channel's.
//
// Each link is two rings in POSIX shared memory, one per direction, created in
// the parent before fork (both processes use the inherited mappings) and
// removed by name once the child is gone, with any System V semaphore set
// sync::sysv_sem made for them. Rings have as many slots as the
// floor.spsc_handwritten ring at the same size (1 MiB of payload, 16 to 4096
// slots), so the two are compared like for like.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <ipc/channel.hpp>
#include <ipc/poller.hpp>

#include "channels.hpp"
#include "floors.hpp"
#include "harness.hpp"

namespace bench::shm {

using channels::expect;

// How a message crosses:
//   copy   send(const T&) / recv(T&): one copy in, one copy out
//   loan   loan/commit, peek/release: the sender writes one 8-byte word of the
//          slot in place and the receiver reads it in place; the rest of the
//          message is whatever the application builds there, so nothing is copied
//   batch  send_n/recv_n of `batch_of(size)` messages per call: throughput
//   bytes  a variable-size record (std::vector<std::byte>) in ring::bytes
//   bytes_loan  the same ring, zero copy: loan_bytes(size)/commit, peek_bytes/
//          release; the sender writes the record's first 8-byte word in place and
//          the receiver reads it in place, as in loan
//   polled copy, received as an event loop does: try_recv, then ipc::poller::wait()
//   named  copy as two unrelated programs do it: each process opens both rings
//          by name (nothing inherited) and waits in its ipc::poller, to
//          receive and, when a ring is full, to send; parking at once
//   named_spin  the same with the poller's default spin_time (it spins first)
enum class mode { copy, loan, batch, bytes, bytes_loan, polled, named, named_spin };

// The message sizes the fixed-size cases are compiled for.
inline constexpr std::size_t sizes[] = {8, 64, 4096, 65536};

template <std::size_t N>
using message = std::array<std::byte, N>;

// Slots per ring, as the hand-written floors have.
inline std::uint64_t slots_for(std::size_t size) { return floors::ring_slots(size); }
// ring::bytes: the same number of records, each an 8-byte header plus the
// payload padded to 8 (a record may take at most half the ring).
inline std::uint64_t byte_capacity_for(std::size_t size) {
    return std::bit_ceil(slots_for(size) * (floors::round_up(size, 8) + 8));
}
// Messages per send_n / recv_n call: half the ring, at most 32.
inline std::size_t batch_of(std::size_t size) { return std::min<std::size_t>(32, slots_for(size) / 2); }

// Names unique to this process and link: ipc_bench.<pid>.<serial>.
inline std::string region_name() {
    static std::atomic<unsigned> serial{0};
    return "ipc_bench." + std::to_string(::getpid()) + "." + std::to_string(serial++);
}

template <class Sync>
Sync make_sync() {
    // eventfds cannot live in shared memory: both processes inherit these.
    if constexpr (std::is_same_v<Sync, ipc::sync::eventfd>) return ipc::sync::eventfd::create();
    else return Sync{};
}

// sync::spin whose blocking receives stay 2 KiB behind a sender that keeps
// sending (ipc.shm.spin.behind; see sync::spin::behind).
struct spin_behind : ipc::sync::spin {
    spin_behind() noexcept { behind = 2048; }
};

template <class Ring, class Sync, mode M, class T>
class link {
    using transport = ipc::transport::posix_shm<Ring>;
    static constexpr bool fixed = M != mode::bytes && M != mode::bytes_loan;
    using channel = ipc::channel<T, transport, Sync, std::conditional_t<fixed, ipc::framing::fixed, ipc::framing::length_prefixed>>;

public:
    explicit link(std::size_t size) : size_(size), batch_(M == mode::batch ? batch_of(size) : 1) {
        if constexpr (fixed) {
            if (sizeof(T) != size) throw not_applicable("fixed-size shm cases are compiled for 8, 64, 4096 and 65536 bytes");
            tx_.resize(batch_);
            rx_.resize(batch_);
            for (auto& m : tx_) m.fill(std::byte{'x'});
        } else {
            tx_.assign(1, T(size, std::byte{'x'}));
            rx_.assign(1, T(size));
        }
        const std::uint64_t capacity = fixed ? slots_for(size) : byte_capacity_for(size);
        for (int i = 0; i < 2; ++i) {
            names_[i] = region_name();
            if constexpr (requires { typename Ring::creation_options; })
                // A broadcast ring: the receiver subscribes after fork, maybe
                // after the first message; with history it starts with it.
                ring_[i] = transport::create(names_[i], {.capacity = capacity, .max_subscribers = 1, .history = capacity / 2});
            else
                ring_[i] = transport::create(names_[i], capacity);
            sync_[i] = make_sync<Sync>();
        }
    }
    // Runs in the parent only, after the child is gone (the child _exits).
    ~link() {
        reg_.reset();
        loop_.reset();
        out_.reset();
        in_.reset();
        for (int i = 0; i < 2; ++i) {
            ring_[i] = transport{};
            std::error_code ec;
            if (!names_[i].empty()) (void)transport::remove(names_[i], ec);
        }
    }
    link(const link&) = delete;
    link& operator=(const link&) = delete;

    // Ring 0 carries a -> b, ring 1 b -> a.
    void open(side s) {
        const int o = s == side::a ? 0 : 1;
        if constexpr (M == mode::named || M == mode::named_spin) {
            out_.emplace(channel::open(names_[o]));
            in_.emplace(channel::open(names_[1 - o]));
            loop_ = std::make_unique<ipc::poller>();
            if constexpr (M == mode::named) loop_->spin_time(std::chrono::nanoseconds(0));
            reg_ = loop_->add(*in_, ipc::ready::readable, 0);
            return;
        }
        ring_[o].attach(ipc::direction::send);
        ring_[1 - o].attach(ipc::direction::recv);
        out_.emplace(std::move(ring_[o]), typename channel::framing_type{}, std::move(sync_[o]));
        in_.emplace(std::move(ring_[1 - o]), typename channel::framing_type{}, std::move(sync_[1 - o]));
    }

    void send() {
        if constexpr (M == mode::loan) {
            auto slot = out_->loan();
            expect(slot.status(), "loan");
            ++seq_;
            std::memcpy(slot->data(), &seq_, sizeof seq_);
            slot.commit();
        } else if constexpr (M == mode::bytes_loan) {
            auto room = out_->loan_bytes(size_);
            expect(room.status(), "loan_bytes");
            ++seq_;
            std::memcpy(room.data(), &seq_, std::min(sizeof seq_, size_));
            room.commit();
        } else if constexpr (M == mode::batch) {
            std::span<const T> rest(tx_);
            while (!rest.empty()) {
                std::size_t sent = 0;
                expect(out_->send_n_for(rest, sent, std::chrono::seconds(measurement_timeout_s)), "send_n");
                rest = rest.subspan(sent);
            }
        } else if constexpr (M == mode::named || M == mode::named_spin) {
            ipc::poller::registration room;  // only while full: a ring with room is always writable
            for (;;) {
                const ipc::status s = out_->try_send(tx_[0]);
                if (s == ipc::status::ok) return;
                if (s != ipc::status::would_block) expect(s, "try_send");
                if (!room) room = loop_->add(*out_, ipc::ready::writable, 1);
                (void)loop_->wait();
            }
        } else {
            expect(out_->send(tx_[0]), "send");
        }
    }
    void recv() {
        if constexpr (M == mode::loan) {
            auto m = in_->peek();
            expect(m.status(), "peek");
            std::uint64_t got;
            std::memcpy(&got, m->data(), sizeof got);
            asm volatile("" : : "r"(got));  // the word is read, not optimised away
            m.release();
        } else if constexpr (M == mode::bytes_loan) {
            auto rec = in_->peek_bytes();
            expect(rec.status(), "peek_bytes");
            std::uint64_t got = 0;
            std::memcpy(&got, rec.data(), std::min(sizeof got, rec.size()));
            asm volatile("" : : "r"(got));
            (void)rec.release();
        } else if constexpr (M == mode::batch) {
            for (std::span<T> rest(rx_); !rest.empty();) {
                std::size_t got = 0;
                expect(in_->recv_n_for(rest, got, std::chrono::seconds(measurement_timeout_s)), "recv_n");
                rest = rest.subspan(got);
            }
        } else if constexpr (M == mode::named || M == mode::named_spin) {
            for (;;) {
                const ipc::status s = in_->try_recv(rx_[0]);
                if (s == ipc::status::ok) break;
                if (s != ipc::status::would_block) expect(s, "try_recv");
                (void)loop_->wait();
            }
        } else if constexpr (M == mode::polled) {
            for (;;) {
                const ipc::status s = in_->try_recv(rx_[0]);
                if (s == ipc::status::ok) break;
                if (s != ipc::status::would_block) expect(s, "try_recv");
                if (!loop_) {  // made in the process that receives, after fork
                    loop_ = std::make_unique<ipc::poller>();
                    reg_ = loop_->add(*in_, ipc::ready::readable, 0);
                }
                (void)loop_->wait();
            }
        } else {
            expect(in_->recv(rx_[0]), "recv");
        }
    }
    // batch: each send()/recv() moves this many messages (see harness.hpp).
    std::size_t messages_per_call() const { return batch_; }

private:
    std::size_t size_, batch_;
    std::string names_[2];
    transport ring_[2];
    Sync sync_[2];
    std::optional<channel> out_, in_;
    std::vector<T> tx_, rx_;  // on the heap: a 64 KiB message, or a batch of them
    std::uint64_t seq_ = 0;
    std::unique_ptr<ipc::poller> loop_;  // polled
    ipc::poller::registration reg_;
};

// A ring kind with nothing around it: try_push / try_pop spinning on the two
// rings, in an anonymous shared mapping (no names, no membership, no sync
// policy). What the channel adds is the difference to ipc.shm.spin (spsc),
// ipc.shm_mpmc.spin (mpmc) and ipc.shm_bytes.spin (bytes); what the ring's
// layout costs is the difference to floor.spsc_handwritten.
template <class Ring, class T>
class raw_ring {
    static constexpr bool fixed = Ring::fixed_size;

public:
    explicit raw_ring(std::size_t size)
        : capacity_(fixed ? slots_for(size) : byte_capacity_for(size)),
          bytes_(ipc::ring::required_size<Ring>(capacity_)),
          region_(2 * bytes_) {
        if constexpr (fixed) {
            if (sizeof(T) != size) throw not_applicable("ring.spsc.raw and ring.mpmc.raw are compiled for 8, 64, 4096 and 65536 bytes");
            tx_.resize(1);
            rx_.resize(1);
            tx_[0].fill(std::byte{'x'});
        } else {
            tx_.assign(size, std::byte{'x'});
            rx_.resize(size);
        }
        for (int i = 0; i < 2; ++i) {
            std::error_code ec;
            ring_[i] = ipc::ring::format<Ring>(std::span<std::byte>(region_.data() + static_cast<std::size_t>(i) * bytes_, bytes_),
                                               capacity_, ec);
            ipc::detail::throw_if(ec, "ring::format");
        }
    }
    void open(side s) { out_ = s == side::a ? 0 : 1; }
    void send() {
        if (!push()) floors::spin_until([&] { return push(); });
    }
    void recv() {
        if (!pop()) floors::spin_until([&] { return pop(); });
    }

private:
    // An mpmc claimant says who it is (its claim line), as a channel end does.
    static constexpr std::uint32_t producer = ipc::ring::owner_word(1, 1), consumer = ipc::ring::owner_word(2, 1);

    bool push() {
        if constexpr (Ring::ring_kind == ipc::ring::kind::mpmc) {
            return ring_[out_].try_push(tx_[0], producer);
        } else if constexpr (fixed) {
            return ring_[out_].try_push(tx_[0]);
        } else {
            std::error_code ec;
            const bool ok = ring_[out_].try_push(tx_, ec);
            if (ec) throw std::system_error(ec, "ring::bytes::try_push");
            return ok;
        }
    }
    bool pop() {
        if constexpr (Ring::ring_kind == ipc::ring::kind::mpmc) {
            return ring_[1 - out_].try_pop(rx_[0], consumer);
        } else if constexpr (fixed) {
            return ring_[1 - out_].try_pop(rx_[0]);
        } else {
            std::error_code ec;
            const auto n = ring_[1 - out_].try_pop(rx_, ec);
            if (ec) throw std::system_error(ec, "ring::bytes::try_pop");
            return n.has_value();
        }
    }

    std::uint64_t capacity_;
    std::size_t bytes_;
    floors::shared_region region_;
    Ring ring_[2];
    int out_ = 0;
    std::vector<T> tx_, rx_;  // one message (fixed kinds) or its bytes (ring::bytes), on the heap
};

// ---- case-table entry points ------------------------------------------------

template <template <std::size_t> class Link, std::size_t... I>
result run_sized(std::size_t size, const plan& p, std::index_sequence<I...>) {
    result r = result::skip("fixed-size shm cases are compiled for 8, 64, 4096 and 65536 bytes only");
    ((size == sizes[I] ? (r = run_link<Link<sizes[I]>>(size, p), 0) : 0), ...);
    return r;
}

template <template <class> class RingOf, class Sync, mode M>
struct fixed_link {
    template <std::size_t N>
    using type = link<RingOf<message<N>>, Sync, M, message<N>>;
};
template <std::size_t N>
using raw_spsc_of = raw_ring<ipc::ring::spsc<message<N>>, message<N>>;
template <std::size_t N>
using raw_mpmc_of = raw_ring<ipc::ring::mpmc<message<N>>, message<N>>;

// ipc.shm.<sync>[.loan|.batch] (Ring = ring::spsc), ipc.shm_mpmc.<sync> (ring::mpmc)
// and ipc.shm_bytes.<sync>[.loan] (ring::bytes, whatever RingOf says).
template <template <class> class RingOf, class Sync, mode M>
result run(std::size_t size, const plan& p) {
    if constexpr (M == mode::bytes || M == mode::bytes_loan)
        return run_link<link<ipc::ring::bytes, Sync, M, std::vector<std::byte>>>(size, p);
    else
        return run_sized<fixed_link<RingOf, Sync, M>::template type>(size, p, std::make_index_sequence<std::size(sizes)>{});
}

// ring.spsc.raw, ring.mpmc.raw, ring.bytes.raw.
template <ipc::ring::kind K>
result run_raw_ring(std::size_t size, const plan& p) {
    if constexpr (K == ipc::ring::kind::bytes)
        return run_link<raw_ring<ipc::ring::bytes, std::byte>>(size, p);
    else if constexpr (K == ipc::ring::kind::mpmc)
        return run_sized<raw_mpmc_of>(size, p, std::make_index_sequence<std::size(sizes)>{});
    else
        return run_sized<raw_spsc_of>(size, p, std::make_index_sequence<std::size(sizes)>{});
}

}  // namespace bench::shm
