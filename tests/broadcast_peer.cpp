// tests/broadcast_peer.cpp: the unrelated programs of tests/unit-shm-broadcast.cpp,
// exec'd by it; they share nothing with it but the region's name.
//
//   ipc_broadcast_peer pub NAME LAST [PACE_US]
//     Publishes tick::make(i) for each ring index i the publisher is at, up to
//     LAST, each through loan_for (so a restarted publisher carries the
//     numbering on from the region's head), sleeping PACE_US every 64.
//   ipc_broadcast_peer sub NAME LAST FIRST|any [poll] [leave=K] [dead]
//     Subscribes and reads until LAST (or closed: the publisher left), checking
//     every message (tests/broadcast_tick.hpp); `poll` waits in an
//     ipc::poller; leave=K leaves after K messages; `dead` requires having
//     been told peer_dead once (a killed publisher).
//   ipc_broadcast_peer bytes-pub ... | bytes-sub ...
//     The same over ipc::shm_broadcast_bytes<std::string>, with the records
//     of tests/broadcast_text.hpp (numbered by the region's record count).
// Exit: 0 fine, else a code of broadcast_tick.hpp (printed).
#include <ipc/poller.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>
#include <thread>

#include "broadcast_text.hpp"
#include "broadcast_tick.hpp"

using namespace ipc_test;
using clock_type = std::chrono::steady_clock;

namespace {

int fail(int code, const char* what, std::uint64_t at) {
    std::fprintf(stderr, "broadcast_peer %d: %s (at %llu)\n", static_cast<int>(::getpid()), what, static_cast<unsigned long long>(at));
    return code;
}

// What the two modes differ in: the channel, where the publisher is in the
// stream, how a message is sent, and the sequence number of one received.
struct fixed_mode {
    using channel = broadcast_channel;
    using message = tick;
    static std::uint64_t position(channel& tx) { return tx.transport().end(ipc::direction::send).pub.head; }
    static ipc::status send(channel& tx, std::uint64_t at) {
        auto slot = tx.loan_for(std::chrono::seconds(20));
        if (!slot) return slot.status();
        *slot = tick::make(at);
        slot.commit();
        return ipc::status::ok;
    }
    static tick as_tick(const tick& t) { return t; }
};
struct bytes_mode {
    using channel = bytes_broadcast_channel;
    using message = std::string;
    static std::uint64_t position(channel& tx) { return tx.transport().end(ipc::direction::send).pub.count; }
    static ipc::status send(channel& tx, std::uint64_t at) { return tx.send_for(make_text(at), std::chrono::seconds(20)); }
    // A torn or wrong record becomes a tick that fails check().
    static tick as_tick(const std::string& m) {
        const std::uint64_t seq = text_seq(m);
        tick t = tick::make(seq);
        if (seq == UINT64_MAX) t.word[0] = ~t.word[0];
        return t;
    }
};

template <class Mode>
int publish(const char* name, std::uint64_t last, long pace_us) {
    auto tx = Mode::channel::open(name);
    tx.transport().attach(ipc::direction::send);
    for (std::uint64_t n = 0;; ++n) {
        const std::uint64_t at = Mode::position(tx);
        if (at > last) return 0;
        if (const ipc::status s = Mode::send(tx, at); s != ipc::status::ok) return fail(wrong_status, s.name(), at);
        if (pace_us > 0 && n % 64 == 63) std::this_thread::sleep_for(std::chrono::microseconds(pace_us));
    }
}

struct sub_args {
    std::uint64_t last = 0, first = UINT64_MAX, leave_after = 0;
    bool poll = false, expect_dead = false;
};

template <class Mode>
int subscribe(const char* name, const sub_args& a) {
    auto rx = Mode::channel::open(name);
    rx.transport().end_of_stream(ipc::eos::when_all_senders_left);
    rx.transport().peer_check_interval(std::chrono::milliseconds(20));
    rx.transport().attach(ipc::direction::recv);
    const auto policy = rx.transport().ring().options().slow;
    stream_check check{a.first};
    bool told_dead = false, told_lost = false;
    std::optional<ipc::poller> p;
    ipc::poller::registration reg;
    if (a.poll) {
        p.emplace();
        reg = p->add(rx, ipc::ready::readable, 1);
    }
    const auto until = clock_type::now() + std::chrono::seconds(40);
    while (clock_type::now() < until) {
        // A poller tells of a dead publisher in its event (try_recv does not wait, so never checks).
        if (p)
            for (const auto& ev : p->wait_for(std::chrono::milliseconds(100)))
                if (ev.peer_dead()) {
                    told_dead = true;
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // it says so until a publisher is back
                }
        typename Mode::message m{};
        const ipc::status s = p ? rx.try_recv(m) : rx.recv_for(m, std::chrono::milliseconds(200));
        if (s == ipc::status::ok) {
            const tick t = Mode::as_tick(m);
            if (int bad = check.on_message(t, rx.transport().missed())) return fail(bad, "message check", t.seq);
            if (check.missed_before) told_lost = true;
            if (t.seq == a.last) return told_dead || !a.expect_dead ? 0 : fail(not_told, "no peer_dead", t.seq);
            if (a.leave_after && check.received == a.leave_after) return 0;
        } else if (s == ipc::status::dropped) {
            if (policy != ipc::ring::slow_policy::drop_slowest) return fail(wrong_status, "dropped", check.expect);
            check.on_dropped(rx.transport().missed());
            told_lost = true;
        } else if (s == ipc::status::peer_dead) {
            told_dead = true;
        } else if (s == ipc::status::closed) {
            // The publisher left before this subscriber read the last one:
            // only a subscriber that was told of losses may get here.
            return told_lost ? 0 : fail(wrong_count, "closed before the last message", check.expect);
        } else if (s != ipc::status::timed_out && s != ipc::status::would_block) {
            return fail(wrong_status, s.name(), check.expect);
        }
    }
    return fail(ran_out, "time ran out", check.expect);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        std::string_view mode = argc > 1 ? argv[1] : "";
        const bool bytes = mode.substr(0, 6) == "bytes-";
        if (bytes) mode.remove_prefix(6);
        if (mode == "pub" && argc >= 4) {
            const std::uint64_t last = std::strtoull(argv[3], nullptr, 10);
            const long pace = argc > 4 ? std::atol(argv[4]) : 0;
            return bytes ? publish<bytes_mode>(argv[2], last, pace) : publish<fixed_mode>(argv[2], last, pace);
        }
        if (mode == "sub" && argc >= 5) {
            sub_args a;
            a.last = std::strtoull(argv[3], nullptr, 10);
            if (std::string_view(argv[4]) != "any") a.first = std::strtoull(argv[4], nullptr, 10);
            for (int i = 5; i < argc; ++i) {
                const std::string_view v = argv[i];
                if (v == "poll") a.poll = true;
                else if (v == "dead") a.expect_dead = true;
                else if (v.substr(0, 6) == "leave=") a.leave_after = std::strtoull(argv[i] + 6, nullptr, 10);
            }
            return bytes ? subscribe<bytes_mode>(argv[2], a) : subscribe<fixed_mode>(argv[2], a);
        }
        std::fprintf(stderr, "usage: %s [bytes-]pub NAME LAST [PACE_US] | [bytes-]sub NAME LAST FIRST|any [poll] [leave=K] [dead]\n", argv[0]);
        return 4;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "broadcast_peer: %s\n", e.what());
        return 4;
    }
}
