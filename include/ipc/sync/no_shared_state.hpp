// ipc/sync/no_shared_state.hpp: the region state of a policy that keeps nothing of its own in a ring's region.
#pragma once

#include <string_view>
#include <system_error>

#include "../concepts.hpp"

namespace ipc::ring {
struct sync_area;  // ring/layout.hpp: only named here
}

namespace ipc::sync {

// A policy that waits without words of its own in the region (sync::spin,
// sync::eventfd, sync::sysv_sem, whose set the region holds) derives from
// this and still names itself (shared_name, see ring/sync_shared.hpp), so
// that an end of another policy is refused: each one's sleepers are woken
// only by its own notifier.
struct no_shared_state {
    struct shared {};
    struct shared_direction {};
    static bool init_shared(ring::sync_area&, std::error_code&) noexcept { return true; }
    static void wake_all(ring::sync_area&, direction) noexcept {}
    static void forget_end(ring::sync_area&, direction, int) noexcept {}
};

}  // namespace ipc::sync
