// What a failure says: the object's name, the rule it broke, the value and the
// limit, in the exception's message and, for the error_code twins, in
// ipc::last_error_detail(ec). And one rule for remove(name) of what is not there.
#include <ipc/channel.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "support.hpp"

namespace {

using namespace ipc_test;

struct point {
    int x, y;
};

// The message of the ipc::error f throws ("" if none, so a CHECK names the miss).
template <class F>
std::string thrown_by(F&& f) {
    try {
        f();
    } catch (const ipc::error& e) {
        return e.what();
    }
    return "";
}

bool has(const std::string& text, const std::string& words) { return text.find(words) != std::string::npos; }

// Removes a POSIX shm ring when the test ends.
struct shm_name {
    std::string name = unique_name("words");
    ~shm_name() { (void)ipc::transport::posix_shm<ipc::ring::spsc<int>>::remove(name); }
};

}  // namespace

TEST_CASE("error words: a capacity that is not a power of two says so, with the value and the region's name") {
    shm_name r;
    const std::string what = thrown_by([&] { (void)ipc::shm_channel<point>::create(r.name, 1000); });
    CHECK_MESSAGE(has(what, "posix_shm::create: '" + r.name + "'"), what);
    CHECK_MESSAGE(has(what, "capacity must be a power of two (spsc ring: 1000 slots given)"), what);

    std::error_code ec;
    auto ch = ipc::shm_message_channel<>::create(r.name, 32, ec);  // a power of two, below the bytes ring's minimum
    CHECK(ec == ipc::errc::limit_exceeded);
    CHECK_FALSE(ch.transport().is_open());
    const std::string words(ipc::last_error_detail(ec));
    CHECK_MESSAGE(has(words, "capacity 32 bytes is below the bytes ring's minimum of 64"), words);

    const std::string memfd = thrown_by([] { (void)ipc::memfd_channel<point>::create(3); });
    CHECK_MESSAGE(has(memfd, "memfd::create: capacity must be a power of two (spsc ring: 3 slots given)"), memfd);
}

TEST_CASE("error words: layout_mismatch names the field that differs, with the region's value and the program's") {
    shm_name r;
    auto made = ipc::shm_channel<std::int32_t>::create(r.name, 8);
    // Another process, built with other types, opens the name.
    child opener([&] {
        const auto open_as = [&](auto channel_tag) {
            using channel = typename decltype(channel_tag)::type;
            return thrown_by([&] { (void)channel::open(r.name); });
        };
        struct wide {
            std::int64_t v;
        };
        const std::string size = open_as(std::type_identity<ipc::shm_channel<wide>>{});
        const std::string type = open_as(std::type_identity<ipc::shm_channel<float>>{});
        const std::string kind = open_as(std::type_identity<ipc::shm_mpmc_channel<std::int32_t>>{});
        int failed = 0;
        if (!has(size, "posix_shm::open: '" + r.name + "': sizeof(T) differs: the region has 4, this program expects 8")) failed |= 1;
        if (!has(type, "type tag differs: the region has 0x")) failed |= 4;
        if (!has(kind, "ring kind differs: the region is a spsc ring, this program expects mpmc")) failed |= 8;
        if (failed) std::fprintf(stderr, "%s\n%s\n%s\n", size.c_str(), type.c_str(), kind.c_str());
        return failed;
    });
    CHECK(opener.wait() == child_ok);
}

TEST_CASE("error words: alignof and the layout version are named as well") {
    // A region in plain memory, then its header changed as another version of ipc would have written it.
    struct alignas(64) region {
        std::byte bytes[8192];
    };
    auto mem = std::make_unique<region>();
    using ring = ipc::ring::spsc<std::int64_t>;
    std::error_code ec;
    REQUIRE(ipc::ring::required_size<ring>(8) <= sizeof mem->bytes);
    (void)ipc::ring::format<ring>(mem->bytes, 8, ec);
    REQUIRE_FALSE(ec);

    (void)ipc::ring::attach<ipc::ring::spsc<double>>(mem->bytes, ec);  // same size and alignment: the tag differs
    CHECK(ec == ipc::errc::layout_mismatch);
    struct alignas(4) two_ints {
        std::int32_t a, b;
    };
    (void)ipc::ring::attach<ipc::ring::spsc<two_ints>>(mem->bytes, ec);
    std::string words(ipc::last_error_detail(ec));
    CHECK_MESSAGE(has(words, "alignof(T) differs: the region has 8, this program expects 4"), words);

    reinterpret_cast<ipc::ring::header*>(mem->bytes)->version = ipc::ring::layout_version + 1;
    (void)ipc::ring::attach<ring>(mem->bytes, ec);
    words = ipc::last_error_detail(ec);
    CHECK_MESSAGE(has(words, "layout version differs: the region has " + std::to_string(ipc::ring::layout_version + 1) +
                                 ", this program expects " + std::to_string(ipc::ring::layout_version)),
                  words);
}

