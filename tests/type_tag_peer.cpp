// Built twice by tests/type_tag_compilers.sh, once by g++ and once by clang++:
// one build creates rings of a struct, a template type and a std::array, and
// shared objects of a std::pair and a type in an anonymous namespace; the other
// opens them. The opener is refused (errc::layout_mismatch) unless both
// compilers give each type the same tag. (A std::pair is not trivially
// copyable, which a ring's slots need, so it travels as a shared_object.)
//   usage: type_tag_peer create|open NAME
#include <ipc/shared_memory.hpp>
#include <ipc/ring/spsc.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace peer {
struct msg {
    int id;
    unsigned long long stamp;
};
template <class A, int N>
struct batch {
    A items[N];
    short count;
};
}  // namespace peer

namespace {
struct local_note {  // "(anonymous namespace)" in clang++, "{anonymous}" in g++
    char text[16];
};
}  // namespace

namespace {

constexpr std::uint64_t capacity = 8;

template <class T>
void say_tag() {
    const auto tn = ipc::ring::type_name<T>::value;
    std::printf("%.*s: tag %016llx\n", static_cast<int>(tn.size()), tn.data(), static_cast<unsigned long long>(ipc::ring::type_tag<T>));
}

template <class T>
int create_ring(const std::string& name, const T& value) {
    using ring = ipc::ring::spsc<T>;
    auto m = ipc::shared_memory::create(name, ipc::ring::required_size<ring>(capacity));
    std::error_code ec;
    ring r = ipc::ring::format<ring>(m.bytes(), capacity, ec);
    if (ec || !r.try_push(value)) return 2;
    return 0;
}

template <class T>
int open_ring(const std::string& name, const T& expected) {
    using ring = ipc::ring::spsc<T>;
    say_tag<T>();
    auto m = ipc::shared_memory::open(name);
    std::error_code ec;
    ring r = ipc::ring::attach<ring>(m.bytes(), ec);
    if (ec) {
        std::printf("ring '%s': %s\n", name.c_str(), ec.message().c_str());
        return 3;
    }
    T got{};
    if (!r.try_pop(got) || std::memcmp(&got, &expected, sizeof(T)) != 0) return 4;
    ipc::shared_memory::remove(name);
    return 0;
}

template <class T>
int open_object(const std::string& name, const T& expected) {
    say_tag<T>();
    auto o = ipc::shared_object<T>::open(name);
    const bool same = std::memcmp(o.get(), &expected, sizeof(T)) == 0;
    ipc::shared_object<T>::remove(name);
    return same ? 0 : 5;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: type_tag_peer create|open NAME\n");
        return 64;
    }
    const std::string mode = argv[1], name = argv[2];
    peer::msg m{};
    m.id = 7;
    m.stamp = 123456789;
    peer::batch<unsigned long, 3> b{};
    b.items[0] = 1;
    b.items[2] = 3;
    b.count = 2;
    std::array<peer::msg, 2> a{};
    a[1] = m;
    std::pair<short, peer::msg> p{};
    p.first = -5;
    p.second = m;
    local_note note{};
    std::strcpy(note.text, "hello");
    try {
        if (mode == "create") {
            int rc = create_ring(name + ".msg", m);
            if (rc == 0) rc = create_ring(name + ".batch", b);
            if (rc == 0) rc = create_ring(name + ".array", a);
            if (rc != 0) return rc;
            (void)ipc::shared_object<std::pair<short, peer::msg>>::create(name + ".pair", p);
            (void)ipc::shared_object<local_note>::create(name + ".note", note);
            return 0;
        }
        int rc = open_ring(name + ".msg", m);
        if (rc == 0) rc = open_ring(name + ".batch", b);
        if (rc == 0) rc = open_ring(name + ".array", a);
        if (rc == 0) rc = open_object(name + ".pair", p);
        if (rc == 0) rc = open_object(name + ".note", note);
        return rc;
    } catch (const ipc::error& e) {
        std::printf("type_tag_peer %s: %s\n", mode.c_str(), e.what());
        return 1;
    }
}
