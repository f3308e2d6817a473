// Secure defaults, checked from the outside: every named object is created
// 0600 whatever the umask, a process of another user cannot open one unless
// its creator widened the mode on purpose, every descriptor closes on exec,
// and a symbolic link planted at a path is refused, its target untouched.
#include <ipc/channel.hpp>
#include <ipc/detail/fd_passing.hpp>
#include <ipc/sem/posix_semaphore.hpp>
#include <ipc/sem/sysv_semaphore.hpp>

#include <grp.h>
#include <pwd.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "conformance.hpp"
#include "shared_memory.hpp"
#include "support.hpp"

namespace {

using namespace ipc_test;
using ipc::transport::unix_address;

// Sets the umask for one scope: umask(0) shows the mode a create path asks
// for, with nothing taken away.
class umask_scope {
public:
    explicit umask_scope(mode_t m) : old_(::umask(m)) {}
    ~umask_scope() { ::umask(old_); }
    umask_scope(const umask_scope&) = delete;
    umask_scope& operator=(const umask_scope&) = delete;

private:
    mode_t old_;
};

mode_t file_mode(const std::string& path) {
    struct stat st {};
    REQUIRE_MESSAGE(::lstat(path.c_str(), &st) == 0, path);
    return st.st_mode & 07777;
}

std::string contents(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The kinds of named object a process of another user might try to open.
enum kind : int { posix_mq, posix_sem, sysv_mq, sysv_sem, file_log, file_lock, unix_socket, fifo, kind_count };
const char* const kind_names[] = {"POSIX mq", "POSIX named semaphore", "SysV mq", "SysV semaphore",
                                  "file log", "file_mutex", "Unix socket", "FIFO"};

// One object of every named kind, made by this process (with `p`, or the
// defaults) in a directory that anyone may traverse but not list, so that
// only each object's own mode decides who gets in. Removed on destruction.
class named_objects {
public:
    explicit named_objects(std::optional<ipc::permissions> p) {
        REQUIRE(::chmod(dir.path().c_str(), 0711) == 0);
        { std::ofstream(dir / "mq.key") << "k"; }
        { std::ofstream(dir / "sem.key") << "k"; }
        mq_key = ipc::transport::sysv_key::from_path((dir / "mq.key").c_str(), 'Q');
        sem_key = ipc::sem::make_key(dir / "sem.key", 'S');
        umask_scope no_mask(0);  // the modes below are the library's, not the umask's
        const ipc::transport::posix_mq_options mq_o{.max_messages = 1, .message_size = 8};
        if (p) {
            mq = ipc::transport::posix_mq::create(mq_name, mq_o, *p);
            sem = ipc::sem::posix_semaphore::create(sem_name, 0, *p);
            smq = ipc::transport::sysv_mq::create(mq_key, {}, *p);
            ssem = ipc::sem::sysv_semaphore::create(sem_key, 0, *p);
            log = ipc::transport::file_writer::create(log_path, {}, *p);
            lock = ipc::file_mutex::create(lock_path, ipc::sync::file_lock_kind::ofd, *p);
            listener = ipc::transport::unix_stream_listener::listen(sock, SOMAXCONN, *p);
            ipc::transport::fifo::create(fifo_path, *p);
        } else {
            mq = ipc::transport::posix_mq::create(mq_name, mq_o);
            sem = ipc::sem::posix_semaphore::create(sem_name);
            smq = ipc::transport::sysv_mq::create(mq_key);
            ssem = ipc::sem::sysv_semaphore::create(sem_key);
            log = ipc::transport::file_writer::create(log_path);
            lock = ipc::file_mutex::create(lock_path);
            listener = ipc::transport::unix_stream_listener::listen(sock);
            ipc::transport::fifo::create(fifo_path);
        }
    }
    ~named_objects() {
        (void)ipc::transport::posix_mq::remove(mq_name);
        (void)ipc::sem::posix_semaphore::remove(sem_name);
        std::error_code ec;
        (void)smq.remove(ec);
        (void)ipc::sem::sysv_semaphore::remove(sem_key, ec);
    }
    named_objects(const named_objects&) = delete;
    named_objects& operator=(const named_objects&) = delete;

    // The permission bits of each object, as the kernel keeps them.
    mode_t mode_of(kind k) const {
        switch (k) {
        case posix_mq: {
            struct stat st {};
            REQUIRE(::fstat(mq.native_handle(), &st) == 0);
            return st.st_mode & 07777;
        }
        case posix_sem: return file_mode("/dev/shm/sem." + sem_name);
        case sysv_mq: {
            msqid_ds ds{};
            REQUIRE(::msgctl(smq.id(), IPC_STAT, &ds) == 0);
            return ds.msg_perm.mode & 07777;
        }
        case sysv_sem: {
            semid_ds ds{};
            ipc::detail::semun arg{};
            arg.buf = &ds;
            REQUIRE(::semctl(ssem.id(), 0, IPC_STAT, arg) == 0);
            return ds.sem_perm.mode & 07777;
        }
        case file_log: return file_mode(log_path);
        case file_lock: return file_mode(lock_path);
        case unix_socket: return file_mode(sock_path);
        case fifo: return file_mode(fifo_path);
        case kind_count: break;
        }
        return 07777;
    }

    // Opens each object as any other program would, and says how that went.
    std::error_code open_as_a_stranger(kind k) const {
        std::error_code ec;
        switch (k) {
        case posix_mq: (void)ipc::transport::posix_mq::open(mq_name, ipc::transport::mq_access::both, ec); break;
        case posix_sem: (void)ipc::sem::posix_semaphore::open(sem_name, ec); break;
        case sysv_mq: (void)ipc::transport::sysv_mq::open(mq_key, ec); break;
        case sysv_sem: (void)ipc::sem::sysv_semaphore::open(sem_key, ec); break;
        case file_log: (void)ipc::transport::file_writer::open(log_path, ec); break;
        case file_lock: (void)ipc::file_mutex::open(lock_path, ipc::sync::file_lock_kind::ofd, ec); break;
        case unix_socket: (void)ipc::transport::unix_stream::connect(sock, 2s, ec); break;
        case fifo: (void)ipc::transport::fifo_reader::open(fifo_path, ec); break;
        case kind_count: break;
        }
        return ec;
    }

    // Creates each object again with create(), as a second process would.
    std::error_code create_again(kind k) const {
        std::error_code ec;
        switch (k) {
        case posix_mq: (void)ipc::transport::posix_mq::create(mq_name, ec); break;
        case posix_sem: (void)ipc::sem::posix_semaphore::create(sem_name, 0, ec); break;
        case sysv_mq: (void)ipc::transport::sysv_mq::create(mq_key, ec); break;
        case sysv_sem: (void)ipc::sem::sysv_semaphore::create(sem_key, 0, ec); break;
        case file_log: (void)ipc::transport::file_writer::create(log_path, ec); break;
        case file_lock: (void)ipc::file_mutex::create(lock_path, ipc::sync::file_lock_kind::ofd, ec); break;
        case unix_socket: (void)ipc::transport::unix_stream_listener::listen(sock, ec); break;
        case fifo: (void)ipc::transport::fifo::create(fifo_path, ec); break;
        case kind_count: break;
        }
        return ec;
    }

    temp_dir dir;
    const std::string mq_name = unique_name("mq");
    const std::string sem_name = unique_name("sem");
    const std::string log_path = dir / "log";
    const std::string lock_path = dir / "lock";
    const std::string sock_path = dir / "sock";
    const std::string fifo_path = dir / "fifo";
    const unix_address sock = unix_address::path(sock_path);
    ipc::transport::sysv_key mq_key{IPC_PRIVATE};
    key_t sem_key = IPC_PRIVATE;

    ipc::transport::posix_mq mq;
    ipc::sem::posix_semaphore sem;
    ipc::transport::sysv_mq smq;
    ipc::sem::sysv_semaphore ssem;
    ipc::transport::file_writer log;
    ipc::file_mutex lock;
    ipc::transport::unix_stream_listener listener;
};

// An error code that crosses fork through shared memory.
struct reported_error {
    int value = -1;  // -1: not reported
    bool ipc_category = false;

    std::error_code code() const {
        return value < 0 ? std::error_code() : std::error_code(value, ipc_category ? ipc::ipc_category() : std::system_category());
    }
};

struct stranger_report {
    reported_error errors[kind_count];
};

// Runs, in a child that has become `nobody` for good, an attempt to open each
// object; returns what each attempt said.
std::vector<std::error_code> open_each_as_nobody(const named_objects& objects, const passwd& nobody) {
    shared<stranger_report> report;
    child c([&] {
        if (::setgroups(0, nullptr) != 0 || ::setgid(nobody.pw_gid) != 0 || ::setuid(nobody.pw_uid) != 0) return 1;
        if (::setuid(0) == 0) return 2;  // the drop must be for good
        for (int k = 0; k < kind_count; ++k) {
            const std::error_code ec = objects.open_as_a_stranger(static_cast<kind>(k));
            report->errors[k] = {ec.value(), ec.category() == ipc::ipc_category()};
        }
        return 0;
    });
    REQUIRE(c.wait() == child_ok);
    std::vector<std::error_code> out;
    for (const auto& e : report->errors) out.push_back(e.code());
    return out;
}

bool root_with_nobody(passwd& nobody) {
    if (::geteuid() != 0) {
        MESSAGE("skipped: only root can become another user (run the tests as root to check cross-user access)");
        return false;
    }
    const passwd* pw = ::getpwnam("nobody");
    if (pw == nullptr) {
        MESSAGE("skipped: this system has no user `nobody`");
        return false;
    }
    nobody = *pw;
    return true;
}

// Every descriptor this process has now (less the one that listed them).
std::set<int> open_fds() {
    std::set<int> fds;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) fds.insert(std::stoi(e.path().filename().string()));
    std::erase_if(fds, [](int fd) { return ::fcntl(fd, F_GETFD) < 0; });
    return fds;
}

}  // namespace

