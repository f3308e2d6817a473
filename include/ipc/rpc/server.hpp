// ipc/rpc/server.hpp: the answering side of ipc's remote calls.
//
//   ipc::rpc::server srv;
//   srv.on("Coordinator.Example", [](const ExampleArgs& a) { return ExampleReply{a.X + 1}; });
//   auto l = ipc::transport::unix_stream_listener::listen(ipc::transport::unix_address::path(path));
//   ipc::shutdown_signal stop;
//   srv.serve(l, stop);                      // every client of l, until SIGTERM/SIGINT/SIGHUP
//
// Handlers are registered by name, each with its own request and reply
// types; a call whose types differ from the handler's is answered with
// rpc::errc::type_mismatch naming both, an unknown name with unknown_method.
// A handler's exception travels back: a std::system_error (ipc::error) as its
// code and message, anything else as rpc::errc::remote_error and what().
//
// serve() runs one ipc::poller loop over the listener and every connection:
// a client that disconnects mid-call, or sends garbage, loses its own
// connection and nobody else's, and one that stops reading its replies
// waits alone (the loop never blocks on a client). With options{.processes = N} it forks N - 1
// more processes accepting from the same listener, and with {.threads = N}
// it starts N - 1 more threads (in each process) doing the same, so a slow
// handler holds up only the connections of the process or thread running
// it. With threads, handlers run on several threads at once: they must be
// safe to call from several threads (a handler guards its own state).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <exception>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "../detail/sleep.hpp"
#include "../poller.hpp"
#include "../transport/signal.hpp"  // shutdown_signal, the usual stop for serve()
#include "link.hpp"
#include "protocol.hpp"

namespace ipc::rpc {

namespace detail {
// The request and reply types of a handler: R(const A&) as a lambda, function object or function.
template <class F>
struct handler_traits : handler_traits<decltype(&F::operator())> {};
template <class C, class R, class A>
struct handler_traits<R (C::*)(A) const> {
    using request = std::remove_cvref_t<A>;
    using reply = R;
};
template <class C, class R, class A>
struct handler_traits<R (C::*)(A)> : handler_traits<R (C::*)(A) const> {};
template <class R, class A>
struct handler_traits<R (*)(A)> {
    using request = std::remove_cvref_t<A>;
    using reply = R;
};

// serve() without a stop source.
struct no_stop {};

// The next frame of a link: where the link read it if it can say (a stream
// socket's buffer, valid until the next receive), else copied into `in`.
template <class Link>
status recv_frame(Link& link, frame_buffer& in, std::span<const std::byte>& frame, const deadline& dl, std::error_code& ec) {
    if constexpr (requires { link.recv_view(frame, dl, ec); }) {
        return link.recv_view(frame, dl, ec);
    } else {
        const status s = link.recv(in, dl, ec);
        frame = in.bytes;
        return s;
    }
}

// Receives or sends within a time: a split link (rings, pipes) through its
// channel's _for call, whose clock starts only if it has to wait (a ring
// whose peer keeps up then reads no clock), others with a deadline.
template <class Link>
status recv_within(Link& link, frame_buffer& in, std::span<const std::byte>& frame, std::chrono::milliseconds d, std::error_code& ec) {
    if constexpr (requires { link.receiver().recv_for(in, d, ec); }) {
        const status s = link.receiver().recv_for(in, d, ec);
        frame = in.bytes;
        return s;
    } else {
        return recv_frame(link, in, frame, deadline::after(d), ec);
    }
}
template <class Link>
status send_within(Link& link, const frame_buffer& out, std::chrono::milliseconds d, std::error_code& ec) {
    if constexpr (requires { link.sender().send_for(out, d, ec); }) return link.sender().send_for(out, d, ec);
    else return link.send(out, deadline::after(d), ec);
}

// Is a descriptor readable right now (a stop source polled between waits)?
inline bool readable_now(int fd) noexcept {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}
}  // namespace detail

// How server::serve runs (outside the class: clang wants its initializers
// complete before a default argument uses them).
struct serve_options {
    unsigned processes = 1;                                             // serving processes (N - 1 forked)
    unsigned threads = 1;                                               // serving threads in each process (N - 1 started)
    std::chrono::milliseconds reply_timeout = std::chrono::seconds(5);  // seqpacket: a reply not taken by then drops the client
};

class server {
public:
    using options = serve_options;

