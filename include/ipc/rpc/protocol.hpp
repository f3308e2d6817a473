// ipc/rpc/protocol.hpp: the wire format of ipc's remote calls, and its decoder.
//
// A frame is one message of the link's framing (a 4-byte length prefix on
// a stream, one record in a shared-memory ring), and inside it:
//
//   offset size
//      0    4   magic "IRPC"
//      4    1   protocol version (rpc::protocol_version)
//      5    1   kind: hello, welcome, request, reply, error
//      6    1   method name length (request only; at most max_method_length)
//      7    1   error category (error only: 0 rpc, 1 ipc, 2 system, 3 generic, 4 other)
//      8    8   call id (request, reply, error; 0 in an error about the connection itself)
//     16    8   request type tag (ring::type_tag of the request type)
//     24    8   reply type tag
//     32    4   payload size
//     36    4   error code value (error only)
//     40        method name, then payload (ipc::codec bytes; an error's message)
//
// Little-endian, fixed size, so one gather write sends a call and the
// decoder checks every length against the bytes that arrived. A connection
// starts with hello (carrying the client's version in byte 4) and welcome; a
// client of another version gets an error frame saying which version each
// side speaks, then the connection closes. The first 8 bytes and the error
// frame keep this layout in every version, so that refusal stays readable.
// Method names travel with every call (at most max_method_length bytes):
// the server finds its handler without per-connection state.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../codec.hpp"
#include "../error.hpp"
#include "../ring/layout.hpp"

namespace ipc::rpc {

static_assert(std::endian::native == std::endian::little, "ipc::rpc: the wire format is little-endian and written as such");

inline constexpr std::uint8_t protocol_version = 1;
// A method name longer than this is refused by the client and by the decoder.
inline constexpr std::size_t max_method_length = 255;
// The largest frame a link accepts (the length prefix is checked against it
// before any allocation); an argument or reply near it is message_too_large.
inline constexpr std::size_t max_frame_size = std::size_t{1} << 20;
// An error message travelling back is cut to this many bytes.
inline constexpr std::size_t max_error_message = 1024;

// Failures of a call that are the protocol's (the handler's own codes travel as they are).
enum class errc : int {
    unknown_method = 1,  // no handler has this name
    type_mismatch,       // the request or reply type differs from the handler's
    remote_error,        // the handler threw something that is not a std::system_error
    version_mismatch,    // the peer speaks another protocol version
    bad_frame,           // a frame failed the decoder's checks
    method_name_too_long,
};

namespace detail {
class category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "ipc.rpc"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::unknown_method: return "no such method";
        case errc::type_mismatch: return "request or reply type does not match the method's";
        case errc::remote_error: return "the handler failed";
        case errc::version_mismatch: return "the peer speaks another rpc protocol version";
        case errc::bad_frame: return "malformed rpc frame";
        case errc::method_name_too_long: return "method name too long";
        }
        return "unknown rpc error";
    }
};
}  // namespace detail

inline const std::error_category& rpc_category() noexcept {
    static const detail::category_impl instance;
    return instance;
}
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), rpc_category()}; }

enum class frame_kind : std::uint8_t { hello = 1, welcome, request, reply, error };

// The error_category an error frame names; others arrive as remote_error.
enum class error_origin : std::uint8_t { rpc = 0, ipc, system, generic, other };

inline constexpr std::uint32_t frame_magic = 0x43505249;  // "IRPC" read little-endian
inline constexpr std::size_t header_size = 40;

struct header {
    std::uint32_t magic = frame_magic;
    std::uint8_t version = protocol_version;
    frame_kind kind = frame_kind::request;
    std::uint8_t method_len = 0;
    error_origin origin = error_origin::rpc;
    std::uint64_t id = 0;
    std::uint64_t request_tag = 0;
    std::uint64_t reply_tag = 0;
    std::uint32_t payload_size = 0;
    std::int32_t code = 0;
};
static_assert(sizeof(header) == header_size && std::is_trivially_copyable_v<header>, "the header is its wire bytes");

// A decoded frame: views into the buffer it was decoded from.
struct frame_view {
    header head;
    std::string_view method;
    std::span<const std::byte> payload;
};

