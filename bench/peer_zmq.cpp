// peer.zmq: ZeroMQ PAIR sockets over ipc:// (a Unix stream socket underneath,
// hence compared with raw.unix_stream). Each process makes its own context
// after fork: a ZeroMQ context must not cross fork().
#include <stdexcept>
#include <string>
#include <vector>

#include <zmq.h>

#include "harness.hpp"

namespace {

using bench::side;

class zmq_pair {
public:
    explicit zmq_pair(std::size_t size) : endpoint_("ipc://" + dir_.file("zmq")), tx_(size, 'x'), rx_(size + 1) {}
    ~zmq_pair() {
        if (sock_) ::zmq_close(sock_);
        if (ctx_) ::zmq_ctx_term(ctx_);
    }
    zmq_pair(const zmq_pair&) = delete;
    zmq_pair& operator=(const zmq_pair&) = delete;

    void open(side s) {
        ctx_ = ::zmq_ctx_new();
        sock_ = ctx_ ? ::zmq_socket(ctx_, ZMQ_PAIR) : nullptr;
        if (!sock_) fail("zmq_socket");
        const int linger_ms = 1000;
        ::zmq_setsockopt(sock_, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        // The child may connect before the parent binds: ZeroMQ retries.
        if ((s == side::a ? ::zmq_bind(sock_, endpoint_.c_str()) : ::zmq_connect(sock_, endpoint_.c_str())) != 0)
            fail("zmq_bind/connect");
    }
    void send() {
        if (::zmq_send(sock_, tx_.data(), tx_.size(), 0) != static_cast<int>(tx_.size())) fail("zmq_send");
    }
    void recv() {
        int n = ::zmq_recv(sock_, rx_.data(), rx_.size(), 0);
        if (n != static_cast<int>(tx_.size())) fail("zmq_recv");
    }

private:
    [[noreturn]] static void fail(const char* what) { throw std::runtime_error(std::string(what) + ": " + ::zmq_strerror(::zmq_errno())); }

    bench::temp_dir dir_;
    std::string endpoint_;
    void* ctx_ = nullptr;
    void* sock_ = nullptr;
    std::vector<char> tx_, rx_;
};

const bench::register_peer reg{{"peer.zmq", "raw.unix_stream", bench::run_link<zmq_pair>}};

}  // namespace
