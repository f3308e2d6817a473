// Named FIFOs: the conformance suite, then what only a path in the file system
// can get wrong: who opens first, open timeouts, and hostile paths.
#include <ipc/channel.hpp>

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include <fstream>

#include "conformance.hpp"

namespace {

using namespace ipc_test;
using ipc::framing::delimited;
using ipc::framing::fixed;
using ipc::framing::length_prefixed;
using ipc::transport::fifo;
using ipc::transport::fifo_reader;
using ipc::transport::fifo_writer;

// A FIFO in its own directory. Before the fork the parent holds a reader
// (the anchor) so that the sender's open never races the receiver's: each
// process drops its copy once its own end is open.
struct fifo_setup {
    static constexpr const char* name = "fifo";
    static constexpr bool reports_close = true;
    static constexpr std::size_t max_message = 1 << 16;

    template <class T, class Framing>
    struct ends {
        temp_dir dir;
        std::string path = dir / "f";
        ipc::detail::unique_fd anchor;
        ends() {
            fifo::create(path);
            anchor.reset(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
            REQUIRE(anchor);
        }
        auto make_sender() {
            auto tx = ipc::channel<T, fifo_writer, ipc::sync::poll, Framing>::open(path, 10s);
            anchor.reset();
            return tx;
        }
        auto make_receiver() {
            auto rx = ipc::channel<T, fifo_reader, ipc::sync::poll, Framing>::open(path);
            anchor.reset();
            return rx;
        }
    };
};

// A FIFO made fresh for one test, removed with its directory.
struct fresh_fifo {
    temp_dir dir;
    std::string path = dir / "f";
    fresh_fifo() { fifo::create(path); }
};

std::error_code loop_error() { return std::error_code(ELOOP, std::system_category()); }

}  // namespace

IPC_CONFORMANCE(combo<fifo_setup, fixed>, combo<fifo_setup, length_prefixed>, combo<fifo_setup, delimited>);

TEST_CASE("fifo: a reader that opens first waits for the writer; end of stream only after one came and left") {
    fresh_fifo f;
    gate go;
    ipc::fifo_line_receiver rx(fifo_reader::open(f.path));  // no writer yet: returns at once
    child writer([&] {
        if (!go.wait()) return 1;
        ipc::fifo_line_sender tx(fifo_writer::open(f.path, 5s));
        return tx.send_for("hello", 5s) == ipc::status::ok && tx.send_for("world", 5s) == ipc::status::ok ? 0 : 2;
    });
    std::string line;
    // read(2) would say end of file here; the reader knows no writer has been yet.
    CHECK(rx.try_recv(line) == ipc::status::would_block);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(rx.recv_for(line, 50ms) == ipc::status::timed_out);
    CHECK(ms_since(t0) >= 50.0);
    go.open();
    REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
    CHECK(line == "hello");
    REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
    CHECK(line == "world");
    CHECK(rx.recv_for(line, 5s) == ipc::status::closed);
    CHECK(writer.wait() == child_ok);
}

TEST_CASE("fifo: a blocking receive on a reader that opened first waits for the writer") {
    fresh_fifo f;
    auto rx = ipc::fifo_receiver<int>::open(f.path);
    child writer([&] {
        usleep(50000);
        auto tx = ipc::fifo_sender<int>::open(f.path, 5s);
        return tx.send(42) == ipc::status::ok ? 0 : 1;
    });
    child watchdog([&] {  // bounds the blocking calls below: a writer that comes and goes after 10 s
        usleep(10000000);
        auto w = fifo_writer::open(f.path, 1s);
        return 0;
    });
    int v = 0;
    CHECK(rx.recv(v) == ipc::status::ok);  // not closed, though no writer existed when it started
    CHECK(v == 42);
    CHECK(rx.recv(v) == ipc::status::closed);
    CHECK(writer.wait() == child_ok);
}

TEST_CASE("fifo: a writer that opens first waits, bounded, for a reader") {
    fresh_fifo f;
    auto opening = ipc::pipe_channel<char>::create();  // the child says when it starts to open
    child writer([&] {
        auto t0 = std::chrono::steady_clock::now();
        if (opening.sender.send('!') != ipc::status::ok) return 3;
        auto tx = ipc::fifo_sender<int>::open(f.path, 5s);
        if (ms_since(t0) < 50.0) return 1;  // it did wait for the reader
        return tx.send_for(7, 5s) == ipc::status::ok ? 0 : 2;
    });
    char c = 0;
    REQUIRE(opening.receiver.recv_for(c, 5s) == ipc::status::ok);
    usleep(100000);
    auto rx = ipc::fifo_receiver<int>::open(f.path);
    int v = 0;
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 7);
    CHECK(writer.wait() == child_ok);
}

