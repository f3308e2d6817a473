// ipc/ring/broadcast.hpp: one publisher, any number of subscribers, each seeing every message.
#pragma once

#include <chrono>
#include <cstring>

#include "kind.hpp"

namespace ipc::ring {

// The two halves of a seqlock. g++ refuses atomic_thread_fence under
// ThreadSanitizer (-Wtsan), and no sanitizer follows a fence: there the same
// orderings come from read-modify-writes on the version (slower, correct).
#if defined(__SANITIZE_THREAD__)
#define IPC_DETAIL_FENCE_FREE 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IPC_DETAIL_FENCE_FREE 1
#endif
#endif

namespace detail {

// Marks a slot as being written; the payload stores that follow stay after it.
inline void begin_write(std::atomic<std::uint64_t>& version, std::uint64_t odd) noexcept {
#if defined(IPC_DETAIL_FENCE_FREE)
    version.exchange(odd, std::memory_order_acq_rel);
#else
    version.store(odd, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
#endif
}
// The version after a payload was read; the payload loads stay before it.
inline std::uint64_t version_after_read(std::atomic<std::uint64_t>& version) noexcept {
#if defined(IPC_DETAIL_FENCE_FREE)
    return version.fetch_add(0, std::memory_order_acq_rel);
#else
    std::atomic_thread_fence(std::memory_order_acquire);
    return version.load(std::memory_order_relaxed);
#endif
}

}  // namespace detail

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
    std::uint64_t capacity = 1024;        // slots, a power of two >= 2
    std::uint32_t max_subscribers = 16;   // entries in the subscriber table (the region's size follows)
    slow_policy slow = slow_policy::block;
    std::uint64_t history = 0;            // a late joiner starts with the last `history` messages (< capacity)
};

// A broadcast slot: a version word and the payload. The version is 2s + 1
// while message s is being written and 2s + 2 once it is whole, so a reader
// that expects s knows from one load whether the slot holds s, an older
// message (nothing yet) or a newer one (it was lapped), and after copying,
// from a second load, whether the copy is intact (a seqlock).
template <class T>
struct versioned_slot {
    std::atomic<std::uint64_t> version;
    alignas(T) std::byte value[sizeof(T)];

    T* get() noexcept { return std::launder(reinterpret_cast<T*>(value)); }
};

// One subscriber's entry in the region's table: two cache lines, so that an
// adjacent-line prefetcher never pairs one subscriber's line with another's
// (the table starts on a line pair of the region, see table_offset). Aligned
// to one line only: a region is promised no more than that.
// Only its subscriber writes it, except the state word (reap, drop).
struct alignas(ipc::detail::cache_line) subscriber_entry {
    // [generation: 24][pid: 32][phase: 8]. The generation counts the entry's
    // owners, so one word names an owner for good: a subscriber that finds
    // anything but its own word was reaped, dropped or replaced.
    std::atomic<std::uint64_t> state;
    std::atomic<std::uint64_t> start_time;  // with the pid: the owner's identity (detail/process.hpp)
    std::atomic<std::uint64_t> tail;        // the next message it reads
    std::atomic<std::uint64_t> missed;      // messages it was told it missed (for listings)
    std::byte pad[2 * ipc::detail::cache_line - 4 * sizeof(std::uint64_t)];
};
static_assert(sizeof(subscriber_entry) == 2 * ipc::detail::cache_line);

// The broadcast ring's control. The publisher's index has a line pair of its
// own (it is stored with each message and read only by joiners); the rest
// changes only when an end comes or goes.
struct alignas(ipc::detail::cache_line) broadcast_control {
    alignas(ipc::detail::cache_line) std::atomic<std::uint64_t> head;  // messages published
    alignas(ipc::detail::cache_line) std::byte head_gap[ipc::detail::cache_line];
    // The publisher: [pid: 32][phase: 8] (phase: 0 never, 1 left cleanly, 2 live) and its start time.
    alignas(ipc::detail::cache_line) std::atomic<std::uint64_t> publisher;
    std::atomic<std::uint64_t> publisher_start_time;
    std::atomic<std::uint64_t> dropped;  // subscribers dropped by slow_policy::drop_slowest
    std::atomic<std::uint32_t> used;     // entries below this index have been claimed (a scan bound; untrusted)
    std::uint32_t max_subscribers;
    std::uint32_t slow;
    std::uint64_t history;
    std::uint64_t table_offset;  // from the start of the ring data
    // The line after the publisher's, unused, so the pair is its own (and
    // the control is as large as two_indices: ipc-ls takes no kind's shared
    // state to be smaller).
    alignas(ipc::detail::cache_line) std::byte tail_gap[ipc::detail::cache_line];
};
static_assert(sizeof(broadcast_control) >= sizeof(two_indices));

// One publisher process, any number of subscriber processes (up to the
// region's max_subscribers), slots of a trivially copyable T. Each
// subscriber reads every message in order, in place or by copy; the
// publisher loans a slot, writes in place and commits.
//
// The view owns nothing; each end's state is a small struct its caller keeps
// (publisher, subscriber) and passes to every operation.
//
// Hot paths. The publisher stores a slot's version twice and its head once
// per message; it reads subscribers' tails only when its cached minimum says
// the ring is full (block, drop_slowest; never under overwrite). A
// subscriber reads its own state word and the slot's version (it finds
// messages from the slots, not from the head), copies, checks the version
// again; its tail is stored on its own entry now and then (below).
//
// Tails are published lazily (block, overwrite): a subscriber stores its
// tail every capacity/64 messages (rings of 64 slots or more) and when a
// read finds nothing new, not after every message. A publisher waiting for
// room scans the tails over and over; a tail stored every message is a line
// it takes from the subscriber each time, and in a channel the subscriber's
// next notify waits for that store. Block stays safe: a published tail is
// always one the subscriber had reached (it only grows, and never passes a
// message still being read), so every tail the publisher sees is at most the
// subscriber's real one, and the minimum it overwrites below was read by
// everyone; the publisher only sees room up to capacity/64 - 1 messages
// late, from a subscriber that stopped reading before it found nothing new.
// No wake-up is lost in a channel: a publisher held by a subscriber's stale
// tail leaves it more than capacity - capacity/64 unread, so the subscriber
// passes a boundary (and the notify after that read) before it catches up.
// Under drop_slowest, whose drops must be exact, the tail is stored after
// every message.
//
// Crashes: every step is one store or compare-and-swap on a word that says
// all there is to know, so a process killed between any two instructions
// leaves the ring consistent:
// - publisher: killed after the odd version of slot h, the slot reads as
//   "being written" (nobody reads it) until a restarted publisher rewrites
//   h; killed after the even version but before storing head, the restarted
//   publisher finds slot h whole and moves head past it (open_publisher).
//   Its identity is in the control, so subscribers can tell it died.
// - subscriber: its tail is stored after it has finished with a message, so
//   a killed one leaves a tail that holds the ring (block) until reap()
//   finds its process gone and frees the entry; killed while claiming an
//   entry, the entry stays "claiming" and is reaped once its pid is gone.
// - joiner vs publisher: a joiner stores its tail, marks itself live and
//   reads head; a rescanning publisher stores head and reads the table; all
//   of it seq_cst (one total order). So either the publisher's scan sees
//   the joiner, or the joiner's head read sees the head of that scan, and
//   everything the publisher overwrites on that stale minimum is older than
//   the head the joiner read, where it starts: of its history (the K before
//   that head) some may be written over while it joins, and it is told of
//   them as missed messages, as under overwrite.
template <class T>
class broadcast : public view_base<broadcast_control> {
    static_assert(std::is_trivially_copyable_v<T>, "ipc::ring::broadcast: slots hold a trivially copyable T");
    static_assert(alignof(T) <= ipc::detail::cache_line, "ipc::ring::broadcast: T may be aligned to a cache line at most");
    using base = view_base<broadcast_control>;
    using slot_type = versioned_slot<T>;

