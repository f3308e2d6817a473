// ipc/transport/posix_mq.hpp: POSIX message queues (mq_open), messages with priorities.
#pragma once

#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "../basic_channel.hpp"
#include "../detail/fd.hpp"
#include "../detail/message_queue.hpp"
#include "../detail/name.hpp"
#include "../detail/proc.hpp"
#include "../fwd.hpp"
#include "../open_mode.hpp"
#include "../sync/poll.hpp"

namespace ipc::transport {

static_assert(std::is_same_v<mqd_t, int>, "ipc::transport::posix_mq needs Linux, where a queue descriptor is a file descriptor");

// The directions a process opens a queue for (O_WRONLY, O_RDONLY, O_RDWR).
enum class mq_access : unsigned char { send, recv, both };

// How a queue is created. The kernel's defaults for unprivileged processes
// allow at most 10 messages of at most 8192 bytes (see posix_mq_limits).
struct posix_mq_options {
    std::size_t max_messages = 10;   // mq_maxmsg
    std::size_t message_size = 8192; // mq_msgsize: the largest message, in bytes
    mq_access access = mq_access::both;
};

// The kernel limits that decide whether a queue can be created; -1 = unknown
// (or, for rlimit_bytes, unlimited).
struct posix_mq_limits {
    long msg_max = -1;            // /proc/sys/fs/mqueue/msg_max: largest max_messages
    long msgsize_max = -1;        // /proc/sys/fs/mqueue/msgsize_max: largest message_size
    long queues_max = -1;         // /proc/sys/fs/mqueue/queues_max: queues in the system
    long long rlimit_bytes = -1;  // RLIMIT_MSGQUEUE (ulimit -q): bytes of queues per user

    static posix_mq_limits read() noexcept {
        posix_mq_limits l;
        l.msg_max = detail::read_proc_number("/proc/sys/fs/mqueue/msg_max");
        l.msgsize_max = detail::read_proc_number("/proc/sys/fs/mqueue/msgsize_max");
        l.queues_max = detail::read_proc_number("/proc/sys/fs/mqueue/queues_max");
        rlimit r{};
        if (::getrlimit(RLIMIT_MSGQUEUE, &r) == 0 && r.rlim_cur != RLIM_INFINITY) l.rlimit_bytes = static_cast<long long>(r.rlim_cur);
        return l;
    }
};

}  // namespace ipc::transport

namespace ipc::detail {

// Why the kernel refused to create a queue, with the limits that did it.
inline std::string mq_limit_text(int err, const transport::posix_mq_options& o) {
    auto l = transport::posix_mq_limits::read();
    auto n = [](long long v) { return v < 0 ? std::string("unknown") : std::to_string(v); };
    std::string s = "the kernel refused max_messages " + std::to_string(o.max_messages) + ", message_size " + std::to_string(o.message_size) + ": ";
    switch (err) {
    case EINVAL:
        s += "max_messages must be at most /proc/sys/fs/mqueue/msg_max (" + n(l.msg_max) +
             ") and message_size at most /proc/sys/fs/mqueue/msgsize_max (" + n(l.msgsize_max) + ")";
        break;
    case EMFILE:
        s += "the queue needs more than " + std::to_string(o.max_messages * o.message_size) +
             " bytes of RLIMIT_MSGQUEUE (ulimit -q: " + (l.rlimit_bytes < 0 ? "unlimited" : n(l.rlimit_bytes)) +
             " bytes per user), or RLIMIT_NOFILE ran out";
        break;
    case ENOSPC: s += "/proc/sys/fs/mqueue/queues_max (" + n(l.queues_max) + ") queues exist already"; break;
    default: s += std::strerror(err); break;
    }
    return s;
}

}  // namespace ipc::detail

namespace ipc::transport {

// A POSIX message queue: whole messages of up to message_size() bytes, each
// with a priority; a receive takes the oldest message of the highest
// priority. Any number of processes may send and receive; each message goes
// to exactly one receiver. A queue has no notion of its peer closing: the
// channel never reports status::closed. The queue lives until remove(name)
// and the last close. The descriptor is pollable (native_handle()).
//
// Nonblocking calls are mq_timedsend/mq_timedreceive with a deadline already
// past, which POSIX defines to fail at once with ETIMEDOUT when the call would
// wait: one system call, no second descriptor, and no O_NONBLOCK toggling on
// an open description that a forked child may share.
class posix_mq {
public:
    posix_mq() noexcept = default;

