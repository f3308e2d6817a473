// ipc/ring/broadcast_bytes.hpp: one publisher, any number of subscribers, records of any size.
#pragma once

#include "broadcast.hpp"

namespace ipc::ring {

// The variable-size broadcast ring's control. What the publisher stores with
// each record (head, count, oldest) shares one line pair: a subscriber that
// reads one of them reads the others in the same transfer. The rest changes
// only when an end comes or goes.
struct alignas(ipc::detail::cache_line) broadcast_bytes_control {
    alignas(ipc::detail::cache_line) std::atomic<std::uint64_t> head;  // byte position after the newest record
    std::atomic<std::uint64_t> oldest;                                 // byte position of the oldest whole record: bytes before it may be written over
    std::atomic<std::uint64_t> count;                                  // records published: the next record's sequence number
    alignas(ipc::detail::cache_line) std::byte head_gap[ipc::detail::cache_line];
    alignas(ipc::detail::cache_line) broadcast_ends ends;  // broadcast_table's: the publisher and the table
    std::uint64_t history_offset;  // from the start of the ring data: where the last `history` records start
    std::uint64_t table_offset;    // from the start of the ring data
    alignas(ipc::detail::cache_line) std::byte tail_gap[ipc::detail::cache_line];
};
static_assert(sizeof(broadcast_bytes_control) >= sizeof(two_indices));
static_assert(offsetof(broadcast_bytes_control, ends) == 2 * ipc::detail::cache_line &&
              offsetof(broadcast_bytes_control, table_offset) == offsetof(broadcast_bytes_control, ends) + sizeof(broadcast_ends) + sizeof(std::uint64_t));

// One publisher process, any number of subscriber processes (up to the
// region's max_subscribers), records of any size up to max_record() (half
// the ring, less a header). The publisher loans room for n bytes, writes in
// place and commits what it used; each subscriber reads every record in
// order, in place, and release() says whether it was intact throughout.
// Options, policies, the subscriber table, reaping, publisher restart,
// news() and missed() are broadcast_table's (history counts records).
//
// Why a byte ring with one "oldest" bound, not a version word per record: a
// record's header can sit where an older record's payload was, so nothing
// found at a position tells by itself whether it is the record expected
// there, an older one or a newer one's bytes. Instead the data is a ring of
// 64-bit byte positions (records 16-aligned and contiguous, a padding record
// at the wrap, as in ring::bytes) and:
// - head (the end of the newest record) says what is committed: a subscriber
//   reads a record at `next` only if next < head (cached, re-read when it
//   catches up);
// - oldest is the publisher-wide seqlock: before writing over old bytes the
//   publisher moves oldest past every record they held (it walks its own
//   headers, checked) and only then writes. A subscriber reads a header and
//   payload at `next` and then, after an acquire fence, oldest: if oldest <=
//   next nothing it read was written over (intact), else it was lapped and
//   starts again at oldest. One word serves every record and every
//   subscriber, and it shares a line with head;
// - every record header carries its sequence number, so a subscriber counts
//   what it missed from the gap in sequence numbers, however it was lapped.
// Under block and drop_slowest the publisher needs the slowest live
// subscriber's byte tail to be at most a ring behind the end of what it
// writes (cached, rescanned when the cache says full), so oldest never
// passes a live subscriber; under overwrite it never looks.
//
// Lengths, positions, flags and sequence numbers read from the region are
// untrusted: a header is used only after its length fits the ring, the
// committed bytes and max_record(), so a lying length never reads outside
// the data (it is errc::corrupt, or a lapped read, never an access).
//
// History: the publisher also stores each record's position in a small
// array of `history` words, so a joiner finds where the K-th newest record
// starts (checked: its header must carry that sequence number, and be
// intact). If it was written over, the joiner starts at the newest and is
// told it missed them, as with ring::broadcast.
//
// Crashes: a record is visible only once head passes it, so a publisher
// killed while writing leaves nothing half written visible; a restarted one
// writes from head again. Killed between storing count and head, it leaves
// count one ahead: a restarted one compares count with the newest record's
// number and takes the unannounced one back (open_publisher), so subscribers
// are told of no loss and never see a number twice. Subscribers: as
// ring::broadcast (tail stored after use; a dead one is reaped).
class broadcast_bytes : public broadcast_table<broadcast_bytes, broadcast_bytes_control> {
    using table = broadcast_table<broadcast_bytes, broadcast_bytes_control>;
    friend table;
    struct record_header {
        std::uint64_t seq;
        std::uint32_t len;
        std::uint32_t flags;
    };
    static constexpr std::uint32_t padding_flag = 1;
    static constexpr std::uint64_t align = sizeof(record_header);  // a header never straddles the wrap
    static constexpr std::uint64_t record_size(std::uint64_t n) noexcept { return sizeof(record_header) + detail::round_up(n, align); }

public:
    using value_type = std::byte;
    static constexpr ring::kind ring_kind = kind::broadcast_bytes;
    static constexpr std::uint64_t min_capacity = 64;
    static constexpr std::uint64_t slot_size = 1;
    static constexpr std::uint64_t value_size = 1;
    static constexpr std::uint64_t value_align = 1;
    static constexpr std::uint64_t tag = detail::fnv1a("ipc::ring::broadcast_bytes");
    static constexpr std::uint64_t data_offset = ring::data_offset<broadcast_bytes>;

