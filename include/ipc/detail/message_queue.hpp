// ipc/detail/message_queue.hpp: what the POSIX and System V message queue transports share.
#pragma once

#include <cerrno>
#include <climits>
#include <cstddef>
#include <memory>
#include <new>
#include <system_error>

namespace ipc::detail {

// Both kernels take a queue's sizes as a long (mq_attr's fields, msgrcv's
// msgsz): a larger size option is refused before it can wrap a buffer size.
inline constexpr std::size_t queue_size_max = LONG_MAX;

// A call on a closed queue fails as the system call would: EBADF.
inline bool queue_open(bool is_open, std::error_code& ec) noexcept {
    if (is_open) return true;
    ec = std::error_code(EBADF, std::system_category());
    return false;
}

// A buffer for one whole message, made once; ENOMEM (no throw) when it cannot be.
inline std::unique_ptr<std::byte[]> message_buffer(std::size_t bytes, std::error_code& ec) noexcept {
    std::unique_ptr<std::byte[]> b(new (std::nothrow) std::byte[bytes]);
    if (!b) ec = std::error_code(ENOMEM, std::system_category());
    return b;
}

} // namespace ipc::detail
