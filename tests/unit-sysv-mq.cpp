// System V message queues: the conformance suite, then message types,
// sharing, limits, keys, removal and a conversation with a program that uses
// only msgsnd/msgrcv on `struct { long mtype; char text[512]; }`.
#include <ipc/channel.hpp>

#include <sys/ipc.h>
#include <sys/msg.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "queue_support.hpp"

namespace {

using namespace ipc_test;
using ipc::sysv_mq_channel;
using ipc::transport::sysv_key;
using ipc::transport::sysv_mq;
using ipc::transport::sysv_mq_options;
using ipc::transport::type_selector;

// Every queue id a test made; the last test checks that none is left.
std::set<int>& used_ids() {
    static std::set<int> ids;
    return ids;
}

sysv_mq_options options(std::size_t max_message, std::size_t queue_bytes = 0) {
    sysv_mq_options o;
    o.max_message = max_message;
    o.queue_bytes = queue_bytes;
    return o;
}

// A private queue made by the parent before fork (children inherit its id)
// and removed when the test ends; forked children _exit and remove nothing.
struct private_queue {
    sysv_mq q;
    explicit private_queue(const sysv_mq_options& o = {}) : q(sysv_mq::create(sysv_key::private_key(), o)) {
        used_ids().insert(q.id());
    }
    ~private_queue() {
        std::error_code ec;
        (void)q.remove(ec);
    }
    private_queue(const private_queue&) = delete;
    private_queue& operator=(const private_queue&) = delete;

    template <class T, class Sync = ipc::sync::backoff, class Framing = ipc::default_framing_t<T>>
    auto channel(const sysv_mq_options& o = {}) const {
        return ipc::channel<T, sysv_mq, Sync, Framing>(sysv_mq::attach(q.id(), o));
    }
};

// A queue has no notion of the peer closing (reports_close = false), and
// nothing to poll: the channel waits with sync::backoff.
template <class Sync>
struct sysv_mq_setup_of {
    static constexpr const char* name = "sysv_mq";
    static constexpr bool reports_close = false;
    static constexpr std::size_t max_message = 4096;

    template <class T, class Framing>
    struct ends {
        private_queue pq{options(max_message)};
        auto make_sender() { return pq.channel<T, Sync, Framing>(options(max_message)); }
        auto make_receiver() { return pq.channel<T, Sync, Framing>(options(max_message)); }
    };
};
using sysv_mq_setup = sysv_mq_setup_of<ipc::sync::backoff>;
struct sysv_mq_spin_setup : sysv_mq_setup_of<ipc::sync::spin> {
    static constexpr const char* name = "sysv_mq+spin";
};

using ipc::framing::fixed;
using ipc::framing::length_prefixed;

// The message layout a C program declares.
struct raw_msg {
    long mtype;
    char text[512];
};
// The payload of raw_msg as a channel's fixed-size type.
struct text512 {
    char text[512];
};

}  // namespace

IPC_CONFORMANCE(combo<sysv_mq_setup, fixed>, combo<sysv_mq_setup, length_prefixed>, combo<sysv_mq_spin_setup, fixed>);

TEST_CASE("sysv_mq: receive by type: exact, any, lowest up to N, and any but one") {
    private_queue pq;
    auto rx = pq.channel<record>();
    const long types[] = {3, 1, 2, 5, 1, 4};
    child sender([&] {
        auto tx = pq.channel<record>();
        for (std::uint64_t i = 0; i < std::size(types); ++i)
            if (tx.send_for(make_msg<record>(i, 0), {.type = types[i]}, 5s) != ipc::status::ok) return 1;
        return 0;
    });
    REQUIRE(sender.wait() == child_ok);
    record r{};
    auto take = [&](type_selector sel) -> long {
        sysv_mq::recv_info info{.select = sel};
        if (rx.try_recv(r, info) != ipc::status::ok) return -1;
        CHECK(r.check == mix(r.seq));
        CHECK(info.type == types[r.seq]);
        return static_cast<long>(r.seq);
    };
    CHECK(take(type_selector::exact(2)) == 2);         // the one message of type 2
    CHECK(take(type_selector::lowest_up_to(4)) == 1);  // type 1 is the lowest; oldest first
    CHECK(take(type_selector::lowest_up_to(4)) == 4);
    CHECK(take(type_selector::except(3)) == 3);        // the oldest not of type 3 is seq 3 (type 5)
    CHECK(take(type_selector::exact(7)) == -1);        // nothing of type 7: would_block
    CHECK(take(type_selector::any()) == 0);            // the oldest of all
    CHECK(take(type_selector::any()) == 5);
    CHECK(rx.transport().queued() == 0);
}

