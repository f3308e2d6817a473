// Signals: realtime signals carry one small value each, queued in order, to a
// pid; and SIGTERM/SIGINT/SIGHUP become an event a program can poll.
#include <ipc/channel.hpp>

#include <poll.h>
#include <sys/resource.h>

#include "support.hpp"

namespace {

using namespace ipc_test;

const int sig = ipc::transport::realtime_signal(3);

// Reads one int from a pipe, bounded.
bool read_int(int fd, int& v) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 10000) > 0 && ::read(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v);
}

}  // namespace

TEST_CASE("signals: a child's messages arrive in order with their payload intact") {
    // Blocked before the child exists, so nothing it sends can be delivered as a plain signal.
    auto rx = ipc::signal_receiver<int>::open(sig);
    const pid_t me = ::getpid();
    child sender([&] {
        auto tx = ipc::signal_sender<int>::open(me, sig);
        for (int i = 0; i < 500; ++i)
            if (tx.send_for(i * 7919 - 1000000, 5s) != ipc::status::ok) return 1;
        return 0;
    });
    int v = 0;
    for (int i = 0; i < 499; ++i) {
        REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
        REQUIRE(v == i * 7919 - 1000000);
    }
    ipc::transport::signal_reader::recv_info info;
    REQUIRE(rx.recv_for(v, info, 5s) == ipc::status::ok);
    CHECK(v == 499 * 7919 - 1000000);
    CHECK(info.has_value);
    CHECK(info.sender.pid == sender.pid());
    CHECK(info.sender.uid == ::getuid());
    CHECK(sender.wait() == child_ok);
    CHECK(rx.try_recv(v) == ipc::status::would_block);
}

TEST_CASE("signals: a pointer-sized payload fits, a bigger one does not") {
    auto rx = ipc::signal_receiver<std::uint64_t>::open(sig);
    auto tx = ipc::signal_sender<std::uint64_t>::open(::getpid(), sig);
    REQUIRE(tx.try_send(0x0123456789abcdefULL) == ipc::status::ok);
    std::uint64_t v = 0;
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 0x0123456789abcdefULL);

    std::byte big[16]{};
    std::error_code ec;
    CHECK_FALSE(tx.transport().send_message(big, ipc::io_mode::nonblocking, ec));
    CHECK(ec == ipc::errc::message_too_large);
}

TEST_CASE("signals: the receiver's notification is pollable and timed receives are never early") {
    auto rx = ipc::signal_receiver<int>::open(sig);
    int v = 0;
    auto t0 = std::chrono::steady_clock::now();
    CHECK(rx.recv_for(v, 50ms) == ipc::status::timed_out);
    CHECK(ms_since(t0) >= 50.0);
    CHECK(ms_since(t0) < 2000.0);

    pollfd p{rx.native_handle(), POLLIN, 0};
    CHECK(::poll(&p, 1, 0) == 0);
    const pid_t me = ::getpid();
    child sender([&] { return ipc::signal_sender<int>{ipc::transport::sigqueue_writer::open(me, sig)}.try_send(5) == ipc::status::ok ? 0 : 1; });
    CHECK(::poll(&p, 1, 5000) == 1);
    CHECK(rx.try_recv(v) == ipc::status::ok);
    CHECK(v == 5);
    CHECK(sender.wait() == child_ok);
}

TEST_CASE("signals: a full queue is would_block for the sender, and nothing is lost") {
    int to_parent[2], to_child[2];
    REQUIRE(::pipe(to_parent) == 0);
    REQUIRE(::pipe(to_child) == 0);
    child receiver([&] {
        // RLIMIT_SIGPENDING bounds the pending signals of this user (all its processes): 8 is a short queue.
        rlimit lim{};
        ::getrlimit(RLIMIT_SIGPENDING, &lim);
        lim.rlim_cur = 8;
        if (::setrlimit(RLIMIT_SIGPENDING, &lim) != 0) return 1;
        auto rx = ipc::signal_receiver<int>::open(sig);
        int ready = 1, sent = 0;
        if (::write(to_parent[1], &ready, sizeof ready) != sizeof ready) return 2;
        if (!read_int(to_child[0], sent)) return 3;
        int v = 0;
        for (int i = 0; i < sent; ++i)
            if (rx.recv_for(v, 5s) != ipc::status::ok || v != i) return 4;
        return rx.try_recv(v) == ipc::status::would_block ? 0 : 5;
    });
    int ready = 0;
    REQUIRE(read_int(to_parent[0], ready));
    auto tx = ipc::signal_sender<int>::open(receiver.pid(), sig);
    int sent = 0;
    ipc::status st = ipc::status::ok;
    while (sent < 100 && (st = tx.try_send(sent)) == ipc::status::ok) ++sent;
    CHECK(st == ipc::status::would_block);
    CHECK(sent <= 8);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(tx.send_for(999, 30ms) == ipc::status::timed_out);
    CHECK(ms_since(t0) >= 30.0);
    REQUIRE(::write(to_child[1], &sent, sizeof sent) == sizeof sent);
    CHECK(receiver.wait() == child_ok);
    for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) ::close(fd);
}