    // Registers `handler` (Reply(const Request&)) under `name`, replacing one of that name.
    template <class F>
    server& on(std::string_view name, F handler) {
        using traits = detail::handler_traits<std::decay_t<F>>;
        using A = typename traits::request;
        using R = typename traits::reply;
        static_assert(!std::is_void_v<R>, "ipc::rpc::server::on: a handler returns its reply");
        static_assert(decodable<A> && std::is_default_constructible_v<A>, "ipc::rpc: the request type needs an ipc::codec and a default constructor");
        static_assert(encodable<R>, "ipc::rpc: the reply type needs an ipc::codec");
        if (name.empty() || name.size() > max_method_length)
            ipc::detail::throw_error(make_error_code(errc::method_name_too_long),
                                     ("rpc method name must be 1.." + std::to_string(max_method_length) + " bytes, got " +
                                      std::to_string(name.size()))
                                         .c_str());
        entry e;
        e.request_tag = ring::type_tag<A>;
        e.reply_tag = ring::type_tag<R>;
        e.request_name = ring::type_name<A>::value;
        e.reply_name = ring::type_name<R>::value;
        e.run = [f = std::move(handler)](std::span<const std::byte> in, detail::frame_buffer& out, header h, std::string_view method) {
            A a{};
            if (!codec<A>::decode(in, a)) {
                answer_error(out, h.id, make_error_code(errc::bad_frame), "rpc method '%.*s': %zu request bytes are not a valid %.*s",
                             static_cast<int>(method.size()), method.data(), in.size(),
                             static_cast<int>(ring::type_name<A>::value.size()), ring::type_name<A>::value.data());
                return;
            }
            const R r = f(std::as_const(a));
            h.kind = frame_kind::reply;
            std::error_code ec;
            if (!detail::encode(out, h, {}, r, ec)) answer_error(out, h.id, ec, "rpc method '%.*s': reply not sent: %s",
                                                                  static_cast<int>(method.size()), method.data(),
                                                                  std::string(ipc::last_error_detail(ec)).c_str());
        };
        methods_.insert_or_assign(std::string(name), std::move(e));
        return *this;
    }

    // ---- serving ---------------------------------------------------------------

    // Every client of `l` (a Unix stream or TCP listener) until `stop` (a
    // shutdown_signal, a pipe, an eventfd: anything the poller takes) is readable.
    // The listener may be a temporary: srv.serve(ipc::rpc::listen_unix(path), stop).
    template <class Listener, class Stop>
        requires requires(const Stop& s) { s.native_handle(); }
    void serve(Listener&& l, Stop& stop, options o = {}) {
        serve_pool(l, &stop, o);
    }
    // Until the process ends.
    template <class Listener>
    void serve(Listener&& l, options o = {}) {
        serve_pool(l, static_cast<detail::no_stop*>(nullptr), o);
    }

    // One client over one link (a shared-memory or pipe link, or an accepted
    // socket's), until it closes (closed, peer_dead) or `stop` is readable (ok).
    template <class Link, class Stop>
    status serve_link(Link& link, Stop& stop) {
        return link_loop(link, &stop);
    }
    template <class Link>
    status serve_link(Link& link) {
        return link_loop(link, static_cast<detail::no_stop*>(nullptr));
    }

