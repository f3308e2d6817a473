// bench/floors.hpp: what shared memory can do at best on this machine, the
// floors a shared-memory channel is measured against.
//
//   floor.atomic_pingpong  one shared line with a counter (the payload follows
//                          it), bounced by spinning: round trip only
//   floor.futex_pingpong   the same, but each side sleeps in FUTEX_WAIT and the
//                          sender always calls FUTEX_WAKE: round trip only
//   floor.spsc_handwritten a minimal ring with cached indices, one per
//                          direction: one-way throughput, and round trips over both
//   floor.spsc_handwritten.behind
//                          the same ring, but while the sender keeps going the
//                          receiver stays 2 KiB of messages behind it: what a
//                          stream moves when the receiver never reads a line the
//                          sender is about to write (its lag_p50 says how far
//                          behind the plain floor's receiver was)
//   floor.spsc_handwritten.records
//                          the same ring of variable-size records (8-byte length
//                          header, payload padded to 8, wrap by padding): what
//                          sizes read from the ring cost, before any library
//   floor.memcpy           one core copying `size` bytes: the bandwidth bound
#pragma once

#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <new>
#include <system_error>
#include <vector>

#include <ipc/detail/cpu.hpp>

#include "harness.hpp"

namespace bench::floors {

using ipc::detail::cache_line;

// An anonymous MAP_SHARED mapping: made before fork, shared by both processes.
class shared_region {
public:
    explicit shared_region(std::size_t bytes) : size_(bytes) {
        p_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p_ == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
    }
    shared_region(const shared_region&) = delete;
    shared_region& operator=(const shared_region&) = delete;
    ~shared_region() { ::munmap(p_, size_); }
    std::byte* data() const noexcept { return static_cast<std::byte*>(p_); }

private:
    void* p_;
    std::size_t size_;
};

constexpr std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Spins, then yields: on a loaded machine the peer may not be running.
template <class Pred>
void spin_until(Pred ready) {
    for (unsigned i = 0; !ready(); ++i) {
        if (i < 1u << 14)
            ipc::detail::cpu_relax();
        else
            ::sched_yield();
    }
}

using word = std::atomic<std::uint32_t>;
static_assert(sizeof(word) == sizeof(std::uint32_t) && word::is_always_lock_free);

struct spin {
    static void wait(word& w, std::uint32_t seen) {
        spin_until([&] { return w.load(std::memory_order_acquire) != seen; });
    }
    static void wake(word&) {}
};

// Shared (not FUTEX_PRIVATE) futexes: the two processes have different mm's.
struct futex {
    static long call(word& w, int op, std::uint32_t val) {
        return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), op, val, nullptr, nullptr, 0);
    }
    static void wait(word& w, std::uint32_t seen) { call(w, FUTEX_WAIT, seen); }
    static void wake(word& w) { call(w, FUTEX_WAKE, 1); }
};

// Strict ping-pong on one counter; the payload sits right after it, so an
// 8-byte message and its signal share one cache line.
template <class Wait>
class pingpong {
public:
    static constexpr bool rtt_only = true;

    explicit pingpong(std::size_t size)
        : size_(size), region_(cache_line + round_up(size, cache_line)), tx_(size, std::byte{'x'}), rx_(size) {
        seq_ = new (region_.data()) word(0);
    }
    void open(side) {}
    void send() {
        std::memcpy(payload(), tx_.data(), size_);
        seq_->store(++count_, std::memory_order_release);
        Wait::wake(*seq_);
    }
    void recv() {
        const std::uint32_t want = count_ + 1;
        for (std::uint32_t v; (v = seq_->load(std::memory_order_acquire)) != want;) Wait::wait(*seq_, v);
        count_ = want;
        std::memcpy(rx_.data(), payload(), size_);
    }

private:
    std::byte* payload() const noexcept { return region_.data() + sizeof(std::uint64_t); }

    std::size_t size_;
    shared_region region_;
    word* seq_;
    std::uint32_t count_ = 0;  // messages each side has seen go by, sent or received
    std::vector<std::byte> tx_, rx_;
};

// The ring's shared indices, each on its own pair of lines, as a careful
// hand-written ring lays them out (and ipc's rings do): an adjacent-line
// prefetcher fetches lines in 128-byte pairs, and on one pair the two
// indices would move together. Slots follow.
struct ring_indices {
    alignas(2 * cache_line) std::atomic<std::uint64_t> head{0};  // next slot the producer fills
    alignas(2 * cache_line) std::atomic<std::uint64_t> tail{0};  // next slot the consumer empties
};
static_assert(sizeof(ring_indices) == 4 * cache_line && alignof(ring_indices) == 2 * cache_line);

