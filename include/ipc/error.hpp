// ipc/error.hpp: the ipc error category, errc values and ipc::error.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

namespace ipc {

// Conditions specific to ipc. Plain OS failures travel as errno values in
// std::system_category(); these name what a user can act on.
enum class errc : int {
    peer_closed = 1,    // the other end closed: end of stream, EPIPE, ECONNRESET
    timed_out,          // a _for/_until call reached its deadline
    would_block,        // a try_ call found nothing to do
    message_too_large,  // over the framing's or transport's maximum
    bad_message,        // malformed frame: wrong size, bad prefix, stream out of sync
    truncated,          // the peer closed in the middle of a message
    name_invalid,       // a name that is empty, too long, or has forbidden characters
    already_exists,     // create_only on an existing object
    not_found,          // open_only on a missing object
    layout_mismatch,    // a shared region made for another T, version or layout
    corrupt,            // a shared header or index that fails its checks
    peer_dead,          // the peer process died without closing
    limit_exceeded,     // a kernel or configured limit refused the request
    not_connected,      // an operation that needs a peer before one is there
    unsupported,        // the transport cannot do this (e.g. blocking under sync::none)
    in_use,             // a single-producer (single-consumer) end another live process holds
};

namespace detail {
class ipc_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "ipc"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::peer_closed: return "peer closed the channel";
        case errc::timed_out: return "operation timed out";
        case errc::would_block: return "operation would block";
        case errc::message_too_large: return "message too large";
        case errc::bad_message: return "bad message";
        case errc::truncated: return "peer closed in the middle of a message";
        case errc::name_invalid: return "invalid name";
        case errc::already_exists: return "object already exists";
        case errc::not_found: return "object not found";
        case errc::layout_mismatch: return "shared layout does not match this channel";
        case errc::corrupt: return "shared state is corrupt";
        case errc::peer_dead: return "peer process died";
        case errc::limit_exceeded: return "limit exceeded";
        case errc::not_connected: return "not connected";
        case errc::unsupported: return "operation not supported by this transport or policy";
        case errc::in_use: return "another live process holds this single-sender or single-receiver end";
        }
        return "unknown ipc error";
    }
    std::error_condition default_error_condition(int ev) const noexcept override {
        switch (static_cast<errc>(ev)) {
        case errc::timed_out: return std::errc::timed_out;
        case errc::would_block: return std::errc::operation_would_block;
        case errc::message_too_large: return std::errc::message_size;
        case errc::bad_message: return std::errc::bad_message;
        case errc::already_exists: return std::errc::file_exists;
        case errc::not_found: return std::errc::no_such_file_or_directory;
        case errc::name_invalid: return std::errc::invalid_argument;
        default: return {ev, *this};
        }
    }
};
} // namespace detail

inline const std::error_category& ipc_category() noexcept {
    static const detail::ipc_category_impl instance;
    return instance;
}

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), ipc_category()}; }

// Thrown by every throwing call; carries the same code its error_code twin sets.
class error : public std::system_error {
public:
    explicit error(std::error_code ec) : std::system_error(ec) {}
    error(std::error_code ec, const std::string& what) : std::system_error(ec, what) {}
};

namespace detail {

// errno as an error_code, with the values ipc gives a name to translated.
inline std::error_code errno_code(int e) noexcept {
    switch (e) {
    case EPIPE:
    case ECONNRESET: return make_error_code(errc::peer_closed);
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return make_error_code(errc::would_block);
    case ETIMEDOUT: return make_error_code(errc::timed_out);
    case EMSGSIZE: return make_error_code(errc::message_too_large);
    case EEXIST: return make_error_code(errc::already_exists);
    case ENOENT: return make_error_code(errc::not_found);
    default: return {e, std::system_category()};
    }
}

inline std::error_code last_error() noexcept { return errno_code(errno); }

[[noreturn]] inline void throw_error(std::error_code ec, const char* what) { throw ipc::error(ec, what); }

inline void throw_if(std::error_code ec, const char* what) {
    if (ec) throw_error(ec, what);
}

} // namespace detail
} // namespace ipc

template <>
struct std::is_error_code_enum<ipc::errc> : std::true_type {};
