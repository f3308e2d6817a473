// ipc/transport/fifo.hpp: named pipes (mkfifo), a byte stream between unrelated processes.
//
//   ipc::transport::fifo::create("/run/me/jobs");                 // mode 0600, fails if the path exists
//   auto rx = ipc::fifo_line_receiver(ipc::transport::fifo_reader::open("/run/me/jobs"));
//   ...                                       // elsewhere: echo hello > /run/me/jobs
//   ipc::transport::fifo::remove("/run/me/jobs");
//
// Either side may open first. A reader never waits in open (unless asked to);
// a writer waits, bounded by its deadline, until a reader exists.
#pragma once

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "../basic_channel.hpp"
#include "../detail/chrono.hpp"
#include "../detail/deadline.hpp"
#include "../detail/file_open.hpp"
#include "../detail/name.hpp"
#include "../detail/pipe_io.hpp"
#include "../detail/sleep.hpp"
#include "../eos.hpp"
#include "../framing/delimited.hpp"
#include "../fwd.hpp"

namespace ipc::detail {

// A validated (detail::fs_path), NUL-terminated copy of a FIFO path. No
// allocation. Every FIFO call starts here, so this is where ec is cleared.
class fifo_path {
public:
    fifo_path(std::string_view p, std::error_code& ec) noexcept {
        ec.clear();
        if (!fs_path(p, ec)) return;
        std::memcpy(buf_, p.data(), p.size());
        buf_[p.size()] = '\0';
        ok_ = true;
    }
    explicit operator bool() const noexcept { return ok_; }
    const char* c_str() const noexcept { return buf_; }

private:
    char buf_[PATH_MAX] = {};
    bool ok_ = false;
};

// Refuses a path that is there but is not a FIFO (a file, a directory, a
// device), before opening it: opening a device can have side effects.
inline bool check_fifo_path(const char* path, std::error_code& ec) noexcept {
    struct stat st {};
    if (::lstat(path, &st) != 0) {
        ec = last_error();
        return false;
    }
    if (S_ISLNK(st.st_mode)) {
        ec = std::error_code(ELOOP, std::system_category());  // what O_NOFOLLOW says
        return false;
    }
    if (!S_ISFIFO(st.st_mode)) {
        ec = make_error_code(errc::bad_message);
        return false;
    }
    return true;
}

// Opens path with flags and checks that what was opened is a FIFO (the path
// may have been swapped after the lstat), then makes it blocking as pipe_end expects.
inline unique_fd open_fifo(const char* path, int flags, std::error_code& ec) noexcept {
    return open_checked(path, flags, 0, S_IFIFO, make_error_code(errc::bad_message), ec);
}

// What the two ends share: the timed opens (End::open(path, deadline, ec)
// does the work) and the descriptor.
template <class End>
class fifo_end {
public:
    template <class Rep, class Period>
    static End open(std::string_view path, std::chrono::duration<Rep, Period> timeout, std::error_code& ec) noexcept {
        End e = End::open(path, deadline::after(timeout), ec);
        if (ec) with_name(ec, path);
        return e;
    }
    template <class Rep, class Period>
    static End open(std::string_view path, std::chrono::duration<Rep, Period> timeout) {
        std::error_code ec;
        End e = open(path, timeout, ec);
        throw_if(ec, End::open_what);
        return e;
    }

    int native_handle() const noexcept { return end_.native_handle(); }
    bool is_open() const noexcept { return end_.is_open(); }
    void close() noexcept { end_.close(); }
    [[nodiscard]] int release() noexcept { return end_.release(); }

protected:
    pipe_end end_;
};

}  // namespace ipc::detail

namespace ipc::transport {

// Creating and removing the FIFO itself. Paths are file-system paths,
// validated as described at detail::fs_path (errc::name_invalid).
struct fifo {
    // mkfifo with O_EXCL semantics: an existing path (of any kind, a dangling
    // symlink included) is errc::already_exists. The FIFO gets exactly p.mode
    // (0600 unless widened), whatever the umask: the mode is set again on the
    // created inode, reached through an O_PATH descriptor so that a path
    // swapped in meanwhile is not followed and the FIFO is never opened for I/O.
    static void create(std::string_view path, permissions p = {}) {
        std::error_code ec;
        (void)create(path, p, ec);
        detail::throw_if(ec, "fifo::create");
    }
    static bool create(std::string_view path, std::error_code& ec) noexcept { return create(path, permissions{}, ec); }
    static bool create(std::string_view path, permissions perm, std::error_code& ec) noexcept {
        if (make(path, perm.mode & 07777, ec)) return true;
        detail::with_name(ec, path);
        return false;
    }

