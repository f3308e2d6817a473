// Zero copy over the variable-size rings: loan_bytes(n)/commit(used) and
// peek_bytes()/release() on ipc::shm_message_channel (ring::bytes, one sender,
// one receiver) and ipc::shm_broadcast_bytes (ring::broadcast_bytes, one
// publisher, any number of subscribers), each across real processes.
#include <ipc/channel.hpp>
#include <ipc/ring/broadcast_bytes.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ring_support.hpp"
#include "support.hpp"

namespace {

using namespace ipc_test;
using ipc::ring::slow_policy;
using bytes_channel = ipc::shm_message_channel<>;
using bytes_region = ipc::transport::posix_shm<ipc::ring::bytes>;
using cast_channel = ipc::shm_broadcast_bytes<>;
using cast_region = ipc::transport::posix_shm<ipc::ring::broadcast_bytes>;

constexpr std::uint64_t capacity = 1 << 14;

// Record i's k-th byte: a record mixed up with another, cut short or torn
// does not pass is_record().
std::byte pattern(std::uint64_t i, std::size_t k) { return static_cast<std::byte>((i * 131 + k * 7 + 1) & 0xff); }
void fill(std::span<std::byte> b, std::uint64_t i) {
    for (std::size_t k = 0; k < b.size(); ++k) b[k] = pattern(i, k);
}
bool is_record(std::span<const std::byte> b, std::uint64_t i, std::size_t size) {
    if (b.size() != size) return false;
    for (std::size_t k = 0; k < b.size(); ++k)
        if (b[k] != pattern(i, k)) return false;
    return true;
}
std::string text_of(std::span<const std::byte> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }
bool has(std::string_view words, std::size_t n) { return words.find(std::to_string(n)) != std::string_view::npos; }

}  // namespace

TEST_CASE("shm_message_channel: records of 0, 1, 4 KiB and the limit, loaned in one process and read in place in another") {
    remover<bytes_region> r{unique_name("zc-sizes")};
    const std::size_t limit = bytes_region::create(r.name, capacity).max_record();
    REQUIRE(limit > 4096);
    const std::size_t sizes[] = {0, 1, 4096, limit};
    child sender([&] {
        auto tx = bytes_channel::open(r.name);
        for (std::uint64_t i = 0; i < std::size(sizes); ++i) {
            auto room = tx.loan_bytes_for(sizes[i], 5s);  // waits for the receiver to make room
            if (!room || room.size() != sizes[i] || room.bytes().data() != room.data()) return 1;
            fill(room.bytes(), i);
            room.commit();
            if (room) return 2;
        }
        // commit(used) sends the first `used` bytes only.
        auto room = tx.loan_bytes_until(4096, std::chrono::steady_clock::now() + 5s);
        if (!room) return 3;
        fill(room.bytes().first(100), 4);
        room.commit(100);
        // A record is what T's codec reads, both ways.
        auto hello = tx.loan_bytes_for(5, 5s);
        if (!hello) return 4;
        // No send past an outstanding loan: it would write the loaned room.
        std::error_code ec;
        if (tx.try_send(std::string("never"), ec) != ipc::status::failed || ec != ipc::errc::in_use) return 6;
        std::memcpy(hello.data(), "hello", 5);
        hello.commit();
        return tx.send_for(std::string("world"), 5s) == ipc::status::ok ? child_ok : 5;
    });
    auto rx = bytes_channel::open(r.name);
    for (std::uint64_t i = 0; i < std::size(sizes); ++i) {
        CAPTURE(sizes[i]);
        auto rec = rx.peek_bytes_for(5s);
        REQUIRE(rec.status() == ipc::status::ok);
        REQUIRE(rec);
        CHECK(is_record(rec.bytes(), i, sizes[i]));
        CHECK(rec.release());
        CHECK_FALSE(rec);
    }
    {
        std::error_code ec;
        auto rec = rx.peek_bytes(ec);
        REQUIRE(rec.status() == ipc::status::ok);
        CHECK(is_record(rec.bytes(), 4, 100));
        // One guard at a time: a second peek while one is held is errc::in_use.
        auto second = rx.try_peek_bytes(ec);
        CHECK_FALSE(second);
        CHECK(second.status() == ipc::status::failed);
        CHECK(ec == ipc::errc::in_use);
        CHECK_THROWS_AS((void)rx.try_peek_bytes(), ipc::error);
        std::string taken;  // nor a receive past it: it would take the peeked record
        CHECK(rx.try_recv(taken, ec) == ipc::status::failed);
        CHECK(ec == ipc::errc::in_use);
    }  // released here
    std::string text;
    REQUIRE(rx.recv_for(text, 5s) == ipc::status::ok);
    CHECK(text == "hello");
    {
        auto rec = rx.peek_bytes_until(std::chrono::system_clock::now() + 5s);
        REQUIRE(rec);
        CHECK(text_of(rec.bytes()) == "world");
    }
    CHECK(sender.wait() == child_ok);
    CHECK(rx.try_peek_bytes().status() == ipc::status::closed);  // every record read, the sender gone
}