    // What the server answers to one frame, into `out`; false: close the
    // connection after sending it. `greeted` is the connection's handshake state.
    bool answer(std::span<const std::byte> in, detail::frame_buffer& out, bool& greeted) const {
        frame_view v;
        std::error_code ec;
        if (!decode(in, v, ec)) {
            answer_error(out, 0, ec, "%s", std::string(ipc::last_error_detail(ec)).c_str());
            return false;
        }
        const header& h = v.head;
        if (!greeted) {
            if (h.kind != frame_kind::hello) {
                answer_error(out, 0, make_error_code(errc::bad_frame), "rpc connection must start with a hello frame, got kind %u",
                             static_cast<unsigned>(h.kind));
                return false;
            }
            if (h.version != protocol_version) {
                answer_error(out, 0, make_error_code(errc::version_mismatch),
                             "this server speaks rpc protocol version %u; the client speaks version %u", static_cast<unsigned>(protocol_version),
                             static_cast<unsigned>(h.version));
                return false;
            }
            header w;
            w.kind = frame_kind::welcome;
            (void)detail::encode_bytes(out, w, {}, {}, ec);
            greeted = true;
            return true;
        }
        if (h.kind != frame_kind::request) {
            answer_error(out, 0, make_error_code(errc::bad_frame), "rpc server expects requests, got frame kind %u", static_cast<unsigned>(h.kind));
            return false;
        }
        const auto it = methods_.find(v.method);
        if (it == methods_.end()) {
            answer_error(out, h.id, make_error_code(errc::unknown_method), "no rpc method '%.*s' (this server has %zu)",
                         static_cast<int>(v.method.size()), v.method.data(), methods_.size());
            return true;
        }
        const entry& e = it->second;
        if (h.request_tag != e.request_tag || h.reply_tag != e.reply_tag) {
            const bool req = h.request_tag != e.request_tag;
            const std::string_view want = req ? e.request_name : e.reply_name;
            answer_error(out, h.id, make_error_code(errc::type_mismatch),
                         "rpc method '%.*s' %s %.*s; the call's %s type has tag %016llx, not %016llx", static_cast<int>(v.method.size()),
                         v.method.data(), req ? "takes" : "replies", static_cast<int>(want.size()), want.data(), req ? "request" : "reply",
                         static_cast<unsigned long long>(req ? h.request_tag : h.reply_tag),
                         static_cast<unsigned long long>(req ? e.request_tag : e.reply_tag));
            return true;
        }
        try {
            e.run(v.payload, out, h, v.method);
        } catch (const std::system_error& x) {
            answer_error(out, h.id, x.code(), "%s", x.what());
        } catch (const std::exception& x) {
            answer_error(out, h.id, make_error_code(errc::remote_error), "%s", x.what());
        } catch (...) {
            answer_error(out, h.id, make_error_code(errc::remote_error), "rpc method '%.*s' threw something that is not a std::exception",
                         static_cast<int>(v.method.size()), v.method.data());
        }
        return true;
    }

