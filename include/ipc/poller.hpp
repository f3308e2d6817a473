// ipc/poller.hpp: ipc::poller, one wait over many channels, listeners, signals and timers.
//
//   ipc::poller p;
//   auto a = p.add(jobs, ipc::ready::readable, 1);      // any pollable channel
//   auto b = p.add(listener, ipc::ready::readable, 2);  // a connection to accept
//   auto c = p.add(stop, ipc::ready::readable, 3);      // ipc::shutdown_signal
//   for (const auto& ev : p.wait_for(1s)) ...           // ev.key, ev.readable(), ev.closed()
//
// The drain rule: after an event, call try_recv (try_send, try_accept,
// timer::take) until it says would_block; readiness is level-triggered over
// the channel, so whatever is left is reported again by the next wait.
//
// What can be added (each by reference: it must stay where it is, and outlive
// its registration):
//   - a channel whose transport has a descriptor: pipe, FIFO, Unix stream /
//     seqpacket / datagram, TCP, UDP, POSIX mq, eventfd, signal, file log
//     reader. A stream channel's own buffer counts: a whole frame in it (a
//     second frame read with the first) is reported without sleeping
//     (basic_channel::has_buffered_message()); a half frame waits for its
//     descriptor. A file reader that follows (tail -f) is reported once when
//     added (its inotify descriptor only tells of changes); a replaying one
//     is a regular file, which is always ready (as poll(2) says), until the
//     user removes it.
//   - a shared-memory ring channel (SPSC, MPMC, bytes) on sync::futex, the
//     default: nothing to pass, the ring may be opened by name by an
//     unrelated program; each end's doorbell is found through the region
//     (ipc/detail/doorbell.hpp says how and why). Or on sync::eventfd, whose
//     descriptors are made before fork() or passed by hand. The poller parks
//     on the ring (arm, epoll, disarm: ipc::sync::pollable), so a peer's
//     notify makes a system call only while this side is parked; an end
//     that leaves rings too (ready::closed). A peer that dies without leaving
//     is reported as ready::peer_dead within the transport's
//     peer_check_interval(). A ring end waits in the one direction it moves
//     messages, and is attached as that end when added. While it holds a
//     ring, a wait spins first (spin_time(), 50 us as sync::futex), so a
//     busy peer is answered with no system call at all.
//   - ipc::shutdown_signal: readable from the signal on, and stays so.
//   - anything else with an int native_handle(): listeners, ipc::timer.
// A channel with nothing to wait on (System V queues, rings on spin,
// semaphore or none policies) is refused at compile time, saying what to use.
//
// One poller belongs to one thread at a time (no locking inside). wait()
// returns a range over the poller's own array, valid until the next wait;
// no wait allocates once the array has grown to the number of registrations.
#pragma once

#include <sys/epoll.h>

#include <concepts>
#include <cstdint>
#include <limits>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "basic_channel.hpp"
#include "concepts.hpp"
#include "detail/chrono.hpp"
#include "detail/cpu.hpp"
#include "detail/fd.hpp"
#include "error.hpp"
#include "eos.hpp"
#include "status.hpp"
#include "sync/eventfd.hpp"

