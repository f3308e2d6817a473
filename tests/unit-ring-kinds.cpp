// Ring kinds as plug-ins (ipc/ring/kind.hpp): a kind written outside the
// library, in this file, runs through ring_region, channels and peer checks
// across processes; the kinds ipc ships describe themselves for ipc-ls; a
// region of layout version 5 is refused.
#include <ipc/channel.hpp>
#include <ipc/ring/kinds.hpp>

#include <signal.h>

#include <atomic>
#include <cstdint>

#include "ring_support.hpp"
#include "support.hpp"

namespace {

using namespace ipc_test;

// ---- a kind of the test's own: one sender, any number of receivers, each of
// which receives every message sent while it is attached, in order. The
// sender waits for the slowest receiver; a receiver that dies is reaped by
// repair(). (Receivers here join before the sender starts: joining while it
// runs is not made race-free, which this kind does not need to show.)

struct fanout_control {
    static constexpr std::size_t max_receivers = 8;
    struct receiver {
        std::atomic<std::uint32_t> owner;  // owner word of the receiver; 0: free
        std::atomic<std::uint64_t> cursor;  // the next index it reads
    };
    alignas(64) std::atomic<std::uint64_t> head;  // the next index the sender writes
    alignas(64) receiver table[max_receivers];
};

template <class T>
class fanout : public ipc::ring::view_base<fanout_control> {
    using base = ipc::ring::view_base<fanout_control>;

public:
    using value_type = T;
    static constexpr auto ring_kind = static_cast<ipc::ring::kind>(100);
    static constexpr bool fixed_size = true;
    static constexpr std::uint64_t min_capacity = 2;
    static constexpr std::uint64_t slot_size = sizeof(T);
    static constexpr std::uint64_t value_size = sizeof(T);
    static constexpr std::uint64_t value_align = alignof(T);
    static constexpr std::uint64_t tag = ipc::ring::type_tag<T>;
    static void init_data(std::byte*, std::uint64_t) noexcept {}

    static constexpr std::size_t max_ends(ipc::direction d) noexcept {
        return d == ipc::direction::send ? 1 : ipc::ring::unlimited_ends;
    }
    struct end_state {
        int entry = -1;  // receivers: its row in the table
        std::uint64_t cursor = 0;
    };

    using base::base;

    bool join(ipc::direction d, end_state& e, const ipc::ring::end_id& id, std::error_code& ec) noexcept {
        repair();
        if (d == ipc::direction::send) return true;
        auto& c = st_->ctl;
        for (std::size_t i = 0; id.owner != 0 && i < fanout_control::max_receivers; ++i) {
            std::uint32_t free = 0;
            // Until its cursor is set the row holds a stale one (at most the head): the sender waits, never overruns.
            if (!c.table[i].owner.compare_exchange_strong(free, id.owner, std::memory_order_acq_rel)) continue;
            e = {static_cast<int>(i), c.head.load(std::memory_order_acquire)};
            c.table[i].cursor.store(e.cursor, std::memory_order_release);
            return true;
        }
        ec = ipc::detail::explain(make_error_code(ipc::errc::limit_exceeded), "fanout: no free receiver row");
        return false;
    }
    void leave(ipc::direction d, end_state& e) noexcept {
        if (d == ipc::direction::recv && e.entry >= 0) st_->ctl.table[e.entry].owner.store(0, std::memory_order_release);
        e = {};
    }
    std::size_t repair() noexcept {
        std::size_t n = 0;
        for (auto& r : st_->ctl.table) {
            std::uint32_t who = r.owner.load(std::memory_order_acquire);
            if (who != 0 && !ipc::ring::owner_alive(peers(), who) &&
                r.owner.compare_exchange_strong(who, 0, std::memory_order_acq_rel))
                ++n;
        }
        return n;
    }

    bool can_push(const end_state&) const noexcept {
        const std::uint64_t h = st_->ctl.head.load(std::memory_order_acquire);
        for (auto& r : st_->ctl.table) {
            if (r.owner.load(std::memory_order_acquire) == 0) continue;
            const std::uint64_t c = r.cursor.load(std::memory_order_acquire);
            if (h - c >= capacity_) return false;
        }
        return true;
    }
    bool can_pop(const end_state& e) const noexcept {
        return e.entry >= 0 && e.cursor != st_->ctl.head.load(std::memory_order_acquire);
    }

