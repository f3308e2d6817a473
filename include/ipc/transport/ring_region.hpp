// ipc/transport/ring_region.hpp: a ring in a mapped region, as a memory transport.
//
// ring_region<Ring> is what every shared-memory transport is: a mapping, a
// ring view on it, and the bookkeeping of who sends and who receives (so a
// receiver learns when the last sender left, if it takes that as the end of
// the stream: see end_of_stream()). named_region<Ring, Backing> adds
// create / open / open_or_create and remove(name) factories over a
// Backing (POSIX shm, System V shm, a file). Waiting is the sync policy's job:
// every operation here is nonblocking.
#pragma once

#include <sys/sem.h>

#include <cstdio>
#include <optional>
#include <string_view>

#include "../codec.hpp"
#include "../concepts.hpp"
#include "../detail/chrono.hpp"
#include "../detail/name.hpp"
#include "../detail/region.hpp"
#include "../detail/sleep.hpp"
#include "../eos.hpp"
#include "../open_mode.hpp"
#include "../ring/bytes.hpp"
#include "../ring/kind.hpp"
#include "../ring/layout.hpp"
#include "../ring/mpmc.hpp"
#include "../ring/spsc.hpp"
#include "../ring/sync_shared.hpp"
#include "../sync/region_policies.hpp"

namespace ipc::detail {
// The System V semaphore set a policy made for this region (sync::sysv_sem),
// freed with the region's last mapping (or by remove()).
inline void free_sysv_sem(ring::sync_area& s) noexcept {
    if (std::int64_t id = s.policy.sysv_sem_set.exchange(0); id > 0) ::semctl(static_cast<int>(id - 1), 0, IPC_RMID);
}
}  // namespace ipc::detail

namespace ipc::transport {

// Ring is any ring kind (ring/kind.hpp): everything here goes through that
// interface, so a new kind needs no change in this file.
template <class Ring>
class ring_region {
    static_assert(ring::any_kind<Ring>, "ring_region<Ring>: Ring must be a ring kind (see ipc/ring/kind.hpp)");
    static constexpr unsigned role_bit(direction d) noexcept { return d == direction::send ? 1u : 2u; }
    static constexpr direction other(direction d) noexcept { return d == direction::send ? direction::recv : direction::send; }
    using end_state = typename Ring::end_state;
    static constexpr std::size_t send_i = 0, recv_i = 1;  // ring::detail::index(direction)

public:
    using ring_type = Ring;
    using value_type = typename Ring::value_type;
    static constexpr bool fixed_size = Ring::fixed_size;

    ring_region() noexcept = default;
    // Adopts a mapping holding a checked ring (see ring::format / ring::attach).
    ring_region(ipc::detail::mapping m, Ring r) noexcept : map_(std::move(m)), ring_(r) {
        ipc::detail::watch_forks();
        if (ring_.valid()) ring_.sync().attached.fetch_add(1, std::memory_order_acq_rel);
    }
    ring_region(ring_region&& o) noexcept
        : map_(std::move(o.map_)), ring_(std::exchange(o.ring_, Ring{})), roles_(std::exchange(o.roles_, 0u)), epoch_(o.epoch_),
          send_closed_(o.send_closed_), eos_(o.eos_), end_{o.end_[0], o.end_[1]}, peer_slot_{o.peer_slot_[0], o.peer_slot_[1]},
          check_interval_(o.check_interval_), sync_(o.sync_) {}
    ring_region& operator=(ring_region&& o) noexcept {
        if (this != &o) {
            close();
            map_ = std::move(o.map_);
            ring_ = std::exchange(o.ring_, Ring{});
            roles_ = std::exchange(o.roles_, 0u);
            send_closed_ = o.send_closed_;
            for (std::size_t i = 0; i < 2; ++i) {
                end_[i] = o.end_[i];
                peer_slot_[i] = o.peer_slot_[i];
            }
            check_interval_ = o.check_interval_;
            epoch_ = o.epoch_;
            eos_ = o.eos_;
            sync_ = o.sync_;
        }
        return *this;
    }
    ring_region(const ring_region&) = delete;
    ring_region& operator=(const ring_region&) = delete;
    ~ring_region() { close(); }

    bool is_open() const noexcept { return ring_.valid(); }
    std::uint64_t capacity() const noexcept { return ring_.capacity(); }
    Ring& ring() noexcept { return ring_; }

    // Leaves (see leave()) and unmaps. The last mapping of a region also frees
    // the semaphore set sync::sysv_sem may have made for it.
    void close() noexcept {
        if (!ring_.valid()) return;
        adopt_after_fork();
        leave();
        if (ring_.sync().attached.fetch_sub(1, std::memory_order_acq_rel) == 1) ipc::detail::free_sysv_sem(ring_.sync());
        ring_ = Ring{};
        map_.reset();
    }

    // The sync policy this end waits with (ipc::channel tells its transport):
    // attaching binds the region to it (ring/sync_shared.hpp: the first end
    // sets its shared state up, an end of another policy is refused with
    // errc::layout_mismatch), and an end that leaves or is reaped wakes the
    // other side's sleepers through it.
    template <class P>
    void use_sync() noexcept {
        if constexpr (ring::shares_region<P>) {
            sync_ = &ring::binding_of<P>;
            // An end that attached before it had a policy binds now, before
            // it waits or notifies. If the region waits with another policy
            // it leaves (waking through the region's own policy, found by its
            // tag), and its next operation attaches again and says why.
            std::error_code ec;
            if (roles_ && ring_.valid() && !ring::bind_sync(ring_.sync(), *sync_, ec)) {
                sync_ = nullptr;
                leave();
                sync_ = &ring::binding_of<P>;
            }
        }
    }

