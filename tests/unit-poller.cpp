// ipc::poller: one wait over every kind of source, each made ready by another
// process; the drain rule (a stream channel's own buffer counts); removal while
// ready; timeouts neither early nor hanging; peer close and death; thousands
// of registrations; a signal handler interrupting the wait.
#include <ipc/channel.hpp>
#include <ipc/poller.hpp>
#include <ipc/timer.hpp>

#include <sys/wait.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "ring_support.hpp"
#include "shared_memory.hpp"

namespace {

using namespace ipc_test;
using namespace std::chrono_literals;
using ipc::ready;
using ipc::transport::file_end;
using ipc::transport::unix_address;
using clk = std::chrono::steady_clock;

using ring_transport = ipc::transport::posix_shm<ipc::ring::spsc<int>>;
using ring_channel = ipc::channel<int, ring_transport, ipc::sync::eventfd>;

// A POSIX queue name removed when the test ends.
struct mq_name {
    std::string name = "/" + unique_name("mq");
    ~mq_name() {
        std::error_code ec;
        (void)ipc::transport::posix_mq::remove(name, ec);
    }
};
ipc::transport::posix_mq_options small_queue() {
    ipc::transport::posix_mq_options o;
    o.max_messages = 4;
    o.message_size = 64;
    return o;
}

// A named spsc ring on sync::eventfd: the region, the doorbells (made before
// fork(), so a child shares them) and the parent's receiving end.
struct eventfd_ring {
    remover<ring_transport> region;
    ipc::sync::eventfd doorbells = ipc::sync::eventfd::create();
    ring_channel rx;

    explicit eventfd_ring(const std::string& tag) : region{unique_name(tag)} {
        (void)ring_transport::create(region.name, 8);
        std::error_code ec;
        rx = ring_channel(ring_transport::open(region.name), {}, doorbells.share(ec));
        REQUIRE_FALSE(ec);
    }
    // The sending end, made in the child.
    ring_channel sender() { return ring_channel(ring_transport::open(region.name), {}, std::move(doorbells)); }
};

bool fd_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

}  // namespace