namespace ipc {

// What a registration waits for (readable, writable) and what a wait found.
enum class ready : std::uint8_t {
    none = 0,
    readable = 1,   // try_recv / try_accept / take would not block
    writable = 2,   // try_send would not block
    closed = 4,     // the peer closed (hang-up): drain what is left, then remove it (it stays ready)
    error = 8,      // the descriptor has an error (the next call says which)
    peer_dead = 16, // shared memory: every peer on the other side died (with closed)
};
constexpr ready operator|(ready a, ready b) noexcept {
    return static_cast<ready>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
constexpr ready operator&(ready a, ready b) noexcept {
    return static_cast<ready>(static_cast<std::uint8_t>(a) & static_cast<std::uint8_t>(b));
}
constexpr ready& operator|=(ready& a, ready b) noexcept { return a = a | b; }
constexpr bool any(ready r) noexcept { return r != ready::none; }

namespace detail {
template <class>
inline constexpr bool is_channel = false;
template <class T, class Tr, class S, class F>
inline constexpr bool is_channel<channel<T, Tr, S, F>> = true;

template <class K>
concept poll_key = std::is_integral_v<K> || std::is_enum_v<K> ||
                   (std::is_pointer_v<K> && std::is_object_v<std::remove_pointer_t<K>>);

template <class S>
concept has_descriptor = requires(const S& s) {
    { s.native_handle() } -> std::same_as<int>;
};
// ipc::shutdown_signal: a descriptor, and a signal() that stays set once taken.
template <class S>
concept latched_signal = has_descriptor<S> && requires(S& s) {
    { s.signal() } -> std::same_as<int>;
    { s.triggered() } -> std::same_as<bool>;
};

// A move-only callable taking Arg: what std::function does for the poller,
// without <functional> (which would add a third to <ipc/channel.hpp>'s cost).
template <class Arg>
class unique_callback {
public:
    unique_callback() noexcept = default;
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, unique_callback>)
    explicit unique_callback(F&& f) : p_(new holder<std::remove_cvref_t<F>>(std::forward<F>(f))) {}
    unique_callback(unique_callback&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    unique_callback& operator=(unique_callback&& o) noexcept {
        if (this != &o) {
            delete p_;
            p_ = std::exchange(o.p_, nullptr);
        }
        return *this;
    }
    ~unique_callback() { delete p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    void operator()(Arg a) { p_->call(a); }

private:
    struct base {
        virtual ~base() = default;
        virtual void call(Arg) = 0;
    };
    template <class F>
    struct holder final : base {
        template <class G>
        explicit holder(G&& g) : f(std::forward<G>(g)) {}
        void call(Arg a) override { f(a); }
        F f;
    };
    base* p_ = nullptr;
};
}  // namespace detail

class poller {
public:
    using key_type = std::uint64_t;
    using clock = std::chrono::steady_clock;

    // Names one registration; stale once it is removed.
    struct registration_id {
        std::uint32_t index = 0;
        std::uint32_t generation = 0;
        friend bool operator==(registration_id, registration_id) = default;
    };

    struct event {
        key_type key = 0;
        ready what = ready::none;
        registration_id id{};

        bool readable() const noexcept { return any(what & ready::readable); }
        bool writable() const noexcept { return any(what & ready::writable); }
        bool closed() const noexcept { return any(what & ready::closed); }
        bool error() const noexcept { return any(what & ready::error); }
        bool peer_dead() const noexcept { return any(what & ready::peer_dead); }
        // The key given as a pointer.
        template <class T>
        T* pointer() const noexcept { return reinterpret_cast<T*>(static_cast<std::uintptr_t>(key)); }
    };
    using callback = detail::unique_callback<const event&>;  // move-only

    // Detaches its registration when destroyed: destroy it before the source
    // (declare it after the source). A registration that outlives its poller,
    // or whose id was removed with poller::remove, is inert: the poller tells
    // it (it knows where each registration object is).
    class [[nodiscard]] registration {
    public:
        registration() noexcept = default;
        registration(registration&& o) noexcept : p_(std::exchange(o.p_, nullptr)), id_(o.id_) { follow(); }
        registration& operator=(registration&& o) noexcept {
            if (this != &o) {
                reset();
                p_ = std::exchange(o.p_, nullptr);
                id_ = o.id_;
                follow();
            }
            return *this;
        }
        ~registration() { reset(); }

        // Detaches now.
        void reset() noexcept {
            if (p_) (void)std::exchange(p_, nullptr)->remove(id_);
        }
        // Keeps the registration for the poller's life (or poller::remove(id)).
        registration_id release() noexcept {
            if (p_ && p_->current(id_)) p_->slots_[id_.index].owner = nullptr;
            p_ = nullptr;
            return id_;
        }
        registration_id id() const noexcept { return id_; }
        explicit operator bool() const noexcept { return p_ != nullptr; }

    private:
        friend class poller;
        registration(poller* p, registration_id id) noexcept : p_(p), id_(id) { follow(); }
        // The poller's slot points back here, so that the poller can detach us.
        void follow() noexcept {
            if (p_ && p_->current(id_)) p_->slots_[id_.index].owner = this;
        }
        poller* p_ = nullptr;
        registration_id id_{};
    };

    // The ready registrations of one wait. An event whose registration was
    // removed after the wait (by a callback or while iterating) is skipped.
    class ready_range {
    public:
        class iterator {
        public:
            using iterator_category = std::forward_iterator_tag;
            using value_type = event;
            using difference_type = std::ptrdiff_t;
            using pointer = const event*;
            using reference = const event&;
            iterator() noexcept = default;
            reference operator*() const noexcept { return *cur_; }
            pointer operator->() const noexcept { return cur_; }
            iterator& operator++() noexcept {
                ++cur_;
                skip();
                return *this;
            }
            iterator operator++(int) noexcept {
                iterator t = *this;
                ++*this;
                return t;
            }
            friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.cur_ == b.cur_; }

        private:
            friend class ready_range;
            iterator(const poller* p, const event* cur, const event* end) noexcept : p_(p), cur_(cur), end_(end) { skip(); }
            void skip() noexcept {
                while (cur_ != end_ && !p_->reportable(*cur_)) ++cur_;
            }
            const poller* p_ = nullptr;
            const event* cur_ = nullptr;
            const event* end_ = nullptr;
        };

        ready_range() noexcept = default;
        iterator begin() const noexcept { return iterator(p_, b_, e_); }
        iterator end() const noexcept { return iterator(p_, e_, e_); }
        bool empty() const noexcept { return begin() == end(); }
        std::size_t size() const noexcept {
            std::size_t n = 0;
            for (auto i = begin(); i != end(); ++i) ++n;
            return n;
        }

    private:
        friend class poller;
        ready_range(const poller* p, const event* b, const event* e) noexcept : p_(p), b_(b), e_(e) {}
        const poller* p_ = nullptr;
        const event* b_ = nullptr;
        const event* e_ = nullptr;
    };

    poller() {
        std::error_code ec;
        init(ec);
        detail::throw_if(ec, "poller");
    }
    static poller create(std::error_code& ec) noexcept { return poller(ec); }
    // Registrations still alive become inert (their sources are not touched).
    ~poller() {
        for (slot& s : slots_)
            if (s.live && s.owner) s.owner->p_ = nullptr;
    }
    // Registrations point at the poller: it stays where it was made.
    poller(const poller&) = delete;
    poller& operator=(const poller&) = delete;

    // ---- registering ------------------------------------------------------
    //
    // interest: ready::readable, ready::writable or both; closed and error
    // are always reported. key: an integer, enum or object pointer handed
    // back in each event. A callback is run by wait() instead, and its
    // events are not in the returned range.

    template <class Source, detail::poll_key Key = key_type>
    registration add(Source& s, ready interest, Key key = {}) {
        std::error_code ec;
        auto r = add(s, interest, key, ec);
        detail::throw_if(ec, "poller::add");
        return r;
    }
    template <class Source, detail::poll_key Key>
    registration add(Source& s, ready interest, Key key, std::error_code& ec) {
        return attach(s, interest, to_key(key), callback{}, ec);
    }
    template <class Source, class F>
        requires(!detail::poll_key<std::remove_cvref_t<F>> && std::invocable<F&, const event&>)
    registration add(Source& s, ready interest, F&& cb) {
        std::error_code ec;
        auto r = add(s, interest, std::forward<F>(cb), ec);
        detail::throw_if(ec, "poller::add");
        return r;
    }
    template <class Source, class F>
        requires(!detail::poll_key<std::remove_cvref_t<F>> && std::invocable<F&, const event&>)
    registration add(Source& s, ready interest, F&& cb, std::error_code& ec) {
        return attach(s, interest, 0, callback(std::forward<F>(cb)), ec);
    }

    // Detaches a registration (false if it was not there). Remove before the
    // source closes its descriptor: epoll forgets a descriptor only when
    // every copy of it is closed, and its number may be reused.
    bool remove(registration_id id) noexcept {
        if (!current(id)) return false;
        slot& s = slots_[id.index];
        if (s.in_epoll) ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, s.fd, nullptr);
        if (s.owner) s.owner->p_ = nullptr;
        if (s.peek) --rings_;
        if (s.after)
            for (auto it = hooked_.begin(); it != hooked_.end(); ++it)
                if (*it == id.index) {
                    hooked_.erase(it);
                    break;
                }
        s = slot{};
        s.generation = id.generation + 1;
        free_.push_back(id.index);
        --live_;
        return true;
    }

    std::size_t size() const noexcept { return live_; }

    // Spin, then park, as sync::futex waits: while the poller holds a
    // shared-memory ring, a wait first looks at the rings (and every 64
    // rounds at the descriptors) for up to spin_time before it parks. A peer
    // on another core usually answers within it, and then nobody makes a
    // system call: a doorbell is rung only for a side that is parked. Zero
    // parks at once (an idle loop that must not burn a core). A poller
    // without rings never spins.
    std::chrono::nanoseconds spin_time() const noexcept { return spin_time_; }
    void spin_time(std::chrono::nanoseconds d) noexcept { spin_time_ = d; }

    // ---- waiting ----------------------------------------------------------
    //
    // Returns the ready registrations (empty when the time ran out; never
    // early). Callbacks of ready registrations run before it returns. A
    // signal handler interrupting the wait does not end it: it goes on for
    // the time that is left.

    ready_range wait() { return checked(deadline::never(), "poller::wait"); }
    ready_range wait(std::error_code& ec) { return run(deadline::never(), ec); }
    template <class Rep, class Period>
    ready_range wait_for(std::chrono::duration<Rep, Period> d) {
        return checked(deadline::after(d), "poller::wait_for");
    }
    template <class Rep, class Period>
    ready_range wait_for(std::chrono::duration<Rep, Period> d, std::error_code& ec) {
        return run(deadline::after(d), ec);
    }
    template <class Clock, class Dur>
    ready_range wait_until(std::chrono::time_point<Clock, Dur> tp) {
        return checked(deadline::until(tp), "poller::wait_until");
    }
    template <class Clock, class Dur>
    ready_range wait_until(std::chrono::time_point<Clock, Dur> tp, std::error_code& ec) {
        return run(deadline::until(tp), ec);
    }

    // The epoll descriptor, for nesting in another loop: readable when a
    // descriptor is ready, not for a channel's buffer, nor for a ring (its
    // doorbell rings only while wait() is parked on it).
    int native_handle() const noexcept { return epfd_.get(); }

private:
    struct slot {
        std::uint32_t generation = 0;
        bool live = false;
        bool in_epoll = false;
        bool armed = false;     // ring: counted as parked during this wait
        bool initial = false;   // report once when added (file follower)
        bool has_cb = false;    // its events go to cb, not to the range
        bool hup_on_err = false;  // a pipe or FIFO writer: EPOLLERR means the reader left
        int fd = -1;
        ready interest = ready::none;
        key_type key = 0;
        callback cb;
        void* src = nullptr;
        registration* owner = nullptr;  // the object that detaches this slot, if any
        // User-space readiness: before() runs before sleeping (non-none:
        // do not sleep); after() runs after, given what epoll said, and
        // returns what to report.
        ready (*before)(slot&) = nullptr;
        ready (*after)(slot&, ready) = nullptr;
        ready (*peek)(slot&) = nullptr;  // ring: its state, looked at while spinning
        clock::time_point check_at{};    // ring: next peer check
        std::uint32_t round = 0;         // wait in which `out` is valid
        std::uint32_t out = 0;           // its index in out_
    };

    explicit poller(std::error_code& ec) noexcept { init(ec); }
    void init(std::error_code& ec) noexcept {
        epfd_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (!epfd_) ec = detail::explain(detail::last_error(), "epoll_create1 failed");
    }

    template <class K>
    static key_type to_key(K k) noexcept {
        if constexpr (std::is_pointer_v<K>)
            return static_cast<key_type>(reinterpret_cast<std::uintptr_t>(k));
        else
            return static_cast<key_type>(k);
    }

    bool current(registration_id id) const noexcept {
        return id.index < slots_.size() && slots_[id.index].live && slots_[id.index].generation == id.generation;
    }
    bool reportable(const event& e) const noexcept { return current(e.id) && !slots_[e.id.index].has_cb; }

    // ---- sources ------------------------------------------------------------

    template <class Source>
    registration attach(Source& src, ready interest, key_type key, callback cb, std::error_code& ec) {
        slot s;
        s.interest = interest & (ready::readable | ready::writable);
        s.key = key;
        s.has_cb = static_cast<bool>(cb);
        s.cb = std::move(cb);
        s.src = &src;
        if (s.interest == ready::none || s.interest != interest) {
            ec = detail::explain(std::make_error_code(std::errc::invalid_argument),
                                 "poller interest 0x%x: ask for ready::readable, ready::writable or both",
                                 static_cast<unsigned>(interest));
            return {};
        }
        if constexpr (detail::is_channel<Source>) {
            if (!describe_channel(src, s, ec)) return {};
        } else if constexpr (detail::latched_signal<Source>) {
            s.fd = src.native_handle();
            s.before = &latched_before<Source>;
            s.after = &latched_after<Source>;
        } else if constexpr (detail::has_descriptor<Source>) {
            s.fd = src.native_handle();
        } else {
            static_assert(sizeof(Source) == 0,
                          "ipc::poller: add() takes a channel, a listener, ipc::shutdown_signal, ipc::timer or "
                          "anything with int native_handle()");
        }
        return insert(std::move(s), ec);
    }

    // What waiting on a channel means: its descriptor (and its buffer, for a
    // stream), or for a ring its policy's descriptor and the ring itself.
    template <class Ch>
    static bool describe_channel(Ch& ch, slot& s, std::error_code& ec) noexcept {
        using Tr = typename Ch::transport_type;
        if constexpr (transport::pollable<Tr>) {
            s.fd = ch.native_handle();
            s.hup_on_err = !Ch::can_recv;
            if constexpr (transport::stream_reader<Tr>) {
                if (!any(s.interest & ready::readable)) return true;
                s.before = &stream_before<Ch>;
                s.after = &stream_after<Ch>;
                if constexpr (requires(const Tr& t) { t.end_mode(); }) {
                    // A follower's inotify tells of changes only: what is there already is reported once.
                    using end_t = decltype(ch.transport().end_mode());
                    s.initial = ch.transport().end_mode() == end_t::follow;
                }
            }
            return true;
        } else if constexpr (transport::memory_transport<Tr> && sync::pollable<typename Ch::sync_type, Tr>) {
            return describe_ring(ch, s, ec);
        } else if constexpr (transport::memory_transport<Tr>) {
            static_assert(sizeof(Ch) == 0,
                          "ipc::poller: this shared-memory channel waits with a policy that has no descriptor "
                          "(spin, semaphores or none); make it with ipc::sync::futex (the default, which spins "
                          "first too) or ipc::sync::eventfd to poll it");
        } else {
            static_assert(sizeof(Ch) == 0,
                          "ipc::poller: this channel's transport has no descriptor to wait on (a System V "
                          "message queue cannot be polled): use a POSIX queue, ipc::posix_mq_channel");
        }
    }

    template <class Ch>
    static bool describe_ring(Ch& ch, slot& s, std::error_code& ec) noexcept {
        const bool one_way = s.interest == ready::readable ? Ch::can_recv : s.interest == ready::writable && Ch::can_send;
        if (!one_way) {
            ec = detail::explain(std::make_error_code(std::errc::invalid_argument),
                                 "poller: a shared-memory ring end waits in the one direction it moves "
                                 "messages (readable for a receiver, writable for a sender)");
            return false;
        }
        auto& policy = ch.sync_policy();
        // A policy that registers with the region (sync::futex's doorbell) says here, not in wait(), why it cannot.
        if constexpr (requires { { policy.prepare(ch.transport(), ring_dir(s), ec) } -> std::same_as<bool>; }) {
            if (!policy.prepare(ch.transport(), ring_dir(s), ec)) return false;
        }
        s.fd = policy.native_handle(ring_dir(s));
        if (s.fd < 0) {
            if constexpr (std::is_same_v<typename Ch::sync_type, sync::eventfd>)
                ec = detail::explain(make_error_code(errc::not_connected),
                                     "poller: this ring channel's sync::eventfd has no descriptors (make them with "
                                     "sync::eventfd::create() before fork(), or receive them from the peer)");
            else
                ec = detail::explain(detail::last_error(), "poller: this ring channel's sync policy has no descriptor to wait on");
            return false;
        }
        s.before = &ring_before<Ch>;
        s.peek = &ring_state<Ch>;
        s.after = &ring_after<Ch>;
        if constexpr (transport::watches_peers<typename Ch::transport_type>)
            s.check_at = clock::now() + std::chrono::ceil<clock::duration>(ch.transport().peer_check_interval());
        return true;
    }

    registration insert(slot&& s, std::error_code& ec) {
        if (s.fd < 0) {
            ec = detail::explain(std::make_error_code(std::errc::bad_file_descriptor),
                                 "poller::add: the source has no open descriptor (closed, or moved from)");
            return {};
        }
        std::uint32_t index;
        if (!free_.empty()) {
            index = free_.back();
        } else {
            if (slots_.size() >= std::numeric_limits<std::uint32_t>::max()) {
                ec = detail::explain(make_error_code(errc::limit_exceeded), "poller: too many registrations");
                return {};
            }
            index = static_cast<std::uint32_t>(slots_.size());
        }
        const std::uint32_t gen = index < slots_.size() ? slots_[index].generation : 0;
        s.generation = gen;
        s.live = true;
        epoll_event ev{};
        if (any(s.interest & ready::readable)) ev.events |= EPOLLIN | EPOLLRDHUP;
        if (any(s.interest & ready::writable)) ev.events |= EPOLLOUT;
        ev.data.u64 = (std::uint64_t{gen} << 32) | index;
        if (::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, s.fd, &ev) == 0) {
            s.in_epoll = true;
        } else if (errno == EPERM) {
            // A regular file or directory: always ready, as poll(2) reports it.
            s.before = &always_before;
            s.after = &always_after;
        } else {
            const int e = errno;
            if (e == EEXIST)
                ec = detail::explain(make_error_code(errc::already_exists),
                                     "poller: descriptor %d is registered already (add a source once, asking for both "
                                     "directions)", s.fd);
            else if (e == ENOSPC)
                ec = detail::explain(make_error_code(errc::limit_exceeded),
                                     "poller: descriptor %d refused: /proc/sys/fs/epoll/max_user_watches reached", s.fd);
            else
                ec = detail::explain(detail::errno_code(e), "poller: epoll_ctl(ADD) of descriptor %d failed", s.fd);
            return {};
        }
        if (index == slots_.size()) {
            slots_.push_back(std::move(s));
        } else {
            free_.pop_back();
            slots_[index] = std::move(s);
        }
        if (slots_[index].after) hooked_.push_back(index);
        if (slots_[index].peek) ++rings_;
        ++live_;
        return registration(this, {index, gen});
    }