TEST_CASE("shm_message_channel: loans committed shorter than loaned, lap after lap, read whole and 8-aligned in another process") {
    // The record ends where the commit says, not where the loan did: the
    // next record starts there, and a receiver that caught up finds nothing
    // past it (not the rest of an older lap). The wrap comes often.
    constexpr std::uint64_t small = 1 << 12;
    constexpr std::uint64_t count = 4000;
    remover<bytes_region> r{unique_name("zc-shrink")};
    (void)bytes_region::create(r.name, small);
    const auto loaned = [](std::uint64_t i) { return static_cast<std::size_t>(i * 37 % 700); };
    const auto used = [&](std::uint64_t i) { return loaned(i) * (i % 4) / 3; };  // 0, a third, two thirds, all of it
    child sender([&] {
        auto tx = bytes_channel::open(r.name);
        for (std::uint64_t i = 0; i < count; ++i) {
            auto room = tx.loan_bytes_for(loaned(i), 5s);
            if (!room) return 1;
            fill(room.bytes(), i + 1);  // all of it: the tail of the loan holds bytes the receiver must not see
            fill(room.bytes().first(used(i)), i);
            room.commit(used(i));
        }
        return child_ok;
    });
    auto rx = bytes_channel::open(r.name);
    std::uint64_t wrong = 0, misaligned = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        auto rec = rx.peek_bytes_for(5s);
        REQUIRE(rec.status() == ipc::status::ok);
        wrong += !is_record(rec.bytes(), i, used(i));
        misaligned += reinterpret_cast<std::uintptr_t>(rec.data()) % 8 != 0;
        CHECK(rec.release());
    }
    CHECK(wrong == 0);
    CHECK(misaligned == 0);
    CHECK(sender.wait() == child_ok);
    CHECK(rx.try_peek_bytes().status() == ipc::status::closed);
}

TEST_CASE("shm_message_channel: a loan over the limit and a commit over the loan are refused in words; dropped loans send nothing") {
    remover<bytes_region> r{unique_name("zc-refuse")};
    (void)bytes_region::create(r.name, capacity);
    child sender([&] {
        auto tx = bytes_channel::open(r.name);
        const std::size_t limit = tx.transport().max_record();
        std::error_code ec;
        auto big = tx.try_loan_bytes(limit + 1, ec);
        if (big || big.status() != ipc::status::failed || ec != ipc::errc::message_too_large) return 1;
        if (!has(ipc::last_error_detail(ec), limit + 1) || !has(ipc::last_error_detail(ec), limit)) return 2;
        try {
            (void)tx.loan_bytes_for(limit + 1, 5s);  // refused at once, not after the wait
            return 3;
        } catch (const ipc::error& e) {
            if (e.code() != ipc::errc::message_too_large || !has(e.what(), limit + 1)) return 4;
        }
        {
            auto dropped = tx.loan_bytes_for(64, 5s);
            if (!dropped) return 5;
            fill(dropped.bytes(), 66);  // never committed
        }
        auto cancelled = tx.try_loan_bytes(64);
        if (!cancelled) return 6;
        fill(cancelled.bytes(), 67);
        cancelled.cancel();
        if (cancelled || cancelled.status() != ipc::status::ok) return 7;
        auto held = tx.loan_bytes(32);
        auto second = tx.try_loan_bytes(8, ec);  // one guard at a time
        if (second || second.status() != ipc::status::failed || ec != ipc::errc::in_use) return 8;
        held.commit(33, ec);  // over the loan: refused, the loan still held
        if (ec != ipc::errc::message_too_large || !held || !has(ipc::last_error_detail(ec), 33) || !has(ipc::last_error_detail(ec), 32))
            return 9;
        try {
            held.commit(33);
            return 10;
        } catch (const ipc::error& e) {
            if (e.code() != ipc::errc::message_too_large || !held) return 11;
        }
        auto moved = std::move(held);  // the guard moves, the loan goes with it
        if (held || !moved) return 12;
        fill(moved.bytes().first(16), 7);
        moved.commit(16, ec);
        return !ec && !moved ? child_ok : 13;
    });
    REQUIRE(sender.wait() == child_ok);
    auto rx = bytes_channel::open(r.name);
    auto rec = rx.try_peek_bytes();
    REQUIRE(rec);
    CHECK(is_record(rec.bytes(), 7, 16));
    CHECK(rec.release());
    CHECK(rx.try_peek_bytes().status() == ipc::status::closed);  // the dropped and cancelled loans left nothing
}

