// peer.boost_mq: Boost.Interprocess message_queue, one queue per direction.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include <boost/interprocess/ipc/message_queue.hpp>

#include "harness.hpp"

namespace {

namespace bip = boost::interprocess;
using bench::side;

class boost_mq {
public:
    explicit boost_mq(std::size_t size) : size_(size), tx_(size, 'x'), rx_(size) {
        static std::atomic<int> serial{0};
        const std::string base = "ipc_bench_" + std::to_string(::getpid()) + "_" + std::to_string(serial++);
        names_[0] = base + "_ab";
        names_[1] = base + "_ba";
        const std::size_t depth = std::clamp<std::size_t>((std::size_t{1} << 20) / size, 4, 256);
        for (int i = 0; i < 2; ++i) q_[i].emplace(bip::create_only, names_[i].c_str(), depth, size);
    }
    ~boost_mq() {
        q_[0].reset();
        q_[1].reset();
        for (auto& n : names_) bip::message_queue::remove(n.c_str());
    }
    boost_mq(const boost_mq&) = delete;
    boost_mq& operator=(const boost_mq&) = delete;

    void open(side s) {
        out_ = s == side::a ? 0 : 1;
        in_ = 1 - out_;
    }
    void send() { q_[out_]->send(tx_.data(), size_, 0); }
    void recv() {
        bip::message_queue::size_type got = 0;
        unsigned prio = 0;
        q_[in_]->receive(rx_.data(), rx_.size(), got, prio);
        if (got != size_) throw std::runtime_error("boost_mq: message of the wrong size");
    }

private:
    std::size_t size_;
    std::string names_[2];
    std::optional<bip::message_queue> q_[2];  // inherited by the child: the mapping is shared
    int out_ = 0, in_ = 1;
    std::vector<char> tx_, rx_;
};

const bench::register_peer reg{{"peer.boost_mq", nullptr, bench::run_link<boost_mq>}};

}  // namespace
