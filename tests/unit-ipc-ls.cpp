// ipc-ls (tools/ipc_ls.cpp): lists rings with their users and removes the
// stale ones: those whose every user died, or that never had one for longer
// than the grace period (--min-age). Nothing a creator is still setting up,
// nothing a live process holds, is ever removed. It also lists message queues
// and semaphores (POSIX and System V) and, with --all, other programs' shared
// memory, and never removes those.
#include <ipc/channel.hpp>
#include <ipc/ring/broadcast.hpp>
#include <ipc/ring/broadcast_bytes.hpp>

#include <fcntl.h>
#include <grp.h>
#include <mqueue.h>
#include <poll.h>
#include <pwd.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include "ring_support.hpp"

#ifdef IPC_LS
namespace {

using namespace ipc_test;
using transport = ipc::transport::posix_shm<ipc::ring::spsc<std::uint64_t>>;
using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;

// ipc-ls's JSON line for `name`, or "" if it lists no such object.
std::string listing(const std::string& args, const std::string& name, const std::string& prefix = run_tag()) {
    std::string out, line;
    std::FILE* p = ::popen((std::string(IPC_LS) + " --json " + args + " " + prefix + " 2>/dev/null").c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p)) {
        line = buf;
        if (line.find("\"name\":\"" + name + "\"") != std::string::npos) out = line;
    }
    CHECK(::pclose(p) == 0);
    return out;
}

bool has(const std::string& line, const std::string& field) { return line.find(field) != std::string::npos; }

bool exists(const std::string& path) {
    struct stat sb {};
    return ::lstat(path.c_str(), &sb) == 0;
}

}  // namespace

TEST_CASE("ipc-ls: a ring whose users were killed is listed as stale and removed; one in use stays") {
    remover<transport> dead{unique_name("lsdead")}, live{unique_name("lslive")};
    transport::create(dead.name, 8);
    // A sender and a receiver, both killed: the sender after queueing 3 messages.
    child sender([&] {
        auto tx = channel::open(dead.name);
        for (std::uint64_t i = 0; i < 3; ++i)
            if (tx.try_send(i) != ipc::status::ok) return 1;
        ::raise(SIGKILL);
        return 2;
    });
    CHECK(sender.wait() == -SIGKILL);
    child receiver([&] {
        auto rx = channel::open(dead.name);
        rx.transport().attach(ipc::direction::recv);
        ::raise(SIGKILL);
        return 2;
    });
    CHECK(receiver.wait() == -SIGKILL);
    auto in_use = channel::create(live.name, 4);
    in_use.transport().attach(ipc::direction::recv);

    const std::string d = listing("", dead.name);
    REQUIRE(!d.empty());
    CHECK(has(d, "\"kind\":\"posix_shm\""));
    CHECK(has(d, "\"ring\":\"spsc\""));
    CHECK(has(d, "\"capacity\":8"));
    CHECK(has(d, "\"mode\":\"0600\""));
    CHECK(has(d, "\"queued\":3"));
    CHECK(has(d, "\"senders_alive\":0,\"senders_dead\":1,\"receivers_alive\":0,\"receivers_dead\":1"));
    CHECK(has(d, "\"stale\":true"));
    const std::string l = listing("", live.name);
    CHECK(has(l, "\"receivers_alive\":1"));
    CHECK(has(l, "\"stale\":false"));

    const std::string removed = listing("--remove-stale", dead.name);
    CHECK(has(removed, "\"removed\":true"));
    CHECK(listing("", dead.name).empty());
    CHECK(!listing("", live.name).empty());
}

TEST_CASE("ipc-ls: a region of garbage is listed as such, never trusted") {
    const std::string name = unique_name("lsjunk");
    const std::string path = "/dev/shm/ipc." + name;
    {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        REQUIRE(f != nullptr);
        std::vector<unsigned char> junk(8192);
        for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<unsigned char>(i * 131 + 7);
        std::fwrite(junk.data(), 1, junk.size(), f);
        std::fclose(f);
    }
    const std::string j = listing("--remove-stale", name);
    CHECK(has(j, "\"state\":\"not a formatted ipc ring\""));
    CHECK(has(j, "\"removed\":false"));  // only rings known to be stale are removed
    CHECK(std::remove(path.c_str()) == 0);
}

TEST_CASE("ipc-ls: a robust mutex is listed under its own name, never removed as stale") {
    const std::string name = unique_name("lsmutex");
    auto m = ipc::sem::robust_mutex::create(name);
    const std::string l = listing("--remove-stale --min-age 0", name);
    CHECK(has(l, "\"kind\":\"mutex\""));
    CHECK(has(l, "\"mode\":\"0600\""));
    CHECK(has(l, "\"state\":\"ok\""));
    CHECK(has(l, "\"removed\":false"));
    CHECK(ipc::sem::robust_mutex::remove(name));
}

