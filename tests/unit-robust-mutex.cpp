// ipc::sem::robust_mutex: a mutex in shared memory whose holder can die (SIGKILL,
// _exit) without leaving it locked: the next locker recovers it and is told.
#include <ipc/sem/robust_mutex.hpp>
#include <ipc/transport/posix_shm.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <filesystem>
#include <mutex>

#include "conformance.hpp"
#include "shared_memory.hpp"

namespace {

using namespace ipc_test;

// ThreadSanitizer reports a deliberate unlock by a non-owner as a bug (rightly).
#if defined(__SANITIZE_THREAD__)
constexpr bool tsan_build = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool tsan_build = true;
#else
constexpr bool tsan_build = false;
#endif
#else
constexpr bool tsan_build = false;
#endif
using ipc::sem::robust_mutex;
using ipc::sem::robust_mutex_view;

std::string shm_path(const std::string& name) { return "/dev/shm/" + std::string(ipc::detail::robust_mutex_prefix) + name; }

// A child tells the parent "I hold it now": one byte down a pipe.
class held_signal {
public:
    held_signal() { REQUIRE(::pipe(fds_) == 0); }
    ~held_signal() {
        for (int fd : fds_) ::close(fd);
    }
    held_signal(const held_signal&) = delete;
    held_signal& operator=(const held_signal&) = delete;
    bool notify() {
        const char c = 'h';
        return ::write(fds_[1], &c, 1) == 1;
    }
    bool wait(std::chrono::milliseconds limit = 10s) {
        std::error_code ec;
        char c;
        return ipc::detail::wait_fd(fds_[0], POLLIN, ipc::deadline::after(limit), ec) && ::read(fds_[0], &c, 1) == 1;
    }

private:
    int fds_[2] = {-1, -1};
};

// Another process holding the named mutex (through std::lock_guard) until release().
class live_holder {
public:
    explicit live_holder(const std::string& name)
        : proc_([&] {
              auto m = robust_mutex::open(name);
              std::lock_guard hold(m);
              if (!held_.notify()) return 1;
              return done_.wait() ? 0 : 3;
          }) {
        REQUIRE(held_.wait());
    }
    // Lets it unlock and exit; its exit code.
    int release() {
        done_.open();
        return proc_.wait();
    }

private:
    held_signal held_;
    gate done_;
    child proc_;
};

// A named mutex for one test, removed at its end.
struct named_mutex {
    std::string name = unique_name("mtx");
    robust_mutex m = robust_mutex::create(name);
    ~named_mutex() { CHECK(robust_mutex::remove(name)); }
};

// Takes the lock in a bounded time: from a holder that died (told), or not.
template <class M>
void takes_it(M& m, bool from_the_dead) {
    REQUIRE(m.try_lock_for(5s));
    CHECK(m.previous_owner_died() == from_the_dead);
    m.unlock();
}

// What the mutex guards in these tests: a counter updated in two steps, so a
// holder that dies in between leaves it visibly half done.
struct guarded {
    std::uint64_t count = 0;
    std::uint32_t updating = 0;  // 1 between the two steps
};

// Read-modify-write with a yield in the middle: without mutual exclusion,
// increments from other processes get lost.
void bump(guarded& g, int i) {
    const std::uint64_t v = g.count;
    if (i % 8 == 0) ::sched_yield();
    g.count = v + 1;
}

template <class M>
void n_processes_count_exactly(M& open_in_child) {
    shared<guarded> data;
    constexpr int processes = 4, rounds = 500;
    std::vector<child> workers;
    for (int p = 0; p < processes; ++p)
        workers.emplace_back([&] {
            auto m = open_in_child();
            for (int i = 0; i < rounds; ++i) {
                std::lock_guard hold(m);
                bump(*data, i);
            }
            return 0;
        });
    for (auto& w : workers) CHECK(w.wait() == child_ok);
    CHECK(data->count == processes * rounds);
}

enum class death { sigkill, exit_holding };

// The holder locks, starts an update and dies; the parent, which saw it held,
// then takes the lock within a bounded time, is told, and repairs the data.
template <class Open>
void holder_dies_and_next_locker_recovers(Open open_in_child, death how) {
    shared<guarded> data;
    auto mine = open_in_child();
    held_signal held;
    gate die;
    child holder([&] {
        auto m = open_in_child();
        m.lock();
        data->updating = 1;
        if (!held.notify()) return 1;
        if (!die.wait()) return 3;
        ::_exit(0);  // holding it, without unlocking or unmapping
    });
    REQUIRE(held.wait());
    CHECK_FALSE(mine.try_lock());  // alive and holding
    if (how == death::sigkill) {
        ::kill(holder.pid(), SIGKILL);
        CHECK(holder.wait() == -SIGKILL);
    } else {
        die.open();
        CHECK(holder.wait() == child_ok);
    }
    REQUIRE(mine.try_lock_for(5s));
    CHECK(mine.previous_owner_died());
    CHECK(data->updating == 1);  // what the dead holder left: repair it before trusting it
    data->updating = 0;
    mine.unlock();

    takes_it(mine, false);  // recovered for good: the next acquisition is an ordinary one
}

}  // namespace

