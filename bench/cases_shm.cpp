// ipc_bench's cases (cases.hpp): the rings, the broadcast channels, and the shm
// channels that spin or wait on a futex.
#include "cases_shm.hpp"

#include "broadcast.hpp"

namespace bench::cases {

namespace {

const case_entry shm_table[] = {
    // Shared memory: RTT against the ping-pong floor that waits the same way
    // (spinning, or sleeping in the kernel), throughput against the
    // hand-written ring, MB/s against one core's memcpy.
    {"ring.spsc.raw", ring, shm::run_raw_ring<ipc::ring::kind::spsc>, nullptr, mem},
    {"ring.mpmc.raw", ring, shm::run_raw_ring<ipc::ring::kind::mpmc>, nullptr, mem},
    {"ring.bytes.raw", ring, shm::run_raw_ring<ipc::ring::kind::bytes>, nullptr, mem},
    // The broadcast ring alone: 1 -> 1 round trips against the spinning
    // floor; fan-out to 4 and 16 subscriber processes against fan-out to 1.
    {"ring.broadcast.pingpong", spin_floor, broadcast::run_pingpong, ring, mem},
    {"ring.broadcast.fanout1", ring, broadcast::run_fanout<1>},
    {"ring.broadcast.fanout4", "ring.broadcast.fanout1", broadcast::run_fanout<4>},
    {"ring.broadcast.fanout16", "ring.broadcast.fanout1", broadcast::run_fanout<16>},
    // The same as channels (ipc::shm_broadcast<T>): round trips against the
    // floors, fanout1 against the ring's, fanout4 and 16 against fanout1.
    {"ipc.shm_broadcast.spin", spin_floor, shm::run<ipc::ring::broadcast, sy::spin, mode::copy>, ring, mem},
    {"ipc.shm_broadcast.futex", sleep_floor, shm::run<ipc::ring::broadcast, sy::futex, mode::copy>, ring, mem},
    {"ipc.shm_broadcast.fanout1", "ring.broadcast.fanout1", broadcast::run_channel_fanout<1>},
    {"ipc.shm_broadcast.fanout4", "ipc.shm_broadcast.fanout1", broadcast::run_channel_fanout<4>},
    {"ipc.shm_broadcast.fanout16", "ipc.shm_broadcast.fanout1", broadcast::run_channel_fanout<16>},
    // Records of any size (ipc::shm_broadcast_bytes): against the fixed-size broadcast.
    {"ipc.shm_broadcast_bytes.spin", "ipc.shm_broadcast.spin", broadcast::bytes::run<sy::spin>, ring, mem},
    {"ipc.shm_broadcast_bytes.spin.loan", "ipc.shm_broadcast_bytes.spin", broadcast::bytes::run<sy::spin, true>},
    {"ipc.shm_broadcast_bytes.fanout4", "ipc.shm_broadcast.fanout4", broadcast::bytes::run_fanout<4>},
    {"ipc.shm.spin", spin_floor, shm::run<spsc, sy::spin, mode::copy>, ring, mem},
    {"ipc.shm.spin.behind", spin_floor, shm::run<spsc, shm::spin_behind, mode::copy>, ring, mem},
    {"ipc.shm.spin.loan", spin_floor, shm::run<spsc, sy::spin, mode::loan>, ring},
    {"ipc.shm.spin.batch", spin_floor, shm::run<spsc, sy::spin, mode::batch>, ring, mem},
    {"ipc.shm_mpmc.spin", spin_floor, shm::run<mpmc, sy::spin, mode::copy>, ring, mem},
    {"ipc.shm_bytes.spin", spin_floor, shm::run<spsc, sy::spin, mode::bytes>, ring, mem},
    // Zero copy of records against the copying twin above, in the same run.
    {"ipc.shm_bytes.spin.loan", "ipc.shm_bytes.spin", shm::run<spsc, sy::spin, mode::bytes_loan>},
    {"ipc.shm.futex", sleep_floor, shm::run<spsc, sy::futex, mode::copy>, ring, mem},
    {"ipc.shm.futex.loan", sleep_floor, shm::run<spsc, sy::futex, mode::loan>, ring},
    {"ipc.shm.futex.batch", sleep_floor, shm::run<spsc, sy::futex, mode::batch>, ring, mem},
    {"ipc.shm_mpmc.futex", sleep_floor, shm::run<mpmc, sy::futex, mode::copy>, ring, mem},
    {"ipc.shm_bytes.futex", sleep_floor, shm::run<spsc, sy::futex, mode::bytes>, ring, mem},
};

}  // namespace

std::span<const case_entry> shm_cases() { return shm_table; }

}  // namespace bench::cases