TEST_CASE_TEMPLATE("fifo: open with a timeout and no peer is timed_out, never early", End, fifo_reader, fifo_writer) {
    fresh_fifo f;
    std::error_code ec;
    auto t0 = std::chrono::steady_clock::now();
    End e = End::open(f.path, 80ms, ec);
    double waited = ms_since(t0);
    CHECK(ec == ipc::errc::timed_out);
    CHECK_FALSE(e.is_open());
    CHECK(waited >= 80.0);
    CHECK(waited < 1000.0);
    CHECK_THROWS_AS(End::open(f.path, 1ms), ipc::error);
    ec.clear();
    CHECK_FALSE(End::open(f.path, ipc::deadline::immediate(), ec).is_open());  // asked not to wait at all
    CHECK(ec == ipc::errc::would_block);
}

TEST_CASE("fifo: a reader opening with a timeout returns once the writer has written") {
    fresh_fifo f;
    child writer([&] {
        ipc::fifo_line_sender tx(fifo_writer::open(f.path, 5s));
        usleep(50000);
        return tx.send_for("late", 5s) == ipc::status::ok ? 0 : 1;
    });
    auto t0 = std::chrono::steady_clock::now();
    ipc::fifo_line_receiver rx(fifo_reader::open(f.path, 5s));
    CHECK(ms_since(t0) < 4000.0);
    std::string line;
    CHECK(rx.try_recv(line) == ipc::status::ok);
    CHECK(line == "late");
    CHECK(writer.wait() == child_ok);
}

TEST_CASE("fifo: a writer that wrote and left before the reader read is data, then end of stream") {
    fresh_fifo f;
    ipc::fifo_line_receiver rx(fifo_reader::open(f.path));
    child shell([&] {  // what `echo hi > fifo` does: open, write, close
        ipc::fifo_line_sender tx(fifo_writer::open(f.path, 5s));
        return tx.send_for("hi", 5s) == ipc::status::ok ? 0 : 1;
    });
    REQUIRE(shell.wait() == child_ok);
    std::string line;
    REQUIRE(rx.try_recv(line) == ipc::status::ok);
    CHECK(line == "hi");
    CHECK(rx.try_recv(line) == ipc::status::closed);
}

// Writers one after another, as `echo first > f; echo second > f` would be.
TEST_CASE("fifo: a reader that chose eos::never waits for the next writer instead of reporting closed") {
    fresh_fifo f;
    ipc::fifo_line_receiver rx(fifo_reader::open(f.path));
    CHECK(rx.transport().end_of_stream() == ipc::eos::when_all_senders_left);
    rx.transport().end_of_stream(ipc::eos::never);
    CHECK(rx.transport().end_of_stream() == ipc::eos::never);
    auto writer = [&](const char* text, std::chrono::milliseconds after) {
        return child([&f, text, after] {
            std::this_thread::sleep_for(after);
            ipc::fifo_line_sender tx(fifo_writer::open(f.path, 5s));
            return tx.send_for(text, 5s) == ipc::status::ok ? 0 : 1;
        });
    };
    child first = writer("first", 0ms);
    REQUIRE(first.wait() == child_ok);  // it came, wrote and left
    std::string line;
    REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
    CHECK(line == "first");
    CHECK(rx.try_recv(line) == ipc::status::would_block);  // not closed, though every writer left
    child second = writer("second", 200ms);
    REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);  // parked across the gap between writers
    CHECK(line == "second");
    CHECK(second.wait() == child_ok);
    CHECK(rx.recv_for(line, 50ms) == ipc::status::timed_out);
    // Back to the default: writers came and all left, so that is the end.
    rx.transport().end_of_stream(ipc::eos::when_all_senders_left);
    CHECK(rx.try_recv(line) == ipc::status::closed);
}