// Checks everything a frame claims against the bytes that arrived; on
// failure ec is rpc::errc::bad_frame (or version_mismatch) with words saying
// which field and value. Never reads outside `in`, never allocates.
inline bool decode(std::span<const std::byte> in, frame_view& out, std::error_code& ec) noexcept {
    using ipc::detail::explain;
    if (in.size() < header_size) {
        ec = explain(make_error_code(errc::bad_frame), "rpc frame of %zu bytes is shorter than its %zu-byte header", in.size(), header_size);
        return false;
    }
    std::memcpy(&out.head, in.data(), header_size);
    const header& h = out.head;
    if (h.magic != frame_magic) {
        ec = explain(make_error_code(errc::bad_frame), "rpc frame magic 0x%08x, expected 0x%08x", static_cast<unsigned>(h.magic),
                     static_cast<unsigned>(frame_magic));
        return false;
    }
    const auto k = static_cast<std::uint8_t>(h.kind);
    if (k < static_cast<std::uint8_t>(frame_kind::hello) || k > static_cast<std::uint8_t>(frame_kind::error)) {
        ec = explain(make_error_code(errc::bad_frame), "rpc frame kind %u is none of hello(1)..error(5)", static_cast<unsigned>(k));
        return false;
    }
    // A hello carries the version it speaks, and an error frame (a refusal)
    // is read in any version; anything else must be ours.
    if (h.version != protocol_version && h.kind != frame_kind::hello && h.kind != frame_kind::error) {
        ec = explain(make_error_code(errc::version_mismatch), "rpc frame of protocol version %u, this side speaks %u",
                     static_cast<unsigned>(h.version), static_cast<unsigned>(protocol_version));
        return false;
    }
    if (h.method_len != 0 && h.kind != frame_kind::request) {
        ec = explain(make_error_code(errc::bad_frame), "rpc frame kind %u carries a method name of %u bytes (only requests do)",
                     static_cast<unsigned>(k), static_cast<unsigned>(h.method_len));
        return false;
    }
    const std::size_t rest = in.size() - header_size;
    if (std::size_t{h.method_len} + h.payload_size != rest) {
        ec = explain(make_error_code(errc::bad_frame), "rpc frame says %u method bytes + %u payload bytes, but %zu follow its header",
                     static_cast<unsigned>(h.method_len), static_cast<unsigned>(h.payload_size), rest);
        return false;
    }
    if (h.kind == frame_kind::request && h.method_len == 0) {
        ec = explain(make_error_code(errc::bad_frame), "rpc request %llu names no method", static_cast<unsigned long long>(h.id));
        return false;
    }
    if (h.kind == frame_kind::error && h.payload_size > max_error_message) {
        ec = explain(make_error_code(errc::bad_frame), "rpc error message of %u bytes is over the limit of %zu",
                     static_cast<unsigned>(h.payload_size), max_error_message);
        return false;
    }
    const char* base = reinterpret_cast<const char*>(in.data()) + header_size;
    out.method = std::string_view(base, h.method_len);
    out.payload = in.subspan(header_size + h.method_len);
    return true;
}

