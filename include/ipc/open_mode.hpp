// ipc/open_mode.hpp: how a named object is opened, shared by every named transport.
#pragma once

namespace ipc {

// create_only fails with errc::already_exists if the object is there;
// open_only fails with errc::not_found if it is not; open_or_create does
// whichever applies, and two processes racing to create agree on one object.
struct create_only_t {
    explicit create_only_t() = default;
};
struct open_only_t {
    explicit open_only_t() = default;
};
struct open_or_create_t {
    explicit open_or_create_t() = default;
};

inline constexpr create_only_t create_only{};
inline constexpr open_only_t open_only{};
inline constexpr open_or_create_t open_or_create{};

} // namespace ipc
