// An anonymous region (memfd): shared with a forked child, or passed to a
// process over a Unix socket with SCM_RIGHTS.
#include <ipc/channel.hpp>

#include "ring_support.hpp"

namespace {

using namespace ipc_test;

struct memfd_setup {
    static constexpr const char* name = "memfd+futex";
    static constexpr bool reports_close = true;
    static constexpr std::size_t max_message = 8000;
    template <class T, class Framing>
    struct ends : region_ends<ends<T, Framing>, T, ipc::transport::memfd<ring_for<T>>, ipc::sync::futex, Framing> {
        using transport = ipc::transport::memfd<ring_for<T>>;
        transport region = transport::create(conformance_capacity<T>);
        // Each process makes its own transport from a copy of the descriptor it inherited.
        transport open() { return transport::open(region.share()); }
    };
};

using ring = ipc::transport::memfd<ipc::ring::spsc<record>>;
using channel = ipc::memfd_channel<record>;  // the channel over a ring

}  // namespace

IPC_CONFORMANCE(combo<memfd_setup, ipc::framing::fixed>, combo<memfd_setup, ipc::framing::length_prefixed>);

TEST_CASE("memfd: a region made after fork reaches the child over SCM_RIGHTS") {
    const int fds_before = open_fd_count();
    {
        ipc::detail::unique_fd sockets[2];
        std::error_code ec;
        REQUIRE(ipc::detail::make_socketpair(SOCK_STREAM, sockets, ec));
        auto& here = sockets[0];
        auto& there = sockets[1];
        child receiver([&] {
            here.reset();
            std::error_code e;
            auto fd = ipc::detail::receive_fd(there.get(), e);
            if (e) return 1;
            auto rx = channel::open(std::move(fd));
            record r{};
            for (std::uint64_t i = 0; i < 1000; ++i)
                if (rx.recv_for(r, 5s) != ipc::status::ok || !is_msg(i, r, 0)) return 2;
            return rx.recv_for(r, 5s) == ipc::status::closed ? 0 : 3;
        });
        there.reset();
        // The region did not exist when the child was forked: only the socket can bring it.
        auto tx = channel::create(16);
        REQUIRE(ipc::detail::send_fd(here.get(), tx.transport().fd(), ec));
        for (std::uint64_t i = 0; i < 1000; ++i) REQUIRE(tx.send_for(make_msg<record>(i, 0), 5s) == ipc::status::ok);
        tx = channel{};  // the sender leaves: the child sees closed
        CHECK(receiver.wait() == child_ok);
    }
    CHECK(open_fd_count() == fds_before);
}

TEST_CASE("memfd: the region's size is sealed and a descriptor of something else is refused") {
    auto made = ring::create(16);
    CHECK(::ftruncate(made.fd(), 64) != 0);  // a peer cannot shrink it under our mapping
    std::error_code ec;
    ipc::detail::unique_fd other(::memfd_create("not-a-ring", MFD_CLOEXEC));
    REQUIRE(::ftruncate(other.get(), 4096) == 0);
    auto wrong = ring::open(std::move(other), ec);
    CHECK(ec == ipc::errc::corrupt);
    ec.clear();
    auto wrong_type = ipc::transport::memfd<ipc::ring::spsc<double>>::open(made.share(), ec);
    CHECK(ec == ipc::errc::layout_mismatch);
}
