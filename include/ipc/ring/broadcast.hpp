// ipc/ring/broadcast.hpp: one publisher, any number of subscribers, each seeing every message.
#pragma once

#include <cstddef>
#include <cstring>

#include "broadcast_table.hpp"

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

// The broadcast ring's control. The publisher's index has a line pair of its
// own (it is stored with each message and read only by joiners); the rest
// changes only when an end comes or goes.
struct alignas(ipc::detail::cache_line) broadcast_control {
    alignas(ipc::detail::cache_line) std::atomic<std::uint64_t> head;  // messages published
    alignas(ipc::detail::cache_line) std::byte head_gap[ipc::detail::cache_line];
    alignas(ipc::detail::cache_line) broadcast_ends ends;  // broadcast_table's: the publisher and the table
    std::uint64_t table_offset;  // from the start of the ring data
    // The line after the publisher's, unused, so the pair is its own (and
    // the control is as large as two_indices: ipc-ls takes no kind's shared
    // state to be smaller).
    alignas(ipc::detail::cache_line) std::byte tail_gap[ipc::detail::cache_line];
};
static_assert(sizeof(broadcast_control) >= sizeof(two_indices));
static_assert(offsetof(broadcast_control, ends) == 2 * ipc::detail::cache_line &&
              offsetof(broadcast_control, table_offset) == offsetof(broadcast_control, ends) + sizeof(broadcast_ends));

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
class broadcast : public broadcast_table<broadcast<T>, broadcast_control> {
    static_assert(std::is_trivially_copyable_v<T>, "ipc::ring::broadcast: slots hold a trivially copyable T");
    static_assert(alignof(T) <= ipc::detail::cache_line, "ipc::ring::broadcast: T may be aligned to a cache line at most");
    using table = broadcast_table<broadcast<T>, broadcast_control>;
    friend table;
    using slot_type = versioned_slot<T>;
    using table::capacity_, table::data_, table::mask_, table::st_, table::table_, table::opts_;
    using table::count_missed, table::holds, table::make_room, table::min_tail, table::store_tail;

public:
    using value_type = T;
    static constexpr ring::kind ring_kind = kind::broadcast;
    static constexpr std::uint64_t min_capacity = 2;
    static constexpr std::uint64_t slot_size = sizeof(slot_type);
    static constexpr std::uint64_t value_size = sizeof(T);
    static constexpr std::uint64_t value_align = alignof(T);
    static constexpr std::uint64_t tag = type_tag<T>;
    static constexpr std::uint64_t data_offset = ring::data_offset<broadcast>;

    // The publisher's own state; the caller keeps it. head: the next message to write.
    struct publisher : table::publisher_base {};

    // One subscription's state; the caller keeps it.
    struct subscriber : table::subscriber_base {
        std::uint64_t next = 0;     // the next message to read
        std::uint64_t reading = 0;  // front(): the version of the message lent, 0: none
        std::uint64_t shown = 0;    // the tail last stored in its entry
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

    broadcast() noexcept = default;

    // ---- the region --------------------------------------------------------
    // (options_error_of, required_size, format and options are broadcast_table's.)

    // Checks a formatted region and returns a view of it. Every size, count
    // and offset is compared with what this program computes from them, and
    // with mem.size(), before anything is used: a lying header or control is
    // refused, never followed outside mem.
    static broadcast attach(std::span<std::byte> mem, std::error_code& ec) noexcept {
        using ull = unsigned long long;
        auto* st = table::formatted_state_in(mem, ec);
        if (!st) return {};
        const header& h = st->hdr;
        const auto mismatch = [&](const char* field, std::uint64_t found, std::uint64_t expected) {
            ec = ipc::detail::explain(make_error_code(errc::layout_mismatch), "%s differs: the region has %llu, this program expects %llu", field,
                                      static_cast<ull>(found), static_cast<ull>(expected));
            return broadcast{};
        };
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
        const broadcast_options o = table::recorded_options(*st);
        const std::uint64_t need = table::required_size(o);
        if (need == 0 || c.table_offset != table_offset_of(o) || h.total_size != need || mem.size() < need) {
            ec = ipc::detail::explain(make_error_code(errc::corrupt),
                                      "the broadcast header (capacity %llu, %llu subscribers, slow policy %llu, history %llu, table at %llu, "
                                      "size %llu) does not describe a ring that fits the region's %llu bytes",
                                      static_cast<ull>(h.capacity), static_cast<ull>(c.ends.max_subscribers), static_cast<ull>(c.ends.slow),
                                      static_cast<ull>(c.ends.history), static_cast<ull>(c.table_offset), static_cast<ull>(h.total_size),
                                      static_cast<ull>(mem.size()));
            return {};
        }
        return broadcast(st, mem.data() + data_offset, o);
    }

    // ---- the ring kind (ring/kind.hpp): what ring_region and ipc-ls use -----
    // (ends, end of stream, join, leave, repair, news, missed and describe
    // are broadcast_table's.)
    static constexpr bool fixed_size = true;
    using typename table::end_state;
    // A view made by the generic ring::format / ring::attach, which know no
    // options: it has no subscriber table (a broadcast region is made and
    // checked by broadcast::format / broadcast::attach, which ring_region uses).
    broadcast(shared_state<broadcast_control>* st, std::byte* data, std::uint64_t capacity) noexcept : table(st, data, capacity) {}
    static void init_data(std::byte* data, std::uint64_t capacity) noexcept {
        auto* slots = reinterpret_cast<slot_type*>(data);
        for (std::uint64_t i = 0; i < capacity; ++i) new (&slots[i].version) std::atomic<std::uint64_t>(0);
    }

