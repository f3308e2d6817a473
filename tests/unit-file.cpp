// Files: an append-only log of framed messages shared by writer processes and
// replayed or followed by readers; and file locks as an inter-process mutex.
#include <ipc/channel.hpp>

#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <vector>

#include "conformance.hpp"

namespace {

using namespace ipc_test;
using ipc::framing::delimited;
using ipc::framing::fixed;
using ipc::framing::length_prefixed;
using ipc::transport::file_end;

// A log file that a tail-following reader reads while the writer appends.
struct file_follow_setup {
    static constexpr const char* name = "file (follow)";
    static constexpr bool reports_close = false;  // a follower waits for more, it never sees an end
    static constexpr std::size_t max_message = 1 << 16;

    template <class T, class Framing>
    struct ends {
        temp_dir dir;
        std::string path = dir / "log";
        ends() { ipc::transport::file_writer::create(path); }
        auto make_sender() {
            return ipc::channel<T, ipc::transport::file_writer, ipc::sync::file_lock, Framing>(
                ipc::transport::file_writer::open(path));
        }
        auto make_receiver() {
            return ipc::channel<T, ipc::transport::file_reader, ipc::sync::poll, Framing>(
                ipc::transport::file_reader::open(path, file_end::follow));
        }
    };
};

// The same with flock(2) instead of open-file-description locks.
struct file_flock_setup : file_follow_setup {
    static constexpr const char* name = "file (flock)";
    template <class T, class Framing>
    struct ends : file_follow_setup::ends<T, Framing> {
        auto make_sender() {
            return ipc::file_sender<T, Framing>::open(this->path, ipc::sync::file_lock(ipc::sync::file_lock_kind::flock));
        }
    };
};

// Appends raw bytes, as a foreign, buggy or hostile program would.
void append_raw(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

std::string le32(std::uint32_t n) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(n >> (8 * i));
    return s;
}

// Message `seq` of writer `w`: its length and bytes derive from both, so a
// reader can tell a whole message from a piece of one or a mix of two.
std::string writer_msg(int w, int seq) {
    std::size_t len = 16 + static_cast<std::size_t>(mix(static_cast<std::uint64_t>(w * 100000 + seq)) % 200000);
    std::string s = std::to_string(w) + ":" + std::to_string(seq) + ":";
    char fill = static_cast<char>('a' + (w * 7 + seq) % 26);
    s.resize(len, fill);
    return s;
}

}  // namespace

IPC_CONFORMANCE(combo<file_follow_setup, fixed>, combo<file_follow_setup, length_prefixed>,
                combo<file_follow_setup, delimited>, combo<file_flock_setup, length_prefixed>);

TEST_CASE("file log: several writer processes never interleave a message, and a later process replays them") {
    temp_dir dir;
    const std::string path = dir / "log";
    constexpr int writers = 4, per_writer = 60;  // messages up to 200 KB: far more than one write is atomic for
    ipc::file_sender<std::string>(ipc::transport::file_writer::create(path));
    std::vector<child> kids;
    for (int w = 0; w < writers; ++w)
        kids.emplace_back([&, w] {
            auto tx = ipc::file_sender<std::string>::open(path);
            for (int i = 0; i < per_writer; ++i)
                if (tx.send_for(writer_msg(w, i), 10s) != ipc::status::ok) return 1;
            return 0;
        });
    for (auto& k : kids) REQUIRE(k.wait() == child_ok);

    child replay([&] {
        auto rx = ipc::file_receiver<std::string>::open(path);
        int next[writers] = {};
        std::string m;
        for (int n = 0; n < writers * per_writer; ++n) {
            if (rx.recv_for(m, 5s) != ipc::status::ok) return 10;
            int w = m[0] - '0';
            if (w < 0 || w >= writers) return 11;
            if (m != writer_msg(w, next[w])) return 12;  // torn, mixed, or out of the writer's order
            ++next[w];
        }
        return rx.recv_for(m, 5s) == ipc::status::closed ? 0 : 13;
    });
    CHECK(replay.wait() == child_ok);
}