    static constexpr std::uint64_t phase_free = 0, phase_claiming = 1, phase_live = 2, phase_dropped = 3;
    static constexpr std::uint64_t publisher_left = 1, publisher_live = 2;
    static constexpr unsigned gen_shift = 40;

public:
    using value_type = T;
    static constexpr ring::kind ring_kind = kind::broadcast;
    static constexpr std::uint64_t min_capacity = 2;
    static constexpr std::uint64_t slot_size = sizeof(slot_type);
    static constexpr std::uint64_t value_size = sizeof(T);
    static constexpr std::uint64_t value_align = alignof(T);
    static constexpr std::uint64_t tag = type_tag<T>;
    static constexpr std::uint64_t data_offset = ring::data_offset<broadcast>;

    // The publisher's own state; the caller keeps it.
    struct publisher {
        std::uint64_t head = 0;        // next message to write
        std::uint64_t cached_min = 0;  // slowest live subscriber's tail, as of the last scan
        std::uint64_t me = 0;          // this publisher's word in the control, 0: not open
        bool loaned = false;
        // block: how often a full ring looks for dead subscribers to reap.
        std::chrono::nanoseconds check_interval = std::chrono::milliseconds(100);
        std::chrono::steady_clock::time_point next_check{};
        bool is_open() const noexcept { return me != 0; }
    };

    // One subscription's state; the caller keeps it.
    struct subscriber {
        std::uint32_t entry = 0;     // its index in the subscriber table
        std::uint64_t me = 0;        // the entry's state word while it is ours; 0: not subscribed
        std::uint64_t next = 0;      // the next message to read
        std::uint64_t missed = 0;    // messages it missed since subscribing (overwrite, drop_slowest)
        std::uint64_t reading = 0;   // front(): the version of the message lent, 0: none
        std::uint64_t shown = 0;     // the tail last stored in its entry
        bool is_subscribed() const noexcept { return me != 0; }
    };

