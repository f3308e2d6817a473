// Child processes: fork_with (plain and with a typed pipe each way), spawn of
// real programs with piped stdin/stdout, and the child_process handle.
#include <ipc/process.hpp>
#include <ipc/transport/signal.hpp>
#include <ipc/transport/unix_socket.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using namespace ipc_test;

// True if pid is gone entirely (not even a zombie waiting to be reaped).
bool reaped(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// doctest reports SIGTERM as a crash through a handler that a forked child
// inherits: a child that is to die of SIGTERM quietly restores the default.
void default_sigterm() { ::signal(SIGTERM, SIG_DFL); }

bool blocked_here(int signo) {
    sigset_t now;
    ::pthread_sigmask(SIG_SETMASK, nullptr, &now);
    return sigismember(&now, signo) == 1;
}

// Blocks a signal in this thread for the guard's lifetime, as a program
// would for its own reasons.
struct user_blocks {
    explicit user_blocks(int signo) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, signo);
        ::pthread_sigmask(SIG_BLOCK, &s, &old);
    }
    ~user_blocks() { ::pthread_sigmask(SIG_SETMASK, &old, nullptr); }
    sigset_t old{};
};

}  // namespace

TEST_CASE("fork_with: the child's return value is its exit code") {
    auto c = ipc::fork_with([] { return 3; });
    CHECK(c.running());
    CHECK(c.pid() > 0);
    auto r = c.wait_for(5s);
    REQUIRE(r.has_value());
    CHECK(*r == 3);
    CHECK_FALSE(c.running());
    CHECK(c.wait() == 3);  // reaped once, the result stays
    CHECK_FALSE(c.kill());  // and its pid is no longer ours to signal
}

TEST_CASE("fork_with: a child that throws exits with uncaught_exception") {
    auto c = ipc::fork_with([]() -> int { throw std::runtime_error("expected by the test"); });
    CHECK(c.wait_for(5s) == ipc::child_process::uncaught_exception);
}

TEST_CASE("fork_with: a void body exits 0; the error_code twins report no error") {
    std::error_code ec;
    auto c = ipc::fork_with([] {}, ec);
    CHECK_FALSE(ec);
    CHECK(c.wait_for(5s, ec) == 0);
    CHECK_FALSE(ec);
    auto kid = ipc::fork_with<int>([](ipc::pipe_receiver<int>&, ipc::pipe_sender<int>& out) { return out.send(9) ? 0 : 1; }, ec);
    CHECK_FALSE(ec);
    int v = 0;
    CHECK(kid.from_child.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 9);
    CHECK(kid.process.wait(ec) == 0);
    CHECK_FALSE(ec);
}

TEST_CASE("fork_with: typed pipes each way, end of stream when either side is done") {
    // The child doubles what it gets until the parent closes its sender.
    auto kid = ipc::fork_with<int, long>([](ipc::pipe_receiver<int>& in, ipc::pipe_sender<long>& out) {
        int v = 0;
        int n = 0;
        for (;;) {
            auto st = in.recv_for(v, 5s);
            if (st == ipc::status::closed) return n;
            if (st != ipc::status::ok || out.send_for(2L * v, 5s) != ipc::status::ok) return 100;
            ++n;
        }
    });
    long got = 0;
    for (int i = 0; i < 50; ++i) {
        REQUIRE(kid.to_child.send_for(i, 5s) == ipc::status::ok);
        REQUIRE(kid.from_child.recv_for(got, 5s) == ipc::status::ok);
        CHECK(got == 2L * i);
    }
    kid.to_child.close();  // the child's receiver sees end of stream...
    CHECK(kid.process.wait_for(5s) == 50);
    CHECK(kid.from_child.recv_for(got, 5s) == ipc::status::closed);  // ...and the child's exit closes ours
}

TEST_CASE("child_process: wait_for a child that hangs times out, never early; kill ends it") {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    auto c = ipc::fork_with([&] {
        // The test binary's own SIGTERM handler (doctest's crash reporter) is
        // inherited; the point here is a plain process dying of SIGTERM.
        std::signal(SIGTERM, SIG_DFL);
        [[maybe_unused]] auto n = ::write(ready[1], "r", 1);
        ::pause();
        return 0;
    });
    ::close(ready[1]);
    char r = 0;
    REQUIRE(::read(ready[0], &r, 1) == 1);
    ::close(ready[0]);
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(c.wait_for(60ms).has_value());
    double waited = ms_since(t0);
    CHECK(waited >= 60.0);
    CHECK(waited < 2000.0);
    CHECK(c.running());  // a timeout leaves it running
    CHECK(c.kill(SIGTERM));
    CHECK(c.wait_for(5s) == -SIGTERM);
}