TEST_CASE("robust_mutex: names are checked before anything is created") {
    std::error_code ec;
    for (std::string bad : {std::string(), std::string("/"), std::string("a/b"), std::string(".."), std::string("."),
                            std::string("sp ace"), std::string("../../etc/x"), std::string("nul\0x", 5), std::string(300, 'a')}) {
        auto c = robust_mutex::create(bad, ec);
        CHECK_MESSAGE(ec == ipc::errc::name_invalid, bad);
        CHECK_FALSE(c.is_open());
        auto o = robust_mutex::open(bad, ec);
        CHECK(ec == ipc::errc::name_invalid);
        auto oc = robust_mutex::open_or_create(bad, ec);
        CHECK(ec == ipc::errc::name_invalid);
        CHECK_FALSE(robust_mutex::remove(bad, ec));
        CHECK(ec == ipc::errc::name_invalid);
        CHECK_THROWS_AS((void)robust_mutex::open(bad), ipc::error);
    }
    // The longest name still fits NAME_MAX with the "ipc.mutex." prefix.
    const std::string longest = unique_name("long") + std::string(NAME_MAX, 'x');
    const std::string fits = longest.substr(0, NAME_MAX - ipc::detail::robust_mutex_prefix.size());
    auto too_long = robust_mutex::create(fits + "x", ec);
    CHECK(ec == ipc::errc::name_invalid);
    auto ok = robust_mutex::create(fits);
    CHECK(std::filesystem::exists(shm_path(fits)));
    CHECK(robust_mutex::remove(fits));
}

TEST_CASE("robust_mutex: create, open, open_or_create, 0600, and remove of exactly that object") {
    auto name = unique_name("mtx");
    std::error_code ec;
    auto missing = robust_mutex::open(name, ec);
    CHECK(ec == ipc::errc::not_found);
    CHECK_FALSE(missing.is_open());
    CHECK_FALSE(robust_mutex::remove(name));

    auto a = robust_mutex::create("/" + name);
    struct stat sb {};
    REQUIRE(::stat(shm_path(name).c_str(), &sb) == 0);
    CHECK((sb.st_mode & 07777) == 0600);
    CHECK(sb.st_uid == ::getuid());
    auto again = robust_mutex::create(name, ec);
    CHECK(ec == ipc::errc::already_exists);
    CHECK_FALSE(again.is_open());
    CHECK_THROWS_AS(robust_mutex::create(name), ipc::error);
    auto b = robust_mutex::open(name);
    auto c = robust_mutex::open_or_create(name);

    // b and c are the same mutex as a: a holder in another process excludes both.
    live_holder holder(name);
    CHECK_FALSE(b.try_lock());
    CHECK_FALSE(c.try_lock(ec));
    CHECK(ec == ipc::errc::would_block);
    CHECK(holder.release() == child_ok);
    CHECK(c.try_lock_for(5s));
    c.unlock();

    // A ring of the same name lives at /dev/shm/ipc.<name>: remove() leaves it alone.
    auto ring = ipc::transport::posix_shm<ipc::ring::spsc<int>>::create(name, 4);
    CHECK(robust_mutex::remove(name));
    CHECK_FALSE(std::filesystem::exists(shm_path(name)));
    CHECK(std::filesystem::exists("/dev/shm/ipc." + name));
    CHECK(ipc::transport::posix_shm<ipc::ring::spsc<int>>::remove(name));
    // Still usable by those that have it open; the name is free for a new one.
    CHECK(a.try_lock());
    a.unlock();
    auto fresh = robust_mutex::open_or_create(name);
    CHECK(fresh.try_lock());
    CHECK(a.try_lock());  // a different mutex now
    a.unlock();
    fresh.unlock();
    CHECK(robust_mutex::remove(name));
}

