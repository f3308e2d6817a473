// peer.nng: nng pair0 sockets over ipc:// (a Unix stream socket underneath,
// hence compared with raw.unix_stream). nng panics in a child forked from a
// process that used it, so each measurement runs in a fresh process (isolated).
#include <stdexcept>
#include <string>
#include <vector>

#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>

#include "harness.hpp"

namespace {

using bench::side;

class nng_pair {
public:
    explicit nng_pair(std::size_t size) : url_("ipc://" + dir_.file("nng")), tx_(size, 'x'), rx_(size + 1) {}
    ~nng_pair() {
        if (open_) ::nng_close(sock_);
    }
    nng_pair(const nng_pair&) = delete;
    nng_pair& operator=(const nng_pair&) = delete;

    void open(side s) {
        check(::nng_pair0_open(&sock_), "nng_pair0_open");
        open_ = true;
        // The child dials in the background until the parent listens.
        check(s == side::a ? ::nng_listen(sock_, url_.c_str(), nullptr, 0)
                           : ::nng_dial(sock_, url_.c_str(), nullptr, NNG_FLAG_NONBLOCK),
              "nng_listen/dial");
    }
    void send() { check(::nng_send(sock_, tx_.data(), tx_.size(), 0), "nng_send"); }
    void recv() {
        std::size_t n = rx_.size();
        check(::nng_recv(sock_, rx_.data(), &n, 0), "nng_recv");
        if (n != tx_.size()) throw std::runtime_error("nng: message of the wrong size");
    }

private:
    static void check(int rv, const char* what) {
        if (rv != 0) throw std::runtime_error(std::string(what) + ": " + ::nng_strerror(rv));
    }

    bench::temp_dir dir_;
    std::string url_;
    nng_socket sock_ = NNG_SOCKET_INITIALIZER;
    bool open_ = false;
    std::vector<char> tx_, rx_;
};

const bench::register_peer reg{{"peer.nng", "raw.unix_stream", bench::isolated<bench::run_link<nng_pair>>}};

}  // namespace
