// ipc/ring/layout.hpp: the self-describing header every shared ring region starts with.
//
// A region is [shared_state<Control>][padding to a cache line][ring data].
// It holds offsets and indices only, never pointers, so each process may map
// it at a different address. format() builds a region in any memory (shared
// mapping, file, heap for tests); attach() checks an existing one and refuses
// another T, layout or a truncated region with a clear error.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <system_error>
#include <type_traits>

#include "../concepts.hpp"
#include "../detail/cpu.hpp"
#include "../detail/peer_table.hpp"
#include "../detail/type_name.hpp"
#include "../eos.hpp"
#include "../error.hpp"
#include "../fwd.hpp"

namespace ipc::ring {

inline constexpr std::uint64_t region_magic = 0x31474e4952435049ULL;  // "IPCRING1" in memory
// 2: a peer table (who uses the region, so the dead can be told from the
// slow) and, in mpmc slots, the word naming a slot's claimant.
// 3: mpmc slots keep lap, phase and claimant in one word; the peer table has
// 128 slots, each with a generation; the header names its creator.
// 4: the default type tag hashes a spelling g++ and clang++ agree on (so a
// region made by a version-3 program would fail the tag check for no reason).
// 5: spsc slots are the bare payload (the indices say which are full); each
// index has a line pair of its own; mpmc control records the delivery
// guarantee and counts redeliveries; the sync area holds the parked bits and
// doorbell names of event loops (detail/doorbell.hpp).
// 6: ring kinds are plug-ins (ring/kind.hpp); the sync area is generic: the
// wait words every waiting policy shares, then a tagged block whose contents
// the policy that first used the region declares (its `shared` struct).
// 7: a ring::bytes record header says whether the record is published (the
// consumer no longer needs the producer's index to tell), and the word after
// the newest record is kept 0.
// 8: an mpmc slot's word is the index it serves next (claims move the shared
// index, as in Vyukov's queue) and the mpmc control holds a line per end
// saying which index it is claiming.
inline constexpr std::uint32_t layout_version = 8;

// Processes (channel ends) the peer table tracks; more still work, they are
// counted as `untracked` and then no peer of theirs is ever declared dead.
inline constexpr std::size_t max_peers = 128;
using peer_table = ipc::detail::peer_table<max_peers>;

// The kind number a region's header records (ring/kind.hpp says how a kind
// plugs in). A new kind takes the next number and a name in kind_name().
enum class kind : std::uint32_t { spsc = 1, mpmc = 2, bytes = 3, broadcast = 4, broadcast_bytes = 5 };

namespace detail {

constexpr std::uint64_t fnv1a(std::string_view s) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

constexpr std::uint64_t round_up(std::uint64_t v, std::uint64_t a) noexcept { return (v + a - 1) / a * a; }
constexpr bool is_pow2(std::uint64_t v) noexcept { return v != 0 && (v & (v - 1)) == 0; }
constexpr std::size_t index(direction d) noexcept { return d == direction::send ? 0 : 1; }

}  // namespace detail

// The name whose hash (FNV-1a, 64 bits) tags a region with its element type.
// The default is T's fully qualified name with its template arguments, as the
// compiler prints it, rewritten into one spelling that g++ and clang++ builds
// share ("std::pair<int,ns::point>", "unsigned long", "(anonymous namespace)::msg":
// see detail/type_name.hpp for the rules and for the few types they cannot
// reconcile). It is a name, not a definition: two programs with different
// `struct msg` of equal size and alignment are not told apart. Specialise it
// with a stable name (and change the name when the type changes) for regions
// shared between independently developed programs:
//   template <> struct ipc::ring::type_name<msg> { static constexpr std::string_view value = "acme.msg.v2"; };
template <class T>
struct type_name {
    static constexpr std::string_view value = ipc::detail::canonical_name_of<T>::value;
};

template <class T>
inline constexpr std::uint64_t type_tag = detail::fnv1a(type_name<T>::value);

// ---- the sync area ---------------------------------------------------------
//
// What sync policies share through the region. The region knows no policy:
// each policy that waits through the region (sync::futex, posix_sem,
// sysv_sem, eventfd, spin) declares what it keeps here (ring::shares_region,
// below: a `shared` struct for the region and a `shared_direction` struct
// per direction), and the first end that uses the region with it sets that
// up and names the policy in the area's tag. An end with another policy is
// refused, naming both (errc::layout_mismatch at its channel's first
// operation): a sleeper of one policy is never woken by a notifier of another.

// A direction's line: where a sender waits for room ([send]) or a receiver
// for data ([recv]). The waiter count is common because every policy that
// sleeps uses it (detail/parking.hpp: announce, re-check, sleep), and the
// region reads it to skip all work when an end leaves with nobody asleep.
// The policy's own per-direction words share its line, so a notifier that
// found a sleeper holds the line it then works on (sync::futex: its futex
// word, armed flag and parked event loops).
struct alignas(ipc::detail::cache_line) wait_slot {
    static constexpr std::size_t policy_size = ipc::detail::cache_line - 8;
    std::atomic<std::uint32_t> waiters;
    alignas(8) std::byte policy[policy_size];  // P::shared_direction
};
static_assert(sizeof(wait_slot) == ipc::detail::cache_line, "a direction's waiting state fits one cache line");

// The policy's region-wide state, and who set it up.
struct alignas(ipc::detail::cache_line) policy_block {
    static constexpr std::size_t size = 512;  // sync::futex needs most: a doorbell name per peer-table slot
    static constexpr std::size_t name_size = 24;
    std::atomic<std::uint64_t> tag;  // 0: none yet; busy_sync_tag while being set up; else the policy's tag
    char name[name_size];            // the policy's name, for the error that names both (untrusted)
    // A System V semaphore set made for this region (id + 1; 0: none), by
    // whichever policy needs one (sync::sysv_sem): its life is the region's,
    // so the region frees it with its last mapping and in remove(), which
    // know no policy (a set is not freed by the kernel when its users exit).
    std::atomic<std::int64_t> sysv_sem_set;
    alignas(ipc::detail::cache_line) std::byte bytes[size];  // P::shared
};

struct sync_area {
    wait_slot dir[2];
    policy_block policy;
    std::atomic<std::uint32_t> attached;  // mappings open on the region (the last one frees sysv_sem_set)
};

// Who is using the ring, per direction: attached count * 2, plus 1 once the
// last one of a side left (so the other side can report status::closed).
struct alignas(ipc::detail::cache_line) membership {
    std::atomic<std::uint32_t> side[2];
    std::atomic<std::uint32_t> untracked;  // ends that found the peer table full
};

struct header {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t kind;
    std::uint64_t capacity;     // slots (or bytes for ring::bytes), a power of two
    std::uint64_t slot_size;    // bytes per slot
    std::uint64_t value_size;   // sizeof(T)
    std::uint64_t value_align;  // alignof(T)
    std::uint64_t type_tag;     // type_tag<T>
    std::uint64_t total_size;   // bytes the region needs
    std::uint64_t data_offset;  // where the ring data starts
    std::int64_t creator_pid;   // who formatted the region (pid and start time: ipc-ls tells if it lives)
    std::uint64_t creator_start_time;
    std::atomic<std::uint32_t> state;  // 0 while being formatted, formatted_state once usable
};
inline constexpr std::uint32_t formatted_state = 0x600d;

template <class Control>
struct shared_state {
    alignas(ipc::detail::cache_line) header hdr;
    sync_area sync;
    membership members;
    peer_table peers;
    Control ctl;
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::uint32_t>::is_always_lock_free,
              "ipc::ring needs address-free atomics to share them between processes");

// A slot of an spsc ring: the payload alone, as in a hand-written ring. The
// indices say which slots hold messages; each side caches the other's index
// and reads it again only when the cache says full (empty), so a stream of
// small messages shares lines instead of moving a turn word with each.
template <class T>
struct slot {
    alignas(T) std::byte value[sizeof(T)];

