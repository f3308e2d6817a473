// ipc/sync/poll.hpp: wait in the kernel, the natural policy for descriptor transports.
#pragma once

#include <poll.h>

#include "../concepts.hpp"
#include "../detail/fd.hpp"

namespace ipc::sync {

// Plain blocking calls are the transport's own blocking system call (one
// syscall, as a hand-written program makes); timed calls wait with ppoll(2).
// The kernel wakes the peer, so notify() is empty.
struct poll {
    static constexpr bool kernel_blocking = true;
    static constexpr bool can_block = true;

    template <transport::pollable Tr>
    bool wait(Tr& t, direction d, const deadline& dl, std::error_code& ec) const noexcept {
        return detail::wait_fd(t.native_handle(), d == direction::recv ? POLLIN : POLLOUT, dl, ec);
    }
    template <class Tr>
    void notify(Tr&, direction) const noexcept {}
};

}  // namespace ipc::sync
