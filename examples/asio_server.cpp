// asio_server: the multiplexing server with Asio coroutines. One thread, one
// io_context: it echoes lines to Unix socket clients, takes jobs over shared
// memory and notes from a POSIX queue, and exits cleanly on SIGTERM.
//
//   asio_server    self-test: a forked producer feeds every source, then sends SIGTERM
#include <ipc/channel.hpp>
#include <ipc/asio.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#if IPC_ASIO_HAS_CO_AWAIT
namespace net = ipc::asio::net;
using namespace std::chrono_literals;
using ipc::asio::attached;
using line_channel = ipc::channel<std::string, ipc::transport::unix_stream, ipc::sync::poll, ipc::framing::delimited>;
using job_region = ipc::transport::posix_shm<ipc::ring::spsc<int>>;
using job_channel = ipc::channel<int, job_region, ipc::sync::eventfd>;
using note_channel = ipc::posix_mq_channel<int>;

constexpr int jobs = 2000, notes = 5, clients = 4, lines = 50;
struct counts { int jobs = 0, notes = 0, lines = 0; };

// Work over shared memory: a ring whose eventfd doorbells are made before
// fork(), so both processes hold them.
struct shm_work {
    std::string name = "asio-server-" + std::to_string(::getpid());
    job_region region = job_region::create(name, 64);
    ipc::sync::eventfd bells = ipc::sync::eventfd::create();
    job_channel open() {
        std::error_code ec;
        auto copy = bells.share(ec);
        return ec ? throw ipc::error(ec, "eventfd share") : job_channel(job_region::open(name), {}, std::move(copy));
    }
    ~shm_work() { (void)job_region::remove(name); }
};

// Anything that escapes a coroutine ends io.run() with it.
void rethrow(std::exception_ptr e) { if (e) std::rethrow_exception(e); }

net::awaitable<void> echo(line_channel ch, counts& n) {
    attached a(co_await net::this_coro::executor, ch);
    std::error_code ec;
    for (std::string line;;) {
        co_await a.async_recv(line, net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return;  // the client left (errc::peer_closed)
        co_await a.async_send(line, net::use_awaitable);
        ++n.lines;
    }
}
net::awaitable<void> accept(attached<ipc::transport::unix_stream_listener>& l, counts& n) {
    for (;;) {
        auto s = co_await l.async_accept(net::use_awaitable);
        net::co_spawn(l.get_executor(), echo(line_channel(std::move(s)), n), rethrow);
    }
}
template <class Channel>
net::awaitable<void> take(attached<Channel>& a, int& count) {
    for (int v = 0;; ++count) co_await a.async_recv(v, net::use_awaitable);
}

// The other side: jobs, notes and clients, then SIGTERM to the server.
int produce(shm_work& work, const std::string& queue, const ipc::transport::unix_address& at) {
    job_channel tx = work.open();
    note_channel mq(ipc::transport::posix_mq::open(queue, ipc::transport::mq_access::send));
    for (int i = 0; i < jobs; ++i)
        if (tx.send_for(i, 10s) != ipc::status::ok) return 1;
    for (int i = 0; i < notes; ++i)
        if (mq.send_for(i, 10s) != ipc::status::ok) return 2;
    for (int c = 0; c < clients; ++c) {
        line_channel ch(ipc::transport::unix_stream::connect(at, 10s));
        std::string back;
        for (int i = 0; i < lines; ++i)
            if (ch.send_for("line " + std::to_string(i), 10s) != ipc::status::ok || ch.recv_for(back, 10s) != ipc::status::ok ||
                back != "line " + std::to_string(i))
                return 3;
    }
    return ::kill(::getppid(), SIGTERM) == 0 ? 0 : 4;
}

int main() {
    ipc::shutdown_signal stop({SIGTERM});  // first: blocks SIGTERM before anything can send it
    shm_work work;
    const std::string queue = "/asio-server-" + std::to_string(::getpid());
    note_channel notes_rx(ipc::transport::posix_mq::create(queue, {.max_messages = 8, .message_size = 64}));
    const auto at = ipc::transport::unix_address::abstract("asio-server-" + std::to_string(::getpid()));
    auto listener = ipc::transport::unix_stream_listener::listen(at);
    const pid_t producer = ::fork();
    if (producer == 0) ::_exit(produce(work, queue, at));

    job_channel jobs_rx = work.open();
    counts n;
    {
        net::io_context io;
        attached a_stop(io, stop);
        attached a_listener(io, listener);
        attached a_jobs(io, jobs_rx);
        attached a_notes(io, notes_rx);
        a_stop.async_wait([&](std::error_code, int) { io.stop(); });
        net::co_spawn(io, accept(a_listener, n), rethrow);
        net::co_spawn(io, take(a_jobs, n.jobs), rethrow);
        net::co_spawn(io, take(a_notes, n.notes), rethrow);
        io.run();  // until SIGTERM
    }
    // Finish what is queued, then leave.
    for (int v = 0; jobs_rx.try_recv(v) == ipc::status::ok;) ++n.jobs;
    for (int v = 0; notes_rx.try_recv(v) == ipc::status::ok;) ++n.notes;
    int st = 0;
    (void)::waitpid(producer, &st, 0);
    (void)ipc::transport::posix_mq::remove(queue);
    std::printf("asio_server: %d jobs, %d notes, %d lines echoed, stopped by signal %d\n", n.jobs, n.notes, n.lines, stop.signal());
    const bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && n.jobs == jobs && n.notes == notes && n.lines == clients * lines;
    return ok ? 0 : 1;
}
#else
int main() { return std::puts("asio_server: no coroutines for Asio with this compiler (clang 14, libstdc++)"), 77; }
#endif
