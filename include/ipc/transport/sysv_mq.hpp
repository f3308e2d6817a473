// ipc/transport/sysv_mq.hpp: System V message queues (msgget), messages with a type.
#pragma once

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/stat.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <string>

#include "../basic_channel.hpp"
#include "../detail/message_queue.hpp"
#include "../detail/name.hpp"
#include "../detail/proc.hpp"
#include "../fwd.hpp"
#include "../open_mode.hpp"
#include "../sync/backoff.hpp"

namespace ipc::transport {

// Which queue: a key made with ftok(path, id), an explicit key, or
// private_key() (IPC_PRIVATE) for a queue a parent makes and its children inherit.
class sysv_key {
public:
    constexpr explicit sysv_key(key_t k) noexcept : key_(k) {}
    static constexpr sysv_key private_key() noexcept { return sysv_key(IPC_PRIVATE); }

    // ftok(3): the same existing path and id give the same key in every process.
    // id must be 1..255 (ftok uses its low 8 bits; 0 is refused as name_invalid).
    static sysv_key from_path(const char* path, int id, std::error_code& ec) noexcept {
        if (id < 1 || id > 255 || path == nullptr || *path == '\0') {
            ec = make_error_code(errc::name_invalid);
            return private_key();
        }
        key_t k = ::ftok(path, id);
        if (k == -1) {
            ec = detail::last_error();
            return private_key();
        }
        return sysv_key(k);
    }
    static sysv_key from_path(const char* path, int id) {
        std::error_code ec;
        auto k = from_path(path, id, ec);
        if (ec) throw ipc::error(ec, std::string("sysv_key: ftok \"") + (path ? path : "") + "\"");
        return k;
    }

    constexpr key_t value() const noexcept { return key_; }
    constexpr bool is_private() const noexcept { return key_ == IPC_PRIVATE; }

private:
    key_t key_;
};

// Which message a receive takes, by its type (mtype): msgrcv's msgtyp argument.
class type_selector {
public:
    // The oldest message of any type (msgtyp 0). The default.
    static constexpr type_selector any() noexcept { return {0, 0}; }
    // The oldest message of this type (msgtyp > 0).
    static constexpr type_selector exact(long type) noexcept { return {type > 0 ? type : invalid, 0}; }
    // The oldest message of the lowest type that is <= n (msgtyp = -n): a priority queue.
    static constexpr type_selector lowest_up_to(long n) noexcept { return {n > 0 ? -n : invalid, 0}; }
    // The oldest message of any other type (MSG_EXCEPT, Linux).
    static constexpr type_selector except(long type) noexcept { return {type > 0 ? type : invalid, MSG_EXCEPT}; }

    constexpr long msgtyp() const noexcept { return msgtyp_; }
    constexpr int flags() const noexcept { return flags_; }
    // exact, lowest_up_to and except need a type > 0; a receive with an invalid selector is EINVAL.
    constexpr bool valid() const noexcept { return msgtyp_ != invalid; }

private:
    static constexpr long invalid = LONG_MIN;
    constexpr type_selector(long t, int f) noexcept : msgtyp_(t), flags_(f) {}
    long msgtyp_;
    int flags_;
};

struct sysv_mq_options {
    // The largest message this side sends or receives (the payload after mtype);
    // the transport's buffer has this size, made once. The kernel's own limit
    // is /proc/sys/kernel/msgmax (8192 by default); over LONG_MAX is invalid_argument.
    std::size_t max_message = 8192;
    // create(): the new queue's capacity in bytes (msg_qbytes), 0 = the
    // kernel's default /proc/sys/kernel/msgmnb. Lowering needs no privilege.
    std::size_t queue_bytes = 0;
};

// A System V message queue. Each message is a long mtype followed by the
// payload, exactly as in `struct { long mtype; char text[N]; }`: the channel's
// bytes are the payload, and the transport adds the mtype on send (1, or
// send_options::type per message) and strips it on receive (recv_info::type
// tells it; recv_info::select picks which types to take), through one buffer
// made at construction. A program using msgsnd/msgrcv directly can
// talk to a channel in both directions.
//
// A queue has no notion of its peer closing (the channel never reports
// status::closed) and no descriptor to poll: wait with sync::backoff (the
// default in sysv_mq_channel). The queue lives until remove(); destroying the
// transport does not remove it. Using a queue that was removed, even while
// waiting on it, is errc::not_found.
class sysv_mq {
public:
    sysv_mq() noexcept = default;