    // A new queue; errc::already_exists if the name is taken, errc::limit_exceeded
    // (with the kernel limit that refused it) if the options are too large.
    static posix_mq create(std::string_view name, const posix_mq_options& o = {}, permissions p = {}) {
        return or_throw(name, O_CREAT | O_EXCL, o, p, "posix_mq::create");
    }
    static posix_mq create(std::string_view name, std::error_code& ec) noexcept { return create(name, {}, permissions{}, ec); }
    static posix_mq create(std::string_view name, const posix_mq_options& o, std::error_code& ec) noexcept {
        return create(name, o, permissions{}, ec);
    }
    static posix_mq create(std::string_view name, const posix_mq_options& o, permissions p, std::error_code& ec) noexcept {
        return opened(name, O_CREAT | O_EXCL, o, p, ec);
    }
    // The queue of that name, created with o if there is none (o is ignored otherwise).
    static posix_mq open_or_create(std::string_view name, const posix_mq_options& o = {}, permissions p = {}) {
        return or_throw(name, O_CREAT, o, p, "posix_mq::open_or_create");
    }
    static posix_mq open_or_create(std::string_view name, std::error_code& ec) noexcept { return open_or_create(name, {}, permissions{}, ec); }
    static posix_mq open_or_create(std::string_view name, const posix_mq_options& o, std::error_code& ec) noexcept {
        return open_or_create(name, o, permissions{}, ec);
    }
    static posix_mq open_or_create(std::string_view name, const posix_mq_options& o, permissions p, std::error_code& ec) noexcept {
        return opened(name, O_CREAT, o, p, ec);
    }
    // An existing queue, for sending, receiving or both; errc::not_found if there is none.
    [[nodiscard]] static posix_mq open(std::string_view name, mq_access a = mq_access::both) {
        return or_throw(name, 0, with_access(a), {}, "posix_mq::open");
    }
    [[nodiscard]] static posix_mq open(std::string_view name, std::error_code& ec) noexcept { return open(name, mq_access::both, ec); }
    [[nodiscard]] static posix_mq open(std::string_view name, mq_access a, std::error_code& ec) noexcept {
        return opened(name, 0, with_access(a), {}, ec);
    }

    // Deletes the name; processes that have the queue open go on using it.
    // True if it was removed, false if there was none (not an error).
    static bool remove(std::string_view name, std::error_code& ec) noexcept {
        ec.clear();
        std::string path;
        if (!detail::posix_ipc_name(name, path, ec)) return false;
        if (::mq_unlink(path.c_str()) == 0) return true;
        ec = detail::last_error();
        if (ec == errc::not_found) ec.clear();
        else detail::with_name(ec, name);
        return false;
    }
    static bool remove(std::string_view name) {
        std::error_code ec;
        const bool r = remove(name, ec);
        detail::throw_if(ec, "posix_mq::remove");
        return r;
    }

    // ---- the message transport ------------------------------------------

    // Per message: the priority it is sent with, 0 (lowest, the default) up
    // to max_priority(); the one a receive took (the highest queued).
    //   ch.send(job, {.priority = 5});
    //   ipc::transport::posix_mq::recv_info info;  ch.recv(job, info);  info.priority
    struct send_options {
        unsigned priority = 0;
    };
    struct recv_info {
        unsigned priority = 0;
    };

    bool send_message(std::span<const std::byte> msg, io_mode m, std::error_code& ec) noexcept { return send(msg, 0, m, ec); }
    bool send_message(std::span<const std::byte> msg, const send_options& o, io_mode m, std::error_code& ec) noexcept {
        return send(msg, o.priority, m, ec);
    }
    // Receives the oldest message of the highest priority.
    std::size_t recv_message(std::span<std::byte> buf, io_mode m, std::error_code& ec) noexcept { return receive(buf, m, ec); }
    std::size_t recv_message(std::span<std::byte> buf, recv_info& i, io_mode m, std::error_code& ec) noexcept {
        return receive(buf, m, ec, &i.priority);
    }
    // The largest message the queue holds: a receiver needs no larger buffer.
    std::size_t max_message_size() const noexcept { return msgsize_; }

