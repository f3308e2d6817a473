// System V shared memory: the conformance suite, open modes, and removal
// that leaves nothing in `ipcs`.
#include <ipc/channel.hpp>

#include <sys/ipc.h>
#include <sys/shm.h>

#include "ring_support.hpp"

namespace {

using namespace ipc_test;
template <class T>
using sysv = ipc::transport::sysv_shm<T>;

struct sysv_setup : named_setup<sysv, ipc::sync::futex> {
    static constexpr const char* name = "sysv_shm+futex";
};
struct sysv_sem_setup : named_setup<sysv, ipc::sync::sysv_sem> {
    static constexpr const char* name = "sysv_shm+sysv_sem";
};

bool segment_exists(const std::string& name) {
    return ::shmget(ipc::detail::sysv_shm_backing::key_of(name), 0, 0) >= 0;
}

}  // namespace

IPC_CONFORMANCE(combo<sysv_setup, ipc::framing::fixed>, combo<sysv_setup, ipc::framing::length_prefixed>,
                combo<sysv_sem_setup, ipc::framing::fixed>);

TEST_CASE("sysv_shm: create, open, mode 0600, and remove() leaves no segment") {
    using tr = sysv<ipc::ring::spsc<int>>;
    remover<tr> r{unique_name("sysv")};
    std::error_code ec;
    auto none = tr::open(r.name, ec);
    CHECK(ec == ipc::errc::not_found);
    {
        auto made = tr::create(r.name, 16);
        ec.clear();
        auto twice = tr::create(r.name, 16, ec);
        CHECK(ec == ipc::errc::already_exists);
        ::shmid_ds ds{};
        REQUIRE(::shmctl(::shmget(ipc::detail::sysv_shm_backing::key_of(r.name), 0, 0), IPC_STAT, &ds) == 0);
        CHECK((ds.shm_perm.mode & 0777) == 0600);
    }
    child peer([&] {
        auto tx = ipc::sysv_shm_channel<int>::open(r.name);  // the alias: one call
        return tx.send_for(5, 5s) == ipc::status::ok ? 0 : 1;
    });
    CHECK(peer.wait() == child_ok);
    auto rx = ipc::sysv_shm_channel<int>::open(r.name);
    int v = 0;
    CHECK(rx.recv_for(v, 5s) == ipc::status::ok);
    CHECK(v == 5);
    CHECK(segment_exists(r.name));
    CHECK(tr::remove(r.name));
    CHECK_FALSE(segment_exists(r.name));
    CHECK(rx.try_recv(v) == ipc::status::closed);  // still mapped here: usable until closed
    ec.clear();
    CHECK_FALSE(tr::remove(r.name, ec));
    CHECK_FALSE(ec);
}

TEST_CASE("sysv_shm: a segment made for another T is refused") {
    remover<sysv<ipc::ring::spsc<int>>> r{unique_name("sysvmm")};
    auto made = sysv<ipc::ring::spsc<int>>::create(r.name, 16);
    std::error_code ec;
    auto wrong = sysv<ipc::ring::spsc<double>>::open(r.name, ec);
    CHECK(ec == ipc::errc::layout_mismatch);
}
