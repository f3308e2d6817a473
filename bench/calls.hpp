// bench/calls.hpp: the harness for request/reply calls (RPC), and the raw twins
// every RPC case is compared with.
//
// A call case measures what a user comparing RPC systems looks at: the latency
// of one call, and calls per second with 1 and with `in_flight` calls
// outstanding on one connection. A call sends a request of `size` bytes and
// gets an 8-byte reply (the request's value plus one, checked by the caller).
//
// A call link is a class with these members (side a: the client, in the
// measuring parent; side b: the server, in the forked child):
//
//   explicit L(std::size_t size);  // in the parent, before fork: addresses, temp
//                                  // files; throw not_applicable to skip the size
//   void open(side s);             // after fork, in each process. Side b first:
//                                  // once open(b) returns the server accepts
//                                  // connections (listens), then the client opens
//   void serve();                  // side b: answer calls until the client closes
//   void start();                  // side a: send one call's request (never waits
//                                  // for a reply; at most `in_flight` unfinished)
//   void finish();                 // side a: wait for the oldest unfinished call's
//                                  // reply and check it (calls::check)
//   void close();                  // side a: end the connection; serve() returns
//   void call();                   // optional: one whole call, used when one call
//                                  // is in flight (a synchronous API)
//
// Every member throws on failure (a std::exception: the case reports it as a
// failed line). Building the request: calls::stamp(buffer, size, n) writes the
// call number n into the request; the server answers calls::answer(request,
// size); the client checks the reply with calls::check(n, size, reply).
// Each case is one line in a cases_*.cpp table (or a register_peer in its own file):
//
//   {"raw.unix_stream.call", "raw.unix_stream", calls::run<calls::raw_link<raw::unix_stream>>},
#pragma once

#include <sys/uio.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness.hpp"
#include "raw.hpp"

