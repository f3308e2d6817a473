// ipc/ring/broadcast_table.hpp: who publishes and who subscribes, for both broadcast kinds.
//
// ring::broadcast (typed slots) and ring::broadcast_bytes (records in a byte
// ring) differ only in how messages sit in the data. Everything about the
// ends is the same and lives here once, as broadcast_table<Kind, Control>,
// which both kinds derive from:
// - the publisher's word in the control (claim, leave, restart, status);
// - the subscriber table after the data (claim an entry, leave, reap the
//   dead, drop the slowest, the slowest tail, listings and ipc-ls rows);
// - the region's options (validation, size, the header and table a format
//   writes, the checks an attach starts with) and the kind-interface calls
//   that only route to the above (join, leave, repair, news, ...).
// A tail counts what the kind's head counts (messages, or bytes) and the
// capacity is in the same unit: the table only compares them with each other.
// The kind supplies its unit names, where its table sits (table_offset_of)
// and what bounds its capacity and history.
//
// Both controls hold a broadcast_ends (the fields this file owns) on a
// cache line of its own, and name head and table_offset alike.
#pragma once

#include <signal.h>

#include <cerrno>
#include <chrono>

#include "kind.hpp"

namespace ipc::ring {

// What the publisher does when the slowest subscriber is a whole ring behind.
enum class slow_policy : std::uint32_t {
    block = 1,         // no room until it reads (a dead one is reaped, never waited for)
    overwrite = 2,     // write over the oldest; a lapped subscriber is told how many it missed
    drop_slowest = 3,  // drop the slowest subscriber (it is told so) and go on
};

inline const char* slow_policy_name(std::uint64_t p) noexcept {
    return p == 1 ? "block" : p == 2 ? "overwrite" : p == 3 ? "drop_slowest" : "unknown";
}

// Chosen when a broadcast region is made; recorded in it and checked on attach.
struct broadcast_options {
    std::uint64_t capacity = 1024;        // slots (broadcast_bytes: bytes), a power of two
    std::uint32_t max_subscribers = 16;   // entries in the subscriber table (the region's size follows)
    slow_policy slow = slow_policy::block;
    std::uint64_t history = 0;            // a late joiner starts with the last `history` messages
};

// One subscriber's entry in the region's table: two cache lines, so that an
// adjacent-line prefetcher never pairs one subscriber's line with another's
// (the table starts on a line pair of the region, see table_offset_of). Aligned
// to one line only: a region is promised no more than that.
// Only its subscriber writes it, except the state word (reap, drop).
struct alignas(ipc::detail::cache_line) subscriber_entry {
    // [generation: 24][pid: 32][phase: 8]. The generation counts the entry's
    // owners, so one word names an owner for good: a subscriber that finds
    // anything but its own word was reaped, dropped or replaced.
    std::atomic<std::uint64_t> state;
    std::atomic<std::uint64_t> start_time;  // with the pid: the owner's identity (detail/process.hpp)
    std::atomic<std::uint64_t> tail;        // the next message it reads (the kind's unit)
    std::atomic<std::uint64_t> missed;      // messages it was told it missed (for listings)
    std::byte pad[2 * ipc::detail::cache_line - 4 * sizeof(std::uint64_t)];
};
static_assert(sizeof(subscriber_entry) == 2 * ipc::detail::cache_line);

// The ends' part of a broadcast control: changes only when an end comes or
// goes. A control places it on a cache line of its own (alignas at the member).
struct broadcast_ends {
    // The publisher: [pid: 32][phase: 8] (phase: 0 never, 1 left cleanly, 2 live) and its start time.
    std::atomic<std::uint64_t> publisher;
    std::atomic<std::uint64_t> publisher_start_time;
    std::atomic<std::uint64_t> dropped;  // subscribers dropped by slow_policy::drop_slowest
    std::atomic<std::uint32_t> used;     // entries below this index have been claimed (a scan bound; untrusted)
    std::uint32_t max_subscribers;
    std::uint32_t slow;
    std::uint64_t history;  // messages a late joiner starts with (broadcast_bytes: records)
};
static_assert(sizeof(broadcast_ends) == 48);

template <class Kind, class Control>
class broadcast_table : public view_base<Control> {
    using base = view_base<Control>;

protected:
    using base::capacity_;
    using base::data_;
    using base::mask_;
    using base::st_;

