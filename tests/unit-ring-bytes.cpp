// ring::bytes' inlined paths: try_push / try_pop copy every size whole and
// write nothing beside it, the inlined push (try_push_quick) declines what it
// does not take with the ring untouched, a lying header is errc::corrupt, what older laps
// left is never read as a record (headers say when a record is ready), a
// producer that died between a header and its index is taken over cleanly, a
// region of the layout before is refused, the largest record wraps from any
// head position, and records of every size cross between two processes,
// through the ring and through shm_message_channel's quick send and receive
// (whose receive refuses a held peek, leaves a record it cannot decode to
// the full path, and lets a codec's exception out).
#include <ipc/channel.hpp>
#include <ipc/ring/bytes.hpp>

#include <doctest/doctest.h>

#include <sys/mman.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ring_support.hpp"
#include "support.hpp"

namespace {

using namespace ipc_test;
using ipc::detail::cache_line;
using bytes_region = ipc::transport::posix_shm<ipc::ring::bytes>;
// The channel's send tries the ring's inlined whole-record copy first, and
// its receive the inlined decode out of the record (noexcept as the codec's
// decode is: a vector's may throw growing, and that goes out as from the full path).
static_assert(requires(bytes_region& t, const std::vector<std::byte>& v) { t.try_send_quick(v); });
static_assert(requires(bytes_region& t, std::vector<std::byte>& v) { t.try_recv_quick(v); });
static_assert(!noexcept(std::declval<bytes_region&>().try_recv_quick(std::declval<std::vector<std::byte>&>())));

// A trivially copyable message: its decode is noexcept and says no to any other size.
struct stamp {
    std::uint32_t seq;
    std::uint32_t check;
};
static_assert(noexcept(std::declval<bytes_region&>().try_recv_quick(std::declval<stamp&>())));
constexpr std::uint32_t check_of(std::uint32_t seq) { return seq * 2654435761u ^ 0x5a5a5a5au; }

// A message whose decode throws on 13 bytes (a user's codec may).
struct picky {
    std::vector<std::byte> v;
};
struct picky_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
}  // namespace
template <>
struct ipc::codec<picky> {
    static std::span<const std::byte> bytes(const picky& p) noexcept { return p.v; }
    static bool decode(std::span<const std::byte> in, picky& out) {
        if (in.size() == 13) throw picky_error("picky: 13 bytes");
        out.v.assign(in.begin(), in.end());
        return true;
    }
};
namespace {
// It may throw on what it reads, so it never decodes in the ring (a torn
// broadcast record must not throw): the full path decodes a checked copy.
template <class V>
concept decoded_in_ring = requires(bytes_region& t, V& v) { t.try_recv_quick(v); };
static_assert(!decoded_in_ring<picky>);

// Cache-line aligned scratch memory standing in for a shared mapping.
struct arena {
    explicit arena(std::size_t n) : size(n), mem(static_cast<std::byte*>(std::aligned_alloc(cache_line, (n + cache_line - 1) / cache_line * cache_line))) {
        std::memset(mem.get(), 0, n);
    }
    std::span<std::byte> bytes() { return {mem.get(), size}; }
    std::byte* data() { return mem.get() + ipc::ring::data_offset<ipc::ring::bytes>; }
    std::size_t size;
    std::unique_ptr<std::byte, decltype([](std::byte* p) { std::free(p); })> mem;
};

// A fresh ring of `capacity` bytes in a; its data starts on a line.
ipc::ring::bytes make_ring(arena& a, std::uint64_t capacity) {
    std::error_code ec;
    auto r = ipc::ring::format<ipc::ring::bytes>(a.bytes(), capacity, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(reinterpret_cast<std::uintptr_t>(a.data()) % cache_line == 0);
    return r;
}

// A fresh ring of `capacity` bytes in an arena of its own.
struct ring_in_arena {
    explicit ring_in_arena(std::uint64_t capacity) : a(ipc::ring::required_size<ipc::ring::bytes>(capacity)), r(make_ring(a, capacity)) {}
    arena a;
    ipc::ring::bytes r;
};

std::byte pattern(std::uint64_t i, std::size_t k) { return static_cast<std::byte>((i * 131 + k * 7 + 1) & 0xff); }

// A size sequence through every copy class, either side of a line and the wrap.
std::size_t size_at(std::uint64_t i, std::size_t max) {
    static constexpr std::size_t cycle[] = {0, 1, 2, 3, 5, 8, 13, 16, 31, 32, 55, 56, 57, 63, 64, 65, 72, 100, 127, 128, 129, 300, 7, 64, 64};
    const std::size_t n = cycle[i % std::size(cycle)] + (i / std::size(cycle)) % 3;
    return n < max ? n : max;
}

}  // namespace

TEST_CASE("ring bytes: every size is copied whole, and nothing beside it is written") {
    ring_in_arena f(4096);
    auto& r = f.r;
    std::error_code ec;
    constexpr std::size_t guard = 16;
    const auto mark = std::byte{0xa5};
    for (std::size_t n = 0; n <= 3 * cache_line; ++n) {
        CAPTURE(n);
        std::vector<std::byte> in(n), out(n + 2 * guard, mark);
        for (std::size_t k = 0; k < n; ++k) in[k] = pattern(n, k);
        REQUIRE(r.try_push(in, ec));
        auto got = r.try_pop(std::span(out).subspan(guard, n), ec);
        REQUIRE(got);
        CHECK(*got == n);
        bool whole = true, untouched = true;
        for (std::size_t k = 0; k < n; ++k) whole = whole && out[guard + k] == in[k];
        for (std::size_t k = 0; k < guard; ++k) untouched = untouched && out[k] == mark && out[guard + n + k] == mark;
        CHECK(whole);
        CHECK(untouched);
    }
    CHECK_FALSE(ec);
}

TEST_CASE("ring bytes: the inlined push takes a small record that fits by the cached tail, and leaves the rest to the full push untouched") {
    // try_push_quick is the channel's inlined send of a small record: anything it
    // declines must leave the ring as it was, for the full path to send or
    // report. Each case below is one it declines; try_push then does it.
    constexpr std::uint64_t capacity = 1024;
    ring_in_arena f(capacity);
    auto& r = f.r;  // (no structured binding: clang 14 cannot capture one)
    std::error_code ec;
    std::vector<std::byte> out(r.max_record());
    const auto buffer = [&] { return std::vector<std::byte>(f.a.data(), f.a.data() + capacity); };
    const auto declines = [&](std::span<const std::byte> msg) {
        const auto before = buffer();
        const std::uint64_t used = r.size();
        const bool took = r.try_push_quick(msg);
        return !took && buffer() == before && r.size() == used;
    };
    const auto pops = [&](std::span<const std::byte> msg) {
        auto n = r.try_pop(out, ec);
        return n && *n == msg.size() && std::equal(msg.begin(), msg.end(), out.begin());
    };
    std::vector<std::byte> small(8), edge(64), large(65);
    for (std::size_t k = 0; k < large.size(); ++k) large[k] = pattern(3, k);
    for (std::size_t k = 0; k < edge.size(); ++k) edge[k] = pattern(2, k);
    for (std::size_t k = 0; k < small.size(); ++k) small[k] = pattern(1, k);

    SUBCASE("up to 64 bytes it sends; a larger record is left to the full push") {
        CHECK(r.try_push_quick(edge));
        CHECK(pops(edge));
        CHECK(declines(large));
        REQUIRE(r.try_push(large, ec));
        CHECK(pops(large));
    }
    SUBCASE("room that only reading the tail again shows") {
        // 16-byte records fill the first lap to 1008 (the next one needs 16
        // and 8 for the terminator); two read free 32 more, which the
        // producer's cached tail does not know of yet.
        std::uint64_t pushed = 0;
        while (r.try_push(small, ec)) ++pushed;
        CHECK(pushed == (capacity - 16) / 16);
        CHECK(pops(small));
        CHECK(pops(small));
        CHECK(declines(small));
        REQUIRE(r.try_push(small, ec));  // reads the tail
        CHECK(r.try_push_quick(small));   // which the inlined push now knows: room for one more
        CHECK(declines(small));           // and no more
        std::uint64_t popped = 0;
        while (pops(small)) ++popped;
        CHECK(popped == pushed);
    }
    SUBCASE("a record that would cross the end of the buffer") {
        // The head 16 bytes before the end: a 16-byte payload needs 24 there.
        for (std::uint64_t i = 0; i < (capacity - 16) / 16; ++i) {
            REQUIRE(r.try_push_quick(small));
            REQUIRE(pops(small));
        }
        const std::vector<std::byte> sixteen(large.begin(), large.begin() + 16);
        CHECK(declines(sixteen));
        REQUIRE(r.try_push(sixteen, ec));  // pads the end, starts the lap
        CHECK(pops(sixteen));
        CHECK(r.try_push_quick(small));  // and the lap goes on inline
        CHECK(pops(small));
    }
    SUBCASE("a ring whose records are smaller than 64 bytes") {
        ring_in_arena tiny(ipc::ring::bytes::min_capacity);
        REQUIRE(tiny.r.max_record() < 64);
        const std::vector<std::byte> over(tiny.r.max_record() + 1);
        CHECK_FALSE(tiny.r.try_push_quick(over));
        CHECK(tiny.r.size() == 0);
        CHECK_FALSE(tiny.r.try_push(over, ec));
        CHECK(ec == ipc::errc::message_too_large);
        ec.clear();
    }
    CHECK_FALSE(ec);
}

TEST_CASE("ring bytes: a lying header is errc::corrupt, never a read outside the buffer") {
    constexpr std::uint64_t capacity = 1024;
    // A short record (read), then one of 65 bytes at offset `at` (after
    // enough 0-byte records to put it there), whose header then says (len,
    // flags) instead. Flags: 1 a record, 2 padding to the end of the buffer,
    // 0 nothing published yet (then the whole word is 0).
    auto read_after_lie = [&](std::uint64_t at, std::uint32_t len, std::uint32_t flags) {
        ring_in_arena f(capacity);
        auto& [a, r] = f;
        std::error_code ec;
        const std::byte msg[65] = {};
        REQUIRE(r.try_push(std::span(msg).first(8), ec));
        REQUIRE(r.front(ec));
        r.release();
        for (std::uint64_t i = 16; i < at; i += 8) {
            REQUIRE(r.try_push(std::span(msg).first(0), ec));
            REQUIRE(r.front(ec));
            r.release();
        }
        REQUIRE(r.try_push(msg, ec));
        std::memcpy(a.data() + at, &len, sizeof len);
        std::memcpy(a.data() + at + sizeof len, &flags, sizeof flags);
        const auto m = r.front(ec);
        CHECK(m.has_value() == !ec);  // a record, or the error
        return ec;
    };
    const std::uint32_t max = 1024 / 2 - 8;
    CHECK(read_after_lie(16, 65, 3) == ipc::errc::corrupt);  // flags no record has
    CHECK(read_after_lie(16, 65, 1u << 16) == ipc::errc::corrupt);
    CHECK(read_after_lie(16, 65, 0) == ipc::errc::corrupt);  // a length in a word not published
    CHECK(read_after_lie(16, 1u << 31, 1) == ipc::errc::corrupt);
    CHECK(read_after_lie(16, max + 1, 1) == ipc::errc::corrupt);
    CHECK(read_after_lie(600, 1024 - 600 - 8 + 1, 1) == ipc::errc::corrupt);  // past the end of the buffer
    CHECK_FALSE(read_after_lie(600, 1024 - 600 - 8, 1));                      // up to the end
    CHECK_FALSE(read_after_lie(16, max, 1));
    CHECK_FALSE(read_after_lie(16, 65, 1));  // the truth
    {
        // Padding filling a whole lap (at offset 0) is never written.
        ring_in_arena f(capacity);
        auto& [a, r] = f;
        std::error_code ec;
        const std::uint32_t padding[2] = {0, 2};
        std::memcpy(a.data(), padding, sizeof padding);
        CHECK_FALSE(r.front(ec));
        CHECK(ec == ipc::errc::corrupt);
    }
}

TEST_CASE("ring bytes: what older laps left in the buffer never reads as a record") {
    // Every payload is made of words that would be the published header of
    // an 8-byte record. The consumer looks at the header word at its tail,
    // not at the producer's index: were that word not cleared before the
    // producer's index reached it, an emptied ring would show bytes of an
    // older lap as a record.
    constexpr std::uint64_t capacity = 1024;
    ring_in_arena f(capacity);
    auto& r = f.r;
    std::error_code ec;
    const std::uint32_t fake[2] = {8, 1};
    std::vector<std::byte> in(200), out(200);  // two and the padding before one fit
    for (std::size_t k = 0; k + sizeof fake <= in.size(); k += sizeof fake) std::memcpy(in.data() + k, fake, sizeof fake);
    std::uint64_t ghosts = 0, left = 0, popped = 0;
    constexpr std::uint64_t count = 3002;  // the last one is read
    for (std::uint64_t i = 0; i < count; ++i) {
        REQUIRE(r.try_push(std::span(in).first(size_at(i, in.size())), ec));
        if (i % 3 == 0) continue;  // two in flight at times, so that records end everywhere
        for (int k = 0; k < 2 && r.can_pop(); ++k) popped += r.try_pop(out, ec).has_value();
        ghosts += r.can_pop() || r.try_pop(out, ec).has_value();
        left += r.size() != 0;
    }
    CHECK(popped == count);
    CHECK(ghosts == 0);
    CHECK(left == 0);
    CHECK_FALSE(ec);
}

TEST_CASE("ring bytes: a producer that died between publishing a record and storing its index") {
    // It published the header (a consumer may have read the record) but its
    // index does not count the record: the producer that takes over counts
    // it in, so the record is neither read twice nor written over unread.
    constexpr std::uint64_t capacity = 512;
    for (const bool read_first : {false, true}) {
        for (std::uint64_t skip = 0; skip < capacity; skip += 24) {
            CAPTURE(read_first);
            CAPTURE(skip);
            ring_in_arena f(capacity);
            auto& [a, r] = f;
            std::error_code ec;
            std::array<std::byte, 100> msg{}, out{};
            // The head `skip` bytes in: a 100-byte record then often wraps, after padding.
            for (std::uint64_t i = 0; i < skip; i += 8) {
                REQUIRE(r.try_push(std::span(msg).first(0), ec));
                REQUIRE(r.try_pop(out, ec));
            }
            auto* st = ipc::ring::state_of<ipc::ring::bytes>(a.bytes());
            const std::uint64_t before = st->ctl.head.load();
            msg.fill(std::byte{1});
            REQUIRE(r.try_push(msg, ec));
            st->ctl.head.store(before);  // the store it died before
            if (read_first) {
                auto n = r.try_pop(out, ec);
                REQUIRE(n);
                CHECK(out[0] == std::byte{1});
            }
            auto after = ipc::ring::attach<ipc::ring::bytes>(a.bytes(), ec);  // the producer that takes over
            REQUIRE_FALSE(ec);
            msg.fill(std::byte{2});
            REQUIRE(after.try_push(msg, ec));
            if (!read_first) {
                auto n = r.try_pop(out, ec);
                REQUIRE(n);
                CHECK(out[0] == std::byte{1});
            }
            auto n = r.try_pop(out, ec);
            REQUIRE(n);
            CHECK(out[0] == std::byte{2});
            CHECK_FALSE(r.try_pop(out, ec));
            CHECK(after.size() == 0);
            CHECK_FALSE(ec);
        }
    }
}

TEST_CASE("ring bytes: a region of the layout before headers said when a record is ready is refused in words") {
    ring_in_arena f(1024);
    reinterpret_cast<ipc::ring::header*>(f.a.mem.get())->version = 6;
    std::error_code ec;
    auto r = ipc::ring::attach<ipc::ring::bytes>(f.a.bytes(), ec);
    CHECK_FALSE(r.valid());
    CHECK(ec == ipc::errc::layout_mismatch);
    const std::string words(ipc::last_error_detail(ec));
    const std::string expected = "layout version differs: the region has 6, this program expects " + std::to_string(ipc::ring::layout_version);
    CHECK_MESSAGE(words.find(expected) != std::string::npos, words);
}

TEST_CASE("ring bytes: the largest record fits an empty ring wherever its head is") {
    constexpr std::uint64_t capacity = 512;
    ring_in_arena f(capacity);
    auto& [a, r] = f;
    std::error_code ec;
    const std::size_t max = r.max_record();
    std::vector<std::byte> in(max), out(max);
    for (std::uint64_t i = 0; i < 4 * capacity / 8; ++i) {
        CAPTURE(i);
        // Step the head by one record of 8 bytes, then send the largest record
        // into the emptied ring: it always fits.
        REQUIRE(r.try_push(std::span(in).first(0), ec));
        auto n = r.try_pop(out, ec);
        REQUIRE(n);
        CHECK(*n == 0);
        for (std::size_t k = 0; k < max; ++k) in[k] = pattern(i, k);
        REQUIRE(r.try_push(in, ec));
        n = r.try_pop(out, ec);
        REQUIRE(n);
        CHECK(*n == max);
        CHECK(out == in);
        CHECK(r.size() == 0);
    }
    CHECK_FALSE(ec);
}

TEST_CASE("ring bytes: records of every size cross between two processes whole and in order") {
    constexpr std::uint64_t capacity = 2048;
    constexpr std::uint64_t count = 20000;
    const std::size_t bytes = ipc::ring::required_size<ipc::ring::bytes>(capacity);
    void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    struct unmap {
        void* p;
        std::size_t n;
        ~unmap() { ::munmap(p, n); }
    } unmap_mem{mem, bytes};
    std::error_code ec;
    auto ring = ipc::ring::format<ipc::ring::bytes>(std::span(static_cast<std::byte*>(mem), bytes), capacity, ec);
    REQUIRE_FALSE(ec);
    const std::size_t max = ring.max_record();
    const auto deadline = std::chrono::steady_clock::now() + 15s;

    child producer([&] {
        std::vector<std::byte> buf(max);
        std::error_code e;
        for (std::uint64_t i = 0; i < count;) {
            const std::size_t n = size_at(i, max);
            for (std::size_t k = 0; k < n; ++k) buf[k] = pattern(i, k);
            if (ring.try_push(std::span(buf).first(n), e)) {
                ++i;
            } else if (e) {
                return 1;
            } else if (std::chrono::steady_clock::now() > deadline) {
                return 2;
            }
        }
        return child_ok;
    });
    std::vector<std::byte> buf(max);
    std::uint64_t bad = 0, i = 0;
    while (i < count && !ec && std::chrono::steady_clock::now() < deadline) {
        auto n = ring.try_pop(buf, ec);
        if (!n) continue;
        bool whole = *n == size_at(i, max);
        for (std::size_t k = 0; whole && k < *n; ++k) whole = buf[k] == pattern(i, k);
        bad += !whole;
        ++i;
    }
    CHECK(producer.wait() == child_ok);
    CHECK_FALSE(ec);
    CHECK(i == count);
    CHECK(bad == 0);
}

TEST_CASE("ring bytes: shm_message_channel sends records of every size from one process to another (the inlined send)") {
    remover<bytes_region> r{unique_name("bytes-sizes")};
    const std::size_t max = bytes_region::create(r.name, 4096).max_record();
    constexpr std::uint64_t count = 5000;
    child sender([&] {
        auto tx = ipc::shm_message_channel<std::vector<std::byte>, ipc::sync::spin>::open(r.name);
        std::vector<std::byte> v;
        for (std::uint64_t i = 0; i < count; ++i) {
            v.resize(size_at(i, max));
            for (std::size_t k = 0; k < v.size(); ++k) v[k] = pattern(i, k);
            if (tx.send_for(v, 10s) != ipc::status::ok) return 1;
        }
        // Over the limit: the quick path declines it and the full one says why.
        std::error_code ec;
        v.resize(max + 1);
        if (tx.try_send(v, ec) != ipc::status::failed || ec != ipc::errc::message_too_large) return 2;
        return child_ok;
    });
    auto rx = ipc::shm_message_channel<std::vector<std::byte>, ipc::sync::spin>::open(r.name);
    std::vector<std::byte> v;
    std::uint64_t bad = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        REQUIRE(rx.recv_for(v, 10s) == ipc::status::ok);
        bool whole = v.size() == size_at(i, max);
        for (std::size_t k = 0; whole && k < v.size(); ++k) whole = v[k] == pattern(i, k);
        bad += !whole;
    }
    CHECK(bad == 0);
    CHECK(sender.wait() == child_ok);
}

