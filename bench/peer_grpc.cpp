// peer.grpc: gRPC over a Unix socket (unix:/path), a call case (calls.hpp)
// compared with raw.unix_stream.call. The service is bench_calls.proto,
// compiled at build time (protoc with grpc_cpp_plugin). The server is the
// synchronous server a user writes first (gRPC runs handlers on its own
// threads). One call at a time uses the synchronous stub; 8 in flight use the
// asynchronous stub on a CompletionQueue that finish() drives from the calling
// thread (no client threads of ours). gRPC is set up only after fork, in each
// process, and the case runs in a fresh process (isolated), so the bench
// process never initialises gRPC and a peer that hangs costs a failed line.
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include <grpcpp/grpcpp.h>

#include "bench_calls.grpc.pb.h"
#include "calls.hpp"

namespace {

using bench::side;
namespace calls = bench::calls;
using ipc_bench::BenchCalls;
using ipc_bench::CallReply;
using ipc_bench::CallRequest;

class service final : public BenchCalls::Service {
public:
    explicit service(std::size_t size) : size_(size) {}

    grpc::Status Call(grpc::ServerContext*, const CallRequest* request, CallReply* reply) override {
        const std::string& body = request->request();
        if (body.empty()) {  // the goodbye: answered, then serve() shuts the server down
            const std::lock_guard lock(mutex_);
            bye_ = true;
            cv_.notify_all();
            return grpc::Status::OK;
        }
        if (body.size() != size_) return {grpc::StatusCode::INVALID_ARGUMENT, "a request of the wrong size"};
        reply->set_value(calls::answer(body.data(), body.size()));
        return grpc::Status::OK;
    }

    void wait_for_goodbye() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return bye_; });
    }

private:
    std::size_t size_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool bye_ = false;
};

[[noreturn]] void fail(const char* what, const grpc::Status& st) {
    throw std::runtime_error(std::string(what) + ": " + st.error_message() + " (code " + std::to_string(st.error_code()) + ")");
}

class grpc_link {
public:
    explicit grpc_link(std::size_t size) : address_("unix:" + dir_.file("grpc")), size_(size) {
        request_.mutable_request()->assign(size, 'x');
    }
    grpc_link(const grpc_link&) = delete;
    grpc_link& operator=(const grpc_link&) = delete;
    ~grpc_link() {
        drop();
        if (server_) server_->Shutdown(std::chrono::system_clock::now());
    }

    void open(side s) {
        if (s == side::b) {
            service_.emplace(size_);
            grpc::ServerBuilder builder;
            builder.AddListeningPort(address_, grpc::InsecureServerCredentials());
            builder.RegisterService(&*service_);
            server_ = builder.BuildAndStart();
            if (!server_) throw std::runtime_error("gRPC: the server did not start on " + address_);
            return;
        }
        channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
        if (!channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10)))
            throw std::runtime_error("gRPC: no connection to " + address_ + " within 10 s");
        stub_ = BenchCalls::NewStub(channel_);
        cq_ = std::make_unique<grpc::CompletionQueue>();
    }

    void serve() {
        service_->wait_for_goodbye();
        server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
        server_.reset();
    }

    void call() {
        const std::uint64_t n = next_++;
        calls::stamp(request_.mutable_request()->data(), size_, n);
        grpc::ClientContext context;
        CallReply reply;
        if (const grpc::Status st = stub_->Call(&context, request_, &reply); !st.ok()) fail("gRPC call", st);
        calls::check(n, size_, reply.value());
    }

    void start() {
        const std::uint64_t n = next_++;
        calls::stamp(request_.mutable_request()->data(), size_, n);
        auto& c = slots_[(first_ + pending_.size()) % calls::in_flight];
        c = std::make_unique<async_call>();
        c->rpc = stub_->AsyncCall(&c->context, request_, cq_.get());
        c->rpc->Finish(&c->reply, &c->status, c.get());
        pending_.push(n);
    }

    // Completions come in any order: each marks its call done until the oldest is.
    void finish() {
        auto& oldest = slots_[first_];
        while (!oldest->done) {
            void* tag = nullptr;
            bool ok = false;
            if (!cq_->Next(&tag, &ok)) throw std::runtime_error("gRPC: the completion queue shut down");
            if (!ok) throw std::runtime_error("gRPC: a call did not complete");
            static_cast<async_call*>(tag)->done = true;
        }
        if (!oldest->status.ok()) fail("gRPC async call", oldest->status);
        calls::check(pending_.pop(), size_, oldest->reply.value());
        oldest.reset();
        first_ = (first_ + 1) % calls::in_flight;
    }

    // The goodbye call (an empty request), then the client is dropped.
    void close() {
        grpc::ClientContext context;
        CallRequest bye;
        CallReply reply;
        const grpc::Status st = stub_->Call(&context, bye, &reply);
        drop();
        if (!st.ok()) fail("gRPC goodbye", st);
    }

private:
    // Cancels what is in flight (a run that failed) and waits for the
    // completion queue to hand every call back before they are freed.
    void drop() noexcept {
        for (auto& c : slots_)
            if (c && !c->done) c->context.TryCancel();
        if (cq_) {
            cq_->Shutdown();
            void* tag = nullptr;
            bool ok = false;
            while (cq_->Next(&tag, &ok)) {}
        }
        for (auto& c : slots_) c.reset();
        cq_.reset();
        stub_.reset();
        channel_.reset();
    }

    struct async_call {
        grpc::ClientContext context;
        CallReply reply;
        grpc::Status status;
        std::unique_ptr<grpc::ClientAsyncResponseReader<CallReply>> rpc;
        bool done = false;
    };

    bench::temp_dir dir_;
    std::string address_;
    std::size_t size_;
    std::optional<service> service_;  // built after fork, in the server
    std::unique_ptr<grpc::Server> server_;
    std::shared_ptr<grpc::Channel> channel_;
    std::unique_ptr<BenchCalls::Stub> stub_;
    std::unique_ptr<grpc::CompletionQueue> cq_;
    CallRequest request_;
    std::array<std::unique_ptr<async_call>, calls::in_flight> slots_;
    std::size_t first_ = 0;
    calls::pending pending_;
    std::uint64_t next_ = 0;
};

const bench::register_peer reg{{"peer.grpc", "raw.unix_stream.call", bench::isolated<calls::run<grpc_link>>}};

}  // namespace
