// eventfd: a channel of 64-bit counts, shared by fork() and passed over a Unix socket.
//
// The conformance suite does not fit: an eventfd carries only a uint64_t, sums
// what is sent instead of queueing it, and has no end of stream. These cases
// check what it does instead.
#include <ipc/channel.hpp>

#include <sys/socket.h>

#include "support.hpp"

namespace {

using namespace ipc_test;
using ipc::transport::eventfd_mode;

ipc::eventfd_channel make(eventfd_mode m, unsigned initial = 0) {
    return ipc::eventfd_channel(ipc::transport::eventfd::create(m, initial));
}

}  // namespace

TEST_CASE("eventfd counter mode: a receive takes the sum of what a child sent") {
    auto ch = make(eventfd_mode::counter);
    child sender([&] {
        for (std::uint64_t v : {3, 4, 10})
            if (ch.send(v) != ipc::status::ok) return 1;
        return 0;
    });
    REQUIRE(sender.wait() == child_ok);
    std::uint64_t got = 0;
    REQUIRE(ch.recv_for(got, 5s) == ipc::status::ok);
    CHECK(got == 17);
    CHECK(ch.try_recv(got) == ipc::status::would_block);
}

TEST_CASE("eventfd semaphore mode: each receive takes 1, in a child") {
    auto ch = make(eventfd_mode::semaphore, 2);
    REQUIRE(ch.send(3) == ipc::status::ok);
    child taker([&] {
        std::uint64_t v = 0;
        for (int i = 0; i < 5; ++i)
            if (ch.recv_for(v, 5s) != ipc::status::ok || v != 1) return 1;
        return ch.try_recv(v) == ipc::status::would_block ? 0 : 2;
    });
    CHECK(taker.wait() == child_ok);
    std::uint64_t v = 0;
    CHECK(ch.try_recv(v) == ipc::status::would_block);  // the child took all five
}

TEST_CASE("eventfd: a blocked receiver wakes when another process sends") {
    auto ch = make(eventfd_mode::counter);
    child late([&] {
        std::this_thread::sleep_for(30ms);
        return ch.send(42) == ipc::status::ok ? 0 : 1;
    });
    std::uint64_t got = 0;
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(ch.recv_for(got, 5s) == ipc::status::ok);
    CHECK(got == 42);
    CHECK(ms_since(t0) >= 20.0);
    CHECK(late.wait() == child_ok);
}

TEST_CASE("eventfd: timed receive waits its whole time, never less") {
    auto ch = make(eventfd_mode::semaphore);
    std::uint64_t v = 0;
    std::error_code ec;
    CHECK(ch.try_recv(v, ec) == ipc::status::would_block);
    CHECK(ec == ipc::errc::would_block);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(ch.recv_for(v, 50ms) == ipc::status::timed_out);
    CHECK(ms_since(t0) >= 50.0);
    CHECK(ms_since(t0) < 2000.0);
}

TEST_CASE("eventfd: passed over a Unix socket with SCM_RIGHTS to an unrelated holder") {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    ipc::detail::unique_fd mine(sv[0]), theirs(sv[1]);
    const int fds_before = open_fd_count();
    // The child makes an eventfd the parent has never seen, and hands it over.
    child maker([&] {
        mine.reset();
        auto made = ipc::transport::eventfd::create(eventfd_mode::semaphore);
        std::error_code ec;
        if (!ipc::detail::send_fd(theirs.get(), made.native_handle(), ec)) return 1;
        ipc::eventfd_channel ch(std::move(made));
        for (int i = 0; i < 3; ++i)
            if (ch.send(1) != ipc::status::ok) return 2;
        return 0;
    });
    theirs.reset();
    std::error_code ec;
    auto fd = ipc::detail::receive_fd(mine.get(), ec);
    REQUIRE_FALSE(ec);
    CHECK((::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    ipc::eventfd_channel ch{ipc::transport::eventfd(std::move(fd))};
    std::uint64_t v = 0;
    for (int i = 0; i < 3; ++i) {
        REQUIRE(ch.recv_for(v, 5s) == ipc::status::ok);
        CHECK(v == 1);  // semaphore mode travelled with the descriptor
    }
    CHECK(maker.wait() == child_ok);
    CHECK(ipc::detail::receive_fd(mine.get(), ec).get() < 0);
    CHECK(ec == ipc::errc::peer_closed);
    ch.transport().close();
    CHECK(open_fd_count() == fds_before - 1);  // only `theirs` closed; nothing leaked
}

TEST_CASE("fd passing: a message without a descriptor is bad_message") {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    ipc::detail::unique_fd a(sv[0]), b(sv[1]);
    REQUIRE(::send(a.get(), "x", 1, MSG_NOSIGNAL) == 1);
    std::error_code ec;
    CHECK(ipc::detail::receive_fd(b.get(), ec).get() < 0);
    CHECK(ec == ipc::errc::bad_message);
}

TEST_CASE("eventfd: what cannot be sent, and a full counter") {
    auto ch = make(eventfd_mode::counter);
    std::error_code ec;
    CHECK(ch.try_send(0, ec) == ipc::status::failed);
    CHECK(ec == std::errc::invalid_argument);
    CHECK(ch.try_send(UINT64_MAX, ec) == ipc::status::failed);
    CHECK(ec == std::errc::invalid_argument);

    REQUIRE(ch.send(UINT64_MAX - 1) == ipc::status::ok);  // the most the counter holds
    CHECK(ch.try_send(1) == ipc::status::would_block);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(ch.send_for(1, 30ms) == ipc::status::timed_out);
    CHECK(ms_since(t0) >= 30.0);
    std::uint64_t v = 0;
    REQUIRE(ch.try_recv(v) == ipc::status::ok);
    CHECK(v == UINT64_MAX - 1);
    CHECK(ch.try_send(1) == ipc::status::ok);

    // At the transport level, a buffer under 8 bytes takes nothing.
    std::byte small[4];
    CHECK(ch.transport().recv_message(small, ipc::io_mode::nonblocking, ec) == 0);
    CHECK(ec == ipc::errc::message_too_large);
    CHECK(ch.try_recv(v) == ipc::status::ok);
    CHECK(v == 1);
}

TEST_CASE("eventfd: an adopted O_NONBLOCK descriptor still blocks properly") {
    ipc::eventfd_channel ch{ipc::transport::eventfd(ipc::detail::unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)))};
    REQUIRE(ch.transport().is_open());
    child late([&] {
        std::this_thread::sleep_for(20ms);
        return ch.send(5) == ipc::status::ok ? 0 : 1;
    });
    std::uint64_t v = 0;
    ::alarm(10);  // bounds the plain blocking call: a hang ends the test run with SIGALRM
    CHECK(ch.recv(v) == ipc::status::ok);  // waits in poll, then reads
    ::alarm(0);
    CHECK(v == 5);
    CHECK(late.wait() == child_ok);
    CHECK(ch.try_recv(v) == ipc::status::would_block);
}
