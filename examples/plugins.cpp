// plugins: a host runs each plug-in in a process of its own and talks to it
// over a Unix seqpacket socket pair (one message per request or reply). One
// plug-in crashes (abort) in the middle of a request: the host's receive
// reports status::closed, the host reaps it, says so and carries on with the
// others, which go on answering. A plug-in cannot take the host down with it,
// which is the point of putting plug-ins in processes.
#include <ipc/channel.hpp>
#include <ipc/process.hpp>

#include <signal.h>
#include <sys/prctl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace std::chrono_literals;
constexpr int kRequests = 5, kCrashAt = 2;  // the faulty plug-in aborts on request 2

struct message {  // a request (id, argument) or its reply (id, result)
    int id;
    long value;
};
using plugin_link = ipc::unix_seqpacket_channel<message>;
enum class kind { square, negate, faulty };

long compute(kind k, long x) { return k == kind::negate ? -x : x * x; }

int run_plugin(kind k, plugin_link host) {
    for (message m{};;) {
        const ipc::status st = host.recv_for(m, 10s);
        if (st == ipc::status::closed) return 0;  // the host closed its end: unload
        if (st != ipc::status::ok) return 1;
        if (k == kind::faulty && m.id == kCrashAt) {
            ::prctl(PR_SET_DUMPABLE, 0);  // no core file for this planned crash
            std::abort();
        }
        if (host.send_for(message{m.id, compute(k, m.value)}, 10s) != ipc::status::ok) return 1;
    }
}

struct plugin {
    const char* name;
    kind k;
    plugin_link channel;
    ipc::child_process process;
    int answered = 0;
    bool crashed = false;
};

int main() {
    std::vector<plugin> plugins;
    for (auto [name, k] : {std::pair{"square", kind::square}, {"faulty", kind::faulty}, {"negate", kind::negate}}) {
        // Each plug-in holds only its own end: its death is end of stream here.
        auto c = ipc::fork_connected<plugin_link>([k = k](plugin_link& host) { return run_plugin(k, std::move(host)); });
        plugins.push_back({name, k, std::move(c.channel), std::move(c.process)});
    }

    int wrong = 0;
    for (int id = 0; id < kRequests; ++id)
        for (auto& p : plugins) {
            if (p.crashed) continue;
            message reply{};
            ipc::status st = p.channel.send_for(message{id, id + 10L}, 2s);
            if (st == ipc::status::ok) st = p.channel.recv_for(reply, 2s);
            if (st == ipc::status::ok) {
                wrong += reply.id != id || reply.value != compute(p.k, id + 10L);
                ++p.answered;
            } else if (st == ipc::status::closed) {  // the plug-in is gone: reap it, report it, carry on
                const auto code = p.process.wait_for(5s);
                std::printf("plug-in '%s' crashed during request %d (%s); the host carries on without it\n", p.name,
                            id, code == -SIGABRT ? "SIGABRT" : "unexpected status");
                p.crashed = true;
                wrong += code != -SIGABRT;
            } else {
                ++wrong;  // timed out or failed: a healthy plug-in answers at once
            }
        }

    bool ok = wrong == 0;
    for (auto& p : plugins) {
        p.channel.close();  // unload: the plug-in sees end of file and returns
        const int code = p.crashed ? 0 : p.process.wait_for(5s).value_or(-1);
        std::printf("plug-in '%s': %d answers, %s\n", p.name, p.answered, p.crashed ? "crashed" : "unloaded");
        ok = ok && code == 0 && p.answered == (p.k == kind::faulty ? kCrashAt : kRequests) && p.crashed == (p.k == kind::faulty);
    }
    std::printf(ok ? "the host survived a crashing plug-in; the others answered every request\n" : "FAILED\n");
    return ok ? 0 : 1;
}
