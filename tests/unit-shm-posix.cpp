// POSIX shared memory: naming, open modes, permissions, removal, typed
// channels across processes, zero copy and batches, and a region made for
// something else being refused.
#include <ipc/channel.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>
#include <vector>

#include "ring_support.hpp"

namespace {

using namespace ipc_test;
template <class T>
using shm = ipc::transport::posix_shm<T>;
using int_ring = shm<ipc::ring::spsc<int>>;

bool in_dev_shm(const std::string& name) { return std::filesystem::exists("/dev/shm/ipc." + name); }

}  // namespace

TEST_CASE("posix_shm: objects are /dev/shm/ipc.<name>, mode 0600 unless asked, and remove() deletes only its own") {
    remover<int_ring> a{unique_name("a")}, b{unique_name("b")};
    {
        auto ta = int_ring::create(a.name, 8);
        auto tb = int_ring::create(b.name, 8, ipc::permissions{0640});
    }
    REQUIRE(in_dev_shm(a.name));
    struct stat st {};
    REQUIRE(::stat(("/dev/shm/ipc." + a.name).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat(("/dev/shm/ipc." + b.name).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);

    CHECK(int_ring::remove(a.name));
    CHECK_FALSE(in_dev_shm(a.name));
    CHECK(in_dev_shm(b.name));
    CHECK_NOTHROW((void)int_ring::open(b.name));
    CHECK_FALSE(int_ring::remove(a.name));  // nothing left to remove: false, not an error
}

TEST_CASE("posix_shm: create, open and open_or_create") {
    remover<int_ring> r{unique_name("modes")};
    std::error_code ec;
    auto missing = int_ring::open(r.name, ec);
    CHECK(ec == ipc::errc::not_found);
    CHECK_FALSE(missing.is_open());
    CHECK_THROWS_AS((void)int_ring::open(r.name), ipc::error);

    auto made = int_ring::create(r.name, 8);
    ec.clear();
    auto again = int_ring::create(r.name, 8, ec);
    CHECK(ec == ipc::errc::already_exists);

    auto opened = int_ring::open_or_create(r.name, 1024);  // exists: opened, its capacity kept
    CHECK(opened.capacity() == 8);
}

TEST_CASE("posix_shm: processes racing with open_or_create meet on one region") {
    // Four senders at once: an MPMC ring (an SPSC ring has one producer by contract).
    using mpmc_ring = shm<ipc::ring::mpmc<int>>;
    remover<mpmc_ring> r{unique_name("race")};
    gate go;
    std::vector<child> racers;
    for (int i = 0; i < 4; ++i)
        racers.emplace_back([&, i] {
            go.wait();
            auto ch = ipc::shm_mpmc_channel<int>::open_or_create(r.name, 64);
            return ch.send_for(i, 5s) == ipc::status::ok ? 0 : 1;
        });
    go.open();
    for (auto& c : racers) CHECK(c.wait() == child_ok);
    auto rx = ipc::shm_mpmc_channel<int>::open(r.name);
    int seen = 0, v = 0;
    while (rx.try_recv(v) == ipc::status::ok) seen |= 1 << v;
    CHECK(seen == 0xf);
}

TEST_CASE("posix_shm: names are validated") {
    std::error_code ec;
    for (const std::string& bad : std::vector<std::string>{"", "a/b", "../x", "sp ace", "new\nline", std::string(201, 'n')}) {
        ec.clear();
        auto t = int_ring::create(bad, 8, ec);
        CHECK_MESSAGE(ec == ipc::errc::name_invalid, bad);
        CHECK_FALSE(int_ring::remove(bad, ec));
        CHECK(ec == ipc::errc::name_invalid);
    }
    CHECK_THROWS_AS(int_ring::create("a/b", 8), ipc::error);
}

TEST_CASE("posix_shm: a bad capacity is limit_exceeded and leaves nothing behind") {
    remover<int_ring> r{unique_name("cap")};
    std::error_code ec;
    auto t = int_ring::create(r.name, 100, ec);
    CHECK(ec == ipc::errc::limit_exceeded);
    CHECK_FALSE(in_dev_shm(r.name));
}

TEST_CASE("posix_shm: a region made for another T, kind or size of T is refused by another process") {
    remover<int_ring> r{unique_name("mismatch")};
    auto made = int_ring::create(r.name, 8);
    child opener([&] {
        std::error_code ec;
        auto wrong_type = shm<ipc::ring::spsc<float>>::open(r.name, ec);
        if (ec != ipc::errc::layout_mismatch) return 1;
        ec.clear();
        auto wrong_kind = shm<ipc::ring::mpmc<int>>::open(r.name, ec);
        if (ec != ipc::errc::layout_mismatch) return 2;
        ec.clear();
        auto wrong_ring = shm<ipc::ring::bytes>::open(r.name, ec);
        if (ec != ipc::errc::layout_mismatch) return 3;
        return 0;
    });
    CHECK(opener.wait() == child_ok);
}

TEST_CASE("posix_shm: a truncated or foreign object is corrupt, not read") {
    remover<int_ring> r{unique_name("trunc")};
    { auto made = int_ring::create(r.name, 1024); }
    const std::string path = "/ipc." + r.name;
    int fd = ::shm_open(path.c_str(), O_RDWR, 0);
    REQUIRE(fd >= 0);
    SUBCASE("truncated") { REQUIRE(::ftruncate(fd, 4096) == 0); }
    SUBCASE("scribbled header") {
        REQUIRE(::pwrite(fd, "garbage!", 8, 0) == 8);
    }
    ::close(fd);
    std::error_code ec;
    auto t = int_ring::open(r.name, ec);
    CHECK(ec == ipc::errc::corrupt);
}

TEST_CASE("posix_shm: typed aliases carry records, strings and byte vectors between processes") {
    SUBCASE("shm_channel<record>") {
        remover<int_ring> r{unique_name("rec")};
        using tr = shm<ipc::ring::spsc<record>>;
        tr::create(r.name, 4);
        child producer([&] {
            auto tx = ipc::shm_channel<record>::open(r.name);
            for (std::uint64_t i = 0; i < 1000; ++i)
                if (tx.send_for(make_msg<record>(i, 0), 5s) != ipc::status::ok) return 1;
            return 0;
        });
        auto rx = ipc::shm_channel<record>::open(r.name);
        record got{};
        for (std::uint64_t i = 0; i < 1000; ++i) {
            REQUIRE(rx.recv_for(got, 5s) == ipc::status::ok);
            REQUIRE(is_msg(i, got, 0));
        }
        CHECK(producer.wait() == child_ok);
    }
    SUBCASE("shm_message_channel<std::vector<unsigned char>>, sizes up to the ring's maximum") {
        using tr = shm<ipc::ring::bytes>;
        remover<tr> r{unique_name("vec")};
        tr::create(r.name, 4096);
        child producer([&] {
            auto tx = ipc::shm_message_channel<std::vector<unsigned char>>::open(r.name);
            const std::size_t max = tx.transport().ring().max_record();
            for (std::size_t n = 0; n <= max; n += 97) {
                std::vector<unsigned char> v(n);
                for (std::size_t k = 0; k < n; ++k) v[k] = static_cast<unsigned char>(n + k);
                if (tx.send_for(v, 5s) != ipc::status::ok) return 1;
            }
            std::error_code ec;
            if (tx.try_send(std::vector<unsigned char>(max + 1), ec) != ipc::status::failed ||
                ec != ipc::errc::message_too_large)
                return 2;
            return 0;
        });
        auto rx = ipc::shm_message_channel<std::vector<unsigned char>>::open(r.name);
        std::vector<unsigned char> got;
        for (std::size_t n = 0; n <= 2040; n += 97) {
            REQUIRE(rx.recv_for(got, 5s) == ipc::status::ok);
            REQUIRE(got.size() == n);
            for (std::size_t k = 0; k < n; ++k) REQUIRE(got[k] == static_cast<unsigned char>(n + k));
        }
        CHECK(producer.wait() == child_ok);
        CHECK(rx.recv_for(got, 5s) == ipc::status::closed);
    }
}

TEST_CASE("posix_shm: zero copy (loan/commit, peek/release) and batches across processes") {
    using tr = shm<ipc::ring::spsc<record>>;
    remover<tr> r{unique_name("zc")};
    tr::create(r.name, 8);
    child producer([&] {
        auto tx = ipc::shm_channel<record>::open(r.name);
        for (std::uint64_t i = 0; i < 500; ++i) {
            auto slot = tx.loan_for(5s);
            if (!slot) return 1;
            slot->seq = i;  // built in place, in shared memory
            slot->check = mix(i);
            std::snprintf(slot->text, sizeof slot->text, "record %llu", static_cast<unsigned long long>(i));
            slot.commit();
        }
        std::vector<record> batch;
        for (std::uint64_t i = 500; i < 1000; ++i) batch.push_back(make_msg<record>(i, 0));
        std::span<const record> rest(batch);
        while (!rest.empty()) {
            std::size_t sent = 0;
            if (tx.send_n_for(rest, sent, 5s) != ipc::status::ok) return 2;
            rest = rest.subspan(sent);
        }
        return 0;
    });
    auto rx = ipc::shm_channel<record>::open(r.name);
    std::uint64_t i = 0;
    for (; i < 300; ++i) {
        auto m = rx.peek_for(5s);
        REQUIRE(m.status() == ipc::status::ok);
        REQUIRE(is_msg(i, *m, 0));
        m.release();
    }
    record buf[16];
    while (i < 1000) {
        std::size_t got = 0;
        REQUIRE(rx.recv_n_for(buf, got, 5s) == ipc::status::ok);
        REQUIRE(got >= 1);
        for (std::size_t k = 0; k < got; ++k, ++i) REQUIRE(is_msg(i, buf[k], 0));
    }
    CHECK(producer.wait() == child_ok);
    std::size_t got = 0;
    CHECK(rx.try_recv_n(buf, got) == ipc::status::closed);
    CHECK(got == 0);
}

TEST_CASE("posix_shm: a loan dropped without commit sends nothing; guards say why they are empty; one at a time, and no send or receive past one") {
    using tr = shm<ipc::ring::spsc<std::uint64_t>>;
    using channel = ipc::shm_channel<std::uint64_t>;
    remover<tr> r{unique_name("guard")};
    (void)tr::create(r.name, 2);
    child producer([&] {
        auto tx = channel::open(r.name);
        {
            auto dropped = tx.loan_for(5s);
            if (!dropped) return 1;
            *dropped = 666;  // never committed
        }
        auto cancelled = tx.try_loan();
        if (!cancelled) return 2;
        *cancelled = 667;
        cancelled.cancel();
        if (cancelled || cancelled.status() != ipc::status::ok) return 3;
        // One guard at a time: a second loan while one is held is errc::in_use.
        auto held = tx.loan();
        std::error_code ec;
        auto second = tx.try_loan(ec);
        if (second || second.status() != ipc::status::failed || ec != ipc::errc::in_use) return 4;
        // Nor a send past it: it would write the loaned slot (99 never arrives).
        if (tx.try_send(std::uint64_t{99}, ec) != ipc::status::failed || ec != ipc::errc::in_use) return 10;
        if (tx.send_for(std::uint64_t{99}, 1s, ec) != ipc::status::failed || ec != ipc::errc::in_use) return 11;
        *held = 1;
        auto moved = std::move(held);  // the guard moves, the slot goes with it
        if (held || !moved) return 5;
        moved.commit();
        if (moved) return 6;
        auto s2 = tx.loan_until(std::chrono::steady_clock::now() + 5s);
        if (!s2) return 7;
        *s2 = 2;
        s2.commit();
        // The ring (capacity 2) is full now: the guard is empty and says why.
        if (tx.try_loan().status() != ipc::status::would_block) return 8;
        if (tx.loan_for(20ms).status() != ipc::status::timed_out) return 9;
        return 0;
    });
    REQUIRE(producer.wait() == child_ok);
    auto rx = channel::open(r.name);
    {
        auto m = rx.peek_until(std::chrono::system_clock::now() + 5s);
        REQUIRE(m);
        CHECK(*m == 1);
        CHECK_THROWS_AS((void)rx.try_peek(), ipc::error);  // one guard at a time
        std::uint64_t taken = 0;  // nor a receive past it: it would take the peeked message
        std::error_code ec;
        CHECK(rx.try_recv(taken, ec) == ipc::status::failed);
        CHECK(ec == ipc::errc::in_use);
        CHECK_THROWS_AS((void)rx.recv_for(taken, 1s), ipc::error);
    }  // released here
    std::error_code ec;
    auto m = rx.peek(ec);
    REQUIRE(m.status() == ipc::status::ok);
    CHECK_FALSE(ec);
    CHECK(*m == 2);
    m.release();
    CHECK_FALSE(m);
    std::uint64_t v = 0;
    CHECK(rx.try_recv(v) == ipc::status::closed);  // 666 and 667 were never sent
    CHECK(rx.try_peek().status() == ipc::status::closed);
}

TEST_CASE("posix_shm: blocking send_n / recv_n and their _until forms across processes") {
    using tr = shm<ipc::ring::spsc<std::uint64_t>>;
    using channel = ipc::shm_channel<std::uint64_t>;
    remover<tr> r{unique_name("batch")};
    (void)tr::create(r.name, 4);
    constexpr std::uint64_t total = 200;
    child producer([&] {
        auto tx = channel::open(r.name);
        std::vector<std::uint64_t> all(total);
        for (std::uint64_t i = 0; i < total; ++i) all[i] = i;
        std::span<const std::uint64_t> rest(all);
        for (bool blocking = true; !rest.empty(); blocking = !blocking) {
            std::size_t sent = 0;
            const auto st = blocking ? tx.send_n(rest, sent) : tx.send_n_until(rest, sent, std::chrono::steady_clock::now() + 5s);
            if (st != ipc::status::ok || sent == 0) return 1;
            rest = rest.subspan(sent);
        }
        return 0;
    });
    auto rx = channel::open(r.name);
    std::uint64_t buf[3];
    std::uint64_t next = 0;
    for (bool blocking = true; next < total; blocking = !blocking) {
        std::size_t got = 0;
        std::error_code ec;
        const auto st = blocking ? rx.recv_n(buf, got) : rx.recv_n_until(buf, got, std::chrono::steady_clock::now() + 5s, ec);
        REQUIRE(st == ipc::status::ok);
        REQUIRE(got >= 1);
        for (std::size_t k = 0; k < got; ++k) REQUIRE(buf[k] == next++);
    }
    CHECK(producer.wait() == child_ok);
    std::size_t got = 0;
    CHECK(rx.recv_n(buf, got) == ipc::status::closed);
}

// Last in this file (doctest runs a file's cases in order): everything above cleaned up.
TEST_CASE("posix_shm: close() ends an end while its process lives on; a parked receiver wakes to closed") {
    remover<int_ring> r{unique_name("close")};
    int_ring::create(r.name, 8);
    child producer([&] {
        auto tx = ipc::shm_channel<int>::open(r.name);
        if (tx.send_for(7, 5s) != ipc::status::ok) return 1;
        std::this_thread::sleep_for(100ms);  // the receiver parks
        tx.close();
        std::error_code ec;
        if (tx.try_send(8, ec) == ipc::status::ok) return 2;  // a closed end sends nothing
        std::this_thread::sleep_for(2s);  // alive: the receiver learns of close(), not of a death
        return 0;
    });
    auto rx = ipc::shm_channel<int>::open(r.name);
    int v = 0;
    REQUIRE(rx.recv_for(v, 5s) == ipc::status::ok);
    const auto start = std::chrono::steady_clock::now();
    CHECK(rx.recv_for(v, 5s) == ipc::status::closed);
    CHECK(std::chrono::steady_clock::now() - start < 1500ms);
    CHECK(producer.wait() == child_ok);
}

TEST_CASE("shm: nothing of this run is left in /dev/shm") { CHECK(leftovers_in_dev_shm().empty()); }