    // ---- membership ----------------------------------------------------

    // Counts this process as a sender or receiver. The first send or receive
    // does it by itself; call it earlier so the peer can tell that a receiver
    // which never received has left.
    //
    // It also claims a slot in the region's peer table (so that peers can
    // tell if this process dies) and reaps the slots of dead processes in the
    // same role: a restarted process replaces the dead one, which then counts
    // as having left. (Dead peers of the other role stay, so this process
    // learns of them as status::peer_dead, not as closed.) Then the ring kind
    // takes this end in (Ring::join: an mpmc ring repairs what the dead held,
    // an spsc ring carries on from the region's indices).
    //
    // A kind that allows one end per direction (spsc, bytes; Ring::max_ends)
    // refuses a second live one with errc::in_use (a dead one is replaced):
    // it would corrupt the ring. Two that attach at the same instant may both
    // be refused.
    bool attach(direction d, std::error_code& ec) noexcept {
        if (!ring_.valid()) {  // closed, moved from or never opened
            ec = make_error_code(errc::not_connected);
            return false;
        }
        adopt_after_fork();
        if (roles_ & role_bit(d)) return true;
        if (sync_ && !ring::bind_sync(ring_.sync(), *sync_, ec)) return false;
        roles_ |= role_bit(d);
        const auto i = ring::detail::index(d);
        auto& side = ring_.members().side[i];
        std::uint32_t v = side.load(std::memory_order_relaxed);
        while (!side.compare_exchange_weak(v, (v & ~1u) + 2, std::memory_order_seq_cst)) {}
        // Counted before the dead are reaped, so the side never looks gone in
        // between; reaped before joining, so a full table makes room for us.
        // (The table's own reaping would free slots without uncounting them.)
        reap_dead(d);
        const auto role = role_of(d);
        peer_slot_[i] = ring_.peers().join(role, false);
        if (peer_slot_[i] < 0) ring_.members().untracked.fetch_add(1, std::memory_order_acq_rel);
        const std::size_t most = Ring::max_ends(d);
        if (peer_slot_[i] >= 0 && most != ring::unlimited_ends && ring_.peers().count(role).alive > most) {
            leave_side(d);
            ec = ipc::detail::explain(make_error_code(errc::in_use), "the %s ring allows %zu live %s%s, and has that many already",
                                      ring::kind_name(static_cast<std::uint64_t>(Ring::ring_kind)), most,
                                      d == direction::send ? "sender" : "receiver", most == 1 ? "" : "s");
            return false;
        }
        end_[i] = end_state{};
        if (!ring_.join(d, end_[i], ring::end_id{peer_slot_[i], ring::owner_word(ring_.peers(), peer_slot_[i])}, ec)) {
            leave_side(d, false);
            return false;
        }
        return true;
    }
    void attach(direction d) {
        std::error_code ec;
        if (!attach(d, ec)) throw std::system_error(ec, d == direction::send ? "ipc: attach as sender" : "ipc: attach as receiver");
    }
    // Stops counting this process; when the last sender (receiver) leaves,
    // receivers (senders) see status::closed once the ring is empty (full;
    // receivers that chose eos::never do not), and parked waiters are woken. Returns the directions it left, so
    // a channel can also wake waiters of its own sync policy.
    unsigned leave() noexcept {
        adopt_after_fork();
        const unsigned had = roles_;
        for (direction d : {direction::send, direction::recv})
            if (had & role_bit(d)) leave_side(d);
        return had;
    }
    static constexpr unsigned role(direction d) noexcept { return role_bit(d); }

    // ---- end of stream ------------------------------------------------------

    // What this end, as a receiver, takes as the end of the stream (see
    // ipc/eos.hpp); the default is the kind's (Ring::default_eos):
    // when_all_senders_left for spsc and byte rings, never for mpmc rings,
    // whose producers come and go.
    void end_of_stream(eos e) noexcept { eos_ = e; }
    eos end_of_stream() const noexcept { return eos_; }

    // ---- peers that die --------------------------------------------------
    //
    // A process killed without leaving never wakes anyone. So a waiting
    // channel wakes every peer_check_interval() on its own and calls
    // check_peers(): it repairs what dead processes left in the ring
    // (Ring::repair), and reports errc::peer_dead when the operation can never complete
    // because every peer on the other side is dead (not merely stopped: a
    // SIGSTOPped process is alive). Nothing of this runs on the hot path.

    std::chrono::nanoseconds peer_check_interval() const noexcept { return check_interval_; }
    void peer_check_interval(std::chrono::nanoseconds d) noexcept { check_interval_ = d; }