TEST_CASE("every named object is created 0600 by default, even under umask(0)") {
    named_objects objects(std::nullopt);
    for (int k = 0; k < kind_count; ++k) {
        INFO(std::string(kind_names[k]));
        CHECK(objects.mode_of(static_cast<kind>(k)) == 0600);
    }
}

TEST_CASE("create() never opens what is there already (O_EXCL, IPC_EXCL, a live socket)") {
    named_objects objects(std::nullopt);
    for (int k = 0; k < kind_count; ++k) {
        INFO(std::string(kind_names[k]));
        CHECK(objects.create_again(static_cast<kind>(k)) == ipc::errc::already_exists);
    }
    CHECK(objects.mode_of(file_log) == 0600);  // and the refused attempt changed nothing
}

TEST_CASE("ipc::permissions widens a new object's mode exactly as asked (under umask(0))") {
    named_objects objects(ipc::permissions{0666});
    for (int k = 0; k < kind_count; ++k) {
        INFO(std::string(kind_names[k]));
        CHECK(objects.mode_of(static_cast<kind>(k)) == 0666);
    }
}

TEST_CASE("the umask still narrows a widened file-system object; System V ignores it") {
    umask_scope mask(077);
    temp_dir dir;
    auto log = ipc::transport::file_writer::create(dir / "log", {}, ipc::permissions{0666});
    CHECK(file_mode(dir / "log") == 0600);
    std::ofstream(dir / "key") << "k";
    const key_t key = ipc::sem::make_key(dir / "key", 'u');
    auto s = ipc::sem::sysv_semaphore::create(key, 0, ipc::permissions{0640});
    semid_ds ds{};
    ipc::detail::semun arg{};
    arg.buf = &ds;
    REQUIRE(::semctl(s.id(), 0, IPC_STAT, arg) == 0);
    CHECK((ds.sem_perm.mode & 0777) == 0640);
    CHECK(ipc::sem::sysv_semaphore::remove(key));
}

