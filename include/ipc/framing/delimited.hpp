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
//
// As cat and awk do, a last line without its delimiter (`printf x > fifo`, a
// peer that closed after a partial line) is delivered at end of stream. Over
// a message transport (datagrams, queues) each message is one line: a send
// ends it with the delimiter, as on a stream, and a receive removes one
// trailing delimiter if it is there, so a raw peer may send lines with or
// without it and reads each message as a line.
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
            ec = ipc::detail::explain(errc::message_too_large, "a line of %zu bytes is over max_line %zu", body.size(), max_line_);
            return false;
        }
        if (!body.empty() && std::memchr(body.data(), static_cast<int>(delim_), body.size())) {
            ec = ipc::detail::explain(errc::bad_message, "a line of %zu bytes contains the delimiter (it would arrive as two)", body.size());
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

    // The stream ended with `have` buffered and no delimiter: the last line.
    template <class T>
    cut cut_final(std::span<const std::byte> have) const noexcept {
        if (have.size() > max_line_) return cut::fail(errc::message_too_large);
        return cut::done(have.size(), 0, have.size());
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

}  // namespace ipc::framing
