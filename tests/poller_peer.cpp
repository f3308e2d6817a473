// tests/poller_peer.cpp: the unrelated program of tests/unit-poller-shm.cpp, exec'd by it.
//
//   ipc_poller_peer echo IN OUT [SECONDS]
//
// Opens two ipc::shm_channel<long> rings by name only (the test made them),
// and waits in one ipc::poller on IN, on SIGTERM, and on OUT while a reply
// waits for room. Echoes every value back on OUT; -1 makes it leave (its ends
// close as it returns). Exit: 0 after -1 or IN closed, 2 after SECONDS (30)
// with nothing to end it, 3 on SIGTERM, 4 on a failure (printed).
#include <ipc/channel.hpp>
#include <ipc/poller.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <string_view>

int main(int argc, char** argv) {
    if (argc < 4 || std::string_view(argv[1]) != "echo") {
        std::fprintf(stderr, "usage: %s echo IN OUT [SECONDS]\n", argv[0]);
        return 4;
    }
    using clock = std::chrono::steady_clock;
    const auto until = clock::now() + std::chrono::seconds(argc > 4 ? std::atoi(argv[4]) : 30);
    try {
        ipc::shutdown_signal stop({SIGTERM});
        auto rx = ipc::shm_channel<long>::open(argv[2]);
        auto tx = ipc::shm_channel<long>::open(argv[3]);
        enum key : int { k_in = 1, k_stop, k_out };
        ipc::poller p;
        auto in = p.add(rx, ipc::ready::readable, k_in);
        auto sig = p.add(stop, ipc::ready::readable, k_stop);
        ipc::poller::registration out;  // while replies wait for room
        std::deque<long> pending;
        while (clock::now() < until) {
            for (const auto& ev : p.wait_until(until)) {
                if (ev.key == k_stop) return 3;
                if (ev.key != k_in) continue;
                long v = 0;
                ipc::status s = ipc::status::ok;
                while ((s = rx.try_recv(v)) == ipc::status::ok) {
                    if (v == -1) return 0;
                    pending.push_back(v);
                }
                if (s == ipc::status::closed) return 0;
                if (s != ipc::status::would_block) {
                    std::fprintf(stderr, "poller_peer: try_recv: %s\n", s.name());
                    return 4;
                }
            }
            while (!pending.empty()) {
                const ipc::status s = tx.try_send(pending.front());
                if (s == ipc::status::would_block) break;
                if (s != ipc::status::ok) {
                    std::fprintf(stderr, "poller_peer: try_send: %s\n", s.name());
                    return 4;
                }
                pending.pop_front();
            }
            if (pending.empty()) out.reset();
            else if (!out) out = p.add(tx, ipc::ready::writable, k_out);
        }
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "poller_peer: %s\n", e.what());
        return 4;
    }
}