TEST_CASE("poller: every kind of source in one poller, each made ready by a child while the parent waits") {
    enum key : int { k_pipe = 1, k_fifo, k_stream, k_seqpacket, k_dgram, k_tcp_listener, k_tcp, k_udp, k_mq, k_eventfd,
                     k_signal, k_unix_listener, k_file, k_shutdown, k_timer, k_ring, k_count };
    temp_dir dir;
    const pid_t parent = ::getpid();
    const int rt = ipc::transport::realtime_signal(4);

    // Everything the child needs exists before the fork.
    auto pipe = ipc::pipe_channel<int>::create();
    const std::string fifo_path = dir / "fifo";
    ipc::transport::fifo::create(fifo_path);
    ipc::fifo_receiver<int> fifo_rx(ipc::transport::fifo_reader::open(fifo_path));
    auto stream = ipc::transport::unix_stream::pair();
    auto seqpacket = ipc::transport::unix_seqpacket::pair();
    auto dgram = ipc::transport::unix_dgram::pair();
    auto tcp_listener = ipc::transport::tcp_listener::listen(ipc::transport::inet_address::loopback_v4());
    auto udp_rx_socket = ipc::transport::udp::bind(ipc::transport::inet_address::loopback_v4());
    std::error_code ec;
    const auto udp_address = udp_rx_socket.local_address(ec);
    REQUIRE_FALSE(ec);
    mq_name mq;
    auto mq_rx = ipc::posix_mq_channel<int>::create(mq.name, small_queue());
    ipc::eventfd_channel efd(ipc::transport::eventfd::create());
    auto sig_rx = ipc::signal_receiver<int>::open(rt);
    const unix_address listen_address = unix_address::path(dir / "listener");
    auto unix_listener = ipc::transport::unix_stream_listener::listen(listen_address);
    const std::string log = dir / "log";
    (void)ipc::transport::file_writer::create(log);
    auto file_rx = ipc::file_receiver<std::string>::open(log, file_end::follow, 0);
    ipc::shutdown_signal stop({SIGUSR2});
    eventfd_ring ring("poll");
    auto& ring_rx = ring.rx;
    shared<std::atomic<int>> done;

    child maker([&] {
        std::this_thread::sleep_for(100ms);  // the parent is waiting by now
        int bad = 0;
        bad += pipe.sender.try_send(int(k_pipe)) != ipc::status::ok;
        ipc::fifo_sender<int> fifo_tx(ipc::transport::fifo_writer::open(fifo_path, 5s));
        bad += fifo_tx.try_send(int(k_fifo)) != ipc::status::ok;
        bad += ipc::unix_stream_channel<int>(std::move(stream.second)).try_send(int(k_stream)) != ipc::status::ok;
        bad += ipc::unix_seqpacket_channel<int>(std::move(seqpacket.second)).try_send(int(k_seqpacket)) != ipc::status::ok;
        bad += ipc::unix_dgram_channel<int>(std::move(dgram.second)).try_send(int(k_dgram)) != ipc::status::ok;
        ipc::tcp_channel<int> tcp_tx(ipc::transport::tcp::connect(tcp_listener.local_address(), 5s));
        bad += tcp_tx.send_for(int(k_tcp), 5s) != ipc::status::ok;
        bad += ipc::udp_channel<int>(ipc::transport::udp::connect(udp_address)).try_send(int(k_udp)) != ipc::status::ok;
        auto mq_tx = ipc::posix_mq_channel<int>::open(mq.name, ipc::transport::mq_access::send);
        bad += mq_tx.try_send(int(k_mq)) != ipc::status::ok;
        bad += efd.try_send(std::uint64_t(k_eventfd)) != ipc::status::ok;
        bad += ipc::signal_sender<int>::open(parent, rt).try_send(int(k_signal)) != ipc::status::ok;
        auto unix_client = ipc::transport::unix_stream::connect(listen_address, 5s);
        auto file_tx = ipc::file_sender<std::string>::open(log);
        bad += file_tx.try_send(std::to_string(k_file)) != ipc::status::ok;
        ring_channel ring_tx = ring.sender();
        bad += ring_tx.try_send(int(k_ring)) != ipc::status::ok;
        bad += ::kill(parent, SIGUSR2) != 0;
        // Stay until the parent has everything, so no close hides an event.
        for (auto t0 = clk::now(); done->load() == 0 && clk::now() - t0 < 20s;) std::this_thread::sleep_for(1ms);
        return bad;
    });
    ipc::unix_stream_channel<int> stream_rx(std::move(stream.first));
    ipc::unix_seqpacket_channel<int> seqpacket_rx(std::move(seqpacket.first));
    ipc::unix_dgram_channel<int> dgram_rx(std::move(dgram.first));
    ipc::udp_channel<int> udp_rx(std::move(udp_rx_socket));
    ipc::tcp_channel<int> tcp_rx;
    ipc::timer tick;
    tick.start_once(50ms);

    ipc::poller p;
    std::map<int, ipc::poller::registration> regs;
    regs[k_pipe] = p.add(pipe.receiver, ready::readable, k_pipe);
    regs[k_fifo] = p.add(fifo_rx, ready::readable, k_fifo);
    regs[k_stream] = p.add(stream_rx, ready::readable, k_stream);
    regs[k_seqpacket] = p.add(seqpacket_rx, ready::readable, k_seqpacket);
    regs[k_dgram] = p.add(dgram_rx, ready::readable, k_dgram);
    regs[k_tcp_listener] = p.add(tcp_listener, ready::readable, k_tcp_listener);
    regs[k_udp] = p.add(udp_rx, ready::readable, k_udp);
    regs[k_mq] = p.add(mq_rx, ready::readable, k_mq);
    regs[k_eventfd] = p.add(efd, ready::readable, k_eventfd);
    regs[k_signal] = p.add(sig_rx, ready::readable, k_signal);
    regs[k_unix_listener] = p.add(unix_listener, ready::readable, k_unix_listener);
    regs[k_file] = p.add(file_rx, ready::readable, k_file);
    regs[k_shutdown] = p.add(stop, ready::readable, k_shutdown);
    regs[k_timer] = p.add(tick, ready::readable, k_timer);
    regs[k_ring] = p.add(ring_rx, ready::readable, k_ring);
    CHECK(p.size() == regs.size());

    // The file follower is reported once at once (it may hold old lines); nothing else is ready.
    std::set<int> got;
    std::string line;
    for (const auto& ev : p.wait_for(0s)) {
        CHECK(ev.key == k_file);
        CHECK(file_rx.try_recv(line) == ipc::status::would_block);
    }

    // Drains one source (the drain rule); records the message each carried.
    auto drain = [&](int k) {
        int v = 0;
        auto each = [&](auto& ch, auto& value, auto expect) {
            for (;;) {
                auto s = ch.try_recv(value);
                if (s == ipc::status::ok) {
                    CHECK(value == expect);
                    got.insert(k);
                } else {
                    CHECK(s == ipc::status::would_block);
                    return;
                }
            }
        };
        switch (k) {
        case k_pipe: each(pipe.receiver, v, int(k_pipe)); break;
        case k_fifo: each(fifo_rx, v, int(k_fifo)); break;
        case k_stream: each(stream_rx, v, int(k_stream)); break;
        case k_seqpacket: each(seqpacket_rx, v, int(k_seqpacket)); break;
        case k_dgram: each(dgram_rx, v, int(k_dgram)); break;
        case k_tcp: each(tcp_rx, v, int(k_tcp)); break;
        case k_udp: each(udp_rx, v, int(k_udp)); break;
        case k_mq: each(mq_rx, v, int(k_mq)); break;
        case k_signal: each(sig_rx, v, int(k_signal)); break;
        case k_ring: each(ring_rx, v, int(k_ring)); break;
        case k_file: each(file_rx, line, std::to_string(k_file)); break;
        case k_eventfd: {
            std::uint64_t n = 0;
            each(efd, n, std::uint64_t(k_eventfd));
            break;
        }
        case k_tcp_listener: {
            auto s = tcp_listener.try_accept();
            REQUIRE(s.has_value());
            tcp_rx = ipc::tcp_channel<int>(std::move(*s));
            regs[k_tcp] = p.add(tcp_rx, ready::readable, k_tcp);  // added inside the loop
            regs.erase(k_tcp_listener);
            got.insert(k);
            break;
        }
        case k_unix_listener:
            if (unix_listener.try_accept()) got.insert(k);
            break;
        case k_shutdown:
            if (stop.triggered()) {
                CHECK(stop.signal() == SIGUSR2);
                regs.erase(k_shutdown);  // stays readable once taken: done with it
                got.insert(k);
            }
            break;
        case k_timer:
            if (tick.take() == 1) got.insert(k);
            break;
        }
    };

    const auto until = clk::now() + 10s;
    while (got.size() < k_count - 1 && clk::now() < until)
        for (const auto& ev : p.wait_until(until)) {
            CHECK(ev.readable());
            drain(static_cast<int>(ev.key));
        }
    CHECK(got.size() == k_count - 1);
    for (int k = 1; k < k_count; ++k) CHECK_MESSAGE(got.count(k) == 1, "nothing arrived from source ", k);
    // All drained: nothing is reported any more (the drained signal and listener are gone).
    CHECK(p.wait_for(20ms).empty());
    done->store(1);
    CHECK(maker.wait() == child_ok);
}

