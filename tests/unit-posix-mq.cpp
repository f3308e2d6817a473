// POSIX message queues: the conformance suite, then priorities, sharing,
// limits, names and a conversation with a program that uses only mq_* calls.
#include <ipc/channel.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <set>

#include "queue_support.hpp"

// The largest single allocation since a test reset it: a receive buffer
// shows here (operator new is replaced for this test binary).
#include "counting_new.hpp"

namespace {

using namespace ipc_test;
using ipc::transport::mq_access;
using ipc::posix_mq_channel;
using ipc::transport::posix_mq;
using ipc::transport::posix_mq_options;

// Every queue name a test used; the last test checks that none is left.
std::set<std::string>& used_names() {
    static std::set<std::string> names;
    return names;
}

// A fresh queue name, removed when the test ends (forked children _exit, so
// only the parent removes).
struct queue_name {
    std::string name = "/" + unique_name("mq");
    queue_name() { used_names().insert(name); }
    ~queue_name() {
        std::error_code ec;
        (void)posix_mq::remove(name, ec);
    }
    queue_name(const queue_name&) = delete;
    queue_name& operator=(const queue_name&) = delete;
};

posix_mq_options queue_of(std::size_t max_messages, std::size_t message_size) {
    posix_mq_options o;
    o.max_messages = max_messages;
    o.message_size = message_size;
    return o;
}

// A queue has no notion of the peer closing: reports_close = false, and the
// conformance cases about end of stream and closed senders do not apply.
template <class Sync>
struct posix_mq_setup_of {
    static constexpr const char* name = "posix_mq";
    static constexpr bool reports_close = false;
    static constexpr std::size_t max_message = 4096;

    template <class T, class Framing>
    struct ends {
        queue_name q;
        ends() { auto made = posix_mq::create(q.name, queue_of(10, max_message)); }
        auto make_sender() {
            return posix_mq_channel<T, Sync, Framing>(posix_mq::open(q.name, mq_access::send));
        }
        auto make_receiver() {
            return posix_mq_channel<T, Sync, Framing>(posix_mq::open(q.name, mq_access::recv));
        }
    };
};
using posix_mq_setup = posix_mq_setup_of<ipc::sync::poll>;
struct posix_mq_backoff_setup : posix_mq_setup_of<ipc::sync::backoff> {
    static constexpr const char* name = "posix_mq+backoff";
};

using ipc::framing::delimited;
using ipc::framing::fixed;
using ipc::framing::length_prefixed;

}  // namespace

IPC_CONFORMANCE(combo<posix_mq_setup, fixed>, combo<posix_mq_setup, length_prefixed>, combo<posix_mq_setup, delimited>,
                combo<posix_mq_backoff_setup, fixed>);

TEST_CASE("posix_mq: the highest priority is received first, oldest first within a priority") {
    queue_name q;
    auto rx = posix_mq_channel<record>::create(q.name, queue_of(8, sizeof(record)));
    const unsigned prio[] = {1, 5, 3, 0, 5, 3};
    child sender([&] {
        auto tx = posix_mq_channel<record>::open(q.name, mq_access::send);
        for (std::uint64_t i = 0; i < std::size(prio); ++i) {
            // The four ways of sending with options, in turn.
            const auto m = make_msg<record>(i, 0);
            const posix_mq::send_options o{.priority = prio[i]};
            std::error_code ec;
            const auto st = i % 4 == 0   ? tx.send(m, o)
                            : i % 4 == 1 ? tx.try_send(m, o, ec)
                            : i % 4 == 2 ? tx.send_for(m, o, 5s)
                                         : tx.send_until(m, o, std::chrono::steady_clock::now() + 5s, ec);
            if (st != ipc::status::ok) return 1;
        }
        return 0;
    });
    REQUIRE(sender.wait() == child_ok);
    CHECK(rx.transport().queued() == std::size(prio));
    const std::uint64_t expected[] = {1, 4, 2, 5, 0, 3};
    record r{};
    int way = 0;
    for (std::uint64_t seq : expected) {
        posix_mq::recv_info info;
        std::error_code ec;
        const auto st = way % 4 == 0   ? rx.recv(r, info)
                        : way % 4 == 1 ? rx.try_recv(r, info, ec)
                        : way % 4 == 2 ? rx.recv_for(r, info, 5s)
                                       : rx.recv_until(r, info, std::chrono::system_clock::now() + 5s, ec);
        ++way;
        REQUIRE(st == ipc::status::ok);
        CHECK(is_msg(seq, r, 0));
        CHECK(info.priority == prio[seq]);
    }
    posix_mq::recv_info info;
    CHECK(rx.try_recv(r, info) == ipc::status::would_block);
}