    static direction ring_dir(const slot& s) noexcept {
        return any(s.interest & ready::readable) ? direction::recv : direction::send;
    }

    // Stream channels: whole frames may wait in the channel's buffer while
    // the descriptor is quiet (read with an earlier frame). A half frame,
    // which try_recv leaves as it is, wakes nobody: its rest comes by the
    // descriptor.
    template <class Ch>
    static ready stream_before(slot& s) noexcept {
        return s.initial || static_cast<Ch*>(s.src)->has_buffered_message() ? ready::readable : ready::none;
    }
    template <class Ch>
    static ready stream_after(slot& s, ready from_fd) noexcept {
        ready r = from_fd | stream_before<Ch>(s);
        if (any(r & ready::readable)) s.initial = false;
        return r;
    }

    // Shared-memory rings: parked (arm) while the poller sleeps, so a peer's
    // notify rings the policy's descriptor; then what the ring says.
    //
    // arm() declines when the ring is ready, but by the time the poller
    // looks again another end may have taken what made it ready (a second
    // MPMC receiver took the message): then neither parked nor ready, and
    // sleeping would wait through every later ring (a close included). So
    // it arms again; after a few tries (a ring taken from under it that
    // often) it reports the direction ready, which the drain rule allows:
    // the caller's try_ call says would_block and the next wait parks.
    template <class Ch>
    static ready ring_before(slot& s) noexcept {
        auto& ch = *static_cast<Ch*>(s.src);
        for (int tries = 0; tries < 4; ++tries) {
            s.armed = ch.sync_policy().arm(ch.transport(), ring_dir(s));
            if (s.armed) return ready::none;
            if (const ready r = ring_state<Ch>(s); any(r)) return r;
        }
        return ring_dir(s) == direction::recv ? ready::readable : ready::writable;
    }
    template <class Ch>
    static ready ring_after(slot& s, ready from_fd) noexcept {
        auto& ch = *static_cast<Ch*>(s.src);
        const direction d = ring_dir(s);
        if (s.armed) ch.sync_policy().disarm(ch.transport(), d);
        s.armed = false;
        ready r = ring_state<Ch>(s) | (from_fd & ready::error);
        if constexpr (transport::watches_peers<typename Ch::transport_type>) {
            const auto now = clock::now();
            if (r == ready::none && now >= s.check_at) {
                if (ch.transport().check_peers(d) == errc::peer_dead) r |= ready::peer_dead | ready::closed;
                s.check_at = now + std::chrono::ceil<clock::duration>(ch.transport().peer_check_interval());
            }
        }
        return r;
    }
    template <class Ch>
    static ready ring_state(slot& s) noexcept {
        auto& t = static_cast<Ch*>(s.src)->transport();
        const direction d = ring_dir(s);
        if (!t.ready(d)) return ready::none;
        ready r = d == direction::recv ? ready::readable : ready::writable;
        // Closed as the channel's own calls say it: every receiver left, or
        // every sender left and this receiver ends then (eos::never never does).
        if constexpr (requires { t.gone(d); }) {
            const bool closed = d == direction::send
                                    ? t.gone(direction::recv)
                                    : t.gone(direction::send) && t.end_of_stream() == eos::when_all_senders_left;
            if (closed) r |= ready::closed;
        }
        return r;
    }