    enum class read_status : std::uint8_t {
        ok,
        empty,           // nothing new (yet)
        dropped,         // drop_slowest dropped it, or reap() freed its entry: subscribe again
        not_subscribed,  // this subscriber has no entry
    };
    // What a read found: the message's sequence number and how many the
    // subscriber missed just before it (lapped under overwrite).
    template <class P>
    struct read_result {
        P* ptr = nullptr;
        read_status status = read_status::empty;
        std::uint64_t seq = 0;
        std::uint64_t missed = 0;
        explicit operator bool() const noexcept { return status == read_status::ok; }
    };

    enum class publisher_state : std::uint8_t { none, live, left, dead };

    broadcast() noexcept = default;

    // ---- the region --------------------------------------------------------

    // Why required_size(o) is 0, explained (errc::limit_exceeded).
    static std::error_code options_error_of(const broadcast_options& o) noexcept { return options_error(o); }

    // Bytes a region with these options needs; 0 if they are invalid or too large.
    static constexpr std::uint64_t required_size(const broadcast_options& o) noexcept {
        if (!detail::is_pow2(o.capacity) || o.capacity < min_capacity || o.max_subscribers == 0 || o.history >= o.capacity)
            return 0;
        if (o.slow != slow_policy::block && o.slow != slow_policy::overwrite && o.slow != slow_policy::drop_slowest) return 0;
        constexpr std::uint64_t limit = std::uint64_t{1} << 62;
        if (o.capacity > (limit - data_offset) / slot_size) return 0;
        const std::uint64_t table = table_offset(o.capacity);
        if (o.max_subscribers > (limit - data_offset - table) / sizeof(subscriber_entry)) return 0;
        return data_offset + table + o.max_subscribers * sizeof(subscriber_entry);
    }

    // Builds an empty broadcast ring in mem (cache-line aligned, at least
    // required_size(o) bytes). attach() refuses it until it is complete.
    static broadcast format(std::span<std::byte> mem, const broadcast_options& o, std::error_code& ec) noexcept {
        using ull = unsigned long long;
        const std::uint64_t need = required_size(o);
        if (need == 0) {
            ec = options_error(o);
            return {};
        }
        if (mem.size() < need || reinterpret_cast<std::uintptr_t>(mem.data()) % ipc::detail::cache_line != 0) {
            ec = ipc::detail::explain(make_error_code(errc::corrupt), "a broadcast region of %llu bytes does not fit %llu bytes at %p (or is not cache-line aligned)",
                                      static_cast<ull>(need), static_cast<ull>(mem.size()), static_cast<void*>(mem.data()));
            return {};
        }
        auto* st = new (mem.data()) shared_state<broadcast_control>{};
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
        broadcast_control& c = st->ctl;
        c.max_subscribers = o.max_subscribers;
        c.slow = static_cast<std::uint32_t>(o.slow);
        c.history = o.history;
        c.table_offset = table_offset(o.capacity);
        std::byte* data = mem.data() + data_offset;
        auto* slots = reinterpret_cast<slot_type*>(data);
        for (std::uint64_t i = 0; i < o.capacity; ++i) new (&slots[i].version) std::atomic<std::uint64_t>(0);
        auto* table = reinterpret_cast<subscriber_entry*>(data + c.table_offset);
        for (std::uint32_t i = 0; i < o.max_subscribers; ++i) new (&table[i]) subscriber_entry{};
        h.state.store(formatted_state, std::memory_order_release);
        return broadcast(st, data, o);
    }

    // Checks a formatted region and returns a view of it. Every size, count
    // and offset is compared with what this program computes from them, and
    // with mem.size(), before anything is used: a lying header or control is
    // refused, never followed outside mem.
    static broadcast attach(std::span<std::byte> mem, std::error_code& ec) noexcept {
        using ull = unsigned long long;
        const std::error_code corrupt = make_error_code(errc::corrupt);
        if (!is_formatted(mem) || mem.size() < data_offset) {
            ec = ipc::detail::explain(corrupt, "the region (%llu bytes) holds no formatted ring header", static_cast<ull>(mem.size()));
            return {};
        }
        auto* st = std::launder(reinterpret_cast<shared_state<broadcast_control>*>(mem.data()));
        const header& h = st->hdr;
        const auto mismatch = [&](const char* field, std::uint64_t found, std::uint64_t expected) {
            ec = ipc::detail::explain(make_error_code(errc::layout_mismatch), "%s differs: the region has %llu, this program expects %llu", field,
                                      static_cast<ull>(found), static_cast<ull>(expected));
            return broadcast{};
        };
        if (h.magic != region_magic) {
            ec = ipc::detail::explain(corrupt, "the region does not start with ipc's ring magic number (found %#llx)", static_cast<ull>(h.magic));
            return {};
        }
        if (h.version != layout_version) return mismatch("layout version", h.version, layout_version);
        if (h.kind != static_cast<std::uint32_t>(ring_kind)) {
            ec = ipc::detail::explain(make_error_code(errc::layout_mismatch), "ring kind differs: the region is a %s ring, this program expects broadcast",
                                      kind_name(h.kind));
            return {};
        }
        if (h.value_size != value_size) return mismatch("sizeof(T)", h.value_size, value_size);
        if (h.value_align != value_align) return mismatch("alignof(T)", h.value_align, value_align);
        if (h.type_tag != tag) {
            ec = ipc::detail::explain(make_error_code(errc::layout_mismatch), "type tag differs: the region has %#llx, this program expects %#llx",
                                      static_cast<ull>(h.type_tag), static_cast<ull>(tag));
            return {};
        }
        if (h.slot_size != slot_size) return mismatch("slot size", h.slot_size, slot_size);
        if (h.data_offset != data_offset) return mismatch("data offset", h.data_offset, data_offset);
        const broadcast_control& c = st->ctl;
        const broadcast_options o{h.capacity, c.max_subscribers, static_cast<slow_policy>(c.slow), c.history};
        const std::uint64_t need = required_size(o);
        if (need == 0 || c.table_offset != table_offset(h.capacity) || h.total_size != need || mem.size() < need) {
            ec = ipc::detail::explain(corrupt,
                                      "the broadcast header (capacity %llu, %llu subscribers, slow policy %llu, history %llu, table at %llu, "
                                      "size %llu) does not describe a ring that fits the region's %llu bytes",
                                      static_cast<ull>(h.capacity), static_cast<ull>(c.max_subscribers), static_cast<ull>(c.slow),
                                      static_cast<ull>(c.history), static_cast<ull>(c.table_offset), static_cast<ull>(h.total_size),
                                      static_cast<ull>(mem.size()));
            return {};
        }
        return broadcast(st, mem.data() + data_offset, o);
    }

