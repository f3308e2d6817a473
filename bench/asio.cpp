// bench/asio.cpp: ipc channels driven by an Asio io_context on each side
// (<ipc/asio.hpp>, standalone Asio), compiled in only when Asio is found.
//
//   ipc.asio.shm          an spsc ring per direction on sync::eventfd; every
//                         send and receive is an async_send / async_recv whose
//                         callback ends an io_context::run_one() loop: against
//                         raw.epoll.eventfd, the hand-written epoll loop over
//                         the same kind of doorbell.
//   ipc.asio.shm_futex    the same over the default ipc::shm_channel
//                         (sync::futex), each end opened by name, woken by
//                         its doorbell: against raw.epoll.eventfd too.
//   ipc.asio.unix_stream  ipc::unix_stream_channel the same way, against
//                         raw.epoll.unix_stream (the event loop by hand).
#include <ipc/asio.hpp>
#include <ipc/channel.hpp>

#include <array>
#include <memory>
#include <string>
#include <utility>

#include "channels.hpp"
#include "harness.hpp"
#include "shm.hpp"

namespace {

namespace net = ipc::asio::net;
using ipc::asio::attached;

// One side's io_context (concurrency hint 1: one thread), made in the process
// that uses it, after fork. A work guard keeps run_one() waiting between operations.
struct loop {
    net::io_context io{1};
    net::executor_work_guard<net::io_context::executor_type> work{io.get_executor()};
    std::error_code ec;
    bool done = false;

    // Starts one operation and runs handlers until its callback has run.
    template <class Start>
    ipc::status run(Start start) {
        done = false;
        start([this](std::error_code e) {
            ec = e;
            done = true;
        });
        while (!done) io.run_one();
        if (!ec) return ipc::status::ok;
        return ec == ipc::errc::peer_closed ? ipc::status::closed : ipc::status::failed;
    }
};

// A duplex channel (a socket): one attached object for both directions.
template <class Channel>
struct duplex_endpoint {
    Channel ch;
    std::unique_ptr<loop> lp;
    std::unique_ptr<attached<Channel>> a;  // after lp: goes first

    void ready() {
        if (lp) return;
        lp = std::make_unique<loop>();
        a = std::make_unique<attached<Channel>>(lp->io, ch);
    }
    template <class T>
    ipc::status send(const T& v) {
        ready();
        return lp->run([&](auto h) { a->async_send(v, std::move(h)); });
    }
    template <class T>
    ipc::status recv(T& v) {
        ready();
        return lp->run([&](auto h) { a->async_recv(v, std::move(h)); });
    }
};

template <class Socket>
struct socketpair_maker {
    template <class T, class F>
    static auto make(std::size_t size) {
        auto both = bench::channels::socketpair_maker<Socket>::template make<T, F>(size);
        using endpoint = duplex_endpoint<typename decltype(both)::first_type>;
        return std::pair<endpoint, endpoint>{endpoint{std::move(both.first), {}, {}}, endpoint{std::move(both.second), {}, {}}};
    }
};

// Removes the two rings by name when the parent's last endpoint goes (the
// child _exits without destructors).
template <class Region>
struct ring_names {
    std::string name[2];
    ~ring_names() {
        for (auto& n : name) {
            std::error_code ec;
            (void)Region::remove(n, ec);
        }
    }
};

// Two one-way ring channels; each end says which end it is (attach) in the
// process that uses it, at the first call.
template <class Channel>
struct ring_endpoint {
    Channel out, in;
    std::shared_ptr<ring_names<typename Channel::transport_type>> names;
    std::unique_ptr<loop> lp;
    std::unique_ptr<attached<Channel>> a_out, a_in;

