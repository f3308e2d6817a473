// ipc/error.hpp: the ipc error category, errc values and ipc::error.
#pragma once

#include "version.hpp" // first: the C++20 check

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <string>
#include <string_view>
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
    dropped,            // a broadcast subscriber fell a whole ring behind and was dropped (slow_policy::drop_slowest)
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
        case errc::dropped: return "the publisher dropped this subscriber for falling a whole ring behind";
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
}  // namespace detail

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

// Why this thread's last failure happened, in words: the object, the value and
// the limit ("ring 'jobs': capacity 1000 is not a power of two"). An
// error_code cannot carry text, so the place that finds a failure records it
// here beside the code, and throw_error adds it to the exception's message
// when the codes agree (a stale explanation of another failure never does).
// A fixed buffer: recording never allocates and never throws.
struct error_detail {
    std::error_code code;
    char text[320] = {};
};
inline error_detail& last_detail() noexcept {
    thread_local error_detail d;
    return d;
}

// Records printf-style words for `ec` and returns ec: `return ec = explain(errc::x, "...", ...);`
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
inline std::error_code explain(std::error_code ec, const char* fmt, ...) noexcept {
    error_detail& d = last_detail();
    d.code = ec;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(d.text, sizeof d.text, fmt, ap);
    va_end(ap);
    return ec;
}

// "what: <explanation>" when this thread explained `ec` last, else "what".
inline std::string describe(std::error_code ec, const char* what) {
    error_detail& d = last_detail();
    std::string s(what);
    if (d.code == ec && d.text[0] != '\0') {
        s += ": ";
        s += d.text;
    }
    d = error_detail{};
    return s;
}

[[noreturn]] inline void throw_error(std::error_code ec, const char* what) { throw ipc::error(ec, describe(ec, what)); }

inline void throw_if(std::error_code ec, const char* what) {
    if (ec) throw_error(ec, what);
}

}  // namespace detail

// The words recorded with this thread's last failure, for the error_code
// twins: empty unless `ec` is the failure they describe.
inline std::string_view last_error_detail(std::error_code ec) noexcept {
    const detail::error_detail& d = detail::last_detail();
    return d.code == ec ? std::string_view(d.text) : std::string_view();
}

}  // namespace ipc

template <>
struct std::is_error_code_enum<ipc::errc> : std::true_type {};