TEST_CASE("error words: name_invalid says which naming rule the name broke, and the limit") {
    const std::string slash = thrown_by([] { (void)ipc::shm_channel<point>::create("jobs/today", 64); });
    CHECK_MESSAGE(has(slash, "name 'jobs/today': character '/' at position 4 is not allowed (a name is 1 to 200 characters of [A-Za-z0-9._-])"),
                  slash);
    const std::string long_name = thrown_by([] { (void)ipc::shm_channel<point>::open(std::string(201, 'n')); });
    CHECK_MESSAGE(has(long_name, "has 201 characters; a name is 1 to 200 characters"), long_name);

    const std::string space = thrown_by([] { (void)ipc::transport::posix_mq::open("/my queue"); });
    CHECK_MESSAGE(has(space, "name '/my queue': character 0x20 at position 3 is not allowed (a name is 1 to 255 characters"), space);
    const std::string dots = thrown_by([] { (void)ipc::sem::posix_semaphore::open(".."); });
    CHECK_MESSAGE(has(dots, "name '..' is not allowed"), dots);

    std::error_code ec;
    (void)ipc::transport::file_writer::create("../escape.log", ec);
    CHECK(ec == ipc::errc::name_invalid);
    std::string words(ipc::last_error_detail(ec));
    CHECK_MESSAGE(has(words, "path '../escape.log' has a \"..\" component"), words);
    (void)ipc::file_mutex::create("/tmp/", ec);
    words = ipc::last_error_detail(ec);
    CHECK_MESSAGE(has(words, "path '/tmp/' does not end in a file name"), words);
}

TEST_CASE("error words: a failed open names the object") {
    const std::string name = unique_name("absent");
    const std::string mq = thrown_by([&] { (void)ipc::posix_mq_channel<int>::open("/" + name); });
    CHECK_MESSAGE(has(mq, "posix_mq::open: '/" + name + "'"), mq);
    const std::string sem = thrown_by([&] { (void)ipc::sem::posix_semaphore::open(name); });
    CHECK_MESSAGE(has(sem, "posix_semaphore::open: '" + name + "'"), sem);
    const std::string shm = thrown_by([&] { (void)ipc::shm_channel<point>::open(name); });
    CHECK_MESSAGE(has(shm, "posix_shm::open: '" + name + "'"), shm);
    const std::string mutex = thrown_by([&] { (void)ipc::sem::robust_mutex::open(name); });
    CHECK_MESSAGE(has(mutex, "robust_mutex::open: '" + name + "'"), mutex);
    const std::string queue = thrown_by([] { (void)ipc::transport::sysv_mq::open(ipc::transport::sysv_key(0x7a11ed)); });
    CHECK_MESSAGE(has(queue, "sysv_mq::open: 'key 0x7a11ed'"), queue);

    temp_dir dir;
    const std::string log = thrown_by([&] { (void)ipc::file_receiver<std::string>::open(dir / "none.log"); });
    CHECK_MESSAGE(has(log, "file_reader::open: '" + (dir / "none.log") + "'"), log);
}

TEST_CASE("error words: remove(name) of what is not there is false, never an error, for every named kind") {
    const std::string name = unique_name("gone");
    temp_dir dir;
    std::error_code ec = std::make_error_code(std::errc::io_error);  // each twin clears it
    CHECK_FALSE(ipc::transport::posix_shm<ipc::ring::spsc<int>>::remove(name, ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(ipc::transport::sysv_shm<ipc::ring::spsc<int>>::remove(name, ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(ipc::transport::mapped_file<ipc::ring::spsc<int>>::remove(dir / "ring", ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(ipc::transport::posix_mq::remove(name, ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(ipc::transport::sysv_mq::remove(ipc::transport::sysv_key(0x7a11ed), ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(ipc::sem::posix_semaphore::remove(name, ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(ipc::sem::sysv_semaphore::remove(0x7a11ed, ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(ipc::sem::robust_mutex::remove(name, ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(ipc::file_mutex::remove(dir / "lock", ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(ipc::transport::file_writer::remove(dir / "log", ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(ipc::transport::fifo::remove(dir / "fifo", ec));
    CHECK_FALSE(ec);
    // The throwing forms say the same, without throwing.
    CHECK_FALSE(ipc::shm_channel<int>::remove(name));
    CHECK_FALSE(ipc::posix_mq_channel<int>::remove(name));
    CHECK_FALSE(ipc::sem::sysv_semaphore::remove(0x7a11ed));
    CHECK_FALSE(ipc::file_mutex::remove(dir / "lock"));
}
