// ipc/framing/fixed.hpp: every message is exactly sizeof(T) bytes of a trivially copyable T.
#pragma once

#include <cstring>
#include <type_traits>

#include "frame.hpp"

namespace ipc::framing {

// The cheapest framing: no header, and the receiver reads exactly sizeof(T)
// bytes, so several readers can share one pipe (writes up to PIPE_BUF are
// atomic) and each gets whole messages.
struct fixed {
    template <class T>
    static consteval bool check() {
        static_assert(std::is_trivially_copyable_v<T>,
                      "ipc::framing::fixed needs a trivially copyable T: use length_prefixed for other types");
        return true;
    }

    template <class T>
    constexpr std::size_t max_payload() const noexcept { return sizeof(T); }

    template <class T>
    bool encode(const T& v, frame& f, std::vector<std::byte>&, std::error_code&) const noexcept {
        f.body = std::as_bytes(std::span<const T, 1>(&v, 1));
        return true;
    }

    template <class T>
    constexpr cut cut_stream(std::span<const std::byte> have, std::size_t&) const noexcept {
        if (have.size() < sizeof(T)) return cut::more(sizeof(T), 0);
        return cut::done(sizeof(T), 0, sizeof(T));
    }

    std::span<const std::byte> message_payload(std::span<const std::byte> msg) const noexcept { return msg; }

    template <class T>
    bool decode(std::span<const std::byte> payload, T& out, std::error_code& ec) const noexcept {
        if (payload.size() != sizeof(T)) {
            ec = ipc::detail::explain(errc::bad_message, "expected a %zu-byte message, received %zu bytes", sizeof(T), payload.size());
            return false;
        }
        std::memcpy(static_cast<void*>(&out), payload.data(), sizeof(T));
        return true;
    }
};

}  // namespace ipc::framing
