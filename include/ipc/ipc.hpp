// ipc/ipc.hpp: all of ipc in one include.
//
// <ipc/channel.hpp> is the channels, their transports and policies, kept cheap
// to compile (at most 0.8x Boost's message_queue.hpp, checked by
// tools/include-cost). This header adds what a program uses beside them:
// waiting on many things (poller, timer), shared memory laid out by the user,
// descriptor passing, child processes, remote calls and the two-type duplex
// channel. The Asio adapter (<ipc/asio.hpp>) needs Asio and is not included.
#pragma once

#include "channel.hpp"
#include "ring/broadcast.hpp"
#include "ring/broadcast_bytes.hpp"
#include "duplex.hpp"
#include "eos.hpp"
#include "fd_passing.hpp"
#include "poller.hpp"
#include "process.hpp"
#include "rpc.hpp"
#include "shared_memory.hpp"
#include "timer.hpp"