    bool can_push(const end_state& e) const noexcept { return e.pub.is_open() && this->room_for(e.pub, e.pub.head + 1); }
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

    // ---- publisher ---------------------------------------------------------

    // Makes this process the publisher: errc::in_use while another live one
    // is. A dead publisher's place is taken, and its stream carried on from
    // the region's head (a message it committed but had not counted is kept;
    // one it was writing is rewritten).
    bool open_publisher(publisher& p, std::error_code& ec) noexcept {
        const std::uint64_t mine = this->claim_publisher(ec);
        if (mine == 0) return false;
        auto& c = st_->ctl;
        std::uint64_t h = c.head.load(std::memory_order_acquire);
        if (at(h).version.load(std::memory_order_acquire) == whole(h)) c.head.store(++h, std::memory_order_release);
        p.head = h;
        p.cached_min = h - capacity_;  // rescan before the first write
        p.me = mine;
        p.loaned = false;
        p.next_check = {};
        return true;
    }

    // The slot for the next message, or nullptr: no room (block: the slowest
    // live subscriber is a ring behind), or the publisher is not open. The
    // message is not visible until commit().
    [[nodiscard]] T* loan(publisher& p) noexcept {
        if (!p.is_open()) return nullptr;
        if (opts_.slow != slow_policy::overwrite && p.head - p.cached_min >= capacity_ && !make_room(p, p.head + 1)) return nullptr;
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
        return p.is_open() && (opts_.slow == slow_policy::overwrite || p.head - p.cached_min < capacity_ || make_room(p, p.head + 1));
    }

    // ---- subscribers -------------------------------------------------------

    // Claims a table entry and starts at the newest message, or with the last
    // `history` ones (at most capacity - 1; the region's setting if not
    // given). errc::limit_exceeded when every entry is held by a live process.
    bool subscribe(subscriber& s, std::error_code& ec) noexcept { return subscribe(s, opts_.history, ec); }
    bool subscribe(subscriber& s, std::uint64_t history, std::error_code& ec) noexcept {
        if (history >= capacity_) history = capacity_ - 1;
        auto& c = st_->ctl;
        const auto hold = [&] {
            const std::uint64_t h0 = c.head.load(std::memory_order_acquire);
            return h0 > history ? h0 - history : 0;
        };
        // Start from the head read once live: nothing from it on can be
        // written over before the publisher sees this entry.
        const auto start = [&] {
            std::uint64_t h = c.head.load(std::memory_order_seq_cst);
            // A publisher killed between committing slot h and storing
            // head left message h readable (others may have read it): it
            // was published before this join, so it is not the joiner's
            // first. (A live publisher between the two stores is
            // concurrent with the join: either order is right.)
            if (at(h).version.load(std::memory_order_acquire) == whole(h)) ++h;
            s.next = s.shown = h > history ? h - history : 0;
            return s.next;
        };
        return this->claim_entry(s, hold, start, ec);
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
        if (!holds(s)) return true;
        return at(s.next).version.load(std::memory_order_acquire) >= whole(s.next);
    }

    // (reap, publisher_status, head, dropped, for_each_subscriber and
    // subscribers are broadcast_table's.)

private:
    static constexpr const char* capacity_unit = "slots";
    static constexpr const char* lag_field = "max_lag";
    static constexpr std::uint64_t max_capacity = ((std::uint64_t{1} << 62) - data_offset) / slot_size;
    static constexpr std::uint64_t history_limit(std::uint64_t capacity) noexcept { return capacity; }
    static void init_region(broadcast_control&, std::byte* data, const broadcast_options& o) noexcept { init_data(data, o.capacity); }

    broadcast(shared_state<broadcast_control>* st, std::byte* data, const broadcast_options& o) noexcept
        : table(st, data, o), lazy_mask_(o.slow == slow_policy::drop_slowest || o.capacity < 64 ? 0 : o.capacity / 64 - 1) {}

    // From the ring data; the table starts on a line pair of the region.
    static constexpr std::uint64_t table_offset_of(const broadcast_options& o) noexcept {
        return detail::round_up(data_offset + o.capacity * slot_size, 2 * ipc::detail::cache_line) - data_offset;
    }
    static constexpr std::uint64_t whole(std::uint64_t seq) noexcept { return 2 * seq + 2; }

    slot_type& at(std::uint64_t i) const noexcept { return reinterpret_cast<slot_type*>(data_)[i & mask_]; }

    // Finds the next message for s: ok with s.next whole in its slot; moves
    // s.next past what was overwritten (adding to `missed` what the
    // subscriber should hear about).
    read_status next_ready(subscriber& s, std::uint64_t& missed) noexcept {
        if (!s.is_subscribed()) return read_status::not_subscribed;
        if (!holds(s)) {
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

    // The tail is stored on a lazy_mask_ boundary here, and by a read that
    // finds nothing new (see "Tails are published lazily" in the class comment).
    void advance(subscriber& s, std::uint64_t to) noexcept {
        s.next = to;
        if ((to & lazy_mask_) == 0) show_tail(s);
    }
    void show_tail(subscriber& s) noexcept {
        s.shown = s.next;
        store_tail(s, s.next);
    }

    std::uint64_t lazy_mask_ = 0;  // a tail is stored at least every lazy_mask_ + 1 messages
};

static_assert(fixed_kind<broadcast<int>>);

}  // namespace ipc::ring