TEST_CASE("ipc-ls --dir: FIFOs and sockets with their liveness; only what is dead is removed, links are never followed") {
    using ipc::transport::unix_address;
    temp_dir dir, elsewhere;
    const std::string live = dir / unique_name("live"), stale = dir / unique_name("stale"),
                      dgram = dir / unique_name("dgram"), read_fifo = dir / unique_name("fifo-read"),
                      lone_fifo = dir / unique_name("fifo-lone"), link = dir / unique_name("link"),
                      target = elsewhere / unique_name("target");
    auto listener = ipc::transport::unix_stream_listener::listen(unix_address::path(live));
    auto bound = ipc::transport::unix_dgram::bind(unix_address::path(dgram));
    // A listener killed: its socket files stay behind, one of them reached only through a link.
    child owner([&] {
        auto a = ipc::transport::unix_stream_listener::listen(unix_address::path(stale));
        auto b = ipc::transport::unix_stream_listener::listen(unix_address::path(target));
        ::raise(SIGKILL);
        return 2;
    });
    CHECK(owner.wait() == -SIGKILL);
    REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
    REQUIRE(::mkfifo(read_fifo.c_str(), 0600) == 0);
    REQUIRE(::mkfifo(lone_fifo.c_str(), 0600) == 0);
    ipc::detail::unique_fd reader(::open(read_fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    REQUIRE(reader);

    const std::string scan = "--dir " + dir.path().string();
    const std::string uid = "\"uid\":" + std::to_string(::getuid());
    const std::string l = listing(scan, live);
    CHECK(has(l, "\"kind\":\"unix_socket\""));
    CHECK(has(l, uid));
    CHECK(has(l, "\"mode\":\"0600\""));
    CHECK(has(l, "\"stale\":false"));
    CHECK(has(l, "\"state\":\"live\""));
    // Refused, but only just made: it may be a server between bind() and listen().
    const std::string young = listing(scan, stale);
    CHECK(has(young, "\"stale\":false"));
    CHECK(has(young, "\"state\":\"no listener yet\""));
    const std::string s = listing("--min-age 0 " + scan, stale);
    CHECK(has(s, "\"stale\":true"));
    CHECK(has(s, "\"state\":\"stale\""));
    CHECK(has(listing(scan, dgram), "\"state\":\"unknown (datagram socket)\""));
    const std::string r = listing(scan, read_fifo);
    CHECK(has(r, "\"kind\":\"fifo\""));
    CHECK(has(r, "\"state\":\"live\""));
    CHECK(has(listing(scan, lone_fifo), "\"state\":\"no reader\""));
    CHECK(listing(scan, link).empty());    // a link is not a socket
    CHECK(listing(scan, target).empty());  // and is not followed
    CHECK(listing("", stale).empty());     // no --dir, no files

    // --remove-stale: the stale socket goes once older than the grace period;
    // FIFOs, live and unknown sockets, links stay.
    CHECK(has(listing("--remove-stale " + scan, stale), "\"removed\":false"));
    CHECK(exists(stale));
    const std::string now = "--remove-stale --min-age 0 ";
    CHECK(has(listing(now + scan, stale), "\"removed\":true"));
    CHECK(!exists(stale));
    CHECK(has(listing(now + scan, lone_fifo), "\"removed\":false"));
    for (const std::string& kept : {live, dgram, read_fifo, lone_fifo, link, target}) CHECK_MESSAGE(exists(kept), kept);

    // --remove-fifos-without-reader: the FIFO nobody reads goes (once older
    // than the grace period), the one being read stays.
    CHECK(has(listing("--remove-stale --remove-fifos-without-reader " + scan, lone_fifo), "\"removed\":false"));
    CHECK(has(listing(now + "--remove-fifos-without-reader " + scan, lone_fifo), "\"removed\":true"));
    CHECK(!exists(lone_fifo));
    CHECK(exists(read_fifo));
    CHECK(exists(live));
}
// ---- what "stale" means, under the races --remove-stale must survive -------

namespace {

// A POSIX shm object named like ipc's, sized like a ring but never formatted:
// what a creator has made between ftruncate() and format(). Returns its fd.
ipc::detail::unique_fd half_made_region(const std::string& name) {
    ipc::detail::unique_fd fd(::shm_open(("/ipc." + name).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    REQUIRE(fd);
    REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(ipc::ring::required_size<ipc::ring::spsc<std::uint64_t>>(8))) == 0);
    return fd;
}

// A process that opens region `name`, joins it as `role` and is SIGKILLed:
// a recorded user, dead.
template <class Named>
void user_killed(const std::string& name, ipc::direction role) {
    child user([&] {
        auto t = Named::open(name);
        t.attach(role);
        ::raise(SIGKILL);
        return 2;
    });
    REQUIRE(user.wait() == -SIGKILL);
}

// The `ipc-ls PREFIX` under which a System V region made for `name` is listed.
std::string sysv_name(const std::string& name) {
    return "sysv:" + std::to_string(ipc::detail::sysv_shm_backing::key_of(name));
}

}  // namespace

TEST_CASE("ipc-ls: a ring's kind describes it: what is queued and the kind's own fields (mpmc: delivery, redelivered)") {
    using queue = ipc::transport::posix_shm<ipc::ring::mpmc<std::uint64_t, ipc::ring::delivery::at_least_once>>;
    remover<queue> q{unique_name("lsmpmc")};
    remover<transport> s{unique_name("lsspsc")};
    child maker([&] {  // made and filled by another process, which has left
        auto m = queue::create(q.name, 16);
        std::error_code ec;
        for (std::uint64_t i = 0; i < 5; ++i)
            if (!m.try_send_value(i, ec)) return 1;
        auto t = transport::create(s.name, 8);
        return t.try_send_value(7, ec) ? 0 : 2;
    });
    REQUIRE(maker.wait() == child_ok);
    const std::string m = listing("", q.name);
    CHECK(has(m, "\"ring\":\"mpmc\",\"capacity\":16,"));
    CHECK(has(m, "\"queued\":5,"));
    CHECK(has(m, "\"details\":{\"delivery\":\"at least once\",\"redelivered\":0},\"rows\":[]}"));
    const std::string l = listing("", s.name);
    CHECK(has(l, "\"ring\":\"spsc\""));
    CHECK(has(l, "\"queued\":1,"));
    CHECK(has(l, "\"details\":{},\"rows\":[]}"));
}

TEST_CASE("ipc-ls: a broadcast ring shows its policy, publisher, subscribers, the slowest one's lag, missed and dropped") {
    using bcast = ipc::shm_broadcast<std::uint64_t>;
    remover<bcast> b{unique_name("lsbcast")};
    auto pub = bcast::create(b.name, {.capacity = 16, .max_subscribers = 4, .slow = ipc::ring::slow_policy::overwrite});
    auto fast = bcast::open(b.name);
    auto slow = bcast::open(b.name);
    fast.transport().attach(ipc::direction::recv);
    slow.transport().attach(ipc::direction::recv);
    for (std::uint64_t i = 0; i < 10; ++i) REQUIRE(pub.try_send(i) == ipc::status::ok);
    std::uint64_t v = 0;
    for (int i = 0; i < 6; ++i) REQUIRE(fast.try_recv(v) == ipc::status::ok);
    REQUIRE(slow.try_recv(v) == ipc::status::ok);
    const std::string l = listing("", b.name);
    CHECK(has(l, "\"ring\":\"broadcast\",\"capacity\":16,"));
    CHECK(has(l, "\"queued\":9,"));  // the slowest subscriber's lag
    CHECK(has(l, "\"details\":{\"policy\":\"overwrite\",\"publisher\":\"live\",\"subscribers\":2,\"max_subscribers\":4,"
                 "\"max_lag\":9,\"missed\":0,\"dropped\":0},"));
}

TEST_CASE("ipc-ls: a broadcast_bytes ring shows its policy, publisher, records, subscribers, the slowest one's lag in bytes") {
    using bcast = ipc::shm_broadcast_bytes<std::string>;
    remover<bcast> b{unique_name("lsbbytes")};
    auto pub = bcast::create(b.name, {.capacity = 1024, .max_subscribers = 4, .slow = ipc::ring::slow_policy::drop_slowest});
    auto fast = bcast::open(b.name);
    auto slow = bcast::open(b.name);
    fast.transport().attach(ipc::direction::recv);
    slow.transport().attach(ipc::direction::recv);
    for (int i = 0; i < 3; ++i) REQUIRE(pub.try_send(std::string(40, 'x')) == ipc::status::ok);  // 16 + 48 bytes each
    std::string v;
    for (int i = 0; i < 3; ++i) REQUIRE(fast.try_recv(v) == ipc::status::ok);
    REQUIRE(slow.try_recv(v) == ipc::status::ok);
    const std::string l = listing("", b.name);
    CHECK(has(l, "\"ring\":\"broadcast_bytes\",\"capacity\":1024,"));
    CHECK(has(l, "\"queued\":128,"));  // the slowest subscriber's lag: two records
    CHECK(has(l, "\"details\":{\"policy\":\"drop_slowest\",\"publisher\":\"live\",\"records\":3,\"subscribers\":2,"
                 "\"max_subscribers\":4,\"max_lag_bytes\":128,\"missed\":0,\"dropped\":0}"));
    // A row per subscriber, lags in bytes: the slow one is two records behind.
    CHECK(has(l, "\"row\":\"subscriber\""));
    CHECK(has(l, "\"lag\":128,"));
    CHECK(has(l, "\"lag\":0,"));
}

TEST_CASE("ipc-ls: a region nobody has used yet is kept for the grace period, then it is stale") {
    remover<transport> fresh{unique_name("lsfresh")};
    transport::create(fresh.name, 8);  // made and closed: no user, no mapping

    const std::string l = listing("--remove-stale", fresh.name);
    CHECK(has(l, "\"stale\":false"));
    CHECK(has(l, "\"removed\":false"));
    CHECK(has(l, "\"state\":\"no users yet\""));
    CHECK(has(listing("--remove-stale --min-age 3600", fresh.name), "\"removed\":false"));

    const std::string gone = listing("--remove-stale --min-age 0", fresh.name);
    CHECK(has(gone, "\"stale\":true"));
    CHECK(has(gone, "\"removed\":true"));
    CHECK(listing("", fresh.name).empty());
}

TEST_CASE("ipc-ls: a ring names its creator, and whether that process still runs") {
    remover<transport> mine{unique_name("lsmine")}, theirs{unique_name("lstheirs")};
    transport::create(mine.name, 8);
    child creator([&] {
        transport::create(theirs.name, 8);
        return 0;
    });
    const pid_t creator_pid = creator.pid();
    REQUIRE(creator.wait() == child_ok);
    CHECK(has(listing("", mine.name), "\"creator_pid\":" + std::to_string(::getpid()) + ",\"creator_alive\":true"));
    CHECK(has(listing("", theirs.name), "\"creator_pid\":" + std::to_string(creator_pid) + ",\"creator_alive\":false"));
}

TEST_CASE("ipc-ls: a region whose only user was killed is stale at once, whatever the grace period") {
    remover<transport> r{unique_name("lskilled")};
    transport::create(r.name, 8);
    user_killed<transport>(r.name, ipc::direction::recv);

    const std::string l = listing("--remove-stale --min-age 3600", r.name);
    CHECK(has(l, "\"receivers_alive\":0,\"receivers_dead\":1"));
    CHECK(has(l, "\"removed\":true"));
    CHECK(listing("", r.name).empty());
}

TEST_CASE("ipc-ls: a region a live process uses is kept, attached or only opened") {
    remover<transport> attached{unique_name("lsattached")}, opened{unique_name("lsopened")};
    transport::create(attached.name, 8);
    transport::create(opened.name, 8);
    // A dead user too: the process that opens `opened` after it must still protect it.
    user_killed<transport>(opened.name, ipc::direction::send);
    gate ready, done;
    child user([&] {
        auto rx = channel::open(attached.name);
        rx.transport().attach(ipc::direction::recv);
        auto t = transport::open(opened.name);  // mapped, not in the peer table yet
        ready.open();
        return done.wait() ? 0 : 1;
    });
    REQUIRE(ready.wait());

    const std::string a = listing("--remove-stale --min-age 0", attached.name);
    CHECK(has(a, "\"receivers_alive\":1"));
    CHECK(has(a, "\"state\":\"in use\""));
    CHECK(has(a, "\"removed\":false"));
    // Only /proc tells that this one is in use: its peer table shows a dead sender alone.
    const std::string o = listing("--remove-stale --min-age 0", opened.name);
    CHECK(has(o, "\"senders_alive\":0,\"senders_dead\":1"));
    CHECK(has(o, "\"state\":\"in use\""));
    CHECK(has(o, "\"removed\":false"));

    done.open();
    CHECK(user.wait() == 0);
    CHECK(has(listing("--remove-stale", opened.name), "\"removed\":true"));  // now its only user is dead
    // A receiver that left cleanly leaves no user behind: young, so kept.
    CHECK(has(listing("--remove-stale", attached.name), "\"state\":\"no users yet\""));
}

TEST_CASE("ipc-ls: a region still being formatted is kept for the grace period and while its creator holds it") {
    const std::string name = unique_name("lshalf");
    remover<transport> cleanup{name};
    gate ready, done;
    child creator([&] {
        auto fd = half_made_region(name);
        ready.open();
        return done.wait() ? 0 : 1;
    });
    REQUIRE(ready.wait());

    const std::string held = listing("--remove-stale --min-age 0", name);
    CHECK(has(held, "\"state\":\"not formatted yet (in use)\""));
    CHECK(has(held, "\"removed\":false"));
    done.open();
    REQUIRE(creator.wait() == 0);  // gone without formatting: as if it crashed

    const std::string young = listing("--remove-stale", name);
    CHECK(has(young, "\"state\":\"not formatted yet\""));
    CHECK(has(young, "\"stale\":false"));
    CHECK(has(young, "\"removed\":false"));
    CHECK(has(listing("--remove-stale --min-age 0", name), "\"removed\":true"));
    CHECK(listing("", name).empty());
}

TEST_CASE("ipc-ls --dry-run: says what --remove-stale would remove and removes nothing") {
    remover<transport> fresh{unique_name("lsdry")};
    transport::create(fresh.name, 8);
    for (const char* args : {"--dry-run --min-age 0", "--remove-stale --dry-run --min-age 0"}) {
        const std::string l = listing(args, fresh.name);
        CHECK(has(l, "\"stale\":true"));
        CHECK(has(l, "\"removed\":false"));
        CHECK(has(l, "\"state\":\"stale, would be removed\""));
    }
    CHECK(has(listing("--dry-run", fresh.name), "\"state\":\"no users yet\""));  // young: nothing to name
    CHECK(has(listing("--remove-stale --min-age 0", fresh.name), "\"removed\":true"));
}

TEST_CASE("ipc-ls: System V rings follow the same rules, with shm_nattch as the kernel's count of users") {
    using sysv = ipc::transport::sysv_shm<ipc::ring::spsc<std::uint64_t>>;
    remover<sysv> fresh{unique_name("lssysvfresh")}, killed{unique_name("lssysvkilled")};
    sysv::create(fresh.name, 8);
    sysv::create(killed.name, 8);
    user_killed<sysv>(killed.name, ipc::direction::send);
    gate ready, done;
    child user([&] {
        auto t = sysv::open(fresh.name);  // attached (nattch 1), not in the peer table
        ready.open();
        return done.wait() ? 0 : 1;
    });
    REQUIRE(ready.wait());

    const std::string f = sysv_name(fresh.name), k = sysv_name(killed.name);
    CHECK(has(listing("--remove-stale --min-age 0", f, f), "\"state\":\"in use\""));
    done.open();
    REQUIRE(user.wait() == 0);
    const std::string young = listing("--remove-stale", f, f);
    CHECK(has(young, "\"kind\":\"sysv_shm\""));
    CHECK(has(young, "\"state\":\"no users yet\""));
    CHECK(has(listing("--remove-stale --min-age 0", f, f), "\"removed\":true"));
    CHECK(has(listing("--remove-stale", k, k), "\"removed\":true"));
    CHECK(listing("", f, f).empty());
    CHECK(listing("", k, k).empty());
}

TEST_CASE("ipc-ls --dir: a socket bound but not listening yet is kept, however old") {
    temp_dir dir;
    const std::string path = dir / unique_name("bound");
    gate ready, done;
    child server([&] {
        ipc::detail::unique_fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
        if (!s || ::bind(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return 1;
        ready.open();
        return done.wait() ? 0 : 1;  // never listen()s: a connect is refused
    });
    REQUIRE(ready.wait());
    const std::string l = listing("--remove-stale --min-age 0 --dir " + dir.path().string(), path);
    CHECK(has(l, "\"state\":\"bound, not listening\""));
    CHECK(has(l, "\"removed\":false"));
    CHECK(exists(path));
    done.open();
    CHECK(server.wait() == 0);
    CHECK(has(listing("--remove-stale --min-age 0 --dir " + dir.path().string(), path), "\"removed\":true"));
}

// ---- every kind of object, and output that explains itself -----------------

namespace {

// ipc-ls's whole output: stdout, and stderr too if `with_errors`.
std::string run_ls(const std::string& args, bool with_errors = false) {
    std::string out;
    std::FILE* p = ::popen((std::string(IPC_LS) + " " + args + (with_errors ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    CHECK(::pclose(p) == 0);
    return out;
}

std::vector<std::string> words(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string s; in >> s;) w.push_back(s);
    return w;
}

// The table row of `name` as column title -> cell (STATE: the rest of the line).
std::map<std::string, std::string> row(const std::string& args, const std::string& name) {
    std::istringstream in(run_ls(args));
    std::vector<std::string> titles;
    std::map<std::string, std::string> cells;
    for (std::string line; std::getline(in, line);) {
        const std::vector<std::string> w = words(line);
        if (!w.empty() && w[0] == "NAME") titles = w;
        if (w.empty() || w[0] != name) continue;
        REQUIRE(titles.size() >= 2);
        REQUIRE(w.size() >= titles.size());
        for (std::size_t i = 0; i + 1 < titles.size(); ++i) cells[titles[i]] = w[i];
        std::string state;
        for (std::size_t i = titles.size() - 1; i < w.size(); ++i) state += (state.empty() ? "" : " ") + w[i];
        cells[titles.back()] = state;
    }
    return cells;
}

// A System V key for `name`; IPC_EXCL at creation makes sure it is ours.
key_t key_for(const std::string& name) {
    const auto k = static_cast<key_t>(std::hash<std::string>{}(name) & 0x7fffffff);
    return k == IPC_PRIVATE ? 1 : k;
}

std::string sysv_listed_as(key_t k) { return "sysv:" + std::to_string(k); }

// Objects made the way any program makes them (no ipc types), removed at the end.
struct posix_queue {
    std::string name;
    mqd_t q;
    posix_queue(const std::string& n, long max_messages, long message_size) : name(n) {
        mq_attr a{};
        a.mq_maxmsg = max_messages;
        a.mq_msgsize = message_size;
        q = ::mq_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &a);
        REQUIRE(q != static_cast<mqd_t>(-1));
    }
    ~posix_queue() {
        ::mq_close(q);
        ::mq_unlink(("/" + name).c_str());
    }
};

struct named_semaphore {
    std::string name;
    sem_t* s;
    named_semaphore(const std::string& n, unsigned value) : name(n) {
        s = ::sem_open(("/" + name).c_str(), O_CREAT | O_EXCL, 0600, value);
        REQUIRE(s != SEM_FAILED);
    }
    ~named_semaphore() {
        ::sem_close(s);
        ::sem_unlink(("/" + name).c_str());
    }
};

struct sysv_queue {
    int id;
    explicit sysv_queue(key_t k) : id(::msgget(k, IPC_CREAT | IPC_EXCL | 0600)) { REQUIRE(id >= 0); }
    ~sysv_queue() { ::msgctl(id, IPC_RMID, nullptr); }
};

struct sysv_semaphores {
    int id;
    sysv_semaphores(key_t k, int n) : id(::semget(k, n, IPC_CREAT | IPC_EXCL | 0600)) { REQUIRE(id >= 0); }
    ~sysv_semaphores() { ::semctl(id, 0, IPC_RMID); }
};

struct sysv_segment {
    int id;
    sysv_segment(key_t k, std::size_t size) : id(::shmget(k, size, IPC_CREAT | IPC_EXCL | 0600)) { REQUIRE(id >= 0); }
    ~sysv_segment() { ::shmctl(id, IPC_RMID, nullptr); }
    bool exists() const {
        ::shmid_ds ds{};
        return ::shmctl(id, IPC_STAT, &ds) == 0;
    }
};

struct queue_names {
    std::vector<std::string> names;
    ~queue_names() {
        for (const std::string& n : names) ::mq_unlink(("/" + n).c_str());
    }
};

}  // namespace

TEST_CASE("ipc-ls: message queues and semaphores, POSIX and System V, are listed with their kind, never removed") {
    posix_queue mq(unique_name("lsmq"), 4, 16);
    REQUIRE(::mq_send(mq.q, "hello", 5, 0) == 0);
    REQUIRE(::mq_send(mq.q, "hi", 2, 0) == 0);
    named_semaphore sem(unique_name("lssem"), 2);
    const key_t msg_key = key_for(unique_name("lsmsg")), sem_key = key_for(unique_name("lssemset"));
    sysv_queue msg(msg_key);
    struct {
        long type;
        char text[5];
    } m{1, {'h', 'e', 'l', 'l', 'o'}};
    REQUIRE(::msgsnd(msg.id, &m, sizeof m.text, IPC_NOWAIT) == 0);
    sysv_semaphores set(sem_key, 3);
    unsigned short values[3] = {1, 0, 2};
    REQUIRE(::semctl(set.id, 0, SETALL, values) == 0);

    // This process holds the queue open: ipc-ls finds it however it has to look (--help: Message queues).
    const std::string q = listing("", mq.name);
    CHECK(has(q, "\"kind\":\"posix_mq\",\"origin\":\"unknown\""));
    CHECK(has(q, "\"size\":7,"));  // bytes queued
    CHECK(has(q, "\"capacity\":4,\"message_size\":16,\"queued\":2"));
    CHECK(has(q, "\"procs\":1,"));
    const std::string s = listing("", sem.name);
    CHECK(has(s, "\"kind\":\"posix_sem\",\"origin\":\"unknown\""));
    CHECK(has(s, "\"values\":[2]"));
    CHECK(has(s, "\"state\":\"value 2\""));
    CHECK(has(s, "\"procs\":1,"));  // mapped here
    const std::string mname = sysv_listed_as(msg_key), sname = sysv_listed_as(sem_key);
    const std::string sq = listing("", mname, mname);
    CHECK(has(sq, "\"kind\":\"sysv_mq\",\"origin\":\"unknown\""));
    CHECK(has(sq, "\"size\":5,"));
    CHECK(has(sq, "\"queued\":1,"));
    CHECK(has(sq, "\"key\":" + std::to_string(msg_key) + ",\"id\":" + std::to_string(msg.id)));
    const std::string ss = listing("", sname, sname);
    CHECK(has(ss, "\"kind\":\"sysv_sem\",\"origin\":\"unknown\""));
    CHECK(has(ss, "\"values\":[1,0,2]"));
    CHECK(has(ss, "\"state\":\"values 1 0 2\""));

    // Nobody's, as far as anything can tell, and old enough: still never removed.
    const std::string now = "--remove-stale --min-age 0 --mq " + mq.name;
    CHECK(has(listing(now, mq.name), "\"removed\":false"));
    CHECK(has(listing(now, sem.name), "\"removed\":false"));
    CHECK(has(listing(now, mname, mname), "\"removed\":false"));
    CHECK(has(listing(now, sname, sname), "\"removed\":false"));
    CHECK(!listing("", mq.name).empty());
    CHECK(!listing("", sem.name).empty());
    CHECK(!listing("", mname, mname).empty());
    CHECK(!listing("", sname, sname).empty());
}

TEST_CASE("ipc-ls: other programs' shared memory is listed only with --all, as foreign, and never removed") {
    const std::string name = unique_name("lsforeign");  // in /dev/shm without ipc's "ipc." prefix
    {
        ipc::detail::unique_fd fd(::shm_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
        REQUIRE(fd);
        REQUIRE(::ftruncate(fd.get(), 4096) == 0);
    }
    const key_t key = key_for(unique_name("lsforeignseg"));
    sysv_segment seg(key, 4096);
    const std::string sname = sysv_listed_as(key);

    CHECK(listing("", name).empty());
    CHECK(listing("", sname, sname).empty());
    CHECK(has(run_ls(name, true), "object made by other programs not shown (--all lists them)"));
    const std::string p = listing("--all", name);
    CHECK(has(p, "\"kind\":\"posix_shm\",\"origin\":\"foreign\""));
    CHECK(has(p, "\"size\":4096,\"ring\":null"));
    CHECK(has(p, "\"procs\":0,"));
    const std::string v = listing("--all", sname, sname);
    CHECK(has(v, "\"kind\":\"sysv_shm\",\"origin\":\"foreign\""));
    CHECK(has(v, "\"procs\":0,\"creator_pid\":" + std::to_string(::getpid()) + ",\"creator_alive\":true"));

    CHECK(has(listing("--all --remove-stale --min-age 0", name), "\"removed\":false"));
    CHECK(has(listing("--all --remove-stale --min-age 0", sname, sname), "\"removed\":false"));
    CHECK(exists("/dev/shm/" + name));
    CHECK(seg.exists());
    CHECK(::shm_unlink(("/" + name).c_str()) == 0);
}

TEST_CASE("ipc-ls: without /dev/mqueue it says how to mount it; unable to mount it privately, it lists the queues held open and those named with --mq") {
    struct statfs fs {};
    if (::statfs("/dev/mqueue", &fs) == 0 && fs.f_type == 0x19800202) {  // MQUEUE_MAGIC
        MESSAGE("skipped: /dev/mqueue is mounted");
        return;
    }
    CHECK(has(run_ls("--json " + run_tag(), true), "mount -t mqueue none /dev/mqueue"));

    // Root may mount the file system privately: the fallback is checked as `nobody`.
    const passwd* nobody = ::geteuid() == 0 ? ::getpwnam("nobody") : nullptr;
    if (::geteuid() == 0 && nobody == nullptr) {
        MESSAGE("skipped: this system has no user `nobody`");
        return;
    }
    const uid_t uid = nobody ? nobody->pw_uid : ::getuid();
    const gid_t gid = nobody ? nobody->pw_gid : ::getgid();
    auto become_user = [&] {
        if (!nobody) return true;
        if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) return false;
        return ::prctl(PR_SET_DUMPABLE, 1) == 0;  // setuid made /proc/PID/fd root's: give it back
    };
    queue_names made{{unique_name("lsheld"), unique_name("lsnamed"), unique_name("lsclosed")}};
    const std::string& held = made.names[0];
    const std::string& named = made.names[1];
    const std::string& closed = made.names[2];
    gate ready, done;
    child owner([&] {
        if (!become_user()) return 1;
        mq_attr a{};
        a.mq_maxmsg = 2;
        a.mq_msgsize = 8;
        mqd_t q[3];
        for (int i = 0; i < 3; ++i)
            if ((q[i] = ::mq_open(("/" + made.names[i]).c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &a)) < 0)
                return 2;
        ::mq_close(q[1]);
        ::mq_close(q[2]);
        ready.open();
        return done.wait() ? 0 : 3;  // holds `held` open until then
    });
    REQUIRE(ready.wait());
    std::FILE* out = std::tmpfile();
    REQUIRE(out != nullptr);
    child lister([&] {
        if (!become_user() || ::dup2(::fileno(out), 1) < 0 || ::dup2(::fileno(out), 2) < 0) return 1;
        ::execl(IPC_LS, "ipc-ls", "--json", "--mq", named.c_str(), run_tag().c_str(), static_cast<char*>(nullptr));
        return errno == EACCES ? 126 : 127;
    });
    const int listed = lister.wait();
    done.open();
    CHECK(owner.wait() == 0);
    if (listed == 126) {
        MESSAGE("skipped: `nobody` may not run " IPC_LS " (a directory above it is closed to others)");
        std::fclose(out);
        return;
    }
    CHECK(listed == 0);
    std::string text;
    std::rewind(out);
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, out)) > 0;) text.append(buf, n);
    std::fclose(out);

    CHECK(has(text, "a private mount failed"));
    CHECK(has(text, "mount -t mqueue none /dev/mqueue"));
    const std::string owner_uid = "\"uid\":" + std::to_string(uid);
    CHECK(has(text, "{\"name\":\"" + held + "\",\"kind\":\"posix_mq\",\"origin\":\"unknown\"," + owner_uid));
    CHECK(has(text, "{\"name\":\"" + named + "\",\"kind\":\"posix_mq\",\"origin\":\"unknown\"," + owner_uid));
    CHECK(!has(text, "\"name\":\"" + closed + "\""));
}

TEST_CASE("ipc-ls: the header names every column, --help explains each, and ages show in the table") {
    remover<transport> r{unique_name("lsage")};
    (void)transport::create(r.name, 8);
    const std::string table = run_ls(run_tag());
    const std::string header = table.substr(0, table.find('\n'));
    const std::vector<std::string> titles = words(header);
    REQUIRE(titles.size() >= 10);
    CHECK(titles[0] == "NAME");
    CHECK(!has(header, " a/d"));
    const std::string help = run_ls("--help");
    for (const std::string& t : titles) CHECK_MESSAGE(has(help, "\n  " + t + " "), t);
    // So is every JSON field.
    const std::string json = listing("", r.name);
    REQUIRE(!json.empty());
    for (std::size_t at = json.find("{\""); at != std::string::npos; at = json.find(",\"", at + 1)) {
        const std::size_t start = at + 2, end = json.find('"', start);
        const std::string field = json.substr(start, end - start);
        CHECK_MESSAGE((has(help, " " + field) || has(help, "\n" + field)), field);
    }

    auto c = row(run_tag(), r.name);
    CHECK(c["KIND"] == "posix_shm");
    CHECK(c["ORIGIN"] == "ipc");
    CHECK(c["RING"] == "spsc");
    CHECK(c["CAPACITY"] == "8");
    CHECK(c["QUEUED"] == "0");
    CHECK(c["SENDERS(live/dead)"] == "0/0");
    CHECK(c["CREATOR"] == std::to_string(::getpid()));
    const std::string age = c["AGE"];
    REQUIRE(age.size() >= 2);
    CHECK(age.find_first_not_of("0123456789") == age.size() - 1);
    CHECK(std::string("smhd").find(age.back()) != std::string::npos);
}

TEST_CASE("ipc-ls --dir: a FIFO and a socket show - in the columns that mean nothing for them") {
    temp_dir dir;
    const std::string fifo = dir / unique_name("fifo"), sock = dir / unique_name("sock");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    ipc::detail::unique_fd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    REQUIRE(reader);
    auto listener = ipc::transport::unix_stream_listener::listen(ipc::transport::unix_address::path(sock));
    const std::string scan = "--dir " + dir.path().string() + " " + run_tag();

    for (const std::string& path : {fifo, sock}) {
        INFO(path);
        auto c = row(scan, path);
        REQUIRE(!c.empty());
        for (const char* col : {"SIZE", "RING", "CAPACITY", "QUEUED", "SENDERS(live/dead)", "RECEIVERS(live/dead)", "CREATOR"})
            CHECK_MESSAGE(c[col] == "-", col);
        CHECK(c["MODE"] != "-");
        CHECK(c["AGE"] != "-");
        CHECK(c["STATE"] == "live");
    }
    CHECK(row(scan, fifo)["PROCS"] == "1");  // this process reads it
    CHECK(row(scan, sock)["PROCS"] == "-");  // /proc names sockets by inode, not path
    const std::string j = listing("--dir " + dir.path().string(), fifo);
    CHECK(has(j, "\"size\":null,\"ring\":null,\"capacity\":null,\"message_size\":null,\"queued\":null,"
                 "\"senders_alive\":null"));
}
#endif

namespace {

// One-byte steps between the test and a child, over a pipe each way; every
// wait is bounded.
struct steps {
    int down[2] = {-1, -1}, up[2] = {-1, -1};
    steps() { REQUIRE((::pipe(down) == 0 && ::pipe(up) == 0)); }
    ~steps() {
        for (int fd : {down[0], down[1], up[0], up[1]}) ::close(fd);
    }
    steps(const steps&) = delete;
    steps& operator=(const steps&) = delete;
    static bool post(int fd, char c) { return ::write(fd, &c, 1) == 1; }
    static char take(int fd) {
        pollfd p{fd, POLLIN, 0};
        char c = 0;
        return ::poll(&p, 1, 10000) == 1 && ::read(fd, &c, 1) == 1 ? c : 0;
    }
    bool tell(char c) { return post(down[1], c); }  // test -> child
    char heard() { return take(up[0]); }            // child -> test
    bool say(char c) { return post(up[1], c); }     // in the child
    char order() { return take(down[0]); }
};

}  // namespace

TEST_CASE("ipc-ls: a broadcast ring lists each subscriber: entry, pid, state, whether its process lives, tail, lag, missed") {
    using bcast = ipc::shm_broadcast<std::uint64_t>;
    remover<bcast> b{unique_name("lssubs")};
    // overwrite: the publisher never waits, so never reaps the killed subscriber's entry before ipc-ls looks.
    auto owner = bcast::create(b.name, {.capacity = 16, .max_subscribers = 8, .slow = ipc::ring::slow_policy::overwrite});
    constexpr std::uint64_t published = 10;
    const std::uint64_t reads[3] = {2, 5, 9};  // so lags 8, 5 and 1
    std::optional<steps> talk[4];
    std::vector<child> subs;
    for (int k = 0; k < 3; ++k) {
        talk[k].emplace();
        subs.emplace_back([&, k] {
            auto rx = bcast::open(b.name);
            rx.transport().attach(ipc::direction::recv);  // subscribes at the head: message 0
            if (!talk[k]->say('j') || talk[k]->order() != 'r') return 1;
            std::uint64_t v = 0;
            for (std::uint64_t i = 0; i < reads[k]; ++i)
                if (rx.try_recv(v) != ipc::status::ok || v != i) return 2;
            if (!talk[k]->say('r')) return 3;
            return talk[k]->order() == 'x' ? 0 : 4;  // waits on the pipe, not in the ring: no peer check reaps anyone
        });
        REQUIRE(talk[k]->heard() == 'j');  // one at a time: entries 0, 1, 2
    }
    talk[3].emplace();
    child publisher([&] {
        auto tx = bcast::open(b.name);
        for (std::uint64_t i = 0; i < published; ++i)
            if (tx.try_send(i) != ipc::status::ok) return 1;
        if (!talk[3]->say('p')) return 2;
        return talk[3]->order() == 'x' ? 0 : 3;
    });
    REQUIRE(talk[3]->heard() == 'p');
    for (int k = 0; k < 3; ++k) {
        REQUIRE(talk[k]->tell('r'));
        REQUIRE(talk[k]->heard() == 'r');
    }
    const pid_t pids[3] = {subs[0].pid(), subs[1].pid(), subs[2].pid()};
    ::kill(pids[2], SIGKILL);
    CHECK(subs[2].wait() == -SIGKILL);

    auto expected_row = [&](int k, const char* process) {
        return "{\"row\":\"subscriber\",\"entry\":" + std::to_string(k) + ",\"pid\":" + std::to_string(pids[k]) +
               ",\"state\":\"live\",\"process\":\"" + process + "\",\"tail\":" + std::to_string(reads[k]) +
               ",\"lag\":" + std::to_string(published - reads[k]) + ",\"missed\":0}";
    };
    const std::string l = listing("", b.name);
    CHECK(has(l, "\"queued\":8,"));  // the slowest subscriber's lag
    CHECK(has(l, "\"publisher\":\"live\",\"subscribers\":3,\"max_subscribers\":8,\"max_lag\":8,"));
    CHECK(has(l, "\"rows\":[" + expected_row(0, "alive") + "," + expected_row(1, "alive") + "," + expected_row(2, "dead") + "]}"));

    // The table: one indented line per subscriber under the ring's line.
    const std::string table = run_ls(run_tag());
    const std::size_t at = table.find(b.name);
    REQUIRE(at != std::string::npos);
    for (int k = 0; k < 3; ++k) {
        const std::string line = "\n  subscriber entry=" + std::to_string(k) + " pid=" + std::to_string(pids[k]) +
                                 " state=live process=" + (k == 2 ? "dead" : "alive") + " tail=" + std::to_string(reads[k]) +
                                 " lag=" + std::to_string(published - reads[k]) + " missed=0\n";
        CHECK(table.find(line, at) != std::string::npos);
    }

    for (int k = 0; k < 2; ++k) {
        REQUIRE(talk[k]->tell('x'));
        CHECK(subs[k].wait() == child_ok);
    }
    REQUIRE(talk[3]->tell('x'));
    CHECK(publisher.wait() == child_ok);
    // Those that left freed their entries; the killed one's stays until a peer check reaps it.
    const std::string after = listing("", b.name);
    CHECK(has(after, "\"publisher\":\"left\",\"subscribers\":1,"));
    CHECK(has(after, "\"rows\":[" + expected_row(2, "dead") + "]}"));
}

TEST_CASE("ipc-ls: nothing of this run is left in /dev/shm") { CHECK(ipc_test::leftovers_in_dev_shm().empty()); }
