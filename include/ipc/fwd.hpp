// ipc/fwd.hpp: declarations of ipc's main templates and every ready channel
// alias, for users' headers that only name them (a member pointer, a
// parameter). It includes almost nothing; the .cpp that uses a channel
// includes its transport header (or <ipc/channel.hpp>), which includes this.
//
// The aliases are defined here, once, grouped by transport; each transport
// header includes this file, so including only transport/posix_shm.hpp gives
// ipc::shm_channel<T>.
#pragma once

#include <signal.h>  // sigval: the signal aliases take a T that fits in one

#include <cstdint>
#include <type_traits>
#include <version>

// std::string names the default message type below. libstdc++ and libc++
// declare it in <iosfwd>, at a tenth of <string>'s cost.
#if defined(__GLIBCXX__) || defined(_LIBCPP_VERSION)
#include <iosfwd>
#else
#include <string>
#endif

namespace ipc {

namespace framing {
struct fixed;
class length_prefixed;
class delimited;
}  // namespace framing

namespace sync {
struct none;
struct poll;
struct spin;
struct backoff;
struct futex;
class eventfd;
struct posix_sem;
struct sysv_sem;
class file_lock;
}  // namespace sync

namespace ring {
// What an mpmc ring does with a message whose consumer was killed holding it
// (a peek not yet released, or a copying receive not yet done).
enum class delivery : std::uint32_t {
    at_most_once = 1,   // it went with the consumer: the slot is freed
    at_least_once = 2,  // it is handed to another consumer (redelivered)
};
template <class T>
class spsc;
template <class T, delivery D = delivery::at_most_once>
class mpmc;
class bytes;
template <class T>
class broadcast;
class broadcast_bytes;
}  // namespace ring

namespace detail {
struct posix_shm_backing;
struct sysv_shm_backing;
struct mapped_file_backing;
}  // namespace detail

namespace transport {
template <class Ring>
class ring_region;
template <class Ring, class Backing>
class named_region;
template <class Ring>
using posix_shm = named_region<Ring, detail::posix_shm_backing>;
template <class Ring>
using sysv_shm = named_region<Ring, detail::sysv_shm_backing>;
template <class Ring>
using mapped_file = named_region<Ring, detail::mapped_file_backing>;
template <class Ring>
class memfd;
class pipe_reader;
class pipe_writer;
class fifo_reader;
class fifo_writer;
class file_writer;
class file_reader;
class posix_mq;
class sysv_mq;
class unix_stream;
class unix_seqpacket;
class unix_dgram;
class tcp;
class udp;
class eventfd;
class sigqueue_writer;
class signal_reader;
}  // namespace transport

// Trivially copyable T travels as its bytes; anything else with a length prefix.
template <class T>
using default_framing_t = std::conditional_t<std::is_trivially_copyable_v<T>, framing::fixed, framing::length_prefixed>;

// ipc::channel<T, Transport, Sync = sync::poll, Framing = default_framing_t<T>>
// (the defaults are given where it is defined, ipc/basic_channel.hpp).
template <class T, class Transport, class Sync, class Framing>
class channel;

// One wait over many channels, listeners, signals and timers (ipc/poller.hpp),
// and its timerfd (ipc/timer.hpp); neither is in <ipc/channel.hpp>.
class poller;
class timer;

// ---- shared memory (transport/posix_shm.hpp, sysv_shm.hpp, mapped_file.hpp, memfd.hpp)
// <prefix>_channel: one sender process, one receiver process, fixed-size T;
// <prefix>_mpmc_channel: several of each, each message reaching one receiver;
// <prefix>_message_channel: variable-size messages (any ipc::codec type).
template <class T, class Sync = sync::futex>
using shm_channel = channel<T, transport::posix_shm<ring::spsc<T>>, Sync, framing::fixed>;
template <class T, class Sync = sync::futex>
using shm_mpmc_channel = channel<T, transport::posix_shm<ring::mpmc<T>>, Sync, framing::fixed>;
// A work queue that loses no task to a killed worker: see ring::delivery.
template <class T, class Sync = sync::futex>
using shm_work_queue = channel<T, transport::posix_shm<ring::mpmc<T, ring::delivery::at_least_once>>, Sync, framing::fixed>;
// One publisher, any number of subscribers, each seeing every message
// (ring::broadcast: made with ring::broadcast_options, slow-subscriber policy;
// include <ipc/ring/broadcast.hpp>, which channel.hpp leaves out to keep its cost).
template <class T, class Sync = sync::futex>
using shm_broadcast = channel<T, transport::posix_shm<ring::broadcast<T>>, Sync, framing::fixed>;
// The same with records of any size (any ipc::codec type; ring::broadcast_bytes,
// include <ipc/ring/broadcast_bytes.hpp>).
template <class T = std::string, class Sync = sync::futex>
using shm_broadcast_bytes = channel<T, transport::posix_shm<ring::broadcast_bytes>, Sync, framing::length_prefixed>;
template <class T = std::string, class Sync = sync::futex>
using shm_message_channel = channel<T, transport::posix_shm<ring::bytes>, Sync, framing::length_prefixed>;

template <class T, class Sync = sync::futex>
using sysv_shm_channel = channel<T, transport::sysv_shm<ring::spsc<T>>, Sync, framing::fixed>;
template <class T, class Sync = sync::futex>
using sysv_shm_mpmc_channel = channel<T, transport::sysv_shm<ring::mpmc<T>>, Sync, framing::fixed>;
template <class T = std::string, class Sync = sync::futex>
using sysv_shm_message_channel = channel<T, transport::sysv_shm<ring::bytes>, Sync, framing::length_prefixed>;

template <class T, class Sync = sync::futex>
using mapped_file_channel = channel<T, transport::mapped_file<ring::spsc<T>>, Sync, framing::fixed>;
template <class T, class Sync = sync::futex>
using mapped_file_mpmc_channel = channel<T, transport::mapped_file<ring::mpmc<T>>, Sync, framing::fixed>;
template <class T = std::string, class Sync = sync::futex>
using mapped_file_message_channel = channel<T, transport::mapped_file<ring::bytes>, Sync, framing::length_prefixed>;

template <class T, class Sync = sync::futex>
using memfd_channel = channel<T, transport::memfd<ring::spsc<T>>, Sync, framing::fixed>;
template <class T, class Sync = sync::futex>
using memfd_mpmc_channel = channel<T, transport::memfd<ring::mpmc<T>>, Sync, framing::fixed>;
template <class T = std::string, class Sync = sync::futex>
using memfd_message_channel = channel<T, transport::memfd<ring::bytes>, Sync, framing::length_prefixed>;

// ---- pipes (transport/pipe.hpp); pipe_channel<T> holds both ends of a new pipe.
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
using pipe_sender = channel<T, transport::pipe_writer, Sync, Framing>;
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
using pipe_receiver = channel<T, transport::pipe_reader, Sync, Framing>;
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
struct pipe_channel;
using pipe_line_sender = channel<std::string, transport::pipe_writer, sync::poll, framing::delimited>;
using pipe_line_receiver = channel<std::string, transport::pipe_reader, sync::poll, framing::delimited>;

// ---- FIFOs (transport/fifo.hpp)
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
using fifo_sender = channel<T, transport::fifo_writer, Sync, Framing>;
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
using fifo_receiver = channel<T, transport::fifo_reader, Sync, Framing>;
using fifo_line_sender = channel<std::string, transport::fifo_writer, sync::poll, framing::delimited>;
using fifo_line_receiver = channel<std::string, transport::fifo_reader, sync::poll, framing::delimited>;

// ---- the file log (transport/file.hpp)
template <class T, class Framing = default_framing_t<T>>
using file_sender = channel<T, transport::file_writer, sync::file_lock, Framing>;
template <class T, class Framing = default_framing_t<T>>
using file_receiver = channel<T, transport::file_reader, sync::poll, Framing>;

// ---- message queues (transport/posix_mq.hpp, sysv_mq.hpp)
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
using posix_mq_channel = channel<T, transport::posix_mq, Sync, Framing>;
template <class T, class Sync = sync::backoff, class Framing = default_framing_t<T>>
using sysv_mq_channel = channel<T, transport::sysv_mq, Sync, Framing>;

// ---- sockets (transport/unix_socket.hpp, inet_socket.hpp)
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
using unix_stream_channel = channel<T, transport::unix_stream, Sync, Framing>;
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
using unix_seqpacket_channel = channel<T, transport::unix_seqpacket, Sync, Framing>;
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
using unix_dgram_channel = channel<T, transport::unix_dgram, Sync, Framing>;
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
using tcp_channel = channel<T, transport::tcp, Sync, Framing>;
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
using udp_channel = channel<T, transport::udp, Sync, Framing>;

// ---- eventfd and signals (transport/eventfd.hpp, signal.hpp)
using eventfd_channel = channel<std::uint64_t, transport::eventfd, sync::poll, framing::fixed>;
template <class T>
    requires(sizeof(T) <= sizeof(sigval))
using signal_sender = channel<T, transport::sigqueue_writer, sync::spin, framing::fixed>;
template <class T>
    requires(sizeof(T) <= sizeof(sigval))
using signal_receiver = channel<T, transport::signal_reader, sync::poll, framing::fixed>;

}  // namespace ipc