    // The publisher's own state; the caller keeps it. head: where the next record goes.
    struct publisher : table::publisher_base {
        std::uint64_t oldest = 0;    // as last stored in the control
        std::uint64_t count = 0;     // the next record's sequence number
        std::uint64_t loan_at = 0;   // where the loaned record starts
        std::uint64_t loan_len = 0;  // and how long it may be
        std::uint64_t want = 0;      // bytes the last failed loan needed
    };

    // One subscription's state; the caller keeps it.
    struct subscriber : table::subscriber_base {
        std::uint64_t next = 0;         // byte position of the next record
        std::uint64_t expect = 0;       // its sequence number, if none was missed
        std::uint64_t cached_head = 0;  // the publisher's head as last read
        std::uint64_t reading = 0;      // front(): the lent record's size in the ring, 0: none
        std::uint64_t reading_seq = 0;  // and its sequence number
        std::uint32_t reading_len = 0;  // and its payload's length
    };

    enum class read_status : std::uint8_t {
        ok,
        empty,           // nothing new (yet)
        dropped,         // drop_slowest dropped it, or reap() freed its entry: subscribe again
        not_subscribed,  // this subscriber has no entry
        corrupt,         // the region holds a record that cannot be (errc::corrupt)
    };
    // What front() found: the record in place, its sequence number and how
    // many records the subscriber missed just before it (counted on release).
    struct read_result {
        std::span<const std::byte> data;
        read_status status = read_status::empty;
        std::uint64_t seq = 0;
        explicit operator bool() const noexcept { return status == read_status::ok; }
    };

    broadcast_bytes() noexcept = default;

    // ---- the region: options_error_of, required_size, format and options
    // are broadcast_table's (capacity in bytes, history in records, below
    // capacity / 16). attach() checks every size, count and offset against
    // what this program computes from them and mem.size() before any use.
    static broadcast_bytes attach(std::span<std::byte> mem, std::error_code& ec) noexcept {
        using ull = unsigned long long;
        auto* st = table::formatted_state_in(mem, ec);
        if (!st) return {};
        const header& h = st->hdr;
        const std::uint64_t found[] = {h.version, h.kind, h.type_tag, h.slot_size, h.value_size, h.data_offset};
        const std::uint64_t expected[] = {layout_version, static_cast<std::uint64_t>(ring_kind), tag, slot_size, value_size, data_offset};
        const char* fields[] = {"layout version", "ring kind", "type tag", "slot size", "value size", "data offset"};
        for (std::size_t i = 0; i < std::size(found); ++i)
            if (found[i] != expected[i]) {
                ec = ipc::detail::explain(make_error_code(errc::layout_mismatch),
                                          "%s differs: the region (a %s ring) has %llu, this program expects %llu (broadcast_bytes)", fields[i],
                                          kind_name(h.kind), static_cast<ull>(found[i]), static_cast<ull>(expected[i]));
                return {};
            }
        const broadcast_bytes_control& c = st->ctl;
        const broadcast_options o = table::recorded_options(*st);
        const std::uint64_t need = required_size(o);
        if (need == 0 || c.table_offset != table_offset_of(o) || c.history_offset != history_offset(h.capacity) || h.total_size != need ||
            mem.size() < need) {
            ec = ipc::detail::explain(make_error_code(errc::corrupt),
                                      "the broadcast_bytes header (capacity %llu, %llu subscribers, slow policy %llu, history %llu, size %llu) "
                                      "does not describe a ring that fits the region's %llu bytes",
                                      static_cast<ull>(h.capacity), static_cast<ull>(c.ends.max_subscribers), static_cast<ull>(c.ends.slow),
                                      static_cast<ull>(c.ends.history), static_cast<ull>(h.total_size), static_cast<ull>(mem.size()));
            return {};
        }
        return broadcast_bytes(st, mem.data() + data_offset, o);
    }

