// tests/broadcast_tick.hpp: the message of the shm_broadcast tests and their
// exec'd peer (tests/broadcast_peer.cpp), and what a subscriber checks.
#pragma once

#include <ipc/channel.hpp>
#include <ipc/ring/broadcast.hpp>

#include <cstdint>

namespace ipc_test {

// 32 bytes: its sequence number (the ring index it was published at) and
// words derived from it, so a torn copy (words of two messages) fails check().
struct tick {
    std::uint64_t seq;
    std::uint64_t word[3];

    static tick make(std::uint64_t seq) {
        tick t{seq, {}};
        for (std::uint64_t i = 0; i < 3; ++i) t.word[i] = (seq + 1) * 0x9e3779b97f4a7c15ULL ^ (i << 56);
        return t;
    }
    bool check() const {
        for (std::uint64_t i = 0; i < 3; ++i)
            if (word[i] != ((seq + 1) * 0x9e3779b97f4a7c15ULL ^ (i << 56))) return false;
        return true;
    }
};
using broadcast_channel = ipc::shm_broadcast<tick>;
using broadcast_transport = ipc::transport::posix_shm<ipc::ring::broadcast<tick>>;

// Exit codes of a checking subscriber (and publisher).
inline constexpr int bad_order = 10, torn = 11, wrong_status = 12, wrong_count = 13, not_told = 14, ran_out = 15;

// What a subscriber checks of each message: intact, and following the
// previous one exactly, unless it was told it missed the gap (missed() grew
// by at least that much: overwrite) or was dropped (status::dropped: then it
// starts again anywhere newer).
struct stream_check {
    std::uint64_t expect;           // UINT64_MAX: anything (a late joiner, or after being dropped)
    std::uint64_t missed_before = 0;
    std::uint64_t received = 0;

    // 0, or an exit code saying what was wrong.
    int on_message(const tick& t, std::uint64_t missed_now) {
        if (!t.check()) return torn;
        if (expect != UINT64_MAX && t.seq != expect) {
            if (t.seq < expect) return bad_order;  // a duplicate or one out of order
            if (missed_now - missed_before < t.seq - expect) return not_told;
        }
        missed_before = missed_now;
        expect = t.seq + 1;
        ++received;
        return 0;
    }
    void on_dropped(std::uint64_t missed_now) {
        expect = UINT64_MAX;
        missed_before = missed_now;
    }
};

}  // namespace ipc_test