    static constexpr std::uint64_t phase_free = 0, phase_claiming = 1, phase_live = 2, phase_dropped = 3;
    static constexpr std::uint64_t publisher_left = 1, publisher_live = 2;
    static constexpr unsigned gen_shift = 40;

public:
    // What both kinds' publisher state holds; the kind's adds its own.
    struct publisher_base {
        std::uint64_t head = 0;        // where the next message goes
        std::uint64_t cached_min = 0;  // slowest live subscriber's tail, as of the last scan
        std::uint64_t me = 0;          // this publisher's word in the control, 0: not open
        bool loaned = false;
        // block: how often a full ring looks for dead subscribers to reap.
        std::chrono::nanoseconds check_interval = std::chrono::milliseconds(100);
        std::chrono::steady_clock::time_point next_check{};
        bool is_open() const noexcept { return me != 0; }
    };
    // What both kinds' subscription state holds.
    struct subscriber_base {
        std::uint32_t entry = 0;   // its index in the subscriber table
        std::uint64_t me = 0;      // the entry's state word while it is ours; 0: not subscribed
        std::uint64_t missed = 0;  // messages it missed since subscribing (overwrite, drop_slowest, torn reads)
        bool is_subscribed() const noexcept { return me != 0; }
    };

    enum class publisher_state : std::uint8_t { none, live, left, dead };

    broadcast_table() noexcept = default;

    // ---- the region --------------------------------------------------------

    using creation_options = broadcast_options;

    // Why required_size(o) is 0, explained (errc::limit_exceeded).
    static std::error_code options_error_of(const broadcast_options& o) noexcept {
        using ull = unsigned long long;
        const std::error_code ec = make_error_code(errc::limit_exceeded);
        const char* name = kind_name(static_cast<std::uint64_t>(Kind::ring_kind));
        if (!detail::is_pow2(o.capacity) || o.capacity < Kind::min_capacity)
            return ipc::detail::explain(ec, "%s capacity must be a power of two of at least %llu %s (%llu given)", name,
                                        static_cast<ull>(Kind::min_capacity), Kind::capacity_unit, static_cast<ull>(o.capacity));
        if (o.max_subscribers == 0) return ipc::detail::explain(ec, "a %s ring needs max_subscribers of at least 1 (0 given)", name);
        if (o.history >= Kind::history_limit(o.capacity))
            return ipc::detail::explain(ec, "%s history %llu must be below %llu messages (for a capacity of %llu %s)", name,
                                        static_cast<ull>(o.history), static_cast<ull>(Kind::history_limit(o.capacity)),
                                        static_cast<ull>(o.capacity), Kind::capacity_unit);
        if (o.slow != slow_policy::block && o.slow != slow_policy::overwrite && o.slow != slow_policy::drop_slowest)
            return ipc::detail::explain(ec, "unknown %s slow_policy %llu", name, static_cast<ull>(o.slow));
        return ipc::detail::explain(ec, "a %s ring of %llu %s and %llu subscribers would need a region of 2^62 bytes or more", name,
                                    static_cast<ull>(o.capacity), Kind::capacity_unit, static_cast<ull>(o.max_subscribers));
    }

