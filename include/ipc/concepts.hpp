// ipc/concepts.hpp: what a transport, a sync policy and a framing policy must provide.
//
// A transport moves bytes and never waits on its own: every operation takes an
// io_mode, and io_mode::nonblocking must return errc::would_block instead of
// waiting. Waiting belongs to the sync policy, composed by ipc::channel.
//
//   stream transports  (pipe, FIFO, stream socket) move bytes; framing cuts messages.
//   message transports (seqpacket, datagram, message queues, rings) keep boundaries.
//   memory transports  are message transports whose waiting is done by a sync
//                      policy on shared words (futex, spin, semaphores).
#pragma once

#include "version.hpp" // first: the C++20 check

#include <atomic>
#include <concepts>
#include <cstdint>
#include <cstddef>
#include <optional>
#include <span>
#include <system_error>
#include <type_traits>

#include "status.hpp"

namespace ipc {

enum class direction : unsigned char { send, recv };
enum class io_mode : unsigned char { blocking, nonblocking };

namespace transport {

// Reads at least one byte (blocking) or what is there (nonblocking). End of
// stream is 0 with ec = errc::peer_closed.
template <class T>
concept stream_reader = requires(T& t, std::span<std::byte> buf, io_mode m, std::error_code& ec) {
    { t.read_some(buf, m, ec) } -> std::same_as<std::size_t>;
};

// Writes at least one byte (blocking) or what fits (nonblocking); a closed
// reader is errc::peer_closed, never SIGPIPE.
template <class T>
concept stream_writer = requires(T& t, std::span<const std::span<const std::byte>> parts, io_mode m,
                                 std::error_code& ec) {
    { t.write_some(parts, m, ec) } -> std::same_as<std::size_t>;
};

// Receives one whole message into buf and returns its size. A message larger
// than buf is discarded and reported as errc::message_too_large.
template <class T>
concept message_reader = requires(T& t, const T& ct, std::span<std::byte> buf, io_mode m, std::error_code& ec) {
    { t.recv_message(buf, m, ec) } -> std::same_as<std::size_t>;
};

// Sends one whole message or nothing.
template <class T>
concept message_writer = requires(T& t, const T& ct, std::span<const std::byte> msg, io_mode m, std::error_code& ec) {
    { t.send_message(msg, m, ec) } -> std::same_as<bool>;
};

// A transport that a channel can read from or write to.
template <class T>
concept readable = stream_reader<T> || message_reader<T>;
template <class T>
concept writable = stream_writer<T> || message_writer<T>;

template <class T>
concept any_transport = std::is_nothrow_move_constructible_v<T> && (readable<T> || writable<T>);

// Transports backed by a file descriptor that poll(2) can wait on.
template <class T>
concept pollable = requires(const T& t) {
    { t.native_handle() } -> std::same_as<int>;
};

// Memory transports: a ring in shared memory. The sync policies (futex,
// eventfd, semaphores) wait through the region: ready(d) says an operation in
// direction d would not block (or would report closed); waiters(d) counts
// who is parked in d. A waiter announces itself (waiters += 1), re-checks
// ready(d), and only then sleeps, so no wake-up is lost; a notifier does
// nothing while the count is 0. What a policy sleeps on (a futex word, a
// semaphore) is its own, in the region's sync_area() (ring/sync_shared.hpp).
template <class T>
concept memory_transport = requires(T& t, const T& ct, direction d) {
    { ct.ready(d) } -> std::same_as<bool>;
    { t.waiters(d) } -> std::same_as<std::atomic<std::uint32_t>&>;
    t.sync_area();
};

// A transport that moves a V itself (a typed ring: one fixed-size copy into
// the slot, or a codec encoding straight into a record), bypassing framing.
// Nonblocking: false with ec = would_block / peer_closed / an error.
template <class Tr, class V>
concept value_writer = requires(Tr& t, const V& v, std::error_code& ec) {
    { t.try_send_value(v, ec) } -> std::same_as<bool>;
};
template <class Tr, class V>
concept value_reader = requires(Tr& t, V& v, std::error_code& ec) {
    { t.try_recv_value(v, ec) } -> std::same_as<bool>;
};

// Zero copy: a slot is loaned, constructed in place and committed (or
// cancelled: nothing is sent and the slot serves a later message); a message
// is peeked in place and released. Nonblocking, nullptr with ec as above.
// release() says whether the message stayed intact while it was held (false:
// a broadcast publisher wrote over it; see ring/kind.hpp).
template <class Tr, class V>
concept loaning = requires(Tr& t, std::error_code& ec) {
    { t.try_loan(ec) } -> std::same_as<V*>;
    t.commit();
    t.cancel_loan();
    { t.try_peek(ec) } -> std::same_as<const V*>;
    { t.release() } -> std::same_as<bool>;
};

// Zero copy of variable-size records (ring::bytes, ring::broadcast_bytes):
// room for n bytes is loaned, written in place and committed with the length
// used (or cancelled: nothing is sent); a record is peeked in place as bytes
// and released, which says whether it was intact throughout (false: a
// broadcast publisher wrote over it). Nonblocking, as loaning.
template <class Tr>
concept loaning_bytes = requires(Tr& t, const Tr& ct, std::size_t n, std::error_code& ec) {
    { t.try_loan(n, ec) } -> std::same_as<std::byte*>;
    t.commit(n);
    t.cancel_loan();
    { t.try_peek(ec) } -> std::same_as<std::optional<std::span<const std::byte>>>;
    { t.release() } -> std::same_as<bool>;
    { ct.max_record() } -> std::convertible_to<std::size_t>;
};

// Per-message options, passed with each call rather than kept as transport
// state: Tr::send_options says how to send one message (a POSIX queue's
// priority, a System V mtype, a datagram's destination); Tr::recv_info is
// filled by a receive (priority, mtype, the sender's address) and may carry
// what to select on the way in (a System V type). The channel forwards them.
template <class T>
concept sends_with_options = requires(T& t, std::span<const std::byte> msg, const typename T::send_options& o, io_mode m,
                                      std::error_code& ec) {
    { t.send_message(msg, o, m, ec) } -> std::same_as<bool>;
};
template <class T>
concept receives_with_info = requires(T& t, std::span<std::byte> buf, typename T::recv_info& i, io_mode m,
                                      std::error_code& ec) {
    { t.recv_message(buf, i, m, ec) } -> std::same_as<std::size_t>;
};

// The largest message a message transport can carry (a queue's message
// size, a socket's datagram limit): a receiver's buffer need be no larger.
template <class T>
concept sized_messages = requires(const T& t) {
    { t.max_message_size() } -> std::convertible_to<std::size_t>;
};

// Several messages per call; returns how many moved (0 sets ec).
template <class Tr, class V>
concept batching = requires(Tr& t, std::span<const V> in, std::span<V> out, std::error_code& ec) {
    { t.try_send_n(in, ec) } -> std::same_as<std::size_t>;
    { t.try_recv_n(out, ec) } -> std::same_as<std::size_t>;
};

// A transport that counts its senders and receivers in shared state: leave()
// stops counting this end and returns role(d) bits for the directions it left.
template <class T>
concept membership = requires(T& t, direction d) {
    { t.leave() } -> std::same_as<unsigned>;
    { T::role(d) } -> std::same_as<unsigned>;
};

}  // namespace transport

namespace sync {

// How a side waits. wait() returns when the transport may be ready in
// direction d (a spurious return is allowed: the channel retries), or false
// with ec = errc::timed_out / errc::would_block / an error. notify() is
// called after a successful operation in direction d, so that a peer waiting
// for the opposite direction wakes up; it costs nothing where the kernel
// already wakes the peer.
//
// kernel_blocking: the plain blocking call may hand io_mode::blocking to the
// transport, so a blocking receive is exactly one system call.
// can_block: false for sync::none, whose channels offer only try_ calls.
template <class S, class Tr>
concept policy_for = requires(S& s, Tr& t, direction d, const deadline& dl, std::error_code& ec) {
    { s.wait(t, d, dl, ec) } -> std::same_as<bool>;
    s.notify(t, d);
    { S::kernel_blocking } -> std::convertible_to<bool>;
    { S::can_block } -> std::convertible_to<bool>;
};

// A policy an event loop can park on (ipc::poller, ipc/asio.hpp): for
// direction d, native_handle(d) is a descriptor that becomes readable when the
// ring may be ready (-1: none, the policy has no descriptor yet); arm(t, d)
// counts this process as parked and returns false if the ring is ready already
// (operate, do not wait); after the wait (or instead of it) disarm(t, d).
// A policy that registers with the region (sync::futex: its doorbell) may
// also offer bool prepare(t, d, ec), which an event loop calls once when it
// takes the ring in, so that errors (errc::in_use, a full peer table, no
// socket) are reported there rather than as a loop that is never woken.
template <class S, class Tr>
concept pollable = policy_for<S, Tr> && requires(S& s, Tr& t, direction d) {
    { s.native_handle(d) } -> std::same_as<int>;
    { s.arm(t, d) } -> std::same_as<bool>;
    s.disarm(t, d);
};

}  // namespace sync

namespace framing {

// A framing policy F supports T when F::template check<T>() holds; check()
// carries a static_assert naming the rule, so a bad combination fails with a
// sentence rather than a page of template errors.
template <class F, class T>
concept policy_for = requires(const F& f) {
    { F::template check<T>() } -> std::same_as<bool>;
    { f.template max_payload<T>() } -> std::convertible_to<std::size_t>;
};

}  // namespace framing

}  // namespace ipc
