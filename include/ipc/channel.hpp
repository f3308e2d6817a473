// ipc/channel.hpp: the one header users include.
//
//   ipc::channel<T, Transport, Sync, Framing>   (ipc/basic_channel.hpp)
//   transports in ipc::transport, wait policies in ipc::sync, framings in
//   ipc::framing, and ready aliases for the common combinations below.
#pragma once

#include "basic_channel.hpp"
#include "codec.hpp"
#include "concepts.hpp"
#include "error.hpp"
#include "framing/delimited.hpp"
#include "framing/fixed.hpp"
#include "framing/length_prefixed.hpp"
#include "open_mode.hpp"
#include "sem/posix_semaphore.hpp"
#include "sem/robust_mutex.hpp"
#include "sem/sysv_semaphore.hpp"
#include "status.hpp"
#include "sync/backoff.hpp"
#include "sync/eventfd.hpp"
#include "sync/file_lock.hpp"
#include "sync/futex.hpp"
#include "sync/none.hpp"
#include "sync/poll.hpp"
#include "sync/posix_sem.hpp"
#include "sync/spin.hpp"
#include "sync/sysv_sem.hpp"
#include "transport/eventfd.hpp"
#include "transport/fifo.hpp"
#include "transport/file.hpp"
#include "transport/inet_socket.hpp"
#include "transport/mapped_file.hpp"
#include "transport/memfd.hpp"
#include "transport/pipe.hpp"
#include "transport/posix_mq.hpp"
#include "transport/posix_shm.hpp"
#include "transport/signal.hpp"
#include "transport/sysv_mq.hpp"
#include "transport/sysv_shm.hpp"
#include "transport/unix_socket.hpp"
#include "version.hpp"

namespace ipc {

// ---- pipes ---------------------------------------------------------------

template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
using pipe_sender = channel<T, transport::pipe_writer, Sync, Framing>;
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
using pipe_receiver = channel<T, transport::pipe_reader, Sync, Framing>;

// Both ends of a new pipe as typed channels. After fork(), each process keeps
// one end and destroys (or close()s) the other.
template <class T, class Sync = sync::poll, class Framing = default_framing_t<T>>
struct pipe_channel {
    pipe_sender<T, Sync, Framing> sender;
    pipe_receiver<T, Sync, Framing> receiver;

    static pipe_channel create(Framing f = {}, int pipe_size = 0) {
        auto p = transport::make_pipe(pipe_size);
        return {pipe_sender<T, Sync, Framing>(std::move(p.writer), f), pipe_receiver<T, Sync, Framing>(std::move(p.reader), f)};
    }
};

// Lines of text over a pipe (shell interop): channel<std::string, ..., delimited>.
using pipe_line_sender = channel<std::string, transport::pipe_writer, sync::poll, framing::delimited>;
using pipe_line_receiver = channel<std::string, transport::pipe_reader, sync::poll, framing::delimited>;

} // namespace ipc
