// tests/peer_program.hpp: an unrelated program (tests/poller_peer.cpp, broadcast_peer.cpp) started
// with posix_spawn, sharing nothing with the test but the names it is given.
#pragma once

#include <doctest/doctest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

extern char** environ;

namespace ipc_test {

class peer_program {
public:
#ifdef IPC_POLLER_PEER
    explicit peer_program(std::vector<std::string> args) : peer_program(IPC_POLLER_PEER, std::move(args)) {}
#endif
    // Another program (tests/broadcast_peer.cpp).
    peer_program(const char* program, std::vector<std::string> args) {
        args.insert(args.begin(), program);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        REQUIRE(::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) == 0);
    }
    peer_program(const peer_program&) = delete;
    peer_program& operator=(const peer_program&) = delete;
    ~peer_program() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    pid_t pid() const noexcept { return pid_; }
    // Exit code, -signal, or child_timed_out (then killed).
    int wait(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        int st = 0;
        while (::waitpid(pid_, &st, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() >= until) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, nullptr, 0);
                pid_ = -1;
                return child_timed_out;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    }

private:
    pid_t pid_ = -1;
};

}  // namespace ipc_test
