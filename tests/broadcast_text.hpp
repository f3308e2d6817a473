// tests/broadcast_text.hpp: the records of the shm_broadcast_bytes tests and
// their exec'd peer (tests/broadcast_peer.cpp): text of many lengths whose
// every byte follows from its sequence number, so a torn or mixed-up record
// is told from a whole one.
#pragma once

#include <ipc/channel.hpp>
#include <ipc/ring/broadcast_bytes.hpp>

#include <cstdint>
#include <cstring>
#include <string>

namespace ipc_test {

using bytes_broadcast_channel = ipc::shm_broadcast_bytes<std::string>;
using bytes_broadcast_transport = ipc::transport::posix_shm<ipc::ring::broadcast_bytes>;

// Record seq is 8 .. 8 + spread - 1 bytes: its sequence number, then filler.
inline std::size_t text_length(std::uint64_t seq, std::size_t spread) { return 8 + (seq * 2654435761u) % spread; }
inline char text_byte(std::uint64_t seq, std::size_t i) { return static_cast<char>('a' + (seq * 7 + i) % 26); }

inline std::string make_text(std::uint64_t seq, std::size_t spread = 3000) {
    std::string t(text_length(seq, spread), '\0');
    std::memcpy(t.data(), &seq, 8);
    for (std::size_t i = 8; i < t.size(); ++i) t[i] = text_byte(seq, i);
    return t;
}
// The sequence number of t, or UINT64_MAX if t is not exactly make_text(seq).
inline std::uint64_t text_seq(const std::string& t, std::size_t spread = 3000) {
    std::uint64_t seq = UINT64_MAX;
    if (t.size() < 8) return seq;
    std::memcpy(&seq, t.data(), 8);
    if (seq == UINT64_MAX || t.size() != text_length(seq, spread)) return UINT64_MAX;
    for (std::size_t i = 8; i < t.size(); ++i)
        if (t[i] != text_byte(seq, i)) return UINT64_MAX;
    return seq;
}

}  // namespace ipc_test