TEST_CASE("robust_mutex: wider permissions are given exactly") {
    auto name = unique_name("mtx");
    const ::mode_t old = ::umask(077);
    auto m = robust_mutex::create(name, ipc::permissions{0640});
    ::umask(old);
    struct stat sb {};
    REQUIRE(::stat(shm_path(name).c_str(), &sb) == 0);
    CHECK((sb.st_mode & 07777) == 0640);
    CHECK(robust_mutex::remove(name));
}

TEST_CASE("robust_mutex: processes counting under std::lock_guard reach the exact total") {
    auto name = unique_name("mtx");
    SUBCASE("each opens the mutex the parent created") {
        auto m = robust_mutex::create(name);
        auto open = [&] { return robust_mutex::open(name); };
        n_processes_count_exactly(open);
    }
    SUBCASE("all race to open_or_create it: one creates, the others wait for it to be formatted") {
        auto open = [&] { return robust_mutex::open_or_create(name); };
        n_processes_count_exactly(open);
    }
    CHECK(robust_mutex::remove(name));
}

TEST_CASE("robust_mutex: a holder that dies leaves the lock to the next locker, who is told") {
    named_mutex fixture;
    auto open = [&] { return robust_mutex::open(fixture.name); };
    SUBCASE("killed by SIGKILL") { holder_dies_and_next_locker_recovers(open, death::sigkill); }
    SUBCASE("_exit without unlocking") { holder_dies_and_next_locker_recovers(open, death::exit_holding); }
}

TEST_CASE("robust_mutex: a waiter blocked on the lock is woken by the holder's death") {
    named_mutex fixture;
    const std::string& name = fixture.name;
    robust_mutex& m = fixture.m;
    held_signal held;
    child holder([&] {
        auto mine = robust_mutex::open(name);
        mine.lock();
        if (!held.notify()) return 1;
        ::pause();
        return 2;
    });
    REQUIRE(held.wait());
    child waiter([&] {
        auto mine = robust_mutex::open(name);
        std::unique_lock hold(mine, 10s);  // try_lock_for
        if (!hold.owns_lock()) return 1;
        return mine.previous_owner_died() ? 0 : 2;
    });
    std::this_thread::sleep_for(50ms);  // let the waiter block in the kernel
    ::kill(holder.pid(), SIGKILL);
    CHECK(holder.wait() == -SIGKILL);
    CHECK(waiter.wait() == child_ok);
    CHECK(m.try_lock());
    CHECK_FALSE(m.previous_owner_died());  // the waiter unlocked it properly
    m.unlock();
}

TEST_CASE("robust_mutex: if the recovering process dies too, the next one is told again") {
    named_mutex fixture;
    const std::string& name = fixture.name;
    robust_mutex& m = fixture.m;
    child first([&]() -> int {
        auto mine = robust_mutex::open(name);
        mine.lock();
        ::_exit(0);  // holding it
    });
    CHECK(first.wait() == child_ok);
    child second([&] {
        auto mine = robust_mutex::open(name);
        if (!mine.try_lock_for(5s)) return 1;
        ::_exit(mine.previous_owner_died() ? 0 : 2);  // dies holding it, repair unfinished
    });
    CHECK(second.wait() == child_ok);
    takes_it(m, true);
}

