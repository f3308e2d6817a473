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

#include <concepts>
#include <cstddef>
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

} // namespace transport

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

} // namespace sync

namespace framing {

// A framing policy F supports T when F::template check<T>() holds; check()
// carries a static_assert naming the rule, so a bad combination fails with a
// sentence rather than a page of template errors.
template <class F, class T>
concept policy_for = requires(const F& f) {
    { F::template check<T>() } -> std::same_as<bool>;
    { f.template max_payload<T>() } -> std::convertible_to<std::size_t>;
};

} // namespace framing

} // namespace ipc
