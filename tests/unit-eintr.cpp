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

template <class Framing>
void pipe_under_storm() {
    using V = typename value_for<Framing>::type;
    install_interrupting_handler();
    interruptions = 0;
    auto ch = ipc::pipe_channel<V, ipc::sync::poll, Framing>::create();
    gate start;
    child sender([&] {
        ch.receiver.transport().close();
        interruptions = 0;
        if (!start.wait()) return 5;
        // Alternate blocking and timed sends so both paths meet EINTR.
        for (std::uint64_t i = 0; i < storm_count; ++i) {
            auto st = i % 2 ? ch.sender.send(make_msg<V>(i, 1 << 16)) : ch.sender.send_for(make_msg<V>(i, 1 << 16), 10s);
            if (st != ipc::status::ok) return 1;
        }
        return interruptions > 0 ? 0 : 7;  // 7: the storm never reached the sender
    });
    ch.sender.transport().close();
    auto signals = storm({::getpid(), sender.pid()});
    start.open();
    V got{};
    for (std::uint64_t i = 0; i < storm_count; ++i) {
        auto st = i % 2 ? ch.receiver.recv(got) : ch.receiver.recv_for(got, 10s);
        REQUIRE_MESSAGE(st == ipc::status::ok, "message ", i, ": ", std::string(st.name()));
        REQUIRE_MESSAGE(is_msg(i, got, 1 << 16), "message ", i, " lost, duplicated or reordered");
    }
    CHECK(ch.receiver.recv_for(got, 10s) == ipc::status::closed);
    CHECK(sender.wait() == child_ok);
    ::kill(signals.pid(), SIGKILL);
    signals.wait();
    restore_default_handler();
    CHECK(interruptions > 0);
    MESSAGE("receiver was interrupted by ", static_cast<int>(interruptions), " signals");
}

} // namespace

TEST_CASE("EINTR storm: a pipe channel with fixed records loses nothing") { pipe_under_storm<ipc::framing::fixed>(); }
TEST_CASE("EINTR storm: a pipe channel with length-prefixed strings loses nothing") {
    pipe_under_storm<ipc::framing::length_prefixed>();
}
TEST_CASE("EINTR storm: a pipe channel with text lines loses nothing") { pipe_under_storm<ipc::framing::delimited>(); }
