// ipc/ring/bytes.hpp: single-producer single-consumer ring of variable-size records.
#pragma once

#include <cstring>
#include <optional>

#include "kind.hpp"

namespace ipc::ring {

// Records are an 8-byte header (length, flags) and the payload padded to 8
// bytes, always contiguous: a record that would cross the end of the buffer
// is preceded by a padding record filling the rest, and starts at offset 0.
// A record may take up to half the buffer (max_record()), which guarantees an
// empty ring always has room for one wherever its head is.
//
// Each side keeps its own index and a cached copy of the other side's in this
// view and re-reads the shared one only when the cache says full or empty; it
// stores its own index but never loads it back (the other side reads that
// line: see ring/spsc.hpp). The copies are taken from the region when the view
// is made and by adopt_indices(), which ring_region calls whenever this
// process becomes an end. Everything read from the
// region (lengths, flags, indices) is checked before use: a corrupt record is
// errc::corrupt, never an access outside the buffer.
class bytes : public view_base<two_indices> {
    struct record_header {
        std::uint32_t len;
        std::uint32_t flags;
    };
    static constexpr std::uint32_t padding_flag = 1;
    static constexpr std::uint64_t align = 8;
    static constexpr std::uint64_t record_size(std::uint64_t n) noexcept { return sizeof(record_header) + detail::round_up(n, align); }

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

    static void init_data(std::byte*, std::uint64_t) noexcept {}

    bytes() noexcept = default;
    bytes(shared_state<two_indices>* st, std::byte* data, std::uint64_t capacity) noexcept : view_base(st, data, capacity) {
        adopt_indices();
    }

    // Takes this view's copies of both indices from the region.
    void adopt_indices() noexcept { ix_.adopt(st_->ctl); }
    // A restarted end carries on where the last one stopped.
    bool join(direction, end_state&, const end_id&, std::error_code&) noexcept {
        adopt_indices();
        return true;
    }

    // ---- the kind interface (ring/kind.hpp): no per-end state -------------
    std::byte* loan(std::size_t n, end_state&, std::error_code& ec) noexcept { return loan(n, ec); }
    void commit(std::size_t n, end_state&) noexcept { commit(n); }
    std::optional<std::span<const std::byte>> front(end_state&, std::error_code& ec) noexcept { return front(ec); }
    bool release(end_state&) noexcept {
        release();
        return true;
    }
    std::byte* loan_message(std::size_t n, end_state&, std::error_code& ec) noexcept { return loan(n, ec); }
    void commit_message(std::size_t n, end_state&) noexcept { commit(n); }
    std::optional<std::span<const std::byte>> front_message(end_state&, std::error_code& ec) noexcept { return front(ec); }
    bool can_push(const end_state&) const noexcept { return can_push(); }
    bool can_pop(const end_state&) const noexcept { return can_pop(); }

    // The largest payload a record can carry.
    std::size_t max_record() const noexcept {
        const std::uint64_t m = capacity_ / 2 - sizeof(record_header);
        return m > UINT32_MAX ? UINT32_MAX : static_cast<std::size_t>(m);
    }

    // ---- producer ------------------------------------------------------