    void ready() {
        if (lp) return;
        out.transport().attach(ipc::direction::send);
        in.transport().attach(ipc::direction::recv);
        lp = std::make_unique<loop>();
        a_out = std::make_unique<attached<Channel>>(lp->io, out);
        a_in = std::make_unique<attached<Channel>>(lp->io, in);
    }
    template <class T>
    ipc::status send(const T& v) {
        ready();
        return lp->run([&](auto h) { a_out->async_send(v, std::move(h)); });
    }
    template <class T>
    ipc::status recv(T& v) {
        ready();
        return lp->run([&](auto h) { a_in->async_recv(v, std::move(h)); });
    }
};

// Ring 0 carries a -> b, ring 1 b -> a, each with its own eventfd doorbells
// made here, before fork, so both processes hold them.
struct ring_maker {
    template <class T, class F>
    static auto make(std::size_t size) {
        using region = ipc::transport::posix_shm<ipc::ring::spsc<T>>;
        using channel = ipc::channel<T, region, ipc::sync::eventfd, F>;
        using endpoint = ring_endpoint<channel>;
        auto names = std::make_shared<ring_names<region>>();
        ipc::sync::eventfd bells[2];
        for (int i = 0; i < 2; ++i) {
            names->name[i] = bench::shm::region_name();
            (void)region::create(names->name[i], bench::shm::slots_for(size));
            bells[i] = ipc::sync::eventfd::create();
        }
        std::error_code ec;
        channel a_out(region::open(names->name[0]), F{}, bells[0].share(ec));
        channel a_in(region::open(names->name[1]), F{}, bells[1].share(ec));
        if (ec) throw std::system_error(ec, "eventfd share");
        channel b_out(region::open(names->name[1]), F{}, std::move(bells[1]));
        channel b_in(region::open(names->name[0]), F{}, std::move(bells[0]));
        return std::pair<endpoint, endpoint>{endpoint{std::move(a_out), std::move(a_in), names, {}, {}, {}},
                                             endpoint{std::move(b_out), std::move(b_in), names, {}, {}, {}}};
    }
};

// The same two rings on the default sync::futex, each end opened by name
// only: no descriptor is made before fork; each process's doorbell (an
// autobind socket) is made where it first waits.
struct futex_ring_maker {
    template <class T, class F>
    static auto make(std::size_t size) {
        using region = ipc::transport::posix_shm<ipc::ring::spsc<T>>;
        using channel = ipc::channel<T, region, ipc::sync::futex, F>;
        using endpoint = ring_endpoint<channel>;
        auto names = std::make_shared<ring_names<region>>();
        for (auto& n : names->name) {
            n = bench::shm::region_name();
            (void)region::create(n, bench::shm::slots_for(size));
        }
        auto end = [&](int i) { return channel(region::open(names->name[i]), F{}); };
        return std::pair<endpoint, endpoint>{endpoint{end(0), end(1), names, {}, {}, {}},
                                             endpoint{end(1), end(0), names, {}, {}, {}}};
    }
};

// Fixed-size messages of the shm cases' sizes (8, 64, 4096, 65536 bytes).
template <class Maker, std::size_t... I>
bench::result run_sizes(std::size_t size, const bench::plan& p, std::index_sequence<I...>) {
    bench::result r = bench::result::skip("the asio cases are compiled for 8, 64, 4096 and 65536 bytes");
    ((size == bench::shm::sizes[I]
          ? (r = bench::run_link<bench::channels::link<Maker, ipc::framing::fixed, std::array<std::byte, bench::shm::sizes[I]>>>(size, p), 0)
          : 0),
     ...);
    return r;
}
template <class Maker>
bench::result run(std::size_t size, const bench::plan& p) {
    return run_sizes<Maker>(size, p, std::make_index_sequence<std::size(bench::shm::sizes)>{});
}

const bench::register_peer shm_case{{"ipc.asio.shm", "raw.epoll.eventfd", run<ring_maker>}};
const bench::register_peer futex_case{{"ipc.asio.shm_futex", "raw.epoll.eventfd", run<futex_ring_maker>}};
const bench::register_peer stream_case{{"ipc.asio.unix_stream", "raw.epoll.unix_stream", run<socketpair_maker<ipc::transport::unix_stream>>}};

}  // namespace
