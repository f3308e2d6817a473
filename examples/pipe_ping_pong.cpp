// pipe_ping_pong: a parent and a forked child bat a counter back and forth
// over two pipes, then print the round-trip time.
//
//   ./pipe_ping_pong [rounds]        (default 10000)
#include <ipc/process.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    using namespace std::chrono_literals;
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 10000;

    // fork_with<ToChild, FromChild> makes one pipe each way and runs the lambda
    // in the child, with the child's ends; the parent gets the other ends.
    auto kid = ipc::fork_with<int, int>([](ipc::pipe_receiver<int>& ping, ipc::pipe_sender<int>& pong) {
        int ball = 0;
        while (ping.recv(ball) == ipc::status::ok)  // closed when the parent is done
            if (pong.send(ball + 1) != ipc::status::ok) return 1;
        return 0;
    });

    auto t0 = std::chrono::steady_clock::now();
    int ball = 0;
    for (int i = 0; i < rounds; ++i) {
        if (kid.to_child.send(ball) != ipc::status::ok) return 1;
        if (kid.from_child.recv_for(ball, 5s) != ipc::status::ok) {  // bounded: a dead child cannot hang us
            std::fprintf(stderr, "no answer from the child\n");
            return 1;
        }
    }
    auto elapsed = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0);

    kid.to_child.close();  // end of stream: the child's loop ends
    auto code = kid.process.wait_for(5s);
    std::printf("%d round trips, ball at %d, %.2f us per round trip, child exited %d\n", rounds, ball,
                rounds ? elapsed.count() / rounds : 0.0, code.value_or(-1));
    return ball == rounds && code == 0 ? 0 : 1;
}