    // Unlinks the FIFO. Returns false (without an error) when nothing is
    // there; a path that is not a FIFO is left alone: errc::bad_message.
    static bool remove(std::string_view path, std::error_code& ec) noexcept {
        detail::fifo_path p(path, ec);
        if (!p) return false;
        std::error_code why;
        if (!detail::check_fifo_path(p.c_str(), why)) {
            if (why != errc::not_found) ec = why;
            return false;
        }
        if (::unlink(p.c_str()) != 0) {
            if (errno != ENOENT) ec = detail::last_error();
            return false;
        }
        return true;
    }
    static bool remove(std::string_view path) {
        std::error_code ec;
        bool r = remove(path, ec);
        detail::throw_if(ec, "fifo::remove");
        return r;
    }

private:
    static bool make(std::string_view path, ::mode_t mode, std::error_code& ec) noexcept {
        detail::fifo_path p(path, ec);
        if (!p) return false;
        if (::mkfifo(p.c_str(), mode) != 0) {  // umask can only take bits away: never wider than asked
            ec = detail::last_error();
            return false;
        }
        detail::unique_fd fd(::open(p.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        struct stat st {};
        bool ours = fd && ::fstat(fd.get(), &st) == 0 && S_ISFIFO(st.st_mode);
        if (ours) {
            char proc[32];
            std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd.get());
            if (::chmod(proc, mode) == 0) return true;
        }
        ec = ours ? detail::last_error() : make_error_code(errc::bad_message);
        if (ours) ::unlink(p.c_str());
        return false;
    }
};

// The read end of a FIFO.
//
// End of stream: read(2) on a FIFO returns 0 whenever no writer is connected,
// including before the first one arrives. This reader reports end of stream
// (errc::peer_closed) only once a writer has connected and every writer has
// left; before any writer it is would_block (nonblocking) or keeps waiting
// (blocking). It relies on the kernel's own record: a FIFO opened O_NONBLOCK
// with no writer reports POLLHUP only after a writer has come and gone.
// A reader serving writers one after another (`echo a > f; echo b > f`)
// chooses end_of_stream(eos::never) and waits for the next one instead.
class fifo_reader : public detail::fifo_end<fifo_reader> {
public:
    static constexpr const char* open_what = "fifo_reader::open";
    using fifo_end::open;  // open(path, timeout[, ec]): see open(path, deadline, ec)

    fifo_reader() noexcept = default;

    // Opens at once, writer or not; the first receive waits for a writer.
    static fifo_reader open(std::string_view path, std::error_code& ec) noexcept {
        detail::fifo_path p(path, ec);
        if (!p || !detail::check_fifo_path(p.c_str(), ec)) return detail::with_name(ec, path), fifo_reader{};
        auto fd = detail::open_fifo(p.c_str(), O_RDONLY, ec);
        if (!fd) return detail::with_name(ec, path), fifo_reader{};
        fifo_reader r;
        r.end_ = detail::pipe_end(std::move(fd), O_RDONLY);
        return r;
    }
    static fifo_reader open(std::string_view path) {
        std::error_code ec;
        auto r = open(path, ec);
        detail::throw_if(ec, open_what);
        return r;
    }

    // Opens, then waits until a writer has shown itself: its first bytes are
    // there, or it connected and already left. A writer that is connected but
    // has written nothing yet cannot be seen by a reader (the kernel does not
    // tell), so do not use this where the writer waits for the reader before
    // writing: use open(path) and a timed receive instead.
    static fifo_reader open(std::string_view path, const deadline& dl, std::error_code& ec) noexcept {
        fifo_reader r = open(path, ec);
        if (ec) return {};
        if (!detail::wait_fd(r.native_handle(), POLLIN, dl, ec)) return {};
        return r;
    }