// A hand-written ring knows its message type, so its copies have a size fixed
// at compile time: a few moves inlined, not a call into libc's memcpy. The
// switch stands in for that; the branch is the same on every message, so it
// is predicted and costs next to nothing.
inline void copy_known_size(void* dst, const void* src, std::size_t n) noexcept {
    switch (n) {
        case 8: std::memcpy(dst, src, 8); return;
        case 16: std::memcpy(dst, src, 16); return;
        case 32: std::memcpy(dst, src, 32); return;
        case 64: std::memcpy(dst, src, 64); return;
        case 128: std::memcpy(dst, src, 128); return;
        case 256: std::memcpy(dst, src, 256); return;
        case 1024: std::memcpy(dst, src, 1024); return;
        case 4096: std::memcpy(dst, src, 4096); return;
        case 65536: std::memcpy(dst, src, 65536); return;
        default: std::memcpy(dst, src, n);
    }
}

// Slots per direction in the hand-written rings: 1 MiB of payload, 16 to 4096.
inline std::size_t ring_slots(std::size_t size) { return std::bit_floor(std::clamp<std::size_t>((std::size_t{1} << 20) / size, 16, 4096)); }

// The ring a process sends on (out_) and the one it receives on: ring 0 carries a -> b.
class two_rings {
public:
    void open(side s) {
        out_ = s == side::a ? 0 : 1;
        in_ = 1 - out_;
    }

protected:
    int out_ = 0, in_ = 1;
};

// Two single-producer single-consumer rings (a->b, b->a). Each side keeps a
// private copy of the other side's index and rereads the shared one only when
// the copy says full (producer) or empty (consumer).
//
// Behind (floor.spsc_handwritten.behind): a receiver that comes within
// `behind_` messages of the last head it saw looks again, and stays that far
// back for as long as the head keeps moving; once two looks a pause apart see
// the same head (the sender has stopped, as in a round trip), it takes what
// is there. A receiver on the sender's heels reads each line as it is written,
// and its looks at the head and its prefetches of the lines after it take
// them from the sender, which slows the sender, which keeps the receiver on
// its heels; 2 KiB back, neither touches the other's lines. A round trip pays
// one pause and one look more per message. (Figures: bench/README.md,
// "Reading a throughput figure".)
template <bool Behind>
class basic_spsc : public two_rings {
public:
    explicit basic_spsc(std::size_t size)
        : size_(size),
          slots_(ring_slots(size)),
          slot_bytes_(round_up(size, 8)),
          behind_(Behind ? std::clamp<std::size_t>(2048 / slot_bytes_, 1, slots_ / 4) : 0),
          region_(2 * (sizeof(ring_indices) + slots_ * slot_bytes_)),
          tx_(size, std::byte{'x'}),
          rx_(size) {
        for (int i = 0; i < 2; ++i) new (ring(i)) ring_indices;
    }
    void send() {
        ring_indices& r = *ring(out_);
        if (head_ - tail_seen_ == slots_)
            spin_until([&] { return head_ - (tail_seen_ = r.tail.load(std::memory_order_acquire)) < slots_; });
        copy_known_size(slot(out_, head_), tx_.data(), size_);
        r.head.store(++head_, std::memory_order_release);
    }
    void recv() {
        ring_indices& r = *ring(in_);
        if constexpr (Behind) {
            if (head_seen_ - tail_ <= behind_) {
                std::uint64_t before = head_seen_;
                spin_until([&] {
                    head_seen_ = r.head.load(std::memory_order_acquire);
                    if (head_seen_ - tail_ > behind_ || (head_seen_ != tail_ && head_seen_ == before)) return true;
                    before = head_seen_;
                    return false;
                });
            }
        } else if (tail_ == head_seen_) {
            spin_until([&] { return (head_seen_ = r.head.load(std::memory_order_acquire)) != tail_; });
        }
        copy_known_size(rx_.data(), slot(in_, tail_), size_);
        r.tail.store(++tail_, std::memory_order_release);
    }

private:
    ring_indices* ring(int i) const noexcept {
        return reinterpret_cast<ring_indices*>(region_.data() + static_cast<std::size_t>(i) * (sizeof(ring_indices) + slots_ * slot_bytes_));
    }
    std::byte* slot(int i, std::uint64_t idx) const noexcept {
        return reinterpret_cast<std::byte*>(ring(i) + 1) + (idx & (slots_ - 1)) * slot_bytes_;
    }

    std::size_t size_, slots_, slot_bytes_;
    std::uint64_t behind_;  // messages the receiver stays behind a moving head
    shared_region region_;
    std::uint64_t head_ = 0, tail_seen_ = 0;  // producer side of ring out_
    std::uint64_t tail_ = 0, head_seen_ = 0;  // consumer side of ring in_
    std::vector<std::byte> tx_, rx_;
};

