// ipc/detail/outcome.hpp: one place that turns an operation's error_code into
// what its throwing call and its error_code twin return.
#pragma once

#include <optional>
#include <system_error>

#include "../error.hpp"
#include "../status.hpp"

namespace ipc::detail {

// The ends of waiting a program must expect are statuses, not errors.
inline std::optional<status> expected_status(std::error_code ec) noexcept {
    if (ec.category() != ipc_category()) return std::nullopt;
    switch (static_cast<errc>(ec.value())) {
    case errc::would_block: return status::would_block;
    case errc::timed_out: return status::timed_out;
    case errc::peer_closed: return status::closed;
    case errc::peer_dead: return status::peer_dead;
    case errc::dropped: return status::dropped;
    default: return std::nullopt;
    }
}

// The throwing call: ok, an expected status, or ipc::error naming `what`.
inline status settle(std::error_code ec, const char* what) {
    if (!ec) return status::ok;
    if (auto s = expected_status(ec)) return *s;
    throw_error(ec, what);
}

// The error_code twin: never throws; a real failure is status::failed with ec set.
inline status settle(std::error_code got, std::error_code& ec) noexcept {
    ec = got;
    if (!got) return status::ok;
    if (auto s = expected_status(got)) return *s;
    return status::failed;
}

}  // namespace ipc::detail
