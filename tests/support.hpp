// tests/support.hpp: running code in a real second process, with bounded waits
// and unique names, so every test can say "across two processes" honestly.
#pragma once

#include <doctest/doctest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>

namespace ipc_test {

using namespace std::chrono_literals;

// Exit codes a child uses to say what went wrong.
inline constexpr int child_ok = 0;
inline constexpr int child_threw = 90;
inline constexpr int child_timed_out = -1;  // reported by wait(): the child was killed

// A forked child running fn(); it always ends with _exit. fn returns an exit
// code (0 = success); an exception is printed and becomes child_threw.
class child {
public:
    template <class F>
    explicit child(F&& fn) {
        std::fflush(nullptr);
        pid_ = ::fork();
        REQUIRE_MESSAGE(pid_ >= 0, "fork failed");
        if (pid_ == 0) {
            int code = child_threw;
            try {
                code = fn();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "child %d threw: %s\n", ::getpid(), e.what());
            } catch (...) {
                std::fprintf(stderr, "child %d threw something\n", ::getpid());
            }
            std::fflush(nullptr);
            ::_exit(code);
        }
    }
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    child(child&& o) noexcept : pid_(std::exchange(o.pid_, -1)), code_(o.code_) {}
    ~child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    pid_t pid() const noexcept { return pid_; }

    // Exit code, a negative signal number if killed by one, or child_timed_out
    // after killing a child that did not finish in time.
    int wait(std::chrono::milliseconds timeout = 20s) {
        if (pid_ <= 0) return code_;
        auto until = std::chrono::steady_clock::now() + timeout;
        int st = 0;
        for (;;) {
            pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) break;
            if (std::chrono::steady_clock::now() >= until) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, nullptr, 0);
                pid_ = -1;
                return code_ = child_timed_out;
            }
            std::this_thread::sleep_for(1ms);
        }
        pid_ = -1;
        code_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
        return code_;
    }

private:
    pid_t pid_ = -1;
    int code_ = 0;
};

// Every object a test binary makes carries "ipc-test-<run>-": <run> is the
// binary's process group (main() makes it a group leader), the same in every
// child it forks, so main() can find whatever the run left behind.
inline std::string run_tag() { return "ipc-test-" + std::to_string(::getpgrp()) + "-"; }

// A name no other test (or test run) uses: ipc-test-<run>-<pid>-<n>-<tag>.
inline std::string unique_name(const std::string& tag = "t") {
    static std::atomic<unsigned> n{0};
    return run_tag() + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" + tag;
}

// A private directory under /tmp, removed with everything in it.
class temp_dir {
public:
    temp_dir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / (run_tag() + "XXXXXX")).string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }
    std::string operator/(const std::string& leaf) const { return (path_ / leaf).string(); }

private:
    std::filesystem::path path_;
};

// Number of open descriptors of this process: a test that ends with more than
// it started with leaks.
inline int open_fd_count() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (auto* e = ::readdir(d)) n += e->d_name[0] != '.';
        ::closedir(d);
        --n;  // the one opendir holds
    }
    return n;
}

// Raises the soft descriptor limit to `need` for as long as it lives, or
// ends the program with 77 (skipped, saying why) if the hard limit is lower.
// Only the last test of a file may use it: the skip ends the file's run.
class descriptor_limit {
public:
    explicit descriptor_limit(rlim_t need, const char* what) {
        REQUIRE(::getrlimit(RLIMIT_NOFILE, &old_) == 0);
        if (old_.rlim_cur >= need) return;
        if (old_.rlim_max != RLIM_INFINITY && old_.rlim_max < need) {
            std::printf("skipped: %s need %llu descriptors, the hard limit (ulimit -Hn) is %llu\n", what,
                        static_cast<unsigned long long>(need), static_cast<unsigned long long>(old_.rlim_max));
            std::exit(77);
        }
        rlimit raised{need, old_.rlim_max};
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &raised) == 0);
    }
    ~descriptor_limit() { (void)::setrlimit(RLIMIT_NOFILE, &old_); }
    descriptor_limit(const descriptor_limit&) = delete;
    descriptor_limit& operator=(const descriptor_limit&) = delete;

private:
    rlimit old_{};
};

// Milliseconds since an earlier point.
inline double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace ipc_test