    // shutdown_signal: once taken, the descriptor is quiet but the event stays.
    template <class S>
    static ready latched_before(slot& s) noexcept {
        return static_cast<S*>(s.src)->signal() != 0 ? ready::readable : ready::none;
    }
    template <class S>
    static ready latched_after(slot& s, ready from_fd) noexcept {
        return from_fd | latched_before<S>(s);
    }

    static ready always_before(slot& s) noexcept { return s.interest; }
    static ready always_after(slot& s, ready) noexcept { return s.interest; }

    // ---- the wait -------------------------------------------------------------

    ready_range checked(const deadline& dl, const char* what) {
        std::error_code ec;
        auto r = run(dl, ec);
        detail::throw_if(ec, what);
        return r;
    }

    static ready from_epoll(const slot& s, std::uint32_t e) noexcept {
        ready r = ready::none;
        if (e & EPOLLIN) r |= ready::readable;
        if (e & EPOLLOUT) r |= ready::writable;
        if (e & (EPOLLHUP | EPOLLRDHUP)) r |= ready::closed;
        if (e & EPOLLERR) r |= s.hup_on_err ? ready::closed | ready::error : ready::error;
        return r;
    }

    void put(std::uint32_t index, ready what) {
        slot& s = slots_[index];
        if (s.round == round_) {
            out_[s.out].what = what;
            return;
        }
        s.round = round_;
        s.out = static_cast<std::uint32_t>(nout_);
        out_[nout_++] = event{s.key, what, {index, s.generation}};
    }

