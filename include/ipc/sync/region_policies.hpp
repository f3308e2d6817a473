// ipc/sync/region_policies.hpp: every sync policy that keeps state in a ring's region, found by its tag.
//
// An end with a channel wakes peers through its channel's policy. A bare
// transport (a ring_region used without a channel) has none of its own: when
// it leaves, it wakes the other side through the policy the region is bound
// to, which it finds here by the region's tag. A new policy that keeps state
// in the region adds itself to `region_policies` (one line).
#pragma once

#include <cstdint>

#include "../ring/sync_shared.hpp"
#include "eventfd.hpp"
#include "futex.hpp"
#include "posix_sem.hpp"
#include "spin.hpp"
#include "sysv_sem.hpp"

namespace ipc::sync {

template <class... Policies>
struct policy_list {
    // The binding of the listed policy whose tag this is; nullptr if none (0: not bound yet).
    static const ring::sync_binding* find(std::uint64_t tag) noexcept {
        const ring::sync_binding* found = nullptr;
        (void)((tag == ring::sync_tag<Policies> && (found = &ring::binding_of<Policies>) != nullptr) || ...);
        return found;
    }
};

using region_policies = policy_list<futex, posix_sem, sysv_sem, eventfd, spin>;

}  // namespace ipc::sync