    T* get() noexcept { return std::launder(reinterpret_cast<T*>(value)); }
};

// An mpmc slot: one word says which index the slot serves and whether it is
// free for it or holds its message (see ring/mpmc.hpp), beside the payload (a
// small message and its word travel in one line). Slots are not padded to a
// line: measured, a line per 8-byte slot cost more in line transfers than
// neighbours sharing one saved.
template <class T>
struct claimed_slot {
    std::atomic<std::uint64_t> state;
    alignas(T) std::byte value[sizeof(T)];

    T* get() noexcept { return std::launder(reinterpret_cast<T*>(value)); }
};

// A claimant as the region records it: its peer-table slot and that slot's
// generation, which names one process for good (a reused pid or table slot
// gets a new generation). Never 0, which means "not recorded" (a process that
// found the table full).
inline constexpr unsigned owner_slot_bits = 7;
static_assert(max_peers <= (1u << owner_slot_bits));
constexpr std::uint32_t owner_word(int peer_slot, std::uint32_t generation) noexcept {
    if (peer_slot < 0 || static_cast<std::size_t>(peer_slot) >= max_peers) return 0;
    constexpr std::uint32_t gens = (1u << (32 - owner_slot_bits)) - 1;  // generations 1..gens
    return ((generation % gens + 1) << owner_slot_bits) | static_cast<std::uint32_t>(peer_slot);
}
// The owner word of whoever holds peer-table slot i now.
inline std::uint32_t owner_word(const peer_table& t, int peer_slot) noexcept {
    if (peer_slot < 0 || static_cast<std::size_t>(peer_slot) >= max_peers) return 0;
    return owner_word(peer_slot, t.slots[peer_slot].generation.load(std::memory_order_acquire));
}

// Whether the claimant named by an owner word may be alive. False only when
// it is certainly gone: its table slot was freed or changed hands, or the
// process died. Wrong answers can only be "alive" (a race with a reap), which
// delays a repair to the next check and never repairs a live claim.
inline bool owner_alive(const peer_table& t, std::uint32_t owner) noexcept {
    if (owner == 0) return true;  // nothing known
    const std::size_t i = owner & ((1u << owner_slot_bits) - 1);
    if (i >= max_peers) return true;
    const std::uint64_t s = t.slots[i].state.load(std::memory_order_acquire);
    if (s == 0 || owner_word(t, static_cast<int>(i)) != owner) return false;
    return t.alive_for(i, s);
}

// Messages between two indices read at different moments (or from an
// untrusted region), clamped to 0..capacity: head read before a busy tail can
// trail it, which is 0.
constexpr std::uint64_t queued(std::uint64_t head, std::uint64_t tail, std::uint64_t capacity) noexcept {
    if (static_cast<std::int64_t>(head - tail) < 0) return 0;
    return head - tail <= capacity ? head - tail : capacity;
}

// What a ring kind is told when this process becomes one of its ends (see
// ring/kind.hpp, join()): its peer-table slot (-1: the table was full) and
// the owner word that names this process for good (0: unknown).
struct end_id {
    int peer_slot = -1;
    std::uint32_t owner = 0;
};

// The per-end state of a kind that keeps none beyond its view (spsc, bytes).
struct no_end_state {};

// Ends per direction a kind allows (ring/kind.hpp, max_ends()): any number.
inline constexpr std::size_t unlimited_ends = static_cast<std::size_t>(-1);

// Name = value pairs ipc-ls shows as they are (a kind's own fields, a row's).
struct described_fields {
    struct field {
        std::string_view name;
        std::string_view text;  // shown when not empty, else number
        std::uint64_t number = 0;
    };
    field fields[12];
    std::size_t field_count = 0;

