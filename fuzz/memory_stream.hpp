// fuzz/memory_stream.hpp: a stream transport over a byte buffer, delivered in
// chunks of fuzzer-chosen sizes, so the channel's reassembly is fuzzed too.
#pragma once

#include <ipc/channel.hpp>

#include <algorithm>
#include <cstdint>
#include <span>

namespace ipc_fuzz {

class memory_stream {
public:
    memory_stream() noexcept = default;
    // The first bytes choose chunk sizes; the rest is the stream.
    memory_stream(const std::uint8_t* data, std::size_t size) noexcept {
        std::size_t k = std::min<std::size_t>(size, 8);
        std::copy_n(data, k, chunks_);
        nchunks_ = k;
        data_ = reinterpret_cast<const std::byte*>(data + k);
        size_ = size - k;
    }

    std::size_t read_some(std::span<std::byte> buf, ipc::io_mode, std::error_code& ec) noexcept {
        if (pos_ == size_) {
            ec = ipc::make_error_code(ipc::errc::peer_closed);
            return 0;
        }
        std::size_t chunk = nchunks_ ? std::size_t{chunks_[turn_++ % nchunks_]} + 1 : buf.size();
        std::size_t n = std::min({buf.size(), chunk, size_ - pos_});
        std::copy_n(data_ + pos_, n, buf.data());
        pos_ += n;
        return n;
    }

private:
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t pos_ = 0;
    std::uint8_t chunks_[8] = {};
    std::size_t nchunks_ = 0;
    std::size_t turn_ = 0;
};

// Receives until the stream ends or fails; every message must respect the
// framing's limit, and the loop must end (each call consumes input or stops).
template <class T, class Framing, class Check>
void drain(const std::uint8_t* data, std::size_t size, Framing framing, Check check) {
    ipc::channel<T, memory_stream, ipc::sync::none, Framing> ch(memory_stream(data, size), framing);
    T v{};
    for (std::size_t guard = 0; guard <= size + 1; ++guard) {
        std::error_code ec;
        auto st = ch.try_recv(v, ec);
        if (st != ipc::status::ok) return;
        check(v);
    }
    __builtin_trap();  // more messages than bytes: the channel invented data
}

}  // namespace ipc_fuzz
