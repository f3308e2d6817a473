// ipc/detail/message_queue.hpp: what the POSIX and System V message queue transports share.
#pragma once

#include <cerrno>
#include <climits>
#include <cstddef>
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

// An owned array of bytes (what std::unique_ptr<std::byte[]> does, without
// <memory> and its cost to every includer's compile time).
class byte_buffer {
public:
    byte_buffer() noexcept = default;
    explicit byte_buffer(std::byte* p) noexcept : p_(p) {}
    byte_buffer(byte_buffer&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
    byte_buffer& operator=(byte_buffer&& o) noexcept {
        if (this != &o) {
            delete[] p_;
            p_ = o.p_;
            o.p_ = nullptr;
        }
        return *this;
    }
    ~byte_buffer() { delete[] p_; }

    std::byte* get() const noexcept { return p_; }
    std::byte& operator[](std::size_t i) const noexcept { return p_[i]; }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    void reset() noexcept { *this = byte_buffer(); }

private:
    std::byte* p_ = nullptr;
};

// A buffer for one whole message, made once; ENOMEM (no throw) when it cannot be.
inline byte_buffer message_buffer(std::size_t bytes, std::error_code& ec) noexcept {
    byte_buffer b(new (std::nothrow) std::byte[bytes]);
    if (!b) ec = std::error_code(ENOMEM, std::system_category());
    return b;
}

}  // namespace ipc::detail
