// demo: a parent and a forked child talk over two typed pipe channels.
//
// The parent sends orders (a plain struct, framed at its fixed size); the
// child answers each with a receipt (a std::string, length-prefixed). When the
// parent closes its sender, the child sees status::closed and exits.
#include <ipc/channel.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace {

using namespace std::chrono_literals;

struct order {
    int id;
    int quantity;
    double unit_price;
};

int run_child(ipc::pipe_receiver<order>& orders, ipc::pipe_sender<std::string>& receipts) {
    order o{};
    for (;;) {
        auto got = orders.recv_for(o, 5s);
        if (got == ipc::status::closed) break;  // the parent is done
        if (!got) {
            std::printf("  child:  receive failed: %s\n", got.name());
            return 1;
        }
        std::printf("  child:  got order #%d (%d x %.2f)\n", o.id, o.quantity, o.unit_price);
        char receipt[64];
        std::snprintf(receipt, sizeof receipt, "order #%d costs %.2f", o.id, o.quantity * o.unit_price);
        if (!receipts.send_for(std::string(receipt), 5s)) return 1;
    }
    std::printf("  child:  orders closed, exiting\n");
    return 0;
}

}  // namespace

int main() {
    // Line-buffered even into a pipe, so parent and child lines come out in order.
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    auto orders = ipc::pipe_channel<order>::create();
    auto receipts = ipc::pipe_channel<std::string>::create();

    pid_t pid = ::fork();
    if (pid < 0) {
        std::perror("fork");
        return 1;
    }
    if (pid == 0) {
        // The child keeps the order reader and the receipt writer.
        orders.sender.close();
        receipts.receiver.close();
        ::_exit(run_child(orders.receiver, receipts.sender));
    }
    orders.receiver.close();
    receipts.sender.close();
    std::printf("parent: forked child %d\n", static_cast<int>(pid));

    bool ok = true;
    const order list[] = {{1, 3, 2.50}, {2, 10, 0.99}, {3, 1, 120.00}};
    for (const order& o : list) {
        std::printf("parent: sending order #%d\n", o.id);
        if (!orders.sender.send_for(o, 5s)) { ok = false; break; }
        std::string receipt;
        auto got = receipts.receiver.recv_for(receipt, 5s);
        if (!got) {
            std::printf("parent: no receipt: %s\n", got.name());
            ok = false;
            break;
        }
        std::printf("parent: receipt \"%s\"\n", receipt.c_str());
    }
    orders.sender.close();  // end of stream for the child

    int st = 0;
    ::waitpid(pid, &st, 0);
    ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    std::printf("parent: child exited with %d; demo %s\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, ok ? "passed" : "FAILED");
    return ok ? 0 : 1;
}