TEST_CASE("a process of another user cannot open an object made with the defaults") {
    passwd nobody{};
    if (!root_with_nobody(nobody)) return;
    named_objects objects(std::nullopt);
    const auto errors = open_each_as_nobody(objects, nobody);
    for (int k = 0; k < kind_count; ++k) {
        const std::error_code& ec = errors[k];
        const std::string said = std::string(kind_names[k]) + " opened by nobody: " + ec.category().name() + " " +
                                 std::to_string(ec.value()) + " (" + ec.message() + ")";
        MESSAGE(said);
        CHECK_MESSAGE((ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted), std::string(kind_names[k]));
    }
}

TEST_CASE("a process of another user can open an object whose creator widened it to 0666") {
    passwd nobody{};
    if (!root_with_nobody(nobody)) return;
    named_objects objects(ipc::permissions{0666});
    const auto errors = open_each_as_nobody(objects, nobody);
    for (int k = 0; k < kind_count; ++k) {
        const std::string said = std::string(kind_names[k]) + ": " + errors[k].message();
        CHECK_MESSAGE(!errors[k], said);
    }
}

TEST_CASE("every descriptor the library opens closes on exec") {
    const std::set<int> before = open_fds();
    temp_dir dir;

    auto pipe = ipc::transport::make_pipe();
    std::byte b{};
    std::error_code ec;
    (void)pipe.reader.read_some({&b, 1}, ipc::io_mode::nonblocking, ec);  // reopens a nonblocking twin
    CHECK(ec == ipc::errc::would_block);

    auto listener = ipc::transport::unix_stream_listener::listen(unix_address::path(dir / "stream"));
    auto client = ipc::transport::unix_stream::connect(unix_address::path(dir / "stream"), 5s);
    auto server = listener.accept_for(5s);
    REQUIRE(server);
    auto seq = ipc::transport::unix_seqpacket::pair();
    auto dgram = ipc::transport::unix_dgram::bind(unix_address::path(dir / "dgram"));
    auto dgram_client = ipc::transport::unix_dgram::connect(unix_address::path(dir / "dgram"));

    auto tcp_listener = ipc::transport::tcp_listener::listen(ipc::transport::inet_address::parse("127.0.0.1:0"));
    auto tcp_client = ipc::transport::tcp::connect(tcp_listener.local_address(), 5s);
    auto tcp_server = tcp_listener.accept_for(5s);
    REQUIRE(tcp_server);
    auto udp = ipc::transport::udp::bind(ipc::transport::inet_address::parse("127.0.0.1:0"));

    const std::string mq_name = unique_name("mq");
    ipc::transport::posix_mq_options mq_o;
    mq_o.max_messages = 1;
    mq_o.message_size = 8;
    auto mq = ipc::transport::posix_mq::create(mq_name, mq_o);
    auto counter = ipc::transport::eventfd::create();
    auto signals = ipc::transport::signal_reader::open(SIGRTMIN + 3);
    auto to_self = ipc::transport::sigqueue_writer::open(::getpid(), SIGRTMIN + 3);
    auto log = ipc::transport::file_writer::create(dir / "log");
    auto follower = ipc::transport::file_reader::open(dir / "log", ipc::transport::file_end::follow);
    auto lock = ipc::file_mutex::create(dir / "lock");
    ipc::transport::fifo::create(dir / "fifo");
    auto fifo_in = ipc::transport::fifo_reader::open(dir / "fifo");
    auto fifo_out = ipc::transport::fifo_writer::open(dir / "fifo", ipc::deadline::after(5s), ec);
    REQUIRE_FALSE(ec);

    // A descriptor that arrives over a socket (SCM_RIGHTS).
    auto passing = ipc::transport::unix_stream::pair();
    REQUIRE(ipc::detail::send_fd(passing.first.native_handle(), counter.native_handle(), ec));
    ipc::detail::unique_fd received = ipc::detail::receive_fd(passing.second.native_handle(), ec);
    REQUIRE(received);

    const std::set<int> after = open_fds();
    int checked = 0;
    for (int fd : after) {
        if (before.count(fd)) continue;
        const int flags = ::fcntl(fd, F_GETFD);
        char target[256] = {};
        [[maybe_unused]] auto n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), target, sizeof target - 1);
        CHECK_MESSAGE((flags & FD_CLOEXEC) != 0, "descriptor ", fd, " (", target, ") survives exec");
        ++checked;
    }
    CHECK(checked >= 20);
    CHECK(ipc::transport::posix_mq::remove(mq_name));
}

