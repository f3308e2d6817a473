// peer.capnp_rpc: Cap'n Proto RPC over a Unix socket, a call case (calls.hpp)
// compared with raw.unix_stream.call. The interface is bench_calls.capnp,
// compiled at build time (capnp compile -oc++). Each process sets up its own
// kj event loop after fork; the client pipelines its calls on one connection
// (up to calls::in_flight requests sent before the first reply is awaited) and
// waits on the oldest one's promise, which runs the loop. Run in a fresh
// process (isolated), so a peer that hangs costs a failed line, not the run.
#include <cstdint>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "bench_calls.capnp.h"
#include "calls.hpp"

namespace {

using bench::side;
namespace calls = bench::calls;

class server final : public BenchCalls::Server {
public:
    explicit server(std::size_t size) : size_(size) {}

protected:
    kj::Promise<void> call(CallContext context) override {
        const capnp::Data::Reader request = context.getParams().getRequest();
        if (request.size() != size_) KJ_FAIL_REQUIRE("a request of the wrong size", request.size(), size_);
        context.getResults().setValue(calls::answer(request.begin(), request.size()));
        return kj::READY_NOW;
    }

private:
    std::size_t size_;
};

class capnp_rpc {
public:
    explicit capnp_rpc(std::size_t size) : path_(dir_.file("capnp")), size_(size), request_(size, 'x') {}
    capnp_rpc(const capnp_rpc&) = delete;
    capnp_rpc& operator=(const capnp_rpc&) = delete;
    ~capnp_rpc() { close(); }

    void open(side s) {
        io_.emplace(kj::setupAsyncIo());
        auto address = io_->provider->getNetwork().parseAddress(kj::str("unix:", path_.c_str())).wait(io_->waitScope);
        if (s == side::b) {
            listener_ = address->listen();
            return;
        }
        stream_ = address->connect().wait(io_->waitScope);
        client_.emplace(*stream_);
        cap_.emplace(client_->bootstrap().castAs<BenchCalls>());
    }

    // Answers one connection until the client disconnects.
    void serve() {
        kj::Own<kj::AsyncIoStream> stream = listener_->accept().wait(io_->waitScope);
        capnp::TwoPartyVatNetwork network(*stream, capnp::rpc::twoparty::Side::SERVER);
        auto rpc = capnp::makeRpcServer(network, kj::heap<server>(size_));
        network.onDisconnect().wait(io_->waitScope);
    }

    void start() {
        const std::uint64_t n = next_++;
        calls::stamp(request_.data(), size_, n);
        auto request = cap_->callRequest();
        request.setRequest(kj::arrayPtr(request_.data(), request_.size()));
        replies_.push_back(request.send());
        pending_.push(n);
    }

    void finish() {
        if (replies_.empty()) throw std::logic_error("finish() without a call in flight");
        auto response = replies_.front().wait(io_->waitScope);
        replies_.pop_front();
        calls::check(pending_.pop(), size_, response.getValue());
    }

    // Dropping the connection ends the server's serve().
    void close() {
        replies_.clear();
        cap_.reset();
        client_.reset();
        stream_ = nullptr;
    }

private:
    bench::temp_dir dir_;
    std::string path_;
    std::size_t size_;
    std::vector<kj::byte> request_;
    // The event loop outlives everything that waits on it (declared first).
    std::optional<kj::AsyncIoContext> io_;
    kj::Own<kj::ConnectionReceiver> listener_;
    kj::Own<kj::AsyncIoStream> stream_;
    std::optional<capnp::TwoPartyClient> client_;
    std::optional<BenchCalls::Client> cap_;
    std::deque<capnp::RemotePromise<BenchCalls::CallResults>> replies_;
    calls::pending pending_;
    std::uint64_t next_ = 0;
};

const bench::register_peer reg{{"peer.capnp_rpc", "raw.unix_stream.call", bench::isolated<calls::run<capnp_rpc>>}};

}  // namespace