TEST_CASE("file log: a reader resumes from the offset where it stopped") {
    temp_dir dir;
    const std::string path = dir / "log";
    {
        auto tx = ipc::file_sender<std::string, delimited>::create(path);
        for (int i = 0; i < 20; ++i) REQUIRE(tx.send("line " + std::to_string(i)) == ipc::status::ok);
        CHECK(tx.transport().size() > 0);
    }
    std::uint64_t pos = 0;
    std::string m;
    {
        auto rx = ipc::file_receiver<std::string, delimited>::open(path);
        for (int i = 0; i < 7; ++i) REQUIRE(rx.recv(m) == ipc::status::ok);
        CHECK(m == "line 6");
        pos = ipc::file_position(rx);
        CHECK(pos < rx.transport().offset() + 1);  // delimited reads ahead; the position does not
    }
    child resumer([&] {
        auto rx = ipc::file_receiver<std::string, delimited>::open(path, file_end::closed, pos);
        std::string got;
        for (int i = 7; i < 20; ++i)
            if (rx.recv_for(got, 5s) != ipc::status::ok || got != "line " + std::to_string(i)) return 1;
        return rx.recv_for(got, 5s) == ipc::status::closed ? 0 : 2;
    });
    CHECK(resumer.wait() == child_ok);
}

TEST_CASE("file log: a follower sees a frame only when it is whole") {
    temp_dir dir;
    const std::string path = dir / "log";
    ipc::transport::file_writer::create(path);
    auto rx = ipc::file_receiver<std::string>::open(path, file_end::follow);
    std::string m;
    append_raw(path, le32(5) + "he");
    CHECK(rx.recv_for(m, 30ms) == ipc::status::timed_out);
    gate g;
    child finisher([&] {
        g.wait();
        append_raw(path, "llo");
        return 0;
    });
    g.open();
    ::alarm(10);  // bounds the plain blocking call: a hang ends the test run with SIGALRM
    REQUIRE(rx.recv(m) == ipc::status::ok);  // a blocking follower waits on inotify inside the read
    ::alarm(0);
    CHECK(m == "hello");
    CHECK(finisher.wait() == child_ok);
    CHECK(rx.try_recv(m) == ipc::status::would_block);
}

TEST_CASE("file log: a writer killed inside a write leaves no torn frame: the next writer finishes it") {
    temp_dir dir;
    const std::string path = dir / "log";
    ipc::transport::file_writer::create(path);
    // Big enough that the write takes many page copies, during which SIGKILL lands.
    constexpr std::size_t big = std::size_t{32} << 20;
    const length_prefixed framing(big);
    auto pattern = [] {
        std::string s(big, ' ');
        for (std::size_t i = 0; i < big; ++i) s[i] = static_cast<char>('a' + i % 26);
        return s;
    };
    auto log_size = [&] {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
    };
    child victim([&] {
        ipc::file_sender<std::string> tx(ipc::transport::file_writer::open(path), framing);
        return tx.send(pattern()) == ipc::status::ok ? 0 : 1;
    });
    const auto t0 = std::chrono::steady_clock::now();
    while (log_size() < (std::size_t{1} << 20) && ms_since(t0) < 10000) {
    }
    ::kill(victim.pid(), SIGKILL);
    CHECK(victim.wait() == -SIGKILL);
    REQUIRE_MESSAGE(log_size() < big + length_prefixed::header_size, "the write finished before the kill; the test proves nothing");

    ipc::file_sender<std::string> tx(ipc::transport::file_writer::open(path), framing);
    REQUIRE(tx.send_for(std::string("after"), 10s) == ipc::status::ok);
    ipc::file_receiver<std::string> rx(ipc::transport::file_reader::open(path), framing);
    std::string m;
    REQUIRE(rx.recv_for(m, 10s) == ipc::status::ok);
    CHECK((m == pattern()));  // the killed writer's message, whole (it may or may not have counted as sent)
    REQUIRE(rx.recv_for(m, 10s) == ipc::status::ok);
    CHECK(m == "after");
    CHECK(rx.recv_for(m, 10s) == ipc::status::closed);
}