    // errc::peer_dead, or no error (then retry: the ring may have become ready).
    // A receiver under eos::never is never told: another sender may come.
    // A kind that tracks its ends itself (ring::broadcast: the publisher's
    // identity in its control) says whether the other side is dead
    // (Ring::others_dead), whatever the eos and the peer table.
    std::error_code check_peers(direction d) noexcept {
        ring_.repair();
        if (ready(d)) return {};
        if constexpr (requires { ring_.others_dead(d); })
            return ring_.others_dead(d) ? make_error_code(errc::peer_dead) : std::error_code{};
        if (!all_dead(other(d))) return {};
        if (d == direction::recv && eos_ == eos::never) return {};
        return make_error_code(errc::peer_dead);
    }
    // Every end of side d left (it had one once): to the other side, closed
    // (a receiver's closed also depends on end_of_stream()). ipc::poller reads it.
    bool gone(direction d) const noexcept {
        return ring_.members().side[ring::detail::index(d)].load(std::memory_order_seq_cst) & 1u;
    }
    // True if the side has ends in the peer table and all of them are dead.
    bool all_dead(direction side) const noexcept {
        if (ring_.members().untracked.load(std::memory_order_acquire) != 0) return false;
        const auto c = ring_.peers().count(role_of(side));
        return c.alive == 0 && c.dead > 0;
    }

    // ---- the memory-transport interface (ipc::transport::memory_transport)

    // An operation in direction d would not block (or would report closed).
    bool ready(direction d) const noexcept {
        if (d == direction::send) return ring_.can_push(end_[send_i]) || gone(direction::recv);
        return ring_.can_pop(end_[recv_i]) || senders_ended();
    }
    std::atomic<std::uint32_t>& waiters(direction d) noexcept { return ring_.sync().dir[ring::detail::index(d)].waiters; }
    ring::sync_area& sync_area() noexcept { return ring_.sync(); }

    // For event loops (sync::futex's pollable half): this end's peer-table
    // slot in direction d, under which it publishes its doorbell, attaching
    // as that end first. -1 with ec if it cannot attach (errc::in_use) or the
    // peer table was full when it did (errc::limit_exceeded: nowhere to
    // publish a name).
    int doorbell_slot(direction d, std::error_code& ec) noexcept {
        if (!enter(d, ec)) return -1;
        const int slot = peer_slot_[ring::detail::index(d)];
        if (slot < 0)
            ec = ipc::detail::explain(make_error_code(errc::limit_exceeded),
                                      "the region's peer table (%zu ends) was full when this end attached: an event "
                                      "loop cannot publish its doorbell", ring::max_peers);
        return slot;
    }

    // ---- messages as bytes (ipc::transport::message_reader / _writer) ---

    bool send_message(std::span<const std::byte> msg, io_mode, std::error_code& ec) noexcept {
        if (!enter(direction::send, ec)) return {};
        if (send_closed(ec)) return {};
        std::byte* p = ring_.loan_message(msg.size(), end_[send_i], ec);
        if (!p) return ec ? false : full(ec);
        if (!msg.empty()) std::memcpy(p, msg.data(), msg.size());
        ring_.commit_message(msg.size(), end_[send_i]);
        return true;
    }

    // A message larger than buf is dropped and reported as errc::message_too_large.
    // (Copies of a message written over while they were made are discarded
    // here and below: the kind counted them as missed; see ring/kind.hpp.)
    std::size_t recv_message(std::span<std::byte> buf, io_mode, std::error_code& ec) noexcept {
        if (!enter(direction::recv, ec)) return {};
        for (std::uint64_t tries = 0; tries < ring_.capacity(); ++tries) {
            auto m = ring_.front_message(end_[recv_i], ec);
            if (!m) break;
            const std::size_t n = m->size();
            const bool fits = n <= buf.size();
            if (fits && n) std::memcpy(buf.data(), m->data(), n);
            if (!ring_.release(end_[recv_i])) continue;
            if (!fits) ec = make_error_code(errc::message_too_large);
            return fits ? n : 0;
        }
        if (!ec) empty(ec);
        return 0;
    }

    // ---- typed fast path (ipc::transport::value_writer / value_reader) --

