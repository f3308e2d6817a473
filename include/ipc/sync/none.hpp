// ipc/sync/none.hpp: never wait. Channels with this policy offer only try_ calls.
#pragma once

#include "../concepts.hpp"
#include "../error.hpp"

namespace ipc::sync {

struct none {
    static constexpr bool kernel_blocking = false;
    static constexpr bool can_block = false;

    template <class Tr>
    bool wait(Tr&, direction, const deadline& dl, std::error_code& ec) const noexcept {
        ec = make_error_code(dl.reports_would_block() ? errc::would_block : errc::unsupported);
        return false;
    }
    template <class Tr>
    void notify(Tr&, direction) const noexcept {}
};

}  // namespace ipc::sync
