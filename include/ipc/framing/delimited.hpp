// ipc/framing/delimited.hpp: text lines ended by a delimiter ('\n' by default).
#pragma once

#include <cstring>

#include "frame.hpp"

namespace ipc::framing {

// Lines of text, for interop with shells and line-oriented tools. The
// receiver reads what is there and keeps the rest for the next call, so a
// stream read with this framing should have one reader. A line over
// max_line is errc::message_too_large; a message containing the delimiter is
// refused at send (it would arrive as two).
class delimited {
public:
    static constexpr std::size_t default_max_line = std::size_t{64} << 10;

    constexpr delimited() noexcept = default;
    constexpr explicit delimited(char delim, std::size_t max_line = default_max_line) noexcept
        : delim_(static_cast<std::byte>(delim)), max_line_(max_line) {}

    constexpr char delimiter() const noexcept { return static_cast<char>(delim_); }
    constexpr std::size_t max_line() const noexcept { return max_line_; }

    template <class T>
    static consteval bool check() {
        static_assert(contiguous_codec<T> && decodable<T>,
                      "ipc::framing::delimited needs a text type such as std::string "
                      "(an ipc::codec<T> with bytes() and decode())");
        return true;
    }

    template <class T>
    constexpr std::size_t max_payload() const noexcept { return max_line_ + 1; }

    template <class T>
    bool encode(const T& v, frame& f, std::vector<std::byte>&, std::error_code& ec) const {
        auto body = codec<T>::bytes(v);
        if (body.size() > max_line_) {
            ec = make_error_code(errc::message_too_large);
            return false;
        }
        if (!body.empty() && std::memchr(body.data(), static_cast<int>(delim_), body.size())) {
            ec = make_error_code(errc::bad_message);
            return false;
        }
        f.body = body;
        f.tail = std::span<const std::byte>(&delim_, 1);
        return true;
    }

    // `scanned` remembers how far earlier calls looked, so a long line
    // arriving in pieces is searched once, not once per piece.
    template <class T>
    cut cut_stream(std::span<const std::byte> have, std::size_t& scanned) const noexcept {
        if (scanned > have.size()) scanned = 0;
        const std::byte* p = nullptr;
        if (have.size() > scanned)
            p = static_cast<const std::byte*>(std::memchr(have.data() + scanned, static_cast<int>(delim_), have.size() - scanned));
        if (p) {
            auto len = static_cast<std::size_t>(p - have.data());
            scanned = 0;
            if (len > max_line_) return cut::fail(errc::message_too_large);
            return cut::done(len + 1, 0, len);
        }
        scanned = have.size();
        if (have.size() > max_line_) return cut::fail(errc::message_too_large);
        return cut::more(0);
    }

    // A datagram or queue message is one line; a trailing delimiter is optional.
    std::span<const std::byte> message_payload(std::span<const std::byte> msg) const noexcept {
        if (!msg.empty() && msg.back() == delim_) return msg.first(msg.size() - 1);
        return msg;
    }

    template <class T>
    bool decode(std::span<const std::byte> payload, T& out, std::error_code& ec) const {
        if (payload.size() > max_line_ || !codec<T>::decode(payload, out)) {
            ec = make_error_code(errc::bad_message);
            return false;
        }
        return true;
    }

private:
    std::byte delim_ = std::byte{'\n'};
    std::size_t max_line_ = default_max_line;
};

} // namespace ipc::framing
