// Unix domain sockets: the conformance suite over stream, seqpacket and
// datagram sockets, then names, socket files, limits and closing peers.
#include <ipc/channel.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <csignal>
#include <fstream>
#include <vector>

#include "conformance.hpp"

namespace {

using namespace ipc_test;
using ipc::framing::delimited;
using ipc::framing::fixed;
using ipc::framing::length_prefixed;
using ipc::transport::unix_address;
using ipc::transport::unix_dgram;
using ipc::transport::unix_seqpacket;
using ipc::transport::unix_stream;

// Connected sockets: the receiving side listens (in the parent, before the
// fork) and accepts; the sending side connects.
template <class Socket>
struct unix_connected_setup {
    static constexpr const char* name = Socket::socket_type == SOCK_STREAM ? "unix stream" : "unix seqpacket";
    static constexpr bool reports_close = true;
    static constexpr std::size_t max_message = 1 << 16;

    template <class T, class Framing>
    struct ends {
        temp_dir dir;
        unix_address addr = unix_address::path(dir / "s");
        ipc::transport::basic_unix_listener<Socket> listener = ipc::transport::basic_unix_listener<Socket>::listen(addr);

        auto make_sender() { return ipc::channel<T, Socket, ipc::sync::poll, Framing>(Socket::connect(addr, 10s)); }
        auto make_receiver() {
            auto s = listener.accept_for(10s);
            REQUIRE(s.has_value());
            return ipc::channel<T, Socket, ipc::sync::poll, Framing>(std::move(*s));
        }
    };
};

// Datagrams: the receiver binds a name before the fork, the sender connects to it.
struct unix_dgram_setup {
    static constexpr const char* name = "unix dgram";
    static constexpr bool reports_close = false;  // a datagram receiver never sees end of stream
    static constexpr std::size_t max_message = 1 << 16;

    template <class T, class Framing>
    struct ends {
        temp_dir dir;
        unix_address addr = unix_address::path(dir / "d");
        unix_dgram bound = unix_dgram::bind(addr);