    // The common case of try_send_value / try_recv_value, for the channel to
    // inline ahead of them: false means "not now" (full, empty, closed, a
    // first use, a torn copy) and the channel takes the full path, which
    // waits or says why. Nothing is stored but the message and the ring's
    // index: a producer's stores wait in line behind the ring's cache-line
    // transfers, so each further store (an error code, a call's return
    // address, a saved register) holds up the next message (measured: at
    // 64 B the channel moved 1.6-1.8x the messages per second once its send
    // stopped making them).
    bool try_send_quick(const value_type& v) noexcept requires fixed_size {
        if (!entered(direction::send) || send_closed_) return false;
        value_type* p = ring_.loan(end_[send_i]);
        if (!p) return false;
        std::memcpy(static_cast<void*>(p), &v, sizeof(value_type));
        ring_.commit(end_[send_i]);
        return true;
    }
    bool try_recv_quick(value_type& out) noexcept requires fixed_size {
        if (!entered(direction::recv)) return false;
        const value_type* p = ring_.front(end_[recv_i]);
        if (!p) return false;
        std::memcpy(static_cast<void*>(&out), p, sizeof(value_type));
        return ring_.release(end_[recv_i]);
    }
    // Bytes of messages this receiver knows are unread (look: after reading
    // the sender's index again); the most there is if it is not attached as
    // a receiver yet (nothing to hold back for). For sync::spin's hold_back.
    [[gnu::always_inline]] std::uint64_t unread_bytes(bool look) noexcept
        requires requires(Ring& r, end_state& e) { r.unread_now(e); r.unread_known(e); } {
        if (!entered(direction::recv)) return UINT64_MAX;
        const std::uint64_t n = look ? ring_.unread_now(end_[recv_i]) : ring_.unread_known(end_[recv_i]);
        if constexpr (fixed_size) return n * sizeof(value_type);
        else return n;
    }
    // The same for zero copy: a slot to fill, or the oldest message in place.
    value_type* try_loan_quick() noexcept requires fixed_size {
        return entered(direction::send) && !send_closed_ ? ring_.loan(end_[send_i]) : nullptr;
    }
    const value_type* try_peek_quick() noexcept requires fixed_size {
        return entered(direction::recv) ? ring_.front(end_[recv_i]) : nullptr;
    }
    // Record rings whose kind copies a common message inlined (ring::bytes:
    // a small record that fits by its cached tail, or a large one): a
    // contiguous codec's bytes straight into a record, the same contract.
    // The kind declines the rest, which the full path sends or reports.
    template <class V>
    [[gnu::always_inline]] bool try_send_quick(const V& v) noexcept
        requires(!fixed_size && contiguous_codec<V> && noexcept(codec<V>::bytes(v)) &&
                 requires(Ring& r, std::span<const std::byte> m, end_state& e) { r.try_push_quick(m, e); }) {
        if (!entered(direction::send) || send_closed_) return false;
        return ring_.try_push_quick(codec<V>::bytes(v), end_[send_i]);
    }
    // And the whole record decoded straight out of the ring. Anything but "a
    // record is there and decodes" (empty, corrupt, decode says no, a copy
    // written over while read) leaves the record where it is and declines:
    // the full path finds it again and says why. Only codecs that cannot
    // throw on what they read decode here (noexcept, or a byte container
    // filled through writable, which can only fail to allocate): a broadcast
    // record may be written over while it is read, and a codec throwing on
    // those torn bytes would report a message the ring counts as missed; the
    // full path decodes a copy it has checked. Both are inlined whole: a call
    // here cost the record channel about a quarter of its rate (its saved
    // registers and return address are stores behind the line transfers).
    template <class V>
    [[gnu::always_inline]] bool try_recv_quick(V& out) noexcept(noexcept(decode_quick(std::span<const std::byte>{}, out)))
        requires(!fixed_size && contiguous_codec<V> && decodable<V> &&
                 (writable_codec<V> || noexcept(codec<V>::decode(std::span<const std::byte>{}, out))) &&
                 requires(Ring& r, end_state& e, std::error_code& ec) { r.front(e, ec); r.release(e); }) {
        if (!entered(direction::recv)) return false;
        std::error_code ignored;  // told again by the full path
        const auto m = ring_.front(end_[recv_i], ignored);
        if (!m || !decode_quick(*m, out)) return false;
        return ring_.release(end_[recv_i]);
    }
    // Fixed rings: one compile-time-sized copy straight into the slot.
    bool try_send_value(const value_type& v, std::error_code& ec) noexcept requires fixed_size {
        if (!enter(direction::send, ec)) return {};
        if (send_closed(ec)) return {};
        if (value_type* p = ring_.loan(end_[send_i])) {
            std::memcpy(static_cast<void*>(p), &v, sizeof(value_type));
            ring_.commit(end_[send_i]);
            return true;
        }
        return full(ec);
    }
    bool try_recv_value(value_type& out, std::error_code& ec) noexcept requires fixed_size {
        if (!enter(direction::recv, ec)) return {};
        for (std::uint64_t tries = 0; tries < ring_.capacity(); ++tries) {
            const value_type* p = ring_.front(end_[recv_i]);
            if (!p) break;
            std::memcpy(static_cast<void*>(&out), p, sizeof(value_type));
            if (ring_.release(end_[recv_i])) [[likely]]
                return true;
        }
        return empty(ec);
    }
    // Record rings: any codec type is encoded straight into the record and
    // decoded straight out of it (no staging buffer).
    template <class V>
    bool try_send_value(const V& v, std::error_code& ec) requires(!fixed_size && encodable<V>) {
        if (!enter(direction::send, ec)) return {};
        if (send_closed(ec)) return {};
        const std::size_t n = encoded_size(v);
        std::byte* p = ring_.loan(n, end_[send_i], ec);
        if (!p) return ec ? false : full(ec);
        if constexpr (contiguous_codec<V>) {
            if (n) std::memcpy(p, codec<V>::bytes(v).data(), n);
        } else {
            codec<V>::encode(v, std::span<std::byte>(p, n));
        }
        ring_.commit(n, end_[send_i]);
        return true;
    }
    template <class V>
    bool try_recv_value(V& out, std::error_code& ec) requires(!fixed_size && decodable<V>) {
        if (!enter(direction::recv, ec)) return {};
        for (std::uint64_t tries = 0; tries < ring_.capacity(); ++tries) {
            auto m = ring_.front(end_[recv_i], ec);
            if (!m) break;
            const bool ok = codec<V>::decode(*m, out);
            if (!ring_.release(end_[recv_i])) continue;
            if (!ok) ec = make_error_code(errc::bad_message);
            return ok;
        }
        return ec ? false : empty(ec);
    }