TEST_CASE("poller: messages sent before the channel was added are reported at once") {
    temp_dir dir;
    auto pipe = ipc::pipe_channel<int>::create();
    mq_name mq;
    auto mq_rx = ipc::posix_mq_channel<int>::create(mq.name, small_queue());
    const std::string log = dir / "log";
    (void)ipc::transport::file_writer::create(log);
    eventfd_ring ring("before");
    auto& ring_rx = ring.rx;
    ring_rx.transport().attach(ipc::direction::recv);

    child maker([&] {
        ring_channel ring_tx = ring.sender();
        auto mq_tx = ipc::posix_mq_channel<int>::open(mq.name, ipc::transport::mq_access::send);
        auto file_tx = ipc::file_sender<std::string>::open(log);
        const bool ok = pipe.sender.try_send(1) == ipc::status::ok && mq_tx.try_send(2) == ipc::status::ok &&
                        file_tx.try_send("3") == ipc::status::ok && ring_tx.try_send(4) == ipc::status::ok;
        // Stays (as a sender of the ring) until the parent has looked, so nothing reads as closed.
        std::this_thread::sleep_for(2s);
        return ok ? 0 : 1;
    });
    // Wait until the child has sent all four (the ring last), without the poller.
    for (auto t0 = clk::now(); !ring_rx.transport().ready(ipc::direction::recv) && clk::now() - t0 < 10s;)
        std::this_thread::sleep_for(1ms);
    auto file_rx = ipc::file_receiver<std::string>::open(log, file_end::follow, 0);

    ipc::poller p;
    auto a = p.add(pipe.receiver, ready::readable, 1);
    auto b = p.add(mq_rx, ready::readable, 2);
    auto c = p.add(file_rx, ready::readable, 3);
    auto d = p.add(ring_rx, ready::readable, 4);
    std::set<std::uint64_t> keys;
    for (const auto& ev : p.wait_for(0s)) {  // never sleeps
        CHECK(ev.readable());
        CHECK_FALSE(ev.closed());
        keys.insert(ev.key);
    }
    CHECK(keys == std::set<std::uint64_t>{1, 2, 3, 4});
    int v = 0;
    std::string s;
    CHECK(pipe.receiver.try_recv(v) == ipc::status::ok);
    CHECK(mq_rx.try_recv(v) == ipc::status::ok);
    CHECK(file_rx.try_recv(s) == ipc::status::ok);
    CHECK(ring_rx.try_recv(v) == ipc::status::ok);
    CHECK(v == 4);
    CHECK(p.wait_for(0s).empty());
    ::kill(maker.pid(), SIGKILL);
    CHECK(maker.wait() == -SIGKILL);
}