    void add(std::string_view name, std::uint64_t number) noexcept {
        if (field_count < std::size(fields)) fields[field_count++] = {name, {}, number};
    }
    void add(std::string_view name, std::string_view text) noexcept {
        if (field_count < std::size(fields)) fields[field_count++] = {name, text, 0};
    }
};

// What ipc-ls shows of a ring, filled by its kind's describe() from a region
// mapped read-only (untrusted): the kind's name, what is queued, fields only
// this kind has (mpmc: delivery, redelivered), shown as name=value, and rows
// of a table only this kind has (a broadcast ring: one per subscriber).
// Rows are handed to the caller's on_row as they are read, one at a time, so
// describing allocates nothing and has no cap on rows; with no on_row they
// are only counted.
struct description : described_fields {
    // One row: what it is ("subscriber") and its fields.
    struct row : described_fields {
        std::string_view what;
    };
    using row_sink = void (*)(void* context, const row&) noexcept;

    std::string_view kind;
    std::uint64_t queued = 0;  // messages waiting (ring::bytes: bytes), at most the capacity
    row_sink on_row = nullptr;
    void* row_context = nullptr;
    std::uint64_t rows = 0;  // rows handed out

    void emit(const row& r) noexcept {
        ++rows;
        if (on_row) on_row(row_context, r);
    }
};

// The control block of a region (untrusted bytes), or nullptr if the region
// is too small to hold it.
template <class Control>
const Control* control_in(std::span<const std::byte> region) noexcept {
    if (region.size() < sizeof(shared_state<Control>)) return nullptr;
    return &std::launder(reinterpret_cast<const shared_state<Control>*>(region.data()))->ctl;
}

// What every ring view holds: where the shared state and the data are in this
// process's mapping. Copyable and trivially cheap; owns nothing.
//
// It also gives the defaults of the kind interface (ring/kind.hpp): a kind
// declares only what it does differently.
template <class Control>
class view_base {
public:
    using control = Control;
    // A receiver's end of stream when it chooses none (see ipc/eos.hpp).
    static constexpr eos default_eos = eos::when_all_senders_left;

