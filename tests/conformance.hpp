// tests/conformance.hpp: one suite, run over every transport and framing.
//
// A transport joins by writing a Setup and invoking the suite:
//
//   struct my_setup {
//       static constexpr const char* name = "my";
//       static constexpr bool reports_close = true;   // end of stream / closed are seen
//       static constexpr std::size_t max_message = 1 << 16;
//       template <class T, class Framing> struct ends {
//           ends();                        // in the parent, before fork(): make names, fds
//           auto make_sender();            // in the process that sends
//           auto make_receiver();          // in the process that receives
//       };
//   };
//   IPC_CONFORMANCE(ipc_test::combo<my_setup, ipc::framing::fixed>, ...);
//
// Every case runs the two ends in two real processes.
#pragma once

#include <ipc/channel.hpp>

#include <cstdint>
#include <cstring>
#include <string>

#include "support.hpp"

namespace ipc_test {

// A fixed-size record whose fields check each other.
struct record {
    std::uint64_t seq;
    std::uint64_t check;
    char text[48];
};

inline std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

template <class Framing>
struct value_for {
    using type = std::string;
};
template <>
struct value_for<ipc::framing::fixed> {
    using type = record;
};

// Message number i: its size and content derive from i, so the receiver can check both.
template <class T>
T make_msg(std::uint64_t i, std::size_t max_size);

template <>
inline record make_msg<record>(std::uint64_t i, std::size_t) {
    record r{};
    r.seq = i;
    r.check = mix(i);
    std::snprintf(r.text, sizeof r.text, "record %llu", static_cast<unsigned long long>(i));
    return r;
}

template <>
inline std::string make_msg<std::string>(std::uint64_t i, std::size_t max_size) {
    std::size_t len = (i * 37) % (max_size < 3000 ? max_size : 3000);
    std::string s(len, ' ');
    for (std::size_t k = 0; k < len; ++k) s[k] = static_cast<char>('a' + (mix(i + k) % 26));
    return s;
}

template <class T>
bool is_msg(std::uint64_t i, const T& got, std::size_t max_size) {
    if constexpr (std::is_same_v<T, record>) {
        return got.seq == i && got.check == mix(i) && std::strcmp(got.text, make_msg<record>(i, max_size).text) == 0;
    } else {
        return got == make_msg<T>(i, max_size);
    }
}

template <class Setup, class Framing>
struct combo {
    using setup = Setup;
    using framing = Framing;
    using value = typename value_for<Framing>::type;
    using ends = typename Setup::template ends<value, Framing>;
    static constexpr std::size_t max_message = Setup::max_message;
};

// A one-shot signal between processes: the parent lets a waiting child go on.
class gate {
public:
    gate() { REQUIRE(::pipe(fds_) == 0); }
    ~gate() {
        for (int fd : fds_)
            if (fd >= 0) ::close(fd);
    }
    void open() {
        if (fds_[1] >= 0) ::close(std::exchange(fds_[1], -1));
    }
    // In the child: wait until the parent opens the gate (or dies), at most `limit`.
    bool wait(std::chrono::milliseconds limit = 20s) {
        if (fds_[1] >= 0) ::close(std::exchange(fds_[1], -1));
        auto dl = ipc::deadline::after(limit);
        std::error_code ec;
        return ipc::detail::wait_fd(fds_[0], POLLIN, dl, ec);
    }

private:
    int fds_[2] = {-1, -1};
};

inline constexpr std::uint64_t conformance_count = 2000;

}  // namespace ipc_test

// Statuses print by name in failed assertions.
template <>
struct doctest::StringMaker<ipc::status> {
    static doctest::String convert(ipc::status s) { return s.name(); }
};

TEST_CASE_TEMPLATE_DEFINE("conformance: messages arrive whole, in order, then end of stream", C, ipc_conf_order) {
    using namespace ipc_test;
    using V = typename C::value;
    INFO(C::setup::name);
    typename C::ends e;
    child writer([&] {
        auto tx = e.make_sender();
        for (std::uint64_t i = 0; i < conformance_count; ++i)
            if (tx.send_for(make_msg<V>(i, C::max_message), 10s) != ipc::status::ok) return 1;
        return 0;
    });
    auto rx = e.make_receiver();
    V got{};
    std::uint64_t n = 0;
    for (; n < conformance_count; ++n) {
        auto st = rx.recv_for(got, 10s);
        REQUIRE_MESSAGE(st == ipc::status::ok, "message ", n, ": ", std::string(st.name()));
        REQUIRE_MESSAGE(is_msg(n, got, C::max_message), "message ", n, " is not what was sent");
    }
    CHECK(writer.wait() == child_ok);
    if constexpr (C::setup::reports_close) CHECK(rx.recv_for(got, 10s) == ipc::status::closed);
}

