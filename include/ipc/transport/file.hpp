// ipc/transport/file.hpp: a regular file as an append-only log of framed messages.
//
// Writers append whole frames (any framing: fixed, length_prefixed, delimited)
// with O_APPEND, each frame under an exclusive file lock (ipc::sync::file_lock),
// so frames from several writer processes never interleave, even frames larger
// than one write(2). Readers need no lock: they read from an offset with
// pread(2), so any number of them, in any process, now or much later, replay
// the same log independently.
//
// A reader is one of two kinds (file_end):
//   closed  one-shot replay: the end of the file ends the stream. recv returns
//           status::closed there; a frame cut short by the end is errc::truncated.
//   follow  tail -f: the end of the file means "nothing yet" (would_block,
//           timed_out, or a blocking wait). Waiting uses inotify, whose
//           descriptor is native_handle(), so poll/epoll and sync::poll work.
//
// Channels: ipc::file_sender<T> (Sync = sync::file_lock, which waits for the
// writers' lock) and ipc::file_receiver<T> (sync::poll on the inotify descriptor).
//
// Resuming: file_position(receiver) is the offset just past the last message
// returned; a reader opened at that offset (file_reader::open(path, end, offset))
// continues from there.
//
// What the file does not protect against: a writer that does not take the
// lock, truncation or rewriting behind a reader's back (a follower whose
// offset is past the end reports errc::bad_message), and a file replaced by
// rename (a follower keeps reading the old one).
//
// A writer killed (SIGKILL) inside a write: the kernel may stop a
// regular-file write between pages, leaving the first part of a frame at the
// end of the log. Cutting it off is not safe (a follower may have read it), and
// appending after it would make readers take the torn part and the next frame
// for one. So each frame is first copied to a journal beside the log
// (<path>.journal, as large as the largest frame), and the next writer, under
// the lock, finishes a frame it finds cut short before appending its own.
// Until then readers wait for the rest (errc::truncated when not following).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <new>
#include <span>
#include <string>

#include "../basic_channel.hpp"
#include "../concepts.hpp"
#include "../detail/fd.hpp"
#include "../detail/file_open.hpp"
#include "../fwd.hpp"
#include "../open_mode.hpp"
#include "../sync/file_lock.hpp"
#include "../sync/poll.hpp"

namespace ipc::transport {

// Appends frames to a log file. A stream writer: write_some() writes all the
// parts it is given (one frame, from the channel) under the lock, or nothing.
class file_writer {
public:
    file_writer() noexcept = default;

    // A new log (and its journal), 0600 unless widened (less the umask);
    // errc::already_exists if the path is taken. A symbolic link is refused
    // (ELOOP), so is anything that is not a regular file (EINVAL); a bad path
    // (see detail::fs_path) is errc::name_invalid.
    static file_writer create(detail::path_ref path, sync::file_lock lock = {}, permissions p = {}) {
        return or_throw(path, O_CREAT | O_EXCL, lock, p, "file_writer::create");
    }
    static file_writer create(detail::path_ref path, std::error_code& ec) noexcept { return opened(path, O_CREAT | O_EXCL, {}, {}, ec); }
    static file_writer create(detail::path_ref path, sync::file_lock lock, std::error_code& ec) noexcept {
        return opened(path, O_CREAT | O_EXCL, lock, {}, ec);
    }
    static file_writer create(detail::path_ref path, sync::file_lock lock, permissions p, std::error_code& ec) noexcept {
        return opened(path, O_CREAT | O_EXCL, lock, p, ec);
    }
    // An existing log; errc::not_found if there is none.
    [[nodiscard]] static file_writer open(detail::path_ref path, sync::file_lock lock = {}) { return or_throw(path, 0, lock, {}, "file_writer::open"); }
    [[nodiscard]] static file_writer open(detail::path_ref path, std::error_code& ec) noexcept { return opened(path, 0, {}, {}, ec); }
    [[nodiscard]] static file_writer open(detail::path_ref path, sync::file_lock lock, std::error_code& ec) noexcept {
        return opened(path, 0, lock, {}, ec);
    }
    // The log, created if there is none.
    static file_writer open_or_create(detail::path_ref path, sync::file_lock lock = {}, permissions p = {}) {
        return or_throw(path, O_CREAT, lock, p, "file_writer::open_or_create");
    }
    static file_writer open_or_create(detail::path_ref path, std::error_code& ec) noexcept { return opened(path, O_CREAT, {}, {}, ec); }
    static file_writer open_or_create(detail::path_ref path, sync::file_lock lock, std::error_code& ec) noexcept {
        return opened(path, O_CREAT, lock, {}, ec);
    }
    static file_writer open_or_create(detail::path_ref path, sync::file_lock lock, permissions p, std::error_code& ec) noexcept {
        return opened(path, O_CREAT, lock, p, ec);
    }

