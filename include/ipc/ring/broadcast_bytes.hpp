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
    // The publisher: [pid: 32][phase: 8] (phase: 0 never, 1 left cleanly, 2 live) and its start time.
    alignas(ipc::detail::cache_line) std::atomic<std::uint64_t> publisher;
    std::atomic<std::uint64_t> publisher_start_time;
    std::atomic<std::uint64_t> dropped;  // subscribers dropped by slow_policy::drop_slowest
    std::atomic<std::uint32_t> used;     // entries below this index have been claimed (a scan bound; untrusted)
    std::uint32_t max_subscribers;
    std::uint32_t slow;
    std::uint64_t history;         // records
    std::uint64_t history_offset;  // from the start of the ring data: where the last `history` records start
    std::uint64_t table_offset;    // from the start of the ring data
    alignas(ipc::detail::cache_line) std::byte tail_gap[ipc::detail::cache_line];
};
static_assert(sizeof(broadcast_bytes_control) >= sizeof(two_indices));

// One publisher process, any number of subscriber processes (up to the
// region's max_subscribers), records of any size up to max_record() (half
// the ring, less a header). The publisher loans room for n bytes, writes in
// place and commits what it used; each subscriber reads every record in
// order, in place, and release() says whether it was intact throughout.
// Options, policies, the subscriber table, reaping, history (in records),
// publisher restart, news() and missed() are ring::broadcast's.
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
// writes from head again. Killed between storing count and head, the record
// it wrote is lost and counted as missed by subscribers. Subscribers: as
// ring::broadcast (tail stored after use; a dead one is reaped).
class broadcast_bytes : public view_base<broadcast_bytes_control> {
    using base = view_base<broadcast_bytes_control>;
    struct record_header {
        std::uint64_t seq;
        std::uint32_t len;
        std::uint32_t flags;
    };
    static constexpr std::uint32_t padding_flag = 1;
    static constexpr std::uint64_t align = sizeof(record_header);  // a header never straddles the wrap
    static constexpr std::uint64_t record_size(std::uint64_t n) noexcept { return sizeof(record_header) + detail::round_up(n, align); }
    static constexpr std::uint64_t phase_free = 0, phase_claiming = 1, phase_live = 2, phase_dropped = 3;
    static constexpr std::uint64_t publisher_left = 1, publisher_live = 2;
    static constexpr unsigned gen_shift = 40;

public:
    using value_type = std::byte;
    static constexpr ring::kind ring_kind = kind::broadcast_bytes;
    static constexpr std::uint64_t min_capacity = 64;
    static constexpr std::uint64_t slot_size = 1;
    static constexpr std::uint64_t value_size = 1;
    static constexpr std::uint64_t value_align = 1;
    static constexpr std::uint64_t tag = detail::fnv1a("ipc::ring::broadcast_bytes");
    static constexpr std::uint64_t data_offset = ring::data_offset<broadcast_bytes>;

    // The publisher's own state; the caller keeps it.
    struct publisher {
        std::uint64_t head = 0;        // where the next record goes
        std::uint64_t oldest = 0;      // as last stored in the control
        std::uint64_t count = 0;       // the next record's sequence number
        std::uint64_t cached_min = 0;  // slowest live subscriber's tail, as of the last scan
        std::uint64_t me = 0;          // this publisher's word in the control, 0: not open
        std::uint64_t loan_at = 0;     // where the loaned record starts
        std::uint64_t loan_len = 0;    // and how long it may be
        std::uint64_t want = 0;        // bytes the last failed loan needed
        bool loaned = false;
        std::chrono::nanoseconds check_interval = std::chrono::milliseconds(100);
        std::chrono::steady_clock::time_point next_check{};
        bool is_open() const noexcept { return me != 0; }
    };

    // One subscription's state; the caller keeps it.
    struct subscriber {
        std::uint32_t entry = 0;        // its index in the subscriber table
        std::uint64_t me = 0;           // the entry's state word while it is ours; 0: not subscribed
        std::uint64_t next = 0;         // byte position of the next record
        std::uint64_t expect = 0;       // its sequence number, if none was missed
        std::uint64_t missed = 0;       // records it missed since subscribing
        std::uint64_t cached_head = 0;  // the publisher's head as last read
        std::uint64_t reading = 0;      // front(): the lent record's size in the ring, 0: none
        std::uint64_t reading_seq = 0;  // and its sequence number
        std::uint32_t reading_len = 0;  // and its payload's length
        bool is_subscribed() const noexcept { return me != 0; }
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