    static void init_control(Control&) noexcept {}
    static bool check_control(const Control&, std::error_code&) noexcept { return true; }
    // This process became (stopped being) an end in direction d.
    template <class End>
    bool join(direction, End&, const end_id&, std::error_code&) noexcept {
        return true;
    }
    template <class End>
    void leave(direction, End&) noexcept {}
    // Hands back what dead processes left behind; how many things it repaired.
    std::size_t repair() noexcept { return 0; }
    // Whether the message peeked or received last through e had been taken by a consumer that died.
    template <class End>
    bool redelivered(const End&) const noexcept {
        return false;
    }
    // For ipc-ls; a control with a head and a tail (others declare their own).
    static bool describe(std::span<const std::byte> region, const header& h, description& out) noexcept {
        const Control* c = control_in<Control>(region);
        if (!c) return false;
        out.queued = queued(c->head.load(std::memory_order_acquire), c->tail.load(std::memory_order_acquire), h.capacity);
        return true;
    }

    view_base() noexcept = default;
    view_base(shared_state<Control>* st, std::byte* data, std::uint64_t capacity) noexcept
        : st_(st), data_(data), capacity_(capacity), mask_(capacity - 1) {}

    bool valid() const noexcept { return st_ != nullptr; }
    std::uint64_t capacity() const noexcept { return capacity_; }
    sync_area& sync() const noexcept { return st_->sync; }
    membership& members() const noexcept { return st_->members; }
    ring::peer_table& peers() const noexcept { return st_->peers; }
    const header& hdr() const noexcept { return st_->hdr; }

protected:
    shared_state<Control>* st_ = nullptr;
    std::byte* data_ = nullptr;
    std::uint64_t capacity_ = 0;
    std::uint64_t mask_ = 0;  // indices are masked with the capacity this process checked: never out of bounds
};

// Indices of a ring: each side's on its own cache line, and each followed by
// an unused one, so that an adjacent-line prefetcher (which fetches lines in
// 128-byte pairs) never pairs an index with the other index or a slot.
struct alignas(ipc::detail::cache_line) two_indices {
    alignas(ipc::detail::cache_line) std::atomic<std::uint64_t> head;  // next to write
    alignas(ipc::detail::cache_line) std::byte head_gap[ipc::detail::cache_line];
    alignas(ipc::detail::cache_line) std::atomic<std::uint64_t> tail;  // next to read
    alignas(ipc::detail::cache_line) std::byte tail_gap[ipc::detail::cache_line];
};

// A single-producer ring's indices as one end's view keeps them: its own
// (which only it stores, and never loads back from the region: the other
// side reads that line) and a cached copy of the other side's, read again
// only when the cache says full (empty). adopt() takes them from the region,
// when the view is made and whenever this process becomes an end.
struct local_indices {
    std::uint64_t head = 0;         // producer: the next index to write
    std::uint64_t tail = 0;         // consumer: the next index to read
    std::uint64_t cached_tail = 0;  // producer's copy of the consumer's index
    std::uint64_t cached_head = 0;  // consumer's copy of the producer's index