namespace detail {

// One frame's bytes, reused from call to call so the steady state does not
// allocate; the link's framing carries it whole (ipc::codec<frame_buffer>).
struct frame_buffer {
    std::vector<std::byte> bytes;
};

// Can a frame carry this method name and n payload bytes? If not, ec says which limit.
inline bool frame_fits(std::string_view method, std::size_t n, std::error_code& ec) {
    if (method.size() > max_method_length) {
        ec = ipc::detail::explain(make_error_code(errc::method_name_too_long), "rpc method name of %zu bytes is over the limit of %zu",
                                  method.size(), max_method_length);
        return false;
    }
    if (n > max_frame_size - header_size - method.size()) {
        ec = ipc::detail::explain(make_error_code(ipc::errc::message_too_large),
                                  "rpc frame of %zu bytes (method '%.*s') is over the limit of %zu", header_size + method.size() + n,
                                  static_cast<int>(method.size()), method.empty() ? "" : method.data(), max_frame_size);
        return false;
    }
    return true;
}

// Writes header and method name for n payload bytes, with `room` bytes after
// them in f, and returns where that room starts.
inline std::byte* lay_out(frame_buffer& f, header h, std::string_view method, std::size_t n, std::size_t room) {
    h.method_len = static_cast<std::uint8_t>(method.size());
    h.payload_size = static_cast<std::uint32_t>(n);
    // resize() value-initialises only growth: in steady state it neither allocates nor clears.
    f.bytes.resize(header_size + method.size() + room);
    std::byte* p = f.bytes.data();
    std::memcpy(p, &h, header_size);
    if (!method.empty()) std::memcpy(p + header_size, method.data(), method.size());
    return p + header_size + method.size();
}

// Lays out a frame's header and method name and returns where its n payload
// bytes go (nullptr and ec set if the frame would be over a limit).
inline std::byte* prepare(frame_buffer& f, header h, std::string_view method, std::size_t n, std::error_code& ec) {
    return frame_fits(method, n, ec) ? lay_out(f, h, method, n, n) : nullptr;
}
// Only the header and method name of a frame whose n payload bytes are
// written from where they are (a gather write: no copy into the frame).
inline bool prepare_head(frame_buffer& f, header h, std::string_view method, std::size_t n, std::error_code& ec) {
    if (!frame_fits(method, n, ec)) return false;
    (void)lay_out(f, h, method, n, 0);
    return true;
}

inline bool encode_bytes(frame_buffer& f, const header& h, std::string_view method, std::span<const std::byte> payload, std::error_code& ec) {
    std::byte* out = prepare(f, h, method, payload.size(), ec);
    if (!out) return false;
    if (!payload.empty()) std::memcpy(out, payload.data(), payload.size());
    return true;
}

// Writes a frame: header, method name, then the payload encoded in place.
template <class T>
bool encode(frame_buffer& f, const header& h, std::string_view method, const T& payload, std::error_code& ec) {
    if constexpr (contiguous_codec<T>) {
        return encode_bytes(f, h, method, codec<T>::bytes(payload), ec);
    } else {
        const std::size_t n = codec<T>::size(payload);
        std::byte* out = prepare(f, h, method, n, ec);
        if (!out) return false;
        codec<T>::encode(payload, std::span<std::byte>(out, n));
        return true;
    }
}

// An error frame answering call `id`: the code, its category, and words.
inline void encode_error(frame_buffer& f, std::uint64_t id, std::error_code code, std::string_view message) {
    header h;
    h.kind = frame_kind::error;
    h.id = id;
    h.code = code.value();
    const std::error_category& c = code.category();
    h.origin = c == rpc_category()                ? error_origin::rpc
               : c == ipc_category()              ? error_origin::ipc
               : c == std::system_category()      ? error_origin::system
               : c == std::generic_category()     ? error_origin::generic
                                                  : error_origin::other;
    if (message.size() > max_error_message) message = message.substr(0, max_error_message);
    std::error_code ignored;  // a message within max_error_message always fits
    (void)encode_bytes(f, h, {}, std::as_bytes(std::span<const char>(message.data(), message.size())), ignored);
}

// The error_code an error frame names, rebuilt in this process's categories.
inline std::error_code decoded_code(const header& h) noexcept {
    switch (h.origin) {
    case error_origin::rpc: return {h.code, rpc_category()};
    case error_origin::ipc: return {h.code, ipc_category()};
    case error_origin::system: return {h.code, std::system_category()};
    case error_origin::generic: return {h.code, std::generic_category()};
    default: return make_error_code(errc::remote_error);
    }
}

}  // namespace detail
}  // namespace ipc::rpc

namespace ipc {
template <>
struct codec<rpc::detail::frame_buffer> {
    static std::span<const std::byte> bytes(const rpc::detail::frame_buffer& f) noexcept { return f.bytes; }
    static std::span<std::byte> writable(rpc::detail::frame_buffer& f, std::size_t n) {
        f.bytes.resize(n);
        return f.bytes;
    }
    static bool decode(std::span<const std::byte> in, rpc::detail::frame_buffer& f) {
        f.bytes.assign(in.begin(), in.end());
        return true;
    }
};
}  // namespace ipc

template <>
struct std::is_error_code_enum<ipc::rpc::errc> : std::true_type {};