    enum class publisher_state : std::uint8_t { none, live, left, dead };

    broadcast_bytes() noexcept = default;

    // ---- the region --------------------------------------------------------

    // Why required_size(o) is 0, explained (errc::limit_exceeded).
    static std::error_code options_error_of(const broadcast_options& o) noexcept { return options_error(o); }

    // Bytes a region with these options needs (capacity in bytes, history in
    // records, below capacity / 16); 0 if they are invalid or too large.
    static constexpr std::uint64_t required_size(const broadcast_options& o) noexcept {
        if (!detail::is_pow2(o.capacity) || o.capacity < min_capacity || o.max_subscribers == 0 || o.history >= o.capacity / align) return 0;
        if (o.slow != slow_policy::block && o.slow != slow_policy::overwrite && o.slow != slow_policy::drop_slowest) return 0;
        constexpr std::uint64_t limit = std::uint64_t{1} << 62;
        if (o.capacity > limit / 4) return 0;
        const std::uint64_t table = table_offset(o.capacity, o.history);
        if (o.max_subscribers > (limit - data_offset - table) / sizeof(subscriber_entry)) return 0;
        return data_offset + table + o.max_subscribers * sizeof(subscriber_entry);
    }

    // Builds an empty ring in mem (cache-line aligned, at least
    // required_size(o) bytes). attach() refuses it until it is complete.
    static broadcast_bytes format(std::span<std::byte> mem, const broadcast_options& o, std::error_code& ec) noexcept {
        using ull = unsigned long long;
        const std::uint64_t need = required_size(o);
        if (need == 0) {
            ec = options_error(o);
            return {};
        }
        if (mem.size() < need || reinterpret_cast<std::uintptr_t>(mem.data()) % ipc::detail::cache_line != 0) {
            ec = ipc::detail::explain(make_error_code(errc::corrupt),
                                      "a broadcast_bytes region of %llu bytes does not fit %llu bytes at %p (or is not cache-line aligned)",
                                      static_cast<ull>(need), static_cast<ull>(mem.size()), static_cast<void*>(mem.data()));
            return {};
        }
        auto* st = new (mem.data()) shared_state<broadcast_bytes_control>{};
        header& h = st->hdr;
        h.magic = region_magic;
        h.version = layout_version;
        h.kind = static_cast<std::uint32_t>(ring_kind);
        h.capacity = o.capacity;
        h.slot_size = slot_size;
        h.value_size = value_size;
        h.value_align = value_align;
        h.type_tag = tag;
        h.total_size = need;
        h.data_offset = data_offset;
        const auto me = ipc::detail::self_identity();
        h.creator_pid = me.pid;
        h.creator_start_time = me.start_time;
        broadcast_bytes_control& c = st->ctl;
        c.max_subscribers = o.max_subscribers;
        c.slow = static_cast<std::uint32_t>(o.slow);
        c.history = o.history;
        c.history_offset = history_offset(o.capacity);
        c.table_offset = table_offset(o.capacity, o.history);
        std::byte* data = mem.data() + data_offset;
        auto* hist = reinterpret_cast<std::atomic<std::uint64_t>*>(data + c.history_offset);
        for (std::uint64_t i = 0; i < o.history; ++i) new (&hist[i]) std::atomic<std::uint64_t>(0);
        auto* table = reinterpret_cast<subscriber_entry*>(data + c.table_offset);
        for (std::uint32_t i = 0; i < o.max_subscribers; ++i) new (&table[i]) subscriber_entry{};
        h.state.store(formatted_state, std::memory_order_release);
        return broadcast_bytes(st, data, o);
    }

