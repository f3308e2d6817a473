// shm_points: a named shared-memory channel, opened in one call on each side.
//
// The parent creates the channel by name; a forked child (it could as well be
// an unrelated program) opens the same name and sends points; the parent
// receives them until the child leaves. This file includes only the POSIX
// shared-memory transport: its header brings the ready aliases with it.
#include <ipc/transport/posix_shm.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

struct point {
    int x, y;
};

int main() {
    using namespace std::chrono_literals;
    const std::string name = "ipc-example-points-" + std::to_string(::getpid());
    auto rx = ipc::shm_channel<point>::create(name, 1024);  // 1024 slots, 0600, fails if the name is taken

    if (::fork() == 0) {
        int code = 0;
        {
            auto tx = ipc::shm_channel<point>::open(name);
            for (int i = 0; i < 5 && code == 0; ++i)
                if (tx.send_for(point{i, i * i}, 1s) != ipc::status::ok) code = 1;
        }  // the sender leaves: the receiver sees closed (had it died, peer_dead)
        ::_exit(code);
    }

    point p{};
    int received = 0;
    ipc::status s = rx.recv_for(p, 5s);  // ok, timed_out, or closed once the sender left
    for (; s == ipc::status::ok; s = rx.recv_for(p, 5s)) {
        std::printf("got (%d, %d)\n", p.x, p.y);
        ++received;
    }
    int child = 1;
    ::wait(&child);
    ipc::shm_channel<point>::remove(name);
    std::printf("%d points, then %s\n", received, s.name());
    return received == 5 && s == ipc::status::closed && child == 0 ? 0 : 1;
}