using spsc = basic_spsc<false>;
using spsc_behind = basic_spsc<true>;

// floor.spsc_handwritten with records of any size instead of slots, as a
// careful programmer writes one: each record is an 8-byte header holding its
// length and the payload padded to 8, always contiguous (one that would cross
// the end of the buffer is preceded by a padding header and starts the next
// lap), published by the producer's index as in spsc. The buffer holds as many
// records of `size` bytes as spsc has slots (rounded up to a power of two, as
// ring::bytes sizes it), so a record takes at most half of it. The receiver
// copies the length its header says: the switch of copy_known_size is
// predicted, as the size is the same on every message.
class spsc_records : public two_rings {
    static constexpr std::uint64_t header = 8;
    static constexpr std::uint64_t padding = ~std::uint64_t{0};  // header of a padding record

public:
    explicit spsc_records(std::size_t size)
        : size_(size),
          capacity_(std::bit_ceil(ring_slots(size) * (header + round_up(size, 8)))),
          region_(2 * (sizeof(ring_indices) + capacity_)),
          tx_(size, std::byte{'x'}),
          rx_(size) {
        for (int i = 0; i < 2; ++i) new (ring(i)) ring_indices;
    }
    void send() {
        ring_indices& r = *ring(out_);
        const std::uint64_t need = header + round_up(size_, 8);
        const std::uint64_t off = head_ & (capacity_ - 1);
        const std::uint64_t pad = capacity_ - off < need ? capacity_ - off : 0;
        if (capacity_ - (head_ - tail_seen_) < pad + need)
            spin_until([&] { return capacity_ - (head_ - (tail_seen_ = r.tail.load(std::memory_order_acquire))) >= pad + need; });
        std::byte* d = data(out_);
        if (pad) {
            std::memcpy(d + off, &padding, header);
            head_ += pad;
        }
        std::byte* rec = d + (head_ & (capacity_ - 1));
        const std::uint64_t len = size_;
        std::memcpy(rec, &len, header);
        copy_known_size(rec + header, tx_.data(), size_);
        head_ += need;
        r.head.store(head_, std::memory_order_release);
    }
    void recv() {
        ring_indices& r = *ring(in_);
        if (tail_ == head_seen_) spin_until([&] { return (head_seen_ = r.head.load(std::memory_order_acquire)) != tail_; });
        const std::byte* d = data(in_);
        std::uint64_t off = tail_ & (capacity_ - 1);
        std::uint64_t len;
        std::memcpy(&len, d + off, header);
        if (len == padding) {  // the record is at the start of the next lap, published with it
            tail_ += capacity_ - off;
            off = 0;
            std::memcpy(&len, d, header);
        }
        copy_known_size(rx_.data(), d + off + header, len);  // our own producer's length: at most size_
        tail_ += header + round_up(len, 8);
        r.tail.store(tail_, std::memory_order_release);
    }

private:
    ring_indices* ring(int i) const noexcept {
        return reinterpret_cast<ring_indices*>(region_.data() + static_cast<std::size_t>(i) * (sizeof(ring_indices) + capacity_));
    }
    std::byte* data(int i) const noexcept { return reinterpret_cast<std::byte*>(ring(i) + 1); }

    std::size_t size_;
    std::uint64_t capacity_;  // bytes of records per direction, a power of two
    shared_region region_;
    std::uint64_t head_ = 0, tail_seen_ = 0;  // producer side of ring out_
    std::uint64_t tail_ = 0, head_seen_ = 0;  // consumer side of ring in_
    std::vector<std::byte> tx_, rx_;
};

// Single-core copy bandwidth at this size; no second process.
inline result run_memcpy(std::size_t size, const plan& p) {
    std::vector<std::byte> src(size, std::byte{'x'}), dst(size);
    const std::size_t copies = std::clamp<std::size_t>(p.memcpy_bytes / size, 1000, 20'000'000);
    auto copy_all = [&](std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            std::memcpy(dst.data(), src.data(), size);
            asm volatile("" : : "r"(dst.data()), "r"(src.data()) : "memory");  // keep every copy
        }
    };
    pin(side::a);
    copy_all(copies / 10);
    const std::int64_t t0 = now_ns();
    copy_all(copies);
    const double secs = static_cast<double>(now_ns() - t0) * 1e-9;
    result r;
    r.msgs_per_s = static_cast<double>(copies) / secs;
    r.mb_per_s = r.msgs_per_s * static_cast<double>(size) * 1e-6;
    return r;
}

}  // namespace bench::floors