    // Checks a formatted region and returns a view of it: every size, count
    // and offset is compared with what this program computes from them and
    // with mem.size() before anything is used.
    static broadcast_bytes attach(std::span<std::byte> mem, std::error_code& ec) noexcept {
        using ull = unsigned long long;
        const std::error_code corrupt = make_error_code(errc::corrupt);
        if (!is_formatted(mem) || mem.size() < data_offset) {
            ec = ipc::detail::explain(corrupt, "the region (%llu bytes) holds no formatted ring header", static_cast<ull>(mem.size()));
            return {};
        }
        auto* st = std::launder(reinterpret_cast<shared_state<broadcast_bytes_control>*>(mem.data()));
        const header& h = st->hdr;
        if (h.magic != region_magic) {
            ec = ipc::detail::explain(corrupt, "the region does not start with ipc's ring magic number (found %#llx)", static_cast<ull>(h.magic));
            return {};
        }
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
        const broadcast_options o{h.capacity, c.max_subscribers, static_cast<slow_policy>(c.slow), c.history};
        const std::uint64_t need = required_size(o);
        if (need == 0 || c.table_offset != table_offset(h.capacity, c.history) || c.history_offset != history_offset(h.capacity) ||
            h.total_size != need || mem.size() < need) {
            ec = ipc::detail::explain(corrupt,
                                      "the broadcast_bytes header (capacity %llu, %llu subscribers, slow policy %llu, history %llu, size %llu) "
                                      "does not describe a ring that fits the region's %llu bytes",
                                      static_cast<ull>(h.capacity), static_cast<ull>(c.max_subscribers), static_cast<ull>(c.slow),
                                      static_cast<ull>(c.history), static_cast<ull>(h.total_size), static_cast<ull>(mem.size()));
            return {};
        }
        return broadcast_bytes(st, mem.data() + data_offset, o);
    }

    const broadcast_options& options() const noexcept { return opts_; }

    // The largest payload a record can carry: half the ring less a header,
    // so that a record always fits wherever the head is.
    std::size_t max_record() const noexcept {
        const std::uint64_t m = capacity_ / 2 - sizeof(record_header);
        return m > UINT32_MAX ? UINT32_MAX : static_cast<std::size_t>(m);
    }

    // ---- the ring kind (ring/kind.hpp) -------------------------------------
    //
    // Ends, end of stream, news() and missed() as ring::broadcast (see there).
    using creation_options = broadcast_options;
    static constexpr bool fixed_size = false;
    static constexpr eos default_eos = eos::never;
    static constexpr std::size_t max_ends(direction d) noexcept { return d == direction::send ? 1 : unlimited_ends; }
    struct end_state {
        publisher pub;
        subscriber sub;
        end_state() noexcept {}
    };

    // A view made by the generic ring::format / ring::attach (no options: no
    // subscriber table); ring_region uses format / attach above.
    broadcast_bytes(shared_state<broadcast_bytes_control>* st, std::byte* data, std::uint64_t capacity) noexcept
        : base(st, data, capacity), opts_{capacity, 0, slow_policy::block, 0} {}
    static void init_data(std::byte*, std::uint64_t) noexcept {}  // head says what is written

    bool join(direction d, end_state& e, const end_id&, std::error_code& ec) noexcept {
        return d == direction::send ? open_publisher(e.pub, ec) : subscribe(e.sub, ec);
    }
    void leave(direction d, end_state& e) noexcept {
        if (d == direction::send) close_publisher(e.pub);
        else unsubscribe(e.sub);
    }
    std::size_t repair() noexcept { return reap(); }
    bool others_dead(direction d) const noexcept { return d == direction::recv && publisher_status() == publisher_state::dead; }
    std::error_code news(end_state& e) noexcept {
        subscriber& s = e.sub;
        if (!s.is_subscribed() || (s.entry < opts_.max_subscribers && table_[s.entry].state.load(std::memory_order_acquire) == s.me))
            return {};
        const std::uint64_t missed = s.missed;
        std::error_code ec;
        if (!subscribe(s, ec)) return ec;
        s.missed = missed;
        return ipc::detail::explain(make_error_code(errc::dropped),
                                    "the subscriber fell the whole ring (%llu bytes) behind under slow_policy::drop_slowest and was "
                                    "dropped; it starts again at the newest record",
                                    static_cast<unsigned long long>(capacity_));
    }
    static std::uint64_t missed(const end_state& e) noexcept { return e.sub.missed; }

