// ipc_bench's cases (cases.hpp): hand-written pipes, FIFOs, sockets and calls
// (the baselines of ipc's channels), and the floors shared memory is measured against.
#include "cases.hpp"

#include "calls.hpp"
#include "floors.hpp"
#include "raw.hpp"

namespace bench::cases {

namespace {

const case_entry raw_table[] = {
    {"raw.pipe", nullptr, run_link<raw::link<raw::pipes, raw::exact>>},
    {"raw.pipe.length_prefixed", nullptr, run_link<raw::link<raw::pipes, raw::prefixed>>},
    {"raw.pipe.delimited", nullptr, run_link<raw::link<raw::pipes, raw::delimited>>},
    {"raw.fifo", nullptr, run_link<raw::link<raw::fifos, raw::exact>>},
    {"raw.fifo.length_prefixed", nullptr, run_link<raw::link<raw::fifos, raw::prefixed>>},
    {"raw.fifo.delimited", nullptr, run_link<raw::link<raw::fifos, raw::delimited>>},
    {"raw.unix_stream", nullptr, run_link<raw::link<raw::unix_stream, raw::exact>>},
    {"raw.unix_stream.length_prefixed", nullptr, run_link<raw::link<raw::unix_stream, raw::prefixed>>},
    {"raw.unix_stream.delimited", nullptr, run_link<raw::link<raw::unix_stream, raw::delimited>>},
    {"raw.unix_seqpacket", nullptr, run_link<raw::link<raw::unix_seqpacket, raw::datagram>>},
    {"raw.unix_dgram", nullptr, run_link<raw::link<raw::unix_dgram, raw::datagram>>},
    {"raw.tcp", nullptr, run_link<raw::link<raw::tcp_loopback, raw::exact>>},
    {"raw.tcp.length_prefixed", nullptr, run_link<raw::link<raw::tcp_loopback, raw::prefixed>>},
    {"raw.tcp.delimited", nullptr, run_link<raw::link<raw::tcp_loopback, raw::delimited>>},
    {"raw.udp", nullptr, run_link<raw::link<raw::udp_loopback, raw::datagram>>},
    // Request/reply calls (calls.hpp): a hand-written client and server, RTT
    // against the ping-pong of the same socket; the twins of RPC cases.
    {"raw.unix_stream.call", "raw.unix_stream", calls::run<calls::raw_link<raw::unix_stream>>},
    {"raw.tcp.call", "raw.tcp", calls::run<calls::raw_link<raw::tcp_loopback>>},
};

const case_entry floor_table[] = {
    {"floor.atomic_pingpong", nullptr, run_link<floors::pingpong<floors::spin>>},
    {"floor.futex_pingpong", nullptr, run_link<floors::pingpong<floors::futex>>},
    {"floor.spsc_handwritten", nullptr, run_link<floors::spsc>},
    {"floor.spsc_handwritten.behind", "floor.spsc_handwritten", run_link<floors::spsc_behind>},
    {"floor.spsc_handwritten.records", "floor.spsc_handwritten", run_link<floors::spsc_records>},
    {"floor.memcpy", nullptr, floors::run_memcpy},
};

}  // namespace

std::span<const case_entry> raw_cases() { return raw_table; }

std::span<const case_entry> floor_cases() { return floor_table; }

}  // namespace bench::cases
