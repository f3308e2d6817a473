// ipc/framing/frame.hpp: the pieces every framing policy speaks in.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "../codec.hpp"
#include "../error.hpp"

namespace ipc::framing {

// One encoded message as up to three pieces, written with a single gather
// call: a small header (length prefix), the body and a trailer (delimiter).
// The body points into the message itself when its codec has a byte view, or
// into the channel's scratch buffer otherwise. Message transports send the
// body and the trailer (a line's delimiter), not the header: their boundaries
// carry the length.
struct frame {
    std::array<std::byte, 8> head{};
    std::size_t head_len = 0;
    std::span<const std::byte> body;
    std::span<const std::byte> tail;

    std::size_t size() const noexcept { return head_len + body.size() + tail.size(); }
};

// What a stream framing says about the bytes buffered so far.
struct cut {
    enum kind_t : std::uint8_t { need_more, complete, invalid } kind = need_more;
    // need_more: the frame is at least `need` bytes in all; read exactly up to
    // it. need == 0: the length is unknown until more arrives; read what comes.
    // When the frame is exactly `need` bytes and its payload runs from
    // payload_off to the end, the channel may read the payload straight into
    // the message (no copy through its buffer).
    std::size_t need = 0;
    // complete: the frame is frame_len bytes; its payload is at [payload_off, +payload_len).
    std::size_t frame_len = 0;
    std::size_t payload_off = 0;
    std::size_t payload_len = 0;
    // invalid: why.
    errc error = errc::bad_message;

    static constexpr std::size_t unknown = static_cast<std::size_t>(-1);
    static constexpr cut more(std::size_t need, std::size_t payload_off = unknown) noexcept {
        return {need_more, need, 0, payload_off, 0, errc::bad_message};
    }
    static constexpr cut done(std::size_t frame_len, std::size_t off, std::size_t len) noexcept {
        return {complete, 0, frame_len, off, len, errc::bad_message};
    }
    // need, on a frame that is too large: the size it announced (0: unknown).
    static constexpr cut fail(errc e, std::size_t announced = 0) noexcept { return {invalid, announced, 0, 0, 0, e}; }
};

// Encodes v's body: a view into v when the codec has one, else into scratch.
template <class T>
inline std::span<const std::byte> encode_body(const T& v, std::vector<std::byte>& scratch) {
    if constexpr (contiguous_codec<T>) {
        return codec<T>::bytes(v);
    } else {
        scratch.resize(codec<T>::size(v));
        codec<T>::encode(v, std::span<std::byte>(scratch));
        return scratch;
    }
}

}  // namespace ipc::framing