TEST_CASE("shm_message_channel: loan_bytes waits for room and times out; peek_bytes times out; both with error_code twins") {
    remover<bytes_region> r{unique_name("zc-wait")};
    (void)bytes_region::create(r.name, capacity);
    auto rx = bytes_channel::open(r.name);
    rx.transport().attach(ipc::direction::recv);
    CHECK(rx.try_peek_bytes().status() == ipc::status::would_block);
    CHECK(rx.peek_bytes_for(20ms).status() == ipc::status::timed_out);
    std::error_code ec;
    CHECK(rx.peek_bytes_for(20ms, ec).status() == ipc::status::timed_out);
    CHECK(rx.peek_bytes_until(std::chrono::steady_clock::now() + 20ms, ec).status() == ipc::status::timed_out);
    gate full;  // tests/conformance.hpp
    child sender([&] {
        auto tx = bytes_channel::open(r.name);
        std::uint64_t n = 0;
        for (;; ++n) {
            auto room = tx.try_loan_bytes(1000);
            if (!room) {
                if (room.status() != ipc::status::would_block || n == 0) return 1;
                break;
            }
            fill(room.bytes(), n);
            room.commit();
        }
        std::error_code e;
        if (tx.loan_bytes_for(1000, 20ms).status() != ipc::status::timed_out) return 2;
        if (tx.loan_bytes_until(1000, std::chrono::steady_clock::now() + 20ms, e).status() != ipc::status::timed_out) return 3;
        full.open();
        auto room = tx.loan_bytes_for(1000, 5s);  // the receiver makes room
        if (!room) return 4;
        fill(room.bytes(), n);
        room.commit();
        return child_ok;
    });
    REQUIRE(full.wait());
    std::uint64_t got = 0;
    for (;; ++got) {
        auto rec = rx.peek_bytes_for(5s);
        if (rec.status() == ipc::status::closed) break;
        REQUIRE(rec.status() == ipc::status::ok);
        REQUIRE(is_record(rec.bytes(), got, 1000));
    }
    CHECK(got * 1000 > capacity / 2);  // the ring had been full
    CHECK(sender.wait() == child_ok);
}

TEST_CASE("shm_broadcast_bytes: a publisher loans records of 0, 1, 4 KiB and the limit; two subscriber processes read them in place") {
    remover<cast_region> r{unique_name("zc-cast")};
    auto pub = cast_channel::create(r.name, {.capacity = capacity, .max_subscribers = 4});
    const std::size_t limit = pub.transport().max_record();
    const std::size_t sizes[] = {0, 1, 4096, limit};
    gate subscribed;  // opened by both subscribers (a subscriber starts at the newest record)
    auto subscriber = [&] {
        auto rx = cast_channel::open(r.name);
        rx.transport().attach(ipc::direction::recv);
        subscribed.open();
        for (std::uint64_t i = 0; i < std::size(sizes); ++i) {
            auto rec = rx.peek_bytes_for(5s);
            if (!rec || !is_record(rec.bytes(), i, sizes[i])) return 1;
            if (!rec.release()) return 2;  // the block policy never writes over a record being read
        }
        std::string text;
        if (rx.recv_for(text, 5s) != ipc::status::ok || text != "hello") return 3;
        auto rec = rx.peek_bytes_for(5s);
        return rec && text_of(rec.bytes()) == "world" && rx.transport().missed() == 0 ? child_ok : 4;
    };
    child one(subscriber), two(subscriber);
    REQUIRE(subscribed.wait());
    std::error_code ec;
    auto big = pub.try_loan_bytes(limit + 1, ec);
    CHECK(big.status() == ipc::status::failed);
    CHECK(ec == ipc::errc::message_too_large);
    CHECK(has(ipc::last_error_detail(ec), limit + 1));
    CHECK(has(ipc::last_error_detail(ec), limit));
    for (std::uint64_t i = 0; i < std::size(sizes); ++i) {
        auto room = pub.loan_bytes_for(sizes[i], 5s);  // block: waits for both subscribers to pass
        REQUIRE(room);
        fill(room.bytes(), i);
        room.commit();
    }
    {
        auto dropped = pub.loan_bytes_for(10, 5s);  // never committed: no subscriber sees it
        REQUIRE(dropped);
        std::memcpy(dropped.data(), "dropped!!!", 10);
    }
    auto hello = pub.loan_bytes_for(100, 5s);
    REQUIRE(hello);
    std::memcpy(hello.data(), "hello", 5);
    hello.commit(5);
    REQUIRE(pub.send_for(std::string("world"), 5s) == ipc::status::ok);
    const int codes[] = {one.wait(), two.wait()};
    CHECK(codes[0] == child_ok);
    CHECK(codes[1] == child_ok);
}

