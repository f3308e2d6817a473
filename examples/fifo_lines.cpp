// fifo_lines: print every line that other programs write into a named FIFO.
//
//   ./fifo_lines [-n LINES] [-t SECONDS] [PATH]
//   echo hello > PATH                 (from any shell, any process)
//
// Creates the FIFO (mode 0600; PATH must not exist yet, default
// /tmp/ipc-fifo-lines-<pid>), prints each line it receives, and stops after
// LINES lines, after SECONDS seconds, or on Ctrl-C. The FIFO is removed at exit.
#include <ipc/channel.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace {

volatile std::sig_atomic_t stop_requested = 0;
extern "C" void on_signal(int) { stop_requested = 1; }

// Removes the FIFO however main() ends.
struct fifo_guard {
    std::string path;
    ~fifo_guard() { (void)ipc::transport::fifo::remove(path, ignored); }
    std::error_code ignored;
};

}  // namespace

int main(int argc, char** argv) {
    using namespace std::chrono_literals;
    long max_lines = -1;   // no limit
    double seconds = -1;   // no limit
    int opt;
    while ((opt = ::getopt(argc, argv, "n:t:")) != -1) {
        if (opt == 'n') max_lines = std::atol(optarg);
        else if (opt == 't') seconds = std::atof(optarg);
        else {
            std::fprintf(stderr, "usage: %s [-n LINES] [-t SECONDS] [PATH]\n", argv[0]);
            return 2;
        }
    }
    std::string path = optind < argc ? argv[optind] : "/tmp/ipc-fifo-lines-" + std::to_string(::getpid());

    // No SA_RESTART: Ctrl-C interrupts the wait, and the loop below looks at the flag.
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);

    std::error_code ec;
    if (!ipc::transport::fifo::create(path, ec)) {
        std::fprintf(stderr, "fifo_lines: cannot create %s: %s\n", path.c_str(), ec.message().c_str());
        return 1;
    }
    fifo_guard guard{path, {}};
    std::fprintf(stderr, "fifo_lines: write lines into %s\n", path.c_str());

    // Opening the reader does not wait for a writer; receiving does.
    ipc::fifo_line_receiver rx(ipc::transport::fifo_reader::open(path));
    const auto end = ipc::deadline::after(std::chrono::duration<double>(seconds));
    std::string line;
    long count = 0;
    while (!stop_requested && count != max_lines && (seconds < 0 || !end.expired())) {
        // Short slices keep Ctrl-C and the time limit responsive.
        switch (rx.recv_for(line, 100ms).value()) {
        case ipc::status::ok:
            std::printf("%s\n", line.c_str());
            std::fflush(stdout);
            ++count;
            break;
        case ipc::status::closed:
            // That writer is done (`echo` closes after one line). Open the next
            // reader before dropping this one, so a writer that already wrote is not lost.
            rx = ipc::fifo_line_receiver(ipc::transport::fifo_reader::open(path));
            break;
        default:  // timed_out: look at the flags again
            break;
        }
    }
    return 0;
}