    // Bytes a region with these options needs; 0 if they are invalid or too large.
    static constexpr std::uint64_t required_size(const broadcast_options& o) noexcept {
        if (!detail::is_pow2(o.capacity) || o.capacity < Kind::min_capacity || o.max_subscribers == 0 ||
            o.history >= Kind::history_limit(o.capacity))
            return 0;
        if (o.slow != slow_policy::block && o.slow != slow_policy::overwrite && o.slow != slow_policy::drop_slowest) return 0;
        constexpr std::uint64_t limit = std::uint64_t{1} << 62;
        if (o.capacity > Kind::max_capacity) return 0;
        const std::uint64_t table = Kind::table_offset_of(o);
        if (o.max_subscribers > (limit - Kind::data_offset - table) / sizeof(subscriber_entry)) return 0;
        return Kind::data_offset + table + o.max_subscribers * sizeof(subscriber_entry);
    }

    // Builds an empty ring in mem (cache-line aligned, at least
    // required_size(o) bytes): the header, the control's ends, an empty
    // table, then the kind's own (Kind::init_region). attach() refuses it
    // until it is complete.
    static Kind format(std::span<std::byte> mem, const broadcast_options& o, std::error_code& ec) noexcept {
        using ull = unsigned long long;
        const std::uint64_t need = required_size(o);
        if (need == 0) {
            ec = options_error_of(o);
            return {};
        }
        if (mem.size() < need || reinterpret_cast<std::uintptr_t>(mem.data()) % ipc::detail::cache_line != 0) {
            ec = ipc::detail::explain(make_error_code(errc::corrupt), "a %s region of %llu bytes does not fit %llu bytes at %p (or is not cache-line aligned)",
                                      kind_name(static_cast<std::uint64_t>(Kind::ring_kind)), static_cast<ull>(need),
                                      static_cast<ull>(mem.size()), static_cast<void*>(mem.data()));
            return {};
        }
        auto* st = new (mem.data()) shared_state<Control>{};
        header& h = st->hdr;
        h.magic = region_magic;
        h.version = layout_version;
        h.kind = static_cast<std::uint32_t>(Kind::ring_kind);
        h.capacity = o.capacity;
        h.slot_size = Kind::slot_size;
        h.value_size = Kind::value_size;
        h.value_align = Kind::value_align;
        h.type_tag = Kind::tag;
        h.total_size = need;
        h.data_offset = Kind::data_offset;
        const auto me = ipc::detail::self_identity();
        h.creator_pid = me.pid;
        h.creator_start_time = me.start_time;
        Control& c = st->ctl;
        c.ends.max_subscribers = o.max_subscribers;
        c.ends.slow = static_cast<std::uint32_t>(o.slow);
        c.ends.history = o.history;
        c.table_offset = Kind::table_offset_of(o);
        auto* table = reinterpret_cast<subscriber_entry*>(mem.data() + Kind::data_offset + c.table_offset);
        for (std::uint32_t i = 0; i < o.max_subscribers; ++i) new (&table[i]) subscriber_entry{};
        std::byte* data = mem.data() + Kind::data_offset;
        Kind::init_region(c, data, o);
        h.state.store(formatted_state, std::memory_order_release);
        return Kind(st, data, o);
    }

    // The options the region was made with (as this view checked them).
    const broadcast_options& options() const noexcept { return opts_; }

    // ---- the ring kind (ring/kind.hpp) -------------------------------------
    //
    // A channel's sending end is the publisher (one live one: max_ends), each
    // receiving end a subscriber (any number, up to the region's
    // max_subscribers). Subscribers' liveness is the ring's own table, not
    // the region's peer table: a subscriber that found the peer table full
    // still works (it is only not pollable: it has nowhere to publish a
    // doorbell), and a dead one is reaped by repair().
    //
    // End of stream: a publisher that leaves does not end the stream by
    // default (eos::never): a restarted or second publisher carries it on,
    // as with a live feed. A subscriber that wants "publisher left" as the
    // end sets eos::when_all_senders_left (then it reads closed once it has
    // read everything). A publisher that died is another matter: with
    // nothing left to read the subscriber is told peer_dead (whatever its
    // eos: no live publisher is there to tell it otherwise), and reads on
    // once a restarted publisher commits again.
    static constexpr eos default_eos = eos::never;
    static constexpr std::size_t max_ends(direction d) noexcept { return d == direction::send ? 1 : unlimited_ends; }
    struct end_state {
        typename Kind::publisher pub;
        typename Kind::subscriber sub;
        // (the publisher's chrono initialisers are not declared noexcept; they cannot throw)
        end_state() noexcept {}
    };