TEST_CASE("poller: a file log replayed (a regular file) is always ready, as poll(2) says, until removed") {
    temp_dir dir;
    const std::string log = dir / "log";
    child writer([&] {
        auto tx = ipc::file_sender<std::string>::create(log);
        return tx.try_send("a") == ipc::status::ok && tx.try_send("b") == ipc::status::ok ? 0 : 1;
    });
    REQUIRE(writer.wait() == child_ok);
    auto rx = ipc::file_receiver<std::string>::open(log);
    ipc::poller p;
    auto reg = p.add(rx, ready::readable, 1);
    std::string got, line;
    for (int round = 0; round < 3; ++round) {
        auto r = p.wait_for(0s);
        REQUIRE(r.size() == 1);
        CHECK(r.begin()->readable());
        while (rx.try_recv(line) == ipc::status::ok) got += line;
    }
    CHECK(got == "ab");
    CHECK(rx.try_recv(line) == ipc::status::closed);
    reg.reset();
    CHECK(p.wait_for(0s).empty());
}

TEST_CASE("poller: a stream channel holding a second frame in its buffer is reported again (the drain rule)") {
    auto pair = ipc::transport::unix_stream::pair();
    child writer([&] {
        // Two lines in one write: the receiver's first read takes both.
        const char both[] = "one\ntwo\n";
        const bool ok = ::write(pair.second.native_handle(), both, sizeof both - 1) == static_cast<ssize_t>(sizeof both - 1);
        std::this_thread::sleep_for(2s);
        return ok ? 0 : 1;
    });
    ipc::unix_stream_channel<std::string, ipc::sync::poll, ipc::framing::delimited> rx(std::move(pair.first));
    ipc::poller p;
    auto reg = p.add(rx, ready::readable, 7);
    auto first = p.wait_for(10s);
    REQUIRE(first.size() == 1);
    CHECK(first.begin()->key == 7);
    std::string line;
    REQUIRE(rx.try_recv(line) == ipc::status::ok);
    CHECK(line == "one");
    // The socket is drained, the second line sits in the channel: still reported, at once.
    CHECK_FALSE(fd_readable(rx.native_handle()));
    CHECK(rx.buffered() == 4);
    CHECK(rx.has_buffered_message());
    auto again = p.wait_for(0s);
    REQUIRE(again.size() == 1);
    CHECK(again.begin()->readable());
    REQUIRE(rx.try_recv(line) == ipc::status::ok);
    CHECK(line == "two");
    CHECK(rx.try_recv(line) == ipc::status::would_block);
    CHECK(p.wait_for(30ms).empty());
    ::kill(writer.pid(), SIGKILL);
    CHECK(writer.wait() == -SIGKILL);
}

TEST_CASE("poller: a stream channel holding half a frame does not wake the loop until the rest comes") {
    auto pair = ipc::transport::unix_stream::pair();
    shared<std::atomic<int>> step;
    child writer([&] {
        const char part[] = "one\ntw";
        bool ok = ::write(pair.second.native_handle(), part, sizeof part - 1) == static_cast<ssize_t>(sizeof part - 1);
        for (auto t0 = clk::now(); step->load() == 0 && clk::now() - t0 < 10s;) std::this_thread::sleep_for(1ms);
        ok = ok && ::write(pair.second.native_handle(), "o\n", 2) == 2;
        std::this_thread::sleep_for(2s);
        return ok ? 0 : 1;
    });
    ipc::unix_stream_channel<std::string, ipc::sync::poll, ipc::framing::delimited> rx(std::move(pair.first));
    ipc::poller p;
    auto reg = p.add(rx, ready::readable, 1);
    std::string line;
    REQUIRE(p.wait_for(10s).size() == 1);
    REQUIRE(rx.try_recv(line) == ipc::status::ok);
    CHECK(line == "one");
    // "tw" is buffered, and the socket is drained: the half line wakes nobody,
    // not even once (the poller asks the framing whether a frame is whole).
    CHECK(rx.buffered() == 2);
    CHECK_FALSE(rx.has_buffered_message());
    CHECK(p.wait_for(0s).empty());
    CHECK(p.wait_for(30ms).empty());
    CHECK(rx.try_recv(line) == ipc::status::would_block);
    CHECK(p.wait_for(0s).empty());
    step->store(1);
    REQUIRE(p.wait_for(10s).size() == 1);
    REQUIRE(rx.try_recv(line) == ipc::status::ok);
    CHECK(line == "two");
    ::kill(writer.pid(), SIGKILL);
    CHECK(writer.wait() == -SIGKILL);
}