TEST_CASE("signals: sending to a process that has exited is closed, even if its pid comes back") {
    child gone([] { return 0; });
    ipc::signal_sender<int> tx{ipc::transport::sigqueue_writer::open(gone.pid(), sig)};  // holds a pidfd from here
    REQUIRE(gone.wait() == child_ok);
    std::error_code ec;
    CHECK(tx.try_send(1, ec) == ipc::status::closed);
    CHECK(ec == ipc::errc::peer_closed);
}

TEST_CASE("signals: what is refused") {
    std::error_code ec;
    auto standard = ipc::transport::signal_reader::open(SIGUSR1, ec);  // standard signals merge: not a queue
    CHECK(ec == ipc::errc::unsupported);
    auto to_nobody = ipc::transport::sigqueue_writer::open(0, sig, ec);
    CHECK(ec == ipc::errc::unsupported);
    CHECK(ipc::transport::realtime_signal(-1) == -1);
    CHECK(ipc::transport::realtime_signal(SIGRTMAX - SIGRTMIN + 1) == -1);

}

TEST_CASE("signals: a signal sent without a value (kill) is a message with value zero, and info says so") {
    auto rx = ipc::signal_receiver<int>::open(sig);
    const pid_t me = ::getpid();
    child shell([&] { return ::kill(me, sig) == 0 && ::kill(me, sig) == 0 ? 0 : 1; });  // as `kill -RTMIN+n pid` does
    const pid_t shell_pid = shell.pid();
    REQUIRE(shell.wait() == child_ok);
    int v = -1;
    std::error_code ec;
    CHECK(rx.recv_for(v, 5s, ec) == ipc::status::ok);  // no exception, no failure: an event
    CHECK_FALSE(ec);
    CHECK(v == 0);
    ipc::transport::signal_reader::recv_info info;
    v = -1;
    REQUIRE(rx.recv_for(v, info, 5s) == ipc::status::ok);
    CHECK(v == 0);
    CHECK_FALSE(info.has_value);
    CHECK(info.sender.pid == shell_pid);
}

TEST_CASE("signals: the receiver restores the mask it found") {
    sigset_t before, during, after;
    ::pthread_sigmask(SIG_SETMASK, nullptr, &before);
    REQUIRE_FALSE(sigismember(&before, sig));
    {
        auto rx = ipc::transport::signal_reader::open(sig);
        ::pthread_sigmask(SIG_SETMASK, nullptr, &during);
        CHECK(sigismember(&during, sig));
        REQUIRE(::sigqueue(::getpid(), sig, sigval{1}) == 0);  // left pending: discarded, not delivered
    }
    ::pthread_sigmask(SIG_SETMASK, nullptr, &after);
    CHECK_FALSE(sigismember(&after, sig));
}

TEST_CASE("shutdown_signal: a child's SIGTERM becomes an event polled alongside a channel") {
    ipc::shutdown_signal stop;
    auto work = ipc::eventfd_channel(ipc::transport::eventfd::create());
    CHECK_FALSE(stop.triggered());
    CHECK(stop.signal() == 0);
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(stop.wait_for(30ms));
    CHECK(ms_since(t0) >= 30.0);

    const pid_t me = ::getpid();
    child boss([&] {
        if (work.send(1) != ipc::status::ok) return 1;
        return ::kill(me, SIGTERM) == 0 ? 0 : 2;
    });
    bool got_work = false;
    for (int round = 0; round < 10 && !(got_work && stop.triggered()); ++round) {
        pollfd fds[2] = {{work.native_handle(), POLLIN, 0}, {stop.native_handle(), POLLIN, 0}};
        REQUIRE(::poll(fds, 2, 5000) > 0);
        std::uint64_t v = 0;
        if (fds[0].revents & POLLIN) got_work = work.try_recv(v) == ipc::status::ok;
    }
    CHECK(stop.signal() == SIGTERM);
    CHECK(stop.sender().pid == boss.pid());
    CHECK(stop.wait_for(0ms));  // it stays set
    CHECK(boss.wait() == child_ok);
    CHECK(got_work);
}

TEST_CASE("shutdown_signal: wait_for returns when SIGINT arrives") {
    ipc::shutdown_signal stop({SIGINT});
    const pid_t me = ::getpid();
    child interrupter([&] {
        std::this_thread::sleep_for(20ms);
        return ::kill(me, SIGINT) == 0 ? 0 : 1;
    });
    CHECK(stop.wait_for(5s));
    CHECK(stop.signal() == SIGINT);
    CHECK(interrupter.wait() == child_ok);
}