    void adopt(const two_indices& c) noexcept {
        head = cached_head = c.head.load(std::memory_order_acquire);
        tail = cached_tail = c.tail.load(std::memory_order_acquire);
    }
};

// What an mpmc end is claiming, on a line of its own that only it writes
// (ring/mpmc.hpp): the index it is about to take, stored before it moves the
// shared index, so a repair can tell a claim a live end holds from one a dead
// end left. One per peer-table slot: an end's owner word names its line.
// Two lines each, as the indices have (two_indices): an adjacent-line
// prefetcher fetching a neighbour's line would make the two ends of a busy
// pair take each other's lines at every claim.
struct alignas(ipc::detail::cache_line) claim_intent {
    std::atomic<std::uint64_t> claim;   // (index + 1) << 1 | side (1: consumer); 0: none
    std::atomic<std::uint64_t> repair;  // index + 1 of a message a repair is copying; 0: none
    std::atomic<std::uint32_t> owner;   // owner_word of the end writing this line
    alignas(ipc::detail::cache_line) std::byte gap[ipc::detail::cache_line];
};

// The mpmc ring's control: the indices, then (on a line of its own, written
// only by repairs) the delivery guarantee the region was made with and how
// many messages were redelivered, then each end's claim line.
struct alignas(ipc::detail::cache_line) mpmc_control : two_indices {
    alignas(ipc::detail::cache_line) std::atomic<std::uint32_t> delivery;
    std::atomic<std::uint64_t> redelivered;
    claim_intent intents[max_peers];
};

// What the fixed-slot rings (spsc, mpmc) share: their description in the
// header, slot initialisation, readiness checks and batches. Derived is the
// ring (CRTP), for try_push/try_pop.
template <class Derived, class T, kind K, class Control = two_indices>
class fixed_slots : public view_base<Control> {
    static_assert(std::is_trivially_copyable_v<T>, "ipc::ring: slots hold a trivially copyable T (use ring::bytes for others)");
    static_assert(alignof(T) <= ipc::detail::cache_line, "ipc::ring: T may be aligned to a cache line at most");

public:
    using value_type = T;
    static constexpr kind ring_kind = K;
    static constexpr std::uint64_t min_capacity = 2;  // a turn must tell "free" from "full"
    using slot_type = std::conditional_t<K == kind::mpmc, claimed_slot<T>, slot<T>>;
    static constexpr std::uint64_t slot_size = sizeof(slot_type);
    static constexpr std::uint64_t value_size = sizeof(T);
    static constexpr std::uint64_t value_align = alignof(T);
    static constexpr std::uint64_t tag = type_tag<T>;
    static constexpr bool fixed_size = true;  // typed slots: a message is one T

    // An mpmc slot starts free for its index i: a word of i. An spsc slot
    // needs nothing: the indices say.
    static void init_data(std::byte* data, std::uint64_t capacity) noexcept {
        if constexpr (K == kind::mpmc) {
            auto* s = reinterpret_cast<slot_type*>(data);
            for (std::uint64_t i = 0; i < capacity; ++i) new (&s[i].state) std::atomic<std::uint64_t>(i);
        }
    }

    using view_base<Control>::view_base;

    // Pushes as many of vs as fit; returns how many. `who` is the caller's
    // owner_word (mpmc records it in the slots it claims).
    std::size_t push_n(std::span<const T> vs, std::uint32_t who = 0) noexcept {
        std::size_t n = 0;
        while (n < vs.size() && self().try_push(vs[n], who)) ++n;
        return n;
    }
    std::size_t pop_n(std::span<T> out, std::uint32_t who = 0) noexcept {
        std::size_t n = 0;
        while (n < out.size() && self().try_pop(out[n], who)) ++n;
        return n;
    }
    // The message path (ring_region's send_message / recv_message): a
    // message is one T, any other size is errc::bad_message.
    template <class End>
    std::byte* loan_message(std::size_t n, End& e, std::error_code& ec) noexcept {
        if (n != sizeof(T)) {
            ec = make_error_code(errc::bad_message);
            return nullptr;
        }
        return reinterpret_cast<std::byte*>(self().loan(e));
    }
    template <class End>
    void commit_message(std::size_t, End& e) noexcept {
        self().commit(e);
    }
    template <class End>
    std::optional<std::span<const std::byte>> front_message(End& e, std::error_code&) noexcept {
        const T* p = self().front(e);
        if (!p) return std::nullopt;
        return std::span<const std::byte>(reinterpret_cast<const std::byte*>(p), sizeof(T));
    }

