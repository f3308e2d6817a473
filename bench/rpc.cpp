// ipc.rpc.*: ipc::rpc calls (call harness, calls.hpp) as a user writes them: a
// server with one handler, serve_link on the one accepted connection (it
// returns when that client closes), a client calling with call() one at a
// time and call_async() with calls::in_flight outstanding. The request is a
// std::vector<std::byte> of `size` bytes, the reply a std::uint64_t.
// Compared with the hand-written raw.*.call twins; ipc.rpc.shm with
// ipc.shm.futex's round trip (no raw call over shared memory exists).
#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ipc/rpc.hpp>

#include "calls.hpp"
#include "shm.hpp"

namespace {

using bench::side;
namespace calls = bench::calls;
namespace rpc = ipc::rpc;

constexpr const char* method = "Bench.Call";
// Room for the frame header and the method name besides the request's bytes.
constexpr std::size_t frame_overhead = 256;

// The client half, common to every transport: Client is an rpc::basic_client.
template <class Client>
class rpc_client {
public:
    explicit rpc_client(std::size_t size) : size_(size), request_(size) {
        if (size + frame_overhead > rpc::max_frame_size) throw bench::not_applicable("over ipc::rpc::max_frame_size");
    }

    void call() {
        const std::uint64_t n = next_++;
        calls::stamp(request_.data(), size_, n);
        calls::check(n, size_, client_->template call<std::uint64_t>(method, request_));
    }
    void start() {
        const std::uint64_t n = next_++;
        calls::stamp(request_.data(), size_, n);
        // The handle holds a pointer to client_, which stays put (an optional member).
        calls_[(head_ + numbers_.size()) % calls::in_flight] = client_->template call_async<std::uint64_t>(method, request_);
        numbers_.push(n);
    }
    void finish() {
        const std::uint64_t n = numbers_.pop();
        const std::uint64_t reply = calls_[head_].get();
        head_ = (head_ + 1) % calls::in_flight;
        calls::check(n, size_, reply);
    }
    void close() { client_.reset(); }

protected:
    // The server half: answers until its one client closes.
    template <class Link>
    void serve_on(Link& link) {
        rpc::server srv;
        srv.on(method, [size = size_](const std::vector<std::byte>& request) {
            if (request.size() != size) throw std::runtime_error("a request of the wrong size");
            return calls::answer(request.data(), request.size());
        });
        const ipc::status s = srv.serve_link(link);
        if (s != ipc::status::closed && s != ipc::status::peer_dead)
            throw std::runtime_error(std::string("serve_link ended with status ") + s.name());
    }

    std::size_t size_;
    std::optional<Client> client_;

private:
    std::vector<std::byte> request_;
    std::array<typename Client::template pending_call<std::uint64_t>, calls::in_flight> calls_;
    calls::pending numbers_;
    std::size_t head_ = 0;
    std::uint64_t next_ = 0;
};

// A socket server accepts its one client in serve(): open(b) only has to listen,
// and the listener is made in the parent before fork (the child inherits it).
class rpc_unix : public rpc_client<rpc::unix_client> {
public:
    explicit rpc_unix(std::size_t size) : rpc_client(size), path_(dir_.file("rpc")), listener_(rpc::listen_unix(path_)) {}
    void open(side s) {
        if (s == side::a) {
            // Connect first: the listener's destructor removes the socket's name.
            client_.emplace(rpc::connect_unix(path_));
            listener_ = {};
        }
    }
    void serve() {
        auto s = listener_.accept_for(std::chrono::seconds(5));
        if (!s) throw std::runtime_error("no client connected within 5 s");
        auto link = rpc::unix_link(std::move(*s));
        serve_on(link);
    }

private:
    bench::temp_dir dir_;
    std::string path_;
    ipc::transport::unix_stream_listener listener_;
};

class rpc_tcp : public rpc_client<rpc::tcp_client> {
public:
    explicit rpc_tcp(std::size_t size) : rpc_client(size), listener_(rpc::listen_tcp("127.0.0.1")) {}
    void open(side s) {
        if (s == side::a) {
            const std::uint16_t port = listener_.local_port();
            listener_ = {};
            client_.emplace(rpc::connect_tcp("127.0.0.1", port));
        }
    }
    void serve() {
        auto s = listener_.accept_for(std::chrono::seconds(5));
        if (!s) throw std::runtime_error("no client connected within 5 s");
        auto link = rpc::tcp_link(std::move(*s));
        serve_on(link);
    }

private:
    ipc::transport::tcp_listener listener_;
};

// The server creates the rings in open(b), so that it, not the parent, is attached as the server.
class rpc_shm : public rpc_client<rpc::shm_client> {
public:
    explicit rpc_shm(std::size_t size) : rpc_client(size), name_(bench::shm::region_name()) {}
    ~rpc_shm() { rpc::shm_endpoint::remove(name_); }
    rpc_shm(const rpc_shm&) = delete;
    rpc_shm& operator=(const rpc_shm&) = delete;

    void open(side s) {
        if (s == side::b) {
            // calls::in_flight requests in a ring at once, each a frame of about size_ bytes.
            link_.emplace(rpc::shm_endpoint::create(name_, std::max<std::size_t>(64 * 1024, std::bit_ceil(calls::in_flight * (size_ + frame_overhead)))));
            return;
        }
        client_.emplace(rpc::open_shm(name_));
    }
    void serve() { serve_on(*link_); }

private:
    std::string name_;
    std::optional<rpc::shm_link> link_;
};

const bench::register_peer unix_case({"ipc.rpc.unix_stream", "raw.unix_stream.call", calls::run<rpc_unix>});
const bench::register_peer tcp_case({"ipc.rpc.tcp", "raw.tcp.call", calls::run<rpc_tcp>});
// Round trip against the shared-memory channel's; calls/s have no twin (tput ratio left out).
const bench::register_peer shm_case({"ipc.rpc.shm", "ipc.shm.futex", calls::run<rpc_shm>});

}  // namespace
