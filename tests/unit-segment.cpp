// ipc::shared_object<T> and ipc::shared_memory: named shared memory with a
// checked header, a robust mutex and a semaphore inside, across real processes.
#include <ipc/shared_memory.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "shared_memory.hpp"
#include "support.hpp"

extern char** environ;

namespace {

using namespace ipc_test;

struct table {
    ipc::sem::shared_robust_mutex lock;
    long counter = 0;
    int rows[16] = {};
    char note[32] = {};
    long reply = 0;
};

struct other_table {  // the same size and alignment as table, another type
    ipc::sem::shared_robust_mutex lock;
    long counter = 0;
    int rows[16] = {};
    char note[32] = {};
    long reply = 0;
};
static_assert(sizeof(table) == sizeof(other_table));

struct pool {
    explicit pool(unsigned limit) : slots(limit) {}
    ipc::sem::shared_semaphore slots;
    std::atomic<int> inside{0};
    std::atomic<int> most_inside{0};
};

std::string shm_path(const std::string& name) { return "/dev/shm/" + std::string(ipc::detail::segment_prefix) + name; }

// Removes the segment when the test ends, however it ends.
struct scoped_name {
    explicit scoped_name(std::string tag) : name(unique_name(std::move(tag))) {}
    ~scoped_name() {
        std::error_code ec;
        (void)ipc::shared_memory::remove(name, ec);
    }
    std::string name;
};

// A flag another process raises ("I hold it now"), waited for with a bound.
bool wait_for(const std::atomic<int>& flag, std::chrono::milliseconds limit = 10s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (flag.load() == 0) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

template <class F>
std::string failure_words(F&& f, std::error_code& code) {
    try {
        f();
    } catch (const ipc::error& e) {
        code = e.code();
        return e.what();
    }
    return "no exception";
}

// The exec'd reader: this binary started again with IPC_TEST_SEGMENT_READER=<name>
// checks what its creator wrote, answers, and exits before doctest runs.
int read_as_unrelated_process(const char* name) {
    std::error_code ec;
    auto t = ipc::shared_object<table>::open(name, ec);
    if (ec) return 10;
    std::lock_guard hold(t->lock);
    for (int i = 0; i < 16; ++i)
        if (t->rows[i] != i * i) return 11;
    if (std::strcmp(t->note, "written by the creator") != 0) return 12;
    t->reply = ::getpid();
    return 0;
}
const int exec_reader = [] {
    if (const char* name = std::getenv("IPC_TEST_SEGMENT_READER")) ::_exit(read_as_unrelated_process(name));
    return 0;
}();

}  // namespace

TEST_CASE("shared_object: four processes increment a counter under the robust mutex inside it and reach the exact total") {
    scoped_name n("seg-count");
    auto t = ipc::shared_object<table>::create(n.name);
    REQUIRE(t.created());
    constexpr int procs = 4, rounds = 2000;
    std::vector<child> kids;
    for (int p = 0; p < procs; ++p)
        kids.emplace_back([&] {
            auto mine = ipc::shared_object<table>::open(n.name);
            for (int i = 0; i < rounds; ++i) {
                std::lock_guard hold(mine->lock);
                const long v = mine->counter;  // a read-modify-write that only the lock keeps whole
                if (i % 64 == 0) std::this_thread::yield();
                mine->counter = v + 1;
            }
            return 0;
        });
    for (auto& k : kids) CHECK(k.wait() == 0);
    std::lock_guard hold(t->lock);
    CHECK(t->counter == long{procs} * rounds);
}

TEST_CASE("shared_object: a counting semaphore inside it admits exactly its limit of processes at once") {
    scoped_name n("seg-sem");
    constexpr unsigned limit = 3;
    auto p = ipc::shared_object<pool>::create(n.name, limit);
    CHECK(p->slots.value() == int{limit});
    std::vector<child> kids;
    for (int k = 0; k < 6; ++k)
        kids.emplace_back([&] {
            auto mine = ipc::shared_object<pool>::open(n.name);
            for (int i = 0; i < 15; ++i) {
                if (!mine->slots.try_acquire_for(10s)) return 2;
                const int now = mine->inside.fetch_add(1) + 1;
                int most = mine->most_inside.load();
                while (now > most && !mine->most_inside.compare_exchange_weak(most, now)) {}
                std::this_thread::sleep_for(2ms);
                mine->inside.fetch_sub(1);
                mine->slots.release();
            }
            return 0;
        });
    for (auto& k : kids) CHECK(k.wait() == 0);
    CHECK(p->most_inside.load() == int{limit});  // never more, and the limit was reached
    CHECK(p->slots.value() == int{limit});
}

TEST_CASE("shared_object: a holder SIGKILLed while holding the mutex is recovered by the next locker, who is told") {
    scoped_name n("seg-kill");
    auto t = ipc::shared_object<table>::create(n.name);
    shared<std::atomic<int>> held;
    child holder([&] {
        auto mine = ipc::shared_object<table>::open(n.name);
        mine->lock.lock();
        mine->counter = -1;  // half an update
        held->store(1);
        std::this_thread::sleep_for(60s);
        return 1;
    });
    REQUIRE(wait_for(*held));
    CHECK_FALSE(t->lock.try_lock());
    ::kill(holder.pid(), SIGKILL);
    CHECK(holder.wait() == -SIGKILL);

    REQUIRE(t->lock.try_lock_for(5s));
    CHECK(t->lock.previous_owner_died());
    CHECK(t->counter == -1);
    t->counter = 0;  // repaired
    t->lock.unlock();
    std::lock_guard again(t->lock);
    CHECK_FALSE(t->lock.previous_owner_died());
}

TEST_CASE("shared_object: an unrelated exec'd process opens it by name and reads what the creator wrote") {
    scoped_name n("seg-exec");
    auto t = ipc::shared_object<table>::create(n.name);
    {
        std::lock_guard hold(t->lock);
        for (int i = 0; i < 16; ++i) t->rows[i] = i * i;
        std::strcpy(t->note, "written by the creator");
    }
    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
    env_store.push_back("IPC_TEST_SEGMENT_READER=" + n.name);
    std::vector<char*> envp;
    for (auto& s : env_store) envp.push_back(s.data());
    envp.push_back(nullptr);
    char self[] = "/proc/self/exe";
    char* argv[] = {self, nullptr};
    pid_t pid = -1;
    REQUIRE(::posix_spawn(&pid, self, nullptr, nullptr, argv, envp.data()) == 0);
    int st = 0;
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (::waitpid(pid, &st, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > until) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &st, 0);
            FAIL("the exec'd reader did not finish");
        }
        std::this_thread::sleep_for(1ms);
    }
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    std::lock_guard hold(t->lock);
    CHECK(t->reply == pid);
}