    // Blocking: waits for the lock in the kernel. Nonblocking: errc::would_block
    // while another writer holds it; a channel with sync::file_lock then waits
    // for the lock (sync::poll cannot: a regular file always polls writable).
    // A failed write (disk full) is cut back off the file, so readers never see
    // half a frame; one cut short by the writer's death is finished by the
    // next writer (see the journal above).
    std::size_t write_some(std::span<const std::span<const std::byte>> parts, io_mode m, std::error_code& ec) noexcept {
        if (!fd_) {
            ec = std::make_error_code(std::errc::bad_file_descriptor);
            return 0;
        }
        std::array<iovec, 4> iov{};
        int cnt = 0;
        std::size_t total = 0;
        for (auto p : parts) {
            if (p.empty() || cnt == static_cast<int>(iov.size())) continue;
            iov[cnt++] = {const_cast<std::byte*>(p.data()), p.size()};
            total += p.size();
        }
        if (!lock_.lock(fd_.get(), m == io_mode::blocking ? deadline::never() : deadline::immediate(), ec)) return 0;
        off_t start = ::lseek(fd_.get(), 0, SEEK_END);
        if (start < 0 || !finish_torn_frame(start, ec) || !journal(iov, cnt, start, total, ec)) {
            if (!ec) ec = detail::last_error();
            unlock();
            return 0;
        }
        if (!write_all(fd_.get(), iov.data(), cnt, total, -1, ec)) {
            // Cut back, and make sure no later writer finishes the frame for us.
            if (::ftruncate(fd_.get(), start) != 0) { /* the error above is the one to report */ }
            const journal_header none{};
            if (::pwrite(journal_.get(), &none, sizeof none, 0) < 0) { /* likewise */ }
            unlock();
            return 0;
        }
        unlock();
        return total;
    }

    // fdatasync: the appended messages survive a power cut once this returns.
    void flush(std::error_code& ec) noexcept {
        ec.clear();
        if (detail::retry_eintr([&] { return ::fdatasync(fd_.get()); }) != 0) ec = detail::last_error();
    }
    void flush() {
        std::error_code ec;
        flush(ec);
        detail::throw_if(ec, "fdatasync");
    }

