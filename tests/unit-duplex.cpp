// ipc::duplex_channel: one type out, another in, over one socket (Unix
// stream, seqpacket, TCP), two pipes or two shared-memory rings, between a
// parent and a forked child.
#include <ipc/duplex.hpp>

#include <string>

#include "support.hpp"

using namespace ipc_test;

namespace {

struct sum_request {
    int a, b;
};

// The child's side: answers every request with its sum as text until the parent closes.
template <class Duplex>
int answer_sums(Duplex& ch) {
    sum_request q{};
    int n = 0;
    for (;;) {
        const ipc::status s = ch.recv_for(q, 5s);
        if (s == ipc::status::closed) return n == 100 ? 0 : 1;
        if (s != ipc::status::ok) return 2;
        if (ch.send_for(std::to_string(q.a + q.b), 5s) != ipc::status::ok) return 3;
        ++n;
    }
}

// The parent's side: 100 requests, each reply checked.
template <class Duplex>
void ask_sums(Duplex& ch) {
    std::string r;
    for (int i = 0; i < 100; ++i) {
        REQUIRE(ch.send_for(sum_request{i, 1000}, 5s) == ipc::status::ok);
        REQUIRE(ch.recv_for(r, 5s) == ipc::status::ok);
        REQUIRE(r == std::to_string(i + 1000));
    }
}

template <class Socket>
void over_socketpair() {
    auto ends = Socket::pair();
    child c([&] {
        ends.first.close();
        ipc::duplex_channel<std::string, sum_request, Socket> ch(std::move(ends.second));
        return answer_sums(ch);
    });
    ends.second.close();
    {
        ipc::duplex_channel<sum_request, std::string, Socket> ch(std::move(ends.first));
        ask_sums(ch);
    }
    CHECK(c.wait() == child_ok);
}

}  // namespace

TEST_CASE("duplex_channel: requests one way, replies of another type back, over one socket") {
    SUBCASE("unix stream") { over_socketpair<ipc::transport::unix_stream>(); }
    SUBCASE("unix seqpacket") { over_socketpair<ipc::transport::unix_seqpacket>(); }
    SUBCASE("tcp over 127.0.0.1, connected by address") {
        auto l = ipc::transport::tcp_listener::listen(ipc::transport::inet_address::loopback_v4());
        child c([&] {
            auto s = l.accept_for(5s);
            if (!s) return 9;
            ipc::tcp_duplex<std::string, sum_request> ch(std::move(*s));
            return answer_sums(ch);
        });
        {
            auto ch = ipc::tcp_duplex<sum_request, std::string>::connect(l.local_address(), 5s);
            ask_sums(ch);
        }
        CHECK(c.wait() == child_ok);
    }
}

TEST_CASE("duplex_channel: over a pair of pipes to a forked child") {
    auto p = ipc::pipe_duplex_pair<sum_request, std::string>::create();
    child c([&] {
        p.first = {};
        return answer_sums(p.second);
    });
    p.second = {};
    ask_sums(p.first);
    p.first = {};
    CHECK(c.wait() == child_ok);
}

TEST_CASE("duplex_channel: over two named shared-memory rings") {
    const std::string name = unique_name("duplex");
    auto server = ipc::shm_duplex_names::create<sum_request, std::string>(name, 4096);
    child c([&] {
        auto ch = ipc::shm_duplex_names::open<sum_request, std::string>(name);
        ask_sums(ch);
        return 0;
    });
    CHECK(answer_sums(server) == 0);  // closed once the client left
    CHECK(c.wait() == child_ok);
    CHECK(ipc::shm_duplex_names::remove(name));
}
