// ipc_bench's cases (cases.hpp): kernel message queues, the eventfd counter, queued signals.
#include "cases.hpp"

#include "channels.hpp"
#include "queues.hpp"

namespace bench::cases {

namespace {

namespace fr = ipc::framing;
namespace ch = bench::channels;

const case_entry queue_table[] = {
    // Kernel queues, the eventfd counter.
    {"raw.posix_mq", nullptr, run_link<queues::raw_posix_mq>},
    {"raw.sysv_mq", nullptr, run_link<queues::raw_sysv_mq>},
    {"raw.eventfd", nullptr, run_link<queues::raw_eventfd>},
    {"ipc.posix_mq.fixed", "raw.posix_mq", ch::run<queues::posix_mq_maker, fr::fixed>},
    {"ipc.posix_mq.length_prefixed", "raw.posix_mq", ch::run<queues::posix_mq_maker, fr::length_prefixed>},
    {"ipc.sysv_mq.fixed", "raw.sysv_mq", ch::run<queues::sysv_mq_maker, fr::fixed>},
    {"ipc.sysv_mq.length_prefixed", "raw.sysv_mq", ch::run<queues::sysv_mq_maker, fr::length_prefixed>},
    {"ipc.eventfd", "raw.eventfd", run_link<queues::ipc_eventfd>},
    {"raw.sigqueue", nullptr, run_link<queues::raw_sigqueue>},
    {"ipc.signal", "raw.sigqueue", run_link<queues::ipc_signal>},
};

}  // namespace

std::span<const case_entry> queue_cases() { return queue_table; }

}  // namespace bench::cases
