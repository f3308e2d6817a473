// Anonymous pipes: the conformance suite, plus what only a byte stream can get wrong.
#include <ipc/channel.hpp>

#include <csignal>
#include <cstring>

#include "conformance.hpp"

namespace {

struct pipe_setup {
    static constexpr const char* name = "pipe";
    static constexpr bool reports_close = true;
    static constexpr std::size_t max_message = 1 << 16;

    template <class T, class Framing>
    struct ends {
        ipc::transport::pipe_pair p = ipc::transport::make_pipe();
        auto make_sender() {
            p.reader.close();
            return ipc::channel<T, ipc::transport::pipe_writer, ipc::sync::poll, Framing>(std::move(p.writer));
        }
        auto make_receiver() {
            p.writer.close();
            return ipc::channel<T, ipc::transport::pipe_reader, ipc::sync::poll, Framing>(std::move(p.reader));
        }
    };
};

// The same pipe, but every wait spins instead of sleeping in the kernel.
struct pipe_spin_setup : pipe_setup {
    static constexpr const char* name = "pipe+spin";
    template <class T, class Framing>
    struct ends {
        ipc::transport::pipe_pair p = ipc::transport::make_pipe();
        auto make_sender() {
            p.reader.close();
            return ipc::channel<T, ipc::transport::pipe_writer, ipc::sync::spin, Framing>(std::move(p.writer));
        }
        auto make_receiver() {
            p.writer.close();
            return ipc::channel<T, ipc::transport::pipe_reader, ipc::sync::spin, Framing>(std::move(p.reader));
        }
    };
};

using namespace ipc_test;
using ipc::framing::delimited;
using ipc::framing::fixed;
using ipc::framing::length_prefixed;

// Writes raw bytes into a pipe, as a foreign (or hostile) program would.
void write_raw(ipc::transport::pipe_writer& w, const void* p, std::size_t n) {
    std::error_code ec;
    std::span<const std::byte> part(static_cast<const std::byte*>(p), n);
    while (!part.empty()) {
        auto k = w.write_some(std::span<const std::span<const std::byte>>(&part, 1), ipc::io_mode::blocking, ec);
        REQUIRE_FALSE(ec);
        part = part.subspan(k);
    }
}

}  // namespace

IPC_CONFORMANCE(combo<pipe_setup, fixed>, combo<pipe_setup, length_prefixed>, combo<pipe_setup, delimited>,
                combo<pipe_spin_setup, fixed>, combo<pipe_spin_setup, length_prefixed>);

TEST_CASE("pipe_channel: a parent and a forked child exchange typed records") {
    auto ch = ipc::pipe_channel<record>::create();
    child producer([&] {
        ch.receiver.close();
        for (std::uint64_t i = 0; i < 100; ++i)
            if (!ch.sender.send(make_msg<record>(i, 0))) return 1;
        return 0;
    });
    ch.sender.close();
    record r{};
    for (std::uint64_t i = 0; i < 100; ++i) {
        REQUIRE(ch.receiver.recv_for(r, 5s) == ipc::status::ok);
        CHECK(is_msg(i, r, 0));
    }
    CHECK(ch.receiver.recv_for(r, 5s) == ipc::status::closed);
    CHECK(producer.wait() == child_ok);
}