TEST_CASE("shared_object: open_or_create from several processes at once constructs T exactly once; the others wait for it") {
    struct slow {
        explicit slow(std::atomic<int>* constructions) : value(42) {
            constructions->fetch_add(1);
            std::this_thread::sleep_for(100ms);  // the others must wait, not read a half-built object
            ready = 1;
        }
        long value;
        int ready = 0;
    };
    scoped_name n("seg-race");
    shared<std::atomic<int>> constructions, start, creators;
    std::vector<child> kids;
    for (int k = 0; k < 4; ++k)
        kids.emplace_back([&] {
            while (start->load() == 0) std::this_thread::yield();
            auto s = ipc::shared_object<slow>::open_or_create(n.name, &*constructions);
            if (s.created()) creators->fetch_add(1);
            return s->value == 42 && s->ready == 1 ? 0 : 1;
        });
    start->store(1);
    for (auto& k : kids) CHECK(k.wait() == 0);
    CHECK(constructions->load() == 1);
    CHECK(creators->load() == 1);
}

TEST_CASE("shared_object: a creator killed while constructing leaves a segment openers refuse as corrupt, saying why") {
    struct stuck {
        explicit stuck(std::atomic<int>* constructing) {
            constructing->store(1);
            std::this_thread::sleep_for(60s);
        }
        int v = 0;
    };
    scoped_name n("seg-dead");
    shared<std::atomic<int>> constructing;
    child creator([&] {
        (void)ipc::shared_object<stuck>::create(n.name, &*constructing);
        return 1;
    });
    REQUIRE(wait_for(*constructing));
    const pid_t creator_pid = creator.pid();
    ::kill(creator_pid, SIGKILL);
    CHECK(creator.wait() == -SIGKILL);

    std::error_code ec;
    auto t0 = std::chrono::steady_clock::now();
    auto s = ipc::shared_object<stuck>::open(n.name, ec);
    CHECK(ec == ipc::errc::corrupt);
    CHECK_FALSE(s);
    CHECK(ms_since(t0) < 1000);  // a dead creator is told at once, not waited for
    const std::string words(ipc::last_error_detail(ec));
    CHECK(words.find("died while constructing") != std::string::npos);
    CHECK(words.find("pid " + std::to_string(creator_pid)) != std::string::npos);
    std::error_code code;
    const std::string what = failure_words([&] { (void)ipc::shared_object<stuck>::open_or_create(n.name, nullptr); }, code);
    CHECK(code == ipc::errc::corrupt);
    CHECK(what.find("was never initialised") != std::string::npos);
    CHECK(ipc::shared_object<stuck>::remove(n.name));
}