    ready_range run(const deadline& dl, std::error_code& ec) {
        ec.clear();
        // Room for every registration, grown here (not in add(), which a
        // callback may call while the caller iterates the last range).
        if (out_.size() < slots_.size()) out_.resize(slots_.size());
        const std::size_t room = slots_.empty() ? 1 : slots_.size();
        if (evs_.size() < room) evs_.resize(room);
        if (rings_ > 0 && spin_time_.count() > 0 && !dl.is_immediate() && spin(dl) && ++fast_ % 64 != 0) {
            // A ring answered while spinning: reported without a system call
            // (no arming, no epoll); every 64th time the full round runs, so
            // busy rings do not starve the descriptors.
            new_round();
            for (std::uint32_t i : hooked_) {
                slot& s = slots_[i];
                if (!s.peek) continue;
                if (const ready r = s.peek(s); any(r)) put(i, r);
            }
            if (nout_ > 0) {
                dispatch();
                return ready_range(this, out_.data(), out_.data() + nout_);
            }
        }
        for (;;) {
            new_round();
            bool now = dl.is_immediate();
            clock::time_point wake{};  // an earlier wake-up for a ring's peer check
            for (std::uint32_t i : hooked_) {
                slot& s = slots_[i];
                if (any(s.before(s))) now = true;
                if (s.check_at != clock::time_point{} && (wake == clock::time_point{} || s.check_at < wake)) wake = s.check_at;
            }
            int timeout = -1;
            if (now) {
                timeout = 0;
            } else {
                clock::time_point until = dl.is_never() ? wake : dl.time_point();
                if (!dl.is_never() && wake != clock::time_point{} && wake < until) until = wake;
                if (until != clock::time_point{}) timeout = ceil_ms(until - clock::now());
            }
            const int n = ::epoll_wait(epfd_.get(), evs_.data(), static_cast<int>(evs_.size()), timeout);
            const int err = errno;
            for (int k = 0; k < n; ++k) {
                const auto index = static_cast<std::uint32_t>(evs_[k].data.u64 & 0xffffffffu);
                const registration_id id{index, static_cast<std::uint32_t>(evs_[k].data.u64 >> 32)};
                if (current(id)) put(index, from_epoll(slots_[index], evs_[k].events));
            }
            // Every armed ring is disarmed, whatever epoll said.
            for (std::uint32_t i : hooked_) {
                slot& s = slots_[i];
                const ready had = s.round == round_ ? out_[s.out].what : ready::none;
                const ready r = s.after(s, had);
                if (any(r) || s.round == round_) put(i, r);
            }
            if (n < 0 && err != EINTR) {
                ec = detail::explain(detail::errno_code(err), "epoll_wait on descriptor %d failed", epfd_.get());
                return {};
            }
            // Drop events that say nothing (a ring whose eventfd rang for
            // a message another receiver took).
            std::size_t kept = 0;
            for (std::size_t k = 0; k < nout_; ++k) {
                if (out_[k].what == ready::none) continue;
                out_[kept] = out_[k];
                slots_[out_[kept].id.index].out = static_cast<std::uint32_t>(kept);
                ++kept;
            }
            nout_ = kept;
            if (nout_ > 0 || dl.expired()) break;
            // EINTR, a peer check, or a wake-up that found nothing: wait for the rest of the time.
        }
        dispatch();
        return ready_range(this, out_.data(), out_.data() + nout_);
    }