TEST_CASE("a symlink planted at a file path is refused; its target is untouched") {
    temp_dir dir;
    const std::string target = dir / "precious", link = dir / "link", dangling = dir / "dangling";
    std::ofstream(target) << "keep me";
    REQUIRE(::chmod(target.c_str(), 0644) == 0);
    REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
    REQUIRE(::symlink((dir / "made-through-link").c_str(), dangling.c_str()) == 0);
    std::error_code ec;

    SUBCASE("file log") {
        auto w1 = ipc::transport::file_writer::open_or_create(link, ec);
        CHECK(ec == std::errc::too_many_symbolic_link_levels);
        auto w2 = ipc::transport::file_writer::open(link, ec);
        CHECK(ec == std::errc::too_many_symbolic_link_levels);
        auto w3 = ipc::transport::file_writer::create(link, ec);
        CHECK(ec == ipc::errc::already_exists);
        auto w4 = ipc::transport::file_writer::open_or_create(dangling, ec);
        CHECK(ec == std::errc::too_many_symbolic_link_levels);
        auto r = ipc::transport::file_reader::open(link, ipc::transport::file_end::closed, 0, ec);
        CHECK(ec == std::errc::too_many_symbolic_link_levels);
    }
    SUBCASE("file_mutex") {
        auto m1 = ipc::file_mutex::open_or_create(link, ipc::sync::file_lock_kind::ofd, ec);
        CHECK(ec == std::errc::too_many_symbolic_link_levels);
        auto m2 = ipc::file_mutex::open(link, ipc::sync::file_lock_kind::ofd, ec);
        CHECK(ec == std::errc::too_many_symbolic_link_levels);
        auto m3 = ipc::file_mutex::open_or_create(dangling, ipc::sync::file_lock_kind::ofd, ec);
        CHECK(ec == std::errc::too_many_symbolic_link_levels);
    }
    SUBCASE("Unix socket: listen and bind refuse the link") {
        auto l = ipc::transport::unix_stream_listener::listen(unix_address::path(link), ec);
        CHECK(ec == std::errc::too_many_symbolic_link_levels);
        auto d = ipc::transport::unix_dgram::bind(unix_address::path(dangling), ec);
        CHECK(ec == std::errc::too_many_symbolic_link_levels);
    }
    SUBCASE("FIFO: create and open refuse the link") {
        CHECK_FALSE(ipc::transport::fifo::create(dangling, ec));
        CHECK(ec == ipc::errc::already_exists);
        auto r = ipc::transport::fifo_reader::open(link, ec);
        CHECK(ec == std::errc::too_many_symbolic_link_levels);
    }
    SUBCASE("remove() takes the link away, never the target") {
        CHECK(ipc::transport::file_writer::remove(link));
        CHECK(ipc::file_mutex::remove(dangling));
    }

    CHECK(contents(target) == "keep me");
    CHECK(file_mode(target) == 0644);
    CHECK_FALSE(std::filesystem::exists(dir / "made-through-link"));
}