TEST_CASE("shared_object: a constructor that throws leaves nothing behind, and the exception reaches the creator") {
    struct fussy {
        explicit fussy(int v) : value(v) {
            if (v < 0) throw std::invalid_argument("negative");
        }
        int value;
    };
    scoped_name n("seg-throw");
    CHECK_THROWS_AS((void)ipc::shared_object<fussy>::create(n.name, -1), std::invalid_argument);
    std::error_code ec;
    (void)ipc::shared_object<fussy>::open(n.name, ec);
    CHECK(ec == ipc::errc::not_found);
    auto ok = ipc::shared_object<fussy>::create(n.name, 7);
    CHECK(ok->value == 7);

    // An ipc::error from the constructor lands in the twin's error_code.
    struct over_limit {
        ipc::sem::shared_binary_semaphore s{2};  // a binary semaphore cannot start at 2
    };
    scoped_name m("seg-throw-ec");
    (void)ipc::shared_object<over_limit>::create(m.name, ec);
    CHECK(ec == ipc::errc::limit_exceeded);
    (void)ipc::shared_object<over_limit>::open(m.name, ec);
    CHECK(ec == ipc::errc::not_found);
}

TEST_CASE("shared_object: another type, another size, a truncated file or a garbage header is refused with words") {
    scoped_name n("seg-refuse");
    auto t = ipc::shared_object<table>::create(n.name);
    std::error_code code;

    SUBCASE("another type of the same size and alignment") {
        const std::string what = failure_words([&] { (void)ipc::shared_object<other_table>::open(n.name); }, code);
        CHECK(code == ipc::errc::layout_mismatch);
        CHECK(what.find("holds '(anonymous namespace)::table'") != std::string::npos);
        CHECK(what.find("expects '(anonymous namespace)::other_table'") != std::string::npos);
    }
    SUBCASE("another size") {
        const std::string what = failure_words([&] { (void)ipc::shared_object<long>::open(n.name); }, code);
        CHECK(code == ipc::errc::layout_mismatch);
        CHECK(what.find("expects 'long' (8 bytes") != std::string::npos);
    }
    SUBCASE("as raw bytes") {
        const std::string what = failure_words([&] { (void)ipc::shared_memory::open(n.name); }, code);
        CHECK(code == ipc::errc::layout_mismatch);
        CHECK(what.find("holds an object") != std::string::npos);
    }
    SUBCASE("truncated") {
        REQUIRE(::truncate(shm_path(n.name).c_str(), static_cast<off_t>(sizeof(ipc::detail::segment_header) + 8)) == 0);
        const std::string what = failure_words([&] { (void)ipc::shared_object<table>::open(n.name); }, code);
        CHECK(code == ipc::errc::corrupt);
        CHECK(what.find("truncated") != std::string::npos);
        REQUIRE(::truncate(shm_path(n.name).c_str(), 16) == 0);
        CHECK(failure_words([&] { (void)ipc::shared_object<table>::open(n.name); }, code).find("too small for its") != std::string::npos);
    }
    SUBCASE("garbage header") {
        ipc::detail::unique_fd fd(::open(shm_path(n.name).c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
        REQUIRE(fd);
        char junk[64];
        std::memset(junk, 0x5a, sizeof junk);
        REQUIRE(::pwrite(fd.get(), junk, sizeof junk, 0) == static_cast<ssize_t>(sizeof junk));
        const std::string what = failure_words([&] { (void)ipc::shared_object<table>::open(n.name); }, code);
        CHECK(code == ipc::errc::corrupt);
        CHECK(what.find("is not an ipc segment") != std::string::npos);
    }
    SUBCASE("another layout version") {
        ipc::detail::unique_fd fd(::open(shm_path(n.name).c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
        REQUIRE(fd);
        const std::uint32_t v = ipc::detail::segment_version + 1;
        REQUIRE(::pwrite(fd.get(), &v, sizeof v, offsetof(ipc::detail::segment_header, version)) == static_cast<ssize_t>(sizeof v));
        const std::string what = failure_words([&] { (void)ipc::shared_object<table>::open(n.name); }, code);
        CHECK(code == ipc::errc::layout_mismatch);
        CHECK(what.find("layout version") != std::string::npos);
    }
}

TEST_CASE("shared_object: names are checked, create is exclusive and 0600, a planted symlink is refused, remove is idempotent") {
    scoped_name n("seg-name");
    std::error_code ec;
    (void)ipc::shared_object<table>::create("../etc", ec);
    CHECK(ec == ipc::errc::name_invalid);
    CHECK_FALSE(ipc::last_error_detail(ec).empty());
    CHECK_FALSE(ipc::shared_object<table>::remove("a/b", ec));
    CHECK(ec == ipc::errc::name_invalid);

    {
        auto t = ipc::shared_object<table>::create(n.name);
        struct stat st {};
        REQUIRE(::stat(shm_path(n.name).c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        (void)ipc::shared_object<table>::create(n.name, ec);
        CHECK(ec == ipc::errc::already_exists);
        auto again = ipc::shared_object<table>::open_or_create(n.name);
        CHECK_FALSE(again.created());
    }
    CHECK(ipc::shared_object<table>::remove(n.name));
    CHECK_FALSE(ipc::shared_object<table>::remove(n.name));  // nothing there: false, as ring regions' remove
    CHECK_FALSE(ipc::shared_memory::remove(n.name, ec));
    CHECK_FALSE(ec);
    (void)ipc::shared_object<table>::open(n.name, ec);
    CHECK(ec == ipc::errc::not_found);

    scoped_name wide("seg-wide");
    auto w = ipc::shared_object<table>::create(wide.name, ipc::permissions{0640});
    struct stat st {};
    REQUIRE(::stat(shm_path(wide.name).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);

    scoped_name link("seg-link");
    temp_dir dir;
    REQUIRE(::symlink((dir / "target").c_str(), shm_path(link.name).c_str()) == 0);
    (void)ipc::shared_memory::open(link.name, ec);
    CHECK(ec.value() == ELOOP);
    (void)ipc::shared_memory::create(link.name, 64, ec);
    CHECK(ec == ipc::errc::already_exists);
    CHECK_FALSE(std::filesystem::exists(dir / "target"));
    ::unlink(shm_path(link.name).c_str());
}

TEST_CASE("shared_memory: N raw bytes, zero at creation, written by one process and read by another") {
    scoped_name n("seg-raw");
    auto m = ipc::shared_memory::create(n.name, 4096);
    REQUIRE(m.size() == 4096);
    CHECK(reinterpret_cast<std::uintptr_t>(m.data()) % 64 == 0);
    bool zero = true;
    for (std::byte b : m.bytes()) zero = zero && b == std::byte{0};
    CHECK(zero);
    child writer([&] {
        auto mine = ipc::shared_memory::open(n.name);
        if (mine.size() != 4096) return 2;
        std::memcpy(mine.data() + 4000, "hello", 6);
        return 0;
    });
    CHECK(writer.wait() == 0);
    CHECK(std::strcmp(reinterpret_cast<const char*>(m.data() + 4000), "hello") == 0);

    std::error_code ec;
    auto same = ipc::shared_memory::open_or_create(n.name, 4096, ec);
    CHECK_FALSE(ec);
    CHECK_FALSE(same.created());
    (void)ipc::shared_memory::open_or_create(n.name, 8192, ec);
    CHECK(ec == ipc::errc::layout_mismatch);
    CHECK(std::string(ipc::last_error_detail(ec)).find("has 4096 bytes, this program asked for 8192") != std::string::npos);
    (void)ipc::shared_object<table>::open(n.name, ec);
    CHECK(ec == ipc::errc::layout_mismatch);
    (void)ipc::shared_memory::create(unique_name("seg-zero"), 0, ec);
    CHECK(ec == ipc::errc::limit_exceeded);
}

TEST_CASE("shared_object: a segment its creator left blank is refused as corrupt after the bounded wait") {
    scoped_name n("seg-blank");
    ipc::detail::unique_fd fd(::open(shm_path(n.name).c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    REQUIRE(fd);
    REQUIRE(::ftruncate(fd.get(), 4096) == 0);  // sized, never described: a creator killed right after ftruncate
    std::error_code ec;
    const auto t0 = std::chrono::steady_clock::now();
    (void)ipc::shared_object<table>::open(n.name, ec);
    CHECK(ec == ipc::errc::corrupt);
    CHECK(ms_since(t0) >= std::chrono::duration<double, std::milli>(ipc::detail::segment_init_wait).count());
    CHECK(std::string(ipc::last_error_detail(ec)).find("still blank (4096 bytes, no header)") != std::string::npos);
}
