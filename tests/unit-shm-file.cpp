// A ring in an mmap'd file: the conformance suite, and messages that outlive
// the processes that sent them, read by the next run.
#include <ipc/channel.hpp>

#include <sys/stat.h>

#include <filesystem>

#include "ring_support.hpp"

namespace {

using namespace ipc_test;
template <class T>
using file = ipc::transport::mapped_file<T>;

// Like named_setup, but the name is a path in a private directory.
struct file_setup {
    static constexpr const char* name = "mapped_file+futex";
    static constexpr bool reports_close = true;
    static constexpr std::size_t max_message = 8000;
    template <class T, class Framing>
    struct ends : region_ends<ends<T, Framing>, T, file<ring_for<T>>, ipc::sync::futex, Framing> {
        using transport = file<ring_for<T>>;
        temp_dir dir;
        std::string path = dir / "ring";
        ends() { transport::create(path, conformance_capacity<T>); }
        transport open() { return transport::open(path); }
    };
};

using ring = file<ipc::ring::spsc<record>>;
using channel = ipc::mapped_file_channel<record>;

}  // namespace

IPC_CONFORMANCE(combo<file_setup, ipc::framing::fixed>, combo<file_setup, ipc::framing::length_prefixed>);

TEST_CASE("mapped_file: messages survive both processes and are read by the next run") {
    temp_dir dir;
    const std::string path = dir / "queue";
    child first_run([&] {
        auto tx = channel::open_or_create(path, 64);
        for (std::uint64_t i = 0; i < 40; ++i)
            if (tx.try_send(make_msg<record>(i, 0)) != ipc::status::ok) return 1;
        return 0;
    });
    REQUIRE(first_run.wait() == child_ok);
    child second_run([&] {  // reads half, leaves the rest, and adds more
        auto ch = channel::open_or_create(path, 64);
        record r{};
        for (std::uint64_t i = 0; i < 20; ++i)
            if (ch.try_recv(r) != ipc::status::ok || !is_msg(i, r, 0)) return 1;
        for (std::uint64_t i = 40; i < 50; ++i)
            if (ch.try_send(make_msg<record>(i, 0)) != ipc::status::ok) return 2;
        return 0;
    });
    REQUIRE(second_run.wait() == child_ok);
    auto rx = channel::open(path);
    record r{};
    for (std::uint64_t i = 20; i < 50; ++i) {
        REQUIRE(rx.try_recv(r) == ipc::status::ok);
        CHECK(is_msg(i, r, 0));
    }
    CHECK(rx.try_recv(r) == ipc::status::closed);  // every sender has left
}

TEST_CASE("mapped_file: created 0600 with O_EXCL, never through a symlink, removed by remove()") {
    temp_dir dir;
    const std::string path = dir / "q";
    { auto made = ring::create(path, 8); }
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    std::error_code ec;
    auto again = ring::create(path, 8, ec);
    CHECK(ec == ipc::errc::already_exists);

    const std::string link = dir / "link";
    std::filesystem::create_symlink(path, link);
    ec.clear();
    auto via_link = ring::open(link, ec);
    CHECK(ec);  // ELOOP: a symlink is not followed
    CHECK_FALSE(via_link.is_open());

    CHECK(ring::remove(path));
    CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("mapped_file: a file that is not a ring is refused") {
    temp_dir dir;
    const std::string path = dir / "text";
    {
        std::FILE* f = std::fopen(path.c_str(), "w");
        REQUIRE(f);
        for (int i = 0; i < 1000; ++i) std::fputs("not a ring at all\n", f);
        std::fclose(f);
    }
    std::error_code ec;
    auto r = ring::open(path, ec);
    CHECK(ec == ipc::errc::corrupt);
    ec.clear();
    auto empty_file = ring::open(dir / "missing", ec);
    CHECK(ec == ipc::errc::not_found);
}