TEST_CASE("pipe: a lying length prefix is message_too_large and allocates nothing for it") {
    auto p = ipc::transport::make_pipe();
    child liar([&] {
        p.reader.close();
        const unsigned char prefix[4] = {0xff, 0xff, 0xff, 0x7f};  // claims ~2 GiB
        write_raw(p.writer, prefix, sizeof prefix);
        return 0;
    });
    p.writer.close();
    ipc::channel<std::string, ipc::transport::pipe_reader, ipc::sync::poll, length_prefixed> rx(std::move(p.reader),
                                                                                                length_prefixed(4096));
    std::string s;
    std::error_code ec;
    CHECK(rx.recv_for(s, 5s, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::message_too_large);
    const std::string why(ipc::last_error_detail(ec));  // the size announced and the limit
    CHECK_MESSAGE(why.find("2147483647 bytes is over the framing's maximum of 4096 bytes") != std::string::npos, why);
    // The stream has lost its framing: it says so rather than guessing.
    CHECK(rx.recv_for(s, 5s, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::bad_message);
    CHECK_THROWS_AS((void)rx.recv_for(s, 5s), ipc::error);
    CHECK(liar.wait() == child_ok);
}

TEST_CASE("pipe: a peer that closes mid-message is truncated, not a short message") {
    auto p = ipc::transport::make_pipe();
    child quitter([&] {
        p.reader.close();
        const unsigned char frame[6] = {10, 0, 0, 0, 'a', 'b'};  // promises 10 bytes, sends 2
        write_raw(p.writer, frame, sizeof frame);
        return 0;
    });
    p.writer.close();
    ipc::channel<std::string, ipc::transport::pipe_reader, ipc::sync::poll, length_prefixed> rx(std::move(p.reader));
    std::string s;
    std::error_code ec;
    CHECK(rx.recv_for(s, 5s, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::truncated);
    CHECK(quitter.wait() == child_ok);
}

TEST_CASE("pipe: fixed framing rejects a partial record at end of stream") {
    auto p = ipc::transport::make_pipe();
    child quitter([&] {
        p.reader.close();
        char half[sizeof(record) / 2] = {};
        write_raw(p.writer, half, sizeof half);
        return 0;
    });
    p.writer.close();
    ipc::pipe_receiver<record> rx(std::move(p.reader));
    record r{};
    std::error_code ec;
    CHECK(rx.recv_for(r, 5s, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::truncated);
    CHECK(quitter.wait() == child_ok);
}

TEST_CASE("pipe: delimited lines arrive split and joined as the writer sent them") {
    auto p = ipc::transport::make_pipe();
    child shell([&] {
        p.reader.close();
        const char text[] = "first\nsec";
        const char rest[] = "ond\nthird\n\n";
        write_raw(p.writer, text, std::strlen(text));
        usleep(20000);
        write_raw(p.writer, rest, std::strlen(rest));
        return 0;
    });
    p.writer.close();
    ipc::pipe_line_receiver rx(std::move(p.reader));
    std::string line;
    REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
    CHECK(line == "first");
    REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
    CHECK(line == "second");
    REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
    CHECK(line == "third");
    REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
    CHECK(line.empty());
    CHECK(rx.recv_for(line, 5s) == ipc::status::closed);
    CHECK(shell.wait() == child_ok);
}

TEST_CASE("pipe: a line longer than max_line is message_too_large") {
    auto p = ipc::transport::make_pipe();
    child flood([&] {
        p.reader.close();
        std::string big(100, 'x');
        write_raw(p.writer, big.data(), big.size());
        return 0;
    });
    p.writer.close();
    ipc::pipe_line_receiver rx(std::move(p.reader), delimited('\n', 32));
    std::string line;
    std::error_code ec;
    CHECK(rx.recv_for(line, 5s, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::message_too_large);
    CHECK(flood.wait() == child_ok);
}

TEST_CASE("pipe: sending a line that contains the delimiter is refused, nothing is written") {
    auto ch = ipc::pipe_channel<std::string, ipc::sync::poll, delimited>::create();
    std::error_code ec;
    CHECK(ch.sender.try_send("two\nlines", ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::bad_message);
    std::string line;
    CHECK(ch.receiver.try_recv(line) == ipc::status::would_block);
}

TEST_CASE("pipe: oversize message is refused at send, nothing is written") {
    auto ch = ipc::pipe_channel<std::string>::create(length_prefixed(16));
    std::error_code ec;
    CHECK(ch.sender.try_send(std::string(17, 'x'), ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::message_too_large);
    CHECK(ch.sender.try_send(std::string(16, 'x'), ec) == ipc::status::ok);
    std::string s;
    CHECK(ch.receiver.try_recv(s) == ipc::status::ok);
    CHECK(s.size() == 16);
}

TEST_CASE("pipe: try_send on a full pipe is would_block and the pipe stays usable") {
    auto ch = ipc::pipe_channel<record>::create();
    std::size_t sent = 0;
    while (ch.sender.try_send(make_msg<record>(sent, 0)) == ipc::status::ok) ++sent;
    CHECK(sent > 0);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(ch.sender.send_for(make_msg<record>(sent, 0), 30ms) == ipc::status::timed_out);
    CHECK(ms_since(t0) >= 30.0);
    record r{};
    for (std::size_t i = 0; i < sent; ++i) {
        REQUIRE(ch.receiver.try_recv(r) == ipc::status::ok);
        REQUIRE(is_msg(i, r, 0));
    }
    CHECK(ch.receiver.try_recv(r) == ipc::status::would_block);
}

TEST_CASE("pipe: SIGPIPE stays as the application set it") {
    // Default disposition, not blocked: a raw write to a closed pipe would kill us.
    struct sigaction old {};
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, &old);
    {
        auto ch = ipc::pipe_channel<int>::create();
        ch.receiver.close();
        CHECK(ch.sender.send(1) == ipc::status::closed);
    }
    struct sigaction now {};
    sigaction(SIGPIPE, nullptr, &now);
    CHECK((now.sa_handler == SIG_DFL));
    sigset_t mask, pending;
    pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    CHECK_FALSE(sigismember(&mask, SIGPIPE));
    sigpending(&pending);
    CHECK_FALSE(sigismember(&pending, SIGPIPE));
    sigaction(SIGPIPE, &old, nullptr);
}

TEST_CASE("pipe: a SIGPIPE-ignoring program writes unguarded and still gets closed") {
    struct sigaction old {};
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old);
    {
        auto ch = ipc::pipe_channel<int>::create();
        ch.receiver.close();
        std::error_code ec;
        CHECK(ch.sender.try_send(1, ec) == ipc::status::closed);
        CHECK(ec == ipc::errc::peer_closed);
    }
    sigaction(SIGPIPE, &old, nullptr);
}

// Payloads are read straight into the message; a receive that times out in
// the middle keeps what arrived, and the next one completes the same frame.
TEST_CASE_TEMPLATE("pipe: a frame that arrives in pieces across timed-out receives is whole", V, record, std::string) {
    auto p = ipc::transport::make_pipe();
    const V sent = make_msg<V>(7, 1 << 16);
    std::vector<std::byte> frame;
    if constexpr (std::is_same_v<V, std::string>) {
        auto n = static_cast<std::uint32_t>(sent.size());
        for (int i = 0; i < 4; ++i) frame.push_back(static_cast<std::byte>(n >> (8 * i)));
    }
    auto body = ipc::codec<V>::bytes(sent);
    frame.insert(frame.end(), body.begin(), body.end());
    REQUIRE(frame.size() > 16);
    gate next;
    child trickle([&] {
        p.reader.close();
        // The header and a few payload bytes, then (after the parent timed out) the rest.
        write_raw(p.writer, frame.data(), 12);
        if (!next.wait()) return 1;
        write_raw(p.writer, frame.data() + 12, frame.size() - 12);
        return 0;
    });
    p.writer.close();
    ipc::channel<V, ipc::transport::pipe_reader, ipc::sync::poll, ipc::default_framing_t<V>> rx(std::move(p.reader));
    V got{};
    CHECK(rx.recv_for(got, 100ms) == ipc::status::timed_out);
    CHECK(rx.buffered() > 0);
    next.open();
    REQUIRE(rx.recv_for(got, 5s) == ipc::status::ok);
    CHECK(is_msg(7, got, 1 << 16));
    CHECK(rx.recv_for(got, 5s) == ipc::status::closed);
    CHECK(trickle.wait() == child_ok);
}