    // The largest payload a record can carry: half the ring less a header,
    // so that a record always fits wherever the head is.
    std::size_t max_record() const noexcept {
        const std::uint64_t m = capacity_ / 2 - sizeof(record_header);
        return m > UINT32_MAX ? UINT32_MAX : static_cast<std::size_t>(m);
    }

    // ---- the ring kind (ring/kind.hpp) -------------------------------------
    //
    // (ends, end of stream, join, leave, repair, news, missed and describe
    // are broadcast_table's.)
    static constexpr bool fixed_size = false;
    // A view made by the generic ring::format / ring::attach (no options: no
    // subscriber table); ring_region uses format / attach above.
    broadcast_bytes(shared_state<broadcast_bytes_control>* st, std::byte* data, std::uint64_t capacity) noexcept : table(st, data, capacity) {}
    static void init_data(std::byte*, std::uint64_t) noexcept {}  // head says what is written

    bool can_push(const end_state& e) const noexcept {
        return e.pub.is_open() && room_for(e.pub, e.pub.head + (e.pub.want ? e.pub.want : sizeof(record_header)));
    }
    bool can_pop(const end_state& e) const noexcept { return can_pop(e.sub); }

    std::byte* loan(std::size_t n, end_state& e, std::error_code& ec) noexcept { return loan(e.pub, n, ec); }
    void commit(std::size_t n, end_state& e) noexcept { commit(e.pub, n); }
    void cancel(end_state& e) noexcept { cancel(e.pub); }
    std::optional<std::span<const std::byte>> front(end_state& e, std::error_code& ec) noexcept {
        const read_result r = front(e.sub);
        if (r.status == read_status::corrupt) ec = make_error_code(errc::corrupt);
        if (!r) return std::nullopt;
        return r.data;
    }
    bool release(end_state& e) noexcept { return release(e.sub); }
    std::byte* loan_message(std::size_t n, end_state& e, std::error_code& ec) noexcept { return loan(e.pub, n, ec); }
    void commit_message(std::size_t n, end_state& e) noexcept { commit(e.pub, n); }
    std::optional<std::span<const std::byte>> front_message(end_state& e, std::error_code& ec) noexcept { return front(e, ec); }

    // ---- publisher ---------------------------------------------------------

    // Makes this process the publisher: errc::in_use while another live one
    // is. A dead publisher's place is taken and its stream carried on from
    // the region's head (a record it had not made visible is rewritten).
    bool open_publisher(publisher& p, std::error_code& ec) noexcept {
        const std::uint64_t mine = claim_publisher(ec);
        if (mine == 0) return false;
        auto& c = st_->ctl;
        const std::uint64_t h = c.head.load(std::memory_order_acquire);
        std::uint64_t o = c.oldest.load(std::memory_order_acquire);
        if (h % align != 0) {
            p = publisher{};
            p.me = mine;
            close_publisher(p);
            ec = ipc::detail::explain(make_error_code(errc::corrupt), "the broadcast_bytes ring's head %llu is not a record boundary",
                                      static_cast<unsigned long long>(h));
            return false;
        }
        // An oldest bound that cannot be (corrupt) is taken as "everything
        // before head": nothing is read from a record not known whole.
        if (o % align != 0 || o > h || h - o > capacity_) detail::begin_write(c.oldest, o = h);
        p = publisher{};
        p.head = h;
        p.oldest = o;
        p.count = c.count.load(std::memory_order_acquire);
        // Killed between storing count and head, a publisher left count one
        // past the newest record anyone could read. Take the number back:
        // the next record carries it, and no subscriber is told it missed a
        // record nobody could read. The newest record's number is found by
        // walking the headers from oldest to head, never from what lies at
        // head: that may be a dead publisher's record whose number a later
        // one took back and used (the shorter record it wrote instead can
        // end at the wrap, or inside the old one's payload).
        std::uint64_t newest = 0;
        if (newest_before(o, h, newest) ? p.count == newest + 2 : h == 0 && p.count == 1)
            c.count.store(--p.count, std::memory_order_relaxed);
        p.cached_min = h - capacity_;  // rescan before the first write
        p.me = mine;
        return true;
    }