    // The options the region was made with (as this view checked them).
    const broadcast_options& options() const noexcept { return opts_; }

    // ---- the ring kind (ring/kind.hpp): what ring_region and ipc-ls use -----
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
    using creation_options = broadcast_options;
    static constexpr bool fixed_size = true;
    static constexpr eos default_eos = eos::never;
    static constexpr std::size_t max_ends(direction d) noexcept { return d == direction::send ? 1 : unlimited_ends; }
    struct end_state {
        publisher pub;
        subscriber sub;
        // (publisher's chrono initialisers are not declared noexcept; they cannot throw)
        end_state() noexcept {}
    };

    // A view made by the generic ring::format / ring::attach, which know no
    // options: it has no subscriber table (a broadcast region is made and
    // checked by broadcast::format / broadcast::attach, which ring_region uses).
    broadcast(shared_state<broadcast_control>* st, std::byte* data, std::uint64_t capacity) noexcept
        : base(st, data, capacity), opts_{capacity, 0, slow_policy::block, 0} {}
    static void init_data(std::byte* data, std::uint64_t capacity) noexcept {
        auto* slots = reinterpret_cast<slot_type*>(data);
        for (std::uint64_t i = 0; i < capacity; ++i) new (&slots[i].version) std::atomic<std::uint64_t>(0);
    }

