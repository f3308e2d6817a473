// ipc_bench's cases (cases.hpp): ipc channels over pipes, FIFOs and Unix stream
// sockets, each against its raw twin (the other sockets: cases_sockets.cpp).
#include "cases.hpp"

#include "channels.hpp"

namespace bench::cases {

namespace {

namespace fr = ipc::framing;
namespace ch = bench::channels;

// Adding an ipc channel is one line: {name, its raw baseline, ch::run<maker, framing>}.
const case_entry channel_table[] = {
    {"ipc.pipe.fixed", "raw.pipe", ch::run<ch::pipe_maker, fr::fixed>},
    {"ipc.pipe.length_prefixed", "raw.pipe.length_prefixed", ch::run<ch::pipe_maker, fr::length_prefixed>},
    {"ipc.pipe.delimited", "raw.pipe.delimited", ch::run<ch::pipe_maker, fr::delimited>},
    {"ipc.fifo.fixed", "raw.fifo", ch::run<ch::fifo_maker, fr::fixed>},
    {"ipc.fifo.length_prefixed", "raw.fifo.length_prefixed", ch::run<ch::fifo_maker, fr::length_prefixed>},
    {"ipc.fifo.delimited", "raw.fifo.delimited", ch::run<ch::fifo_maker, fr::delimited>},
    {"ipc.unix_stream.fixed", "raw.unix_stream", ch::run<ch::socketpair_maker<ipc::transport::unix_stream>, fr::fixed>},
    {"ipc.unix_stream.length_prefixed", "raw.unix_stream.length_prefixed",
     ch::run<ch::socketpair_maker<ipc::transport::unix_stream>, fr::length_prefixed>},
    {"ipc.unix_stream.delimited", "raw.unix_stream.delimited", ch::run<ch::socketpair_maker<ipc::transport::unix_stream>, fr::delimited>},
};

}  // namespace

std::span<const case_entry> channel_cases() { return channel_table; }

}  // namespace bench::cases