    T* loan(end_state& e) noexcept { return can_push(e) ? at(st_->ctl.head.load(std::memory_order_relaxed)) : nullptr; }
    void commit(end_state&) noexcept { st_->ctl.head.fetch_add(1, std::memory_order_release); }
    void cancel(end_state&) noexcept {}
    const T* front(end_state& e) noexcept { return can_pop(e) ? at(e.cursor) : nullptr; }
    bool release(end_state& e) noexcept {
        st_->ctl.table[e.entry].cursor.store(++e.cursor, std::memory_order_release);
        return true;
    }
    std::size_t push_n(std::span<const T> vs, end_state& e) noexcept {
        std::size_t n = 0;
        for (; n < vs.size(); ++n) {
            T* p = loan(e);
            if (!p) break;
            *p = vs[n];
            commit(e);
        }
        return n;
    }
    std::size_t pop_n(std::span<T> out, end_state& e) noexcept {
        std::size_t n = 0;
        for (; n < out.size(); ++n) {
            const T* p = front(e);
            if (!p) break;
            out[n] = *p;
            release(e);
        }
        return n;
    }
    std::byte* loan_message(std::size_t n, end_state& e, std::error_code& ec) noexcept {
        if (n != sizeof(T)) ec = make_error_code(ipc::errc::bad_message);
        return n == sizeof(T) ? reinterpret_cast<std::byte*>(loan(e)) : nullptr;
    }
    void commit_message(std::size_t, end_state& e) noexcept { commit(e); }
    std::optional<std::span<const std::byte>> front_message(end_state& e, std::error_code&) noexcept {
        const T* p = front(e);
        if (!p) return std::nullopt;
        return std::span<const std::byte>(reinterpret_cast<const std::byte*>(p), sizeof(T));
    }

    static bool describe(std::span<const std::byte> region, const ipc::ring::header&, ipc::ring::description& out) noexcept {
        const fanout_control* c = ipc::ring::control_in<fanout_control>(region);
        if (!c) return false;
        std::uint64_t receivers = 0;
        for (auto& r : c->table) receivers += r.owner.load(std::memory_order_acquire) != 0;
        out.add("receivers", receivers);
        return true;
    }

private:
    T* at(std::uint64_t i) const noexcept { return std::launder(reinterpret_cast<T*>(data_) + (i & mask_)); }
};

static_assert(ipc::ring::fixed_kind<fanout<std::uint64_t>>);

using fan_region = ipc::transport::posix_shm<fanout<std::uint64_t>>;
using fan_channel = ipc::channel<std::uint64_t, fan_region, ipc::sync::futex, ipc::framing::fixed>;

std::uint64_t receivers_of(fan_region& r) {
    ipc::ring::description d;
    const std::span<const std::byte> region(reinterpret_cast<const std::byte*>(&r.ring().hdr()),
                                            ipc::ring::data_offset<fanout<std::uint64_t>>);
    REQUIRE(ipc::ring::kind_list<fanout<std::uint64_t>>::describe(region, r.ring().hdr(), d));
    REQUIRE(d.field_count == 1);
    return d.fields[0].number;
}

bool wait_for_receivers(fan_region& r, std::uint64_t n) {
    const auto t0 = std::chrono::steady_clock::now();
    while (receivers_of(r) != n)
        if (ms_since(t0) > 5000) return false;
        else std::this_thread::sleep_for(1ms);
    return true;
}

// A receiver process: every one of n messages, in order (exit code: 0, or where it went wrong).
int receive_all(const std::string& name, std::uint64_t n) {
    auto rx = fan_channel::open(name);
    rx.transport().attach(ipc::direction::recv);
    for (std::uint64_t i = 0; i < n; ++i) {
        std::uint64_t v = 0;
        if (rx.recv_for(v, 5s) != ipc::status::ok) return 10;
        if (v != i) return 11;
    }
    return 0;
}

}  // namespace

TEST_CASE("ring kinds: a kind defined outside the library runs through ring_region; every receiver process gets every message") {
    remover<fan_region> name{unique_name("fanout")};
    auto tx = fan_channel::create(name.name, 8);
    constexpr std::uint64_t n = 3000;
    child a([&] { return receive_all(name.name, n); });
    child b([&] { return receive_all(name.name, n); });
    REQUIRE(wait_for_receivers(tx.transport(), 2));
    for (std::uint64_t i = 0; i < n; ++i) REQUIRE(tx.send_for(i, 5s) == ipc::status::ok);
    CHECK(a.wait() == child_ok);
    CHECK(b.wait() == child_ok);
    CHECK(receivers_of(tx.transport()) == 0);  // each left its row (Ring::leave)
}