    bool can_push(const end_state& e) const noexcept {
        const publisher& p = e.pub;
        if (!p.is_open()) return false;
        const std::uint64_t end = p.head + (p.want ? p.want : sizeof(record_header));
        if (opts_.slow != slow_policy::block || end - p.cached_min <= capacity_) return true;
        return end - min_tail(p.head) <= capacity_;
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

    // For ipc-ls (from untrusted bytes): the policy, the publisher, records
    // published, subscribers, the slowest one's lag in bytes, what they
    // missed in all, and how many were dropped.
    static bool describe(std::span<const std::byte> region, const header& h, description& out) noexcept {
        const broadcast_bytes_control* c = control_in<broadcast_bytes_control>(region);
        if (!c || !detail::is_pow2(h.capacity)) return false;
        const std::uint64_t head = c->head.load(std::memory_order_acquire);
        out.add("policy", std::string_view(slow_policy_name(c->slow)));
        const std::uint64_t pw = c->publisher.load(std::memory_order_acquire);
        const bool live = (pw & 0xff) == publisher_live && ipc::detail::is_alive({pid_of(pw), c->publisher_start_time.load(std::memory_order_relaxed)});
        out.add("publisher", std::string_view((pw & 0xff) == publisher_left ? "left" : (pw & 0xff) != publisher_live ? "none"
                                                                                   : live                            ? "live"
                                                                                                                     : "dead"));
        out.add("records", c->count.load(std::memory_order_relaxed));
        std::uint64_t n = c->used.load(std::memory_order_relaxed);
        if (n > c->max_subscribers) n = c->max_subscribers;
        // The same subscriber table as ring::broadcast: its rows (lags in bytes here).
        // The table's offset is untrusted: one past the region reads nothing.
        const std::uint64_t table_at =
            region.size() >= data_offset && c->table_offset <= region.size() - data_offset ? data_offset + c->table_offset : region.size();
        const auto t = broadcast<std::byte>::describe_table(region, table_at, n, head, h.capacity, out);
        out.queued = t.max_lag;
        out.add("subscribers", t.subscribers);
        out.add("max_subscribers", c->max_subscribers);
        out.add("max_lag_bytes", t.max_lag);
        out.add("missed", t.missed);
        out.add("dropped", c->dropped.load(std::memory_order_relaxed));
        if (t.not_shown) out.add("entries_not_shown", t.not_shown);
        return true;
    }

    // ---- publisher ---------------------------------------------------------

    // Makes this process the publisher: errc::in_use while another live one
    // is. A dead publisher's place is taken and its stream carried on from
    // the region's head (a record it had not made visible is rewritten).
    bool open_publisher(publisher& p, std::error_code& ec) noexcept {
        const auto id = ipc::detail::self_identity();
        const std::uint64_t mine = static_cast<std::uint64_t>(static_cast<std::uint32_t>(id.pid)) << 8 | publisher_live;
        auto& c = st_->ctl;
        std::uint64_t cur = c.publisher.load(std::memory_order_acquire);
        for (;;) {
            if ((cur & 0xff) == publisher_live && ipc::detail::is_alive({pid_of(cur), c.publisher_start_time.load(std::memory_order_relaxed)})) {
                ec = ipc::detail::explain(make_error_code(errc::in_use), "the broadcast_bytes ring's publisher (pid %d) is alive",
                                          static_cast<int>(pid_of(cur)));
                return false;
            }
            c.publisher_start_time.store(id.start_time, std::memory_order_relaxed);
            if (c.publisher.compare_exchange_weak(cur, mine, std::memory_order_acq_rel)) break;
        }
        c.publisher_start_time.store(id.start_time, std::memory_order_relaxed);
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
        p.cached_min = h - capacity_;  // rescan before the first write
        p.me = mine;
        return true;
    }
    void close_publisher(publisher& p) noexcept {
        if (!p.is_open()) return;
        std::uint64_t cur = p.me;
        st_->ctl.publisher.compare_exchange_strong(cur, (p.me & ~std::uint64_t{0xff}) | publisher_left, std::memory_order_acq_rel);
        p.me = 0;
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
            const std::uint64_t size = r.flags == padding_flag                 ? capacity_ - (o & mask_)
                                       : r.flags == 0 && r.len <= max_record() ? record_size(r.len)
                                                                               : 0;
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
        if (s.is_subscribed()) unsubscribe(s);
        if (history > opts_.history) history = opts_.history;
        const auto id = ipc::detail::self_identity();
        const std::uint64_t pid_bits = static_cast<std::uint64_t>(static_cast<std::uint32_t>(id.pid)) << 8;
        auto& c = st_->ctl;
        for (int pass = 0; pass < 2; ++pass) {
            for (std::uint32_t i = 0; i < opts_.max_subscribers; ++i) {
                subscriber_entry& e = table_[i];
                std::uint64_t w = e.state.load(std::memory_order_relaxed);
                if ((w & 0xff) != phase_free) continue;
                const std::uint64_t gen = ((w >> gen_shift) + 1) << gen_shift;
                if (!e.state.compare_exchange_strong(w, gen | pid_bits | phase_claiming, std::memory_order_acq_rel)) continue;
                // Claimed: hold everything still whole, go live, read head
                // (seq_cst, against the publisher's rescan: see ring::broadcast).
                e.start_time.store(id.start_time, std::memory_order_relaxed);
                e.missed.store(0, std::memory_order_relaxed);
                e.tail.store(c.oldest.load(std::memory_order_acquire), std::memory_order_relaxed);
                for (std::uint32_t u = c.used.load(std::memory_order_relaxed); u <= i;)
                    if (c.used.compare_exchange_weak(u, i + 1, std::memory_order_relaxed)) break;
                e.state.store(gen | pid_bits | phase_live, std::memory_order_seq_cst);
                const std::uint64_t h = c.head.load(std::memory_order_seq_cst);
                const std::uint64_t n = c.count.load(std::memory_order_acquire);
                s = subscriber{};
                s.entry = i;
                s.me = gen | pid_bits | phase_live;
                s.next = s.cached_head = h;
                s.expect = n > history ? n - history : 0;
                if (history != 0) s.next = history_start(h, s.expect);
                e.tail.store(s.next, std::memory_order_release);
                return true;
            }
            if (pass == 0 && reap() == 0) break;
        }
        ec = ipc::detail::explain(make_error_code(errc::limit_exceeded),
                                  "all %u subscriber entries of the broadcast_bytes ring are held by live processes",
                                  static_cast<unsigned>(opts_.max_subscribers));
        return false;
    }

    void unsubscribe(subscriber& s) noexcept {
        if (!s.is_subscribed()) return;
        if (s.entry < opts_.max_subscribers) {
            subscriber_entry& e = table_[s.entry];
            std::uint64_t w = e.state.load(std::memory_order_acquire);
            if ((w & ~std::uint64_t{0xff}) == (s.me & ~std::uint64_t{0xff}) && (w & 0xff) != phase_free)
                e.state.compare_exchange_strong(w, s.me >> gen_shift << gen_shift | phase_free, std::memory_order_acq_rel);
        }
        s.me = 0;
        s.reading = 0;
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
        if (s.entry >= opts_.max_subscribers || table_[s.entry].state.load(std::memory_order_acquire) != s.me) return true;
        return st_->ctl.head.load(std::memory_order_acquire) != s.next;
    }

    // ---- peers -------------------------------------------------------------

    // Frees the entries of subscribers whose process is gone; how many.
    template <class Alive>
    unsigned reap(Alive alive) noexcept {
        unsigned n = 0;
        const std::uint32_t end = scan_end();
        for (std::uint32_t i = 0; i < end; ++i) {
            subscriber_entry& e = table_[i];
            std::uint64_t w = e.state.load(std::memory_order_acquire);
            const std::uint64_t ph = w & 0xff;
            if (ph == phase_free) continue;
            const std::int32_t pid = pid_of(w);
            const bool gone = ph == phase_claiming ? pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)
                                                   : !alive(ipc::detail::process_identity{pid, e.start_time.load(std::memory_order_relaxed)});
            if (gone && e.state.compare_exchange_strong(w, w >> gen_shift << gen_shift | phase_free, std::memory_order_acq_rel)) ++n;
        }
        return n;
    }
    unsigned reap() noexcept {
        return reap([](const ipc::detail::process_identity& id) { return ipc::detail::is_alive(id); });
    }

