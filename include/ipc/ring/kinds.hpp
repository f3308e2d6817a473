// ipc/ring/kinds.hpp: every ring kind a tool can meet in a region, so that ipc-ls describes any of them.
//
// A new kind adds itself to `known` (one line): ipc-ls then shows its name,
// what is queued and the fields its describe() adds, with no change in the tool.
#pragma once

#include <cstddef>
#include <span>

#include "broadcast.hpp"
#include "broadcast_bytes.hpp"
#include "bytes.hpp"
#include "kind.hpp"
#include "layout.hpp"
#include "mpmc.hpp"
#include "spsc.hpp"

namespace ipc::ring {

template <class... Kinds>
struct kind_list {
    // Whether a listed kind has this number (a header's, untrusted).
    static constexpr bool knows(std::uint64_t k) noexcept { return ((k == static_cast<std::uint64_t>(Kinds::ring_kind)) || ...); }

    // Calls Kind::describe for the kind whose number the header records.
    // False if no listed kind has that number, or the region cannot hold its
    // control. (describe() depends on the kind, never on its element type.)
    static bool describe(std::span<const std::byte> region, const header& h, description& out) noexcept {
        return ((h.kind == static_cast<std::uint32_t>(Kinds::ring_kind) && describe_as<Kinds>(region, h, out)) || ...);
    }

private:
    template <class K>
    static bool describe_as(std::span<const std::byte> region, const header& h, description& out) noexcept {
        static_assert(kind_plugin<K>);
        out.kind = kind_name(static_cast<std::uint64_t>(K::ring_kind));
        return K::describe(region, h, out);
    }
};

using known = kind_list<spsc<std::byte>, mpmc<std::byte, delivery::at_most_once>, bytes, broadcast<std::byte>, broadcast_bytes>;

// What ipc-ls shows of a formatted region whose header (version, capacity,
// sizes) the caller has checked; region is all of it that is mapped.
inline bool describe(std::span<const std::byte> region, description& out) noexcept {
    if (region.size() < sizeof(header)) return false;
    return known::describe(region, *std::launder(reinterpret_cast<const header*>(region.data())), out);
}

}  // namespace ipc::ring
