// Semaphores as standalone primitives: POSIX named and unnamed, System V with SEM_UNDO.
#include <ipc/sem/posix_semaphore.hpp>
#include <ipc/sem/sysv_semaphore.hpp>

#include <filesystem>
#include <fstream>

#include "shared_memory.hpp"
#include "support.hpp"

namespace {

using namespace ipc_test;

bool in_dev_shm(const std::string& name) { return std::filesystem::exists("/dev/shm/sem." + name); }

// Two processes write a shared log in strict alternation, each waiting for
// its semaphore and posting the other's: any overtaking shows in the log.
template <class Sem>
void take_turns(Sem& parent_turn, Sem& child_turn) {
    struct log_t {
        int entries[200];
        int n;
    };
    shared<log_t> log;
    child peer([&] {
        for (int i = 0; i < 100; ++i) {
            if (!child_turn.try_acquire_for(5s)) return 1;
            log->entries[log->n++] = 2;
            parent_turn.release();
        }
        return 0;
    });
    for (int i = 0; i < 100; ++i) {
        REQUIRE(parent_turn.try_acquire_for(5s));
        log->entries[log->n++] = 1;
        child_turn.release();
    }
    REQUIRE(peer.wait() == child_ok);
    REQUIRE(log->n == 200);
    for (int i = 0; i < 200; ++i) REQUIRE(log->entries[i] == (i % 2 == 0 ? 1 : 2));
}

// A timed acquire on an empty semaphore waits its whole time, and not forever.
template <class Sem>
void timed_acquire_is_never_early(Sem& s) {
    CHECK_FALSE(s.try_acquire());
    std::error_code ec;
    CHECK_FALSE(s.try_acquire(ec));
    CHECK(ec == ipc::errc::would_block);
    for (auto wait : {1ms, 20ms, 60ms}) {
        auto t0 = std::chrono::steady_clock::now();
        CHECK_FALSE(s.try_acquire_for(wait));
        double took = ms_since(t0);
        CHECK(took >= static_cast<double>(wait.count()));
        CHECK(took < 2000.0);
    }
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(s.try_acquire_until(std::chrono::steady_clock::now() + 30ms, ec));
    CHECK(ec == ipc::errc::timed_out);
    CHECK(ms_since(t0) >= 30.0);
    // A wall-clock deadline works too (converted to the steady clock).
    t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(s.try_acquire_until(std::chrono::system_clock::now() + 30ms));
    CHECK(ms_since(t0) >= 29.0);
    // A count that is there is taken even with a deadline already past.
    s.release();
    CHECK(s.try_acquire_for(0ms));
}

}  // namespace

TEST_CASE("posix_semaphore: names are checked before anything is created") {
    std::error_code ec;
    for (std::string bad : {std::string(), std::string("/"), std::string("a/b"), std::string(".."), std::string("."),
                            std::string("sp ace"), std::string("../../etc/x"), std::string(300, 'a')}) {
        auto s = ipc::sem::posix_semaphore::create(bad, 0, ec);
        CHECK_MESSAGE(ec == ipc::errc::name_invalid, bad);
        CHECK_FALSE(s.is_open());
    }
    CHECK_THROWS_AS(ipc::sem::posix_semaphore::create("no/slash"), ipc::error);
}