namespace {

// A subscriber process holds a peeked record while the publisher writes a
// whole ring over it: release() says false, missed() counts it, and what
// the subscriber reads next is whole.
void lapped_while_held(slow_policy policy) {
    remover<cast_region> r{unique_name("zc-lap")};
    auto pub = cast_channel::create(r.name, {.capacity = 4096, .max_subscribers = 2, .slow = policy});
    gate subscribed, held, lapped, reading_on;
    child sub([&] {
        auto rx = cast_channel::open(r.name);
        rx.transport().attach(ipc::direction::recv);
        subscribed.open();
        auto rec = rx.peek_bytes_for(5s);
        if (!rec || !is_record(rec.bytes(), 0, 1000)) return 1;
        held.open();
        if (!lapped.wait()) return 2;
        if (rec.release()) return 3;  // written over while held: discard what was read
        // drop_slowest: told once, then subscribed again at the newest record.
        if (policy == slow_policy::drop_slowest && rx.try_peek_bytes().status() != ipc::status::dropped) return 4;
        reading_on.open();
        // What is read next and found intact is whole (overwrite: from the
        // oldest record still whole, which the last record may write over in
        // turn; drop_slowest: from the newest, nothing writes over it).
        for (std::uint64_t i = 0; i != 99;) {
            auto next = rx.peek_bytes_for(5s);
            if (!next || next.size() != 1000) return 5;
            for (i = 0; i < 100 && !is_record(next.bytes(), i, 1000);) ++i;
            if (!next.release()) {
                if (policy != slow_policy::overwrite) return 7;
                i = 0;  // lapped again: discard, read on
                continue;
            }
            if (i == 0 || i == 100) return 6;  // neither torn nor the record it had
        }
        // Overwrite counts the lapped records as missed when it reads past them.
        return policy != slow_policy::overwrite || rx.transport().missed() > 0 ? child_ok : 8;
    });
    REQUIRE(subscribed.wait());
    auto first = pub.loan_bytes_for(1000, 5s);
    REQUIRE(first);
    fill(first.bytes(), 0);
    first.commit();
    REQUIRE(held.wait());
    for (std::uint64_t i = 1; i < 10; ++i) {  // 9 records of 1000 bytes: over twice round a 4 KiB ring
        auto room = pub.loan_bytes_for(1000, 5s);
        REQUIRE(room);
        fill(room.bytes(), i);
        room.commit();
    }
    lapped.open();
    REQUIRE(reading_on.wait());
    auto last = pub.loan_bytes_for(1000, 5s);
    REQUIRE(last);
    fill(last.bytes(), 99);
    last.commit();
    const int code = sub.wait();
    const std::string policy_name = ipc::ring::slow_policy_name(static_cast<std::uint64_t>(policy));
    CAPTURE(policy_name);
    CHECK(code == child_ok);
}

}  // namespace

TEST_CASE("shm_broadcast_bytes: a peeked record the publisher laps while it is held is reported by release() (overwrite)") {
    lapped_while_held(slow_policy::overwrite);
}

TEST_CASE("shm_broadcast_bytes: a peeked record the publisher laps while it is held is reported by release() (drop_slowest)") {
    lapped_while_held(slow_policy::drop_slowest);
}

// The README's example, as written there (but for the name, and CHECKs for its exit code).
TEST_CASE("shm_message_channel: the README's loan_bytes / peek_bytes example") {
    using namespace std::chrono_literals;
    const std::string name = unique_name("readme-records");
    auto rx = ipc::shm_message_channel<>::create(name, 1 << 16);
    if (::fork() == 0) {
        auto tx = ipc::shm_message_channel<>::open(name);
        auto room = tx.loan_bytes_for(100, 1s);  // 100 bytes in the ring, or empty with room.status()
        if (!room) ::_exit(1);
        const int n = std::snprintf(reinterpret_cast<char*>(room.data()), room.size(), "frame %d", 7);
        room.commit(static_cast<std::size_t>(n));  // sends the first n bytes; without commit, nothing
        ::_exit(0);
    }
    bool seen = false;
    if (auto rec = rx.peek_bytes_for(1s))  // the record in place; released at the end of this statement
        seen = std::string_view(reinterpret_cast<const char*>(rec.data()), rec.size()) == "frame 7";
    int st = -1;
    ::wait(&st);
    ipc::shm_message_channel<>::remove(name);
    CHECK(seen);
    CHECK(st == 0);
}
