// ipc/detail/peer_table.hpp: which processes use a shared region, and which of them died.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "cpu.hpp"
#include "process.hpp"

namespace ipc::detail {

// A fixed table of slots placed inside a shared region (no pointers: it is
// plain data at an offset). Each process that opens a channel end claims a
// slot with its identity and role, and frees it when it closes cleanly. A
// slot whose owner is no longer alive belongs to a process that died
// (SIGKILL, crash) without closing: the survivors can tell dead from slow
// and reclaim what it held.
//
// A slot's `state` word packs the owner's pid with a phase, so that claiming
// is one compare-and-swap: 0 = free, (pid << 8) | claiming, (pid << 8) | live.
// `generation` counts the slot's owners, so (slot, generation) names one
// owner for good even after its pid is reused (pid_max may be 32768).
struct peer_slot {
    std::atomic<std::uint64_t> state;
    std::atomic<std::uint64_t> start_time;
    std::atomic<std::uint32_t> role;
    std::atomic<std::uint32_t> generation;
};

enum class peer_role : std::uint32_t { none = 0, sender = 1, receiver = 2 };

template <std::size_t N>
struct peer_table {
    static constexpr std::uint64_t claiming = 1, live = 2;
    alignas(cache_line) peer_slot slots[N];

    static constexpr std::int32_t pid_of(std::uint64_t s) noexcept { return static_cast<std::int32_t>(s >> 8); }

    // Claims a slot for this process; returns its index, or -1 if all are
    // taken. With reap_when_full, dead owners' slots are reclaimed on the way;
    // a caller that keeps its own count of members reaps them itself instead.
    int join(peer_role role, bool reap_when_full = true) noexcept {
        auto me = self_identity();
        const std::uint64_t mine = (static_cast<std::uint64_t>(me.pid) << 8);
        for (int pass = 0; pass < 2; ++pass) {
            for (std::size_t i = 0; i < N; ++i) {
                std::uint64_t expected = 0;
                if (slots[i].state.compare_exchange_strong(expected, mine | claiming, std::memory_order_acq_rel)) {
                    slots[i].generation.fetch_add(1, std::memory_order_relaxed);
                    slots[i].start_time.store(me.start_time, std::memory_order_relaxed);
                    slots[i].role.store(static_cast<std::uint32_t>(role), std::memory_order_relaxed);
                    slots[i].state.store(mine | live, std::memory_order_release);
                    return static_cast<int>(i);
                }
            }
            if (!reap_when_full) break;
            reap();
        }
        return -1;
    }

    void leave(int slot) noexcept {
        if (slot >= 0 && static_cast<std::size_t>(slot) < N) slots[slot].state.store(0, std::memory_order_release);
    }

    // Whether the slot's owner is alive. A slot stuck in "claiming" belongs to
    // a process that died between its two stores, unless that pid still runs.
    bool owner_alive(std::size_t i) const noexcept { return alive_for(i, slots[i].state.load(std::memory_order_acquire)); }

    // The same for a snapshot s of slot i's state (0: free, so not alive).
    bool alive_for(std::size_t i, std::uint64_t s) const noexcept {
        if (s == 0) return false;
        if ((s & 0xff) != live) return ::kill(pid_of(s), 0) == 0 || errno == EPERM;
        return is_alive(process_identity{pid_of(s), slots[i].start_time.load(std::memory_order_relaxed)});
    }

    struct census {
        unsigned alive = 0;
        unsigned dead = 0;
    };

    // Counts the processes in `role` (none = every role) by whether they live.
    census count(peer_role role = peer_role::none) const noexcept {
        census c;
        for (std::size_t i = 0; i < N; ++i) {
            std::uint64_t s = slots[i].state.load(std::memory_order_acquire);
            if (s == 0) continue;
            if (role != peer_role::none && slots[i].role.load(std::memory_order_relaxed) != static_cast<std::uint32_t>(role))
                continue;
            if (alive_for(i, s)) {
                ++c.alive;
            } else if (slots[i].state.load(std::memory_order_acquire) == s) {
                ++c.dead;  // still held by the same owner, who is gone
            }  // else the owner left (or the slot changed hands) while we looked: not a death
        }
        return c;
    }

    // Frees the slots of dead processes; returns how many.
    unsigned reap() noexcept {
        unsigned n = 0;
        for (std::size_t i = 0; i < N; ++i) {
            std::uint64_t s = slots[i].state.load(std::memory_order_acquire);
            if (s != 0 && !owner_alive(i) && slots[i].state.compare_exchange_strong(s, 0, std::memory_order_acq_rel)) ++n;
        }
        return n;
    }
};

static_assert(std::is_trivially_destructible_v<peer_table<8>>);
static_assert(sizeof(peer_slot) == 24);

}  // namespace ipc::detail
