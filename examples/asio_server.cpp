// asio_server: the multiplexing server with Asio coroutines. One thread, one
// io_context: it echoes lines to Unix socket clients, takes jobs over shared
// memory and notes from a POSIX queue, and exits cleanly on SIGTERM.
//
//   asio_server            serves, starts itself as an unrelated producer program, checks, exits 0
//   asio_server produce N  (the producer) opens the server's channels by name N and feeds each
//
// The jobs ring is the default ipc::shm_channel (sync::futex): the producer
// opens it by name, no descriptor passed, and the io_context still wakes for it.
#include <ipc/channel.hpp>
#include <ipc/asio.hpp>
#include <ipc/process.hpp>

#include <cstdio>
#include <string>

#if IPC_ASIO_HAS_CO_AWAIT
namespace net = ipc::asio::net;
using namespace std::chrono_literals;
using ipc::asio::attached;
using line_channel = ipc::channel<std::string, ipc::transport::unix_stream, ipc::sync::poll, ipc::framing::delimited>;
using job_channel = ipc::shm_channel<int>;
using note_channel = ipc::posix_mq_channel<int>;

constexpr int jobs = 2000, notes = 5, clients = 4, lines = 50;
struct counts { int jobs = 0, notes = 0, lines = 0; };

// Everything the producer is told: one name, from which the others follow.
struct names {
    std::string ring, queue;
    ipc::transport::unix_address socket;
    explicit names(const std::string& n) : ring(n), queue("/" + n), socket(ipc::transport::unix_address::abstract(n)) {}
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

// The other program: knows the names only. Jobs, notes and clients, then SIGTERM to the server.
int produce(const names& n) {
    auto tx = job_channel::open(n.ring);
    auto mq = note_channel::open(n.queue, ipc::transport::mq_access::send);
    for (int i = 0; i < jobs; ++i)
        if (tx.send_for(i, 10s) != ipc::status::ok) return 1;
    for (int i = 0; i < notes; ++i)
        if (mq.send_for(i, 10s) != ipc::status::ok) return 2;
    for (int c = 0; c < clients; ++c) {
        line_channel ch(ipc::transport::unix_stream::connect(n.socket, 10s));
        std::string back;
        for (int i = 0; i < lines; ++i)
            if (ch.send_for("line " + std::to_string(i), 10s) != ipc::status::ok || ch.recv_for(back, 10s) != ipc::status::ok ||
                back != "line " + std::to_string(i))
                return 3;
    }
    return ::kill(::getppid(), SIGTERM) == 0 ? 0 : 4;
}

int serve() {
    ipc::shutdown_signal stop({SIGTERM});  // first: blocks SIGTERM before anything can send it
    const names n("asio-server-" + std::to_string(::getpid()));
    auto jobs_rx = job_channel::create(n.ring, 64);
    note_channel notes_rx(ipc::transport::posix_mq::create(n.queue, {.max_messages = 8, .message_size = 64}));
    auto listener = ipc::transport::unix_stream_listener::listen(n.socket);
    auto producer = ipc::spawn({"/proc/self/exe", "produce", n.ring}, ipc::stdio_pipes::none);
    counts c;
    {
        net::io_context io;
        attached a_stop(io, stop);
        attached a_listener(io, listener);
        attached a_jobs(io, jobs_rx);
        attached a_notes(io, notes_rx);
        a_stop.async_wait([&](std::error_code, int) { io.stop(); });
        net::co_spawn(io, accept(a_listener, c), rethrow);
        net::co_spawn(io, take(a_jobs, c.jobs), rethrow);
        net::co_spawn(io, take(a_notes, c.notes), rethrow);
        io.run_for(30s);  // until SIGTERM (30 s: the producer failed)
    }
    // Finish what is queued, then leave.
    for (int v = 0; jobs_rx.try_recv(v) == ipc::status::ok;) ++c.jobs;
    for (int v = 0; notes_rx.try_recv(v) == ipc::status::ok;) ++c.notes;
    const int code = producer.process.wait_for(5s).value_or(-1);
    (void)job_channel::remove(n.ring);
    (void)note_channel::remove(n.queue);
    const bool ok = code == 0 && c.jobs == jobs && c.notes == notes && c.lines == clients * lines;
    std::printf("asio_server: %d jobs, %d notes, %d lines echoed, producer exit %d: %s\n", c.jobs, c.notes, c.lines, code,
                ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}

int main(int argc, char** argv) {
    try {
        if (argc == 3 && std::string(argv[1]) == "produce") return produce(names(argv[2]));
        return serve();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "asio_server: %s\n", e.what());
        return 1;
    }
}
#else
int main() { return std::puts("asio_server: no coroutines for Asio with this compiler (clang 14, libstdc++)"), 77; }
#endif