TEST_CASE("robust_mutex: closing a robust_mutex this object holds unlocks it (an unmapped one could not be recovered)") {
    named_mutex fixture;
    const std::string& name = fixture.name;
    robust_mutex& m = fixture.m;
    child forgetful([&] {
        auto mine = robust_mutex::open(name);
        mine.lock();
        robust_mutex moved_to(std::move(mine));
        moved_to = robust_mutex::open(name);  // closes the held one: unlocked
        return moved_to.try_lock() ? 0 : 1;             // held again, then closed by return
    });
    CHECK(forgetful.wait() == child_ok);
    takes_it(m, false);
}

TEST_CASE("robust_mutex: a timed lock against a live holder fails, never early") {
    named_mutex fixture;
    const std::string& name = fixture.name;
    robust_mutex& m = fixture.m;
    live_holder holder(name);
    CHECK_FALSE(m.try_lock());
    std::error_code ec;
    CHECK_FALSE(m.try_lock(ec));
    CHECK(ec == ipc::errc::would_block);
    for (auto wait : {1ms, 20ms, 60ms}) {
        auto t0 = std::chrono::steady_clock::now();
        CHECK_FALSE(m.try_lock_for(wait));
        const double took = ms_since(t0);
        CHECK(took >= static_cast<double>(wait.count()));
        CHECK(took < 2000.0);
    }
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(m.try_lock_until(std::chrono::steady_clock::now() + 30ms, ec));
    CHECK(ec == ipc::errc::timed_out);
    CHECK(ms_since(t0) >= 30.0);
    // A wall-clock deadline works too (converted to the steady clock).
    t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(m.try_lock_until(std::chrono::system_clock::now() + 30ms));
    CHECK(ms_since(t0) >= 29.0);
    CHECK_FALSE(m.try_lock_for(0ms));
    CHECK(holder.release() == child_ok);
    // Free now: taken even with a deadline already past.
    CHECK(m.try_lock_for(0ms));
    CHECK_FALSE(m.previous_owner_died());
    m.unlock();
}

TEST_CASE("robust_mutex: errors are errors, not deadlocks or silent no-ops") {
    named_mutex fixture;
    const std::string& name = fixture.name;
    robust_mutex& m = fixture.m;
    std::error_code ec;
    SUBCASE("locking it again from the holding thread") {
        m.lock();
        CHECK_THROWS_AS(m.lock(), std::system_error);
        m.lock(ec);
        CHECK(ec == std::errc::resource_deadlock_would_occur);
        CHECK_FALSE(m.try_lock(ec));
        CHECK(ec == std::errc::resource_deadlock_would_occur);
        m.unlock();
    }
    if (!tsan_build) {
        SUBCASE("unlocking what this thread does not hold") {
            m.unlock(ec);
            CHECK(ec == std::errc::operation_not_permitted);
        }
        SUBCASE("a child forked while the parent holds it does not hold it") {
            m.lock();
            child forked([&] {
                std::error_code e;
                m.unlock(e);
                return e == std::errc::operation_not_permitted ? 0 : 1;
            });
            CHECK(forked.wait() == child_ok);
            child other([&] { return robust_mutex::open(name).try_lock() ? 1 : 0; });
            CHECK(other.wait() == child_ok);  // still the parent's
            m.unlock();
        }
    }
    SUBCASE("a closed or default-constructed mutex") {
        robust_mutex none;
        CHECK_FALSE(none.is_open());
        CHECK(none.native_handle() == nullptr);
        none.lock(ec);
        CHECK(ec == std::errc::bad_file_descriptor);
        CHECK_THROWS_AS((void)none.try_lock(), ipc::error);
    }
}