    publisher_state publisher_status() const noexcept {
        const std::uint64_t w = st_->ctl.publisher.load(std::memory_order_acquire);
        if ((w & 0xff) == publisher_left) return publisher_state::left;
        if ((w & 0xff) != publisher_live) return publisher_state::none;
        return ipc::detail::is_alive({pid_of(w), st_->ctl.publisher_start_time.load(std::memory_order_relaxed)}) ? publisher_state::live
                                                                                                                 : publisher_state::dead;
    }

    // ---- listings (ipc-ls, tests) ------------------------------------------

    std::uint64_t head() const noexcept { return st_->ctl.head.load(std::memory_order_acquire); }
    std::uint64_t oldest() const noexcept { return st_->ctl.oldest.load(std::memory_order_acquire); }
    std::uint64_t records() const noexcept { return st_->ctl.count.load(std::memory_order_acquire); }
    std::uint64_t dropped() const noexcept { return st_->ctl.dropped.load(std::memory_order_relaxed); }
    // Subscribers holding entries (live, dropped or joining).
    unsigned subscribers() const noexcept {
        unsigned n = 0;
        const std::uint32_t end = scan_end();
        for (std::uint32_t i = 0; i < end; ++i) n += (table_[i].state.load(std::memory_order_acquire) & 0xff) != phase_free;
        return n;
    }

private:
    broadcast_bytes(shared_state<broadcast_bytes_control>* st, std::byte* data, const broadcast_options& o) noexcept
        : base(st, data, o.capacity), table_(reinterpret_cast<subscriber_entry*>(data + table_offset(o.capacity, o.history))),
          hist_(reinterpret_cast<std::atomic<std::uint64_t>*>(data + history_offset(o.capacity))), opts_(o) {}

