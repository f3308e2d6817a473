// bench/loops.hpp: event loops as bench links.
//
//   raw.epoll.eventfd       the floor of an event loop over shared memory: the
//                           hand-written ring of floor.spsc_handwritten per
//                           direction and an eventfd doorbell per direction. A
//                           receiver finding its ring empty says it sleeps,
//                           looks again, then waits in epoll_wait; a sender
//                           rings only for a receiver that said so.
//   raw.epoll.unix_stream   the hand-written event loop over a Unix stream
//                           socket: read with MSG_DONTWAIT until a message is
//                           whole, epoll_wait when the socket is empty (against
//                           raw.unix_stream's blocking read: what any event
//                           loop costs over one blocking call).
//   ipc.poller.unix_stream  ipc::unix_stream_channel received the same way:
//                           try_recv until would_block, then
//                           ipc::poller::wait() (against raw.epoll.unix_stream).
#pragma once

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <system_error>
#include <utility>
#include <vector>

#include <ipc/poller.hpp>

#include "channels.hpp"
#include "floors.hpp"
#include "harness.hpp"
#include "raw.hpp"

namespace bench::loops {

using ipc::detail::cache_line;

// An exchange (raw::link) whose receive is an event loop's: nonblocking
// reads, epoll_wait when there is nothing. The epoll instance is made at the
// first receive, in the process that receives (after fork).
class epoll_exact {
public:
    explicit epoll_exact(std::size_t size) : tx_(size, 'x'), rx_(size) {}
    void send(int fd) { raw::write_all(fd, tx_.data(), tx_.size()); }
    void recv(int fd) {
        for (std::size_t got = 0; got < rx_.size();) {
            const ssize_t r = ::recv(fd, rx_.data() + got, rx_.size() - got, MSG_DONTWAIT);
            if (r > 0) {
                got += static_cast<std::size_t>(r);
                continue;
            }
            if (r == 0) throw std::runtime_error("peer closed");
            if (errno == EINTR) continue;
            if (errno != EAGAIN) throw std::system_error(errno, std::generic_category(), "recv");
            if (!ep_) {
                ep_.reset(raw::check(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1"));
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.fd = fd;
                raw::check(::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev), "epoll_ctl");
            }
            epoll_event out{};
            if (::epoll_wait(ep_.get(), &out, 1, -1) < 0 && errno != EINTR)
                throw std::system_error(errno, std::generic_category(), "epoll_wait");
        }
    }

private:
    std::vector<char> tx_, rx_;
    raw::unique_fd ep_;
};

class epoll_eventfd {
public:
    explicit epoll_eventfd(std::size_t size)
        : size_(size),
          slots_(std::bit_floor(std::clamp<std::size_t>((std::size_t{1} << 20) / size, 16, 4096))),
          slot_bytes_(floors::round_up(size, 8)),
          stride_(sizeof(lane) + slots_ * slot_bytes_),
          region_(2 * stride_),
          tx_(size, std::byte{'x'}),
          rx_(size) {
        for (int i = 0; i < 2; ++i) {
            new (lane_of(i)) lane;
            bell_[i].reset(raw::check(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd"));
        }
    }
    // After fork: an epoll instance made before it would be one shared by both processes.
    void open(side s) {
        out_ = s == side::a ? 0 : 1;
        in_ = 1 - out_;
        ep_.reset(raw::check(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1"));
        epoll_event ev{};
        ev.events = EPOLLIN;
        raw::check(::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, bell_[in_].get(), &ev), "epoll_ctl");
    }
    void send() {
        lane& l = *lane_of(out_);
        if (head_ - tail_seen_ == slots_)
            floors::spin_until([&] { return head_ - (tail_seen_ = l.tail.load(std::memory_order_acquire)) < slots_; });
        std::memcpy(slot(out_, head_), tx_.data(), size_);
        l.head.store(++head_, std::memory_order_release);
        // Pairs with the receiver's fence: it sees the message, or we see it sleeping.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (l.sleeping.load(std::memory_order_relaxed) != 0 && l.sleeping.exchange(0, std::memory_order_relaxed) != 0) {
            const std::uint64_t one = 1;
            raw::write_all(bell_[out_].get(), &one, sizeof one);
        }
    }
    void recv() {
        lane& l = *lane_of(in_);
        while (tail_ == head_seen_ && (head_seen_ = l.head.load(std::memory_order_acquire)) == tail_) {
            l.sleeping.store(1, std::memory_order_relaxed);
            std::atomic_thread_fence(std::memory_order_seq_cst);
            if ((head_seen_ = l.head.load(std::memory_order_acquire)) != tail_) {
                l.sleeping.store(0, std::memory_order_relaxed);
                break;
            }
            epoll_event ev;
            if (::epoll_wait(ep_.get(), &ev, 1, -1) < 0 && errno != EINTR)
                throw std::system_error(errno, std::generic_category(), "epoll_wait");
            // Drain the doorbell; a ring left over from a wake-up not needed only costs one more look.
            std::uint64_t n = 0;
            if (::read(bell_[in_].get(), &n, sizeof n) < 0 && errno != EAGAIN)
                throw std::system_error(errno, std::generic_category(), "read eventfd");
        }
        std::memcpy(rx_.data(), slot(in_, tail_), size_);
        l.tail.store(++tail_, std::memory_order_release);
    }

private:
    // One direction's shared indices and sleep flag, each on its own line; slots follow.
    struct lane {
        alignas(cache_line) std::atomic<std::uint64_t> head{0};
        alignas(cache_line) std::atomic<std::uint64_t> tail{0};
        alignas(cache_line) std::atomic<std::uint32_t> sleeping{0};
    };
    lane* lane_of(int i) const noexcept { return reinterpret_cast<lane*>(region_.data() + static_cast<std::size_t>(i) * stride_); }
    std::byte* slot(int i, std::uint64_t idx) const noexcept {
        return reinterpret_cast<std::byte*>(lane_of(i) + 1) + (idx & (slots_ - 1)) * slot_bytes_;
    }

    std::size_t size_, slots_, slot_bytes_, stride_;
    floors::shared_region region_;
    raw::unique_fd bell_[2];  // bell_[i] rings the receiver of direction i
    raw::unique_fd ep_;
    int out_ = 0, in_ = 1;
    std::uint64_t head_ = 0, tail_seen_ = 0;  // producer side of direction out_
    std::uint64_t tail_ = 0, head_seen_ = 0;  // consumer side of direction in_
    std::vector<std::byte> tx_, rx_;
};

// A duplex channel whose receives go through an ipc::poller. The poller is
// made at the first receive, in the process that uses it (after fork), and
// the endpoint is not moved after that (the registration points at it).
template <class Channel>
struct polled_endpoint {
    Channel ch;
    std::unique_ptr<ipc::poller> loop;
    ipc::poller::registration reg;  // after loop: detached before it goes

    template <class T>
    ipc::status send(const T& v) { return ch.send(v); }
    template <class T>
    ipc::status recv(T& v) {
        for (;;) {
            const ipc::status s = ch.try_recv(v);
            if (s != ipc::status::would_block) return s;
            if (!loop) {
                loop = std::make_unique<ipc::poller>();
                reg = loop->add(ch, ipc::ready::readable, 0);
            }
            (void)loop->wait();
        }
    }
};

template <class Socket>
struct polled_socketpair_maker {
    template <class T, class F>
    static auto make(std::size_t size) {
        auto both = channels::socketpair_maker<Socket>::template make<T, F>(size);
        using endpoint = polled_endpoint<typename decltype(both)::first_type>;
        return std::pair<endpoint, endpoint>{endpoint{std::move(both.first), {}, {}}, endpoint{std::move(both.second), {}, {}}};
    }
};

}  // namespace bench::loops