TEST_CASE_TEMPLATE_DEFINE("conformance: a round trip through a child echo", C, ipc_conf_echo) {
    using namespace ipc_test;
    using V = typename C::value;
    INFO(C::setup::name);
    typename C::ends there, back;
    child echo([&] {
        auto rx = there.make_receiver();
        auto tx = back.make_sender();
        V v{};
        for (;;) {
            auto st = rx.recv_for(v, 10s);
            if (st == ipc::status::closed) return 0;
            if (st != ipc::status::ok) return 2;
            if (tx.send_for(v, 10s) != ipc::status::ok) return 3;
        }
    });
    {
        auto tx = there.make_sender();
        auto rx = back.make_receiver();
        V got{};
        for (std::uint64_t i = 0; i < 200; ++i) {
            REQUIRE(tx.send_for(make_msg<V>(i, C::max_message), 10s) == ipc::status::ok);
            REQUIRE(rx.recv_for(got, 10s) == ipc::status::ok);
            REQUIRE(is_msg(i, got, C::max_message));
        }
    }
    if constexpr (C::setup::reports_close) CHECK(echo.wait() == child_ok);
}

TEST_CASE_TEMPLATE_DEFINE("conformance: waiting is bounded: would_block and timed_out, never early", C, ipc_conf_wait) {
    using namespace ipc_test;
    using V = typename C::value;
    INFO(C::setup::name);
    typename C::ends e;
    gate g;
    child silent([&] {
        auto tx = e.make_sender();
        g.wait();
        return 0;
    });
    auto rx = e.make_receiver();
    V got{};
    CHECK(rx.try_recv(got) == ipc::status::would_block);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(rx.recv_for(got, 50ms) == ipc::status::timed_out);
    double waited = ms_since(t0);
    CHECK(waited >= 50.0);
    CHECK(waited < 2000.0);
    std::error_code ec;
    CHECK(rx.recv_for(got, 1ms, ec) == ipc::status::timed_out);
    CHECK(ec == ipc::errc::timed_out);
    t0 = std::chrono::steady_clock::now();
    CHECK(rx.recv_until(got, t0 + 50ms) == ipc::status::timed_out);
    CHECK(ms_since(t0) >= 50.0);
    CHECK(rx.recv_until(got, std::chrono::system_clock::now() + 1ms, ec) == ipc::status::timed_out);
    CHECK(ec == ipc::errc::timed_out);
    g.open();
    CHECK(silent.wait() == child_ok);
}

TEST_CASE_TEMPLATE_DEFINE("conformance: sending to a receiver that left is closed, not SIGPIPE", C, ipc_conf_closed) {
    using namespace ipc_test;
    using V = typename C::value;
    INFO(C::setup::name);
    if constexpr (C::setup::reports_close) {
        typename C::ends e;
        child leaver([&] {
            auto rx = e.make_receiver();
            return 0;
        });
        auto tx = e.make_sender();
        REQUIRE(leaver.wait() == child_ok);
        ipc::status st = ipc::status::ok;
        auto t0 = std::chrono::steady_clock::now();
        for (std::uint64_t i = 0; st == ipc::status::ok && ms_since(t0) < 5000; ++i)
            st = tx.send_for(make_msg<V>(i, C::max_message), 1s);
        CHECK(st == ipc::status::closed);
        std::error_code ec;
        CHECK(tx.try_send(make_msg<V>(1, C::max_message), ec) == ipc::status::closed);
        CHECK(ec == ipc::errc::peer_closed);
    }
}

// Instantiates every conformance case for the given combos.
#define IPC_CONFORMANCE(...)                               \
    TEST_CASE_TEMPLATE_INVOKE(ipc_conf_order, __VA_ARGS__); \
    TEST_CASE_TEMPLATE_INVOKE(ipc_conf_echo, __VA_ARGS__);  \
    TEST_CASE_TEMPLATE_INVOKE(ipc_conf_wait, __VA_ARGS__);  \
    TEST_CASE_TEMPLATE_INVOKE(ipc_conf_closed, __VA_ARGS__)