    // Room for an n-byte record to write in place, or nullptr: no room
    // (block: the slowest live subscriber is too far behind; ec untouched),
    // n over max_record() (errc::message_too_large, naming both), or the
    // publisher is not open. Nothing is visible until commit().
    [[nodiscard]] std::byte* loan(publisher& p, std::size_t n, std::error_code& ec) noexcept {
        if (n > max_record()) {
            ec = ipc::detail::explain(make_error_code(errc::message_too_large),
                                      "a record of %llu bytes is over the broadcast_bytes ring's limit of %llu bytes (half its %llu-byte "
                                      "capacity, less a %llu-byte header)",
                                      static_cast<unsigned long long>(n), static_cast<unsigned long long>(max_record()),
                                      static_cast<unsigned long long>(capacity_), static_cast<unsigned long long>(sizeof(record_header)));
            return nullptr;
        }
        if (!p.is_open()) return nullptr;
        const std::uint64_t h = p.head, off = h & mask_, need = record_size(n);
        const std::uint64_t pad = capacity_ - off < need ? capacity_ - off : 0;
        const std::uint64_t end = h + pad + need;
        if (opts_.slow != slow_policy::overwrite && end - p.cached_min > capacity_ && !make_room(p, end)) {
            p.want = pad + need;
            return nullptr;
        }
        p.want = 0;
        // Move oldest past every record these bytes reach, then write. The
        // headers walked are this ring's own, checked all the same: one that
        // cannot be ends the walk at head (everything older counts as gone).
        std::uint64_t o = p.oldest;
        while (end - o > capacity_) {
            record_header r;
            std::memcpy(&r, data_ + (o & mask_), sizeof r);
            const std::uint64_t size = size_of(r, o & mask_);
            if (size == 0 || size > h - o) {
                o = h;
                break;
            }
            o += size;
        }
        if (o != p.oldest) detail::begin_write(st_->ctl.oldest, p.oldest = o);
        if (pad) put_header(off, {p.count, 0, padding_flag});
        p.loan_at = h + pad;
        p.loan_len = n;
        p.loaned = true;
        return data_ + (p.loan_at & mask_) + sizeof(record_header);
    }
    // Publishes the loaned record with its final length (at most the loaned
    // n; more is cut to n rather than overrun the loan).
    void commit(publisher& p, std::size_t used) noexcept {
        if (!p.loaned) return;
        if (used > p.loan_len) used = p.loan_len;
        put_header(p.loan_at & mask_, {p.count, static_cast<std::uint32_t>(used), 0});
        if (opts_.history) hist_[p.count % opts_.history].store(p.loan_at, std::memory_order_relaxed);
        auto& c = st_->ctl;
        c.count.store(++p.count, std::memory_order_relaxed);
        p.head = p.loan_at + record_size(used);
        c.head.store(p.head, std::memory_order_release);
        p.loaned = false;
    }
    // Gives the loan back unsent (what it may have written over stays gone).
    void cancel(publisher& p) noexcept { p.loaned = false; }

    [[nodiscard]] bool try_push(publisher& p, std::span<const std::byte> msg, std::error_code& ec) noexcept {
        std::byte* at = loan(p, msg.size(), ec);
        if (!at) return false;
        if (!msg.empty()) std::memcpy(at, msg.data(), msg.size());
        commit(p, msg.size());
        return true;
    }

    // ---- subscribers -------------------------------------------------------

    // Claims a table entry and starts at the newest record, or with the last
    // `history` ones (at most the region's history). errc::limit_exceeded
    // when every entry is held by a live process.
    bool subscribe(subscriber& s, std::error_code& ec) noexcept { return subscribe(s, opts_.history, ec); }
    bool subscribe(subscriber& s, std::uint64_t history, std::error_code& ec) noexcept {
        if (history > opts_.history) history = opts_.history;
        auto& c = st_->ctl;
        // Held while it joins: everything still whole.
        const auto hold = [&] { return c.oldest.load(std::memory_order_acquire); };
        const auto start = [&] {
            const std::uint64_t h = c.head.load(std::memory_order_seq_cst);
            const std::uint64_t n = c.count.load(std::memory_order_acquire);
            s.next = s.cached_head = h;
            s.expect = n > history ? n - history : 0;
            if (history != 0) s.next = history_start(h, s.expect);
            return s.next;
        };
        return claim_entry(s, hold, start, ec);
    }