TEST_CASE("sysv_mq: a message type must be positive, a selector valid") {
    private_queue pq;
    auto ch = pq.channel<record>();
    std::error_code ec;
    CHECK(ch.try_send(make_msg<record>(0, 0), {.type = 0}, ec) == ipc::status::failed);
    CHECK(ec == std::errc::invalid_argument);
    CHECK_THROWS_AS((void)ch.try_send(make_msg<record>(0, 0), {.type = -3}), ipc::error);
    REQUIRE(ch.try_send(make_msg<record>(1, 0)) == ipc::status::ok);  // type 1 by default
    record r{};
    sysv_mq::recv_info info{.select = type_selector::exact(1)};
    REQUIRE(ch.try_recv(r, info) == ipc::status::ok);
    CHECK(info.type == 1);
    std::array<std::byte, 8> buf{};
    CHECK_FALSE(type_selector::exact(0).valid());
    CHECK_FALSE(type_selector::lowest_up_to(-1).valid());
    CHECK_FALSE(type_selector::except(0).valid());
    ec.clear();
    CHECK(pq.q.receive(buf, type_selector::exact(-2), ipc::io_mode::nonblocking, ec) == 0);
    CHECK(ec == std::errc::invalid_argument);
}

TEST_CASE("sysv_mq: two receiver processes share a queue, each message goes to exactly one") {
    private_queue pq;
    check_two_receivers_share([&] { return pq.channel<std::uint64_t>(); }, [&] { return pq.channel<std::uint64_t>(); });
}

TEST_CASE("sysv_mq: a full queue: try_send would_block, send_for times out, not early") {
    private_queue pq(options(sizeof(record), 2 * sizeof(record)));
    auto tx = pq.channel<record>(options(sizeof(record)));
    check_full_queue(tx, 2, [&] { return pq.channel<record>(); });
}

TEST_CASE("sysv_mq: a timed receive ends at its deadline, not long after") {
    private_queue pq;
    auto rx = pq.channel<record>();
    gate g;
    child idle([&] {
        auto tx = pq.channel<record>();
        return g.wait() ? 0 : 1;
    });
    record r{};
    auto t0 = std::chrono::steady_clock::now();
    CHECK(rx.recv_for(r, 40ms) == ipc::status::timed_out);
    const double waited = ms_since(t0);
    CHECK(waited >= 40.0);
    CHECK(waited < 300.0);  // the backoff sleeps at most 1 ms past its last check
    g.open();
    CHECK(idle.wait() == child_ok);
}