namespace bench::calls {

// Calls outstanding on one connection in the throughput phase.
inline constexpr std::size_t in_flight = 8;

// ---- the request and its answer ----------------------------------------------

// The low min(size, 8) bytes of n, little-endian, at the start of the request:
// every request differs, so a reply handed to the wrong call is noticed.
inline std::uint64_t request_value(std::uint64_t n, std::size_t size) {
    return size >= 8 ? n : n & ((std::uint64_t{1} << (8 * size)) - 1);
}
inline void stamp(void* request, std::size_t size, std::uint64_t n) {
    const std::uint64_t v = request_value(n, size);
    unsigned char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(v >> (8 * i));
    std::memcpy(request, bytes, std::min<std::size_t>(size, 8));
}
// What the server replies: the request's value plus one (X = 99 gives Y = 100).
inline std::uint64_t answer(const void* request, std::size_t size) {
    unsigned char bytes[8] = {};
    std::memcpy(bytes, request, std::min<std::size_t>(size, 8));
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | bytes[i];
    return v + 1;
}
inline void check(std::uint64_t n, std::size_t size, std::uint64_t reply) {
    if (reply != request_value(n, size) + 1)
        throw std::runtime_error("call " + std::to_string(n) + " got the reply " + std::to_string(reply) + ", not " +
                                 std::to_string(request_value(n, size) + 1));
}

// The numbers of the calls started and not finished, oldest first (a link
// that must match replies with calls keeps one).
class pending {
public:
    void push(std::uint64_t n) {
        if (count_ == in_flight) throw std::logic_error("more than calls::in_flight calls started");
        ids_[(head_ + count_++) % in_flight] = n;
    }
    std::uint64_t pop() {
        if (count_ == 0) throw std::logic_error("finish() without a call in flight");
        const std::uint64_t n = ids_[head_];
        head_ = (head_ + 1) % in_flight;
        --count_;
        return n;
    }
    std::size_t size() const { return count_; }

private:
    std::array<std::uint64_t, in_flight> ids_{};
    std::size_t head_ = 0, count_ = 0;
};

// ---- the harness -------------------------------------------------------------

template <class L>
void one_call(L& link) {
    if constexpr (requires { link.call(); }) link.call();
    else {
        link.start();
        link.finish();
    }
}

// Waits up to `timeout_ms` for the child to exit; kills it after that.
// Returns whether it exited with status 0 in time.
inline bool reap(pid_t pid, int timeout_ms) {
    int st = 0;
    for (int waited = 0;; ++waited) {
        const pid_t r = ::waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (r < 0 && errno != EINTR) return false;
        if (waited >= timeout_ms) break;
        const timespec one_ms{0, 1'000'000};
        ::nanosleep(&one_ms, nullptr);
    }
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
    return false;
}

// How long the server may take to stop once the client closed.
inline constexpr int server_stop_ms = 10'000;

// Runs one measurement of call link L with requests of `size` bytes:
//   warm-up:      p.warmup calls, one at a time;
//   latency:      calls one at a time, each timed (rtt_p50_ns, rtt_p99_ns), for
//                 p.rtt_budget_ns or p.max_rounds; msgs_per_s_1 = calls / time;
//   throughput:   `in_flight` calls outstanding, a new one started as soon as
//                 the oldest finishes, for p.oneway_budget_ns or p.messages(size)
//                 calls; msgs_per_s = calls / time, mb_per_s = request MB/s.
template <class L>
result run(std::size_t size, const plan& p) {
    std::optional<L> link;
    if (auto failed = build_link(link, size)) return *failed;
    // The server says it is listening by writing one byte; closing without it: it failed.
    int ready = -1;
    const pid_t pid = fork_with_pipe(ready);
    if (pid < 0) return result::fail("pipe2 or fork failed");
    if (pid == 0) {
        child_main("call server", [&] {
            link->open(side::b);
            const char one = 1;
            ::bench::raw::write_all(ready, &one, 1);
            ::close(ready);
            link->serve();
        });
    }

    hung_child = pid;
    ::alarm(measurement_timeout_s);
    result r;
    try {
        char byte = 0;
        ssize_t n;
        while ((n = ::read(ready, &byte, 1)) < 0 && errno == EINTR) {}
        ::close(ready);
        if (n != 1) throw std::runtime_error("the server side failed to start");
        link->open(side::a);
        for (std::size_t i = 0; i < p.warmup; ++i) one_call(*link);

        std::vector<std::int64_t> rtt;
        rtt.reserve(p.max_rounds);
        const std::int64_t start = now_ns();
        std::int64_t t1 = start;
        while (rtt.size() < p.max_rounds && t1 - start <= p.rtt_budget_ns) {
            const std::int64_t t0 = now_ns();
            one_call(*link);
            t1 = now_ns();
            rtt.push_back(t1 - t0);
        }
        r.msgs_per_s_1 = static_cast<double>(rtt.size()) / (static_cast<double>(t1 - start) * 1e-9);
        r.rtt_p50_ns = percentile(rtt, 0.50);
        r.rtt_p99_ns = percentile(rtt, 0.99);

        const std::size_t max_calls = std::max(p.messages(size), in_flight);
        std::size_t started = 0, finished = 0;
        const std::int64_t t0 = now_ns();
        for (; started < in_flight; ++started) link->start();
        // Checking the clock every 16 calls keeps it off the fast cases' path.
        for (;;) {
            link->finish();
            ++finished;
            if (started == max_calls || (finished % 16 == 0 && now_ns() - t0 > p.oneway_budget_ns)) break;
            link->start();
            ++started;
        }
        for (; finished < started; ++finished) link->finish();
        const double secs = static_cast<double>(now_ns() - t0) * 1e-9;
        r.msgs_per_s = static_cast<double>(finished) / secs;
        r.mb_per_s = r.msgs_per_s * static_cast<double>(size) * 1e-6;
        link->close();
    } catch (const std::exception& e) {
        r = result::fail(e.what());
        ::kill(pid, SIGKILL);
    }
    if (!reap(pid, server_stop_ms) && r.error.empty()) r = result::fail("the server process failed or did not stop");
    ::alarm(0);
    hung_child = 0;
    link.reset();  // only now: the child is gone, so named objects can be removed
    return r;
}

// ---- the raw twins -----------------------------------------------------------

// The frame header of raw calls: a call id and the payload's length, both
// ways; the server answers in order with an 8-byte payload (calls::answer).
struct header {
    std::uint64_t id;
    std::uint32_t method;  // requests: 0; replies: a status, 0 = ok
    std::uint32_t length;
};
static_assert(sizeof(header) == 16);

// Frames read through a buffer: one read() takes whatever has arrived (often
// several replies at once with calls in flight); frames are used in place.
class frame_reader {
public:
    explicit frame_reader(std::size_t max_payload)
        : max_payload_(max_payload), buf_(std::max<std::size_t>(65536, 2 * (sizeof(header) + max_payload))) {}