    // Size of the log, which is where the next message will start unless
    // another writer appends first.
    std::uint64_t size() const noexcept {
        struct stat st {};
        return ::fstat(fd_.get(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
    }

    int native_handle() const noexcept { return fd_.get(); }
    bool is_open() const noexcept { return static_cast<bool>(fd_); }
    void close() noexcept { fd_.reset(); }
    sync::file_lock lock_policy() const noexcept { return lock_; }

    // Removes a log file and its journal by path (readers that have the log
    // open keep reading it). True if the log was removed, false if there was
    // none (not an error).
    static bool remove(detail::path_ref path, std::error_code& ec) noexcept {
        try {
            std::error_code ignored;  // a log never opened by a file_writer has no journal
            (void)detail::remove_file(journal_path(path), ignored);
        } catch (const std::bad_alloc&) {
            ec = std::make_error_code(std::errc::not_enough_memory);
            return false;
        }
        return detail::remove_file(path, ec);
    }
    static bool remove(detail::path_ref path) {
        std::error_code ec;
        const bool r = remove(path, ec);
        detail::throw_if(ec, "file_writer::remove");
        return r;
    }
    static std::string journal_path(detail::path_ref path) { return std::string(path.view()) + ".journal"; }

private:
    // At the journal's start; the frame's bytes follow it. Valid only as a
    // whole (check), so a header cut short by a kill is ignored.
    struct journal_header {
        std::uint64_t start = 0;   // where the frame begins in the log
        std::uint64_t length = 0;  // its bytes
        std::uint64_t check = 0;
        static std::uint64_t sum(std::uint64_t s, std::uint64_t l) noexcept { return (s * 0x9e3779b97f4a7c15ULL ^ l) + 0x6a09e667f3bcc909ULL; }
        bool valid() const noexcept { return length > 0 && check == sum(start, length); }
    };

    static file_writer or_throw(detail::path_ref path, int create, sync::file_lock lock, permissions p, const char* what) {
        std::error_code ec;
        file_writer w = opened(path, create, lock, p, ec);
        detail::throw_if(ec, what);
        return w;
    }
    static file_writer opened(detail::path_ref path, int create, sync::file_lock lock, permissions p, std::error_code& ec) noexcept {
        file_writer w;
        w.lock_ = lock;
        w.fd_ = detail::open_regular_file(path, O_WRONLY | O_APPEND | create, ec, p);
        if (!ec) {
            try {
                w.journal_ = detail::open_regular_file(journal_path(path), O_RDWR | O_CREAT, ec, p);
            } catch (const std::bad_alloc&) {
                ec = std::make_error_code(std::errc::not_enough_memory);
            }
        }
        if (!ec) return w;
        detail::with_name(ec, path.view());
        return {};
    }

    // Writes all of iov to fd: at `at`, or appended when at < 0 (O_APPEND).
    // iov is used up on the way.
    static bool write_all(int fd, iovec* iov, int cnt, std::size_t total, off_t at, std::error_code& ec) noexcept {
        std::size_t done = 0;
        int first = 0;
        while (done < total) {
            ssize_t n = detail::retry_eintr([&] {
                return at < 0 ? ::writev(fd, iov + first, cnt - first) : ::pwritev(fd, iov + first, cnt - first, at + static_cast<off_t>(done));
            });
            if (n <= 0) {
                ec = n < 0 ? detail::last_error() : std::make_error_code(std::errc::no_space_on_device);
                return false;
            }
            done += static_cast<std::size_t>(n);
            // Skip what went out; the rest goes in the next call.
            for (auto k = static_cast<std::size_t>(n); k > 0 && first < cnt;) {
                if (k >= iov[first].iov_len) {
                    k -= iov[first++].iov_len;
                } else {
                    iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + k;
                    iov[first].iov_len -= k;
                    k = 0;
                }
            }
        }
        return true;
    }

    // The frame goes to the journal before the log: its bytes, then the header
    // that makes them count.
    bool journal(std::array<iovec, 4> parts, int cnt, off_t start, std::size_t total, std::error_code& ec) noexcept {
        if (!write_all(journal_.get(), parts.data(), cnt, total, sizeof(journal_header), ec)) return false;
        journal_header h;
        h.start = static_cast<std::uint64_t>(start);
        h.length = total;
        h.check = journal_header::sum(h.start, h.length);
        iovec one{&h, sizeof h};
        return write_all(journal_.get(), &one, 1, sizeof h, 0, ec);
    }

    // The log ends at `end`. If that is inside the frame the journal holds, a
    // writer died writing it: append the rest from the journal, and move `end`.
    bool finish_torn_frame(off_t& end, std::error_code& ec) noexcept {
        journal_header h;
        if (detail::retry_eintr([&] { return ::pread(journal_.get(), &h, sizeof h, 0); }) != static_cast<ssize_t>(sizeof h) || !h.valid())
            return true;  // no journal yet, or a header a kill cut short: its frame never reached the log
        const auto e = static_cast<std::uint64_t>(end);
        if (e < h.start || e >= h.start + h.length) return true;
        char buf[16384];
        for (std::uint64_t off = e - h.start; off < h.length;) {
            const std::size_t want = h.length - off < sizeof buf ? static_cast<std::size_t>(h.length - off) : sizeof buf;
            ssize_t n = detail::retry_eintr([&] { return ::pread(journal_.get(), buf, want, static_cast<off_t>(sizeof h + off)); });
            if (n <= 0) {
                ec = n < 0 ? detail::last_error() : make_error_code(errc::truncated);
                return false;
            }
            iovec one{buf, static_cast<std::size_t>(n)};
            if (!write_all(fd_.get(), &one, 1, one.iov_len, -1, ec)) return false;
            off += static_cast<std::uint64_t>(n);
        }
        end = static_cast<off_t>(h.start + h.length);
        return true;
    }

    void unlock() noexcept {
        std::error_code ignored;  // unlocking a lock we hold does not fail
        (void)lock_.unlock(fd_.get(), ignored);
    }

    detail::unique_fd fd_;
    detail::unique_fd journal_;  // <path>.journal: the frame being appended
    sync::file_lock lock_;
};

// What a reader does at the end of the file.
enum class file_end : unsigned char {
    closed,  // the end of the stream: replay what is there, then status::closed
    follow,  // not yet: wait for writers to append more
};

// Reads a log file from an offset. A stream reader; the channel's framing cuts
// the frames, and rejects lying lengths and partial frames.
class file_reader {
public:
    file_reader() noexcept = default;

    // The log at path, read from `offset`; errc::not_found if there is none.
    [[nodiscard]] static file_reader open(detail::path_ref path, file_end end = file_end::closed, std::uint64_t offset = 0) {
        std::error_code ec;
        file_reader r = open(path, end, offset, ec);
        detail::throw_if(ec, "file_reader::open");
        return r;
    }
    [[nodiscard]] static file_reader open(detail::path_ref path, std::error_code& ec) noexcept { return open(path, file_end::closed, 0, ec); }
    [[nodiscard]] static file_reader open(detail::path_ref path, file_end end, std::uint64_t offset, std::error_code& ec) noexcept {
        file_reader r;
        if (r.open_log(path, end, offset, ec)) return r;
        detail::with_name(ec, path.view());
        return {};
    }

    std::size_t read_some(std::span<std::byte> buf, io_mode m, std::error_code& ec) noexcept {
        if (!fd_) {
            ec = std::make_error_code(std::errc::bad_file_descriptor);
            return 0;
        }
        for (;;) {
            ssize_t n = detail::retry_eintr([&] { return ::pread(fd_.get(), buf.data(), buf.size(), static_cast<off_t>(offset_)); });
            if (n > 0) {
                offset_ += static_cast<std::uint64_t>(n);
                return static_cast<std::size_t>(n);
            }
            if (n < 0) {
                ec = detail::last_error();
                return 0;
            }
            if (end_ == file_end::closed) {
                ec = make_error_code(errc::peer_closed);
                return 0;
            }
            // At the end: forget old notifications, then look once more, so an
            // append between the two reads is either seen now or wakes the poll.
            if (!drain_and_check(ec)) return 0;
            n = detail::retry_eintr([&] { return ::pread(fd_.get(), buf.data(), buf.size(), static_cast<off_t>(offset_)); });
            if (n > 0) {
                offset_ += static_cast<std::uint64_t>(n);
                return static_cast<std::size_t>(n);
            }
            if (m == io_mode::nonblocking) {
                ec = make_error_code(errc::would_block);
                return 0;
            }
            if (!detail::wait_fd(notify_.get(), POLLIN, deadline::never(), ec)) return 0;
        }
    }

    // Bytes consumed from the file so far. The channel may hold some of them
    // buffered: use ipc::file_position(receiver) to resume at a message boundary.
    std::uint64_t offset() const noexcept { return offset_; }
    file_end end_mode() const noexcept { return end_; }

    // inotify for a follower (readable when the file changed), else the file.
    int native_handle() const noexcept { return notify_ ? notify_.get() : fd_.get(); }
    bool is_open() const noexcept { return static_cast<bool>(fd_); }
    void close() noexcept {
        notify_.reset();
        fd_.reset();
    }

private:
    bool open_log(detail::path_ref path, file_end end, std::uint64_t offset, std::error_code& ec) noexcept {
        offset_ = offset;
        end_ = end;
        fd_ = detail::open_regular_file(path, O_RDONLY, ec);
        if (ec) return false;
        if (end != file_end::follow) return true;
        notify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
        if (!notify_) {
            ec = detail::last_error();
            return false;
        }
        // Watch the file we opened, not whatever the path names by now.
        char self[32];
        std::snprintf(self, sizeof self, "/proc/self/fd/%d", fd_.get());
        if (::inotify_add_watch(notify_.get(), self, IN_MODIFY) < 0) {
            ec = detail::last_error();
            return false;
        }
        return true;
    }

    bool drain_and_check(std::error_code& ec) noexcept {
        char events[4096];
        while (::read(notify_.get(), events, sizeof events) > 0) {
        }
        struct stat st {};
        if (::fstat(fd_.get(), &st) != 0) {
            ec = detail::last_error();
            return false;
        }
        if (static_cast<std::uint64_t>(st.st_size) < offset_) {
            ec = make_error_code(errc::bad_message);  // the log was truncated under us
            return false;
        }
        return true;
    }

    detail::unique_fd fd_;
    detail::unique_fd notify_;
    std::uint64_t offset_ = 0;
    file_end end_ = file_end::closed;
};

}  // namespace ipc::transport

namespace ipc {

// The file offset just past the last message a receiver returned: where a new
// file_reader resumes without losing or repeating a message.
template <class Ch>
    requires std::is_same_v<typename Ch::transport_type, transport::file_reader>
std::uint64_t file_position(const Ch& receiver) noexcept {
    return receiver.transport().offset() - receiver.buffered();
}

}  // namespace ipc

// Channels over the log (defined in ipc/fwd.hpp, included above):
// ipc::file_sender<T>::create(path) / ::open(path), and
// ipc::file_receiver<T>::open(path, file_end::follow, offset).