    bool join(direction d, end_state& e, const end_id&, std::error_code& ec) noexcept {
        return d == direction::send ? open_publisher(e.pub, ec) : subscribe(e.sub, ec);
    }
    void leave(direction d, end_state& e) noexcept {
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
    std::error_code news(end_state& e) noexcept {
        subscriber& s = e.sub;
        if (!s.is_subscribed() || (s.entry < opts_.max_subscribers && table_[s.entry].state.load(std::memory_order_acquire) == s.me))
            return {};
        const std::uint64_t missed = s.missed;
        std::error_code ec;
        if (!subscribe(s, ec)) return ec;
        s.missed = missed;
        return ipc::detail::explain(make_error_code(errc::dropped),
                                    "the subscriber fell %llu messages behind (the whole ring) under slow_policy::drop_slowest and "
                                    "was dropped; it starts again at the newest message",
                                    static_cast<unsigned long long>(capacity_));
    }
    // Messages this subscriber missed since it subscribed (lapped under
    // overwrite, torn reads, and what it lost when dropped).
    static std::uint64_t missed(const end_state& e) noexcept { return e.sub.missed; }

    bool can_push(const end_state& e) const noexcept {
        const publisher& p = e.pub;
        if (!p.is_open()) return false;
        if (opts_.slow != slow_policy::block || p.head - p.cached_min < capacity_) return true;
        return p.head - min_tail(p.head) < capacity_;
    }
    bool can_pop(const end_state& e) const noexcept { return can_pop(e.sub); }

    T* loan(end_state& e) noexcept { return loan(e.pub); }
    void commit(end_state& e) noexcept { commit(e.pub); }
    void cancel(end_state& e) noexcept { cancel(e.pub); }
    const T* front(end_state& e) noexcept { return front(e.sub).ptr; }
    bool release(end_state& e) noexcept { return release(e.sub); }
    std::size_t push_n(std::span<const T> vs, end_state& e) noexcept {
        std::size_t n = 0;
        while (n < vs.size() && try_push(e.pub, vs[n])) ++n;
        return n;
    }
    std::size_t pop_n(std::span<T> out, end_state& e) noexcept {
        std::size_t n = 0;
        while (n < out.size() && try_pop(e.sub, out[n])) ++n;
        return n;
    }
    // The message path: a message is one T.
    std::byte* loan_message(std::size_t n, end_state& e, std::error_code& ec) noexcept {
        if (n != sizeof(T)) {
            ec = make_error_code(errc::bad_message);
            return nullptr;
        }
        return reinterpret_cast<std::byte*>(loan(e.pub));
    }
    void commit_message(std::size_t, end_state& e) noexcept { commit(e.pub); }
    std::optional<std::span<const std::byte>> front_message(end_state& e, std::error_code&) noexcept {
        const T* p = front(e);
        if (!p) return std::nullopt;
        return std::span<const std::byte>(reinterpret_cast<const std::byte*>(p), sizeof(T));
    }

    // For ipc-ls (from untrusted bytes): the policy, the publisher, how many
    // subscribers hold entries, the slowest one's lag, what they missed in
    // all, how many were dropped, and a row per subscriber (describe_table).
    static bool describe(std::span<const std::byte> region, const header& h, description& out) noexcept {
        const broadcast_control* c = control_in<broadcast_control>(region);
        if (!c || !detail::is_pow2(h.capacity)) return false;
        const std::uint64_t head = c->head.load(std::memory_order_acquire);
        out.add("policy", std::string_view(slow_policy_name(c->slow)));
        const std::uint64_t pw = c->publisher.load(std::memory_order_acquire);
        const bool live = (pw & 0xff) == publisher_live &&
                          ipc::detail::is_alive({pid_of(pw), c->publisher_start_time.load(std::memory_order_relaxed)});
        out.add("publisher", std::string_view((pw & 0xff) == publisher_left ? "left" : (pw & 0xff) != publisher_live ? "none" : live ? "live" : "dead"));
        std::uint64_t n = c->used.load(std::memory_order_relaxed);
        if (n > c->max_subscribers) n = c->max_subscribers;
        // The table's offset is untrusted: one past the region reads nothing.
        const std::uint64_t table_at =
            region.size() >= data_offset && c->table_offset <= region.size() - data_offset ? data_offset + c->table_offset : region.size();
        const table_totals t = describe_table(region, table_at, n, head, h.capacity, out);
        out.queued = t.max_lag;
        out.add("subscribers", t.subscribers);
        out.add("max_subscribers", c->max_subscribers);
        out.add("max_lag", t.max_lag);
        out.add("missed", t.missed);
        out.add("dropped", c->dropped.load(std::memory_order_relaxed));
        if (t.not_shown) out.add("entries_not_shown", t.not_shown);
        return true;
    }

    // What a listing sums over a subscriber table.
    struct table_totals {
        std::uint64_t subscribers = 0;  // entries held (live, joining or dropped; a dead process's until reaped)
        std::uint64_t max_lag = 0, missed = 0;
        std::uint64_t not_shown = 0;  // entries the region given does not hold (or misplaced: none read)
    };
    // Hands out a description row per held entry of a subscriber table
    // (subscriber_entry, the state word above) at byte table_at of region,
    // at most `entries` (both untrusted: only entries wholly inside the
    // region are read): entry, pid, state (live, claiming, dropped), process
    // (alive, dead), tail, lag (messages behind head, at most capacity) and
    // missed. A kind that keeps the same table describes it with this.
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
            // As reap() judges: a claiming entry's start time may be its previous owner's.
            const bool alive = ph == phase_claiming ? pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH)
                                                    : ipc::detail::is_alive({pid, e.start_time.load(std::memory_order_relaxed)});
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
            r.add("process", std::string_view(alive ? "alive" : "dead"));
            r.add("tail", tail);
            r.add("lag", lag);
            r.add("missed", missed);
            out.emit(r);
        }
        return t;
    }

    // ---- publisher ---------------------------------------------------------

    // Makes this process the publisher: errc::in_use while another live one
    // is. A dead publisher's place is taken, and its stream carried on from
    // the region's head (a message it committed but had not counted is kept;
    // one it was writing is rewritten).
    bool open_publisher(publisher& p, std::error_code& ec) noexcept {
        const auto id = ipc::detail::self_identity();
        const std::uint64_t mine = static_cast<std::uint64_t>(static_cast<std::uint32_t>(id.pid)) << 8 | publisher_live;
        auto& c = st_->ctl;
        std::uint64_t cur = c.publisher.load(std::memory_order_acquire);
        for (;;) {
            if ((cur & 0xff) == publisher_live &&
                ipc::detail::is_alive({pid_of(cur), c.publisher_start_time.load(std::memory_order_relaxed)})) {
                ec = ipc::detail::explain(make_error_code(errc::in_use), "the broadcast ring's publisher (pid %d) is alive", static_cast<int>(pid_of(cur)));
                return false;
            }
            // The start time goes in before the word that makes it count; a
            // publisher killed in between left a word naming a dead pid.
            c.publisher_start_time.store(id.start_time, std::memory_order_relaxed);
            if (c.publisher.compare_exchange_weak(cur, mine, std::memory_order_acq_rel)) break;
        }
        c.publisher_start_time.store(id.start_time, std::memory_order_relaxed);  // a racing opener may have written its own
        std::uint64_t h = c.head.load(std::memory_order_acquire);
        if (at(h).version.load(std::memory_order_acquire) == whole(h)) c.head.store(++h, std::memory_order_release);
        p.head = h;
        p.cached_min = h - capacity_;  // rescan before the first write
        p.me = mine;
        p.loaned = false;
        p.next_check = {};
        return true;
    }
    void close_publisher(publisher& p) noexcept {
        if (!p.is_open()) return;
        std::uint64_t cur = p.me;
        st_->ctl.publisher.compare_exchange_strong(cur, (p.me & ~std::uint64_t{0xff}) | publisher_left, std::memory_order_acq_rel);
        p.me = 0;
    }

    // The slot for the next message, or nullptr: no room (block: the slowest
    // live subscriber is a ring behind), or the publisher is not open. The
    // message is not visible until commit().
    [[nodiscard]] T* loan(publisher& p) noexcept {
        if (!p.is_open()) return nullptr;
        if (opts_.slow != slow_policy::overwrite && p.head - p.cached_min >= capacity_ && !make_room(p)) return nullptr;
        slot_type& s = at(p.head);
        // Odd first: a reader of the message this slot held sees it go.
        detail::begin_write(s.version, whole(p.head) - 1);
        p.loaned = true;
        return s.get();
    }
    void commit(publisher& p) noexcept {
        if (!p.loaned) return;
        at(p.head).version.store(whole(p.head), std::memory_order_release);
        st_->ctl.head.store(++p.head, std::memory_order_release);
        p.loaned = false;
    }
    // Gives the loaned slot back unsent: it stays "being written" (what it
    // held is gone) until the next loan writes the same message number.
    void cancel(publisher& p) noexcept { p.loaned = false; }

    [[nodiscard]] bool try_push(publisher& p, const T& v) noexcept {
        T* slot = loan(p);
        if (!slot) return false;
        std::memcpy(static_cast<void*>(slot), &v, sizeof(T));
        commit(p);
        return true;
    }

    // Whether a loan would succeed now: rescans if the cache says full, and
    // does what a loan would (reap under block, drop under drop_slowest).
    bool can_push(publisher& p) noexcept {
        return p.is_open() && (opts_.slow == slow_policy::overwrite || p.head - p.cached_min < capacity_ || make_room(p));
    }

    // ---- subscribers -------------------------------------------------------

    // Claims a table entry and starts at the newest message, or with the last
    // `history` ones (at most capacity - 1; the region's setting if not
    // given). errc::limit_exceeded when every entry is held by a live process.
    bool subscribe(subscriber& s, std::error_code& ec) noexcept { return subscribe(s, opts_.history, ec); }
    bool subscribe(subscriber& s, std::uint64_t history, std::error_code& ec) noexcept {
        if (s.is_subscribed()) unsubscribe(s);
        if (history >= capacity_) history = capacity_ - 1;
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
                // Claimed: fill in, go live, read head (see the class comment).
                e.start_time.store(id.start_time, std::memory_order_relaxed);
                e.missed.store(0, std::memory_order_relaxed);
                const std::uint64_t h0 = c.head.load(std::memory_order_acquire);
                e.tail.store(h0 > history ? h0 - history : 0, std::memory_order_relaxed);
                for (std::uint32_t u = c.used.load(std::memory_order_relaxed); u <= i;)
                    if (c.used.compare_exchange_weak(u, i + 1, std::memory_order_relaxed)) break;
                // seq_cst, with the publisher's head store in slowest(): see the class comment.
                e.state.store(gen | pid_bits | phase_live, std::memory_order_seq_cst);
                // Start from the head read now: nothing from it on can be
                // written over before the publisher sees this entry.
                std::uint64_t h = c.head.load(std::memory_order_seq_cst);
                // A publisher killed between committing slot h and storing
                // head left message h readable (others may have read it): it
                // was published before this join, so it is not the joiner's
                // first. (A live publisher between the two stores is
                // concurrent with the join: either order is right.)
                if (at(h).version.load(std::memory_order_acquire) == whole(h)) ++h;
                const std::uint64_t start = h > history ? h - history : 0;
                e.tail.store(start, std::memory_order_release);
                s = subscriber{i, gen | pid_bits | phase_live, start, 0, 0, start};
                return true;
            }
            if (pass == 0 && reap() == 0) break;
        }
        ec = ipc::detail::explain(make_error_code(errc::limit_exceeded), "all %u subscriber entries of the broadcast ring are held by live processes",
                                  static_cast<unsigned>(opts_.max_subscribers));
        return false;
    }

    // Frees the entry (whatever state it is in, if it is still this subscription's).
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

    // The next message, in place; release() must follow an ok read. Under
    // overwrite (or once dropped) the publisher may write over it while it
    // is read: release() says whether what was read was intact.
    [[nodiscard]] read_result<const T> front(subscriber& s) noexcept {
        read_result<const T> r;
        r.status = next_ready(s, r.missed);
        if (r.status != read_status::ok) return r;
        slot_type& slot = at(s.next);
        s.reading = whole(s.next);
        r.ptr = slot.get();
        r.seq = s.next;
        return r;
    }
    // Ends an in-place read: true if the message was intact throughout (if
    // not, it counts as missed: the caller should discard what it read).
    [[nodiscard]] bool release(subscriber& s) noexcept {
        if (s.reading == 0) return false;
        const bool intact = detail::version_after_read(at(s.next).version) == s.reading;
        s.reading = 0;
        if (!intact) count_missed(s, 1);
        advance(s, s.next + 1);
        return intact;
    }

    // Copies the next message out. A copy found torn is counted as missed
    // and the next message tried: an ok read is always intact.
    [[nodiscard]] read_result<T> try_pop(subscriber& s, T& out) noexcept {
        read_result<T> r;
        for (std::uint64_t tries = 0; tries <= capacity_; ++tries) {
            std::uint64_t missed = 0;
            r.status = next_ready(s, missed);
            r.missed += missed;
            if (r.status != read_status::ok) return r;
            slot_type& slot = at(s.next);
            std::memcpy(static_cast<void*>(&out), slot.value, sizeof(T));
            const std::uint64_t seq = s.next;
            const bool intact = detail::version_after_read(slot.version) == whole(seq);
            advance(s, seq + 1);
            if (intact) {
                r.ptr = &out;
                r.seq = seq;
                return r;
            }
            count_missed(s, 1);
            ++r.missed;
        }
        r.status = read_status::empty;
        return r;
    }

    // Whether a read would find a message (or news: dropped) now.
    bool can_pop(const subscriber& s) const noexcept {
        if (!s.is_subscribed()) return false;
        if (s.entry >= opts_.max_subscribers || table_[s.entry].state.load(std::memory_order_acquire) != s.me) return true;
        return at(s.next).version.load(std::memory_order_acquire) >= whole(s.next);
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
            const bool gone = ph == phase_claiming ? pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)
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
        const std::uint64_t w = st_->ctl.publisher.load(std::memory_order_acquire);
        if ((w & 0xff) == publisher_left) return publisher_state::left;
        if ((w & 0xff) != publisher_live) return publisher_state::none;
        return ipc::detail::is_alive(publisher_identity()) ? publisher_state::live : publisher_state::dead;
    }
    ipc::detail::process_identity publisher_identity() const noexcept {
        const std::uint64_t w = st_->ctl.publisher.load(std::memory_order_acquire);
        return {pid_of(w), st_->ctl.publisher_start_time.load(std::memory_order_relaxed)};
    }

    // ---- listings (ipc-ls, tests) ------------------------------------------

    std::uint64_t head() const noexcept { return st_->ctl.head.load(std::memory_order_acquire); }
    std::uint64_t dropped() const noexcept { return st_->ctl.dropped.load(std::memory_order_relaxed); }

    struct subscriber_info {
        std::uint32_t entry;
        ipc::detail::process_identity id;
        bool live;     // false: dropped, or still joining
        // Messages published it has not read (clamped to capacity); tails are
        // published lazily, so it may be up to capacity/64 - 1 over.
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

private:
    broadcast(shared_state<broadcast_control>* st, std::byte* data, const broadcast_options& o) noexcept
        : base(st, data, o.capacity),
          table_(reinterpret_cast<subscriber_entry*>(data + table_offset(o.capacity))),
          opts_(o),
          lazy_mask_(o.slow == slow_policy::drop_slowest || o.capacity < 64 ? 0 : o.capacity / 64 - 1) {}

    // From the ring data; the table starts on a line pair of the region.
    static constexpr std::uint64_t table_offset(std::uint64_t capacity) noexcept {
        return detail::round_up(data_offset + capacity * slot_size, 2 * ipc::detail::cache_line) - data_offset;
    }
    static constexpr std::int32_t pid_of(std::uint64_t w) noexcept { return static_cast<std::int32_t>(static_cast<std::uint32_t>(w >> 8)); }
    static constexpr std::uint64_t whole(std::uint64_t seq) noexcept { return 2 * seq + 2; }

    static std::error_code options_error(const broadcast_options& o) noexcept {
        using ull = unsigned long long;
        const std::error_code ec = make_error_code(errc::limit_exceeded);
        if (!detail::is_pow2(o.capacity) || o.capacity < min_capacity)
            return ipc::detail::explain(ec, "broadcast capacity must be a power of two of at least %llu slots (%llu given)", static_cast<ull>(min_capacity),
                                        static_cast<ull>(o.capacity));
        if (o.max_subscribers == 0) return ipc::detail::explain(ec, "a broadcast ring needs max_subscribers of at least 1 (0 given)");
        if (o.history >= o.capacity)
            return ipc::detail::explain(ec, "broadcast history %llu must be below the capacity of %llu slots", static_cast<ull>(o.history),
                                        static_cast<ull>(o.capacity));
        if (o.slow != slow_policy::block && o.slow != slow_policy::overwrite && o.slow != slow_policy::drop_slowest)
            return ipc::detail::explain(ec, "unknown broadcast slow_policy %llu", static_cast<ull>(o.slow));
        return ipc::detail::explain(ec, "a broadcast ring of %llu slots and %llu subscribers would need a region of 2^62 bytes or more",
                                    static_cast<ull>(o.capacity), static_cast<ull>(o.max_subscribers));
    }

    slot_type& at(std::uint64_t i) const noexcept { return reinterpret_cast<slot_type*>(data_)[i & mask_]; }

    // Entries worth scanning: the region's high-water mark, bounded by the
    // table this view checked.
    std::uint32_t scan_end(std::memory_order order = std::memory_order_acquire) const noexcept {
        const std::uint32_t u = st_->ctl.used.load(order);
        return u < opts_.max_subscribers ? u : opts_.max_subscribers;
    }

    // The slowest live subscriber's tail, clamped to a ring behind head (a
    // tail out of that range is corrupt, or a subscriber that was lapped
    // and has not noticed yet); head when there is none.
    std::uint64_t slowest(std::uint64_t h, std::uint32_t* which = nullptr) noexcept {
        // Head again (the value it has), seq_cst, then the table seq_cst: a
        // joiner this scan misses reads this head (see the class comment).
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

    // The cache said full: rescan, and per policy reap the dead (block, when
    // a check is due) or drop the slowest (drop_slowest). True if there is room.
    bool make_room(publisher& p) noexcept {
        p.cached_min = slowest(p.head);
        if (p.head - p.cached_min < capacity_) return true;
        if (opts_.slow == slow_policy::block) {
            const auto now = std::chrono::steady_clock::now();
            if (now < p.next_check) return false;
            p.next_check = now + p.check_interval;
            if (reap() == 0) return false;
            p.cached_min = slowest(p.head);
            return p.head - p.cached_min < capacity_;
        }
        // drop_slowest: each round drops one of the slowest; at most one per entry.
        for (std::uint32_t rounds = 0; rounds < opts_.max_subscribers; ++rounds) {
            std::uint32_t who = UINT32_MAX;
            p.cached_min = slowest(p.head, &who);
            if (p.head - p.cached_min < capacity_ || who == UINT32_MAX) return true;
            subscriber_entry& e = table_[who];
            std::uint64_t w = e.state.load(std::memory_order_acquire);
            if ((w & 0xff) == phase_live &&
                e.state.compare_exchange_strong(w, (w & ~std::uint64_t{0xff}) | phase_dropped, std::memory_order_acq_rel))
                st_->ctl.dropped.fetch_add(1, std::memory_order_relaxed);
        }
        p.cached_min = slowest(p.head);
        return p.head - p.cached_min < capacity_;
    }

    // Finds the next message for s: ok with s.next whole in its slot; moves
    // s.next past what was overwritten (adding to `missed` what the
    // subscriber should hear about).
    read_status next_ready(subscriber& s, std::uint64_t& missed) noexcept {
        if (!s.is_subscribed()) return read_status::not_subscribed;
        if (s.entry >= opts_.max_subscribers || table_[s.entry].state.load(std::memory_order_acquire) != s.me) {
            s.reading = 0;
            return read_status::dropped;
        }
        s.reading = 0;
        for (std::uint64_t tries = 0; tries <= capacity_; ++tries) {
            const std::uint64_t v = at(s.next).version.load(std::memory_order_acquire);
            if (v == whole(s.next)) return read_status::ok;
            if (v < whole(s.next)) {  // an older message, or s.next being written
                if (s.shown != s.next) show_tail(s);
                return read_status::empty;
            }
            // Written over. Under overwrite, the subscriber was lapped: start
            // again half a ring behind head (room to catch up before the next
            // lap). Under block and drop_slowest the publisher waits for (or
            // drops) a live subscriber, so only history written over while it
            // joined is gone (see subscribe()): skip that one message at a
            // time, never past a message the publisher kept for it.
            const std::uint64_t h = st_->ctl.head.load(std::memory_order_acquire);
            // A head less than a ring ahead (or behind us: corrupt) moves one at a time, still bounded.
            const bool jump = opts_.slow == slow_policy::overwrite && h > s.next && h - s.next >= capacity_;
            const std::uint64_t to = jump ? h - capacity_ / 2 : s.next + 1;
            missed += to - s.next;
            count_missed(s, to - s.next);
            advance(s, to);
        }
        return read_status::empty;
    }

    void count_missed(subscriber& s, std::uint64_t n) noexcept {
        if (n == 0) return;
        s.missed += n;
        if (s.entry < opts_.max_subscribers) table_[s.entry].missed.store(s.missed, std::memory_order_relaxed);
    }
    // The tail is stored on a lazy_mask_ boundary here, and by a read that
    // finds nothing new (see "Tails are published lazily" in the class comment).
    void advance(subscriber& s, std::uint64_t to) noexcept {
        s.next = to;
        if ((to & lazy_mask_) == 0) show_tail(s);
    }
    void show_tail(subscriber& s) noexcept {
        s.shown = s.next;
        if (s.entry < opts_.max_subscribers) table_[s.entry].tail.store(s.next, std::memory_order_release);
    }

    subscriber_entry* table_ = nullptr;
    broadcast_options opts_{};
    std::uint64_t lazy_mask_ = 0;  // a tail is stored at least every lazy_mask_ + 1 messages
};

static_assert(fixed_kind<broadcast<int>>);

}  // namespace ipc::ring
