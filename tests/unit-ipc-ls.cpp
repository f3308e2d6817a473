// ipc-ls (examples/ipc_ls.cpp): lists rings with their users and removes the
// stale ones, i.e. those whose every user died.
#include <ipc/channel.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "ring_support.hpp"

#ifdef IPC_LS
namespace {

using namespace ipc_test;
using transport = ipc::transport::posix_shm<ipc::ring::spsc<std::uint64_t>>;
using channel = ipc::channel<std::uint64_t, transport, ipc::sync::futex>;

// ipc-ls's JSON line for `name`, or "" if it lists no such object.
std::string listing(const std::string& args, const std::string& name) {
    std::string out, line;
    std::FILE* p = ::popen((std::string(IPC_LS) + " --json " + args + " " + run_tag()).c_str(), "r");
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
    transport(ipc::create_only, dead.name, 8);
    // A sender and a receiver, both killed: the sender after queueing 3 messages.
    child sender([&] {
        channel tx(transport(ipc::open_only, dead.name));
        for (std::uint64_t i = 0; i < 3; ++i)
            if (tx.try_send(i) != ipc::status::ok) return 1;
        ::raise(SIGKILL);
        return 2;
    });
    CHECK(sender.wait() == -SIGKILL);
    child receiver([&] {
        channel rx(transport(ipc::open_only, dead.name));
        rx.transport().attach(ipc::direction::recv);
        ::raise(SIGKILL);
        return 2;
    });
    CHECK(receiver.wait() == -SIGKILL);
    channel in_use(transport(ipc::create_only, live.name, 4));
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
    ipc::sem::robust_mutex m(ipc::create_only, name);
    const std::string l = listing("--remove-stale", name);
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
    const std::string s = listing(scan, stale);
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

    // --remove-stale: the stale socket goes; FIFOs, live and unknown sockets, links stay.
    CHECK(has(listing("--remove-stale " + scan, stale), "\"removed\":true"));
    CHECK(!exists(stale));
    CHECK(has(listing("--remove-stale " + scan, lone_fifo), "\"removed\":false"));
    for (const std::string& kept : {live, dgram, read_fifo, lone_fifo, link, target}) CHECK_MESSAGE(exists(kept), kept);

    // --remove-fifos-without-reader: the FIFO nobody reads goes, the one being read stays.
    CHECK(has(listing("--remove-stale --remove-fifos-without-reader " + scan, lone_fifo), "\"removed\":true"));
    CHECK(!exists(lone_fifo));
    CHECK(exists(read_fifo));
    CHECK(exists(live));
}
#endif

TEST_CASE("ipc-ls: nothing of this run is left in /dev/shm") { CHECK(ipc_test::leftovers_in_dev_shm().empty()); }