    // Over max_priority() is errc::limit_exceeded.
    bool send(std::span<const std::byte> msg, unsigned priority, io_mode m, std::error_code& ec) noexcept {
        if (!check_open(ec)) return false;
        if (priority > max_priority()) {
            ec = detail::explain(errc::limit_exceeded, "posix_mq: priority %u is over the largest, %u", priority, max_priority());
            return false;
        }
        auto data = reinterpret_cast<const char*>(msg.data());
        int r = detail::retry_eintr([&] {
            return m == io_mode::blocking ? ::mq_send(mq_.get(), data, msg.size(), priority)
                                          : ::mq_timedsend(mq_.get(), data, msg.size(), priority, &long_ago);
        });
        if (r == 0) return true;
        ec = failure(m);
        if (ec == errc::message_too_large)
            ec = detail::explain(ec, "a message of %zu bytes is over the queue's message_size of %zu bytes", msg.size(), msgsize_);
        return false;
    }

    // A buffer smaller than message_size() costs one copy through a buffer
    // made on first need; a message larger than buf is discarded and reported
    // as errc::message_too_large. The message's priority goes to *priority.
    std::size_t receive(std::span<std::byte> buf, io_mode m, std::error_code& ec, unsigned* priority = nullptr) noexcept {
        if (!check_open(ec)) return 0;
        const bool direct = buf.size() >= msgsize_;
        if (!direct && !spill_) {
            spill_ = detail::message_buffer(msgsize_, ec);
            if (!spill_) return 0;
        }
        char* into = reinterpret_cast<char*>(direct ? buf.data() : spill_.get());
        const std::size_t cap = direct ? buf.size() : msgsize_;
        unsigned prio = 0;
        ssize_t n = detail::retry_eintr([&] {
            return m == io_mode::blocking ? ::mq_receive(mq_.get(), into, cap, &prio)
                                          : ::mq_timedreceive(mq_.get(), into, cap, &prio, &long_ago);
        });
        if (n < 0) {
            ec = failure(m);
            return 0;
        }
        if (priority) *priority = prio;
        const auto len = static_cast<std::size_t>(n);
        if (!direct) {
            if (len > buf.size()) {
                ec = detail::explain(errc::message_too_large, "a message of %zu bytes arrived for a receive limit of %zu bytes", len,
                                     buf.size());
                return 0;
            }
            if (len > 0) std::memcpy(buf.data(), spill_.get(), len);
        }
        return len;
    }

    static constexpr unsigned max_priority() noexcept { return MQ_PRIO_MAX - 1; }

    // Names the queue in error messages: its name as the descriptor shows it.
    std::string describe() const {
        char link[64], path[256];
        std::snprintf(link, sizeof link, "/proc/self/fd/%d", mq_.get());
        const ssize_t n = ::readlink(link, path, sizeof path - 1);
        return n > 0 ? "posix_mq '" + std::string(path, static_cast<std::size_t>(n)) + "'" : std::string("posix_mq");
    }

    // ---- the queue ------------------------------------------------------

    std::size_t max_messages() const noexcept { return maxmsg_; }
    std::size_t message_size() const noexcept { return msgsize_; }
    // Messages waiting in the queue now.
    std::size_t queued(std::error_code& ec) const noexcept {
        mq_attr a{};
        if (!check_open(ec)) return 0;
        if (::mq_getattr(mq_.get(), &a) != 0) {
            ec = detail::last_error();
            return 0;
        }
        return static_cast<std::size_t>(a.mq_curmsgs);
    }
    std::size_t queued() const {
        std::error_code ec;
        auto n = queued(ec);
        detail::throw_if(ec, "posix_mq::queued");
        return n;
    }

