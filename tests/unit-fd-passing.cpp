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