    // A new queue (IPC_CREAT | IPC_EXCL); errc::already_exists if the key has one.
    static sysv_mq create(sysv_key key, const sysv_mq_options& o = {}, permissions p = {}) {
        return or_throw(key, IPC_CREAT | IPC_EXCL, o, p, "sysv_mq::create");
    }
    static sysv_mq create(sysv_key key, std::error_code& ec) noexcept { return create(key, {}, permissions{}, ec); }
    static sysv_mq create(sysv_key key, const sysv_mq_options& o, std::error_code& ec) noexcept { return create(key, o, permissions{}, ec); }
    static sysv_mq create(sysv_key key, const sysv_mq_options& o, permissions p, std::error_code& ec) noexcept {
        return got(key, IPC_CREAT | IPC_EXCL, o, p, ec);
    }
    // The key's queue, created if there is none.
    static sysv_mq open_or_create(sysv_key key, const sysv_mq_options& o = {}, permissions p = {}) {
        return or_throw(key, IPC_CREAT, o, p, "sysv_mq::open_or_create");
    }
    static sysv_mq open_or_create(sysv_key key, std::error_code& ec) noexcept { return open_or_create(key, {}, permissions{}, ec); }
    static sysv_mq open_or_create(sysv_key key, const sysv_mq_options& o, std::error_code& ec) noexcept {
        return open_or_create(key, o, permissions{}, ec);
    }
    static sysv_mq open_or_create(sysv_key key, const sysv_mq_options& o, permissions p, std::error_code& ec) noexcept {
        return got(key, IPC_CREAT, o, p, ec);
    }
    // The existing queue of a key; errc::not_found if none. private_key() has
    // no existing queue to open: errc::name_invalid.
    [[nodiscard]] static sysv_mq open(sysv_key key, const sysv_mq_options& o = {}) { return or_throw(key, 0, o, {}, "sysv_mq::open"); }
    [[nodiscard]] static sysv_mq open(sysv_key key, std::error_code& ec) noexcept { return open(key, sysv_mq_options{}, ec); }
    [[nodiscard]] static sysv_mq open(sysv_key key, const sysv_mq_options& o, std::error_code& ec) noexcept { return got(key, 0, o, {}, ec); }

    // Removes the key's queue for every process (waiting receivers and senders
    // fail with errc::not_found). True if it was removed, false if there was
    // none (not an error).
    static bool remove(sysv_key key, std::error_code& ec) noexcept {
        ec.clear();
        if (key.is_private()) {
            ec = detail::explain(make_error_code(errc::name_invalid), "a private_key() queue has no key to find it by: remove() it through its transport");
            return false;
        }
        const int id = ::msgget(key.value(), 0);
        if (id >= 0 && ::msgctl(id, IPC_RMID, nullptr) == 0) return true;
        ec = failure();
        if (ec == errc::not_found) ec.clear();
        else explain_key(ec, key);
        return false;
    }
    static bool remove(sysv_key key) {
        std::error_code ec;
        const bool r = remove(key, ec);
        detail::throw_if(ec, "sysv_mq::remove");
        return r;
    }

    // The queue with this id (from id() in another process, or ipcs -q).
    static sysv_mq attach(int msqid, const sysv_mq_options& o, std::error_code& ec) noexcept {
        sysv_mq q;
        msqid_ds ds{};
        if (::msgctl(msqid, IPC_STAT, &ds) != 0) {
            ec = failure();
            return q;
        }
        if (q.make_buffer(o, ec)) q.id_ = msqid;
        return q;
    }
    static sysv_mq attach(int msqid, const sysv_mq_options& o = {}) {
        std::error_code ec;
        auto q = attach(msqid, o, ec);
        detail::throw_if(ec, "sysv_mq::attach");
        return q;
    }

    sysv_mq(sysv_mq&& o) noexcept
        : buf_(std::move(o.buf_)), max_(o.max_), id_(std::exchange(o.id_, -1)) {}
    sysv_mq& operator=(sysv_mq&& o) noexcept {
        buf_ = std::move(o.buf_);
        max_ = o.max_;
        id_ = std::exchange(o.id_, -1);
        return *this;
    }

    // Removes the queue (IPC_RMID) for every process; waiting receivers and
    // senders fail with errc::not_found.
    bool remove(std::error_code& ec) noexcept {
        if (id_ < 0) {
            ec = make_error_code(errc::not_found);
            return false;
        }
        if (::msgctl(std::exchange(id_, -1), IPC_RMID, nullptr) != 0) {
            ec = failure();
            return false;
        }
        return true;
    }
    // False when the queue was gone already; other failures throw.
    bool remove() {
        std::error_code ec;
        if (remove(ec)) return true;
        if (ec == errc::not_found) return false;
        detail::throw_error(ec, "sysv_mq::remove");
    }

