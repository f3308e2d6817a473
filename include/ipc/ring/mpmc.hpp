// ipc/ring/mpmc.hpp: many producers, many consumers, each message taken by exactly one.
#pragma once

#include <cstring>

#include "layout.hpp"

namespace ipc::ring {

// A bounded queue with a sequence number per slot (after D. Vyukov's design):
// a producer claims index i with a CAS on head when slot turn == i, writes,
// and publishes turn = i + 1; a consumer claims i with a CAS on tail when
// turn == i + 1, reads, and hands the slot back as i + capacity.
//
// A process that dies between claiming and publishing a slot stalls the ring
// at that slot: the price of lock-free claiming without a recovery protocol.
template <class T>
class mpmc : public fixed_slots<mpmc<T>, T, kind::mpmc> {
    using base = fixed_slots<mpmc<T>, T, kind::mpmc>;
    using base::at;
    using base::capacity_;
    using base::st_;

public:
    // A claimed slot: where to construct (or read) and which index to publish.
    template <class P>
    struct claim {
        P* ptr = nullptr;
        std::uint64_t index = 0;
        explicit operator bool() const noexcept { return ptr != nullptr; }
    };

    using base::base;

    // ---- producers -----------------------------------------------------

    // Claims a free slot (empty claim when full); commit() must follow.
    [[nodiscard]] claim<T> loan() noexcept {
        auto [s, pos] = take(st_->ctl.head, 0);
        return {s ? s->get() : nullptr, pos};
    }
    void commit(claim<T> c) noexcept { at(c.index).turn.store(c.index + 1, std::memory_order_release); }

    [[nodiscard]] bool try_push(const T& v) noexcept {
        auto c = loan();
        if (!c) return false;
        std::memcpy(static_cast<void*>(c.ptr), &v, sizeof(T));
        commit(c);
        return true;
    }

    // ---- consumers -----------------------------------------------------

    // Claims the oldest message (empty claim when there is none); release() must follow.
    [[nodiscard]] claim<const T> front() noexcept {
        auto [s, pos] = take(st_->ctl.tail, 1);
        return {s ? s->get() : nullptr, pos};
    }
    void release(claim<const T> c) noexcept { at(c.index).turn.store(c.index + capacity_, std::memory_order_release); }

    [[nodiscard]] bool try_pop(T& out) noexcept {
        auto c = front();
        if (!c) return false;
        std::memcpy(static_cast<void*>(&out), c.ptr, sizeof(T));
        release(c);
        return true;
    }

private:
    // Claims the slot at `index` once its turn is index + lag (0: free for a
    // producer, 1: full for a consumer); nullptr when the ring is full (empty).
    std::pair<slot<T>*, std::uint64_t> take(std::atomic<std::uint64_t>& index, std::uint64_t lag) noexcept {
        std::uint64_t pos = index.load(std::memory_order_relaxed);
        for (;;) {
            slot<T>& s = at(pos);
            const std::uint64_t turn = s.turn.load(std::memory_order_acquire);
            const auto dif = static_cast<std::int64_t>(turn - (pos + lag));
            if (dif == 0) {
                if (index.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) return {&s, pos};
            } else if (dif < 0) {
                return {nullptr, 0};
            } else {
                pos = index.load(std::memory_order_relaxed);
            }
        }
    }
};

} // namespace ipc::ring