TEST_CASE("robust_mutex: an object that is not a usable robust_mutex is refused with a clear error") {
    auto name = unique_name("mtx");
    { auto made = robust_mutex::create(name); }
    const std::string path = shm_path(name);
    const std::size_t size = robust_mutex::storage_size;
    auto rewrite = [&](auto edit) {
        int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        REQUIRE(fd >= 0);
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        REQUIRE(p != MAP_FAILED);
        edit(*static_cast<ipc::detail::robust_mutex_state*>(p), static_cast<unsigned char*>(p));
        ::munmap(p, size);
        ::close(fd);
    };
    std::error_code ec;
    SUBCASE("garbage over the header") {
        rewrite([&](auto&, unsigned char* bytes) { std::memset(bytes, 0xab, size); });
        auto t0 = std::chrono::steady_clock::now();
        auto m = robust_mutex::open(name, ec);
        CHECK(ec == ipc::errc::corrupt);
        CHECK(ms_since(t0) < 1000.0);  // not mistaken for a format in progress
        CHECK_FALSE(m.is_open());
        auto oc = robust_mutex::open_or_create(name, ec);
        CHECK(ec == ipc::errc::corrupt);
    }
    SUBCASE("another layout version") {
        rewrite([](auto& st, unsigned char*) { st.version = 99; });
        auto m = robust_mutex::open(name, ec);
        CHECK(ec == ipc::errc::layout_mismatch);
    }
    SUBCASE("another libc's pthread_mutex_t") {
        rewrite([](auto& st, unsigned char*) { st.mutex_size = 24; });
        CHECK_THROWS_AS((void)robust_mutex::open(name), ipc::error);
    }
    SUBCASE("too short to hold one") {
        REQUIRE(::truncate(path.c_str(), 8) == 0);
        auto m = robust_mutex::open(name, ec);
        CHECK(ec == ipc::errc::corrupt);
    }
    SUBCASE("a creator that died before formatting it (waited for, briefly)") {
        REQUIRE(::truncate(path.c_str(), 0) == 0);
        auto t0 = std::chrono::steady_clock::now();
        auto m = robust_mutex::open(name, ec);
        CHECK(ec == ipc::errc::corrupt);
        CHECK(ms_since(t0) >= 1000.0);
    }
    CHECK(robust_mutex::remove(name));
}

TEST_CASE("robust_mutex_view: a robust mutex placed in a MAP_SHARED mapping, across fork") {
    struct region {
        alignas(robust_mutex_view::storage_align) std::byte storage[robust_mutex_view::storage_size];
    };
    shared<region> mem;
    std::error_code ec;
    robust_mutex_view unformatted(ipc::open_only, mem->storage, ec);
    CHECK(ec == ipc::errc::corrupt);

    robust_mutex_view m(ipc::create_only, mem->storage);
    SUBCASE("processes counting under std::lock_guard reach the exact total") {
        auto open = [&] { return robust_mutex_view(ipc::open_only, mem->storage); };
        n_processes_count_exactly(open);
    }
    SUBCASE("a holder killed by SIGKILL") {
        holder_dies_and_next_locker_recovers([&] { return robust_mutex_view(ipc::open_only, mem->storage); }, death::sigkill);
    }
    SUBCASE("storage that is misaligned or too small is refused") {
        alignas(robust_mutex_view::storage_align) std::byte buf[robust_mutex_view::storage_size + 8];
        robust_mutex_view misaligned(ipc::create_only, std::span(buf + 1, robust_mutex_view::storage_size), ec);
        CHECK(ec == std::errc::invalid_argument);
        CHECK_FALSE(misaligned.is_open());
        robust_mutex_view too_small(ipc::create_only, std::span(buf, robust_mutex_view::storage_size - 1), ec);
        CHECK(ec == std::errc::invalid_argument);
        CHECK_THROWS_AS(robust_mutex_view(ipc::create_only, std::span<std::byte>()), ipc::error);
    }
    m.destroy();
    robust_mutex_view destroyed(ipc::open_only, mem->storage, ec);
    CHECK(ec == ipc::errc::corrupt);
}