    int native_handle() const noexcept { return mq_.get(); }
    bool is_open() const noexcept { return static_cast<bool>(mq_); }
    void close() noexcept { mq_.reset(); }

private:
    static constexpr timespec long_ago{0, 0};

    static posix_mq_options with_access(mq_access a) noexcept {
        posix_mq_options o;
        o.access = a;
        return o;
    }

    bool check_open(std::error_code& ec) const noexcept { return detail::queue_open(static_cast<bool>(mq_), ec); }

    // A call that would have waited fails with ETIMEDOUT (past deadline) or
    // EAGAIN (a descriptor adopted with O_NONBLOCK): both are would_block.
    static std::error_code failure(io_mode m) noexcept {
        if (m == io_mode::nonblocking && errno == ETIMEDOUT) return make_error_code(errc::would_block);
        return detail::last_error();
    }

    static posix_mq or_throw(std::string_view name, int create, const posix_mq_options& o, permissions p, const char* what) {
        std::error_code ec;
        posix_mq q = opened(name, create, o, p, ec);
        detail::throw_if(ec, what);
        return q;
    }
    static posix_mq opened(std::string_view name, int create, const posix_mq_options& o, permissions p, std::error_code& ec) noexcept {
        ec.clear();
        posix_mq q;
        if (!q.open_queue(name, create, o, p.mode, ec)) {
            detail::with_name(ec, name);
            return {};
        }
        return q;
    }

    // Opens (create != 0: creates) the queue; a failure is explained (last_error_detail).
    bool open_queue(std::string_view name, int create, const posix_mq_options& o, mode_t mode, std::error_code& ec) noexcept {
        std::string path;
        if (!detail::posix_ipc_name(name, path, ec)) return false;
        if (create && (o.max_messages == 0 || o.message_size == 0 || o.max_messages > detail::queue_size_max || o.message_size > detail::queue_size_max)) {
            ec = detail::explain(std::make_error_code(std::errc::invalid_argument), "max_messages %zu and message_size %zu must each be 1 to LONG_MAX",
                                 o.max_messages, o.message_size);
            return false;
        }
        const int access = o.access == mq_access::send ? O_WRONLY : o.access == mq_access::recv ? O_RDONLY : O_RDWR;
        mq_attr attr{};
        attr.mq_maxmsg = static_cast<long>(o.max_messages);
        attr.mq_msgsize = static_cast<long>(o.message_size);
        int fd = detail::retry_eintr([&] { return ::mq_open(path.c_str(), access | create | O_CLOEXEC, mode & 0777, create ? &attr : nullptr); });
        if (fd < 0) {
            const int e = errno;
            if (create && (e == EINVAL || e == EMFILE || e == ENOSPC)) {
                ec = make_error_code(errc::limit_exceeded);
                try {
                    detail::explain(ec, "%s", detail::mq_limit_text(e, o).c_str());
                } catch (...) {  // no words without memory; the code stands
                }
            } else {
                ec = detail::errno_code(e);
            }
            return false;
        }
        detail::unique_fd q(fd);
        if (::mq_getattr(fd, &attr) != 0) {
            ec = detail::last_error();
            return false;
        }
        mq_ = std::move(q);
        maxmsg_ = static_cast<std::size_t>(attr.mq_maxmsg);
        msgsize_ = static_cast<std::size_t>(attr.mq_msgsize);
        return true;
    }

    detail::unique_fd mq_;                 // mq_close is close(2) on Linux
    detail::byte_buffer spill_;   // one whole message, for receive buffers smaller than msgsize_
    std::size_t msgsize_ = 0;
    std::size_t maxmsg_ = 0;
};

}  // namespace ipc::transport

// The channel over a POSIX message queue (defined in ipc/fwd.hpp, included
// above); it both sends and receives:
//   auto q = ipc::posix_mq_channel<job>::create("/jobs", {.max_messages = 10, .message_size = sizeof(job)});
//   q.send(j, {.priority = 5});   ipc::transport::posix_mq::recv_info i;  q.recv(j, i);
// Messages must fit message_size(); give the queue message_size = sizeof(T)
// for fixed-size T and receives go straight into the channel's buffer.