    // The next record, in place; release() must follow an ok read and says
    // whether the record was intact throughout (if not, discard what was
    // read: the gap is counted as missed with the next record read).
    [[nodiscard]] read_result front(subscriber& s) noexcept {
        read_result r;
        r.status = next_ready(s);
        if (r) {
            r.data = std::span<const std::byte>(data_ + (s.next & mask_) + sizeof(record_header), s.reading_len);
            r.seq = s.reading_seq;
        }
        return r;
    }
    [[nodiscard]] bool release(subscriber& s) noexcept {
        if (s.reading == 0) return false;
        const std::uint64_t size = s.reading;
        s.reading = 0;
        if (detail::version_after_read(st_->ctl.oldest) > s.next) return false;  // lapped while reading: front() moves on
        if (s.reading_seq >= s.expect) {
            count_missed(s, s.reading_seq - s.expect);
            s.expect = s.reading_seq + 1;
        }
        advance(s, s.next + size);
        return true;
    }

    // Copies the next intact record into buf; its size, or nullopt: ec says
    // why (would_block when empty, dropped, corrupt, message_too_large: a
    // record larger than buf is consumed and refused).
    [[nodiscard]] std::optional<std::size_t> try_pop(subscriber& s, std::span<std::byte> buf, std::error_code& ec) noexcept {
        for (std::uint64_t tries = 0; tries < capacity_; ++tries) {
            const read_result r = front(s);
            if (!r) {
                ec = make_error_code(r.status == read_status::empty     ? errc::would_block
                                     : r.status == read_status::dropped ? errc::dropped
                                     : r.status == read_status::corrupt ? errc::corrupt
                                                                        : errc::not_connected);
                return std::nullopt;
            }
            const bool fits = r.data.size() <= buf.size();
            if (fits && !r.data.empty()) std::memcpy(buf.data(), r.data.data(), r.data.size());
            if (!release(s)) continue;
            if (fits) return r.data.size();
            ec = make_error_code(errc::message_too_large);
            return std::nullopt;
        }
        ec = make_error_code(errc::would_block);
        return std::nullopt;
    }

    // Whether a read would find a record (or news: dropped) now.
    bool can_pop(const subscriber& s) const noexcept {
        if (!s.is_subscribed()) return false;
        if (!holds(s)) return true;
        return st_->ctl.head.load(std::memory_order_acquire) != s.next;
    }

    // ---- listings (ipc-ls, tests) ------------------------------------------

    std::uint64_t oldest() const noexcept { return st_->ctl.oldest.load(std::memory_order_acquire); }
    std::uint64_t records() const noexcept { return st_->ctl.count.load(std::memory_order_acquire); }
    // (head, dropped, reap, publisher_status, for_each_subscriber and
    // subscribers are broadcast_table's; lags are in bytes.)

private:
    broadcast_bytes(shared_state<broadcast_bytes_control>* st, std::byte* data, const broadcast_options& o) noexcept
        : table(st, data, o), hist_(reinterpret_cast<std::atomic<std::uint64_t>*>(data + history_offset(o.capacity))) {}

    static constexpr const char* capacity_unit = "bytes";
    static constexpr const char* lag_field = "max_lag_bytes";
    static constexpr std::uint64_t max_capacity = (std::uint64_t{1} << 62) / 4;
    static constexpr std::uint64_t history_limit(std::uint64_t capacity) noexcept { return capacity / align; }
    // format(): the history words.
    static void init_region(broadcast_bytes_control& c, std::byte* data, const broadcast_options& o) noexcept {
        c.history_offset = history_offset(o.capacity);
        auto* hist = reinterpret_cast<std::atomic<std::uint64_t>*>(data + c.history_offset);
        for (std::uint64_t i = 0; i < o.history; ++i) new (&hist[i]) std::atomic<std::uint64_t>(0);
    }
    // ipc-ls: records published, after the publisher.
    static void describe_counts(const broadcast_bytes_control& c, description& out) noexcept {
        out.add("records", c.count.load(std::memory_order_relaxed));
    }

    // From the ring data: the history words, then the table, each on a line pair of the region.
    static constexpr std::uint64_t history_offset(std::uint64_t capacity) noexcept {
        return detail::round_up(data_offset + capacity, 2 * ipc::detail::cache_line) - data_offset;
    }
    static constexpr std::uint64_t table_offset_of(const broadcast_options& o) noexcept {
        return detail::round_up(data_offset + history_offset(o.capacity) + o.history * sizeof(std::uint64_t), 2 * ipc::detail::cache_line) -
               data_offset;
    }