TEST_CASE("poller: a registration removed while ready is never reported") {
    auto a = ipc::pipe_channel<int>::create();
    auto b = ipc::pipe_channel<int>::create();
    auto c = ipc::pipe_channel<int>::create();
    child maker([&] {
        const bool ok = a.sender.try_send(1) == ipc::status::ok && b.sender.try_send(2) == ipc::status::ok &&
                        c.sender.try_send(3) == ipc::status::ok;
        std::this_thread::sleep_for(2s);
        return ok ? 0 : 1;
    });
    for (auto t0 = clk::now(); !fd_readable(c.receiver.native_handle()) && clk::now() - t0 < 10s;)
        std::this_thread::sleep_for(1ms);
    ipc::poller p;
    std::map<std::uint64_t, ipc::poller::registration> regs;
    regs[1] = p.add(a.receiver, ready::readable, 1);
    regs[2] = p.add(b.receiver, ready::readable, 2);
    std::vector<std::uint64_t> called;
    // A callback registration removes itself and pipe 1 when it runs.
    regs[3] = p.add(c.receiver, ready::readable, [&](const ipc::poller::event& ev) {
        called.push_back(3);
        CHECK(ev.readable());
        regs.erase(1);
        regs.erase(3);
    });
    std::vector<std::uint64_t> seen;
    for (const auto& ev : p.wait_for(5s)) {
        seen.push_back(ev.key);
        regs.erase(ev.key == 1 ? 2 : 1);  // whichever comes first removes the other
    }
    CHECK(called == std::vector<std::uint64_t>{3});
    // Pipe 1 was removed by the callback before the range was read: only pipe 2.
    CHECK(seen == std::vector<std::uint64_t>{2});
    CHECK(p.size() == 1);
    regs.clear();
    CHECK(p.size() == 0);
    // Still ready, no longer registered: nothing.
    CHECK(p.wait_for(0s).empty());
    // A slot used again gets a new id; the stale one removes nothing.
    auto again = p.add(a.receiver, ready::readable, 9);
    const auto id = again.id();
    again.reset();
    CHECK_FALSE(p.remove(id));
    auto kept = p.add(b.receiver, ready::readable, 10).release();
    CHECK(id.index == kept.index);
    CHECK_FALSE(id == kept);
    CHECK(p.wait_for(0s).size() == 1);
    CHECK(p.remove(kept));
    ::kill(maker.pid(), SIGKILL);
    CHECK(maker.wait() == -SIGKILL);
}

TEST_CASE("poller: a callback may own what it captures (move-only), and goes with its registration") {
    auto pipe = ipc::pipe_channel<int>::create();
    child maker([&] { return pipe.sender.try_send(42) == ipc::status::ok ? 0 : 1; });
    auto owned = std::make_unique<int>(0);
    int* got = owned.get();
    ipc::poller p;
    auto reg = p.add(pipe.receiver, ready::readable, [&, box = std::move(owned)](const ipc::poller::event& ev) {
        CHECK(ev.readable());
        while (pipe.receiver.try_recv(*box) == ipc::status::ok) {}
    });
    CHECK(p.wait_for(10s).empty());  // the callback ran instead
    CHECK(*got == 42);
    CHECK(maker.wait() == child_ok);
    reg.reset();  // frees the box
    CHECK(p.size() == 0);
}

TEST_CASE("poller: a registration that outlives its poller, or whose id was removed, is inert; moves keep it") {
    auto a = ipc::pipe_channel<int>::create();
    auto b = ipc::pipe_channel<int>::create();
    ipc::poller::registration outlives;
    {
        ipc::poller p;
        outlives = p.add(a.receiver, ready::readable, 1);
        auto moved = p.add(b.receiver, ready::readable, 2);
        ipc::poller::registration holder(std::move(moved));
        CHECK_FALSE(moved);
        CHECK(holder);
        REQUIRE(b.sender.try_send(5) == ipc::status::ok);
        auto ready_now = p.wait_for(1s);
        REQUIRE(ready_now.size() == 1);
        CHECK(ready_now.begin()->key == 2);
        CHECK(p.remove(holder.id()));
        CHECK_FALSE(holder);  // the poller told it
        holder.reset();       // and it does nothing
        CHECK(p.size() == 1);
    }                         // the poller goes first
    CHECK_FALSE(outlives);
    outlives.reset();  // no use of the destroyed poller (ASan would say so)
}

