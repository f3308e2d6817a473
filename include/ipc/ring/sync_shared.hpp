// ipc/ring/sync_shared.hpp: how a sync policy declares, sets up and reaches its state in a ring's sync area.
//
// A policy P that waits through the region declares (see sync/futex.hpp):
//   static constexpr std::string_view shared_name;   "futex": its tag is the hash of it
//   struct shared;                                    region-wide, fits policy_block::size
//   struct shared_direction;                          per direction, fits wait_slot::policy_size
//   static bool init_shared(sync_area&, ec);          sets both up in a fresh area (they are zero before)
//   static void wake_all(sync_area&, direction d);    wakes every sleeper in d, with nothing but the
//                                                     region (an end left or was reaped), or does nothing
//   static void forget_end(sync_area&, direction, int peer_slot);
//                                                     the end in that peer-table slot left or died
// A channel hands its policy to its transport (ring_region::use_sync<P>()),
// which binds the region to it when an end attaches (bind_sync below) and
// calls wake_all / forget_end when an end leaves or a dead one is reaped.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string_view>
#include <system_error>

#include "../detail/chrono.hpp"
#include "../detail/sleep.hpp"
#include "../error.hpp"
#include "layout.hpp"

namespace ipc::ring {

template <class P>
concept shares_region = requires(sync_area& a, direction d, int slot, std::error_code& ec) {
    { P::shared_name } -> std::convertible_to<std::string_view>;
    typename P::shared;
    typename P::shared_direction;
    { P::init_shared(a, ec) } -> std::same_as<bool>;
    P::wake_all(a, d);
    P::forget_end(a, d, slot);
} && sizeof(typename P::shared) <= policy_block::size && alignof(typename P::shared) <= ipc::detail::cache_line &&
    sizeof(typename P::shared_direction) <= wait_slot::policy_size && alignof(typename P::shared_direction) <= 8;

// The area's tag while the first user sets it up; a policy's tag is the hash
// of its name, never 0 or this.
inline constexpr std::uint64_t busy_sync_tag = 1;

template <shares_region P>
inline constexpr std::uint64_t sync_tag = detail::fnv1a(P::shared_name);

// P's state in an area bound to P (bind_sync succeeded for it).
template <shares_region P>
typename P::shared& shared_of(sync_area& a) noexcept {
    return *std::launder(reinterpret_cast<typename P::shared*>(a.policy.bytes));
}
template <shares_region P>
typename P::shared_direction& shared_of(sync_area& a, direction d) noexcept {
    return *std::launder(reinterpret_cast<typename P::shared_direction*>(a.dir[detail::index(d)].policy));
}

// Sets P's state up in a fresh area (all zero until now).
template <shares_region P>
bool set_up(sync_area& a, std::error_code& ec) noexcept {
    new (a.policy.bytes) typename P::shared{};
    for (auto& d : a.dir) new (d.policy) typename P::shared_direction{};
    return P::init_shared(a, ec);
}

// What a region end keeps of its channel's policy: plain functions, since a
// region is reached by processes whose addresses differ (only the tag is shared).
struct sync_binding {
    std::uint64_t tag;
    std::string_view name;
    bool (*init)(sync_area&, std::error_code&) noexcept;
    void (*wake_all)(sync_area&, direction) noexcept;
    void (*forget_end)(sync_area&, direction, int) noexcept;
};
template <shares_region P>
inline constexpr sync_binding binding_of{sync_tag<P>, P::shared_name, &set_up<P>, &P::wake_all, &P::forget_end};

// Binds the area to b's policy: sets it up if no policy has (the first user
// wins; others wait for it, up to 2 s), else checks it is the same policy.
// errc::layout_mismatch names both policies if not.
inline bool bind_sync(sync_area& a, const sync_binding& b, std::error_code& ec) noexcept {
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
    auto& tag = a.policy.tag;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (;;) {
        std::uint64_t t = tag.load(std::memory_order_acquire);
        if (t == b.tag) [[likely]]
            return true;
        if (t == 0) {
            if (!tag.compare_exchange_strong(t, busy_sync_tag, std::memory_order_acq_rel)) continue;
            if (!b.init(a, ec)) {
                tag.store(0, std::memory_order_release);
                return false;
            }
            std::size_t i = 0;
            for (; i + 1 < policy_block::name_size && i < b.name.size(); ++i) a.policy.name[i] = b.name[i];
            a.policy.name[i] = '\0';
            tag.store(b.tag, std::memory_order_release);
            return true;
        }
        if (t != busy_sync_tag) {
            char found[policy_block::name_size];  // untrusted: printable characters only, bounded
            std::size_t i = 0;
            for (; i + 1 < sizeof found && a.policy.name[i] != '\0'; ++i) {
                const char c = a.policy.name[i];
                found[i] = c > 0x20 && c < 0x7f ? c : '?';
            }
            found[i] = '\0';
            ec = ipc::detail::explain(make_error_code(errc::layout_mismatch),
                                      "the region waits with sync::%s (tag %#llx), this end with sync::%.*s: every end of "
                                      "a ring must use one sync policy (a sleeper of one is never woken by the other)",
                                      i ? found : "?", static_cast<unsigned long long>(t), static_cast<int>(b.name.size()),
                                      b.name.data());
            return false;
        }
        if (std::chrono::steady_clock::now() >= until) {
            ec = ipc::detail::explain(make_error_code(errc::corrupt),
                                      "the region's sync area was still being set up for a policy 2 s later (its "
                                      "process died at it?); this end uses sync::%.*s",
                                      static_cast<int>(b.name.size()), b.name.data());
            return false;
        }
        ipc::detail::sleep_for(std::chrono::milliseconds(1));
    }
}

}  // namespace ipc::ring