    void put_header(std::uint64_t off, record_header r) noexcept { std::memcpy(data_ + off, &r, sizeof r); }
    // What a header found at ring offset off says its record takes (padding:
    // the rest of the ring), or 0 if it cannot be a header.
    std::uint64_t size_of(const record_header& r, std::uint64_t off) const noexcept {
        return r.flags == padding_flag ? capacity_ - off : r.flags == 0 && r.len <= max_record() ? record_size(r.len) : 0;
    }

    // The sequence number of the newest record in [o, h) (o a record
    // boundary, h - o at most a ring): walks the headers, checked; false if
    // there is none or a header does not lead to h exactly. Only the
    // publisher calls it, with no other publisher live: nothing moves.
    bool newest_before(std::uint64_t o, std::uint64_t h, std::uint64_t& seq) const noexcept {
        bool found = false;
        while (o != h) {
            record_header r;
            std::memcpy(&r, data_ + (o & mask_), sizeof r);
            const std::uint64_t size = size_of(r, o & mask_);
            if (size == 0 || size > h - o) return false;
            if (r.flags != padding_flag) {
                seq = r.seq;
                found = true;
            }
            o += size;
        }
        return found;
    }

    // Where record `want` starts, from the history words, if it is still
    // whole and the words say true; else h (the joiner is told it missed them).
    std::uint64_t history_start(std::uint64_t h, std::uint64_t want) const noexcept {
        const std::uint64_t at = hist_[want % opts_.history].load(std::memory_order_acquire);
        const std::uint64_t o = st_->ctl.oldest.load(std::memory_order_acquire);
        if (at % align != 0 || at < o || at > h || h - at > capacity_) return h;
        record_header r;
        std::memcpy(&r, data_ + (at & mask_), sizeof r);
        if (r.seq != want || r.flags != 0 || detail::version_after_read(st_->ctl.oldest) > at) return h;
        return at;
    }

    // Finds the next record for s: ok with its header checked and s.reading
    // set; skips padding and jumps past what was written over.
    read_status next_ready(subscriber& s) noexcept {
        if (!s.is_subscribed()) return read_status::not_subscribed;
        s.reading = 0;
        if (!holds(s)) return read_status::dropped;
        auto& c = st_->ctl;
        for (std::uint64_t tries = 0; tries < 64; ++tries) {
            if (s.next == s.cached_head) {
                s.cached_head = c.head.load(std::memory_order_acquire);
                if (s.next == s.cached_head) return read_status::empty;
            }
            const std::uint64_t o = c.oldest.load(std::memory_order_acquire);
            if (s.next < o) {
                // Lapped (overwrite, or history written over while joining):
                // start again at the oldest whole record. The three words
                // are not read at one instant, and the publisher may run
                // on between them: a sound ring still has oldest <= a
                // head read after it, and oldest (read after head h1) no
                // more than a ring behind h1. Only a breach of those is corrupt.
                const std::uint64_t h1 = c.head.load(std::memory_order_acquire);
                const std::uint64_t lo = c.oldest.load(std::memory_order_acquire);
                s.cached_head = c.head.load(std::memory_order_acquire);
                if (lo % align != 0 || lo > s.cached_head || (h1 > lo && h1 - lo > capacity_)) return read_status::corrupt;
                advance(s, lo);
                continue;
            }
            if (s.next > s.cached_head || s.cached_head - s.next > capacity_) {
                s.cached_head = c.head.load(std::memory_order_acquire);  // older than oldest says: read again
                if (s.next > s.cached_head || s.cached_head - s.next > capacity_) {
                    if (c.oldest.load(std::memory_order_acquire) > s.next) continue;
                    return read_status::corrupt;
                }
            }
            const std::uint64_t off = s.next & mask_, avail = s.cached_head - s.next;
            record_header r;
            std::memcpy(&r, data_ + off, sizeof r);
            const bool pad = r.flags == padding_flag;
            const std::uint64_t size = size_of(r, off);
            // What the header says counts only if it was not written over while read.
            if (detail::version_after_read(c.oldest) > s.next) continue;
            if (size == 0 || size > avail || off + size > capacity_) return read_status::corrupt;
            if (pad) {
                advance(s, s.next + size);
                continue;
            }
            s.reading = size;
            s.reading_seq = r.seq;
            s.reading_len = r.len;
            return read_status::ok;
        }
        return read_status::empty;  // lapped again and again: the caller tries later
    }

    void advance(subscriber& s, std::uint64_t to) noexcept {
        s.next = to;
        store_tail(s, to);
    }

    std::atomic<std::uint64_t>* hist_ = nullptr;
};

static_assert(variable_kind<broadcast_bytes>);

}  // namespace ipc::ring
