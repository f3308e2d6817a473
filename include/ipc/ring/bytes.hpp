// ipc/ring/bytes.hpp: single-producer single-consumer ring of variable-size records.
#pragma once

#include <atomic>
#include <bit>
#include <cstring>
#include <optional>

#include "kind.hpp"

namespace ipc::ring {

namespace detail {

// Moves N bytes in one fixed-size copy (a few register moves, no call).
template <std::size_t N>
[[gnu::always_inline]] inline void move_fixed(std::byte* dst, const std::byte* src) noexcept {
    std::memcpy(dst, src, N);
}

// The largest payload the inlined copies below move without a call.
inline constexpr std::size_t small_payload = 64;

// memcpy of n <= small_payload bytes without a call: two fixed-size copies of
// the largest power of two <= n, overlapping in the middle (they write the
// same bytes twice, never outside [0, n) of either side). A call to libc's
// memcpy of a runtime size costs the producer a return address and the
// registers it saves, stores that wait in its store buffer behind the ring's
// line transfers (see spsc.hpp).
[[gnu::always_inline]] inline void copy_small(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
    if (n >= 16) {
        if (n >= 32) {
            move_fixed<32>(dst, src);
            move_fixed<32>(dst + n - 32, src + n - 32);
        } else {
            move_fixed<16>(dst, src);
            move_fixed<16>(dst + n - 16, src + n - 16);
        }
    } else if (n >= 8) {
        move_fixed<8>(dst, src);
        move_fixed<8>(dst + n - 8, src + n - 8);
    } else if (n >= 4) {
        move_fixed<4>(dst, src);
        move_fixed<4>(dst + n - 4, src + n - 4);
    } else if (n != 0) {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

// memcpy for a record's payload: copy_small up to small_payload bytes.
[[gnu::always_inline]] inline void copy_payload(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
    if (n > small_payload) [[unlikely]]
        std::memcpy(dst, src, n);
    else
        copy_small(dst, src, n);
}

}  // namespace detail

// Records are an 8-byte header (length, flags) and the payload padded to 8,
// packed and always contiguous: a record that would cross the end of the
// buffer is preceded by a padding record filling the rest, and starts at
// offset 0. A record may take up to half the buffer (max_record()), which
// guarantees an empty ring always has room for one wherever its head is.
// Payloads start 8-byte aligned (the data starts on a cache line).
//
// The header says when its record is ready, as a fixed ring's turn word
// would: the consumer waits on the header word at its tail, not on the
// producer's index, so the line holding that index never moves to the
// consumer and the producer's store to it stays in its own cache. A header
// word is 0 until its record is published, and the producer keeps it so: it
// writes 0 where the next record's header will go (the terminator) before it
// publishes a record, so a consumer that caught up finds 0, never the bytes
// of an older lap. The producer still stores its index after each record,
// for size(), ipc-ls, can_push and an end that takes over; a producer that
// died between the header and that store left one record the index does not
// count, and adopt_indices() steps over it.
// Packed is what measured fastest between two processes, where the rate
// follows the cache lines a message takes: records over a line given lines
// of their own (a 64-byte payload then takes two lines, not 1.125) moved
// about 0.8x the packed layout's messages, although no line then held parts
// of two records.
//
// Each side keeps its own index and a cached copy of the consumer's index
// (the producer's, re-read only when the cache says full) in this view; it
// stores its own index but never loads it back. The copies are taken from the
// region when the view is made and by adopt_indices(), which ring_region calls
// whenever this process becomes an end. Everything read from the region
// (lengths, flags, indices) is checked before use: a corrupt record is
// errc::corrupt, never an access outside the buffer (a length that lies
// within the buffer reads bytes the producer did not write as that record).
//
// try_push / try_pop (and the channel's copies) are inlined and keep the
// record's position in registers. try_push's common case (try_push_quick: a
// record of up to 64 bytes that fits, by the cached tail, before the end)
// calls nothing and saves no register; the rest is push_slow, out of line.
class bytes : public view_base<two_indices> {
    struct record_header {
        std::uint32_t len;
        std::uint32_t flags;  // 0: not published yet (the terminator)
    };
    static_assert(sizeof(record_header) == 8);
    static constexpr std::uint32_t record_flag = 1;
    static constexpr std::uint32_t padding_flag = 2;  // the rest of the buffer
    static constexpr std::uint64_t align = 8;
    static constexpr std::uint64_t header_size = sizeof(record_header);
    static constexpr std::uint64_t record_size(std::uint64_t n) noexcept { return header_size + detail::round_up(n, align); }

public:
    using value_type = std::byte;
    static constexpr ring::kind ring_kind = kind::bytes;
    static constexpr std::uint64_t min_capacity = 64;
    static constexpr std::uint64_t slot_size = 1;
    static constexpr std::uint64_t value_size = 1;
    static constexpr std::uint64_t value_align = 1;
    static constexpr std::uint64_t tag = detail::fnv1a("ipc::ring::bytes");
    static constexpr bool fixed_size = false;  // records of any size: the codec path
    using end_state = no_end_state;           // both indices live in the view
    static constexpr std::size_t max_ends(direction) noexcept { return 1; }

    // The first header is the terminator: nothing published.
    static void init_data(std::byte* data, std::uint64_t) noexcept { word_at(data, 0).store(0, std::memory_order_relaxed); }

    bytes() noexcept = default;
    bytes(shared_state<two_indices>* st, std::byte* data, std::uint64_t capacity) noexcept : view_base(st, data, capacity) {
        const std::uint64_t m = capacity_ / 2 - header_size;
        max_record_ = m > UINT32_MAX ? UINT32_MAX : static_cast<std::size_t>(m);
        quick_max_ = max_record_ < detail::small_payload ? max_record_ : detail::small_payload;
        adopt_indices();
    }

    // Takes this view's copies of both indices from the region. A record
    // published past the producer's index (its producer died before storing
    // the index) is counted in: a consumer may have read it already.
    void adopt_indices() noexcept {
        ix_.adopt(st_->ctl);
        const std::uint64_t h = ix_.head;
        if (h % align != 0) return;  // corrupt: the operations say so
        const std::uint64_t off = h & mask_;
        record_header r = get_header(off);
        std::uint64_t next = h;
        if (r.flags == padding_flag && off != 0) {
            next += capacity_ - off;
            r = get_header(0);
        }
        if (r.flags != record_flag || r.len > max_record_) return;
        next += record_size(r.len);
        if (next - ix_.tail > capacity_) return;  // (the tail may be past h: that record was read)
        ix_.head = ix_.cached_head = next;
    }
    // A restarted end carries on where the last one stopped.
    bool join(direction, end_state&, const end_id&, std::error_code&) noexcept {
        adopt_indices();
        return true;
    }

    // ---- the kind interface (ring/kind.hpp): no per-end state -------------
    [[gnu::always_inline]] std::byte* loan(std::size_t n, end_state&, std::error_code& ec) noexcept { return loan(n, ec); }
    [[gnu::always_inline]] void commit(std::size_t n, end_state&) noexcept { commit(n); }
    [[gnu::always_inline]] std::optional<std::span<const std::byte>> front(end_state&, std::error_code& ec) noexcept {
        return front(ec);
    }
    [[gnu::always_inline]] bool release(end_state&) noexcept {
        release();
        return true;
    }
    std::byte* loan_message(std::size_t n, end_state&, std::error_code& ec) noexcept { return loan(n, ec); }
    void commit_message(std::size_t n, end_state&) noexcept { commit(n); }
    std::optional<std::span<const std::byte>> front_message(end_state&, std::error_code& ec) noexcept { return front(ec); }
    bool can_push(const end_state&) const noexcept { return can_push(); }
    bool can_pop(const end_state&) const noexcept { return can_pop(); }
    // A message for the channel's inlined path: a small one inlined; a larger
    // one by push_slow (its memcpy is a call anyway, and declining it to the
    // channel's full path measured slower at 4 KiB); false for a small one
    // that needs the tail read again or padding, no room, or an error, which
    // the full path sends or reports.
    [[gnu::always_inline]] bool try_push_quick(std::span<const std::byte> msg, end_state&) noexcept {
        if (try_push_quick(msg)) [[likely]]
            return true;
        return msg.size() > detail::small_payload && push_slow(msg) == errc{};
    }

    // The largest payload a record can carry.
    std::size_t max_record() const noexcept { return max_record_; }

    // ---- producer ------------------------------------------------------

    // Room for an n-byte payload to write in place, or nullptr: full (ec
    // untouched), or n over max_record() (ec = errc::message_too_large).
    [[gnu::always_inline]] [[nodiscard]] std::byte* loan(std::size_t n, std::error_code& ec) noexcept {
        std::uint64_t at;
        std::byte* p = reserve(n, at, ec);
        if (p) {
            loan_at_ = at;
            loan_len_ = n;
        }
        return p;
    }
    // Publishes the loaned record with its final length (at most the loaned
    // n; more is cut to n rather than overrun the loan).
    [[gnu::always_inline]] void commit(std::size_t n) noexcept { publish(loan_at_, n < loan_len_ ? n : loan_len_); }
    // The record in place, its position kept in registers (not in the view:
    // one store fewer per message than loan + commit).
    [[gnu::always_inline]] [[nodiscard]] bool try_push(std::span<const std::byte> msg, std::error_code& ec) noexcept {
        if (try_push_quick(msg)) [[likely]]
            return true;
        const errc e = push_slow(msg);  // (ec is not passed: the caller's would be made before the quick path)
        if (e == errc{}) return true;
        if (e != errc::would_block) ec = make_error_code(e);
        return false;
    }
    // try_push's common case: a record of at most small_payload bytes that
    // fits before the end of the buffer, with room by the cached tail. It
    // calls nothing, so it saves no registers and stores only the record and
    // the index; false (nothing done) for anything else: a larger record (a
    // call to memcpy), the tail to read again, padding to the end, an error.
    [[gnu::always_inline]] [[nodiscard]] bool try_push_quick(std::span<const std::byte> msg) noexcept {
        const std::size_t n = msg.size();
        const std::uint64_t h = ix_.head;
        const std::uint64_t need = record_size(n);
        // n <= quick_max_ <= max_record_ makes left >= header_size.
        const std::uint64_t left = capacity_ - need;
        if (n > quick_max_ || h - ix_.cached_tail > left - header_size) [[unlikely]]
            return false;
        const std::uint64_t off = h & mask_;  // (its low bits are h's: capacity_ >= 64)
        if (off % align != 0 || off > left) [[unlikely]]
            return false;
        std::byte* const rec = data_ + off;
        word_at(data_, (h + need) & mask_).store(0, std::memory_order_relaxed);  // the terminator first: no register kept for it
        detail::copy_small(rec + header_size, msg.data(), n);
        put_header_at(rec, 0, {static_cast<std::uint32_t>(n), record_flag});
        ix_.head = h + need;
        st_->ctl.head.store(h + need, std::memory_order_release);
        return true;
    }
    // Room for the record the last failed loan() wanted (any record if none failed).
    bool can_push() const noexcept {
        const std::uint64_t h = st_->ctl.head.load(std::memory_order_acquire);
        const std::uint64_t t = st_->ctl.tail.load(std::memory_order_acquire);
        return h - t <= capacity_ && capacity_ - (h - t) >= want_;
    }

    // ---- consumer ------------------------------------------------------

    // The oldest record in place: nullopt when empty (ec untouched) or
    // corrupt (ec = errc::corrupt). release() frees it.
    [[gnu::always_inline]] [[nodiscard]] std::optional<std::span<const std::byte>> front(std::error_code& ec) noexcept {
        return oldest(taken_, ec);
    }
    [[gnu::always_inline]] void release() noexcept { release_to(taken_); }

    // Copies the oldest record into buf and frees it. A record larger than buf
    // is dropped and reported as errc::message_too_large.
    [[gnu::always_inline]] [[nodiscard]] std::optional<std::size_t> try_pop(std::span<std::byte> buf, std::error_code& ec) noexcept {
        std::uint64_t next;
        auto m = oldest(next, ec);
        if (!m) return std::nullopt;
        const std::size_t n = m->size();
        if (n > buf.size()) [[unlikely]] {
            release_to(next);
            ec = make_error_code(errc::message_too_large);
            return std::nullopt;
        }
        detail::copy_payload(buf.data(), m->data(), n);
        release_to(next);
        return n;
    }
    // A record (or something corrupt, which the next pop reports) waits at the consumer's index.
    bool can_pop() const noexcept {
        const std::uint64_t t = st_->ctl.tail.load(std::memory_order_acquire);
        return get_header(t & mask_ & ~(align - 1)).flags != 0 || t % align != 0;
    }

    // Bytes in use; exact only when both sides are idle.
    std::uint64_t size() const noexcept {
        return queued(st_->ctl.head.load(std::memory_order_acquire), st_->ctl.tail.load(std::memory_order_acquire), capacity_);
    }

private:
    // try_push's other cases, out of line (see try_push_quick): errc{} when
    // the record is sent, would_block when there is no room, or the error.
    [[gnu::noinline]] errc push_slow(std::span<const std::byte> msg) noexcept {
        std::error_code ec;
        std::uint64_t at;
        std::byte* p = reserve(msg.size(), at, ec);
        if (!p) return ec ? static_cast<errc>(ec.value()) : errc::would_block;
        detail::copy_payload(p, msg.data(), msg.size());
        publish(at, msg.size());
        return errc{};
    }
    // Room for an n-byte record and the terminator after it, and `at`, the
    // index the record starts at (after padding to the end, if it would not
    // fit there): see loan().
    [[gnu::always_inline]] std::byte* reserve(std::size_t n, std::uint64_t& at, std::error_code& ec) noexcept {
        if (n > max_record_) [[unlikely]] {
            ec = make_error_code(errc::message_too_large);
            return nullptr;
        }
        const std::uint64_t h = ix_.head;
        if (h % align != 0) [[unlikely]] {
            ec = make_error_code(errc::corrupt);
            return nullptr;
        }
        const std::uint64_t off = h & mask_;
        const std::uint64_t need = record_size(n);
        const std::uint64_t pad = capacity_ - off < need ? capacity_ - off : 0;
        if (!room_for(h, pad + need + header_size)) {
            want_ = pad + need + header_size;
            return nullptr;
        }
        at = h + pad;
        return data_ + (at & mask_) + header_size;
    }
    // Publishes the record at index `at`: the terminator after it, its header
    // and, if it starts a lap early, the padding before it (last: a consumer
    // that reads the padding then finds the record's header written).
    [[gnu::always_inline]] void publish(std::uint64_t at, std::size_t n) noexcept {
        const std::uint64_t end = at + record_size(n);
        word_at(data_, end & mask_).store(0, std::memory_order_relaxed);
        put_header(at & mask_, {static_cast<std::uint32_t>(n), record_flag});
        if (at != ix_.head) [[unlikely]]
            put_header(ix_.head & mask_, {0, padding_flag});
        ix_.head = end;
        st_->ctl.head.store(end, std::memory_order_release);
    }
    // The oldest record, and in `next` the tail after it.
    [[gnu::always_inline]] std::optional<std::span<const std::byte>> oldest(std::uint64_t& next, std::error_code& ec) noexcept {
        std::uint64_t t = ix_.tail;
        if (t % align != 0) [[unlikely]]
            return corrupt(ec);
        std::uint64_t off = t & mask_;
        record_header r = get_header(off);
        if (r.flags == padding_flag) [[unlikely]] {  // skipped and freed on the way
            if (off == 0) return corrupt(ec);          // a padding record never fills a whole lap
            t += capacity_ - off;
            off = 0;
            release_to(t);
            r = get_header(0);
        }
        if (r.flags == 0) {
            if (r.len != 0) [[unlikely]]
                return corrupt(ec);
            return std::nullopt;
        }
        const std::uint64_t size = record_size(r.len);
        if (r.flags != record_flag || r.len > max_record_ || off + size > capacity_) [[unlikely]]
            return corrupt(ec);
        next = t + size;
        return std::span<const std::byte>(data_ + off + header_size, r.len);
    }
    [[gnu::always_inline]] void release_to(std::uint64_t t) noexcept {
        ix_.tail = t;
        st_->ctl.tail.store(t, std::memory_order_release);
    }
    [[gnu::always_inline]] bool room_for(std::uint64_t h, std::uint64_t total) noexcept {
        // A tail ahead of head or more than a buffer behind is corrupt: report full, touch nothing.
        if (h - ix_.cached_tail <= capacity_ && capacity_ - (h - ix_.cached_tail) >= total) return true;
        ix_.cached_tail = st_->ctl.tail.load(std::memory_order_acquire);
        return h - ix_.cached_tail <= capacity_ && capacity_ - (h - ix_.cached_tail) >= total;
    }
    // A header as one 8-byte word (the data starts on a line and headers are
    // 8-aligned), read and written atomically: the consumer reads it while
    // the producer may be writing it.
    [[gnu::always_inline]] static std::atomic_ref<std::uint64_t> word_at(std::byte* data, std::uint64_t off) noexcept {
        return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(data + off));
    }
    // Release: the payload (and the terminator) are written before it.
    [[gnu::always_inline]] static void put_header_at(std::byte* data, std::uint64_t off, record_header r) noexcept {
        word_at(data, off).store(std::bit_cast<std::uint64_t>(r), std::memory_order_release);
    }
    [[gnu::always_inline]] void put_header(std::uint64_t off, record_header r) noexcept { put_header_at(data_, off, r); }
    // Acquire: the payload it announces is read after it.
    [[gnu::always_inline]] record_header get_header(std::uint64_t off) const noexcept {
        return std::bit_cast<record_header>(word_at(data_, off).load(std::memory_order_acquire));
    }
    static std::nullopt_t corrupt(std::error_code& ec) noexcept {
        ec = make_error_code(errc::corrupt);
        return std::nullopt;
    }

    local_indices ix_;
    std::size_t max_record_ = 0;     // capacity / 2 - header, at most 2^32 - 1
    std::size_t quick_max_ = 0;      // the largest record try_push_quick takes
    std::uint64_t loan_at_ = 0;      // where the loaned record starts
    std::size_t loan_len_ = 0;       // and how long it may be
    std::uint64_t taken_ = 0;        // tail after the record front() returned
    std::uint64_t want_ = 0;         // bytes the last failed loan needed
};

static_assert(variable_kind<bytes>);

}  // namespace ipc::ring
