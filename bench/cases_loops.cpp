// ipc_bench's cases (cases.hpp): event loops, epoll written by hand against ipc::poller.
#include "cases.hpp"

#include "channels.hpp"
#include "loops.hpp"
#include "raw.hpp"
#include "shm.hpp"

namespace bench::cases {

namespace {

namespace fr = ipc::framing;
namespace ch = bench::channels;
namespace sy = ipc::sync;
using ipc::ring::spsc;
using shm::mode;

const case_entry loop_table[] = {
    // Event loops: epoll over eventfd doorbells and a shared ring (the floor of
    // a loop over shared memory) and ipc::poller over an shm channel on
    // sync::eventfd (spinning first: the poller's default); ipc::poller over
    // a Unix stream channel against the same loop written by hand
    // (raw.epoll.unix_stream), which is against raw.unix_stream's blocking read.
    {"raw.epoll.eventfd", nullptr, run_link<loops::epoll_eventfd>},
    {"ipc.poller.shm.eventfd", "raw.epoll.eventfd", shm::run<spsc, sy::eventfd, mode::polled>},
    // A shm_channel (sync::futex) opened by name on both sides, each side in
    // its own ipc::poller: parking at once (the doorbell path) against the
    // floor, and spinning first against the futex channel that does the same.
    {"ipc.poller.shm", "raw.epoll.eventfd", shm::run<spsc, sy::futex, mode::named>},
    {"ipc.poller.shm.spin", "ipc.shm.futex", shm::run<spsc, sy::futex, mode::named_spin>},
    {"raw.epoll.unix_stream", "raw.unix_stream", run_link<raw::link<raw::unix_stream, loops::epoll_exact>>},
    {"ipc.poller.unix_stream", "raw.epoll.unix_stream", ch::run<loops::polled_socketpair_maker<ipc::transport::unix_stream>, fr::fixed>},
};

}  // namespace

std::span<const case_entry> loop_cases() { return loop_table; }

}  // namespace bench::cases