    template <class End>
    bool join(direction d, End& e, const end_id&, std::error_code& ec) noexcept {
        return d == direction::send ? self().open_publisher(e.pub, ec) : self().subscribe(e.sub, ec);
    }
    template <class End>
    void leave(direction d, End& e) noexcept {
        if (d == direction::send) close_publisher(e.pub);
        else unsubscribe(e.sub);
    }
    std::size_t repair() noexcept { return reap(); }
    // Every end on the other side is gone for good (ring_region::check_peers):
    // to a subscriber, the publisher died. A publisher is never held by a
    // dead subscriber (reaped), so never told.
    bool others_dead(direction d) const noexcept { return d == direction::recv && publisher_status() == publisher_state::dead; }
    // What a subscriber must hear when it finds nothing to read: its entry was
    // taken from it (drop_slowest, or reaped). Said once: it subscribes again
    // at once, from the newest message (and the region's history).
    template <class End>
    std::error_code news(End& e) noexcept {
        auto& s = e.sub;
        if (!s.is_subscribed() || holds(s)) return {};
        const std::uint64_t missed = s.missed;
        std::error_code ec;
        if (!self().subscribe(s, ec)) return ec;
        s.missed = missed;
        return ipc::detail::explain(make_error_code(errc::dropped),
                                    "the subscriber fell the whole ring (%llu %s) behind under slow_policy::drop_slowest and was "
                                    "dropped; it starts again at the newest message",
                                    static_cast<unsigned long long>(capacity_), Kind::capacity_unit);
    }
    // Messages this subscriber missed since it subscribed (lapped under
    // overwrite, torn reads, and what it lost when dropped).
    template <class End>
    static std::uint64_t missed(const End& e) noexcept {
        return e.sub.missed;
    }

    // For ipc-ls (from untrusted bytes): the policy, the publisher, the
    // kind's own counts (describe_counts), how many subscribers hold entries,
    // the slowest one's lag, what they missed in all, how many were dropped,
    // and a row per subscriber (describe_table).
    static bool describe(std::span<const std::byte> region, const header& h, description& out) noexcept {
        const Control* c = control_in<Control>(region);
        if (!c || !detail::is_pow2(h.capacity)) return false;
        const std::uint64_t head = c->head.load(std::memory_order_acquire);
        out.add("policy", std::string_view(slow_policy_name(c->ends.slow)));
        const std::uint64_t pw = c->ends.publisher.load(std::memory_order_acquire);
        const bool live = (pw & 0xff) == publisher_live &&
                          ipc::detail::is_alive({pid_of(pw), c->ends.publisher_start_time.load(std::memory_order_relaxed)});
        out.add("publisher", std::string_view((pw & 0xff) == publisher_left ? "left" : (pw & 0xff) != publisher_live ? "none" : live ? "live" : "dead"));
        if constexpr (requires { Kind::describe_counts(*c, out); }) Kind::describe_counts(*c, out);
        std::uint64_t n = c->ends.used.load(std::memory_order_relaxed);
        if (n > c->ends.max_subscribers) n = c->ends.max_subscribers;
        // The table's offset is untrusted: one past the region reads nothing.
        const std::uint64_t table_at = region.size() >= Kind::data_offset && c->table_offset <= region.size() - Kind::data_offset
                                           ? Kind::data_offset + c->table_offset
                                           : region.size();
        const table_totals t = describe_table(region, table_at, n, head, h.capacity, out);
        out.queued = t.max_lag;
        out.add("subscribers", t.subscribers);
        out.add("max_subscribers", c->ends.max_subscribers);
        out.add(Kind::lag_field, t.max_lag);
        out.add("missed", t.missed);
        out.add("dropped", c->ends.dropped.load(std::memory_order_relaxed));
        if (t.not_shown) out.add("entries_not_shown", t.not_shown);
        return true;
    }

