// ipc/channel.hpp: the one header users include; it only includes.
//
//   ipc::channel<T, Transport, Sync, Framing>   (ipc/basic_channel.hpp)
//   transports in ipc::transport, each header ending with its ready channel
//   aliases (ipc::shm_channel<T> in transport/posix_shm.hpp, ...), wait
//   policies in ipc::sync, framings in ipc::framing; ipc/fwd.hpp declares
//   them all for users' headers.
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