    // From the ring data: the history words, then the table, each on a line pair of the region.
    static constexpr std::uint64_t history_offset(std::uint64_t capacity) noexcept {
        return detail::round_up(data_offset + capacity, 2 * ipc::detail::cache_line) - data_offset;
    }
    static constexpr std::uint64_t table_offset(std::uint64_t capacity, std::uint64_t history) noexcept {
        return detail::round_up(data_offset + history_offset(capacity) + history * sizeof(std::uint64_t), 2 * ipc::detail::cache_line) -
               data_offset;
    }
    static constexpr std::int32_t pid_of(std::uint64_t w) noexcept { return static_cast<std::int32_t>(static_cast<std::uint32_t>(w >> 8)); }

    static std::error_code options_error(const broadcast_options& o) noexcept {
        using ull = unsigned long long;
        const std::error_code ec = make_error_code(errc::limit_exceeded);
        if (!detail::is_pow2(o.capacity) || o.capacity < min_capacity)
            return ipc::detail::explain(ec, "broadcast_bytes capacity must be a power of two of at least %llu bytes (%llu given)",
                                        static_cast<ull>(min_capacity), static_cast<ull>(o.capacity));
        if (o.max_subscribers == 0) return ipc::detail::explain(ec, "a broadcast_bytes ring needs max_subscribers of at least 1 (0 given)");
        if (o.history >= o.capacity / align)
            return ipc::detail::explain(ec, "broadcast_bytes history %llu must be below %llu records (capacity %llu bytes / %llu)",
                                        static_cast<ull>(o.history), static_cast<ull>(o.capacity / align), static_cast<ull>(o.capacity),
                                        static_cast<ull>(align));
        if (o.slow != slow_policy::block && o.slow != slow_policy::overwrite && o.slow != slow_policy::drop_slowest)
            return ipc::detail::explain(ec, "unknown broadcast_bytes slow_policy %llu", static_cast<ull>(o.slow));
        return ipc::detail::explain(ec, "a broadcast_bytes ring of %llu bytes and %llu subscribers would need a region of 2^62 bytes or more",
                                    static_cast<ull>(o.capacity), static_cast<ull>(o.max_subscribers));
    }

    void put_header(std::uint64_t off, record_header r) noexcept { std::memcpy(data_ + off, &r, sizeof r); }

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

    std::uint32_t scan_end(std::memory_order order = std::memory_order_acquire) const noexcept {
        const std::uint32_t u = st_->ctl.used.load(order);
        return u < opts_.max_subscribers ? u : opts_.max_subscribers;
    }