    // What a listing sums over a subscriber table.
    struct table_totals {
        std::uint64_t subscribers = 0;  // entries held (live, joining or dropped; a dead process's until reaped)
        std::uint64_t max_lag = 0, missed = 0;
        std::uint64_t not_shown = 0;  // entries the region given does not hold (or misplaced: none read)
    };
    // Hands out a description row per held entry of a subscriber table at
    // byte table_at of region, at most `entries` (both untrusted: only
    // entries wholly inside the region are read): entry, pid, state (live,
    // claiming, dropped), process (alive, dead), tail, lag (behind head, at
    // most capacity) and missed.
    static table_totals describe_table(std::span<const std::byte> region, std::uint64_t table_at, std::uint64_t entries,
                                       std::uint64_t head, std::uint64_t capacity, description& out) noexcept {
        table_totals t;
        const bool placed = table_at <= region.size() &&
                            reinterpret_cast<std::uintptr_t>(region.data() + table_at) % alignof(subscriber_entry) == 0;
        const std::uint64_t room = placed ? (region.size() - table_at) / sizeof(subscriber_entry) : 0;
        if (entries > room) {
            t.not_shown = entries - room;
            entries = room;
        }
        const auto* table = entries ? reinterpret_cast<const subscriber_entry*>(region.data() + table_at) : nullptr;
        for (std::uint64_t i = 0; i < entries; ++i) {
            const subscriber_entry& e = table[i];
            const std::uint64_t w = e.state.load(std::memory_order_acquire);
            const std::uint64_t ph = w & 0xff;
            if (ph == phase_free) continue;
            const std::int32_t pid = pid_of(w);
            const std::uint64_t tail = e.tail.load(std::memory_order_relaxed);
            const std::uint64_t lag = queued(head, tail, capacity), missed = e.missed.load(std::memory_order_relaxed);
            ++t.subscribers;
            if (lag > t.max_lag) t.max_lag = lag;
            t.missed += missed;
            description::row r;
            r.what = "subscriber";
            r.add("entry", i);
            r.add("pid", static_cast<std::uint32_t>(pid));
            r.add("state", std::string_view(ph == phase_live       ? "live"
                                            : ph == phase_claiming ? "claiming"
                                            : ph == phase_dropped  ? "dropped"
                                                                   : "unknown"));
            r.add("process", std::string_view(entry_alive(w, e) ? "alive" : "dead"));
            r.add("tail", tail);
            r.add("lag", lag);
            r.add("missed", missed);
            out.emit(r);
        }
        return t;
    }

    // ---- peers -------------------------------------------------------------