TEST_CASE("ring bytes: the channel's inlined receive decodes whole records from another process; those that do not decode are errc::bad_message") {
    remover<bytes_region> r{unique_name("bytes-stamps")};
    const std::size_t max = bytes_region::create(r.name, 1024).max_record();
    constexpr std::uint32_t count = 6000;
    // Record i is a stamp when i % 5 != 0; else some other size (0, 7, 9, 16,
    // the limit), cut from the same bytes: a short or long record must never
    // decode as a stamp.
    auto size_of = [&](std::uint32_t i) -> std::size_t {
        if (i % 5 != 0) return sizeof(stamp);
        constexpr std::size_t other[] = {0, 7, 9, 16};
        return i % 25 == 0 ? max : other[(i / 5) % 4];
    };
    child sender([&] {
        auto tx = ipc::shm_message_channel<std::vector<std::byte>, ipc::sync::spin>::open(r.name);
        std::vector<std::byte> v;
        for (std::uint32_t i = 0; i < count; ++i) {
            v.assign(size_of(i), std::byte{0xee});
            const stamp s{i, check_of(i)};
            if (!v.empty()) std::memcpy(v.data(), &s, v.size() < sizeof s ? v.size() : sizeof s);
            if (tx.send_for(v, 10s) != ipc::status::ok) return 1;
        }
        return child_ok;
    });
    auto rx = ipc::shm_message_channel<stamp, ipc::sync::spin>::open(r.name);
    std::uint32_t wrong = 0, refused = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        stamp s{~0u, ~0u};
        std::error_code ec;
        const auto st = rx.recv_for(s, 10s, ec);
        if (i % 5 != 0) {
            REQUIRE(st == ipc::status::ok);
            wrong += s.seq != i || s.check != check_of(i);
        } else {
            // Refused, and only that record: the next one is i + 1's.
            REQUIRE(st == ipc::status::failed);
            refused += ec == ipc::errc::bad_message && s.seq == ~0u && s.check == ~0u;
        }
    }
    CHECK(wrong == 0);
    CHECK(refused == count / 5);
    CHECK(sender.wait() == child_ok);
    stamp s{};
    CHECK(rx.try_recv(s) == ipc::status::closed);  // nothing more: each refused record was dropped once
}

