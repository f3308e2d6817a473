// ipc_bench's cases (cases.hpp): ipc channels over Unix datagram and seqpacket
// sockets, TCP and UDP, each against its raw twin.
#include "cases.hpp"

#include "channels.hpp"

namespace bench::cases {

namespace {

namespace fr = ipc::framing;
namespace ch = bench::channels;

const case_entry socket_table[] = {
    // Message transports keep boundaries: every framing sends the bare body.
    {"ipc.unix_seqpacket.fixed", "raw.unix_seqpacket", ch::run<ch::socketpair_maker<ipc::transport::unix_seqpacket>, fr::fixed>},
    {"ipc.unix_seqpacket.length_prefixed", "raw.unix_seqpacket",
     ch::run<ch::socketpair_maker<ipc::transport::unix_seqpacket>, fr::length_prefixed>},
    {"ipc.unix_dgram.fixed", "raw.unix_dgram", ch::run<ch::socketpair_maker<ipc::transport::unix_dgram>, fr::fixed>},
    {"ipc.unix_dgram.length_prefixed", "raw.unix_dgram", ch::run<ch::socketpair_maker<ipc::transport::unix_dgram>, fr::length_prefixed>},
    {"ipc.tcp.fixed", "raw.tcp", ch::run<ch::tcp_maker, fr::fixed>},
    {"ipc.tcp.length_prefixed", "raw.tcp.length_prefixed", ch::run<ch::tcp_maker, fr::length_prefixed>},
    {"ipc.tcp.delimited", "raw.tcp.delimited", ch::run<ch::tcp_maker, fr::delimited>},
    {"ipc.udp.fixed", "raw.udp", ch::run<ch::udp_maker, fr::fixed>},
    {"ipc.udp.length_prefixed", "raw.udp", ch::run<ch::udp_maker, fr::length_prefixed>},
};

}  // namespace

std::span<const case_entry> socket_channel_cases() { return socket_table; }

}  // namespace bench::cases
