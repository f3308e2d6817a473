// A process identity (pid + start time) tells a live peer from a dead one,
// even after the pid has been reused.
#include <ipc/detail/process.hpp>

#include <sys/prctl.h>

#include "support.hpp"

using namespace ipc_test;
using ipc::detail::is_alive;
using ipc::detail::process_identity;

TEST_CASE("process identity: this process is alive and has a start time") {
    auto me = ipc::detail::self_identity();
    CHECK(me.pid == ::getpid());
    CHECK(me.start_time > 0);
    CHECK(is_alive(me));
}

TEST_CASE("process identity: a child killed with SIGKILL is dead, even before it is reaped") {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    child sleeper([&] {
        auto id = ipc::detail::self_identity();
        [[maybe_unused]] auto n = ::write(ready[1], &id, sizeof id);
        ::pause();
        return 0;
    });
    process_identity id{};
    REQUIRE(::read(ready[0], &id, sizeof id) == sizeof id);
    ::close(ready[0]);
    ::close(ready[1]);
    CHECK(id.pid == sleeper.pid());
    CHECK(is_alive(id));
    ::kill(sleeper.pid(), SIGKILL);
    // Not reaped yet: a zombie. Its parent (us) must still see it as dead.
    auto t0 = std::chrono::steady_clock::now();
    while (is_alive(id) && ms_since(t0) < 5000) std::this_thread::sleep_for(1ms);
    CHECK_FALSE(is_alive(id));
    CHECK(sleeper.wait() == -SIGKILL);
    CHECK_FALSE(is_alive(id));
}

TEST_CASE("process identity: same pid, other start time is another process") {
    auto me = ipc::detail::self_identity();
    process_identity impostor{me.pid, me.start_time + 1};
    CHECK_FALSE(is_alive(impostor));
    CHECK_FALSE(is_alive(process_identity{0, 0}));
}

TEST_CASE("process identity: a command name with spaces and parentheses does not confuse the parser") {
    child oddly_named([] {
        auto before = ipc::detail::process_start_time(::getpid());
        ::prctl(PR_SET_NAME, "x) 1 2 (y", 0, 0, 0);
        auto after = ipc::detail::process_start_time(::getpid());
        return before != 0 && before == after ? 0 : 1;
    });
    CHECK(oddly_named.wait() == child_ok);
}
