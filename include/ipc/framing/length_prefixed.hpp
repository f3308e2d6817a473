// ipc/framing/length_prefixed.hpp: a 4-byte little-endian length, then the body.
#pragma once

#include <cstdint>

#include "frame.hpp"

namespace ipc::framing {

// Variable-size messages (std::string, byte vectors, anything with an
// ipc::codec). The receiver never trusts a prefix: one over max_size is
// errc::message_too_large before any allocation is made for it.
class length_prefixed {
public:
    static constexpr std::size_t default_max_size = std::size_t{1} << 20;
    static constexpr std::size_t header_size = 4;

    constexpr length_prefixed() noexcept = default;
    constexpr explicit length_prefixed(std::size_t max_size) noexcept
        : max_size_(max_size > UINT32_MAX ? UINT32_MAX : max_size) {}

    constexpr std::size_t max_size() const noexcept { return max_size_; }

    template <class T>
    static consteval bool check() {
        static_assert(encodable<T> && decodable<T>,
                      "ipc::framing::length_prefixed needs an ipc::codec<T>: specialise it with "
                      "bytes() or size()/encode(), and decode()");
        return true;
    }

    template <class T>
    constexpr std::size_t max_payload() const noexcept { return max_size_; }

    template <class T>
    bool encode(const T& v, frame& f, std::vector<std::byte>& scratch, std::error_code& ec) const {
        if (const std::size_t n = encoded_size(v); n > max_size_) {
            ec = ipc::detail::explain(errc::message_too_large, "a message of %zu bytes is over length_prefixed's max_size %zu", n, max_size_);
            return false;
        }
        f.body = encode_body(v, scratch);
        auto n = static_cast<std::uint32_t>(f.body.size());
        for (std::size_t i = 0; i < header_size; ++i) f.head[i] = static_cast<std::byte>(n >> (8 * i));
        f.head_len = header_size;
        return true;
    }

    template <class T>
    constexpr cut cut_stream(std::span<const std::byte> have, std::size_t&) const noexcept {
        if (have.size() < header_size) return cut::more(header_size);
        std::uint32_t n = 0;
        for (std::size_t i = 0; i < header_size; ++i) n |= std::uint32_t(std::to_integer<std::uint8_t>(have[i])) << (8 * i);
        if (n > max_size_) return cut::fail(errc::message_too_large, n);
        if (have.size() < header_size + n) return cut::more(header_size + n, header_size);
        return cut::done(header_size + n, header_size, n);
    }

    std::span<const std::byte> message_payload(std::span<const std::byte> msg) const noexcept { return msg; }

    template <class T>
    bool decode(std::span<const std::byte> payload, T& out, std::error_code& ec) const {
        if (!codec<T>::decode(payload, out)) {
            ec = make_error_code(errc::bad_message);
            return false;
        }
        return true;
    }

private:
    std::size_t max_size_ = default_max_size;
};

}  // namespace ipc::framing
