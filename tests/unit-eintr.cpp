// Signals arriving all the time must not lose, duplicate or reorder a message:
// every interrupted system call (EINTR) is retried where it stopped.
#include <ipc/channel.hpp>

#include <linux/close_range.h>
#include <unistd.h>

#include <csignal>

#include "conformance.hpp"

namespace {

using namespace ipc_test;

volatile sig_atomic_t interruptions = 0;
extern "C" void count_signal(int) { interruptions = interruptions + 1; }

// A handler without SA_RESTART: blocking calls really fail with EINTR.
void install_interrupting_handler() {
    struct sigaction sa {};
    sa.sa_handler = count_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGUSR1, &sa, nullptr);
}

void restore_default_handler() {
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    sigaction(SIGUSR1, &sa, nullptr);
}

// A process that signals `targets` every few microseconds until killed.
child storm(std::vector<pid_t> targets) {
    return child([targets] {
        ::close_range(3, ~0U, 0);  // hold no end of anyone's pipe open
        for (;;) {
            for (pid_t p : targets) ::kill(p, SIGUSR1);
            ::usleep(20);
        }
        return 0;
    });
}

constexpr std::uint64_t storm_count = 20000;

// The sender in a child, the receiver here, and a third process signalling
// both all along. Each side alternates blocking and timed calls so that both
// paths meet EINTR. in_child/in_parent drop the ends each side does not use;
// a transport with an end of stream (pipes, stream sockets) must then report
// closed, one without (queues, datagrams) must be empty.
template <class Tx, class Rx, class InChild, class InParent>
void transfer_under_storm(Tx& tx, Rx& rx, InChild in_child, InParent in_parent, bool reports_close) {
    using V = typename Rx::value_type;
    install_interrupting_handler();
    interruptions = 0;
    gate start;
    child sender([&] {
        in_child();
        interruptions = 0;
        if (!start.wait()) return 5;
        for (std::uint64_t i = 0; i < storm_count; ++i) {
            auto st = i % 2 ? tx.send(make_msg<V>(i, 1 << 16)) : tx.send_for(make_msg<V>(i, 1 << 16), 10s);
            if (st != ipc::status::ok) return 1;
        }
        return interruptions > 0 ? 0 : 7;  // 7: the storm never reached the sender
    });
    in_parent();
    auto signals = storm({::getpid(), sender.pid()});
    start.open();
    V got{};
    for (std::uint64_t i = 0; i < storm_count; ++i) {
        auto st = i % 2 ? rx.recv(got) : rx.recv_for(got, 10s);
        REQUIRE_MESSAGE(st == ipc::status::ok, "message ", i, ": ", std::string(st.name()));
        REQUIRE_MESSAGE(is_msg(i, got, 1 << 16), "message ", i, " lost, duplicated or reordered");
    }
    CHECK(sender.wait() == child_ok);
    ::kill(signals.pid(), SIGKILL);
    signals.wait();
    restore_default_handler();
    if (reports_close) CHECK(rx.recv_for(got, 10s) == ipc::status::closed);
    else CHECK(rx.try_recv(got) == ipc::status::would_block);  // nothing sent twice
    CHECK(interruptions > 0);
    MESSAGE("receiver was interrupted by ", static_cast<int>(interruptions), " signals");
}

template <class Framing>
void pipe_under_storm() {
    using V = typename value_for<Framing>::type;
    auto ch = ipc::pipe_channel<V, ipc::sync::poll, Framing>::create();
    transfer_under_storm(
        ch.sender, ch.receiver, [&] { ch.receiver.transport().close(); }, [&] { ch.sender.transport().close(); }, true);
}

// Both ends of a socketpair as channels; the child sends on the first.
template <class Socket, class V>
void socketpair_under_storm(bool reports_close) {
    auto ends = Socket::pair();
    ipc::channel<V, Socket> tx(std::move(ends.first)), rx(std::move(ends.second));
    transfer_under_storm(tx, rx, [&] { rx.transport().close(); }, [&] { tx.transport().close(); }, reports_close);
}

constexpr auto nothing = [] {};

}  // namespace

TEST_CASE("EINTR storm: a pipe channel with fixed records loses nothing") { pipe_under_storm<ipc::framing::fixed>(); }
TEST_CASE("EINTR storm: a pipe channel with length-prefixed strings loses nothing") {
    pipe_under_storm<ipc::framing::length_prefixed>();
}
TEST_CASE("EINTR storm: a pipe channel with text lines loses nothing") { pipe_under_storm<ipc::framing::delimited>(); }

TEST_CASE("EINTR storm: a POSIX message queue loses nothing") {
    const std::string name = "/" + unique_name("eintr-mq");
    auto tx = ipc::posix_mq_channel<std::string>::create(name);
    auto rx = ipc::posix_mq_channel<std::string>::open(name);
    transfer_under_storm(tx, rx, nothing, nothing, false);
    CHECK(ipc::transport::posix_mq::remove(name));
}

TEST_CASE("EINTR storm: a System V message queue loses nothing") {
    auto tx = ipc::sysv_mq_channel<record>::create(ipc::transport::sysv_key::private_key());
    ipc::sysv_mq_channel<record> rx(ipc::transport::sysv_mq::attach(tx.transport().id()));
    transfer_under_storm(tx, rx, nothing, nothing, false);
    CHECK(tx.transport().remove());
}

TEST_CASE("EINTR storm: a Unix stream socket loses nothing") {
    socketpair_under_storm<ipc::transport::unix_stream, std::string>(true);
}

TEST_CASE("EINTR storm: a Unix datagram socket loses nothing") {
    socketpair_under_storm<ipc::transport::unix_dgram, std::string>(false);
}