TEST_CASE("ring kinds: max_ends(send) == 1 refuses a second live sender process; a killed receiver is reaped by repair()") {
    remover<fan_region> name{unique_name("fanends")};
    auto tx = fan_channel::create(name.name, 8);
    tx.transport().attach(ipc::direction::send);
    child second([&] {
        auto t = fan_region::open(name.name);
        std::error_code ec;
        if (t.attach(ipc::direction::send, ec)) return 1;
        if (ec != ipc::errc::in_use) return 2;
        return t.attach(ipc::direction::recv, ec) ? 0 : 3;  // any number of receivers
    });
    CHECK(second.wait() == child_ok);

    // A receiver that never reads, killed: the sender, full behind it, reaps
    // it at a peer check and carries on with the live one.
    child stuck([&] {
        auto rx = fan_channel::open(name.name);
        rx.transport().attach(ipc::direction::recv);
        std::this_thread::sleep_for(60s);
        return 1;
    });
    REQUIRE(wait_for_receivers(tx.transport(), 1));
    constexpr std::uint64_t n = 200;
    child live([&] { return receive_all(name.name, n); });
    REQUIRE(wait_for_receivers(tx.transport(), 2));
    ::kill(stuck.pid(), SIGKILL);
    CHECK(stuck.wait() == -SIGKILL);
    tx.transport().peer_check_interval(10ms);
    for (std::uint64_t i = 0; i < n; ++i) REQUIRE(tx.send_for(i, 5s) == ipc::status::ok);
    CHECK(live.wait() == child_ok);
    CHECK(receivers_of(tx.transport()) == 0);
}

TEST_CASE("ring kinds: the kinds ipc ships describe themselves (what ipc-ls shows), from the region alone") {
    using queue = ipc::transport::posix_shm<ipc::ring::mpmc<int, ipc::ring::delivery::at_least_once>>;
    remover<queue> name{unique_name("describe")};
    auto q = queue::create(name.name, 16);
    std::error_code ec;
    for (int i = 0; i < 3; ++i) REQUIRE(q.try_send_value(i, ec));
    // Another process reads the region as ipc-ls does: mapped read-only, its kind unknown beforehand.
    child reader([&] {
        auto r = queue::open(name.name);
        const auto& h = r.ring().hdr();
        ipc::ring::description d;
        if (!ipc::ring::describe({reinterpret_cast<const std::byte*>(&h), ipc::ring::data_offset<ipc::ring::mpmc<int, ipc::ring::delivery::at_least_once>>}, d)) return 1;
        if (d.kind != "mpmc" || d.queued != 3 || d.field_count != 2) return 2;
        if (d.fields[0].name != "delivery" || d.fields[0].text != "at least once") return 3;
        if (d.fields[1].name != "redelivered" || d.fields[1].number != 0) return 4;
        // A region too short for the kind's control is not described (ipc-ls: corrupt header).
        if (ipc::ring::describe({reinterpret_cast<const std::byte*>(&h), sizeof(ipc::ring::header)}, d)) return 5;
        return 0;
    });
    CHECK(reader.wait() == child_ok);
}

TEST_CASE("ring kinds: a region of layout version 5 is refused, naming both versions") {
    using region = ipc::transport::posix_shm<ipc::ring::spsc<int>>;
    remover<region> name{unique_name("v5")};
    {
        auto r = region::create(name.name, 8);
        const_cast<ipc::ring::header&>(r.ring().hdr()).version = 5;  // as a program of layout 5 made it
    }
    child opener([&] {
        std::error_code ec;
        auto r = region::open(name.name, ec);
        if (ec != ipc::errc::layout_mismatch || r.is_open()) return 1;
        const std::string words(ipc::last_error_detail(ec));
        const std::string expected = "layout version differs: the region has 5, this program expects " + std::to_string(ipc::ring::layout_version);
        return words.find(expected) != std::string::npos ? 0 : 2;
    });
    CHECK(opener.wait() == child_ok);
}