    // Frees the entries of subscribers whose process is gone (alive(identity)
    // is false; an entry still being claimed is freed only once its pid is
    // gone); returns how many. Dead subscribers never hold the publisher.
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
            const bool gone = ph == phase_claiming ? !pid_exists(pid)
                                                   : !alive(ipc::detail::process_identity{pid, e.start_time.load(std::memory_order_relaxed)});
            if (gone && e.state.compare_exchange_strong(w, w >> gen_shift << gen_shift | phase_free, std::memory_order_acq_rel)) ++n;
        }
        return n;
    }
    unsigned reap() noexcept {
        return reap([](const ipc::detail::process_identity& id) { return ipc::detail::is_alive(id); });
    }

    // The publisher as the region records it; `dead` if it did not leave
    // cleanly and its process is gone (a subscriber's channel reports peer_dead).
    publisher_state publisher_status() const noexcept {
        const std::uint64_t w = st_->ctl.ends.publisher.load(std::memory_order_acquire);
        if ((w & 0xff) == publisher_left) return publisher_state::left;
        if ((w & 0xff) != publisher_live) return publisher_state::none;
        return ipc::detail::is_alive(publisher_identity()) ? publisher_state::live : publisher_state::dead;
    }
    ipc::detail::process_identity publisher_identity() const noexcept {
        const std::uint64_t w = st_->ctl.ends.publisher.load(std::memory_order_acquire);
        return {pid_of(w), st_->ctl.ends.publisher_start_time.load(std::memory_order_relaxed)};
    }

    // Leaves the publisher's place (it reads "left": not dead).
    void close_publisher(publisher_base& p) noexcept {
        if (!p.is_open()) return;
        std::uint64_t cur = p.me;
        st_->ctl.ends.publisher.compare_exchange_strong(cur, (p.me & ~std::uint64_t{0xff}) | publisher_left, std::memory_order_acq_rel);
        p.me = 0;
    }

    // Frees the entry (whatever state it is in, if it is still this subscription's).
    template <class Sub>
    void unsubscribe(Sub& s) noexcept {
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

    // ---- listings (ipc-ls, tests) ------------------------------------------

    std::uint64_t head() const noexcept { return st_->ctl.head.load(std::memory_order_acquire); }
    std::uint64_t dropped() const noexcept { return st_->ctl.ends.dropped.load(std::memory_order_relaxed); }

    struct subscriber_info {
        std::uint32_t entry;
        ipc::detail::process_identity id;
        bool live;  // false: dropped, or still joining
        // Published and not read (the kind's unit, clamped to capacity); tails
        // may be published lazily (ring::broadcast says how far over it may be).
        std::uint64_t lag;
        std::uint64_t missed;  // messages it was told it missed
    };
    // Calls fn(subscriber_info) for each held entry; returns how many.
    template <class Fn>
    unsigned for_each_subscriber(Fn fn) const noexcept {
        unsigned n = 0;
        const std::uint64_t h = head();
        const std::uint32_t end = scan_end();
        for (std::uint32_t i = 0; i < end; ++i) {
            const subscriber_entry& e = table_[i];
            const std::uint64_t w = e.state.load(std::memory_order_acquire);
            if ((w & 0xff) == phase_free) continue;
            ++n;
            fn(subscriber_info{i, {pid_of(w), e.start_time.load(std::memory_order_relaxed)}, (w & 0xff) == phase_live,
                               queued(h, e.tail.load(std::memory_order_relaxed), capacity_), e.missed.load(std::memory_order_relaxed)});
        }
        return n;
    }
    // Subscribers holding entries (live, dropped or joining).
    unsigned subscribers() const noexcept {
        return for_each_subscriber([](const subscriber_info&) {});
    }

protected:
    // A view with a subscriber table (made by the kind's format / attach).
    broadcast_table(shared_state<Control>* st, std::byte* data, const broadcast_options& o) noexcept
        : base(st, data, o.capacity), table_(reinterpret_cast<subscriber_entry*>(data + Kind::table_offset_of(o))), opts_(o) {}
    // A view made by the generic ring::format / ring::attach, which know no
    // options: it has no subscriber table (ring_region uses the kind's own).
    broadcast_table(shared_state<Control>* st, std::byte* data, std::uint64_t capacity) noexcept
        : base(st, data, capacity), opts_{capacity, 0, slow_policy::block, 0} {}

    static constexpr std::int32_t pid_of(std::uint64_t w) noexcept { return static_cast<std::int32_t>(static_cast<std::uint32_t>(w >> 8)); }

    // The checks an attach starts with: a formatted region with ipc's magic
    // number. Nullptr (ec set) if not.
    static shared_state<Control>* formatted_state_in(std::span<std::byte> mem, std::error_code& ec) noexcept {
        using ull = unsigned long long;
        const std::error_code corrupt = make_error_code(errc::corrupt);
        if (!is_formatted(mem) || mem.size() < Kind::data_offset) {
            ec = ipc::detail::explain(corrupt, "the region (%llu bytes) holds no formatted ring header", static_cast<ull>(mem.size()));
            return nullptr;
        }
        auto* st = std::launder(reinterpret_cast<shared_state<Control>*>(mem.data()));
        if (st->hdr.magic != region_magic) {
            ec = ipc::detail::explain(corrupt, "the region does not start with ipc's ring magic number (found %#llx)", static_cast<ull>(st->hdr.magic));
            return nullptr;
        }
        return st;
    }
    // The options a checked header and control record (checked by the kind's attach).
    static broadcast_options recorded_options(const shared_state<Control>& st) noexcept {
        const broadcast_ends& e = st.ctl.ends;
        return {st.hdr.capacity, e.max_subscribers, static_cast<slow_policy>(e.slow), e.history};
    }

    // Makes this process the publisher: its word, or 0 with errc::in_use
    // while another live one is. A dead publisher's place is taken; the kind
    // then carries its stream on from the region's head.
    [[nodiscard]] std::uint64_t claim_publisher(std::error_code& ec) noexcept {
        const auto id = ipc::detail::self_identity();
        const std::uint64_t mine = static_cast<std::uint64_t>(static_cast<std::uint32_t>(id.pid)) << 8 | publisher_live;
        auto& c = st_->ctl;
        std::uint64_t cur = c.ends.publisher.load(std::memory_order_acquire);
        for (;;) {
            if ((cur & 0xff) == publisher_live &&
                ipc::detail::is_alive({pid_of(cur), c.ends.publisher_start_time.load(std::memory_order_relaxed)})) {
                ec = ipc::detail::explain(make_error_code(errc::in_use), "the %s ring's publisher (pid %d) is alive",
                                          kind_name(static_cast<std::uint64_t>(Kind::ring_kind)), static_cast<int>(pid_of(cur)));
                return 0;
            }
            // The start time goes in before the word that makes it count; a
            // publisher killed in between left a word naming a dead pid.
            c.ends.publisher_start_time.store(id.start_time, std::memory_order_relaxed);
            if (c.ends.publisher.compare_exchange_weak(cur, mine, std::memory_order_acq_rel)) break;
        }
        c.ends.publisher_start_time.store(id.start_time, std::memory_order_relaxed);  // a racing opener may have written its own
        return mine;
    }

    // Claims a free entry for s (reaping the dead once if none is free):
    // fills in its identity, holds hold() as its tail while it goes live
    // (seq_cst, against the publisher's rescan in slowest(): see
    // ring::broadcast), then stores start() as its tail. start() reads head
    // after the entry is live and sets the kind's own fields of s.
    // errc::limit_exceeded when every entry is held by a live process.
    template <class Sub, class Hold, class Start>
    [[nodiscard]] bool claim_entry(Sub& s, Hold hold, Start start, std::error_code& ec) noexcept {
        if (s.is_subscribed()) unsubscribe(s);
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
                e.start_time.store(id.start_time, std::memory_order_relaxed);
                e.missed.store(0, std::memory_order_relaxed);
                e.tail.store(hold(), std::memory_order_relaxed);
                for (std::uint32_t u = c.ends.used.load(std::memory_order_relaxed); u <= i;)
                    if (c.ends.used.compare_exchange_weak(u, i + 1, std::memory_order_relaxed)) break;
                e.state.store(gen | pid_bits | phase_live, std::memory_order_seq_cst);
                s = Sub{};
                const std::uint64_t tail = start();
                s.entry = i;
                s.me = gen | pid_bits | phase_live;
                e.tail.store(tail, std::memory_order_release);
                return true;
            }
            if (pass == 0 && reap() == 0) break;
        }
        ec = ipc::detail::explain(make_error_code(errc::limit_exceeded), "all %u subscriber entries of the %s ring are held by live processes",
                                  static_cast<unsigned>(opts_.max_subscribers), kind_name(static_cast<std::uint64_t>(Kind::ring_kind)));
        return false;
    }

    // Whether s still owns its entry (not dropped, reaped or replaced).
    bool holds(const subscriber_base& s) const noexcept {
        return s.entry < opts_.max_subscribers && table_[s.entry].state.load(std::memory_order_acquire) == s.me;
    }

    void count_missed(subscriber_base& s, std::uint64_t n) noexcept {
        if (n == 0) return;
        s.missed += n;
        if (s.entry < opts_.max_subscribers) table_[s.entry].missed.store(s.missed, std::memory_order_relaxed);
    }
    void store_tail(const subscriber_base& s, std::uint64_t tail) noexcept {
        if (s.entry < opts_.max_subscribers) table_[s.entry].tail.store(tail, std::memory_order_release);
    }

    // Entries worth scanning: the region's high-water mark, bounded by the
    // table this view checked.
    std::uint32_t scan_end(std::memory_order order = std::memory_order_acquire) const noexcept {
        const std::uint32_t u = st_->ctl.ends.used.load(order);
        return u < opts_.max_subscribers ? u : opts_.max_subscribers;
    }

    // The slowest live subscriber's tail, clamped to a ring behind head (a
    // tail out of that range is corrupt, or a subscriber that was lapped
    // and has not noticed yet); head when there is none.
    std::uint64_t slowest(std::uint64_t h, std::uint32_t* which = nullptr) noexcept {
        // Head again (the value it has), seq_cst, then the table seq_cst: a
        // joiner this scan misses reads this head (see ring::broadcast).
        st_->ctl.head.store(h, std::memory_order_seq_cst);
        return min_tail(h, which);
    }

    // The table scan of slowest(), which alone stores nothing (readiness
    // checks of waiters and pollers use it as it is).
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

    // Whether a write reaching `end` may go ahead, as a waiter or poller
    // asks: never held under overwrite and drop_slowest (a loan makes room);
    // under block, by the cached minimum or else a fresh scan.
    bool room_for(const publisher_base& p, std::uint64_t end) const noexcept {
        return opts_.slow != slow_policy::block || end - p.cached_min <= capacity_ || end - min_tail(p.head) <= capacity_;
    }

    // The cache said no room for a write reaching `end`: rescan, and per
    // policy reap the dead (block, when a check is due) or drop the slowest
    // (drop_slowest). True if there is room.
    bool make_room(publisher_base& p, std::uint64_t end) noexcept {
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
        // drop_slowest: each round drops one of the slowest; at most one per entry.
        for (std::uint32_t rounds = 0; rounds < opts_.max_subscribers; ++rounds) {
            std::uint32_t who = UINT32_MAX;
            p.cached_min = slowest(p.head, &who);
            if (end - p.cached_min <= capacity_ || who == UINT32_MAX) return true;
            subscriber_entry& e = table_[who];
            std::uint64_t w = e.state.load(std::memory_order_acquire);
            if ((w & 0xff) == phase_live &&
                e.state.compare_exchange_strong(w, (w & ~std::uint64_t{0xff}) | phase_dropped, std::memory_order_acq_rel))
                st_->ctl.ends.dropped.fetch_add(1, std::memory_order_relaxed);
        }
        p.cached_min = slowest(p.head);
        return end - p.cached_min <= capacity_;
    }

    subscriber_entry* table_ = nullptr;
    broadcast_options opts_{};

private:
    Kind& self() noexcept { return static_cast<Kind&>(*this); }

    static bool pid_exists(std::int32_t pid) noexcept { return pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH); }
    // As reap() judges: a claiming entry's start time may be its previous owner's.
    static bool entry_alive(std::uint64_t w, const subscriber_entry& e) noexcept {
        return (w & 0xff) == phase_claiming ? pid_exists(pid_of(w))
                                            : ipc::detail::is_alive({pid_of(w), e.start_time.load(std::memory_order_relaxed)});
    }
};

}  // namespace ipc::ring