TEST_CASE("child_process: the destructor kills and reaps a child still running") {
    pid_t pid = -1;
    {
        auto c = ipc::fork_with([] {
            ::pause();
            return 0;
        });
        pid = c.pid();
        CHECK_FALSE(reaped(pid));
    }
    CHECK(reaped(pid));  // no zombie left behind
}

TEST_CASE("child_process: moving hands over the child; assigning over one kills the old") {
    auto a = ipc::fork_with([] { return 5; });
    const pid_t first = a.pid();
    ipc::child_process b(std::move(a));
    CHECK_FALSE(a.running());
    CHECK(b.pid() == first);
    b = ipc::fork_with([] {
        ::pause();
        return 0;
    });
    CHECK(reaped(first));
    CHECK(b.kill());
    CHECK(b.wait_for(5s) == -SIGKILL);
}

// ipc::shutdown_signal blocks SIGTERM, SIGINT and SIGHUP to read them: a child
// must not inherit that (it would ignore SIGTERM), but what the program
// blocked itself stays blocked, as fork(2) and exec keep it.
TEST_CASE("fork_with: after shutdown_signal, children still die of SIGTERM; the program's own blocked signals stay blocked") {
    user_blocks own(SIGUSR2);
    ipc::shutdown_signal shutdown;
    REQUIRE(blocked_here(SIGTERM));
    SUBCASE("a plain fork_with child") {
        auto c = ipc::fork_with([] {
            default_sigterm();
            if (blocked_here(SIGTERM) || blocked_here(SIGINT) || !blocked_here(SIGUSR2)) return 2;
            ::sleep(20);  // until SIGTERM
            return 1;
        });
        CHECK_FALSE(c.wait_for(100ms).has_value());  // alive: its mask was right
        CHECK(c.kill(SIGTERM));
        CHECK(c.wait_for(5s) == -SIGTERM);
    }
    SUBCASE("a fork_with child with pipes") {
        auto kid = ipc::fork_with<int>([](ipc::pipe_receiver<int>& in, ipc::pipe_sender<int>&) {
            default_sigterm();
            int v = 0;
            (void)in.recv_for(v, 20s);  // until SIGTERM
            return 1;
        });
        CHECK_FALSE(kid.process.wait_for(100ms).has_value());
        CHECK(kid.process.kill(SIGTERM));
        CHECK(kid.process.wait_for(5s) == -SIGTERM);
    }
    SUBCASE("a child that makes its own shutdown_signal reads SIGTERM instead of dying") {
        auto kid = ipc::fork_with<int>([](ipc::pipe_receiver<int>&, ipc::pipe_sender<int>& out) {
            ipc::shutdown_signal mine;
            if (out.send_for(1, 5s) != ipc::status::ok) return 1;  // ready
            return mine.wait_for(10s) && mine.signal() == SIGTERM ? 7 : 2;
        });
        int ready = 0;
        REQUIRE(kid.from_child.recv_for(ready, 5s) == ipc::status::ok);
        CHECK(kid.process.kill(SIGTERM));
        CHECK(kid.process.wait_for(5s) == 7);
    }
    SUBCASE("the parent keeps its own mask") {
        auto c = ipc::fork_with([] { return 0; });
        CHECK(c.wait_for(5s) == 0);
        CHECK(blocked_here(SIGTERM));  // the parent still reads SIGTERM through shutdown_signal
    }
}

TEST_CASE("spawn: after shutdown_signal, a program starts with SIGTERM unblocked and dies of it") {
    user_blocks own(SIGUSR2);
    ipc::shutdown_signal shutdown;
    REQUIRE(blocked_here(SIGTERM));
    SUBCASE("its signal mask: only the program's own SIGUSR2") {
        // SigBlk in /proc/<pid>/status: bit n-1 for signal n, in hex.
        auto p = ipc::spawn({"sh", "-c", "exec grep SigBlk /proc/self/status"}, ipc::stdio_pipes::out);
        ipc::pipe_line_receiver rx(std::move(p.out));
        std::string line;
        REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
        CHECK(p.process.wait_for(5s) == 0);
        const auto mask = std::stoull(line.substr(line.find_first_of("0123456789abcdef")), nullptr, 16);
        CHECK((mask >> (SIGTERM - 1) & 1) == 0);
        CHECK((mask >> (SIGINT - 1) & 1) == 0);
        CHECK((mask >> (SIGHUP - 1) & 1) == 0);
        CHECK((mask >> (SIGUSR2 - 1) & 1) == 1);
    }
    SUBCASE("SIGTERM ends it") {
        auto p = ipc::spawn({"sleep", "20"}, ipc::stdio_pipes::none);
        CHECK_FALSE(p.process.wait_for(100ms).has_value());
        CHECK(p.process.kill(SIGTERM));
        CHECK(p.process.wait_for(5s) == -SIGTERM);
    }
}