TEST_CASE("poller: a full ring's sender is reported writable once a receiver in another process makes room") {
    eventfd_ring ring("room");
    ring_channel tx = ring.sender();
    int sent = 0;
    while (tx.try_send(sent) == ipc::status::ok) ++sent;
    CHECK(sent == 8);
    ipc::poller p;
    auto reg = p.add(tx, ready::writable, 1);
    CHECK(p.wait_for(0s).empty());  // full: not writable
    child receiver([&] {
        std::this_thread::sleep_for(100ms);  // the parent is waiting by now
        int v = -1;
        return ring.rx.recv_for(v, 5s) == ipc::status::ok && v == 0 ? 0 : 1;
    });
    auto r = p.wait_for(10s);
    REQUIRE(r.size() == 1);
    CHECK(r.begin()->writable());
    CHECK_FALSE(r.begin()->closed());
    CHECK(tx.try_send(sent) == ipc::status::ok);
    CHECK(receiver.wait() == child_ok);
    // The child's receiver ended with _exit, without leaving: to the full
    // sender it is a dead peer, found by the poller's own peer check.
    auto gone = p.wait_for(10s);
    REQUIRE(gone.size() == 1);
    CHECK(gone.begin()->peer_dead());
    CHECK(tx.send_for(sent, 10s) == ipc::status::peer_dead);
}

TEST_CASE("poller: timeouts end no earlier than asked and do not hang, with rings and buffers registered") {
    eventfd_ring ring("timeout");
    auto& ring_rx = ring.rx;
    auto pipe = ipc::pipe_channel<int>::create();
    ipc::poller p;
    auto r1 = p.add(ring_rx, ready::readable, 1);
    auto r2 = p.add(pipe.receiver, ready::readable, 2);
    for (auto d : {0ms, 1ms, 20ms, 120ms}) {
        const auto t0 = clk::now();
        CHECK(p.wait_for(d).empty());
        const auto took = clk::now() - t0;
        CHECK(took >= d);
        CHECK(took < d + 2s);
    }
    const auto t0 = clk::now();
    CHECK(p.wait_until(t0 + 50ms).empty());
    CHECK(clk::now() >= t0 + 50ms);
    // A deadline on another clock is honoured too.
    const auto s0 = std::chrono::system_clock::now();
    CHECK(p.wait_until(s0 + 30ms).empty());
    CHECK(clk::now() >= t0 + 80ms);

    // A timer, one-shot and periodic, fires no earlier than set.
    ipc::timer tick;
    auto r3 = p.add(tick, ready::readable, 3);
    const auto t1 = clk::now();
    tick.start_once(60ms);
    auto fired = p.wait_for(5s);
    CHECK(clk::now() - t1 >= 60ms);
    REQUIRE(fired.size() == 1);
    CHECK(fired.begin()->key == 3);
    CHECK(tick.take() == 1);
    CHECK(tick.take() == 0);
    const auto t2 = clk::now();
    tick.start_every(15ms);
    std::uint64_t expirations = 0;
    while (expirations < 4 && clk::now() - t2 < 5s)
        for (const auto& ev : p.wait_for(5s))
            if (ev.key == 3) expirations += tick.take();
    CHECK(expirations >= 4);
    CHECK(clk::now() - t2 >= 60ms);
    tick.stop();
    CHECK(p.wait_for(40ms).empty());
}

TEST_CASE("poller: a peer closing is reported as closed, on both ends of a pipe, on a socket and on a ring") {
    auto to_parent = ipc::pipe_channel<int>::create();
    auto from_parent = ipc::pipe_channel<int>::create();
    auto pair = ipc::transport::unix_stream::pair();
    eventfd_ring ring("close");
    auto& ring_rx = ring.rx;
    child peer([&] {
        ring_channel ring_tx = ring.sender();
        ring_tx.transport().attach(ipc::direction::send);
        std::this_thread::sleep_for(100ms);  // the parent waits; then every end closes as the child exits
        return 0;
    });
    to_parent.sender = ipc::pipe_sender<int>{};
    from_parent.receiver = ipc::pipe_receiver<int>{};
    ipc::unix_stream_channel<int> sock(std::move(pair.first));
    pair.second = {};
    ring.doorbells = {};
    // Every sender end the parent held is gone: only the child's keep them open.
    ipc::poller p;
    auto a = p.add(to_parent.receiver, ready::readable, 1);
    auto b = p.add(from_parent.sender, ready::writable, 2);
    auto c = p.add(sock, ready::readable, 3);
    auto d = p.add(ring_rx, ready::readable, 4);
    std::map<std::uint64_t, ready> closed;
    const auto until = clk::now() + 10s;
    while (closed.size() < 4 && clk::now() < until)
        for (const auto& ev : p.wait_until(until))
            if (ev.closed()) closed[ev.key] = ev.what;
    CHECK(closed.size() == 4);
    for (std::uint64_t k = 1; k <= 4; ++k) CHECK_MESSAGE(closed.count(k) == 1, "no close reported for registration ", k);
    int v = 0;
    CHECK(to_parent.receiver.try_recv(v) == ipc::status::closed);
    CHECK(from_parent.sender.try_send(1) == ipc::status::closed);
    CHECK(sock.try_recv(v) == ipc::status::closed);
    CHECK(ring_rx.try_recv(v) == ipc::status::closed);
    CHECK(peer.wait() == child_ok);
}

