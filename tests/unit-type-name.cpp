// The default type tag of shared memory: one spelling of a type's name under
// g++ and clang++, so programs built by either share a ring or a segment.
// CI builds this file with both compilers (presets test and clang): each must
// produce exactly the canonical strings below.
#include <ipc/ring/layout.hpp>

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace {
struct local_msg {
    int v;
};
}  // namespace

namespace tag_test {
struct point {
    int x, y;
    int norm() const;
};
template <class A, int N>
struct table {
    A rows[N];
};
enum class color : unsigned char { red, green };
template <unsigned N, long L, char C, bool B>
struct args {};
template <color C>
struct tinted {};
template <auto V>
struct any_value {};
}  // namespace tag_test

namespace {

template <class T>
std::string canonical() {
    return std::string(ipc::ring::type_name<T>::value);
}

}  // namespace

TEST_CASE("type tag: integer types have one spelling (g++ writes 'long unsigned int', clang++ 'unsigned long')") {
    CHECK(canonical<int>() == "int");
    CHECK(canonical<unsigned>() == "unsigned int");
    CHECK(canonical<unsigned long>() == "unsigned long");
    CHECK(canonical<long long>() == "long long");
    CHECK(canonical<unsigned long long>() == "unsigned long long");
    CHECK(canonical<short>() == "short");
    CHECK(canonical<unsigned short>() == "unsigned short");
    CHECK(canonical<signed char>() == "signed char");
    CHECK(canonical<unsigned char>() == "unsigned char");
    CHECK(canonical<char>() == "char");
    CHECK(canonical<long double>() == "long double");
    CHECK(canonical<const volatile unsigned>() == "const volatile unsigned int");
}

TEST_CASE("type tag: structs, templates and std types are spelled without compiler-specific spaces or namespaces") {
    CHECK(canonical<tag_test::point>() == "tag_test::point");
    CHECK(canonical<tag_test::table<unsigned, 3>>() == "tag_test::table<unsigned int,3>");
    CHECK(canonical<tag_test::table<tag_test::table<long, 2>, 1>>() == "tag_test::table<tag_test::table<long,2>,1>");
    CHECK(canonical<std::pair<int, tag_test::point>>() == "std::pair<int,tag_test::point>");
    CHECK(canonical<std::pair<const int, std::pair<short, unsigned char>>>() == "std::pair<const int,std::pair<short,unsigned char>>");
    CHECK(canonical<std::array<std::uint64_t, 4>>() == "std::array<unsigned long,4>");
    CHECK(canonical<std::atomic<unsigned>>() == "std::atomic<unsigned int>");
    CHECK(canonical<std::chrono::nanoseconds>() == "std::chrono::duration<long,std::ratio<1,1000000000>>");
    // libstdc++'s std::__cxx11 (which g++ prints and clang++ hides) is dropped, as is libc++'s std::__1.
    CHECK(canonical<std::string>() == "std::basic_string<char>");
    CHECK(canonical<std::map<std::string, int>>() == "std::map<std::basic_string<char>,int>");
    CHECK(canonical<local_msg>() == "(anonymous namespace)::local_msg");
}

TEST_CASE("type tag: declarators and template arguments are normalised") {
    CHECK(canonical<int*>() == "int*");
    CHECK(canonical<const int* volatile>() == "const int*volatile");
    CHECK(canonical<int[4]>() == "int[4]");
    CHECK(canonical<void (*)(int)>() == "void(*)(int)");
    CHECK(canonical<int (tag_test::point::*)() const>() == "int(tag_test::point::*)()const");
    CHECK(canonical<tag_test::args<3u, -2L, 'a', true>>() == "tag_test::args<3,-2,97,true>");
    CHECK(canonical<tag_test::args<4000000000u, 5000000000L, '\n', false>>() == "tag_test::args<4000000000,5000000000,10,false>");
    CHECK(canonical<tag_test::args<1, -1, '\xff', false>>() == "tag_test::args<1,-1,255,false>");
    CHECK(canonical<tag_test::tinted<tag_test::color::green>>() == "tag_test::tinted<tag_test::color::green>");
    CHECK(canonical<tag_test::tinted<static_cast<tag_test::color>(7)>>() == "tag_test::tinted<7>");  // g++: (tag_test::color)7
    CHECK(canonical<tag_test::any_value<5ull>>() == "tag_test::any_value<5>");                        // clang++: 5ULL
    CHECK(canonical<tag_test::any_value<-3L>>() == "tag_test::any_value<-3>");
}

TEST_CASE("type tag: the tag is the hash of the canonical name, and type_name stays the escape hatch") {
    CHECK(ipc::ring::type_tag<tag_test::point> == ipc::ring::detail::fnv1a("tag_test::point"));
    CHECK(ipc::ring::type_tag<std::pair<int, tag_test::point>> == ipc::ring::detail::fnv1a("std::pair<int,tag_test::point>"));
    CHECK(ipc::ring::type_tag<int> != ipc::ring::type_tag<unsigned>);
    CHECK(ipc::ring::type_tag<tag_test::table<int, 2>> != ipc::ring::type_tag<tag_test::table<int, 3>>);
    // The rewrite runs at compile time.
    static_assert(ipc::ring::type_name<std::pair<unsigned long, short>>::value == "std::pair<unsigned long,short>");
    // The rewrite itself, on both compilers' spellings of the same types.
    auto rewrite = [](std::string_view s) {
        auto b = ipc::detail::canonical_type_name<128>(s);
        return std::string(b.text.data(), b.size);
    };
    CHECK(rewrite("std::__cxx11::basic_string<char>") == rewrite("std::basic_string<char>"));
    CHECK(rewrite("std::__1::basic_string<char>") == "std::basic_string<char>");
    CHECK(rewrite("{anonymous}::msg") == rewrite("(anonymous namespace)::msg"));
    CHECK(rewrite("std::pair<long unsigned int, short int> *") == rewrite("std::pair<unsigned long, short>*"));
    CHECK(rewrite("t<'\\012', '\\377', (e)-1>") == rewrite("t<'\\n', '\\xFF', -1>"));
    CHECK(rewrite("t<long long unsigned int, 5>") == rewrite("t<unsigned long long, 5ULL>"));
}