TEST_CASE("file log: lying, corrupt and truncated content is an error, not a crash") {
    temp_dir dir;
    const std::string path = dir / "log";
    std::error_code ec;
    std::string m;
    SUBCASE("a length prefix over the maximum") {
        append_raw(path, le32(0xfffffff0u) + "xx");
        auto rx = ipc::file_receiver<std::string>::open(path);
        CHECK(rx.recv(m, ec) == ipc::status::failed);
        CHECK(ec == ipc::errc::message_too_large);
        CHECK(rx.recv(m, ec) == ipc::status::failed);  // the stream stays refused
    }
    SUBCASE("a frame cut short by the end of the file") {
        append_raw(path, le32(3) + "abc" + le32(100) + "only ten..");
        auto rx = ipc::file_receiver<std::string>::open(path);
        REQUIRE(rx.recv(m) == ipc::status::ok);
        CHECK(m == "abc");
        CHECK(rx.recv(m, ec) == ipc::status::failed);
        CHECK(ec == ipc::errc::truncated);
    }
    SUBCASE("fixed records with a torn last record") {
        record r = make_msg<record>(1, 0);
        append_raw(path, std::string(reinterpret_cast<const char*>(&r), sizeof r) + "torn");
        auto rx = ipc::file_receiver<record>::open(path);
        REQUIRE(rx.recv(r) == ipc::status::ok);
        CHECK(is_msg(1, r, 0));
        CHECK_THROWS_AS((void)rx.recv(r), ipc::error);
    }
    SUBCASE("random garbage") {
        std::string junk;
        for (std::uint64_t i = 0; i < 4096; ++i) junk += static_cast<char>(mix(i));
        append_raw(path, junk);
        auto rx = ipc::file_receiver<std::string>::open(path);
        ipc::status st = ipc::status::ok;
        for (int i = 0; i < 10000 && st == ipc::status::ok; ++i) st = rx.recv(m, ec);
        CHECK(st == ipc::status::failed);
        CHECK(ec);
    }
    SUBCASE("a log truncated under a follower") {
        append_raw(path, le32(3) + "abc");
        auto rx = ipc::file_receiver<std::string>::open(path, file_end::follow);
        REQUIRE(rx.recv_for(m, 1s) == ipc::status::ok);
        REQUIRE(::truncate(path.c_str(), 0) == 0);
        CHECK(rx.recv_for(m, 1s, ec) == ipc::status::failed);
        CHECK(ec == ipc::errc::bad_message);
    }
}

TEST_CASE("file log: opening is safe: 0600, O_EXCL, no symlinks, regular files only") {
    temp_dir dir;
    const std::string path = dir / "log";
    auto w = ipc::transport::file_writer::create(path);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    std::error_code ec;
    auto again = ipc::transport::file_writer::create(path, ec);
    CHECK(ec == ipc::errc::already_exists);
    auto missing = ipc::transport::file_writer::open(dir / "missing", ec);
    CHECK(ec == ipc::errc::not_found);

    REQUIRE(::symlink(path.c_str(), (dir / "link").c_str()) == 0);
    auto via_link = ipc::transport::file_writer::open(dir / "link", ec);
    CHECK(ec == std::errc::too_many_symbolic_link_levels);
    auto read_link = ipc::transport::file_reader::open(dir / "link", file_end::closed, 0, ec);
    CHECK(ec == std::errc::too_many_symbolic_link_levels);
    auto mutex_link = ipc::file_mutex::open(dir / "link", ipc::sync::file_lock_kind::ofd, ec);
    CHECK(ec == std::errc::too_many_symbolic_link_levels);

    REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
    auto fifo = ipc::transport::file_reader::open(dir / "fifo", file_end::closed, 0, ec);
    CHECK(ec == std::errc::invalid_argument);

    CHECK(ipc::transport::file_writer::remove(path));
    CHECK_FALSE(ipc::transport::file_writer::remove(path));
}