    // ---- the message transport ------------------------------------------

    // Per message: the mtype it is sent with (> 0; 1 by default); on
    // receive, which messages to take (select) and the mtype of the one
    // taken (type).
    //   ch.send(order, {.type = 7});
    //   ipc::transport::sysv_mq::recv_info i{.select = ipc::transport::type_selector::exact(7)};
    //   ch.recv(order, i);  i.type
    struct send_options {
        long type = 1;
    };
    struct recv_info {
        type_selector select = type_selector::any();
        long type = 0;
    };

    bool send_message(std::span<const std::byte> msg, io_mode m, std::error_code& ec) noexcept { return send(msg, 1, m, ec); }
    bool send_message(std::span<const std::byte> msg, const send_options& o, io_mode m, std::error_code& ec) noexcept {
        return send(msg, o.type, m, ec);
    }
    // Receives the oldest message of any type.
    std::size_t recv_message(std::span<std::byte> buf, io_mode m, std::error_code& ec) noexcept {
        return receive(buf, type_selector::any(), m, ec);
    }
    std::size_t recv_message(std::span<std::byte> buf, recv_info& i, io_mode m, std::error_code& ec) noexcept {
        return receive(buf, i.select, m, ec, &i.type);
    }
    // The largest message this side sends or receives (max_message).
    std::size_t max_message_size() const noexcept { return max_; }

    bool send(std::span<const std::byte> msg, long type, io_mode m, std::error_code& ec) noexcept {
        if (!check_open(ec)) return false;
        if (type <= 0) {
            ec = detail::explain(std::make_error_code(std::errc::invalid_argument), "sysv_mq: message type %ld is not > 0", type);
            return false;
        }
        if (msg.size() > max_) {
            ec = detail::explain(errc::message_too_large, "a message of %zu bytes is over this side's max_message of %zu bytes",
                                 msg.size(), max_);
            return false;
        }
        std::memcpy(buf_.get(), &type, sizeof type);
        if (!msg.empty()) std::memcpy(buf_.get() + sizeof(long), msg.data(), msg.size());
        const int flags = m == io_mode::nonblocking ? IPC_NOWAIT : 0;
        if (detail::retry_eintr([&] { return ::msgsnd(id_, buf_.get(), msg.size(), flags); }) == 0) return true;
        const int e = errno;
        // msgsnd says EINVAL for a message over the kernel's msgmax.
        if (e == EINVAL && msg.size() > kernel_msgmax())
            ec = detail::explain(errc::message_too_large, "a message of %zu bytes is over /proc/sys/kernel/msgmax (%zu bytes)",
                                 msg.size(), kernel_msgmax());
        else
            ec = failure(e);
        return false;
    }

    // A message larger than buf (or than max_message) is taken off the queue
    // and reported as errc::message_too_large: MSG_NOERROR with room for one
    // byte more than allowed tells "too large" apart from "exactly full".
    // The message's mtype goes to *type.
    std::size_t receive(std::span<std::byte> buf, type_selector sel, io_mode m, std::error_code& ec, long* type = nullptr) noexcept {
        if (!check_open(ec)) return 0;
        if (!sel.valid()) {
            ec = detail::explain(std::make_error_code(std::errc::invalid_argument),
                                 "sysv_mq: exact, lowest_up_to and except need a type > 0");
            return 0;
        }
        const std::size_t allowed = buf.size() < max_ ? buf.size() : max_;
        const int flags = MSG_NOERROR | sel.flags() | (m == io_mode::nonblocking ? IPC_NOWAIT : 0);
        ssize_t n = detail::retry_eintr([&] { return ::msgrcv(id_, buf_.get(), allowed + 1, sel.msgtyp(), flags); });
        if (n < 0) {
            ec = errno == ENOMSG ? make_error_code(errc::would_block) : failure();
            return 0;
        }
        if (type) std::memcpy(type, buf_.get(), sizeof(long));
        const auto len = static_cast<std::size_t>(n);
        if (len > allowed) {
            ec = detail::explain(errc::message_too_large, "a message of more than %zu bytes arrived (it was dropped)", allowed);
            return 0;
        }
        if (len > 0) std::memcpy(buf.data(), buf_.get() + sizeof(long), len);
        return len;
    }

    // Names the queue in error messages.
    std::string describe() const { return "sysv_mq id " + std::to_string(id_); }

    // ---- the queue ------------------------------------------------------