    // ---- zero copy: loan/commit, peek/release ---------------------------

    // A slot to construct the next message in (nullptr: would_block or
    // closed, see ec); nothing is sent until commit().
    value_type* try_loan(std::error_code& ec) noexcept requires fixed_size {
        if (!enter(direction::send, ec)) return {};
        if (send_closed(ec)) return {};
        if (value_type* p = ring_.loan(end_[send_i])) return p;
        full(ec);
        return nullptr;
    }
    // Room for an n-byte record (record rings); commit(used) sends its first
    // `used` bytes. n over max_record() is errc::message_too_large, in words
    // naming both (explained here for every record kind alike).
    std::byte* try_loan(std::size_t n, std::error_code& ec) noexcept requires(!fixed_size) {
        if (!enter(direction::send, ec)) return {};
        if (send_closed(ec)) return {};
        if (std::byte* p = ring_.loan(n, end_[send_i], ec)) return p;
        if (!ec) full(ec);
        else if (ec == errc::message_too_large)
            ec = ipc::detail::explain(ec, "a record of %zu bytes is over the %s ring's limit of %zu bytes (for a capacity of %llu bytes)", n, ring::kind_name(static_cast<std::uint64_t>(Ring::ring_kind)), max_record(),
                                      static_cast<unsigned long long>(ring_.capacity()));
        return nullptr;
    }
    void commit() noexcept requires fixed_size { ring_.commit(end_[send_i]); }
    void commit(std::size_t used) noexcept requires(!fixed_size) { ring_.commit(used, end_[send_i]); }
    // Drops the loaned slot unsent (mpmc: a hole the next consumer frees, see ring::mpmc::cancel).
    void cancel_loan() noexcept requires fixed_size { ring_.cancel(end_[send_i]); }
    // Drops a loaned record unsent: nothing of it is visible (a record ring
    // publishes only on commit); a kind that keeps loan state forgets it.
    void cancel_loan() noexcept requires(!fixed_size) {
        if constexpr (requires { ring_.cancel(end_[send_i]); }) ring_.cancel(end_[send_i]);
    }
    // The largest record a loan may ask for (record rings).
    std::size_t max_record() const noexcept requires(!fixed_size) { return ring_.max_record(); }

    // The oldest message in place (nullptr: would_block or closed, see ec);
    // it stays in the ring until release().
    const value_type* try_peek(std::error_code& ec) noexcept requires fixed_size {
        if (!enter(direction::recv, ec)) return {};
        if (const value_type* p = ring_.front(end_[recv_i])) return p;
        empty(ec);
        return nullptr;
    }
    std::optional<std::span<const std::byte>> try_peek(std::error_code& ec) noexcept requires(!fixed_size) {
        if (!enter(direction::recv, ec)) return {};
        auto m = ring_.front(end_[recv_i], ec);
        if (!m && !ec) empty(ec);
        return m;
    }
    // Whether the message received (recv, not recv_n) or peeked last had been
    // claimed before by a consumer that died (an mpmc ring with
    // delivery::at_least_once): it may have been acted on already, and it may
    // come after later messages of its producer.
    bool redelivered() const noexcept { return ring_.redelivered(end_[recv_i]); }
    // The ring kind's state of this end in direction d (ring/kind.hpp), for
    // what only that kind reports (a receiver's cursor, how many it missed).
    const end_state& end(direction d) const noexcept { return end_[ring::detail::index(d)]; }
    // Messages this receiver missed (ring::broadcast: lapped under
    // slow_policy::overwrite, or lost when it was dropped).
    std::uint64_t missed() const noexcept requires requires(const end_state& e) { Ring::missed(e); } {
        return Ring::missed(end_[recv_i]);
    }
    // Ends an in-place read: false if the message was written over while it
    // was read (ring::broadcast under overwrite, or once dropped): what was
    // read must be discarded (it counts as missed).
    bool release() noexcept { return ring_.release(end_[recv_i]); }

    // ---- batches ----------------------------------------------------------

