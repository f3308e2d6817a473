// bench/cases.hpp: ipc_bench's table of cases, in parts. Each part is compiled
// in its own translation unit (cases_*.cpp): a build compiles them in parallel
// (one file held them all, about 90 s of one core at -O2), and a change to one
// family's header rebuilds that part only. main.cpp joins them in this order:
// baselines before what is compared with them.
#pragma once

#include <span>

#include "harness.hpp"

namespace bench::cases {

// The references of shared-memory cases.
inline constexpr const char* spin_floor = "floor.atomic_pingpong";  // RTT of spinning waits
inline constexpr const char* sleep_floor = "floor.futex_pingpong";  // RTT of waits that sleep in the kernel
inline constexpr const char* ring = "floor.spsc_handwritten";       // throughput
inline constexpr const char* mem = "floor.memcpy";                  // bandwidth

std::span<const case_entry> raw_cases();             // cases_raw.cpp: hand-written pipes, FIFOs, sockets, calls
std::span<const case_entry> channel_cases();         // cases_channels.cpp: ipc channels over pipes, FIFOs, Unix streams
std::span<const case_entry> socket_channel_cases();  // cases_sockets.cpp: ipc channels over the other sockets
std::span<const case_entry> floor_cases();           // cases_raw.cpp: what shared memory is measured against
std::span<const case_entry> shm_cases();             // cases_shm.cpp: rings, broadcast, shm channels that spin or futex-wait
std::span<const case_entry> shm_kernel_cases();      // cases_shm_kernel.cpp: shm channels on an eventfd or a semaphore
std::span<const case_entry> queue_cases();           // cases_queues.cpp: kernel queues, eventfd, signals
std::span<const case_entry> loop_cases();            // cases_loops.cpp: event loops

}  // namespace bench::cases