    std::size_t method_count() const noexcept { return methods_.size(); }

private:
    struct entry {
        std::uint64_t request_tag = 0, reply_tag = 0;
        std::string_view request_name, reply_name;  // static strings (ring::type_name)
        std::function<void(std::span<const std::byte>, detail::frame_buffer&, header, std::string_view)> run;
    };

#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    static void answer_error(detail::frame_buffer& out, std::uint64_t id, std::error_code code, const char* fmt, ...) {
        char text[max_error_message + 1];
        va_list ap;
        va_start(ap, fmt);
        const int n = std::vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        const std::size_t len = n < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(n), max_error_message);
        detail::encode_error(out, id, code, std::string_view(text, len));
    }

    template <class Link, class Stop>
    status link_loop(Link& link, Stop* stop) {
        detail::frame_buffer in, out;
        bool greeted = false;
        for (;;) {
            if constexpr (!std::is_same_v<Stop, detail::no_stop>)
                if (detail::readable_now(stop->native_handle())) return status::ok;
            std::error_code ec;
            // Woken every 50 ms to look at `stop` (a ring's futex cannot wait on a descriptor too).
            // Without one, a socket waits in read() itself: one system call a call, not poll then read
            // (a ring keeps its timed wait: its peer's death is noticed between waits).
            constexpr bool block = std::is_same_v<Stop, detail::no_stop> && requires { link.socket(); };
            std::span<const std::byte> frame;
            const status s = block ? detail::recv_frame(link, in, frame, deadline::never(), ec)
                                   : detail::recv_within(link, in, frame, std::chrono::milliseconds(50), ec);
            if (s == status::timed_out) continue;
            if (s == status::failed) {
                // A frame the framing refuses (over max_frame_size): say so, then hang up.
                answer_error(out, 0, ec, "%s", std::string(ipc::last_error_detail(ec)).c_str());
                (void)detail::send_within(link, out, std::chrono::seconds(1), ec);
                return s;
            }
            if (s != status::ok) return s;
            const bool keep = answer(frame, out, greeted);
            if (detail::send_within(link, out, std::chrono::seconds(5), ec) != status::ok || !keep) return status::closed;
        }
    }

    template <class Listener, class Stop>
    void serve_pool(Listener& l, Stop* stop, const options& o) {
        if (o.processes <= 1) return serve_threads(l, stop, -1, o);
        // The workers watch a pipe instead of `stop` (a shutdown_signal's
        // signal must reach this process, not be taken by a child); it
        // reads end of file when this process closes it or dies.
        auto quit = transport::make_pipe();
        std::vector<pid_t> kids;
        for (unsigned i = 1; i < o.processes; ++i) {
            const pid_t pid = ::fork();
            if (pid < 0) break;
            if (pid == 0) {
                quit.writer.close();
                int code = 0;
                try {
                    serve_threads(l, static_cast<detail::no_stop*>(nullptr), quit.reader.native_handle(), o);
                } catch (...) {
                    code = 1;
                }
                ::_exit(code);
            }
            kids.push_back(pid);
        }
        quit.reader.close();
        struct reaper {
            std::vector<pid_t>& kids;
            transport::pipe_writer& w;
            ~reaper() {
                w.close();
                const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
                for (pid_t k : kids) {
                    while (::waitpid(k, nullptr, WNOHANG) == 0) {
                        if (std::chrono::steady_clock::now() >= until) {
                            ::kill(k, SIGKILL);
                            ::waitpid(k, nullptr, 0);
                            break;
                        }
                        ::usleep(1000);
                    }
                }
            }
        } r{kids, quit.writer};
        serve_threads(l, stop, -1, o);
    }

    // This thread's loop and o.threads - 1 more, each with its own poller
    // and connections, accepting from the same listener: a slow handler holds
    // up only the connections of the thread running it. The others watch a
    // pipe this thread closes when its loop ends (`stop`, `quit_fd`, or an
    // exception); a loop that failed has its exception thrown here after all joined.
    template <class Listener, class Stop>
    void serve_threads(Listener& l, Stop* stop, int quit_fd, const options& o) {
        if (o.threads <= 1) return serve_loop(l, stop, quit_fd, o);
        auto quit = transport::make_pipe();
        std::vector<std::exception_ptr> failures(o.threads - 1);
        {
            std::vector<std::thread> workers;
            struct joiner {
                std::vector<std::thread>& workers;
                transport::pipe_writer& w;
                ~joiner() {
                    w.close();
                    for (std::thread& t : workers) t.join();
                }
            } j{workers, quit.writer};
            for (std::exception_ptr& failure : failures)
                workers.emplace_back([this, &l, &o, &failure, fd = quit.reader.native_handle()] {
                    try {
                        serve_loop(l, static_cast<detail::no_stop*>(nullptr), fd, o);
                    } catch (...) {
                        failure = std::current_exception();
                    }
                });
            serve_loop(l, stop, quit_fd, o);
        }
        for (const std::exception_ptr& failure : failures)
            if (failure) std::rethrow_exception(failure);
    }

    template <class Listener, class Stop>
    void serve_loop(Listener& l, Stop* stop, int quit_fd, const options& o) {
        using socket = std::remove_cvref_t<decltype(l.accept_until(deadline::immediate(), std::declval<std::error_code&>()))>;
        struct conn {
            link_for<socket> link;
            bool greeted = false;
            poller::registration reg;  // after link: detached before the socket closes
        };
        struct quit_source {
            int fd;
            int native_handle() const noexcept { return fd; }
        } quit{quit_fd};
        enum : std::uint64_t { key_listener = 1, key_stop = 2 };

        poller p;
        std::list<conn> conns;  // stable addresses: each one's key is its pointer
        detail::frame_buffer in, out;
        auto rl = p.add(l, ready::readable, std::uint64_t{key_listener});
        poller::registration rs;
        if constexpr (!std::is_same_v<Stop, detail::no_stop>) rs = p.add(*stop, ready::readable, std::uint64_t{key_stop});
        if (quit_fd >= 0) rs = p.add(quit, ready::readable, std::uint64_t{key_stop});

        for (;;) {
            for (const auto& ev : p.wait()) {
                if (ev.key == key_stop) return;
                if (ev.key == key_listener) {
                    for (;;) {
                        std::error_code ec;
                        socket s = l.accept_until(deadline::immediate(), ec);
                        if (ec) {
                            // would_block: another process took it. Anything else (EMFILE, ENOBUFS)
                            // leaves the listener readable: pause, or the loop would spin.
                            if (ec != ipc::errc::would_block) ipc::detail::sleep_for(std::chrono::milliseconds(1));
                            break;
                        }
                        conn& c = conns.emplace_back(conn{link_for<socket>(std::move(s)), false, {}});
                        c.reg = p.add(c.link, ready::readable, &c, ec);
                        if (ec) conns.pop_back();
                    }
                    continue;
                }
                conn* c = ev.pointer<conn>();
                if (!serve_event(p, *c, in, out, o)) {
                    c->reg.reset();
                    conns.remove_if([c](const conn& x) { return &x == c; });
                }
            }
        }
    }

    // One event on a connection; false: drop it. A reply the client is slow
    // to take is kept, and that client is not read from until it took it:
    // the loop never waits on one client, and holds at most one reply for it.
    template <class Conn>
    bool serve_event(poller& p, Conn& c, detail::frame_buffer& in, detail::frame_buffer& out, const options& o) const {
        if constexpr (requires { c.link.has_queued(); }) {
            std::error_code ec;
            const bool was_queued = c.link.has_queued();
            if (was_queued) {
                const status s = c.link.flush(ec);
                if (s == status::would_block) return true;
                if (s != status::ok) return false;
            }
            if (!drain(c, in, out, o)) return false;
            if (was_queued != c.link.has_queued()) {  // switch between waiting to read and waiting to write
                c.reg.reset();
                c.reg = p.add(c.link, c.link.has_queued() ? ready::writable : ready::readable, &c, ec);
                if (ec) return false;
            }
            return true;
        } else {
            return drain(c, in, out, o);
        }
    }

    // Answers the frames a connection has ready; false: drop it. It reads
    // the socket once: frames already buffered are answered too, and bytes
    // still in the socket make the (level-triggered) poller report it again,
    // which costs nothing, where reading until EAGAIN costs a system call per call.
    template <class Conn>
    bool drain(Conn& c, detail::frame_buffer& in, detail::frame_buffer& out, const options& o) const {
        for (;;) {
            std::error_code ec;
            std::span<const std::byte> frame;
            const status s = detail::recv_frame(c.link, in, frame, deadline::immediate(), ec);
            if (s == status::would_block) return true;
            if (s == status::failed) {
                answer_error(out, 0, ec, "%s", std::string(ipc::last_error_detail(ec)).c_str());
                (void)c.link.send(out, deadline::immediate(), ec);
                return false;
            }
            if (s != status::ok) return false;
            const bool keep = answer(frame, out, c.greeted);
            if constexpr (requires { c.link.has_queued(); }) {
                if (c.link.send_or_queue(out, ec) != status::ok || !keep) return false;
                if (c.link.has_queued()) return true;  // read no more until the client takes its replies
            } else {
                if (c.link.send(out, deadline::after(o.reply_timeout), ec) != status::ok || !keep) return false;
            }
            if (!c.link.has_buffered_frame()) return true;
        }
    }

    std::map<std::string, entry, std::less<>> methods_;
};

// Listeners for serve(), made in one call (created 0600; a stale socket file is replaced).
inline transport::unix_stream_listener listen_unix(std::string_view path) {
    return transport::unix_stream_listener::listen(transport::unix_address::path(path));
}
// host is numeric ("127.0.0.1", "::1", "0.0.0.0"); port 0 lets the kernel pick (local_port()).
inline transport::tcp_listener listen_tcp(std::string_view host, std::uint16_t port = 0) {
    const bool v6 = host.find(':') != std::string_view::npos;
    return transport::tcp_listener::listen(v6 ? transport::inet_address::v6(host, port) : transport::inet_address::v4(host, port));
}

}  // namespace ipc::rpc