    // Sends up to vs.size() messages, as many as fit; 0 sets ec (would_block / peer_closed).
    std::size_t try_send_n(std::span<const value_type> vs, std::error_code& ec) noexcept requires fixed_size {
        if (!enter(direction::send, ec)) return {};
        if (send_closed(ec)) return {};
        std::size_t n = ring_.push_n(vs, end_[send_i]);
        if (n == 0 && !vs.empty()) full(ec);
        return n;
    }
    std::size_t try_recv_n(std::span<value_type> out, std::error_code& ec) noexcept requires fixed_size {
        if (!enter(direction::recv, ec)) return {};
        std::size_t n = ring_.pop_n(out, end_[recv_i]);
        if (n == 0 && !out.empty()) empty(ec);
        return n;
    }

private:
    // A record decoded for try_recv_quick. A codec whose decode may throw and
    // that lends out's storage (a byte container: writable) is filled with
    // the ring's inlined copy, not a call to assign and memmove; a 0-byte
    // record, or a size writable cannot give, is the codec's decode.
    template <class V>
    // (noexcept as decode: writable is used only where decode may throw.)
    [[gnu::always_inline]] static bool decode_quick(std::span<const std::byte> in, V& out) noexcept(noexcept(codec<V>::decode(in, out))) {
        if constexpr (writable_codec<V> && !noexcept(codec<V>::decode(in, out))) {
            if (!in.empty()) {
                const std::span<std::byte> to = codec<V>::writable(out, in.size());
                if (to.size() != in.size()) return false;
                ring::detail::copy_payload(to.data(), in.data(), in.size());
                return true;
            }
        }
        return codec<V>::decode(in, out);
    }
    static ipc::detail::peer_role role_of(direction d) noexcept {
        return d == direction::send ? ipc::detail::peer_role::sender : ipc::detail::peer_role::receiver;
    }
    // joined: the kind took this end in (Ring::join succeeded), so it is told it leaves.
    void leave_side(direction d, bool joined = true) noexcept {
        const auto i = ring::detail::index(d);
        if (joined) ring_.leave(d, end_[i]);
        end_[i] = end_state{};
        if (auto* b = binding()) b->forget_end(ring_.sync(), d, peer_slot_[i]);
        if (peer_slot_[i] >= 0) ring_.peers().leave(peer_slot_[i]);
        else ring_.members().untracked.fetch_sub(1, std::memory_order_acq_rel);
        peer_slot_[i] = -1;
        roles_ &= ~role_bit(d);
        drop(d);
    }
    // One end of side d is gone: the side is gone with its last end.
    void drop(direction d) noexcept {
        auto& side = ring_.members().side[ring::detail::index(d)];
        std::uint32_t v = side.load(std::memory_order_relaxed);
        while (!side.compare_exchange_weak(v, v >= 4 ? v - 2 : 1u, std::memory_order_seq_cst)) {}
        wake_sleepers(other(d));
    }
    // Frees the peer-table slots of dead processes in direction d, each
    // counting as an end that left. (A dead process's waiter counts stay:
    // they only cost a notifier a needless wake-up call, see detail::parking.)
    void reap_dead(direction d) noexcept {
        auto& t = ring_.peers();
        const auto role = static_cast<std::uint32_t>(role_of(d));
        for (std::size_t i = 0; i < ring::max_peers; ++i) {
            std::uint64_t s = t.slots[i].state.load(std::memory_order_acquire);
            if (s == 0 || t.slots[i].role.load(std::memory_order_relaxed) != role || t.owner_alive(i)) continue;
            // What the policy kept for it first (sync::futex: its doorbell,
            // which could name a socket reused since): once the slot is free,
            // a newcomer may publish its own there. (A race with a second
            // reaper costs a newcomer one wake-up, until its peer check looks
            // at the ring.)
            if (auto* b = binding()) b->forget_end(ring_.sync(), d, static_cast<int>(i));
            if (t.slots[i].state.compare_exchange_strong(s, 0, std::memory_order_acq_rel)) drop(d);
        }
    }
    // This process is the end in direction d already (and not a forked copy).
    bool entered(direction d) const noexcept { return (roles_ & role_bit(d)) && epoch_ == ipc::detail::fork_epoch(); }
    bool enter(direction d, std::error_code& ec) noexcept {
        if (entered(d)) [[likely]]
            return true;
        return attach(d, ec);
    }
    // A forked child using an inherited copy is not the process the peer
    // table, the side counts and the mapping count know: it registers as
    // itself (leaving the parent's registrations to the parent), so the
    // parent's death is not taken for the child's, nor the other way round.
    void adopt_after_fork() noexcept {
        const std::uint32_t now = ipc::detail::fork_epoch();
        if (epoch_ == now) [[likely]]
            return;
        epoch_ = now;
        if (!ring_.valid()) return;
        ring_.sync().attached.fetch_add(1, std::memory_order_acq_rel);
        roles_ = 0;
        send_closed_ = false;
        peer_slot_[0] = peer_slot_[1] = -1;
        end_[0] = end_[1] = end_state{};
    }
    // Once a send has seen every receiver gone, later sends say so too (even
    // a smaller record that would fit), until a receiver attaches again.
    bool send_closed(std::error_code& ec) noexcept {
        if (!send_closed_) [[likely]]
            return false;
        if (!gone(direction::recv)) return send_closed_ = false;
        ec = make_error_code(errc::peer_closed);
        return true;
    }
    // Every sender left, and this receiver takes that as the end (eos_).
    bool senders_ended() const noexcept { return eos_ == eos::when_all_senders_left && gone(direction::send); }
    // Nothing to receive: closed if the senders ended and the ring is still
    // empty. (A ring may hide messages behind what a dead process left, as an
    // mpmc producer that died claiming a slot: with every sender gone, that
    // is repaired first.)
    bool empty(std::error_code& ec) noexcept {
        // What the kind has to tell this receiver first (ring::broadcast: it was dropped).
        if constexpr (requires { ring_.news(end_[recv_i]); }) {
            if (auto news = ring_.news(end_[recv_i])) {
                ec = news;
                return false;
            }
        }
        bool closed = senders_ended() && !ring_.can_pop(end_[recv_i]);
        if (closed && ring_.repair() != 0) closed = false;
        ec = make_error_code(closed ? errc::peer_closed : errc::would_block);
        return false;
    }
    // No room: closed if every receiver left (nobody will ever make room).
    bool full(std::error_code& ec) noexcept {
        send_closed_ = gone(direction::recv) && !ring_.can_push(end_[send_i]);
        ec = make_error_code(send_closed_ ? errc::peer_closed : errc::would_block);
        return false;
    }
    // Wakes whoever sleeps in direction d, through the policy this end was
    // given (use_sync: the futex word and parked event loops, the POSIX
    // semaphore, the System V set; their waiters pass the wake-up on). An
    // eventfd, held outside the region, is woken by the channel's own notify
    // when this end leaves (see ipc::channel's destructor).
    void wake_sleepers(direction d) noexcept {
        if (waiters(d).fetch_add(0, std::memory_order_seq_cst) == 0) return;  // see detail::parking
        if (auto* b = binding()) b->wake_all(ring_.sync(), d);
    }
    // The policy this end was given or, for a bare transport, the one the
    // region is bound to (sync/region_policies.hpp); nullptr if none yet.
    const ring::sync_binding* binding() noexcept {
        if (!sync_) sync_ = ipc::sync::region_policies::find(ring_.sync().policy.tag.load(std::memory_order_acquire));
        return sync_;
    }