TEST_CASE("fifo: `printf 'a\nb' > fifo`: the last line, without its newline, is delivered as cat would") {
    fresh_fifo f;
    child shell([&] {
        ::execl("/bin/sh", "sh", "-c", "printf 'a\\nlast' > \"$0\"", f.path.c_str(), static_cast<char*>(nullptr));
        return 127;
    });
    ipc::fifo_line_receiver rx(fifo_reader::open(f.path));
    std::string line;
    REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
    CHECK(line == "a");
    REQUIRE(rx.recv_for(line, 5s) == ipc::status::ok);
    CHECK(line == "last");
    CHECK(rx.recv_for(line, 5s) == ipc::status::closed);
    CHECK(shell.wait() == child_ok);
}

TEST_CASE("fifo: create refuses an existing path of any kind") {
    temp_dir dir;
    std::error_code ec;
    const std::string p = dir / "f";
    CHECK(fifo::create(p, ec));
    CHECK_FALSE(fifo::create(p, ec));
    CHECK(ec == ipc::errc::already_exists);
    CHECK_THROWS_AS(fifo::create(p), ipc::error);

    const std::string file = dir / "file";
    std::ofstream(file) << "data";
    ec.clear();
    CHECK_FALSE(fifo::create(file, ec));
    CHECK(ec == ipc::errc::already_exists);

    const std::string dangling = dir / "dangling";
    REQUIRE(::symlink((dir / "target").c_str(), dangling.c_str()) == 0);
    ec.clear();
    CHECK_FALSE(fifo::create(dangling, ec));
    CHECK(ec == ipc::errc::already_exists);
    CHECK_FALSE(std::filesystem::exists(dir / "target"));  // not created through the link
}