    int id() const noexcept { return id_; }
    bool is_open() const noexcept { return id_ >= 0; }
    std::size_t max_message() const noexcept { return max_; }
    // Messages waiting in the queue now.
    std::size_t queued(std::error_code& ec) const noexcept {
        msqid_ds ds{};
        if (!check_open(ec)) return 0;
        if (::msgctl(id_, IPC_STAT, &ds) != 0) {
            ec = failure();
            return 0;
        }
        return static_cast<std::size_t>(ds.msg_qnum);
    }
    std::size_t queued() const {
        std::error_code ec;
        auto n = queued(ec);
        detail::throw_if(ec, "sysv_mq::queued");
        return n;
    }
    // Forgets the queue without removing it.
    void close() noexcept { id_ = -1; }

private:
    bool check_open(std::error_code& ec) const noexcept { return detail::queue_open(id_ >= 0, ec); }

    // EIDRM: removed while we waited. EINVAL, once type and size are checked,
    // can only mean the id no longer names a queue: removed before the call.
    static std::error_code failure(int e = errno) noexcept {
        return e == EIDRM || e == EINVAL ? make_error_code(errc::not_found) : detail::errno_code(e);
    }

    static std::size_t kernel_msgmax() noexcept {
        long v = detail::read_proc_number("/proc/sys/kernel/msgmax");
        return v < 0 ? 8192 : static_cast<std::size_t>(v);
    }

    bool make_buffer(const sysv_mq_options& o, std::error_code& ec) noexcept {
        if (o.max_message > detail::queue_size_max) {
            ec = detail::explain(std::make_error_code(std::errc::invalid_argument), "max_message %zu is over LONG_MAX", o.max_message);
            return false;
        }
        // mtype, the payload, and one byte to detect a payload over the limit.
        buf_ = detail::message_buffer(sizeof(long) + o.max_message + 1, ec);
        if (!buf_) return false;
        max_ = o.max_message;
        return true;
    }

    bool get(sysv_key key, int create, const sysv_mq_options& o, mode_t mode, std::error_code& ec) noexcept {
        if (!create && key.is_private()) {
            ec = detail::explain(make_error_code(errc::name_invalid), "private_key() names no existing queue: create() one");
            return false;
        }
        if (!make_buffer(o, ec)) return false;
        int id = ::msgget(key.value(), create | static_cast<int>(mode & 0777));
        if (id < 0) {
            if (errno == ENOSPC)
                ec = detail::explain(make_error_code(errc::limit_exceeded), "the system's queue limit /proc/sys/kernel/msgmni (%ld) is reached",
                                     detail::read_proc_number("/proc/sys/kernel/msgmni"));
            else
                ec = detail::last_error();
            return false;
        }
        // A capacity set only on the queue we made: IPC_CREAT without IPC_EXCL may have opened one.
        if (o.queue_bytes > 0 && (create & IPC_EXCL)) {
            msqid_ds ds{};
            if (::msgctl(id, IPC_STAT, &ds) != 0 || (ds.msg_qbytes = o.queue_bytes, ::msgctl(id, IPC_SET, &ds) != 0)) {
                ec = detail::last_error();
                ::msgctl(id, IPC_RMID, nullptr);
                return false;
            }
        }
        id_ = id;
        return true;
    }

    static std::error_code explain_key(std::error_code ec, sysv_key key) noexcept {
        char k[24];
        std::snprintf(k, sizeof k, "key %#x", static_cast<unsigned>(key.value()));
        return detail::with_name(ec, k);
    }
    static sysv_mq or_throw(sysv_key key, int create, const sysv_mq_options& o, permissions p, const char* what) {
        std::error_code ec;
        sysv_mq q = got(key, create, o, p, ec);
        detail::throw_if(ec, what);
        return q;
    }
    static sysv_mq got(sysv_key key, int create, const sysv_mq_options& o, permissions p, std::error_code& ec) noexcept {
        ec.clear();
        sysv_mq q;
        if (q.get(key, create, o, p.mode, ec)) return q;
        explain_key(ec, key);
        return {};
    }

    detail::byte_buffer buf_;  // [long mtype][payload up to max_ + 1]
    std::size_t max_ = 0;
    int id_ = -1;
};

}  // namespace ipc::transport

// The channel over a System V message queue (defined in ipc/fwd.hpp, included
// above); it both sends and receives:
//   auto q = ipc::sysv_mq_channel<job>::create(ipc::transport::sysv_key(0x4a4f42));
//   q.send(j, {.type = 2});   ipc::transport::sysv_mq::recv_info i{.select = ipc::transport::type_selector::exact(2)};  q.recv(j, i);
