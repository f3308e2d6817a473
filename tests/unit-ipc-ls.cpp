// ipc-ls (examples/ipc_ls.cpp): lists rings with their users and removes the
// stale ones: those whose every user died, or that never had one for longer
// than the grace period (--min-age). Nothing a creator is still setting up,
// nothing a live process holds, is ever removed.
#include <ipc/channel.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "ring_support.hpp"

#ifdef IPC_LS
namespace {

using namespace ipc_test;
using transport = ipc::transport::posix_shm<ipc::ring::spsc<std::uint64_t>>;
using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;

// ipc-ls's JSON line for `name`, or "" if it lists no such object.
std::string listing(const std::string& args, const std::string& name, const std::string& prefix = run_tag()) {
    std::string out, line;
    std::FILE* p = ::popen((std::string(IPC_LS) + " --json " + args + " " + prefix).c_str(), "r");
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

} // namespace

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

} // namespace

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
#endif

TEST_CASE("ipc-ls: nothing of this run is left in /dev/shm") { CHECK(ipc_test::leftovers_in_dev_shm().empty()); }
