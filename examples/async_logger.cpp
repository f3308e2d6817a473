// async_logger: many processes log lines to one logger process through a
// POSIX message queue, and the logger writes them to a file. Logging costs a
// writer one send; a full queue (10 messages by default) slows writers down
// rather than losing lines. Shutdown loses nothing:
//   1. the parent waits until every writer process has exited;
//   2. then it sends "flush and quit", which the queue delivers after every
//      line sent before it (one priority: first in, first out);
//   3. the logger takes whatever is still queued, flushes, syncs and exits.
// The parent then checks that the file has every line once, in each writer's order.
#include <ipc/channel.hpp>
#include <ipc/process.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;
constexpr int kWriters = 6, kLines = 500;  // lines per writer

struct message {
    enum kind_t : int { line, flush_and_quit } kind;
    char text[120];  // a line, NUL-terminated
};

int run_logger(ipc::posix_mq_channel<message>& queue, const std::string& path) {
    std::FILE* out = std::fopen(path.c_str(), "wx");  // x: never follow or reuse an existing file
    if (!out) return 1;
    message m{};
    auto write = [&] { std::fprintf(out, "%.*s\n", static_cast<int>(sizeof m.text), m.text); };
    bool quit = false;
    // Bounded: 30 s without a message means the parent is gone; the file is closed all the same.
    while (!quit && queue.recv_for(m, 30s) == ipc::status::ok) {
        if (m.kind == message::line) {
            write();
        } else {
            quit = true;
            while (queue.try_recv(m) == ipc::status::ok)  // a straggler's lines, sent after the quit
                if (m.kind == message::line) write();
        }
    }
    const bool flushed = !std::ferror(out) && std::fflush(out) == 0 && ::fsync(::fileno(out)) == 0;
    return std::fclose(out) == 0 && flushed && quit ? 0 : 2;
}

int run_writer(ipc::posix_mq_channel<message>& queue, int w) {
    message m{message::line, {}};
    for (int i = 0; i < kLines; ++i) {
        std::snprintf(m.text, sizeof m.text, "writer %d line %d: pid %d did something worth logging", w, i,
                      static_cast<int>(::getpid()));
        if (queue.send_for(m, 10s) != ipc::status::ok) return 1;
    }
    return 0;
}

int main() {
    const std::string pid = std::to_string(::getpid());
    const std::string queue_name = "/ipc-example-log-" + pid, path = "/tmp/ipc-example-log-" + pid + ".txt";
    ipc::transport::posix_mq_options o;
    o.message_size = sizeof(message);
    auto queue = ipc::posix_mq_channel<message>::create(queue_name, o);
    ipc::transport::posix_mq::remove(queue_name);  // the children inherit the open queue: the name can go now

    auto logger = ipc::fork_with([&] { return run_logger(queue, path); });
    std::vector<ipc::child_process> writers;
    for (int w = 0; w < kWriters; ++w) writers.push_back(ipc::fork_with([&, w] { return run_writer(queue, w); }));

    int failed = 0;
    for (auto& w : writers) failed += w.wait_for(30s) != 0;  // 1. every line is in the queue or the file
    const bool quit_sent = queue.send_for(message{message::flush_and_quit, {}}, 10s) == ipc::status::ok;  // 2.
    const auto logger_code = logger.wait_for(30s);                                                        // 3.

    // Every line once, and each writer's lines in the order it sent them.
    std::vector<int> next(kWriters, 0);
    int lines = 0, wrong = 0;
    if (std::FILE* in = std::fopen(path.c_str(), "r")) {
        char buf[256];
        for (int w, i; std::fgets(buf, sizeof buf, in); ++lines)
            if (std::sscanf(buf, "writer %d line %d:", &w, &i) != 2 || w < 0 || w >= kWriters || i != next[w]++) ++wrong;
        std::fclose(in);
    }
    std::remove(path.c_str());
    int complete = 0;
    for (int n : next) complete += n == kLines;
    std::printf("%d lines in the file from %d writers (%d complete), %d out of place; writers failed %d; "
                "quit %s; logger exit %d\n",
                lines, kWriters, complete, wrong, failed, quit_sent ? "sent" : "NOT sent", logger_code.value_or(-1));
    return lines == kWriters * kLines && complete == kWriters && wrong == 0 && failed == 0 && quit_sent &&
                   logger_code == 0
               ? 0
               : 1;
}