    std::size_t read_some(std::span<std::byte> buf, io_mode m, std::error_code& ec) noexcept {
        for (;;) {
            std::size_t n = end_.read(buf, m, ec);
            if (n > 0 || ec != errc::peer_closed) return n;
            // read() said 0: a writer came and left (POLLHUP), or none has come yet.
            ec.clear();
            pollfd p{end_.native_handle(), POLLIN, 0};
            if (detail::retry_eintr([&] { return ::poll(&p, 1, 0); }) < 0) {
                ec = detail::last_error();
                return 0;
            }
            if (p.revents & POLLIN) continue;  // a writer wrote (and maybe left) just now
            if (p.revents & POLLHUP) {
                ec = make_error_code(errc::peer_closed);
                return 0;
            }
            if (m == io_mode::nonblocking) {
                ec = make_error_code(errc::would_block);
                return 0;
            }
            if (!detail::wait_fd(end_.native_handle(), POLLIN, deadline::never(), ec)) return 0;
        }
    }

    // What ends the stream (see ipc/eos.hpp). eos::never holds a write end of
    // this reader's own, so the FIFO never runs out of writers: a read waits
    // for the next writer's bytes instead of reporting peer_closed. It is
    // opened through /proc/self/fd, so it is the FIFO this reader has open
    // even if the path was replaced since.
    bool end_of_stream(eos e, std::error_code& ec) noexcept {
        ec.clear();
        if (e == eos::when_all_senders_left) {
            keep_open_.reset();
            return true;
        }
        if (keep_open_) return true;
        if (!end_.is_open()) {
            ec = std::make_error_code(std::errc::bad_file_descriptor);
            return false;
        }
        char self[32];
        std::snprintf(self, sizeof self, "/proc/self/fd/%d", end_.native_handle());
        keep_open_.reset(detail::retry_eintr([&] { return ::open(self, O_WRONLY | O_NONBLOCK | O_CLOEXEC); }));
        if (!keep_open_) ec = detail::last_error();
        return static_cast<bool>(keep_open_);
    }
    void end_of_stream(eos e) {
        std::error_code ec;
        (void)end_of_stream(e, ec);
        detail::throw_if(ec, "fifo_reader::end_of_stream");
    }
    eos end_of_stream() const noexcept { return keep_open_ ? eos::never : eos::when_all_senders_left; }

    void close() noexcept {
        keep_open_.reset();
        end_.close();
    }

private:
    detail::unique_fd keep_open_;  // eos::never: a write end nobody writes to
};

// The write end of a FIFO. Writing after every reader left is
// errc::peer_closed (status::closed), never a SIGPIPE death.
class fifo_writer : public detail::fifo_end<fifo_writer> {
public:
    static constexpr const char* open_what = "fifo_writer::open";
    using fifo_end::open;  // open(path, timeout[, ec]): see open(path, deadline, ec)

    fifo_writer() noexcept = default;

    // Waits until a reader has the FIFO open, up to the deadline
    // (errc::timed_out; errc::would_block for deadline::immediate()). A
    // missing path is errc::not_found at once: create() it first.
    static fifo_writer open(std::string_view path, const deadline& dl, std::error_code& ec) noexcept {
        using namespace std::chrono;
        detail::fifo_path p(path, ec);
        if (!p || !detail::check_fifo_path(p.c_str(), ec)) return {};
        // O_WRONLY|O_NONBLOCK is ENXIO until a reader exists; the kernel
        // offers no wakeup for that, so poll with a backoff capped well below
        // any useful timeout.
        auto pause = microseconds(200);
        for (;;) {
            auto fd = detail::open_fifo(p.c_str(), O_WRONLY, ec);
            if (fd) {
                fifo_writer w;
                w.end_ = detail::pipe_end(std::move(fd), O_WRONLY);
                return w;
            }
            if (ec != std::error_code(ENXIO, std::system_category())) return {};
            ec.clear();
            if (dl.expired()) {
                ec = detail::expired_code(dl);
                return {};
            }
            const auto left = dl.remaining();
            detail::sleep_for(dl.is_never() || pause < left ? deadline::clock::duration(pause) : left);
            pause = pause * 2 < milliseconds(10) ? pause * 2 : milliseconds(10);
        }
    }

    std::size_t write_some(std::span<const std::span<const std::byte>> parts, io_mode m, std::error_code& ec) noexcept {
        return end_.write(parts, m, ec);
    }
};

}  // namespace ipc::transport

// Channels over a FIFO (defined in ipc/fwd.hpp, included above):
// ipc::fifo_sender<T>::open(path, 5s), ipc::fifo_receiver<T>::open(path), and
// for lines of text (`echo hello > the_fifo`) ipc::fifo_line_sender and
// ipc::fifo_line_receiver.