TEST_CASE("fifo: the mode is exactly the one asked for, whatever the umask") {
    temp_dir dir;
    struct stat st {};
    mode_t old = ::umask(0);
    fifo::create(dir / "default");
    REQUIRE(::stat((dir / "default").c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));
    CHECK((st.st_mode & 07777) == 0600);
    ::umask(077);
    fifo::create(dir / "shared", ipc::permissions{0660});
    REQUIRE(::stat((dir / "shared").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0660);
    ::umask(old);
}

TEST_CASE("fifo: a path that is not a FIFO is refused before anything is read or written") {
    temp_dir dir;
    std::error_code ec;
    const std::string file = dir / "file";
    std::ofstream(file) << "precious";
    SUBCASE("a regular file") {
        CHECK_FALSE(fifo_reader::open(file, ec).is_open());
        CHECK(ec == ipc::errc::bad_message);
        ec.clear();
        CHECK_FALSE(fifo_writer::open(file, 50ms, ec).is_open());
        CHECK(ec == ipc::errc::bad_message);
        ec.clear();
        CHECK_FALSE(fifo::remove(file, ec));
        CHECK(ec == ipc::errc::bad_message);
        CHECK(std::filesystem::file_size(file) == 8);
    }
    SUBCASE("a directory") {
        CHECK_FALSE(fifo_reader::open(dir.path().string(), ec).is_open());
        CHECK(ec == ipc::errc::bad_message);
        CHECK_THROWS_AS((void)fifo_reader::open(dir.path().string()), ipc::error);
    }
    SUBCASE("a missing path") {
        CHECK_FALSE(fifo_reader::open(dir / "none", ec).is_open());
        CHECK(ec == ipc::errc::not_found);
        ec.clear();
        CHECK_FALSE(fifo_writer::open(dir / "none", 5s, ec).is_open());  // at once, not after 5 s
        CHECK(ec == ipc::errc::not_found);
    }
}

TEST_CASE("fifo: a symlink planted at the path is not followed") {
    fresh_fifo real;
    temp_dir dir;
    const std::string link = dir / "link";
    REQUIRE(::symlink(real.path.c_str(), link.c_str()) == 0);
    std::error_code ec;
    CHECK_FALSE(fifo_reader::open(link, ec).is_open());
    CHECK(ec == loop_error());
    ec.clear();
    CHECK_FALSE(fifo_writer::open(link, 50ms, ec).is_open());
    CHECK(ec == loop_error());
    ec.clear();
    CHECK_FALSE(fifo::remove(link, ec));
    CHECK(ec == loop_error());
    CHECK(std::filesystem::is_symlink(link));
    CHECK(std::filesystem::is_fifo(real.path));
}

TEST_CASE("fifo: bad paths are name_invalid everywhere") {
    temp_dir dir;
    const std::string too_long(PATH_MAX, 'a');
    const std::string long_component = dir / std::string(NAME_MAX + 1, 'a');
    const std::string with_nul = dir / std::string("a\0b", 3);
    for (const std::string& p : {std::string(), too_long, long_component, with_nul, dir / "sub/", dir / ".", dir / "..",
                                 std::string("/")}) {
        INFO("path: ", p);
        std::error_code ec;
        CHECK_FALSE(fifo::create(p, ec));
        CHECK(ec == ipc::errc::name_invalid);
        ec.clear();
        CHECK_FALSE(fifo_reader::open(p, ec).is_open());
        CHECK(ec == ipc::errc::name_invalid);
        ec.clear();
        CHECK_FALSE(fifo_writer::open(p, 10ms, ec).is_open());
        CHECK(ec == ipc::errc::name_invalid);
        ec.clear();
        CHECK_FALSE(fifo::remove(p, ec));
        CHECK(ec == ipc::errc::name_invalid);
    }
    // A name of exactly NAME_MAX characters is fine.
    const std::string longest = dir / std::string(NAME_MAX, 'b');
    CHECK_NOTHROW(fifo::create(longest));
    CHECK(fifo::remove(longest));
}

TEST_CASE("fifo: remove unlinks once, then reports that nothing is there") {
    temp_dir dir;
    const std::string p = dir / "f";
    fifo::create(p);
    CHECK(fifo::remove(p));
    CHECK_FALSE(std::filesystem::exists(p));
    std::error_code ec;
    CHECK_FALSE(fifo::remove(p, ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(fifo::remove(p));
}

TEST_CASE("fifo: open descriptors are close-on-exec and none leak") {
    fresh_fifo f;
    const int before = open_fd_count();
    {
        auto r = fifo_reader::open(f.path);
        auto w = fifo_writer::open(f.path, 1s);
        CHECK((::fcntl(r.native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
        CHECK((::fcntl(w.native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
        // The descriptors themselves block: a plain recv is one read(2).
        CHECK((::fcntl(r.native_handle(), F_GETFL) & O_NONBLOCK) == 0);
        CHECK((::fcntl(w.native_handle(), F_GETFL) & O_NONBLOCK) == 0);
        ipc::fifo_sender<int> tx(std::move(w));
        ipc::fifo_receiver<int> rx(std::move(r));
        CHECK(tx.try_send(1) == ipc::status::ok);
        int v = 0;
        CHECK(rx.try_recv(v) == ipc::status::ok);
        CHECK(rx.try_recv(v) == ipc::status::would_block);
        std::error_code ec;
        (void)fifo_writer::open(f.path, 1ms, ec);
        (void)fifo_reader::open(f.path + "/x", ec);  // ENOTDIR
    }
    CHECK(open_fd_count() == before);
}