    // Room for an n-byte payload to write in place, or nullptr: full (ec
    // untouched), or n over max_record() (ec = errc::message_too_large).
    [[nodiscard]] std::byte* loan(std::size_t n, std::error_code& ec) noexcept {
        if (n > max_record()) {
            ec = make_error_code(errc::message_too_large);
            return nullptr;
        }
        const std::uint64_t h = ix_.head;
        if (h % align != 0) {
            ec = make_error_code(errc::corrupt);
            return nullptr;
        }
        const std::uint64_t off = h & mask_;
        const std::uint64_t need = record_size(n);
        const std::uint64_t pad = capacity_ - off < need ? capacity_ - off : 0;
        if (!room_for(h, pad + need)) {
            want_ = pad + need;
            return nullptr;
        }
        if (pad) put_header(off, {0, padding_flag});
        loan_at_ = h + pad;
        loan_len_ = n;
        return data_ + (loan_at_ & mask_) + sizeof(record_header);
    }
    // Publishes the loaned record with its final length (at most the loaned
    // n; more is cut to n rather than overrun the loan).
    void commit(std::size_t n) noexcept {
        if (n > loan_len_) n = loan_len_;
        put_header(loan_at_ & mask_, {static_cast<std::uint32_t>(n), 0});
        ix_.head = loan_at_ + record_size(n);
        st_->ctl.head.store(ix_.head, std::memory_order_release);
    }
    [[nodiscard]] bool try_push(std::span<const std::byte> msg, std::error_code& ec) noexcept {
        std::byte* p = loan(msg.size(), ec);
        if (!p) return false;
        if (!msg.empty()) std::memcpy(p, msg.data(), msg.size());
        commit(msg.size());
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
    [[nodiscard]] std::optional<std::span<const std::byte>> front(std::error_code& ec) noexcept {
        std::uint64_t t = ix_.tail;
        for (;;) {
            if (t % align != 0) return corrupt(ec);
            if (t == ix_.cached_head || ix_.cached_head - t > capacity_) {
                ix_.cached_head = st_->ctl.head.load(std::memory_order_acquire);
                if (t == ix_.cached_head) return std::nullopt;
            }
            const std::uint64_t avail = ix_.cached_head - t;
            const std::uint64_t off = t & mask_;
            if (avail > capacity_ || avail < sizeof(record_header)) return corrupt(ec);
            record_header r;
            std::memcpy(&r, data_ + off, sizeof r);
            if (r.flags == padding_flag) {
                if (capacity_ - off > avail) return corrupt(ec);
                t += capacity_ - off;
                ix_.tail = t;
                st_->ctl.tail.store(t, std::memory_order_release);
                continue;
            }
            const std::uint64_t size = record_size(r.len);
            if (r.flags != 0 || r.len > max_record() || size > avail || off + size > capacity_) return corrupt(ec);
            taken_ = t + size;
            return std::span<const std::byte>(data_ + off + sizeof(record_header), r.len);
        }
    }
    void release() noexcept {
        ix_.tail = taken_;
        st_->ctl.tail.store(ix_.tail, std::memory_order_release);
    }

    // Copies the oldest record into buf and frees it. A record larger than buf
    // is dropped and reported as errc::message_too_large.
    [[nodiscard]] std::optional<std::size_t> try_pop(std::span<std::byte> buf, std::error_code& ec) noexcept {
        auto m = front(ec);
        if (!m) return std::nullopt;
        const std::size_t n = m->size();
        if (n > buf.size()) {
            release();
            ec = make_error_code(errc::message_too_large);
            return std::nullopt;
        }
        if (n) std::memcpy(buf.data(), m->data(), n);
        release();
        return n;
    }
    bool can_pop() const noexcept {
        return st_->ctl.head.load(std::memory_order_acquire) != st_->ctl.tail.load(std::memory_order_acquire);
    }

    // Bytes in use; exact only when both sides are idle.
    std::uint64_t size() const noexcept {
        return queued(st_->ctl.head.load(std::memory_order_acquire), st_->ctl.tail.load(std::memory_order_acquire), capacity_);
    }

private:
    bool room_for(std::uint64_t h, std::uint64_t total) noexcept {
        // A tail ahead of head or more than a buffer behind is corrupt: report full, touch nothing.
        if (h - ix_.cached_tail <= capacity_ && capacity_ - (h - ix_.cached_tail) >= total) return true;
        ix_.cached_tail = st_->ctl.tail.load(std::memory_order_acquire);
        return h - ix_.cached_tail <= capacity_ && capacity_ - (h - ix_.cached_tail) >= total;
    }
    void put_header(std::uint64_t off, record_header r) noexcept { std::memcpy(data_ + off, &r, sizeof r); }
    static std::nullopt_t corrupt(std::error_code& ec) noexcept {
        ec = make_error_code(errc::corrupt);
        return std::nullopt;
    }

    local_indices ix_;
    std::uint64_t loan_at_ = 0;      // where the loaned record starts
    std::size_t loan_len_ = 0;       // and how long it may be
    std::uint64_t taken_ = 0;        // tail after the record front() returned
    std::uint64_t want_ = 0;         // bytes the last failed loan needed
};

static_assert(variable_kind<bytes>);

}  // namespace ipc::ring