        auto make_sender() {
            bound.close();
            return ipc::unix_dgram_channel<T, ipc::sync::poll, Framing>(unix_dgram::connect(addr));
        }
        auto make_receiver() { return ipc::unix_dgram_channel<T, ipc::sync::poll, Framing>(std::move(bound)); }
    };
};

using stream_setup = unix_connected_setup<unix_stream>;
using seqpacket_setup = unix_connected_setup<unix_seqpacket>;

// A socket file left behind by a process that died: bound, then closed without unlink.
void leave_stale_socket(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    auto a = unix_address::path(path);
    REQUIRE(::bind(fd, a.data(), a.size()) == 0);
    ::close(fd);
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

void write_raw(unix_stream& s, const void* p, std::size_t n) {
    std::error_code ec;
    std::span<const std::byte> part(static_cast<const std::byte*>(p), n);
    while (!part.empty()) {
        auto k = s.write_some(std::span<const std::span<const std::byte>>(&part, 1), ipc::io_mode::blocking, ec);
        REQUIRE_FALSE(ec);
        part = part.subspan(k);
    }
}

}  // namespace

IPC_CONFORMANCE(combo<stream_setup, fixed>, combo<stream_setup, length_prefixed>, combo<stream_setup, delimited>,
                combo<seqpacket_setup, fixed>, combo<seqpacket_setup, length_prefixed>, combo<unix_dgram_setup, fixed>,
                combo<unix_dgram_setup, length_prefixed>);

// ---- names -----------------------------------------------------------------

TEST_CASE("unix_address: names are validated: empty, too long, NUL inside") {
    std::error_code ec;
    const std::string longest(unix_address::max_length, 'x');
    const std::string too_long = longest + "x";
    CHECK(unix_address::max_length == 107);

    CHECK(unix_address::path(longest, ec).name() == longest);
    CHECK_FALSE(ec);
    CHECK(unix_address::abstract(longest, ec).name() == longest);
    CHECK_FALSE(ec);

    for (std::string_view bad : {std::string_view(), std::string_view(too_long), std::string_view("a\0b", 3)}) {
        ec.clear();
        (void)unix_address::path(bad, ec);
        CHECK(ec == ipc::errc::name_invalid);
        ec.clear();
        (void)unix_address::abstract(bad, ec);
        CHECK(ec == ipc::errc::name_invalid);
        CHECK_THROWS_AS((void)unix_address::path(bad), ipc::error);
    }
    CHECK(unix_address::abstract("svc").to_string() == "@svc");
    CHECK(unix_address::path("/tmp/x.sock").to_string() == "/tmp/x.sock");
    CHECK_FALSE(unix_address::path("/tmp/x.sock").is_abstract());
}

TEST_CASE("unix abstract names: no file, a child connects, a second listener is already_exists") {
    auto addr = unix_address::abstract(unique_name("abstract"));
    auto listener = ipc::transport::unix_stream_listener::listen(addr);
    std::error_code ec;
    (void)ipc::transport::unix_stream_listener::listen(addr, ec);
    CHECK(ec == ipc::errc::already_exists);
    CHECK_FALSE(exists(std::string(addr.name())));

    child client([&] {
        auto ch = ipc::unix_stream_channel<std::string>::connect(addr, 5s);
        return ch.send_for("over the abstract namespace", 5s) == ipc::status::ok ? 0 : 1;
    });
    auto s = listener.accept_for(5s);
    REQUIRE(s.has_value());
    ipc::unix_stream_channel<std::string> ch(std::move(*s));
    std::string got;
    REQUIRE(ch.recv_for(got, 5s) == ipc::status::ok);
    CHECK(got == "over the abstract namespace");
    CHECK(client.wait() == child_ok);
}

// ---- socket files ----------------------------------------------------------

TEST_CASE("unix listener: the socket file is 0600 whatever the umask, and removed by the destructor") {
    temp_dir dir;
    const std::string path = dir / "s";
    mode_t old = ::umask(0);
    struct stat st {};
    {
        auto l = ipc::transport::unix_stream_listener::listen(unix_address::path(path));
        REQUIRE(::lstat(path.c_str(), &st) == 0);
        CHECK(S_ISSOCK(st.st_mode));
        CHECK((st.st_mode & 07777) == 0600);
    }
    CHECK_FALSE(exists(path));
    {
        auto l = ipc::transport::unix_seqpacket_listener::listen(unix_address::path(path), SOMAXCONN, ipc::permissions{0660});
        REQUIRE(::lstat(path.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0660);
    }
    {
        auto d = unix_dgram::bind(unix_address::path(path));
        REQUIRE(::lstat(path.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);
    }
    CHECK_FALSE(exists(path));
    ::umask(old);
}

TEST_CASE("unix listener: a stale socket file nobody listens on is replaced") {
    temp_dir dir;
    const std::string path = dir / "s";
    leave_stale_socket(path);
    REQUIRE(exists(path));
    // Nobody answers there: connecting is refused, with a clear error.
    std::error_code ec;
    (void)unix_stream::connect(unix_address::path(path), 1s, ec);
    CHECK(ec == std::errc::connection_refused);

    auto l = ipc::transport::unix_stream_listener::listen(unix_address::path(path));
    child client([&] {
        auto ch = ipc::unix_stream_channel<int>::connect(unix_address::path(path), 5s);
        return ch.send_for(42, 5s) == ipc::status::ok ? 0 : 1;
    });
    auto s = l.accept_for(5s);
    REQUIRE(s.has_value());
    ipc::unix_stream_channel<int> ch(std::move(*s));
    int v = 0;
    REQUIRE(ch.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 42);
    CHECK(client.wait() == child_ok);
}

TEST_CASE("unix listener: a live listener's name is already_exists and stays live") {
    temp_dir dir;
    auto addr = unix_address::path(dir / "s");
    gate done;
    child owner([&] {
        auto l = ipc::transport::unix_seqpacket_listener::listen(addr);
        auto s = l.accept_for(10s);
        if (!s) return 1;
        done.wait();
        return 0;
    });
    // Wait for the child's listener to answer.
    std::error_code ec;
    unix_seqpacket probe;
    for (int i = 0; i < 1000 && !probe.is_open(); ++i) {
        ec.clear();
        probe = unix_seqpacket::connect(addr, 1s, ec);
        if (!probe.is_open()) std::this_thread::sleep_for(5ms);
    }
    REQUIRE(probe.is_open());
    ec.clear();
    (void)ipc::transport::unix_seqpacket_listener::listen(addr, ec);
    CHECK(ec == ipc::errc::already_exists);
    (void)unix_dgram::bind(addr, ec);
    CHECK(ec == ipc::errc::already_exists);
    CHECK_THROWS_AS((void)ipc::transport::unix_stream_listener::listen(addr), ipc::error);
    CHECK(exists(addr.to_string()));
    done.open();
    CHECK(owner.wait() == child_ok);
}

TEST_CASE("unix listener: a symlink or a regular file at the path is refused and left alone") {
    temp_dir dir;
    const std::string target = dir / "precious";
    const std::string link = dir / "link";
    { std::ofstream(target) << "keep me"; }
    REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);

    std::error_code ec;
    (void)ipc::transport::unix_stream_listener::listen(unix_address::path(link), ec);
    CHECK(ec == std::errc::too_many_symbolic_link_levels);
    ec.clear();
    (void)ipc::transport::unix_stream_listener::listen(unix_address::path(target), ec);
    CHECK(ec == std::errc::not_a_socket);
    ec.clear();
    (void)unix_dgram::bind(unix_address::path(target), ec);
    CHECK(ec == std::errc::not_a_socket);

    struct stat st {};
    REQUIRE(::lstat(link.c_str(), &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
    std::string text;
    std::getline(std::ifstream(target), text);
    CHECK(text == "keep me");
    try {
        (void)ipc::transport::unix_stream_listener::listen(unix_address::path(link));
        FAIL("no exception");
    } catch (const ipc::error& e) {
        CHECK(std::string(e.what()).find("symlink") != std::string::npos);
    }
}

TEST_CASE("unix listener: the destructor removes only its own file, and not from a forked child") {
    temp_dir dir;
    const std::string path = dir / "s";
    auto l = ipc::transport::unix_stream_listener::listen(unix_address::path(path));
    child copy([&] {
        l.close();  // the child's copy: must not take the parent's name away
        return 0;
    });
    REQUIRE(copy.wait() == child_ok);
    CHECK(exists(path));

    // Someone replaced the file (made first, so it cannot reuse the inode): the listener leaves it alone.
    leave_stale_socket(dir / "other");
    REQUIRE(::rename((dir / "other").c_str(), path.c_str()) == 0);
    l.close();
    CHECK(exists(path));
}

// ---- connecting and accepting ----------------------------------------------

TEST_CASE("unix connect: nobody there is not_found; a full backlog times out") {
    temp_dir dir;
    std::error_code ec;
    (void)unix_stream::connect(unix_address::path(dir / "nobody"), 1s, ec);
    CHECK(ec == ipc::errc::not_found);
    CHECK_THROWS_AS((void)unix_stream::connect(unix_address::path(dir / "nobody")), ipc::error);

    auto addr = unix_address::path(dir / "s");
    auto l = ipc::transport::unix_stream_listener::listen(addr, 0);
    std::vector<unix_stream> queued;
    ec.clear();
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 8 && !ec; ++i) {
        ec.clear();
        auto s = unix_stream::connect(addr, 50ms, ec);
        if (s.is_open()) queued.push_back(std::move(s));
    }
    CHECK(ec == ipc::errc::timed_out);
    CHECK(ms_since(t0) >= 50.0);
    CHECK(queued.size() >= 1);
}

TEST_CASE("unix sockets: listening, connecting, accepting and closing leave no descriptor behind") {
    const int before = open_fd_count();
    {
        temp_dir dir;
        auto addr = unix_address::path(dir / "s");
        auto l = ipc::transport::unix_seqpacket_listener::listen(addr);
        auto c = unix_seqpacket::connect(addr, 1s);
        auto s = l.accept_for(1s);
        REQUIRE(s.has_value());
        auto d = unix_dgram::bind(unix_address::path(dir / "d"));
        auto p = unix_stream::pair();
        std::error_code ec;
        (void)unix_stream::connect(unix_address::path(dir / "none"), 1s, ec);
        (void)ipc::transport::unix_stream_listener::listen(addr, ec);
        CHECK(ec == ipc::errc::already_exists);
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("unix stream: try_send on a full socket is would_block; everything sent arrives") {
    auto p = unix_stream::pair();
    ipc::unix_stream_channel<record> tx(std::move(p.first));
    std::size_t sent = 0;
    while (tx.try_send(make_msg<record>(sent, 0)) == ipc::status::ok) ++sent;
    CHECK(sent > 0);
    child reader([&] {
        ipc::unix_stream_channel<record> rx(std::move(p.second));
        record r{};
        for (std::size_t i = 0; i <= sent; ++i)
            if (rx.recv_for(r, 5s) != ipc::status::ok || !is_msg(i, r, 0)) return 1;
        return 0;
    });
    p.second.close();
    // The blocked remainder of a partly written record goes out once the reader drains.
    CHECK(tx.send_for(make_msg<record>(sent, 0), 5s) == ipc::status::ok);
    CHECK(reader.wait() == child_ok);
}

TEST_CASE("unix accept: try_accept and accept_for wait as long as asked, no longer") {
    temp_dir dir;
    auto l = ipc::transport::unix_stream_listener::listen(unix_address::path(dir / "s"));
    CHECK_FALSE(l.try_accept().has_value());
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(l.accept_for(50ms).has_value());
    CHECK(ms_since(t0) >= 50.0);
    CHECK(ms_since(t0) < 2000.0);
    std::error_code ec;
    auto s = l.accept_for(1ms, ec);
    CHECK(ec == ipc::errc::timed_out);
    CHECK_FALSE(s.is_open());
}

TEST_CASE("unix listener: one listener serves several client processes at once") {
    constexpr int clients = 4;
    constexpr std::uint64_t each = 200;
    temp_dir dir;
    auto addr = unix_address::path(dir / "s");
    auto l = ipc::transport::unix_seqpacket_listener::listen(addr);
    std::vector<child> kids;
    for (int c = 0; c < clients; ++c)
        kids.emplace_back([&, c] {
            auto ch = ipc::unix_seqpacket_channel<record>::connect(addr, 5s);
            record r{};
            for (std::uint64_t i = 0; i < each; ++i) {
                if (ch.send_for(make_msg<record>(c * 1000 + i, 0), 5s) != ipc::status::ok) return 1;
                if (ch.recv_for(r, 5s) != ipc::status::ok || !is_msg(c * 1000 + i, r, 0)) return 2;
            }
            return 0;
        });
    std::vector<ipc::unix_seqpacket_channel<record>> conns;
    for (int c = 0; c < clients; ++c) {
        auto s = l.accept_for(5s);
        REQUIRE(s.has_value());
        conns.emplace_back(std::move(*s));
    }
    // Serve all of them together: every client waits for its echo before sending again.
    std::size_t open = conns.size();
    while (open > 0) {
        std::vector<pollfd> fds;
        for (auto& ch : conns) fds.push_back({ch.native_handle(), POLLIN, 0});
        REQUIRE(::poll(fds.data(), fds.size(), 5000) > 0);
        for (std::size_t k = 0; k < conns.size(); ++k) {
            if (!fds[k].revents || !conns[k].transport().is_open()) continue;
            record r{};
            auto st = conns[k].try_recv(r);
            if (st == ipc::status::closed) {
                conns[k].transport().close();
                --open;
            } else if (st == ipc::status::ok) {
                REQUIRE(conns[k].send_for(r, 5s) == ipc::status::ok);
            }
        }
    }
    for (auto& k : kids) CHECK(k.wait() == child_ok);
}

// ---- messages and closing --------------------------------------------------

TEST_CASE("unix socketpair: stream, seqpacket and dgram pairs connect a parent and its child") {
    auto stream = unix_stream::pair();
    auto seq = unix_seqpacket::pair();
    auto dgram = unix_dgram::pair();
    child kid([&] {
        ipc::unix_stream_channel<std::string> a(std::move(stream.second));
        ipc::unix_seqpacket_channel<std::string> b(std::move(seq.second));
        ipc::unix_dgram_channel<std::string> c(std::move(dgram.second));
        std::string s;
        if (a.recv_for(s, 5s) != ipc::status::ok || a.send_for(s + "!", 5s) != ipc::status::ok) return 1;
        if (b.recv_for(s, 5s) != ipc::status::ok || b.send_for(s + "!", 5s) != ipc::status::ok) return 2;
        if (c.recv_for(s, 5s) != ipc::status::ok || c.send_for(s + "!", 5s) != ipc::status::ok) return 3;
        return 0;
    });
    ipc::unix_stream_channel<std::string> a(std::move(stream.first));
    ipc::unix_seqpacket_channel<std::string> b(std::move(seq.first));
    ipc::unix_dgram_channel<std::string> c(std::move(dgram.first));
    std::string s;
    REQUIRE(a.send_for("stream", 5s) == ipc::status::ok);
    REQUIRE(a.recv_for(s, 5s) == ipc::status::ok);
    CHECK(s == "stream!");
    REQUIRE(b.send_for("seqpacket", 5s) == ipc::status::ok);
    REQUIRE(b.recv_for(s, 5s) == ipc::status::ok);
    CHECK(s == "seqpacket!");
    REQUIRE(c.send_for("dgram", 5s) == ipc::status::ok);
    REQUIRE(c.recv_for(s, 5s) == ipc::status::ok);
    CHECK(s == "dgram!");
    CHECK(kid.wait() == child_ok);
}

TEST_CASE("unix seqpacket: an empty message is a message, not end of stream") {
    auto p = unix_seqpacket::pair();
    child kid([&] {
        ipc::unix_seqpacket_channel<std::string> tx(std::move(p.second));
        return tx.send_for("", 5s) == ipc::status::ok && tx.send_for("", 5s) == ipc::status::ok ? 0 : 1;
    });
    p.second.close();
    REQUIRE(kid.wait() == child_ok);  // both sent, and the sender is gone
    ipc::unix_seqpacket_channel<std::string> rx(std::move(p.first));
    std::string s = "x";
    CHECK(rx.recv_for(s, 5s) == ipc::status::ok);
    CHECK(s.empty());
    CHECK(rx.recv_for(s, 5s) == ipc::status::ok);
    CHECK(rx.recv_for(s, 5s) == ipc::status::closed);
}

TEST_CASE("unix seqpacket and dgram: a message larger than the receive buffer is message_too_large, the next one arrives") {
    auto seq = unix_seqpacket::pair();
    auto dgram = unix_dgram::pair();
    ipc::unix_seqpacket_channel<std::string> seq_tx(std::move(seq.first));
    ipc::unix_seqpacket_channel<std::string> seq_rx(std::move(seq.second), length_prefixed(16));
    ipc::unix_dgram_channel<std::string> dg_tx(std::move(dgram.first));
    ipc::unix_dgram_channel<std::string> dg_rx(std::move(dgram.second), length_prefixed(16));
    auto too_large_then_next = [](auto& tx, auto& rx) {
        REQUIRE(tx.try_send(std::string(100, 'x')) == ipc::status::ok);
        REQUIRE(tx.try_send("fits") == ipc::status::ok);
        std::string s;
        std::error_code ec;
        CHECK(rx.try_recv(s, ec) == ipc::status::failed);
        CHECK(ec == ipc::errc::message_too_large);
        CHECK(rx.try_recv(s) == ipc::status::ok);
        CHECK(s == "fits");
    };
    too_large_then_next(seq_tx, seq_rx);
    too_large_then_next(dg_tx, dg_rx);
}

TEST_CASE("unix stream: a peer that dies mid-message is truncated") {
    auto p = unix_stream::pair();
    child quitter([&] {
        const unsigned char frame[6] = {10, 0, 0, 0, 'a', 'b'};  // promises 10 bytes, sends 2
        write_raw(p.second, frame, sizeof frame);
        ::raise(SIGKILL);
        return 0;
    });
    p.second.close();
    ipc::unix_stream_channel<std::string> rx(std::move(p.first));
    std::string s;
    std::error_code ec;
    CHECK(rx.recv_for(s, 5s, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::truncated);
    CHECK(quitter.wait() == -SIGKILL);
}

TEST_CASE("unix stream: a last line without its newline is delivered at end of stream (fixed and length_prefixed: truncated, see unit-pipe)") {
    auto p = unix_stream::pair();
    child writer([&] {
        const char text[] = "first\nlast without newline";
        write_raw(p.second, text, sizeof text - 1);
        return 0;  // closes the socket after a partial line
    });
    p.second.close();
    ipc::unix_stream_channel<std::string, ipc::sync::poll, delimited> rx(std::move(p.first));
    std::string s;
    REQUIRE(rx.recv_for(s, 5s) == ipc::status::ok);
    CHECK(s == "first");
    REQUIRE(rx.recv_for(s, 5s) == ipc::status::ok);
    CHECK(s == "last without newline");
    CHECK(rx.recv_for(s, 5s) == ipc::status::closed);
    CHECK(writer.wait() == child_ok);
}

TEST_CASE("unix dgram: line framing is symmetric: a send ends the line with '\\n', a receive takes it off if there") {
    auto p = unix_dgram::pair();
    child raw([&] {
        // A raw peer: reads the channel's line, answers with and without a newline.
        char buf[64];
        const ssize_t n = ::recv(p.second.native_handle(), buf, sizeof buf, 0);
        if (n != 6 || std::memcmp(buf, "hello\n", 6) != 0) return 1;
        if (::send(p.second.native_handle(), "with\n", 5, 0) != 5) return 2;
        if (::send(p.second.native_handle(), "without", 7, 0) != 7) return 3;
        return 0;
    });
    ipc::unix_dgram_channel<std::string, ipc::sync::poll, delimited> ch(std::move(p.first));
    REQUIRE(ch.send_for(std::string("hello"), 5s) == ipc::status::ok);
    std::string s;
    REQUIRE(ch.recv_for(s, 5s) == ipc::status::ok);
    CHECK(s == "with");
    REQUIRE(ch.recv_for(s, 5s) == ipc::status::ok);
    CHECK(s == "without");
    CHECK(raw.wait() == child_ok);
}

TEST_CASE("unix sockets: sending to a closed peer is status::closed, never SIGPIPE") {
    struct sigaction old {};
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, &old);  // a raw send without MSG_NOSIGNAL would kill us
    {
        auto stream = unix_stream::pair();
        auto seq = unix_seqpacket::pair();
        auto dgram = unix_dgram::pair();
        gate leave;
        child kid([&] {  // holds the peers' last copies until the parent lets it exit
            leave.wait();
            return 0;
        });
        stream.second.close();
        seq.second.close();
        dgram.second.close();
        leave.open();
        REQUIRE(kid.wait() == child_ok);
        ipc::unix_stream_channel<int> a(std::move(stream.first));
        ipc::unix_seqpacket_channel<int> b(std::move(seq.first));
        ipc::unix_dgram_channel<int> c(std::move(dgram.first));
        std::error_code ec;
        CHECK(a.send_for(1, 1s, ec) == ipc::status::closed);
        CHECK(ec == ipc::errc::peer_closed);
        CHECK(b.send(1) == ipc::status::closed);
        CHECK(c.send(1) == ipc::status::closed);
    }
    struct sigaction now {};
    sigaction(SIGPIPE, nullptr, &now);
    CHECK((now.sa_handler == SIG_DFL));
    sigaction(SIGPIPE, &old, nullptr);
}

TEST_CASE("unix dgram: sending to a connected peer that closed its socket is status::closed") {
    temp_dir dir;
    auto addr = unix_address::path(dir / "d");
    auto bound = unix_dgram::bind(addr);
    child receiver([&] {
        ipc::unix_dgram_channel<int> rx(std::move(bound));
        int v = 0;
        return rx.recv_for(v, 5s) == ipc::status::ok && v == 7 ? 0 : 1;
    });
    bound.close();
    auto tx = ipc::unix_dgram_channel<int>::connect(addr);
    REQUIRE(tx.send_for(7, 5s) == ipc::status::ok);
    REQUIRE(receiver.wait() == child_ok);
    std::error_code ec;
    CHECK(tx.send_for(8, 1s, ec) == ipc::status::closed);  // ECONNREFUSED
    CHECK(tx.send_for(9, 1s, ec) == ipc::status::closed);  // then ENOTCONN: still closed
    CHECK(ec == ipc::errc::peer_closed);
}

TEST_CASE("unix dgram: a receive tells the sender's address; an unconnected server answers each client with send_to") {
    temp_dir dir;
    auto server_addr = unix_address::path(dir / "server");
    ipc::unix_dgram_channel<int> server(unix_dgram::bind(server_addr));
    std::vector<child> clients;
    for (int c = 0; c < 2; ++c)
        clients.emplace_back([&, c] {
            auto me = unix_address::path(dir / ("client" + std::to_string(c)));
            ipc::unix_dgram_channel<int> ch(unix_dgram::connect(server_addr, me));
            if (ch.send_for(100 * c, 5s) != ipc::status::ok) return 1;
            unix_dgram::recv_info from;
            int v = 0;
            if (ch.recv_for(v, from, 5s) != ipc::status::ok) return 2;
            return v == 100 * c + 1 && from.sender.name() == server_addr.name() ? 0 : 3;
        });
    for (int i = 0; i < 2; ++i) {
        unix_dgram::recv_info from;
        int v = -1;
        REQUIRE(server.recv_for(v, from, 5s) == ipc::status::ok);
        const int c = v / 100;
        CHECK(from.sender.name() == dir / ("client" + std::to_string(c)));
        REQUIRE(server.send_for(v + 1, {.to = from.sender}, 5s) == ipc::status::ok);  // the reply
    }
    for (auto& c : clients) CHECK(c.wait() == child_ok);

    // An unnamed sender has no address to answer to.
    child anonymous([&] {
        ipc::unix_dgram_channel<int> ch(unix_dgram::connect(server_addr));
        return ch.send_for(7, 5s) == ipc::status::ok ? 0 : 1;
    });
    unix_dgram::recv_info from;
    int v = 0;
    REQUIRE(server.recv_for(v, from, 5s) == ipc::status::ok);
    CHECK(v == 7);
    CHECK(from.sender.empty());
    CHECK(anonymous.wait() == child_ok);
    // Sending to a symlink is refused, as connecting is.
    std::filesystem::create_symlink(dir / "server", dir / "link");
    std::error_code ec;
    CHECK(server.try_send(1, {.to = unix_address::path(dir / "link")}, ec) == ipc::status::failed);
    CHECK(ec == std::errc::too_many_symbolic_link_levels);
}

TEST_CASE("unix dgram: a named sender gets answers; connecting to nobody is refused") {
    temp_dir dir;
    auto server_addr = unix_address::path(dir / "server");
    auto client_addr = unix_address::path(dir / "client");
    auto server = unix_dgram::bind(server_addr);
    child kid([&] {
        auto ch = ipc::unix_dgram_channel<int>::connect(server_addr, client_addr);
        int v = 0;
        if (ch.send_for(20, 5s) != ipc::status::ok) return 1;
        return ch.recv_for(v, 5s) == ipc::status::ok && v == 21 ? 0 : 2;
    });
    ipc::unix_dgram_channel<int> ch(std::move(server));
    int v = 0;
    REQUIRE(ch.recv_for(v, 5s) == ipc::status::ok);
    // The client is connected to the server socket, so the answer must come from it.
    std::error_code refused;
    (void)unix_dgram::connect(client_addr, refused);
    CHECK(refused == std::errc::operation_not_permitted);
    REQUIRE(ch.transport().set_peer(client_addr, refused));
    REQUIRE(ch.send_for(v + 1, 5s) == ipc::status::ok);
    CHECK(kid.wait() == child_ok);

    std::error_code ec;
    leave_stale_socket(dir / "stale");
    (void)unix_dgram::connect(unix_address::path(dir / "stale"), ec);
    CHECK(ec == std::errc::connection_refused);
}
