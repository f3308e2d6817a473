// The one file with doctest's main. Every test binary also gets:
//  - a watchdog: a test that hangs is killed with a message instead of wedging the run;
//  - a hygiene check: descriptors, files, shared memory and queues that the run
//    left behind fail it, named so they are easy to find.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <dirent.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

extern "C" void on_watchdog(int) {
    static const char msg[] = "\n*** ipc test watchdog: the test binary ran past IPC_TEST_TIMEOUT, killing it\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::kill(0, SIGKILL);  // our process group: the stuck test and any child it forked
    ::_exit(124);
}

int count_fds() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (auto* e = ::readdir(d)) n += e->d_name[0] != '.';
        ::closedir(d);
    }
    return n;
}

// Entries in dir whose name contains this run's tag (see tests/support.hpp).
std::vector<std::string> leftovers(const char* dir, const std::string& tag) {
    std::vector<std::string> found;
    if (DIR* d = ::opendir(dir)) {
        while (auto* e = ::readdir(d))
            if (std::string(e->d_name).find(tag) != std::string::npos) found.push_back(std::string(dir) + "/" + e->d_name);
        ::closedir(d);
    }
    return found;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned seconds = 240;
    if (const char* s = std::getenv("IPC_TEST_TIMEOUT")) seconds = static_cast<unsigned>(std::strtoul(s, nullptr, 10));
    // Own process group: the watchdog kills only this binary's processes, and
    // the group id tags every object the run creates.
    ::setpgid(0, 0);
    std::signal(SIGALRM, on_watchdog);
    ::alarm(seconds);

    const int fds_before = count_fds();
    doctest::Context ctx(argc, argv);
    int rc = ctx.run();
    if (ctx.shouldExit()) return rc;

    const std::string tag = "ipc-test-" + std::to_string(::getpgrp()) + "-";
    std::vector<std::string> left;
    for (const char* dir : {"/dev/shm", "/dev/mqueue", "/tmp"})
        for (auto& f : leftovers(dir, tag)) left.push_back(f);
    for (auto& f : left) std::fprintf(stderr, "ipc hygiene: the run left %s behind\n", f.c_str());
    const int fds_after = count_fds();
    if (fds_after > fds_before)
        std::fprintf(stderr, "ipc hygiene: %d file descriptor(s) leaked (%d open before the tests, %d after)\n",
                     fds_after - fds_before, fds_before, fds_after);
    if (!left.empty() || fds_after > fds_before) {
        for (auto& f : left) std::remove(f.c_str());
        return rc ? rc : 3;
    }
    return rc;
}
