// ipc::send_fd / ipc::recv_fd_for: a descriptor handed to another process over a Unix socket.
#include "support.hpp"

#include <ipc/channel.hpp>
#include <ipc/fd_passing.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ipc_test;
using ipc::transport::unix_seqpacket;
using ipc::transport::unix_stream;

TEST_CASE("fd passing: a child receives the parent's pipe end and writes to the same pipe") {
    auto ends = unix_seqpacket::pair();
    auto pipe = ipc::transport::make_pipe();
    child c([&] {
        const int fd = ipc::recv_fd_for(ends.second, 5s);
        const bool cloexec = (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
        const char msg[] = "via SCM_RIGHTS";
        const bool wrote = ::write(fd, msg, sizeof msg) == static_cast<ssize_t>(sizeof msg);
        ::close(fd);
        return cloexec && wrote ? child_ok : 1;
    });
    ipc::send_fd(ends.first, pipe.writer.native_handle());
    pipe.writer.close();  // from now on only the child's received copy can write
    char buf[32] = {};
    std::size_t got = 0;
    for (ssize_t n; (n = ::read(pipe.reader.native_handle(), buf + got, sizeof buf - got)) > 0;) got += static_cast<std::size_t>(n);
    CHECK(std::string(buf) == "via SCM_RIGHTS");
    CHECK(c.wait() == child_ok);
}

TEST_CASE("fd passing: a deadline, a closed peer and a message without a descriptor are errors") {
    auto ends = unix_stream::pair();
    std::error_code ec;
    const auto start = std::chrono::steady_clock::now();
    CHECK(ipc::recv_fd_for(ends.second, 50ms, ec) == -1);
    CHECK(ec == ipc::errc::timed_out);
    CHECK(std::chrono::steady_clock::now() - start >= 50ms);

    const char plain = 'x';
    REQUIRE(::send(ends.first.native_handle(), &plain, 1, 0) == 1);
    CHECK(ipc::recv_fd_for(ends.second, 1s, ec) == -1);
    CHECK(ec == ipc::errc::bad_message);

    ends.first.close();
    CHECK(ipc::recv_fd_for(ends.second, 1s, ec) == -1);
    CHECK(ec == ipc::errc::peer_closed);
    CHECK_THROWS_AS((void)ipc::recv_fd_for(ends.second, 1s), ipc::error);
    CHECK_FALSE(ipc::send_fd(ends.second, 0, ec));
    CHECK(ec == ipc::errc::peer_closed);
    CHECK_THROWS_AS(ipc::send_fd(ends.second, 0), ipc::error);
}

TEST_CASE("fd passing: nothing leaks on either side") {
    const int before = open_fd_count();
    {
        auto ends = unix_seqpacket::pair();
        ipc::send_fd(ends.first, STDIN_FILENO);
        const int fd = ipc::recv_fd_for(ends.second, 1s);
        CHECK(fd > STDERR_FILENO);
        ::close(fd);
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("fd passing: a worker adopts the listening socket its master sent and accepts on it") {
    temp_dir dir;
    const std::string path = dir / "adopt.sock";
    const auto address = ipc::transport::unix_address::path(path);
    auto listener = ipc::transport::unix_stream_listener::listen(address);
    auto tcp_listener = ipc::transport::tcp_listener::listen(ipc::transport::inet_address::v4("127.0.0.1", 0));
    auto ends = unix_seqpacket::pair();
    child worker([&] {
        auto l = ipc::transport::unix_stream_listener::adopt(ipc::recv_fd_for(ends.second, 5s));
        auto t = ipc::transport::tcp_listener::adopt(ipc::recv_fd_for(ends.second, 5s));
        if (t.local_port() == 0) return 1;
        auto a = l.accept_for(5s);
        auto b = t.accept_for(5s);
        if (!a || !b) return 2;
        int v = 0;
        ipc::unix_stream_channel<int> ca(std::move(*a));
        ipc::tcp_channel<int> cb(std::move(*b));
        if (ca.recv_for(v, 5s) != ipc::status::ok || cb.send_for(v + 1, 5s) != ipc::status::ok) return 3;
        return child_ok;
    });
    ipc::send_fd(ends.first, listener.native_handle());
    ipc::send_fd(ends.first, tcp_listener.native_handle());
    auto to_worker = ipc::unix_stream_channel<int>::connect(address, 5s);
    auto from_worker = ipc::tcp_channel<int>::connect(tcp_listener.local_address(), 5s);
    REQUIRE(to_worker.send_for(41, 5s) == ipc::status::ok);
    int v = 0;
    CHECK(from_worker.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 42);
    CHECK(worker.wait() == child_ok);
}

TEST_CASE("fd passing: adopt refuses what is not a listening socket of its kind, and closes it") {
    std::error_code ec;
    auto pair = unix_stream::pair();
    const int connected = ::dup(pair.first.native_handle());
    auto l = ipc::transport::unix_stream_listener::adopt(connected, ec);
    CHECK(ec == std::errc::invalid_argument);
    CHECK_FALSE(l.is_open());
    CHECK(ipc::last_error_detail(ec).find("not a listening socket") != std::string::npos);
    CHECK(::fcntl(connected, F_GETFD) == -1);  // closed, not leaked

    auto tcp_l = ipc::transport::tcp_listener::listen(ipc::transport::inet_address::v4("127.0.0.1", 0));
    (void)ipc::transport::unix_seqpacket_listener::adopt(::dup(tcp_l.native_handle()), ec);
    CHECK(ec == std::errc::invalid_argument);  // a TCP listener is not a Unix one

    int p[2];
    REQUIRE(::pipe(p) == 0);
    ::close(p[1]);
    (void)ipc::transport::tcp_listener::adopt(p[0], ec);
    CHECK(ec == std::errc::not_a_socket);
    CHECK(ipc::last_error_detail(ec).find("not a socket") != std::string::npos);
    CHECK_THROWS_AS((void)ipc::transport::tcp_listener::adopt(-1), ipc::error);
}
