// A worker that waits on its channel and on SIGTERM/SIGINT/SIGHUP at once,
// in one ipc::poller, and on a shutdown signal finishes what is queued and exits 0.
//
//   $ ./graceful_shutdown              # echoes stdin lines; Ctrl-C or kill -TERM ends it cleanly
//   $ ./graceful_shutdown --self-test  # a child sends work, then SIGTERM to its parent
#include <ipc/channel.hpp>
#include <ipc/poller.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

using namespace std::chrono_literals;

namespace {

// Serves `rx` until a shutdown signal or the end of the input.
template <class Receiver>
int serve(Receiver& rx, ipc::shutdown_signal& stop) {
    std::string line;
    ipc::poller p;
    auto work = p.add(rx, ipc::ready::readable, 0);
    auto signal = p.add(stop, ipc::ready::readable, 1);
    for (;;) {
        bool stopping = false;
        for (const auto& ev : p.wait()) stopping |= ev.key == 1;
        if (stopping || stop.signal() != 0) break;  // before the input: a signal wins over more work
        // Everything that has arrived, without waiting for more (the drain rule).
        while (stop.signal() == 0) {
            auto st = rx.try_recv(line);
            if (st == ipc::status::closed) {
                if (stop.triggered()) break;  // the sender signalled, then left: a shutdown all the same
                std::printf("end of input\n");
                return 0;
            }
            if (st != ipc::status::ok) break;
            std::printf("work: %s\n", line.c_str());
        }
    }
    (void)stop.triggered();  // takes the pending signal (if not taken yet), so signal() names it
    // Graceful: finish what is already queued, then stop.
    while (rx.try_recv(line) == ipc::status::ok) std::printf("work (drained): %s\n", line.c_str());
    std::printf("shutting down on %s\n", ::strsignal(stop.signal()));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // Before any thread or child exists, so the signals are blocked everywhere.
    ipc::shutdown_signal stop;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);

    if (argc > 1 && std::strcmp(argv[1], "--self-test") == 0) {
        auto ch = ipc::pipe_channel<std::string, ipc::sync::poll, ipc::framing::delimited>::create();
        pid_t parent = ::getpid();
        pid_t pid = ::fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            ch.receiver.close();
            for (int i = 0; i < 3; ++i)
                if (ch.sender.send_for("job " + std::to_string(i), 5s) != ipc::status::ok) ::_exit(2);
            ::kill(parent, SIGTERM);
            ::_exit(0);
        }
        ch.sender.close();
        int rc = serve(ch.receiver, stop);
        int st = 0;
        ::waitpid(pid, &st, 0);
        if (stop.signal() != SIGTERM || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;
        return rc;
    }

    // Lines from stdin (a pipe, a file or a terminal).
    ipc::pipe_line_receiver rx{ipc::transport::pipe_reader::adopt(::fcntl(0, F_DUPFD_CLOEXEC, 3))};
    return serve(rx, stop);
}