    // Messages waiting; exact only when every side is idle.
    std::uint64_t size() const noexcept {
        return queued(st_->ctl.head.load(std::memory_order_acquire), st_->ctl.tail.load(std::memory_order_acquire), capacity_);
    }

protected:
    using view_base<Control>::st_;
    using view_base<Control>::data_;
    using view_base<Control>::capacity_;
    using view_base<Control>::mask_;
    slot_type& at(std::uint64_t i) const noexcept { return reinterpret_cast<slot_type*>(data_)[i & mask_]; }

private:
    Derived& self() noexcept { return static_cast<Derived&>(*this); }
};

template <class Ring>
inline constexpr std::uint64_t data_offset =
    detail::round_up(sizeof(shared_state<typename Ring::control>), ipc::detail::cache_line);

// Bytes a region for Ring with this capacity needs; 0 if the capacity is not
// a power of two at least Ring::min_capacity, or the size would overflow.
template <class Ring>
constexpr std::uint64_t required_size(std::uint64_t capacity) noexcept {
    if (!detail::is_pow2(capacity) || capacity < Ring::min_capacity) return 0;
    constexpr std::uint64_t limit = std::uint64_t{1} << 62;
    if (capacity > (limit - data_offset<Ring>) / Ring::slot_size) return 0;
    return detail::round_up(data_offset<Ring> + capacity * Ring::slot_size, ipc::detail::cache_line);
}

template <class Ring>
inline shared_state<typename Ring::control>* state_of(std::span<std::byte> mem) noexcept {
    return std::launder(reinterpret_cast<shared_state<typename Ring::control>*>(mem.data()));
}

// True once a region has been fully formatted: an opener that races a creator
// waits for this before attach().
inline bool is_formatted(std::span<const std::byte> mem) noexcept {
    if (mem.size() < sizeof(header) + ipc::detail::cache_line) return false;
    auto* h = std::launder(reinterpret_cast<const header*>(mem.data()));
    return h->state.load(std::memory_order_acquire) == formatted_state;
}

// The name of a kind number as a header records it (untrusted: any number).
inline const char* kind_name(std::uint64_t k) noexcept {
    constexpr const char* names[] = {"unknown", "spsc", "mpmc", "bytes", "broadcast", "broadcast_bytes"};
    return k < std::size(names) ? names[k] : "unknown";
}

// errc::limit_exceeded, explained: why required_size<Ring>(capacity) is 0.
template <class Ring>
std::error_code capacity_error(std::uint64_t capacity) noexcept {
    const auto c = static_cast<unsigned long long>(capacity);
    const auto min = static_cast<unsigned long long>(Ring::min_capacity);
    const char* what = Ring::ring_kind == kind::bytes ? "bytes" : "slots";
    const std::error_code ec = make_error_code(errc::limit_exceeded);
    if (!detail::is_pow2(capacity))
        return ipc::detail::explain(ec, "capacity must be a power of two (%s ring: %llu %s given)", kind_name(static_cast<std::uint64_t>(Ring::ring_kind)), c, what);
    if (capacity < Ring::min_capacity)
        return ipc::detail::explain(ec, "capacity %llu %s is below the %s ring's minimum of %llu", c, what, kind_name(static_cast<std::uint64_t>(Ring::ring_kind)), min);
    return ipc::detail::explain(ec, "capacity %llu %s would need a region of 2^62 bytes or more", c, what);
}

// Builds an empty Ring in mem (which must be cache-line aligned and at least
// required_size<Ring>(capacity) bytes). Not safe against concurrent attach:
// attach() refuses a region until its state says formatted.
template <class Ring>
Ring format(std::span<std::byte> mem, std::uint64_t capacity, std::error_code& ec) noexcept {
    const std::uint64_t need = required_size<Ring>(capacity);
    if (need == 0) {
        ec = capacity_error<Ring>(capacity);
        return {};
    }
    if (mem.size() < need || reinterpret_cast<std::uintptr_t>(mem.data()) % ipc::detail::cache_line != 0) {
        ec = make_error_code(errc::corrupt);
        return {};
    }
    auto* st = new (mem.data()) shared_state<typename Ring::control>{};
    header& h = st->hdr;
    h.magic = region_magic;
    h.version = layout_version;
    h.kind = static_cast<std::uint32_t>(Ring::ring_kind);
    h.capacity = capacity;
    h.slot_size = Ring::slot_size;
    h.value_size = Ring::value_size;
    h.value_align = Ring::value_align;
    h.type_tag = Ring::tag;
    h.total_size = need;
    h.data_offset = data_offset<Ring>;
    const auto me = ipc::detail::self_identity();
    h.creator_pid = me.pid;
    h.creator_start_time = me.start_time;
    std::byte* data = mem.data() + data_offset<Ring>;
    Ring::init_data(data, capacity);
    Ring::init_control(st->ctl);
    h.state.store(formatted_state, std::memory_order_release);
    return Ring(st, data, capacity);
}

// Checks a formatted region and returns a Ring working on it. The header is
// compared with what this program's Ring expects; sizes come from the header
// only after they are checked against mem.size(), so a lying header cannot
// make the ring reach outside mem.
template <class Ring>
Ring attach(std::span<std::byte> mem, std::error_code& ec) noexcept {
    using ull = unsigned long long;
    const std::error_code corrupt = make_error_code(errc::corrupt);
    if (!is_formatted(mem)) {
        ec = ipc::detail::explain(corrupt, "the region (%llu bytes) holds no formatted ring header", static_cast<ull>(mem.size()));
        return {};
    }
    auto* st = state_of<Ring>(mem);
    const header& h = st->hdr;
    if (h.magic != region_magic) {
        ec = ipc::detail::explain(corrupt, "the region does not start with ipc's ring magic number (found %#llx)", static_cast<ull>(h.magic));
        return {};
    }
    // The first field that differs, with what the region holds and what this program expects.
    const auto mismatch = [&](const char* field, std::uint64_t found, std::uint64_t expected) {
        ec = ipc::detail::explain(make_error_code(errc::layout_mismatch), "%s differs: the region has %llu, this program expects %llu", field,
                                  static_cast<ull>(found), static_cast<ull>(expected));
        return Ring{};
    };
    if (h.version != layout_version) return mismatch("layout version", h.version, layout_version);
    if (h.kind != static_cast<std::uint32_t>(Ring::ring_kind)) {
        ec = ipc::detail::explain(make_error_code(errc::layout_mismatch), "ring kind differs: the region is a %s ring, this program expects %s",
                                  kind_name(h.kind), kind_name(static_cast<std::uint64_t>(Ring::ring_kind)));
        return {};
    }
    if (h.value_size != Ring::value_size) return mismatch("sizeof(T)", h.value_size, Ring::value_size);
    if (h.value_align != Ring::value_align) return mismatch("alignof(T)", h.value_align, Ring::value_align);
    if (h.type_tag != Ring::tag) {
        ec = ipc::detail::explain(make_error_code(errc::layout_mismatch),
                                  "type tag differs: the region has %#llx, this program expects %#llx (another T of the same size, or "
                                  "another compiler's default ipc::ring::type_name)",
                                  static_cast<ull>(h.type_tag), static_cast<ull>(Ring::tag));
        return {};
    }
    if (h.slot_size != Ring::slot_size) return mismatch("slot size", h.slot_size, Ring::slot_size);
    // The header said which ring this is; only now may the kind's control be read.
    if (mem.size() < data_offset<Ring>) {
        ec = ipc::detail::explain(corrupt, "the region (%llu bytes) is shorter than a %s ring's control (%llu bytes)",
                                  static_cast<ull>(mem.size()), kind_name(h.kind), static_cast<ull>(data_offset<Ring>));
        return {};
    }
    // What the ring keeps in its control beyond the indices (mpmc: the delivery guarantee).
    if (!Ring::check_control(st->ctl, ec)) return {};
    if (h.data_offset != data_offset<Ring>) return mismatch("data offset", h.data_offset, data_offset<Ring>);
    const std::uint64_t need = required_size<Ring>(h.capacity);
    if (need == 0 || h.total_size != need || mem.size() < need) {
        ec = ipc::detail::explain(corrupt, "the header's capacity %llu and size %llu do not fit the region's %llu bytes",
                                  static_cast<ull>(h.capacity), static_cast<ull>(h.total_size), static_cast<ull>(mem.size()));
        return {};
    }
    return Ring(st, mem.data() + data_offset<Ring>, h.capacity);
}

}  // namespace ipc::ring