TEST_CASE("file log: a writer facing another's lock says would_block, then timed_out, never early") {
    temp_dir dir;
    const std::string path = dir / "log";
    auto tx = ipc::file_sender<std::string>::create(path);
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    gate done;
    child holder([&] {
        ::close(ready[0]);
        auto m = ipc::file_mutex::open(path);
        std::lock_guard hold(m);
        char c = 'x';
        if (::write(ready[1], &c, 1) != 1) return 1;
        done.wait();
        return 0;
    });
    ::close(ready[1]);
    char c;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
    CHECK(tx.try_send("x") == ipc::status::would_block);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(tx.send_for("x", 40ms) == ipc::status::timed_out);
    CHECK(ms_since(t0) >= 40.0);
    CHECK(tx.transport().size() == 0);  // nothing was written while the lock was held elsewhere
    done.open();
    CHECK(holder.wait() == child_ok);
    CHECK(tx.send_for("x", 5s) == ipc::status::ok);
}

TEST_CASE_TEMPLATE_DEFINE("file_mutex: an inter-process mutex", K, file_mutex_kinds) {
    constexpr ipc::sync::file_lock_kind kind = K::value;
    temp_dir dir;
    const std::string path = dir / "lock";
    auto m = ipc::file_mutex::create(path, kind);

    SUBCASE("std::lock_guard keeps a shared counter consistent across processes") {
        const std::string counter = dir / "counter";
        append_raw(counter, std::string(8, '\0'));
        auto bump = [&] {
            auto mine = ipc::file_mutex::open(path, kind);
            for (int i = 0; i < 200; ++i) {
                std::lock_guard g(mine);
                std::fstream f(counter, std::ios::in | std::ios::out | std::ios::binary);
                std::uint64_t v = 0;
                f.read(reinterpret_cast<char*>(&v), 8);
                ++v;
                f.seekp(0);
                f.write(reinterpret_cast<const char*>(&v), 8);
            }
            return 0;
        };
        child a(bump), b(bump);
        CHECK(a.wait() == child_ok);
        CHECK(b.wait() == child_ok);
        std::ifstream f(counter, std::ios::binary);
        std::uint64_t v = 0;
        f.read(reinterpret_cast<char*>(&v), 8);
        CHECK(v == 400);
    }
    SUBCASE("the kernel releases the lock of a holder killed by SIGKILL") {
        int ready[2];
        REQUIRE(::pipe(ready) == 0);
        child holder([&] {
            ::close(ready[0]);
            auto mine = ipc::file_mutex::open(path, kind);
            mine.lock();
            char c = 'x';
            if (::write(ready[1], &c, 1) != 1) return 1;
            ::pause();
            return 2;
        });
        ::close(ready[1]);
        char c;
        REQUIRE(::read(ready[0], &c, 1) == 1);
        ::close(ready[0]);
        CHECK_FALSE(m.try_lock());
        auto t0 = std::chrono::steady_clock::now();
        CHECK_FALSE(m.try_lock_for(30ms));
        CHECK(ms_since(t0) >= 30.0);
        std::error_code ec;
        CHECK_FALSE(m.try_lock_until(std::chrono::steady_clock::now() + 5ms, ec));
        CHECK(ec == ipc::errc::timed_out);
        ::kill(holder.pid(), SIGKILL);
        CHECK(holder.wait() == -SIGKILL);
        CHECK(m.try_lock_for(5s));
        m.unlock();
    }
    if constexpr (kind != ipc::sync::file_lock_kind::process) {
        SUBCASE("two objects in one process exclude each other (the lock belongs to the open file)") {
            auto other = ipc::file_mutex::open(path, kind);
            std::unique_lock hold(m);
            CHECK_FALSE(other.try_lock());
            hold.unlock();
            CHECK(other.try_lock());
            other.unlock();
        }
    }
    CHECK(ipc::file_mutex::remove(path));
}

TEST_CASE_TEMPLATE_INVOKE(file_mutex_kinds, std::integral_constant<ipc::sync::file_lock_kind, ipc::sync::file_lock_kind::ofd>,
                          std::integral_constant<ipc::sync::file_lock_kind, ipc::sync::file_lock_kind::process>,
                          std::integral_constant<ipc::sync::file_lock_kind, ipc::sync::file_lock_kind::flock>);