TEST_CASE("ring bytes: the channel's inlined receive refuses a held peek, leaves a record whose decode throws, and reports a lying length") {
    remover<bytes_region> r{unique_name("bytes-quick-refusals")};
    const std::size_t max = bytes_region::create(r.name, 1024).max_record();
    auto rec = [](std::size_t n, std::uint64_t i) {
        picky p;
        for (std::size_t k = 0; k < n; ++k) p.v.push_back(pattern(i, k));
        return p;
    };
    auto is_rec = [](std::span<const std::byte> b, std::size_t n, std::uint64_t i) {
        bool whole = b.size() == n;
        for (std::size_t k = 0; whole && k < n; ++k) whole = b[k] == pattern(i, k);
        return whole;
    };
    // Records 0-3, sent from another process; record 2 does not decode.
    constexpr std::size_t sizes[] = {12, 14, 13, 15};
    child sender([&] {
        auto tx = ipc::shm_message_channel<picky, ipc::sync::spin>::open(r.name);
        for (std::uint64_t i = 0; i < std::size(sizes); ++i)
            if (tx.send_for(rec(sizes[i], i), 10s) != ipc::status::ok) return 1;
        return child_ok;
    });
    CHECK(sender.wait() == child_ok);
    auto rx = ipc::shm_message_channel<picky, ipc::sync::spin>::open(r.name);
    picky got;
    REQUIRE(rx.recv_for(got, 5s) == ipc::status::ok);
    CHECK(is_rec(got.v, 12, 0));
    {
        // A held peek: no receive takes the record under it.
        auto held = rx.peek_bytes_for(5s);
        REQUIRE(held);
        CHECK(is_rec(held.bytes(), 14, 1));
        std::error_code ec;
        got.v.clear();
        CHECK(rx.try_recv(got, ec) == ipc::status::failed);
        CHECK(ec == ipc::errc::in_use);
        CHECK(got.v.empty());
        CHECK_THROWS_AS((void)rx.try_recv(got), ipc::error);
        CHECK(is_rec(held.bytes(), 14, 1));
    }  // released: record 1 is read
    // A decode that throws goes out of recv, every time, and leaves its record.
    CHECK_THROWS_AS((void)rx.try_recv(got), picky_error);
    std::error_code ec;
    CHECK_THROWS_AS((void)rx.try_recv(got, ec), picky_error);
    {
        auto held = rx.peek_bytes_for(5s);
        REQUIRE(held);
        CHECK(is_rec(held.bytes(), 13, 2));
        CHECK(held.release());  // dropped unread
    }
    REQUIRE(rx.recv_for(got, 5s) == ipc::status::ok);
    CHECK(is_rec(got.v, 15, 3));
    // A record whose header lies about its length (over the limit): errc::corrupt, nothing decoded.
    auto tx = ipc::shm_message_channel<picky, ipc::sync::spin>::open(r.name);
    REQUIRE(tx.send_for(rec(16, 4), 5s) == ipc::status::ok);
    std::byte* header = nullptr;
    {
        auto held = rx.peek_bytes_for(5s);
        REQUIRE(held);
        REQUIRE(is_rec(held.bytes(), 16, 4));
        header = const_cast<std::byte*>(held.bytes().data()) + 16;  // where the next record's header goes
    }
    REQUIRE(tx.send_for(rec(40, 5), 5s) == ipc::status::ok);
    const std::uint32_t lie = static_cast<std::uint32_t>(max + 1);
    std::memcpy(header, &lie, sizeof lie);  // its length word (flags still say a record)
    got.v.clear();
    CHECK(rx.try_recv(got, ec) == ipc::status::failed);
    CHECK(ec == ipc::errc::corrupt);
    CHECK(got.v.empty());
}