    // The slowest live subscriber's tail (a byte position), clamped to a ring
    // behind head; head when there is none. Head is stored again first,
    // seq_cst, as in ring::broadcast: a joiner this scan misses reads it.
    std::uint64_t slowest(std::uint64_t h, std::uint32_t* which = nullptr) noexcept {
        st_->ctl.head.store(h, std::memory_order_seq_cst);
        return min_tail(h, which);
    }
    std::uint64_t min_tail(std::uint64_t h, std::uint32_t* which = nullptr) const noexcept {
        std::uint64_t min = h;
        std::uint32_t who = UINT32_MAX;
        const std::uint32_t end = scan_end(std::memory_order_seq_cst);
        for (std::uint32_t i = 0; i < end; ++i) {
            const subscriber_entry& e = table_[i];
            if ((e.state.load(std::memory_order_seq_cst) & 0xff) != phase_live) continue;
            std::uint64_t t = e.tail.load(std::memory_order_acquire);
            if (h - t > capacity_) t = t > h ? h : h - capacity_;  // ahead of head (corrupt): no constraint
            if (who == UINT32_MAX ? t <= min : t < min) {
                min = t;
                who = i;
            }
        }
        if (which) *which = who;
        return min;
    }

    // The cache said no room for bytes up to `end`: rescan, and per policy
    // reap the dead (block, when a check is due) or drop the slowest.
    bool make_room(publisher& p, std::uint64_t end) noexcept {
        p.cached_min = slowest(p.head);
        if (end - p.cached_min <= capacity_) return true;
        if (opts_.slow == slow_policy::block) {
            const auto now = std::chrono::steady_clock::now();
            if (now < p.next_check) return false;
            p.next_check = now + p.check_interval;
            if (reap() == 0) return false;
            p.cached_min = slowest(p.head);
            return end - p.cached_min <= capacity_;
        }
        for (std::uint32_t rounds = 0; rounds < opts_.max_subscribers; ++rounds) {
            std::uint32_t who = UINT32_MAX;
            p.cached_min = slowest(p.head, &who);
            if (end - p.cached_min <= capacity_ || who == UINT32_MAX) return true;
            subscriber_entry& e = table_[who];
            std::uint64_t w = e.state.load(std::memory_order_acquire);
            if ((w & 0xff) == phase_live && e.state.compare_exchange_strong(w, (w & ~std::uint64_t{0xff}) | phase_dropped, std::memory_order_acq_rel))
                st_->ctl.dropped.fetch_add(1, std::memory_order_relaxed);
        }
        p.cached_min = slowest(p.head);
        return end - p.cached_min <= capacity_;
    }

    // Finds the next record for s: ok with its header checked and s.reading
    // set; skips padding and jumps past what was written over.
    read_status next_ready(subscriber& s) noexcept {
        if (!s.is_subscribed()) return read_status::not_subscribed;
        s.reading = 0;
        if (s.entry >= opts_.max_subscribers || table_[s.entry].state.load(std::memory_order_acquire) != s.me) return read_status::dropped;
        auto& c = st_->ctl;
        for (std::uint64_t tries = 0; tries < 64; ++tries) {
            if (s.next == s.cached_head) {
                s.cached_head = c.head.load(std::memory_order_acquire);
                if (s.next == s.cached_head) return read_status::empty;
            }
            const std::uint64_t o = c.oldest.load(std::memory_order_acquire);
            if (s.next < o) {
                // Lapped (overwrite, or history written over while joining):
                // start again at the oldest whole record.
                s.cached_head = c.head.load(std::memory_order_acquire);
                if (o % align != 0 || o > s.cached_head || s.cached_head - o > capacity_) return read_status::corrupt;
                advance(s, o);
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
            const std::uint64_t size = pad ? capacity_ - off : r.flags == 0 && r.len <= max_record() ? record_size(r.len)
                                                                                                     : 0;
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

    void count_missed(subscriber& s, std::uint64_t n) noexcept {
        if (n == 0) return;
        s.missed += n;
        if (s.entry < opts_.max_subscribers) table_[s.entry].missed.store(s.missed, std::memory_order_relaxed);
    }
    void advance(subscriber& s, std::uint64_t to) noexcept {
        s.next = to;
        if (s.entry < opts_.max_subscribers) table_[s.entry].tail.store(to, std::memory_order_release);
    }

    subscriber_entry* table_ = nullptr;
    std::atomic<std::uint64_t>* hist_ = nullptr;
    broadcast_options opts_{};
};

static_assert(variable_kind<broadcast_bytes>);

}  // namespace ipc::ring