TEST_CASE("sysv_mq: a message over max_message or the kernel's msgmax is refused at send") {
    private_queue pq(options(128));
    auto ch = pq.channel<std::string>(options(128));
    std::error_code ec;
    CHECK(ch.try_send(std::string(129, 'x'), ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::message_too_large);
    CHECK(pq.q.queued() == 0);
    CHECK(ch.try_send(std::string(128, 'x')) == ipc::status::ok);

    long msgmax = 0;
    std::ifstream("/proc/sys/kernel/msgmax") >> msgmax;
    REQUIRE(msgmax > 0);
    auto roomy = pq.channel<std::string>(options(static_cast<std::size_t>(msgmax) + 1));
    CHECK(roomy.try_send(std::string(static_cast<std::size_t>(msgmax) + 1, 'y'), ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::message_too_large);
    child receiver([&] {
        auto rx = pq.channel<std::string>();
        std::string s;
        return rx.recv_for(s, 5s) == ipc::status::ok && s == std::string(128, 'x') ? 0 : 1;
    });
    CHECK(receiver.wait() == child_ok);
}

TEST_CASE("sysv_mq: a max_message over LONG_MAX is invalid_argument, refused before a queue or buffer is made") {
    // SIZE_MAX would wrap the buffer size (mtype + payload + 1) to a few bytes.
    std::error_code ec;
    auto made = sysv_mq::create(sysv_key::private_key(), options(SIZE_MAX), ec);
    CHECK(ec == std::errc::invalid_argument);
    CHECK_FALSE(made.is_open());
    if (made.is_open()) (void)made.remove(ec);

    private_queue pq;
    ec.clear();
    auto attached = sysv_mq::attach(pq.q.id(), options(std::size_t{LONG_MAX} + 1), ec);
    CHECK(ec == std::errc::invalid_argument);
    CHECK_FALSE(attached.is_open());
}

TEST_CASE("sysv_mq: a foreign message larger than the channel's type is discarded as message_too_large") {
    private_queue pq;
    auto rx = pq.channel<record>();
    child foreign([&] {
        raw_msg junk{1, {}};
        std::memset(junk.text, 'j', sizeof junk.text);
        struct {
            long mtype;
            record r;
        } good{1, make_msg<record>(7, 0)};
        return ::msgsnd(pq.q.id(), &junk, 300, 0) == 0 && ::msgsnd(pq.q.id(), &good, sizeof good.r, 0) == 0 ? 0 : 1;
    });
    REQUIRE(foreign.wait() == child_ok);
    check_oversized_then_intact(rx);
}

TEST_CASE("sysv_mq: keys from ftok: create, open, open_or_create, remove") {
    temp_dir dir;
    const std::string path = dir / "queue-key";
    std::ofstream(path) << "key";
    const auto key = sysv_key::from_path(path.c_str(), 'q');
    CHECK(key.value() == ::ftok(path.c_str(), 'q'));

    std::error_code ec;
    auto missing = sysv_mq::open(key, ec);
    CHECK(ec == ipc::errc::not_found);
    CHECK_FALSE(missing.is_open());

    auto made = sysv_mq::create(key);
    used_ids().insert(made.id());
    CHECK(errc_thrown_by([&] { (void)sysv_mq::create(key); }) == ipc::errc::already_exists);
    auto same = sysv_mq::open_or_create(key);
    CHECK(same.id() == made.id());

    // Another process finds the queue from the same path and id.
    child opener([&] {
        auto tx = sysv_mq_channel<int>::open(sysv_key::from_path(path.c_str(), 'q'));
        return tx.send_for(99, 5s) == ipc::status::ok ? 0 : 1;
    });
    CHECK(opener.wait() == child_ok);
    sysv_mq_channel<int> rx(std::move(same));
    int v = 0;
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 99);

    struct msqid_ds ds {};
    REQUIRE(::msgctl(made.id(), IPC_STAT, &ds) == 0);
    CHECK((ds.msg_perm.mode & 0777) == 0600);

    CHECK(made.remove());
    CHECK_FALSE(made.is_open());
    CHECK(errc_thrown_by([&] { (void)sysv_mq::open(key); }) == ipc::errc::not_found);
    // The channel that still holds the old id finds it gone.
    CHECK(rx.try_send(1, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::not_found);
    CHECK(rx.try_recv(v, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::not_found);
}

TEST_CASE("sysv_mq: bad keys: a missing path, an id outside 1..255, opening a private key") {
    temp_dir dir;
    std::error_code ec;
    (void)sysv_key::from_path((dir / "nothing-here").c_str(), 1, ec);
    CHECK(ec == ipc::errc::not_found);
    for (int id : {0, 256, -1}) {
        ec.clear();
        (void)sysv_key::from_path(dir.path().c_str(), id, ec);
        CHECK(ec == ipc::errc::name_invalid);
    }
    ec.clear();
    auto q = sysv_mq::open(sysv_key::private_key(), {}, ec);
    CHECK(ec == ipc::errc::name_invalid);
    CHECK(errc_thrown_by([] { (void)sysv_mq::attach(-1); }) == ipc::errc::not_found);
}

TEST_CASE("sysv_mq: removing the queue wakes a blocked receiver with not_found") {
    private_queue pq;
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    child waiter([&] {
        ::alarm(10);  // a bound on the plain blocking recv below
        auto rx = pq.channel<record>();
        record r{};
        std::error_code ec;
        // Removed before or during the wait: either way the receiver hears not_found.
        [[maybe_unused]] auto n = ::write(ready[1], "r", 1);
        (void)rx.recv(r, ec);
        return ec == ipc::errc::not_found ? 0 : 1;
    });
    ::close(ready[1]);
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);  // the child holds its channel: removing now cannot race its attach
    ::close(ready[0]);
    usleep(50000);
    CHECK(pq.q.remove());
    CHECK(waiter.wait() == child_ok);
}

TEST_CASE("sysv_mq: a program using only msgsnd and msgrcv talks to a channel both ways") {
    private_queue pq(options(sizeof(text512)));
    auto ch = pq.channel<text512>(options(sizeof(text512)));
    child c_sender([&] {
        raw_msg m{4, {}};
        std::strcpy(m.text, "hello from plain C");
        return ::msgsnd(pq.q.id(), &m, sizeof m.text, 0) == 0 ? 0 : 1;
    });
    text512 got{};
    sysv_mq::recv_info info;
    REQUIRE(ch.recv_for(got, info, 5s) == ipc::status::ok);
    CHECK(std::string(got.text) == "hello from plain C");
    CHECK(info.type == 4);
    CHECK(c_sender.wait() == child_ok);

    text512 out{};
    std::strcpy(out.text, "hello from C++");
    REQUIRE(ch.send_for(out, {.type = 9}, 5s) == ipc::status::ok);
    child c_receiver([&] {
        ::alarm(10);
        raw_msg m{};
        ssize_t n = ::msgrcv(pq.q.id(), &m, sizeof m.text, 9, 0);
        return n == static_cast<ssize_t>(sizeof m.text) && m.mtype == 9 && std::strcmp(m.text, "hello from C++") == 0 ? 0 : 1;
    });
    CHECK(c_receiver.wait() == child_ok);

    // Variable-length text works too: a std::string channel gets exactly the bytes sent.
    child c_text([&] {
        raw_msg m{2, {}};
        std::strcpy(m.text, "short");
        return ::msgsnd(pq.q.id(), &m, 5, 0) == 0 ? 0 : 1;
    });
    CHECK(c_text.wait() == child_ok);
    auto text = pq.channel<std::string>();
    std::string s;
    REQUIRE(text.recv_for(s, 5s) == ipc::status::ok);
    CHECK(s == "short");
}

TEST_CASE("sysv_mq: nothing is left behind") {
    for (int id : used_ids()) {
        INFO("msqid ", id);
        struct msqid_ds ds {};
        CHECK(::msgctl(id, IPC_STAT, &ds) == -1);
    }
    // /proc/sysvipc/msg (what ipcs -q reads) lists none of them either.
    std::ifstream list("/proc/sysvipc/msg");
    std::string line;
    std::getline(list, line);  // the header
    while (std::getline(list, line)) {
        std::istringstream fields(line);
        long key = 0;
        int id = -1;
        fields >> key >> id;
        CHECK_MESSAGE(used_ids().count(id) == 0, "left behind: msqid ", id);
    }
}