TEST_CASE("posix_semaphore: create, open, open_or_create and remove") {
    auto name = unique_name("sem");
    std::error_code ec;
    auto missing = ipc::sem::posix_semaphore::open(name, ec);
    CHECK(ec == ipc::errc::not_found);
    CHECK_FALSE(ipc::sem::posix_semaphore::remove(name));

    auto a = ipc::sem::posix_semaphore::create("/" + name, 3);
    CHECK(in_dev_shm(name));
    CHECK((std::filesystem::status("/dev/shm/sem." + name).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    auto again = ipc::sem::posix_semaphore::create(name, 0, ec);
    CHECK(ec == ipc::errc::already_exists);
    auto b = ipc::sem::posix_semaphore::open(name);
    auto c = ipc::sem::posix_semaphore::open_or_create(name, 0);
    CHECK(b.value() == 3);
    CHECK(c.try_acquire());
    CHECK(a.value() == 2);

    CHECK(ipc::sem::posix_semaphore::remove(name));
    CHECK_FALSE(in_dev_shm(name));
    // Still usable by those that have it open.
    a.release(2);
    CHECK(b.value() == 4);
}

TEST_CASE("posix_semaphore: two processes take turns") {
    auto n1 = unique_name("p"), n2 = unique_name("c");
    auto parent_turn = ipc::sem::posix_semaphore::create(n1, 1);
    auto child_turn = ipc::sem::posix_semaphore::create(n2, 0);
    take_turns(parent_turn, child_turn);
    CHECK(ipc::sem::posix_semaphore::remove(n1));
    CHECK(ipc::sem::posix_semaphore::remove(n2));
}

TEST_CASE("posix_semaphore: a process opening by name wakes a waiter in another") {
    auto name = unique_name("sem");
    auto s = ipc::sem::posix_semaphore::create(name, 0);
    child poster([&] {
        auto mine = ipc::sem::posix_semaphore::open(name);
        std::this_thread::sleep_for(30ms);
        mine.release();
        return 0;
    });
    auto t0 = std::chrono::steady_clock::now();
    ::alarm(10);  // bounds the plain blocking call: a hang ends the test run with SIGALRM
    s.acquire();
    ::alarm(0);
    CHECK(ms_since(t0) < 5000.0);
    CHECK(poster.wait() == child_ok);
    CHECK(ipc::sem::posix_semaphore::remove(name));
}

TEST_CASE("posix_semaphore: timed acquire is never early") {
    auto name = unique_name("sem");
    auto s = ipc::sem::posix_semaphore::create(name, 0);
    timed_acquire_is_never_early(s);
    CHECK(ipc::sem::posix_semaphore::remove(name));
}

TEST_CASE("posix_binary_semaphore: the count stays 0 or 1") {
    auto name = unique_name("bin");
    std::error_code ec;
    auto tooful = ipc::sem::posix_binary_semaphore::create(name, 2, ec);
    CHECK(ec == ipc::errc::limit_exceeded);
    CHECK_FALSE(in_dev_shm(name));
    auto b = ipc::sem::posix_binary_semaphore::create(name, 1);
    b.release(1, ec);
    CHECK(ec == ipc::errc::limit_exceeded);
    CHECK(b.value() == 1);
    CHECK_THROWS_AS(b.release(), ipc::error);
    b.acquire();
    b.release();
    CHECK(b.value() == 1);
    CHECK(ipc::sem::posix_binary_semaphore::remove(name));
}

TEST_CASE("unnamed_semaphore: a sem_t in a shared mapping, across fork") {
    struct region {
        alignas(ipc::sem::unnamed_semaphore::storage_align) unsigned char ping[ipc::sem::unnamed_semaphore::storage_size];
        alignas(ipc::sem::unnamed_semaphore::storage_align) unsigned char pong[ipc::sem::unnamed_semaphore::storage_size];
    };
    shared<region> mem;
    ipc::sem::unnamed_semaphore ping(ipc::create_only, mem->ping, 1);
    ipc::sem::unnamed_semaphore pong(ipc::create_only, mem->pong, 0);
    SUBCASE("turns") { take_turns(ping, pong); }
    SUBCASE("a view opened on the same memory sees the same count") {
        ipc::sem::unnamed_semaphore view(ipc::open_only, mem->ping);
        child taker([&] {
            ipc::sem::unnamed_semaphore v(ipc::open_only, mem->ping);
            return v.try_acquire_for(5s) ? 0 : 1;
        });
        CHECK(taker.wait() == child_ok);
        CHECK(view.value() == 0);
    }
    SUBCASE("timed acquire is never early") { timed_acquire_is_never_early(pong); }
    SUBCASE("misaligned storage is refused") {
        std::error_code ec;
        ipc::sem::unnamed_semaphore bad(ipc::open_only, mem->ping + 1, ec);
        CHECK(ec == std::errc::invalid_argument);
    }
    ping.destroy();
    pong.destroy();
}

TEST_CASE("sysv_semaphore: create, open, open_or_create by an ftok key") {
    temp_dir dir;
    std::ofstream(dir / "key").put('k');
    key_t key = ipc::sem::make_key(dir / "key", 'S');
    std::error_code ec;
    auto missing = ipc::sem::sysv_semaphore::open(key, ec);
    CHECK(ec == ipc::errc::not_found);
    CHECK_FALSE(missing.is_open());
    CHECK_FALSE(ipc::sem::sysv_semaphore::remove(key));

    auto a = ipc::sem::sysv_semaphore::create(key, 2);
    auto again = ipc::sem::sysv_semaphore::create(key, 0, ec);
    CHECK(ec == ipc::errc::already_exists);
    CHECK_FALSE(again.is_open());
    auto b = ipc::sem::sysv_semaphore::open(key);
    auto c = ipc::sem::sysv_semaphore::open_or_create(key, 0);
    CHECK(b.id() == a.id());
    CHECK(c.value() == 2);

    semid_ds ds{};
    ipc::detail::semun arg{};
    arg.buf = &ds;
    REQUIRE(::semctl(a.id(), 0, IPC_STAT, arg) == 0);
    CHECK((ds.sem_perm.mode & 0777) == 0600);

    CHECK(ipc::sem::sysv_semaphore::remove(key));
    CHECK(b.value(ec) == 0);
    CHECK(ec);  // the set is gone for everybody

    ipc::sem::make_key(dir / "key", 0, ec);
    CHECK(ec == ipc::errc::name_invalid);
}

TEST_CASE("sysv_semaphore: two processes take turns") {
    auto parent_turn = ipc::sem::sysv_semaphore::create(ipc::sem::private_key, 1);
    auto child_turn = ipc::sem::sysv_semaphore::create(ipc::sem::private_key, 0);
    // Each side releases what the other acquires: signalling, not locking.
    parent_turn.set_undo(false);
    child_turn.set_undo(false);
    take_turns(parent_turn, child_turn);
    parent_turn.remove();
    child_turn.remove();
}

TEST_CASE("sysv_semaphore: SEM_UNDO gives back the count of a holder killed by SIGKILL") {
    auto lock = ipc::sem::sysv_binary_semaphore::create(ipc::sem::private_key, 1);  // undo is on by default
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    child holder([&] {
        ::close(ready[0]);
        auto mine = ipc::sem::sysv_binary_semaphore::from_id(lock.id());
        if (!mine.try_acquire_for(5s)) return 1;
        char c = 'x';
        if (::write(ready[1], &c, 1) != 1) return 2;
        ::pause();  // holds the lock until killed
        return 3;
    });
    ::close(ready[1]);
    char c;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
    CHECK(lock.value() == 0);
    CHECK_FALSE(lock.try_acquire_for(20ms));
    ::kill(holder.pid(), SIGKILL);
    CHECK(holder.wait() == -SIGKILL);
    CHECK(lock.try_acquire_for(5s));
    lock.release();
    lock.remove();
}

TEST_CASE("sysv_semaphore: timed acquire is never early") {
    auto s = ipc::sem::sysv_semaphore::create(ipc::sem::private_key, 0);
    timed_acquire_is_never_early(s);
    s.remove();
}

TEST_CASE("sysv_binary_semaphore: a release over 1 is refused atomically") {
    auto b = ipc::sem::sysv_binary_semaphore::create(ipc::sem::private_key, 1);
    std::error_code ec;
    b.release(1, ec);
    CHECK(ec == ipc::errc::limit_exceeded);
    CHECK(b.value() == 1);
    b.acquire();
    b.release();
    CHECK(b.value() == 1);
    ipc::sem::sysv_semaphore counting = ipc::sem::sysv_semaphore::from_id(b.id());
    counting.release(ipc::sem::sysv_semaphore::max(), ec);
    CHECK(ec == ipc::errc::limit_exceeded);  // 1 + 32767 > SEMVMX
    b.remove();
}