// A pool: each worker echoes what it reads until its pipe closes. Each child
// holds only its own pipe ends, so closing worker 2's pipe ends worker 2 even
// though workers 3 and 4 were forked while the parent held that pipe.
TEST_CASE("fork_with: closing one worker's pipe ends that worker alone") {
    std::vector<ipc::forked_child<int>> pool;
    for (int w = 0; w < 4; ++w)
        pool.push_back(ipc::fork_with<int>([](ipc::pipe_receiver<int>& in, ipc::pipe_sender<int>& out) {
            int v = 0;
            for (;;) {
                auto st = in.recv_for(v, 20s);
                if (st == ipc::status::closed) return 0;
                if (st != ipc::status::ok || out.send_for(v, 5s) != ipc::status::ok) return 1;
            }
        }));
    pool[1].to_child.close();
    CHECK(pool[1].process.wait_for(5s) == 0);
    int v = 0;
    CHECK(pool[1].from_child.recv_for(v, 5s) == ipc::status::closed);
    for (int w : {0, 2, 3}) {  // the others still work
        CHECK(pool[w].process.running());
        REQUIRE(pool[w].to_child.send_for(w * 10, 5s) == ipc::status::ok);
        REQUIRE(pool[w].from_child.recv_for(v, 5s) == ipc::status::ok);
        CHECK(v == w * 10);
    }
    for (int w : {3, 0, 2}) {  // and each ends when its own pipe closes, in any order
        pool[w].to_child.close();
        CHECK(pool[w].process.wait_for(5s) == 0);
    }
}

TEST_CASE("fork_connected: one duplex socket-pair channel per child; closing one ends that child alone") {
    using link = ipc::unix_seqpacket_channel<int>;
    std::vector<ipc::connected_child<link>> plugins;
    for (int w = 0; w < 3; ++w)
        plugins.push_back(ipc::fork_connected<link>([](link& host) {
            int v = 0;
            for (;;) {
                auto st = host.recv_for(v, 20s);
                if (st == ipc::status::closed) return 0;
                if (st != ipc::status::ok || host.send_for(v + 1, 5s) != ipc::status::ok) return 1;
            }
        }));
    int v = 0;
    for (int w = 0; w < 3; ++w) {
        REQUIRE(plugins[w].channel.send_for(w * 10, 5s) == ipc::status::ok);
        REQUIRE(plugins[w].channel.recv_for(v, 5s) == ipc::status::ok);
        CHECK(v == w * 10 + 1);
    }
    // Children 1 and 2 were forked after child 0 and must not hold our end of its pair.
    plugins[0].channel.close();
    CHECK(plugins[0].process.wait_for(5s) == 0);
    plugins[2].process.kill(SIGKILL);  // a crash is end of stream for the host
    CHECK(plugins[2].process.wait_for(5s) == -SIGKILL);
    CHECK(plugins[2].channel.recv_for(v, 5s) == ipc::status::closed);
    REQUIRE(plugins[1].channel.send_for(5, 5s) == ipc::status::ok);
    CHECK(plugins[1].channel.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 6);
    plugins[1].channel.close();
    CHECK(plugins[1].process.wait_for(5s) == 0);
}

// A timed send opens a second, nonblocking description of the pipe
// (detail::pipe_end); a child forked after it must not hold that one either.
TEST_CASE("fork_with: a pipe used by a timed call before the next fork still ends its worker when closed") {
    auto a = ipc::fork_with<int>([](ipc::pipe_receiver<int>& in, ipc::pipe_sender<int>&) {
        int v = 0;
        if (in.recv_for(v, 20s) != ipc::status::ok || v != 1) return 1;
        return in.recv_for(v, 20s) == ipc::status::closed ? 0 : 2;
    });
    REQUIRE(a.to_child.send_for(1, 5s) == ipc::status::ok);  // the nonblocking description exists from here on
    auto b = ipc::fork_with<int>([](ipc::pipe_receiver<int>& in, ipc::pipe_sender<int>&) {
        int v = 0;
        return in.recv_for(v, 20s) == ipc::status::closed ? 0 : 1;
    });
    const auto t0 = std::chrono::steady_clock::now();
    a.to_child.close();
    CHECK(a.process.wait_for(5s) == 0);  // closed at once, not after b's copy of the pipe goes
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    b.to_child.close();
    CHECK(b.process.wait_for(5s) == 0);
}