    // The next frame's header and payload; false: the peer closed between frames.
    bool next(int fd, header& h, const char*& payload) {
        for (;;) {
            const std::size_t have = end_ - begin_;
            if (have >= sizeof h) {
                std::memcpy(&h, buf_.data() + begin_, sizeof h);
                if (h.length > max_payload_)
                    throw std::runtime_error("a frame of " + std::to_string(h.length) + " bytes, more than " +
                                             std::to_string(max_payload_));
                if (have >= sizeof h + h.length) {
                    payload = buf_.data() + begin_ + sizeof h;
                    begin_ += sizeof h + h.length;
                    if (begin_ == end_) begin_ = end_ = 0;
                    return true;
                }
            }
            if (buf_.size() - begin_ < sizeof(header) + max_payload_) {  // slide the partial frame to the front
                std::memmove(buf_.data(), buf_.data() + begin_, have);
                begin_ = 0;
                end_ = have;
            }
            const ssize_t n = ::read(fd, buf_.data() + end_, buf_.size() - end_);
            if (n < 0) {
                if (errno == EINTR) continue;
                ::bench::raw::fail("read");
            }
            if (n == 0) {
                if (have == 0) return false;
                throw std::runtime_error("the peer closed in the middle of a frame");
            }
            end_ += static_cast<std::size_t>(n);
        }
    }

private:
    std::size_t max_payload_;
    std::vector<char> buf_;
    std::size_t begin_ = 0, end_ = 0;
};

// A hand-written client and server over a connected socket of Setup (raw.hpp):
// the client writev()s header and request, the server is a plain loop reading
// frames and write()ing each reply (header and 8 bytes) at once.
template <class Setup>
class raw_link {
public:
    explicit raw_link(std::size_t size) : size_(size), both_(Setup::make(size)), request_(size, 'x') {}

    void open(side s) {
        me_ = std::move(s == side::a ? both_.a : both_.b);
        both_ = {};  // close the other side's descriptors in this process
        reader_.emplace(s == side::a ? sizeof(std::uint64_t) : size_);
    }

    void serve() {
        header h;
        const char* payload = nullptr;
        while (reader_->next(me_.rx.get(), h, payload)) {
            if (h.length != size_) throw std::runtime_error("a request of the wrong size");
            struct {
                header h;
                std::uint64_t value;
            } reply{{h.id, 0, sizeof(std::uint64_t)}, answer(payload, h.length)};
            static_assert(sizeof reply == sizeof(header) + sizeof(std::uint64_t));
            ::bench::raw::write_all(me_.tx.get(), &reply, sizeof reply);
        }
    }

    void start() {
        const std::uint64_t n = next_++;
        stamp(request_.data(), size_, n);
        header h{n, 0, static_cast<std::uint32_t>(size_)};
        iovec iov[2] = {{&h, sizeof h}, {request_.data(), request_.size()}};
        ::bench::raw::write_all(me_.tx.get(), iov, 2);
        pending_.push(n);
    }

    void finish() {
        header h;
        const char* payload = nullptr;
        if (!reader_->next(me_.rx.get(), h, payload)) throw std::runtime_error("the server closed");
        const std::uint64_t n = pending_.pop();
        if (h.id != n) throw std::runtime_error("a reply to call " + std::to_string(h.id) + " while waiting for " + std::to_string(n));
        if (h.method != 0 || h.length != sizeof(std::uint64_t)) throw std::runtime_error("a malformed reply");
        std::uint64_t value;
        std::memcpy(&value, payload, sizeof value);
        check(n, size_, value);
    }

    void close() { me_ = {}; }

private:
    std::size_t size_;
    ::bench::raw::both_sides both_;
    ::bench::raw::side_fds me_;
    std::vector<char> request_;
    std::optional<frame_reader> reader_;
    pending pending_;
    std::uint64_t next_ = 0;
};

}  // namespace bench::calls
