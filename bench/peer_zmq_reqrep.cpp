// peer.zmq_reqrep: ZeroMQ request/reply over ipc:// (a Unix stream socket
// underneath), a call case (calls.hpp) compared with raw.unix_stream.call.
// The server is a REP socket. One call at a time goes through a REQ socket, as
// a user writes it; REQ allows one call in flight, so the 8-in-flight phase
// sends the same messages (an empty delimiter frame, then the request) from a
// DEALER socket connected to the same REP server. Each process makes its own
// context after fork: a ZeroMQ context must not cross fork(). Run in a fresh
// process (isolated), so a peer that hangs costs a failed line, not the run.
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <zmq.h>

#include "calls.hpp"

namespace {

using bench::side;
namespace calls = bench::calls;

class zmq_reqrep {
public:
    explicit zmq_reqrep(std::size_t size) : endpoint_("ipc://" + dir_.file("zmq")), size_(size), buf_(size + 1, 'x') {}
    ~zmq_reqrep() { shut(); }
    zmq_reqrep(const zmq_reqrep&) = delete;
    zmq_reqrep& operator=(const zmq_reqrep&) = delete;

    void open(side s) {
        ctx_ = ::zmq_ctx_new();
        if (!ctx_) fail("zmq_ctx_new");
        if (s == side::b) {
            rep_ = socket(ZMQ_REP);
            if (::zmq_bind(rep_, endpoint_.c_str()) != 0) fail("zmq_bind");
            return;
        }
        req_ = socket(ZMQ_REQ);
        dealer_ = socket(ZMQ_DEALER);
        if (::zmq_connect(req_, endpoint_.c_str()) != 0 || ::zmq_connect(dealer_, endpoint_.c_str()) != 0) fail("zmq_connect");
    }

    // A request of no bytes is the goodbye (sizes start at 1): answered, then the server stops.
    void serve() {
        for (;;) {
            const int n = ::zmq_recv(rep_, buf_.data(), buf_.size(), 0);
            if (n < 0) fail("zmq_recv");
            if (n == 0) {
                if (::zmq_send(rep_, "", 0, 0) != 0) fail("zmq_send");
                shut();  // sends what is queued (within the linger time): the process ends with _exit
                return;
            }
            if (static_cast<std::size_t>(n) != size_) throw std::runtime_error("zmq: a request of the wrong size");
            const std::uint64_t v = calls::answer(buf_.data(), size_);
            if (::zmq_send(rep_, &v, sizeof v, 0) != sizeof v) fail("zmq_send");
        }
    }

    void call() {
        const std::uint64_t n = next_++;
        calls::stamp(buf_.data(), size_, n);
        if (::zmq_send(req_, buf_.data(), size_, 0) != static_cast<int>(size_)) fail("zmq_send");
        calls::check(n, size_, reply(req_));
    }

    void start() {
        const std::uint64_t n = next_++;
        calls::stamp(buf_.data(), size_, n);
        if (::zmq_send(dealer_, "", 0, ZMQ_SNDMORE) != 0 || ::zmq_send(dealer_, buf_.data(), size_, 0) != static_cast<int>(size_))
            fail("zmq_send");
        pending_.push(n);
    }

    // REP answers in order, so the next reply is the oldest call's.
    void finish() {
        char empty[1];
        if (::zmq_recv(dealer_, empty, sizeof empty, 0) != 0) fail("zmq_recv (the delimiter)");
        calls::check(pending_.pop(), size_, reply(dealer_));
    }

    void close() {
        if (::zmq_send(req_, "", 0, 0) != 0) fail("zmq_send");
        char none[1];
        if (::zmq_recv(req_, none, sizeof none, 0) != 0) fail("zmq_recv (the goodbye)");
    }

private:
    [[noreturn]] static void fail(const char* what) { throw std::runtime_error(std::string(what) + ": " + ::zmq_strerror(::zmq_errno())); }

    void shut() {
        for (void** s : {&rep_, &req_, &dealer_})
            if (*s) ::zmq_close(std::exchange(*s, nullptr));
        if (ctx_) ::zmq_ctx_term(std::exchange(ctx_, nullptr));
    }

    void* socket(int type) {
        void* s = ::zmq_socket(ctx_, type);
        if (!s) fail("zmq_socket");
        const int linger_ms = 1000;
        ::zmq_setsockopt(s, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        return s;
    }

    std::uint64_t reply(void* s) {
        std::uint64_t v = 0;
        const int n = ::zmq_recv(s, &v, sizeof v, 0);
        if (n < 0) fail("zmq_recv");
        if (n != sizeof v) throw std::runtime_error("zmq: a reply of the wrong size");
        return v;
    }

    bench::temp_dir dir_;
    std::string endpoint_;
    std::size_t size_;
    std::vector<char> buf_;
    void* ctx_ = nullptr;
    void* rep_ = nullptr;
    void* req_ = nullptr;
    void* dealer_ = nullptr;
    calls::pending pending_;
    std::uint64_t next_ = 0;
};

const bench::register_peer reg{{"peer.zmq_reqrep", "raw.unix_stream.call", bench::isolated<calls::run<zmq_reqrep>>}};

}  // namespace