TEST_CASE("fork_with: a child forked after spawn does not hold the spawned program's stdin open") {
    auto p = ipc::spawn({"cat"});
    auto bystander = ipc::fork_with([] {
        ::sleep(20);  // killed by the destructor below
        return 0;
    });
    ipc::pipe_line_sender tx(std::move(p.in));
    ipc::pipe_line_receiver rx(std::move(p.out));
    std::string line;
    REQUIRE(tx.send_for("x", 5s) == ipc::status::ok);
    REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
    tx.close();  // cat's end of file, though bystander was forked while we held this end
    CHECK(rx.recv_for(line, 5s) == ipc::status::closed);
    CHECK(p.process.wait_for(5s) == 0);
    CHECK(bystander.running());
}

TEST_CASE("fork_with: a pipe end the parent closed and reused for something else is left alone in later children") {
    auto first = ipc::fork_with<int>([](ipc::pipe_receiver<int>& in, ipc::pipe_sender<int>&) {
        int v = 0;
        return in.recv_for(v, 20s) == ipc::status::closed ? 0 : 1;
    });
    const int fd = first.to_child.transport().native_handle();
    first.to_child.close();
    CHECK(first.process.wait_for(5s) == 0);
    auto other = ipc::transport::make_pipe();  // likely takes the same descriptor number
    const int reused = other.writer.native_handle() == fd ? fd : other.reader.native_handle();
    auto second = ipc::fork_with([reused] { return ::fcntl(reused, F_GETFD) == -1 ? 1 : 0; });
    CHECK(second.wait_for(5s) == 0);
}

TEST_CASE("spawn: sort reads our lines on its stdin and writes them sorted on its stdout") {
    auto p = ipc::spawn({"sort"});
    {
        ipc::pipe_line_sender to_sort(std::move(p.in));
        for (const char* word : {"pear", "apple", "fig", "banana"}) REQUIRE(to_sort.send_for(word, 5s) == ipc::status::ok);
    }  // closing its stdin is what makes sort answer
    ipc::pipe_line_receiver from_sort(std::move(p.out));
    std::vector<std::string> got;
    std::string line;
    while (from_sort.recv_for(line, 5s) == ipc::status::ok) got.push_back(line);
    CHECK(got == std::vector<std::string>{"apple", "banana", "fig", "pear"});
    CHECK(p.process.wait_for(5s) == 0);
}

TEST_CASE("spawn: cat echoes line by line while its stdin stays open") {
    auto p = ipc::spawn({"/bin/cat"}, ipc::stdio_pipes::in_out);
    ipc::pipe_line_sender tx(std::move(p.in));
    ipc::pipe_line_receiver rx(std::move(p.out));
    std::string line;
    for (int i = 0; i < 20; ++i) {
        REQUIRE(tx.send_for("line " + std::to_string(i), 5s) == ipc::status::ok);
        REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
        CHECK(line == "line " + std::to_string(i));
    }
    tx.close();
    CHECK(rx.recv_for(line, 5s) == ipc::status::closed);
    CHECK(p.process.wait_for(5s) == 0);
}

TEST_CASE("spawn: only stdout piped; the exit code of a failing program comes through") {
    auto p = ipc::spawn({"sh", "-c", "echo out; exit 7"}, ipc::stdio_pipes::out);
    CHECK_FALSE(p.in.is_open());
    ipc::pipe_line_receiver rx(std::move(p.out));
    std::string line;
    REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
    CHECK(line == "out");
    CHECK(rx.recv_for(line, 5s) == ipc::status::closed);
    CHECK(p.process.wait_for(5s) == 7);
}

TEST_CASE("spawn: a program that does not exist is an error, not a child") {
    std::error_code ec;
    auto p = ipc::spawn({"/nonexistent/ipc-no-such-program"}, ipc::stdio_pipes::in_out, ec);
    CHECK(ec == ipc::errc::not_found);
    CHECK_FALSE(p.process.running());
    CHECK_FALSE(p.in.is_open());
    CHECK_FALSE(p.out.is_open());
    CHECK_THROWS_AS(ipc::spawn({"ipc-no-such-program-in-path"}), ipc::error);
    ec.clear();
    (void)ipc::spawn({}, ipc::stdio_pipes::none, ec);
    CHECK(ec == ipc::errc::name_invalid);
}

TEST_CASE("spawn: a program that hangs is killed after a bounded wait, and nothing leaks") {
    const int before = open_fd_count();
    {
        auto p = ipc::spawn({"sleep", "30"}, ipc::stdio_pipes::none);
        CHECK_FALSE(p.process.wait_for(50ms).has_value());
        CHECK(p.process.kill());
        CHECK(p.process.wait_for(5s) == -SIGKILL);
    }
    {
        auto p = ipc::spawn({"cat"});  // destroyed while cat still waits on its stdin
    }
    CHECK(open_fd_count() == before);
}