    // What every operation reads comes first, on as few lines as may be.
    ipc::detail::mapping map_;
    Ring ring_{};
    unsigned roles_ = 0;
    std::uint32_t epoch_ = ipc::detail::fork_epoch();  // see adopt_after_fork()
    bool send_closed_ = false;
    eos eos_ = Ring::default_eos;
    end_state end_[2]{};           // the kind's state of this end, per direction
    int peer_slot_[2] = {-1, -1};  // this end's peer-table slot per direction
    std::chrono::nanoseconds check_interval_ = std::chrono::milliseconds(100);
    const ring::sync_binding* sync_ = nullptr;  // see use_sync()
};

// A ring in a named object. Backing provides, for a name it has checked:
//   static bool check_name(name, ec)                      the naming rule, explained
//   static detail::mapping create(name, size, mode, ec)  exclusive; already_exists if there
//   static detail::mapping open(name, ec)                 the whole object; not_found if absent
//   static bool unlink(name, ec)
//   static constexpr const char* what                     for exception messages
//
// Opened through static factories, each with an std::error_code& twin that
// never throws and returns a closed region on failure:
//   auto r = posix_shm<ring::spsc<T>>::create("jobs", 1024);   // or open("jobs"), open_or_create("jobs", 1024)
// Every failure names the region ("posix_shm::create: 'jobs': capacity must be
// a power of two ..."; ipc::last_error_detail gives the words to ec users).
template <class Ring, class Backing>
class named_region : public ring_region<Ring> {
    using base = ring_region<Ring>;
    struct no_options {
        using creation_options = no_options;
    };

public:
    // A kind made with more than a capacity declares its options
    // (Ring::creation_options; ring::broadcast: ring::broadcast_options); the region records them and
    // open() takes them from it. create(name, capacity) makes such a kind
    // with that capacity and the options' defaults.
    static constexpr bool has_options = requires { typename Ring::creation_options; };
    using options = typename std::conditional_t<has_options, Ring, no_options>::creation_options;

    named_region() noexcept = default;

    static named_region create(std::string_view name, const options& o, permissions p = {}) requires has_options {
        std::error_code ec;
        named_region r = create(name, o, p, ec);
        if (ec) throw_named(ec, "create");
        return r;
    }
    static named_region create(std::string_view name, const options& o, std::error_code& ec) noexcept requires has_options {
        return create(name, o, permissions{}, ec);
    }
    static named_region create(std::string_view name, const options& o, permissions p, std::error_code& ec) noexcept requires has_options {
        named_region r;
        ec.clear();
        if (r.make(name, o, p.mode, ec)) return r;
        ipc::detail::with_name(ec, name);
        return {};
    }
    static named_region open_or_create(std::string_view name, const options& o, permissions p = {}) requires has_options {
        std::error_code ec;
        named_region r = open_or_create(name, o, p, ec);
        if (ec) throw_named(ec, "open_or_create");
        return r;
    }
    static named_region open_or_create(std::string_view name, const options& o, permissions p, std::error_code& ec) noexcept
        requires has_options {
        return open_or_create_with(name, o, p, ec);
    }

    // A new region with `capacity` slots (bytes for ring::bytes), a power of
    // two; errc::already_exists if the name is taken.
    static named_region create(std::string_view name, std::uint64_t capacity, permissions p = {}) {
        std::error_code ec;
        named_region r = create(name, capacity, p, ec);
        if (ec) throw_named(ec, "create");
        return r;
    }
    static named_region create(std::string_view name, std::uint64_t capacity, std::error_code& ec) noexcept {
        return create(name, capacity, permissions{}, ec);
    }
    static named_region create(std::string_view name, std::uint64_t capacity, permissions p, std::error_code& ec) noexcept {
        named_region r;
        ec.clear();
        if (r.make(name, capacity, p.mode, ec)) return r;
        ipc::detail::with_name(ec, name);
        return {};
    }

    // An existing region; errc::not_found if there is none, errc::layout_mismatch
    // (naming the field) if it was made for another T or ring.
    [[nodiscard]] static named_region open(std::string_view name) {
        std::error_code ec;
        named_region r = open(name, ec);
        if (ec) throw_named(ec, "open");
        return r;
    }
    [[nodiscard]] static named_region open(std::string_view name, std::error_code& ec) noexcept {
        named_region r;
        ec.clear();
        if (r.attach_existing(name, ec)) return r;
        ipc::detail::with_name(ec, name);
        return {};
    }

