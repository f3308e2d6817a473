// ipc/fwd.hpp: a user's header names channels through it alone (the header
// check compiles it on its own), and its aliases are the very types the
// transport headers' channels are, defaults included.
#include <ipc/fwd.hpp>

#include <ipc/channel.hpp>

#include <doctest/doctest.h>

#include <string>
#include <type_traits>

#include "support.hpp"

namespace {

struct job {
    int id;
};

// What a user's header holds: names only, no transport header needed.
struct worker {
    ipc::shm_channel<job>* jobs = nullptr;
    ipc::posix_mq_channel<job>* queue = nullptr;
    ipc::pipe_channel<int>* pipe = nullptr;
    ipc::poller* loop = nullptr;  // declared in fwd.hpp; defined in poller.hpp / timer.hpp
    ipc::timer* tick = nullptr;
};

template <class A, class B>
constexpr bool same = std::is_same_v<A, B>;

}  // namespace

TEST_CASE("fwd: the aliases are the channels the transports define, with the defaults of ipc::channel") {
    using namespace ipc;
    static_assert(same<shm_channel<job>, channel<job, transport::posix_shm<ring::spsc<job>>, sync::futex>>);
    static_assert(same<shm_message_channel<>, channel<std::string, transport::posix_shm<ring::bytes>, sync::futex, framing::length_prefixed>>);
    static_assert(same<memfd_mpmc_channel<job>, channel<job, transport::memfd<ring::mpmc<job>>, sync::futex>>);
    static_assert(same<posix_mq_channel<job>, channel<job, transport::posix_mq>>);
    static_assert(same<posix_mq_channel<std::string>, channel<std::string, transport::posix_mq, sync::poll, framing::length_prefixed>>);
    static_assert(same<sysv_mq_channel<job>, channel<job, transport::sysv_mq, sync::backoff>>);
    static_assert(same<unix_stream_channel<job>, channel<job, transport::unix_stream>>);
    static_assert(same<decltype(pipe_channel<int>::sender), pipe_sender<int>>);

    // A worker built from those names holds real channels.
    const std::string name = ipc_test::unique_name("fwd");
    auto jobs = shm_channel<job>::create(name, 4);
    worker w;
    w.jobs = &jobs;
    CHECK(w.jobs->try_send(job{7}) == status::ok);
    job j{};
    auto rx = shm_channel<job>::open(name);
    CHECK(rx.try_recv(j) == status::ok);
    CHECK(j.id == 7);
    CHECK(shm_channel<job>::remove(name));
}