    void new_round() noexcept {
        if (++round_ == 0) {
            for (slot& s : slots_) s.round = 0;
            round_ = 1;
        }
        nout_ = 0;
    }

    // The spin before parking (see spin_time()): true when a ring became
    // ready; false when something else may be (or after spin_time; the
    // clock is read every 64 rounds only).
    bool spin(const deadline& dl) noexcept {
        for (std::uint32_t i : hooked_) {  // a stream's buffer, a signal taken: no spinning
            slot& s = slots_[i];
            if (!s.peek && any(s.before(s))) return false;
        }
        clock::time_point until{};
        for (unsigned round = 1;; ++round) {
            for (std::uint32_t i : hooked_) {
                slot& s = slots_[i];
                if (s.peek && any(s.peek(s))) return true;
            }
            detail::cpu_relax();
            if (round % 64 != 0) continue;
            epoll_event ev;
            if (::epoll_wait(epfd_.get(), &ev, 1, 0) != 0) return false;  // descriptors are not starved
            const auto now = clock::now();
            if (round == 64) {
                until = now + std::chrono::ceil<clock::duration>(spin_time_);
                if (!dl.is_never() && dl.time_point() < until) until = dl.time_point();
            } else if (now >= until) {
                return false;
            }
        }
    }

    // Runs the callbacks; each may add or remove registrations (itself too).
    // The callback runs from a local: adding may move slots_ under it.
    void dispatch() {
        for (std::size_t k = 0; k < nout_; ++k) {
            const event e = out_[k];
            if (!current(e.id) || !slots_[e.id.index].has_cb) continue;
            struct restore {
                poller* p;
                registration_id id;
                callback cb;
                ~restore() {
                    if (p->current(id)) p->slots_[id.index].cb = std::move(cb);
                }
            } running{this, e.id, std::move(slots_[e.id.index].cb)};
            running.cb(e);
        }
    }

    static int ceil_ms(clock::duration d) noexcept {
        if (d <= clock::duration::zero()) return 0;
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
        return ms > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max() : static_cast<int>(ms);
    }

    detail::unique_fd epfd_;
    std::vector<slot> slots_;
    std::vector<std::uint32_t> free_;
    std::vector<std::uint32_t> hooked_;  // slots with before/after
    std::vector<epoll_event> evs_;
    std::vector<event> out_;
    std::size_t nout_ = 0;
    std::size_t live_ = 0;
    std::uint32_t round_ = 0;
    std::size_t rings_ = 0;  // registrations with a peek (rings): the spin is for them
    std::uint32_t fast_ = 0;  // waits a spinning ring answered (every 64th takes the full round)
    std::chrono::nanoseconds spin_time_ = std::chrono::microseconds(50);
};

}  // namespace ipc
