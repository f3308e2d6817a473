// ipc-ls (examples/ipc_ls.cpp): lists rings with their users and removes the
// stale ones, i.e. those whose every user died.
#include <ipc/channel.hpp>

#include <signal.h>

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
#endif

TEST_CASE("ipc-ls: nothing of this run is left in /dev/shm") { CHECK(leftovers_in_dev_shm().empty()); }
