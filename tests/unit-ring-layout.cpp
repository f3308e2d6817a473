// The region header: a ring refuses memory made for another T, kind or
// version, a truncated or unformatted region, and corrupt indices or records.
#include <ipc/ring/bytes.hpp>
#include <ipc/ring/mpmc.hpp>
#include <ipc/ring/spsc.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace {

// Cache-line aligned scratch memory standing in for a shared mapping.
struct arena {
    explicit arena(std::size_t n) : size(n), mem(static_cast<std::byte*>(std::aligned_alloc(64, (n + 63) / 64 * 64))) {
        std::memset(mem.get(), 0, n);
    }
    std::span<std::byte> bytes() { return {mem.get(), size}; }
    std::size_t size;
    std::unique_ptr<std::byte, decltype([](std::byte* p) { std::free(p); })> mem;
};

template <class Ring>
arena formatted(std::uint64_t capacity) {
    arena a(ipc::ring::required_size<Ring>(capacity));
    std::error_code ec;
    auto r = ipc::ring::format<Ring>(a.bytes(), capacity, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(r.valid());
    return a;
}

template <class Ring>
std::error_code attach_error(std::span<std::byte> mem) {
    std::error_code ec;
    auto r = ipc::ring::attach<Ring>(mem, ec);
    CHECK(r.valid() == !ec);
    return ec;
}

ipc::ring::header& header_of(arena& a) { return *reinterpret_cast<ipc::ring::header*>(a.mem.get()); }

struct other_int {
    int v;
};

}  // namespace

// A type given a stable name: the same tag in every program, whatever compiler built it.
template <>
struct ipc::ring::type_name<other_int> {
    static constexpr std::string_view value = "test.other_int.v1";
};

TEST_CASE("ring layout: capacity is a power of two, at least the ring's minimum, chosen at creation") {
    using ring = ipc::ring::spsc<int>;
    CHECK(ipc::ring::required_size<ring>(0) == 0);
    CHECK(ipc::ring::required_size<ring>(1) == 0);
    CHECK(ipc::ring::required_size<ring>(3) == 0);
    CHECK(ipc::ring::required_size<ring>(2) > 0);
    CHECK(ipc::ring::required_size<ring>(std::uint64_t{1} << 40) > (std::uint64_t{1} << 40));
    CHECK(ipc::ring::required_size<ring>(std::uint64_t{1} << 63) == 0);  // would overflow
    CHECK(ipc::ring::required_size<ipc::ring::bytes>(32) == 0);
    arena a(4096);
    std::error_code ec;
    (void)ipc::ring::format<ring>(a.bytes(), 3, ec);
    CHECK(ec == ipc::errc::limit_exceeded);
}

TEST_CASE("ring layout: spsc slots are the bare payload, an mpmc slot its word and payload, indices sit on their own lines") {
    CHECK(sizeof(ipc::ring::slot<std::uint64_t>) == 8);  // eight small messages per cache line, as in a hand-written ring
    CHECK(ipc::ring::spsc<std::uint64_t>::slot_size == 8);
    CHECK(ipc::ring::mpmc<std::uint64_t>::slot_size == 16);  // the state word beside the payload: four per line
    CHECK(ipc::ring::mpmc<std::array<char, 56>>::slot_size == 64);
    // head, gap, tail, gap, delivery and redeliveries, then a claim line and a gap per end
    CHECK(sizeof(ipc::ring::mpmc_control) == 5 * 64 + ipc::ring::max_peers * 128);
    CHECK(alignof(ipc::ring::mpmc_control) == 64);  // a region needs only line alignment
    CHECK(offsetof(ipc::ring::two_indices, tail) - offsetof(ipc::ring::two_indices, head) == 128);  // never one prefetch pair
    CHECK(sizeof(ipc::ring::two_indices) == 256);
    CHECK(alignof(ipc::ring::wait_slot) == 64);
    CHECK(ipc::ring::data_offset<ipc::ring::spsc<int>> % 64 == 0);
}

TEST_CASE("ring layout: attach accepts the region it was made for") {
    auto a = formatted<ipc::ring::spsc<int>>(16);
    CHECK_FALSE(attach_error<ipc::ring::spsc<int>>(a.bytes()));
    std::error_code ec;
    auto r = ipc::ring::attach<ipc::ring::spsc<int>>(a.bytes(), ec);
    CHECK(r.capacity() == 16);
}

TEST_CASE("ring layout: another T, ring kind or layout version is layout_mismatch") {
    auto a = formatted<ipc::ring::spsc<int>>(16);
    CHECK(attach_error<ipc::ring::spsc<long>>(a.bytes()) == ipc::errc::layout_mismatch);      // size
    CHECK(attach_error<ipc::ring::spsc<float>>(a.bytes()) == ipc::errc::layout_mismatch);     // same size, other type
    CHECK(attach_error<ipc::ring::spsc<other_int>>(a.bytes()) == ipc::errc::layout_mismatch);  // same shape, other name
    CHECK(attach_error<ipc::ring::mpmc<int>>(a.bytes()) == ipc::errc::layout_mismatch);
    CHECK(attach_error<ipc::ring::bytes>(a.bytes()) == ipc::errc::layout_mismatch);
    header_of(a).version = ipc::ring::layout_version + 1;
    CHECK(attach_error<ipc::ring::spsc<int>>(a.bytes()) == ipc::errc::layout_mismatch);
}