TEST_CASE("connecting to a Unix socket refuses a symlink planted at the path") {
    temp_dir dir;
    const auto real = unix_address::path(dir / "real");
    const std::string link = dir / "link";
    auto listener = ipc::transport::unix_stream_listener::listen(real);
    auto dgram = ipc::transport::unix_dgram::bind(unix_address::path(dir / "dgram"));
    REQUIRE(::symlink((dir / "real").c_str(), link.c_str()) == 0);
    REQUIRE(::symlink((dir / "dgram").c_str(), (dir / "dgram-link").c_str()) == 0);

    std::error_code ec;
    auto s = ipc::transport::unix_stream::connect(unix_address::path(link), 2s, ec);
    CHECK(ec == std::errc::too_many_symbolic_link_levels);
    CHECK_FALSE(s.is_open());
    auto d = ipc::transport::unix_dgram::connect(unix_address::path(dir / "dgram-link"), ec);
    CHECK(ec == std::errc::too_many_symbolic_link_levels);
    CHECK_FALSE(listener.try_accept());

    // The real path still works, and the socket file is the same one.
    auto ok = ipc::transport::unix_stream::connect(real, 2s, ec);
    CHECK_FALSE(ec);
    CHECK(listener.accept_for(2s));
    struct stat st {};
    REQUIRE(::lstat((dir / "real").c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
}

TEST_CASE("a Unix socket server can tell who connected (SO_PEERCRED)") {
    temp_dir dir;
    const auto addr = unix_address::path(dir / "s");
    auto listener = ipc::transport::unix_seqpacket_listener::listen(addr);
    gate done;
    child c([&] {
        auto s = ipc::transport::unix_seqpacket::connect(addr, 5s);
        return done.wait() ? 0 : 1;
    });
    auto server = listener.accept_for(5s);
    REQUIRE(server);
    const auto who = server->peer_credentials();
    CHECK(who.pid == c.pid());
    CHECK(who.uid == ::geteuid());
    CHECK(who.gid == ::getegid());
    done.open();
    CHECK(c.wait() == child_ok);

    auto pair = ipc::transport::unix_stream::pair();
    CHECK(pair.first.peer_credentials().pid == ::getpid());

    passwd nobody{};
    if (!root_with_nobody(nobody)) return;
    REQUIRE(::chmod(dir.path().c_str(), 0711) == 0);
    const auto open_addr = unix_address::path(dir / "open");
    auto open_listener = [&] {
        umask_scope no_mask(0);  // connecting needs write permission, which a usual umask (022) takes away
        return ipc::transport::unix_stream_listener::listen(open_addr, SOMAXCONN, ipc::permissions{0666});
    }();
    gate stranger_done;
    child stranger([&] {
        if (::setgroups(0, nullptr) != 0 || ::setgid(nobody.pw_gid) != 0 || ::setuid(nobody.pw_uid) != 0) return 1;
        auto s = ipc::transport::unix_stream::connect(open_addr, 5s);
        return stranger_done.wait() ? 0 : 2;
    });
    auto from_stranger = open_listener.accept_for(5s);
    REQUIRE(from_stranger);
    CHECK(from_stranger->peer_credentials().uid == nobody.pw_uid);
    CHECK(from_stranger->peer_credentials().gid == nobody.pw_gid);
    stranger_done.open();
    CHECK(stranger.wait() == child_ok);
    std::error_code ec;
    (void)ipc::transport::unix_stream{}.peer_credentials(ec);
    CHECK(ec == std::errc::bad_file_descriptor);
}