TEST_CASE("poller: a shared-memory peer that dies without leaving is reported as peer_dead") {
    eventfd_ring ring("dead");
    auto& ring_rx = ring.rx;
    ring_rx.transport().peer_check_interval(50ms);
    child peer([&] {
        ring_channel ring_tx = ring.sender();
        ring_tx.transport().attach(ipc::direction::send);
        ::raise(SIGKILL);  // no leave(), no wake-up
        return 1;
    });
    CHECK(peer.wait() == -SIGKILL);
    ipc::poller p;
    auto reg = p.add(ring_rx, ready::readable, 1);
    const auto t0 = clk::now();
    auto r = p.wait_for(10s);
    REQUIRE(r.size() == 1);
    CHECK(r.begin()->peer_dead());
    CHECK(clk::now() - t0 < 5s);
    int v = 0;
    CHECK(ring_rx.try_recv(v) == ipc::status::would_block);
}

TEST_CASE("poller: a ring receiver is reported closed when its senders leave only if it ends then (ipc::eos)") {
    using mpmc_transport = ipc::transport::posix_shm<ipc::ring::mpmc<int>>;
    using mpmc_channel = ipc::channel<int, mpmc_transport, ipc::sync::eventfd>;
    remover<mpmc_transport> region{unique_name("eos")};
    (void)mpmc_transport::create(region.name, 8);
    auto doorbells = ipc::sync::eventfd::create();
    std::error_code ec;
    mpmc_channel rx(mpmc_transport::open(region.name), {}, doorbells.share(ec));
    REQUIRE_FALSE(ec);
    rx.transport().attach(ipc::direction::recv);
    CHECK(rx.transport().end_of_stream() == ipc::eos::never);  // an mpmc ring's default
    child sender([&] {
        mpmc_channel tx(mpmc_transport::open(region.name), {}, std::move(doorbells));
        return tx.try_send(5) == ipc::status::ok ? 0 : 1;  // and leaves, as tx goes
    });
    REQUIRE(sender.wait() == child_ok);
    ipc::poller p;
    auto reg = p.add(rx, ready::readable, 1);
    auto r = p.wait_for(0s);
    REQUIRE(r.size() == 1);
    CHECK(r.begin()->readable());
    CHECK_FALSE(r.begin()->closed());  // another sender may come
    int v = 0;
    CHECK(rx.try_recv(v) == ipc::status::ok);
    CHECK(v == 5);
    CHECK(rx.try_recv(v) == ipc::status::would_block);
    CHECK(p.wait_for(30ms).empty());
    // The receiver that ends when its senders leave is told so.
    rx.transport().end_of_stream(ipc::eos::when_all_senders_left);
    r = p.wait_for(0s);
    REQUIRE(r.size() == 1);
    CHECK(r.begin()->closed());
    CHECK(rx.try_recv(v) == ipc::status::closed);
}

TEST_CASE("poller: a ring fed by another process and a pipe fed by a thread lose no wake-up") {
    constexpr int n = 5000;
    eventfd_ring ring("stream");
    auto& ring_rx = ring.rx;
    child producer([&] {
        ring_channel tx = ring.sender();
        for (int i = 0; i < n; ++i)
            if (tx.send_for(i, 10s) != ipc::status::ok) return 1;
        return 0;
    });
    ring.doorbells = {};
    auto pipe = ipc::pipe_channel<int>::create();
    std::thread feeder([&] {
        for (int i = 0; i < n; ++i)
            if (pipe.sender.send_for(i, 10s) != ipc::status::ok) return;
        pipe.sender = ipc::pipe_sender<int>{};
    });
    ipc::poller p;
    int next_ring = 0, next_pipe = 0;
    bool ring_closed = false, pipe_closed = false;
    auto a = p.add(ring_rx, ready::readable, [&](const ipc::poller::event&) {
        int v = 0;
        ipc::status s = ipc::status::ok;
        while ((s = ring_rx.try_recv(v)) == ipc::status::ok) CHECK(v == next_ring++);
        ring_closed = s == ipc::status::closed;
    });
    auto b = p.add(pipe.receiver, ready::readable, [&](const ipc::poller::event&) {
        int v = 0;
        ipc::status s = ipc::status::ok;
        while ((s = pipe.receiver.try_recv(v)) == ipc::status::ok) CHECK(v == next_pipe++);
        pipe_closed = s == ipc::status::closed;
    });
    const auto until = clk::now() + 30s;
    int uncalled = 0;  // events of callback registrations never reach the range
    while (!(ring_closed && pipe_closed) && clk::now() < until) uncalled += !p.wait_until(until).empty();
    CHECK(uncalled == 0);
    feeder.join();
    CHECK(next_ring == n);
    CHECK(next_pipe == n);
    CHECK(ring_closed);
    CHECK(pipe_closed);
    CHECK(producer.wait() == child_ok);
}