TEST_CASE("ring layout: an mpmc region keeps its delivery guarantee; a program expecting the other is refused") {
    using once = ipc::ring::mpmc<int>;
    using again = ipc::ring::mpmc<int, ipc::ring::delivery::at_least_once>;
    auto a = formatted<again>(16);
    CHECK_FALSE(attach_error<again>(a.bytes()));
    const std::error_code ec = attach_error<once>(a.bytes());
    CHECK(ec == ipc::errc::layout_mismatch);
    CHECK(std::string(ipc::last_error_detail(ec)) ==
          "delivery differs: the region's mpmc ring delivers at least once, this program expects at most once");
    auto b = formatted<once>(16);
    CHECK(attach_error<again>(b.bytes()) == ipc::errc::layout_mismatch);
    CHECK_FALSE(attach_error<once>(b.bytes()));
}

TEST_CASE("ring layout: a truncated, unformatted or scribbled region is corrupt") {
    auto a = formatted<ipc::ring::spsc<int>>(16);
    SUBCASE("truncated") { CHECK(attach_error<ipc::ring::spsc<int>>(a.bytes().first(a.size - 64)) == ipc::errc::corrupt); }
    SUBCASE("too small for a header") { CHECK(attach_error<ipc::ring::spsc<int>>(a.bytes().first(16)) == ipc::errc::corrupt); }
    SUBCASE("never formatted") {
        arena blank(a.size);
        CHECK(attach_error<ipc::ring::spsc<int>>(blank.bytes()) == ipc::errc::corrupt);
    }
    SUBCASE("wrong magic") {
        header_of(a).magic ^= 1;
        CHECK(attach_error<ipc::ring::spsc<int>>(a.bytes()) == ipc::errc::corrupt);
    }
    SUBCASE("capacity not a power of two") {
        header_of(a).capacity = 17;
        CHECK(attach_error<ipc::ring::spsc<int>>(a.bytes()) == ipc::errc::corrupt);
    }
    SUBCASE("capacity larger than the memory") {
        header_of(a).capacity = 1024;
        header_of(a).total_size = ipc::ring::required_size<ipc::ring::spsc<int>>(1024);
        CHECK(attach_error<ipc::ring::spsc<int>>(a.bytes()) == ipc::errc::corrupt);
    }
}

TEST_CASE("ring layout: corrupt indices never reach outside the ring") {
    // Run under AddressSanitizer: any access outside the arena is a failure.
    SUBCASE("fixed slots: indices are masked with the capacity this process checked") {
        auto a = formatted<ipc::ring::spsc<std::uint64_t>>(8);
        std::error_code ec;
        auto r = ipc::ring::attach<ipc::ring::spsc<std::uint64_t>>(a.bytes(), ec);
        auto* st = ipc::ring::state_of<ipc::ring::spsc<std::uint64_t>>(a.bytes());
        st->ctl.head.store(0xdeadbeefcafeULL);
        st->ctl.tail.store(~0ULL - 3);
        std::uint64_t v = 0;
        for (int i = 0; i < 100; ++i) {
            (void)r.try_push(1);
            (void)r.try_pop(v);
        }
        CHECK(r.size() <= r.capacity());
    }
    SUBCASE("byte records: a lying length or a misaligned index is errc::corrupt") {
        auto a = formatted<ipc::ring::bytes>(256);
        std::error_code ec;
        auto r = ipc::ring::attach<ipc::ring::bytes>(a.bytes(), ec);
        const std::byte msg[5] = {};
        REQUIRE(r.try_push(msg, ec));
        std::byte* data = a.mem.get() + ipc::ring::data_offset<ipc::ring::bytes>;
        const std::uint32_t huge = 1u << 30;
        std::memcpy(data, &huge, sizeof huge);
        CHECK_FALSE(r.front(ec));
        CHECK(ec == ipc::errc::corrupt);

        auto* st = ipc::ring::state_of<ipc::ring::bytes>(a.bytes());
        ec.clear();
        st->ctl.tail.store(3);
        r.adopt_indices();  // as an end attaching now reads them
        CHECK_FALSE(r.front(ec));
        CHECK(ec == ipc::errc::corrupt);

        ec.clear();
        st->ctl.head.store(253);
        r.adopt_indices();
        CHECK(r.loan(4, ec) == nullptr);
        CHECK(ec == ipc::errc::corrupt);
    }
}

TEST_CASE("ring layout: a type's tag comes from its name; a stable name can be given") {
    CHECK(ipc::ring::type_tag<int> != ipc::ring::type_tag<float>);
    CHECK(ipc::ring::type_tag<other_int> == ipc::ring::detail::fnv1a("test.other_int.v1"));
}
