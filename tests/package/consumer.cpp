// The program every packaging consumer builds: it needs only <ipc/channel.hpp>
// and does one round trip with a forked child (ping there, ping + 1 back).
#include <ipc/channel.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

int main() {
    using namespace std::chrono_literals;
    auto there = ipc::pipe_channel<int>::create();
    auto back = ipc::pipe_channel<int>::create();

    pid_t pid = ::fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        there.sender.transport().close();
        back.receiver.transport().close();
        int v = 0;
        if (!there.receiver.recv_for(v, 5s)) ::_exit(2);
        ::_exit(back.sender.send_for(v + 1, 5s) ? 0 : 3);
    }
    there.receiver.transport().close();
    back.sender.transport().close();

    int reply = 0;
    bool ok = there.sender.send_for(41, 5s) && back.receiver.recv_for(reply, 5s) && reply == 42;
    int st = 0;
    ::waitpid(pid, &st, 0);
    ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    std::printf("ipc %d.%d.%d consumer: round trip %s\n", ipc::version_major, ipc::version_minor, ipc::version_patch,
                ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