namespace {
std::atomic<int> interrupted{0};
extern "C" void count_signal(int) { interrupted.fetch_add(1); }
}  // namespace

TEST_CASE("poller: a signal handler interrupting the wait neither ends it early nor loses the rest of the time") {
    struct sigaction sa {};
    sa.sa_handler = count_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: epoll_wait returns EINTR
    struct sigaction old {};
    REQUIRE(::sigaction(SIGUSR1, &sa, &old) == 0);
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, SIGUSR1);
    ::pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);

    auto pipe = ipc::pipe_channel<int>::create();
    ipc::poller p;
    auto reg = p.add(pipe.receiver, ready::readable, 1);
    const pid_t parent = ::getpid();
    interrupted = 0;
    child sender([&] {
        std::this_thread::sleep_for(100ms);
        return ::kill(parent, SIGUSR1) == 0 ? 0 : 1;
    });
    const auto t0 = clk::now();
    CHECK(p.wait_for(400ms).empty());
    const auto took = clk::now() - t0;
    CHECK(took >= 400ms);
    CHECK(took < 5s);
    CHECK(sender.wait() == child_ok);
    CHECK(interrupted.load() == 1);
    ::sigaction(SIGUSR1, &old, nullptr);
}

TEST_CASE("poller: interest and descriptor mistakes are refused with words; a pointer key comes back") {
    auto pipe = ipc::pipe_channel<int>::create();
    ipc::poller p;
    std::error_code ec;
    auto none = p.add(pipe.receiver, ready::closed, 1, ec);
    CHECK(ec == std::errc::invalid_argument);
    CHECK_FALSE(none);
    CHECK_FALSE(ipc::last_error_detail(ec).empty());
    auto one = p.add(pipe.receiver, ready::readable, 1);
    auto twice = p.add(pipe.receiver, ready::readable, 2, ec);
    CHECK(ec == ipc::errc::already_exists);
    CHECK(std::string(ipc::last_error_detail(ec)).find("registered already") != std::string::npos);
    CHECK_THROWS_AS((void)p.add(pipe.receiver, ready::readable, 3), ipc::error);
    ipc::pipe_receiver<int> closed;
    CHECK_THROWS_AS((void)p.add(closed, ready::readable, 4), ipc::error);
    // A pointer for a key comes back as it went in.
    int target = 0;
    auto by_pointer = p.add(pipe.sender, ready::writable, &target);
    auto r = p.wait_for(0s);
    REQUIRE(r.size() == 1);
    CHECK(r.begin()->pointer<int>() == &target);
    CHECK(r.begin()->writable());
    CHECK(r.begin()->id == by_pointer.id());
}

// Last: it may end the program with 77 (skipped) when descriptors are too few.
TEST_CASE("poller: 2000 pipes in one poller; a child makes every seventh ready") {
    constexpr int n = 2000;
    descriptor_limit lim(2 * n + 64, "2000 pipes");
    std::vector<ipc::pipe_channel<int>> pipes;
    pipes.reserve(n);
    for (int i = 0; i < n; ++i) pipes.push_back(ipc::pipe_channel<int>::create());
    ipc::poller p;
    std::vector<ipc::poller::registration> regs;
    for (int i = 0; i < n; ++i) regs.push_back(p.add(pipes[i].receiver, ready::readable, i));
    CHECK(p.size() == n);
    child maker([&] {
        std::this_thread::sleep_for(50ms);
        int bad = 0;
        for (int i = 0; i < n; i += 7) bad += pipes[i].sender.try_send(i) != ipc::status::ok;
        std::this_thread::sleep_for(2s);
        return bad;
    });
    std::set<int> want, got;
    for (int i = 0; i < n; i += 7) want.insert(i);
    const auto until = clk::now() + 10s;
    while (got.size() < want.size() && clk::now() < until)
        for (const auto& ev : p.wait_until(until)) {
            auto& rx = pipes[ev.key].receiver;
            int v = -1;
            while (rx.try_recv(v) == ipc::status::ok) {
                CHECK(v == static_cast<int>(ev.key));
                got.insert(v);
            }
        }
    CHECK(got == want);
    CHECK(p.wait_for(0s).empty());
    regs.clear();
    CHECK(p.size() == 0);
    ::kill(maker.pid(), SIGKILL);
    CHECK(maker.wait() == -SIGKILL);
}