TEST_CASE("posix_mq: a priority is given per message, 0 by default, and bounded by MQ_PRIO_MAX") {
    queue_name q;
    auto ch = posix_mq_channel<std::uint32_t>::create(q.name, queue_of(4, 16));
    std::error_code ec;
    CHECK(ch.try_send(1, {.priority = posix_mq::max_priority() + 1}, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::limit_exceeded);
    CHECK(errc_thrown_by([&] { (void)ch.try_send(1, {.priority = posix_mq::max_priority() + 1}); }) == ipc::errc::limit_exceeded);
    REQUIRE(ch.try_send(2, {.priority = 2}) == ipc::status::ok);
    REQUIRE(ch.try_send(3) == ipc::status::ok);  // priority 0
    REQUIRE(ch.try_send(4, {.priority = posix_mq::max_priority()}) == ipc::status::ok);
    child receiver([&] {
        auto r = posix_mq_channel<std::uint32_t>::open(q.name, mq_access::recv);
        std::uint32_t v = 0;
        posix_mq::recv_info i;
        if (r.try_recv(v, i) != ipc::status::ok || v != 4 || i.priority != posix_mq::max_priority()) return 1;
        if (r.try_recv(v, i) != ipc::status::ok || v != 2 || i.priority != 2) return 2;
        if (r.try_recv(v, i) != ipc::status::ok || v != 3 || i.priority != 0) return 3;
        return 0;
    });
    CHECK(receiver.wait() == child_ok);
}

TEST_CASE("posix_mq: a string channel's receive buffer is the queue's message size, not the framing's 1 MiB") {
    queue_name q;
    auto ch = posix_mq_channel<std::string>::create(q.name, queue_of(4, 512));
    CHECK(ch.transport().max_message_size() == 512);
    child sender([&] {
        auto tx = posix_mq_channel<std::string>::open(q.name, mq_access::send);
        return tx.send_for(std::string("hi"), 5s) == ipc::status::ok ? 0 : 1;
    });
    std::string s;
    allocations::largest = 0;
    const auto st = ch.recv_for(s, 5s);
    const std::size_t largest = allocations::largest;
    REQUIRE(st == ipc::status::ok);
    CHECK(s == "hi");
    CHECK(largest == 512);
    CHECK(sender.wait() == child_ok);
}

TEST_CASE("posix_mq: a fixed-size message of the wrong size says expected vs received, and names the queue") {
    queue_name q;
    auto ch = posix_mq_channel<std::uint64_t>::create(q.name, queue_of(2, 16));
    child c_sender([&] {
        mqd_t m = ::mq_open(q.name.c_str(), O_WRONLY);
        return m >= 0 && ::mq_send(m, "abc", 3, 0) == 0 ? 0 : 1;
    });
    REQUIRE(c_sender.wait() == child_ok);
    std::uint64_t v = 0;
    std::error_code ec;
    CHECK(ch.recv_for(v, 5s, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::bad_message);
    const std::string why(ipc::last_error_detail(ec));
    CHECK_MESSAGE(why.find("expected a 8-byte message, received 3 bytes") != std::string::npos, why);
    CHECK_MESSAGE(why.find(q.name) != std::string::npos, why);
}

TEST_CASE("posix_mq: message_too_large names the queue, the size and the limit") {
    queue_name q;
    auto ch = posix_mq_channel<std::string>::create(q.name, queue_of(2, 16));
    try {
        (void)ch.try_send(std::string(100, 'x'));
        FAIL("no exception");
    } catch (const ipc::error& e) {
        CHECK(e.code() == ipc::errc::message_too_large);
        const std::string what = e.what();
        CHECK_MESSAGE(what.find(q.name) != std::string::npos, what);
        CHECK_MESSAGE(what.find("100 bytes") != std::string::npos, what);
        CHECK_MESSAGE(what.find("16 bytes") != std::string::npos, what);
    }
    std::error_code ec;
    CHECK(ch.try_send(std::string(17, 'x'), ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::message_too_large);
    CHECK(ipc::last_error_detail(ec).find("17 bytes") != std::string_view::npos);
}

TEST_CASE("posix_mq: two receiver processes share a queue, each message goes to exactly one") {
    queue_name q;
    auto made = posix_mq::create(q.name, queue_of(10, sizeof(std::uint64_t)));
    check_two_receivers_share([&] { return posix_mq_channel<std::uint64_t>(posix_mq::open(q.name, mq_access::send)); },
                              [&] { return posix_mq_channel<std::uint64_t>(posix_mq::open(q.name, mq_access::recv)); });
}

TEST_CASE("posix_mq: a full queue: try_send would_block, send_for times out, not early") {
    queue_name q;
    auto tx = posix_mq_channel<record>::create(q.name, queue_of(2, sizeof(record)));
    check_full_queue(tx, 2, [&] { return posix_mq_channel<record>(posix_mq::open(q.name, mq_access::recv)); });
}

TEST_CASE("posix_mq: a message over message_size is refused at send, nothing is queued") {
    queue_name q;
    auto ch = posix_mq_channel<std::string>::create(q.name, queue_of(4, 64));
    std::error_code ec;
    CHECK(ch.try_send(std::string(65, 'x'), ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::message_too_large);
    CHECK(ch.transport().queued() == 0);
    CHECK(ch.try_send(std::string(64, 'x')) == ipc::status::ok);
    child receiver([&] {
        auto rx = posix_mq_channel<std::string>::open(q.name, mq_access::recv);
        std::string s;
        return rx.recv_for(s, 5s) == ipc::status::ok && s == std::string(64, 'x') ? 0 : 1;
    });
    CHECK(receiver.wait() == child_ok);
}

TEST_CASE("posix_mq: a foreign message larger than the channel's type is discarded as message_too_large") {
    queue_name q;
    auto rx = posix_mq_channel<record>::create(q.name, queue_of(4, 256));
    child foreign([&] {
        mqd_t m = ::mq_open(q.name.c_str(), O_WRONLY);
        char junk[100] = {};
        record r = make_msg<record>(7, 0);
        bool ok = m >= 0 && ::mq_send(m, junk, sizeof junk, 0) == 0 && ::mq_send(m, reinterpret_cast<char*>(&r), sizeof r, 0) == 0;
        return ok ? 0 : 1;
    });
    REQUIRE(foreign.wait() == child_ok);
    check_oversized_then_intact(rx);
}

TEST_CASE("posix_mq: create, open and open_or_create") {
    queue_name q;
    std::error_code ec;
    auto missing = posix_mq::open(q.name, mq_access::both, ec);
    CHECK(ec == ipc::errc::not_found);
    CHECK_FALSE(missing.is_open());
    CHECK(errc_thrown_by([&] { (void)posix_mq::open(q.name); }) == ipc::errc::not_found);

    auto first = posix_mq::create(q.name, queue_of(3, 100));
    CHECK(first.max_messages() == 3);
    CHECK(first.message_size() == 100);
    CHECK(errc_thrown_by([&] { (void)posix_mq::create(q.name); }) == ipc::errc::already_exists);
    // An existing queue keeps its own attributes.
    auto again = posix_mq::open_or_create(q.name, queue_of(5, 200));
    CHECK(again.message_size() == 100);
    child opener([&] {
        auto other = posix_mq::open(q.name, mq_access::send);
        return other.max_messages() == 3 && other.message_size() == 100 ? 0 : 1;
    });
    CHECK(opener.wait() == child_ok);

    CHECK(posix_mq::remove(q.name));
    CHECK_FALSE(posix_mq::remove(q.name));
    CHECK(errc_thrown_by([&] { (void)posix_mq::open(q.name); }) == ipc::errc::not_found);
    // Removed names vanish at once; open descriptors still work.
    CHECK(first.send(std::as_bytes(std::span("x", 1)), 0, ipc::io_mode::nonblocking, ec));
    CHECK(again.queued() == 1);
}

TEST_CASE("posix_mq: a new queue is mode 0600 and its descriptor closes on exec") {
    queue_name q;
    auto t = posix_mq::create(q.name, queue_of(2, 8));
    struct stat st {};
    REQUIRE(::fstat(t.native_handle(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK((::fcntl(t.native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("posix_mq: names follow detail::posix_ipc_name: an optional '/', 1..NAME_MAX of [A-Za-z0-9._-]") {
    const std::string bad[] = {"",   "/",  "/a/b", "//x", "/.", "/..", std::string("/a\0b", 4), "/tab\there", "/sp ace",
                               "/" + std::string(NAME_MAX + 1, 'n')};
    for (const auto& name : bad) {
        INFO("name: ", name);
        std::error_code ec;
        auto t = posix_mq::create(name, ec);
        CHECK(ec == ipc::errc::name_invalid);
        CHECK(errc_thrown_by([&] { (void)posix_mq::open_or_create(name); }) == ipc::errc::name_invalid);
        ec.clear();
        CHECK_FALSE(posix_mq::remove(name, ec));
        CHECK(ec == ipc::errc::name_invalid);
    }
    // The longest name there is works.
    std::string longest = "/" + unique_name("longest");
    longest.resize(NAME_MAX + 1, 'n');
    used_names().insert(longest);
    (void)posix_mq::remove(longest);
    auto t = posix_mq::create(longest, queue_of(1, 8));
    CHECK(t.is_open());
    CHECK(posix_mq::remove(longest));
}

TEST_CASE("posix_mq: a refused size names the /proc/sys/fs/mqueue limit and its value") {
    queue_name q;
    const auto lim = ipc::transport::posix_mq_limits::read();
    REQUIRE(lim.msg_max > 0);
    REQUIRE(lim.msgsize_max > 0);
    // Over even the privileged hard limits (16 MiB, 65536 messages), so this fails as root too.
    for (auto o : {queue_of(2, std::size_t{1} << 26), queue_of(std::size_t{1} << 20, 8)}) {
        std::error_code ec;
        auto t = posix_mq::create(q.name, o, ec);
        CHECK(ec == ipc::errc::limit_exceeded);
        try {
            (void)posix_mq::create(q.name, o);
            FAIL("created a queue over the kernel's limits");
        } catch (const ipc::error& e) {
            const std::string what = e.what();
            INFO(what);
            CHECK(e.code() == ipc::errc::limit_exceeded);
            CHECK(what.find(q.name) != std::string::npos);
            CHECK(what.find("/proc/sys/fs/mqueue/msg_max (" + std::to_string(lim.msg_max) + ")") != std::string::npos);
            CHECK(what.find("/proc/sys/fs/mqueue/msgsize_max (" + std::to_string(lim.msgsize_max) + ")") != std::string::npos);
        }
    }
}

TEST_CASE("posix_mq: a queue over RLIMIT_MSGQUEUE is limit_exceeded and says how much it needs") {
    queue_name q;
    child limited([&] {
        rlimit r{4096, 4096};
        if (::setrlimit(RLIMIT_MSGQUEUE, &r) != 0) return 1;
        try {
            (void)posix_mq::create(q.name, queue_of(10, 8192));
        } catch (const ipc::error& e) {
            const std::string what = e.what();
            if (e.code() != ipc::errc::limit_exceeded) return 2;
            if (what.find("RLIMIT_MSGQUEUE") == std::string::npos || what.find("4096") == std::string::npos ||
                what.find("81920") == std::string::npos)
                return 3;
            return 0;
        }
        return 4;
    });
    CHECK(limited.wait() == child_ok);
}

TEST_CASE("posix_mq: the descriptor is pollable and wakes when a message arrives") {
    queue_name q;
    auto rx = posix_mq_channel<int>::create(q.name, queue_of(2, sizeof(int)));
    pollfd p{rx.native_handle(), POLLIN, 0};
    CHECK(::poll(&p, 1, 0) == 0);
    child sender([&] {
        usleep(20000);
        auto tx = posix_mq_channel<int>::open(q.name, mq_access::send);
        return tx.send_for(42, 5s) == ipc::status::ok ? 0 : 1;
    });
    REQUIRE(::poll(&p, 1, 10000) == 1);
    CHECK((p.revents & POLLIN) != 0);
    int v = 0;
    CHECK(rx.try_recv(v) == ipc::status::ok);
    CHECK(v == 42);
    CHECK(sender.wait() == child_ok);
}

TEST_CASE("posix_mq: a program using only mq_send and mq_receive talks to a channel both ways") {
    queue_name q;
    auto ch = posix_mq_channel<std::string>::create(q.name, queue_of(4, 512));
    static const char from_c[] = "hello from plain C";
    child c_sender([&] {
        mqd_t m = ::mq_open(q.name.c_str(), O_WRONLY);
        return m >= 0 && ::mq_send(m, from_c, sizeof from_c, 7) == 0 ? 0 : 1;
    });
    std::string s;
    posix_mq::recv_info info;
    REQUIRE(ch.recv_for(s, info, 5s) == ipc::status::ok);
    CHECK(s == std::string(from_c, sizeof from_c));
    CHECK(info.priority == 7);
    CHECK(c_sender.wait() == child_ok);

    REQUIRE(ch.send_for(std::string("hello from C++"), {.priority = 3}, 5s) == ipc::status::ok);
    child c_receiver([&] {
        mqd_t m = ::mq_open(q.name.c_str(), O_RDONLY);
        char buf[512];
        unsigned prio = 0;
        timespec until{};
        ::clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        ssize_t n = m < 0 ? -1 : ::mq_timedreceive(m, buf, sizeof buf, &prio, &until);
        return n == 14 && std::memcmp(buf, "hello from C++", 14) == 0 && prio == 3 ? 0 : 1;
    });
    CHECK(c_receiver.wait() == child_ok);
}

TEST_CASE("posix_mq: transports move, close, and leak no descriptors") {
    queue_name q;
    const int before = open_fd_count();
    {
        auto a = posix_mq::create(q.name, queue_of(2, 8));
        posix_mq b(std::move(a));
        CHECK_FALSE(a.is_open());
        CHECK(b.is_open());
        std::array<std::byte, 8> buf{};
        std::error_code ec;
        CHECK(a.receive(buf, ipc::io_mode::nonblocking, ec) == 0);
        CHECK(ec == std::errc::bad_file_descriptor);
        b.close();
        CHECK_FALSE(b.is_open());
        auto c = posix_mq::open(q.name, mq_access::recv);
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("posix_mq: nothing is left behind") {
    for (const auto& name : used_names()) {
        INFO(name);
        std::error_code ec;
        auto t = posix_mq::open(name, mq_access::recv, ec);
        CHECK(ec == ipc::errc::not_found);
    }
    // Where the mqueue file system is mounted, it shows no queue of ours either.
    struct statfs fs {};
    if (::statfs("/dev/mqueue", &fs) == 0 && fs.f_type == 0x19800202 /* MQUEUE_MAGIC */) {
        const std::string mine = "ipc-test-" + std::to_string(::getpid()) + "-";
        for (const auto& e : std::filesystem::directory_iterator("/dev/mqueue"))
            CHECK_MESSAGE(e.path().filename().string().rfind(mine, 0) != 0, "left behind: ", e.path());
    }
}
