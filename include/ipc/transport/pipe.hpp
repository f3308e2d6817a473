// ipc/transport/pipe.hpp: anonymous pipes, the classic parent/child byte stream.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include "../detail/pipe_io.hpp"

namespace ipc::transport {

// The read end of a pipe (or any pipe descriptor, such as a shell's stdin).
class pipe_reader {
public:
    pipe_reader() noexcept = default;
    // Adopts fd, which must be the read end of a pipe or FIFO.
    explicit pipe_reader(detail::unique_fd fd) noexcept : end_(std::move(fd), O_RDONLY) {}

    std::size_t read_some(std::span<std::byte> buf, io_mode m, std::error_code& ec) noexcept { return end_.read(buf, m, ec); }
    int native_handle() const noexcept { return end_.native_handle(); }
    bool is_open() const noexcept { return end_.is_open(); }
    void close() noexcept { end_.close(); }
    [[nodiscard]] int release() noexcept { return end_.release(); }

private:
    detail::pipe_end end_;
};

// The write end. Writing after the reader closed is errc::peer_closed
// (status::closed), never a SIGPIPE death.
class pipe_writer {
public:
    pipe_writer() noexcept = default;
    explicit pipe_writer(detail::unique_fd fd) noexcept : end_(std::move(fd), O_WRONLY) {}

    std::size_t write_some(std::span<const std::span<const std::byte>> parts, io_mode m, std::error_code& ec) noexcept {
        return end_.write(parts, m, ec);
    }
    int native_handle() const noexcept { return end_.native_handle(); }
    bool is_open() const noexcept { return end_.is_open(); }
    void close() noexcept { end_.close(); }
    [[nodiscard]] int release() noexcept { return end_.release(); }

private:
    detail::pipe_end end_;
};

struct pipe_pair {
    pipe_reader reader;
    pipe_writer writer;
};

// A new pipe; both ends close on exec. pipe_size (bytes, 0 = the kernel's
// default) asks F_SETPIPE_SZ for a bigger buffer.
inline pipe_pair make_pipe(std::error_code& ec, int pipe_size = 0) noexcept {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        ec = detail::last_error();
        return {};
    }
    pipe_pair p{pipe_reader(detail::unique_fd(fds[0])), pipe_writer(detail::unique_fd(fds[1]))};
    if (pipe_size > 0 && ::fcntl(fds[1], F_SETPIPE_SZ, pipe_size) < 0) {
        ec = detail::last_error();
        return {};
    }
    return p;
}

inline pipe_pair make_pipe(int pipe_size = 0) {
    std::error_code ec;
    auto p = make_pipe(ec, pipe_size);
    detail::throw_if(ec, "pipe");
    return p;
}

} // namespace ipc::transport
