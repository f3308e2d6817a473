// ipc/ring/kind.hpp: what a ring kind gives the region, stated once (how to add a ring kind).
//
// A ring kind is a view class R over a region formatted by ring::format<R>
// (ring/layout.hpp). transport::ring_region<R> (the mapping, the peer table,
// who sends and who receives, end of stream, dead peers) and ipc-ls
// (ring/kinds.hpp) use a kind only through ring::kind_plugin below, so a new
// kind is one header: derive from ring::view_base<Control> (or
// ring::fixed_slots for typed slots), which gives every default, declare
// what differs, add its number to ring::kind and kind_name() (layout.hpp),
// and list it in ring/kinds.hpp so that ipc-ls can describe it.
//
// Identity and layout (checked by ring::attach against the header):
//   ring_kind, control (the struct after the peer table), value_type,
//   min_capacity, slot_size, value_size, value_align, tag;
//   init_data(data, capacity), init_control(control&),
//   check_control(const control&, ec) (what the header cannot say: mpmc's
//   delivery guarantee), and a constructor (shared_state<control>*, data,
//   capacity) that trusts only the capacity attach() checked.
// Ends:
//   max_ends(d): how many live ends direction d may have (1, or
//     unlimited_ends); a second live one is refused with errc::in_use.
//   end_state: what the region keeps per direction for this process (empty
//     for spsc and bytes; mpmc: the owner word and the claimed slot; a
//     broadcast subscriber: its table slot and cursor). Every operation in
//     direction d gets the end_state of d.
//   join(d, end_state&, end_id, ec): this process became an end (after it
//     took its peer-table slot); false with ec refuses it (e.g. a table of
//     the kind's own is full). leave(d, end_state&): it stops being one.
//   repair(): hands back what dead processes left (mpmc: their claims; a
//     broadcast ring: its dead subscribers); returns how many. Called off the
//     hot path: when an end joins, at every peer check, and before a receiver
//     is told closed.
// Messages:
//   default_eos (ipc/eos.hpp), fixed_size: typed slots (loan/commit/cancel,
//   front/release, push_n/pop_n over value_type) or variable-size records
//   (loan(n)/commit(n), front/release over bytes, the codec path; loan(n)
//   refuses n over max_record() with errc::message_too_large, and an
//   optional cancel(end_state&) forgets a loan that will not be committed);
//   loan_message / commit_message / front_message: a message as bytes;
//   release(end_state&) says whether the message was intact throughout the
//   read (false only where a writer may write over a message being read:
//   ring::broadcast; the kind then counts it as missed, and a copy is
//   discarded and the next message read);
//   can_push / can_pop(end_state): readiness, for waiters and pollers;
//   redelivered(end_state): the message received last had been taken by a
//   consumer that died.
// ipc-ls:
//   describe(region, header, description&): from untrusted bytes, what is
//   queued and the kind's own fields; false if the region cannot hold it.
// Optional (ring_region uses them where a kind has them; ring::broadcast does):
//   creation_options: what a region is made with beyond a capacity; then
//     required_size(o), options_error_of(o), format(mem, o, ec) and
//     attach(mem, ec) replace ring::format / ring::attach, and named_region
//     gains create(name, options) (create(name, capacity) fills in the rest);
//   others_dead(d): the kind's own verdict on "every end on the other side
//     is dead" (peer_dead), instead of the peer table's;
//   news(end_state&): an error a receiver must hear when it finds nothing
//     (errc::dropped); missed(const end_state&): messages it was told it missed.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>

#include "layout.hpp"

namespace ipc::ring {

// What every kind provides.
template <class R>
concept kind_plugin =
    std::is_nothrow_default_constructible_v<R> && std::is_nothrow_copy_constructible_v<R> &&
    std::is_nothrow_default_constructible_v<typename R::end_state> && std::is_trivially_copyable_v<typename R::end_state> &&
    requires(R& r, const R& cr, direction d, typename R::end_state& e, const typename R::end_state& ce, const end_id& id,
             std::error_code& ec, std::size_t n, shared_state<typename R::control>* st, std::byte* data, std::uint64_t cap,
             std::span<const std::byte> region, const header& h, description& out) {
        typename R::value_type;
        { R::ring_kind } -> std::convertible_to<kind>;
        { R::fixed_size } -> std::convertible_to<bool>;
        { R::default_eos } -> std::convertible_to<eos>;
        { R::min_capacity } -> std::convertible_to<std::uint64_t>;
        { R::slot_size } -> std::convertible_to<std::uint64_t>;
        { R::value_size } -> std::convertible_to<std::uint64_t>;
        { R::value_align } -> std::convertible_to<std::uint64_t>;
        { R::tag } -> std::convertible_to<std::uint64_t>;
        R::init_data(data, cap);
        R::init_control(st->ctl);
        { R::check_control(std::as_const(st->ctl), ec) } -> std::same_as<bool>;
        R(st, data, cap);
        { cr.valid() } -> std::same_as<bool>;
        { cr.capacity() } -> std::same_as<std::uint64_t>;
        { cr.sync() } -> std::same_as<sync_area&>;
        { cr.members() } -> std::same_as<membership&>;
        { cr.peers() } -> std::same_as<peer_table&>;

        { R::max_ends(d) } -> std::same_as<std::size_t>;
        { r.join(d, e, id, ec) } -> std::same_as<bool>;
        r.leave(d, e);
        { r.repair() } -> std::same_as<std::size_t>;

        { cr.can_push(ce) } -> std::same_as<bool>;
        { cr.can_pop(ce) } -> std::same_as<bool>;
        { r.loan_message(n, e, ec) } -> std::same_as<std::byte*>;
        r.commit_message(n, e);
        { r.front_message(e, ec) } -> std::same_as<std::optional<std::span<const std::byte>>>;
        { r.release(e) } -> std::same_as<bool>;
        { cr.redelivered(ce) } -> std::same_as<bool>;

        { R::describe(region, h, out) } -> std::same_as<bool>;
    };

// A kind of typed slots: a message is one value_type, loaned and peeked in place.
template <class R>
concept fixed_kind = kind_plugin<R> && R::fixed_size &&
                     requires(R& r, typename R::end_state& e, std::span<const typename R::value_type> in,
                              std::span<typename R::value_type> out) {
                         { r.loan(e) } -> std::same_as<typename R::value_type*>;
                         r.commit(e);
                         r.cancel(e);
                         { r.front(e) } -> std::same_as<const typename R::value_type*>;
                         { r.push_n(in, e) } -> std::same_as<std::size_t>;
                         { r.pop_n(out, e) } -> std::same_as<std::size_t>;
                     };

// A kind of variable-size records: loan(n) room for n bytes, commit(used).
template <class R>
concept variable_kind = kind_plugin<R> && (!R::fixed_size) &&
                        requires(R& r, typename R::end_state& e, std::size_t n, std::error_code& ec) {
                            { r.loan(n, e, ec) } -> std::same_as<std::byte*>;
                            r.commit(n, e);
                            { r.front(e, ec) } -> std::same_as<std::optional<std::span<const std::byte>>>;
                            { std::as_const(r).max_record() } -> std::same_as<std::size_t>;
                        };

// Every kind is one or the other.
template <class R>
concept any_kind = fixed_kind<R> || variable_kind<R>;

}  // namespace ipc::ring
