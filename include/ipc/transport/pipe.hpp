// ipc/transport/pipe.hpp: anonymous pipes, the classic parent/child byte stream.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "../basic_channel.hpp"
#include "../detail/pipe_io.hpp"
#include "../framing/delimited.hpp"
#include "../fwd.hpp"
#include "../sync/poll.hpp"

namespace ipc::transport {

// The read end of a pipe (or any pipe descriptor, such as a shell's stdin).
class pipe_reader {
public:
    pipe_reader() noexcept = default;
    // Adopts fd, which must be the read end of a pipe or FIFO.
    explicit pipe_reader(detail::unique_fd fd) noexcept : end_(std::move(fd), O_RDONLY) {}
    // Takes ownership of an open pipe or FIFO descriptor, e.g. a dup of stdin.
    [[nodiscard]] static pipe_reader adopt(int fd) noexcept { return pipe_reader(detail::unique_fd(fd)); }

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
    // Takes ownership of an open pipe or FIFO descriptor, e.g. a dup of stdout.
    [[nodiscard]] static pipe_writer adopt(int fd) noexcept { return pipe_writer(detail::unique_fd(fd)); }

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
inline pipe_pair make_pipe(int pipe_size, std::error_code& ec) noexcept {
    ec.clear();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        ec = detail::last_error();
        return {};
    }
    pipe_pair p{pipe_reader(detail::unique_fd(fds[0])), pipe_writer(detail::unique_fd(fds[1]))};
    if (pipe_size > 0 && ::fcntl(fds[1], F_SETPIPE_SZ, pipe_size) < 0) {
        ec = detail::explain(detail::last_error(), "F_SETPIPE_SZ %d (the limit for unprivileged processes is /proc/sys/fs/pipe-max-size)",
                             pipe_size);
        return {};
    }
    return p;
}
inline pipe_pair make_pipe(std::error_code& ec) noexcept { return make_pipe(0, ec); }
inline pipe_pair make_pipe(int pipe_size = 0) {
    std::error_code ec;
    auto p = make_pipe(pipe_size, ec);
    detail::throw_if(ec, "pipe");
    return p;
}

}  // namespace ipc::transport

namespace ipc {

// Both ends of a new pipe as typed channels. After fork(), each process keeps
// one end and destroys (or close()s) the other.
template <class T, class Sync, class Framing>  // defaults: sync::poll, default_framing_t<T> (ipc/fwd.hpp)
struct pipe_channel {
    pipe_sender<T, Sync, Framing> sender;
    pipe_receiver<T, Sync, Framing> receiver;

    static pipe_channel create(Framing f = {}, int pipe_size = 0) {
        auto p = transport::make_pipe(pipe_size);
        return {pipe_sender<T, Sync, Framing>(std::move(p.writer), f), pipe_receiver<T, Sync, Framing>(std::move(p.reader), f)};
    }
    static pipe_channel create(std::error_code& ec) { return create(Framing{}, 0, ec); }
    static pipe_channel create(Framing f, int pipe_size, std::error_code& ec) {
        auto p = transport::make_pipe(pipe_size, ec);
        if (ec) return {};
        return {pipe_sender<T, Sync, Framing>(std::move(p.writer), f), pipe_receiver<T, Sync, Framing>(std::move(p.reader), f)};
    }
};

}  // namespace ipc

// The other channels over pipes (defined in ipc/fwd.hpp, included above):
// ipc::pipe_sender<T>, ipc::pipe_receiver<T>, and for lines of text (shell
// interop) ipc::pipe_line_sender and ipc::pipe_line_receiver.
