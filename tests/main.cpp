// The one file with doctest's main. Every test binary also gets a watchdog:
// a test that hangs is killed with a message instead of wedging the run.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>
#include <unistd.h>

namespace {
extern "C" void on_watchdog(int) {
    static const char msg[] = "\n*** ipc test watchdog: the test binary ran past IPC_TEST_TIMEOUT, killing it\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::kill(0, SIGKILL);  // our process group: the stuck test and any child it forked
    ::_exit(124);
}
} // namespace

int main(int argc, char** argv) {
    unsigned seconds = 240;
    if (const char* s = std::getenv("IPC_TEST_TIMEOUT")) seconds = static_cast<unsigned>(std::strtoul(s, nullptr, 10));
    // Own process group, so the watchdog kills only this binary's processes.
    ::setpgid(0, 0);
    std::signal(SIGALRM, on_watchdog);
    ::alarm(seconds);
    doctest::Context ctx(argc, argv);
    return ctx.run();
}