    // Opens the region if it exists, else creates it; two processes doing this
    // at once end up on the same region.
    static named_region open_or_create(std::string_view name, std::uint64_t capacity, permissions p = {}) {
        std::error_code ec;
        named_region r = open_or_create(name, capacity, p, ec);
        if (ec) throw_named(ec, "open_or_create");
        return r;
    }
    static named_region open_or_create(std::string_view name, std::uint64_t capacity, std::error_code& ec) noexcept {
        return open_or_create(name, capacity, permissions{}, ec);
    }
    static named_region open_or_create(std::string_view name, std::uint64_t capacity, permissions p,
                                                     std::error_code& ec) noexcept {
        return open_or_create_with(name, capacity, p, ec);
    }

private:
    template <class Made>
    static named_region open_or_create_with(std::string_view name, const Made& capacity, permissions p, std::error_code& ec) noexcept {
        named_region r;
        for (int attempt = 0; attempt < 100; ++attempt) {
            ec.clear();
            if (r.make(name, capacity, p.mode, ec)) return r;
            if (ec != errc::already_exists) break;
            ec.clear();
            if (r.attach_existing(name, ec)) return r;
            if (ec != errc::not_found) break;  // else removed in between: try again
        }
        ipc::detail::with_name(ec, name);
        return {};
    }

public:
    // Deletes the named region (and a semaphore set sync::sysv_sem made for
    // it); processes that have it mapped keep using it until they close.
    // True if it was removed, false if there was none (not an error).
    static bool remove(std::string_view name) {
        std::error_code ec;
        const bool r = remove(name, ec);
        if (ec) throw_named(ec, "remove");
        return r;
    }
    static bool remove(std::string_view name, std::error_code& ec) noexcept {
        ec.clear();
        if (!Backing::check_name(name, ec)) return false;
        std::error_code ignore;
        auto m = Backing::open(name, ignore);
        if (m && ring::is_formatted(m.bytes()) && m.bytes().size() >= sizeof(ring::shared_state<ring::two_indices>)) {
            auto* st = ring::state_of<ring::spsc<char>>(m.bytes());
            if (st->hdr.magic == ring::region_magic) ipc::detail::free_sysv_sem(st->sync);
        }
        m.reset();
        if (Backing::unlink(name, ec)) return true;
        if (ec == errc::not_found) ec.clear();
        else ipc::detail::with_name(ec, name);
        return false;
    }

private:
    [[noreturn]] static void throw_named(std::error_code ec, const char* op) {
        char what[48];
        std::snprintf(what, sizeof what, "%s::%s", Backing::what, op);
        ipc::detail::throw_error(ec, what);
    }

    bool make(std::string_view name, std::uint64_t capacity, ::mode_t mode, std::error_code& ec) noexcept {
        if constexpr (has_options) {
            options o{};
            o.capacity = capacity;
            return make(name, o, mode, ec);
        } else {
            return make_region(name, capacity, mode, ec);
        }
    }
    bool make(std::string_view name, const options& o, ::mode_t mode, std::error_code& ec) noexcept requires has_options {
        return make_region(name, o, mode, ec);
    }
    template <class Made>
    bool make_region(std::string_view name, const Made& made, ::mode_t mode, std::error_code& ec) noexcept {
        if (!Backing::check_name(name, ec)) return false;
        std::uint64_t size = 0;
        if constexpr (has_options) size = Ring::required_size(made);
        else size = ring::required_size<Ring>(made);
        if (size == 0) {
            if constexpr (has_options) ec = Ring::options_error_of(made);
            else ec = ring::capacity_error<Ring>(made);
            return false;
        }
        auto m = Backing::create(name, size, mode, ec);
        if (ec) return false;
        Ring r;
        if constexpr (has_options) r = Ring::format(m.bytes(), made, ec);
        else r = ring::format<Ring>(m.bytes(), made, ec);
        if (ec) {
            std::error_code ignore;
            Backing::unlink(name, ignore);
            return false;
        }
        base::operator=(base(std::move(m), r));
        return true;
    }

    bool attach_existing(std::string_view name, std::error_code& ec) noexcept {
        if (!Backing::check_name(name, ec)) return false;
        // A creator may be between creating and formatting: give it a moment.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        ipc::detail::mapping m;
        for (;;) {
            m = Backing::open(name, ec);
            if (ec) return false;
            if (m && ring::is_formatted(m.bytes())) break;
            if (std::chrono::steady_clock::now() >= until) {
                ec = ipc::detail::explain(make_error_code(errc::corrupt), "not formatted 2 s after it was created (its creator died or is not ipc)");
                return false;
            }
            ipc::detail::sleep_for(std::chrono::milliseconds(1));
        }
        Ring r;
        if constexpr (has_options) r = Ring::attach(m.bytes(), ec);  // it checks the options the region records
        else r = ring::attach<Ring>(m.bytes(), ec);
        if (ec) return false;
        base::operator=(base(std::move(m), r));
        return true;
    }
};

}  // namespace ipc::transport
