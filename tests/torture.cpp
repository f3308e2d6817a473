// ipc_torture: many producer and consumer processes on one multi-party
// transport, optionally with a supervisor that SIGKILLs one of them every few
// milliseconds and starts it again. Every message carries its producer, a
// per-producer sequence number and a checksum; consumers count what they got
// in shared memory right after each receive. At the end every committed
// message must have arrived exactly once, nothing twice, nothing out of order
// (per producer, as each consumer saw it), nothing corrupt, and nothing hung.
//
//   ipc_torture --transport all --seconds 2
//   ipc_torture --transport posix_mq --producers 4 --consumers 3 --messages 100000
//   ipc_torture --transport all --crash --kill-every-ms 3 --seconds 60 --seed 7
//
// What SIGKILL at any instruction allows, and how it is accounted for:
//  - a producer killed after writing its intent (the seq it is sending) and
//    before committing it may or may not have sent it: that seq is uncertain
//    (delivered at most once) and the restarted producer goes on with the next;
//  - a consumer killed with a message in hand that it had not yet counted:
//    that message is uncertain;
//  - a consumer killed while inside a receive call may have been killed just
//    after the kernel handed it a message and before it could note which one:
//    one message, unknown which, may be gone with it ("blind" kills). Missing
//    messages up to that number are reported as such, never as delivered, and
//    anything beyond it is a loss. A file log loses nothing this way: reading
//    does not consume, and a restarted reader resumes at its saved position.
//  - transports that redeliver (an mpmc ring with delivery::at_least_once)
//    lose nothing to a killed consumer: it reads in place, counts, and only
//    then releases, so a kill anywhere either left the message counted and
//    released or hands it to another consumer, flagged as redelivered. Such
//    a message may arrive twice (killed after counting, before releasing)
//    and after later ones of its producer: a delivery beyond the first is a
//    duplicate only if no redelivered copy of that message accounts for it,
//    and only messages not redelivered are checked for order.
//  - a broadcast ring's subscriber (shm_broadcast, slow_policy::block) reads
//    every message published while it is subscribed; one killed and started
//    again subscribes anew at the newest message, so what was published while
//    it was away is not owed to it: a restarted subscriber marks the messages
//    between the last it counted and the first it then reads (or, with none
//    read yet, the producer's progress when it subscribed and the message it
//    was sending then, which the join may have come after) as "not owed", and
//    anything else it lacks is a loss. Its order check accounts for the
//    numbers between its last message and this one: each must be a miss the
//    ring told it of (under block none, and what one skipped is still a loss)
//    or a send never made (uncertain); a message for which they do not is one
//    order violation. The ring has one publisher, so the case runs one
//    producer whatever --producers says. shm_broadcast_bytes is the
//    same over the variable-size ring (records of every length up to its
//    max_payload, each whole in the ring, with its checksum).
//
// Adding a transport is one adapter struct (see the "adapters" section): how
// the supervisor sets it up, how a producer and a consumer open it, and what
// the largest payload is.
#define DOCTEST_CONFIG_IMPLEMENT  // support.hpp's helpers check with REQUIRE outside any test case: see main()
#include "support.hpp"

#include <ipc/channel.hpp>
#include <ipc/ring/broadcast.hpp>
#include <ipc/ring/broadcast_bytes.hpp>

#include <sys/mman.h>
#include <sys/prctl.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstring>
#include <functional>
#include <new>
#include <random>
#include <string_view>
#include <vector>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// ---- options ----------------------------------------------------------------

struct options {
    std::string transport = "all";
    unsigned producers = 3;
    unsigned consumers = 2;
    std::uint64_t messages = 0;  // per producer; 0 = run for `seconds`
    double seconds = 2;
    bool crash = false;
    bool kill_all = false;  // also kill producers of transports that cannot survive it
    unsigned kill_every_ms = 5;
    std::uint64_t seed = 1;
};

constexpr unsigned max_producers = 32;
constexpr unsigned max_consumers = 32;
// In --seconds mode a producer stops after this many messages (the size of its counters).
constexpr std::uint64_t seconds_mode_cap = std::uint64_t{1} << 21;

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "ipc_torture: %s\n"
                 "usage: ipc_torture [--transport NAME|all] [--producers N] [--consumers M]\n"
                 "                   [--messages K | --seconds S] [--crash [--kill-all]] [--kill-every-ms X] [--seed N]\n"
                 "transports: posix_mq sysv_mq file unix_dgram pipe fifo shm_mpmc shm_mpmc_alo shm_broadcast shm_broadcast_bytes\n",
                 why);
    std::exit(2);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage("an option lacks its value");
            return argv[++i];
        };
        auto number = [&]() { return std::strtoull(value(), nullptr, 10); };
        if (a == "--transport") o.transport = value();
        else if (a == "--producers") o.producers = static_cast<unsigned>(number());
        else if (a == "--consumers") o.consumers = static_cast<unsigned>(number());
        else if (a == "--messages") o.messages = number();
        else if (a == "--seconds") o.seconds = std::strtod(value(), nullptr);
        else if (a == "--crash") o.crash = true;
        else if (a == "--kill-all") o.kill_all = true;
        else if (a == "--kill-every-ms") o.kill_every_ms = static_cast<unsigned>(number());
        else if (a == "--seed") o.seed = number();
        else usage(("unknown option " + std::string(a)).c_str());
    }
    if (o.producers < 1 || o.producers > max_producers) usage("--producers must be 1..32");
    if (o.consumers < 1 || o.consumers > max_consumers) usage("--consumers must be 1..32");
    if (o.messages == 0 && !(o.seconds > 0)) usage("--seconds must be > 0");
    if (o.kill_every_ms < 1) usage("--kill-every-ms must be >= 1");
    return o;
}

// ---- the message ------------------------------------------------------------

// [header][payload]; the checksum covers the header's other fields and the payload.
struct wire_header {
    std::uint32_t producer;
    std::uint32_t length;  // payload bytes
    std::uint64_t seq;
    std::uint64_t checksum;
};
constexpr std::size_t header_size = sizeof(wire_header);

std::uint64_t fnv1a(std::uint64_t h, const void* p, std::size_t n) {
    auto b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

std::uint64_t checksum(const wire_header& h, const char* payload) {
    std::uint64_t s = fnv1a(0xcbf29ce484222325ULL, &h.producer, sizeof h.producer);
    s = fnv1a(s, &h.length, sizeof h.length);
    s = fnv1a(s, &h.seq, sizeof h.seq);
    return fnv1a(s, payload, h.length);
}

// The payload of (producer, seq): its length and bytes follow from the seed,
// so the sizes vary over the transport's whole range.
void encode(std::string& out, std::uint64_t seed, unsigned producer, std::uint64_t seq, std::size_t max_payload) {
    std::mt19937_64 rng(seed ^ (std::uint64_t{producer} << 48) ^ (seq * 0x9e3779b97f4a7c15ULL));
    wire_header h{producer, static_cast<std::uint32_t>(rng() % (max_payload + 1)), seq, 0};
    out.resize(header_size + h.length);
    for (std::size_t i = 0; i < h.length; ++i) out[header_size + i] = static_cast<char>(rng());
    h.checksum = checksum(h, out.data() + header_size);
    std::memcpy(out.data(), &h, header_size);
}

// The header of an intact message, or nothing (too short, wrong length, bad checksum).
std::optional<wire_header> decode(std::string_view in) {
    wire_header h{};
    if (in.size() < header_size) return std::nullopt;
    std::memcpy(&h, in.data(), header_size);
    if (in.size() - header_size < h.length || checksum(h, in.data() + header_size) != h.checksum) return std::nullopt;
    return h;
}

// ---- shared memory ------------------------------------------------------------

// Each producer's progress. attempt == next means "killed while sending next".
struct alignas(64) producer_slot {
    std::atomic<std::uint64_t> next{0};             // the seq to send next; all below are settled
    std::atomic<std::uint64_t> attempt{~0ULL};      // the seq being sent now
    std::atomic<std::uint64_t> uncertain_sends{0};  // seqs skipped after a kill mid-send
};

enum consumer_phase : int { idle = 0, receiving = 1, in_hand = 2 };

struct alignas(64) consumer_slot {
    std::atomic<int> phase{idle};
    std::atomic<std::uint64_t> hand{0};      // (producer << 40 | seq) of the message in hand
    std::atomic<std::uint64_t> position{0};  // resumable transports: where a restarted reader starts
    std::atomic<std::uint64_t> last_seen[max_producers]{};  // seq + 1 of the last one from each producer
};

constexpr std::uint64_t hand_of(std::uint64_t p, std::uint64_t seq) { return p << 40 | seq; }

struct shared_state {
    std::atomic<int> stop_producers{0};
    std::atomic<int> drain{0};  // consumers: stop once nothing arrives any more
    std::atomic<std::uint64_t> corrupt{0};
    std::atomic<std::uint64_t> order_violations{0};
    std::atomic<std::uint64_t> phantoms{0};  // a valid message with a seq its producer never reached
    producer_slot producer[max_producers];
    consumer_slot consumer[max_consumers];
};

// MAP_SHARED anonymous memory, inherited by every child the supervisor forks:
// the state, one delivery counter per (layer, producer, seq), one "uncertain"
// flag per (producer, seq) and one count of redelivered receipts per
// (producer, seq). A broadcast transport (every consumer reads everything)
// has a counter layer per consumer, and a "not owed" flag layer per consumer
// (messages published while a rejoining subscriber was away).
class shared_log {
public:
    shared_log(unsigned producers, unsigned layers, std::uint64_t cap) : producers_(producers), layers_(layers), cap_(cap) {
        bytes_ = sizeof(shared_state) + (2 * std::size_t{layers} + 2) * producers * cap;
        void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) throw std::system_error(errno, std::system_category(), "mmap");
        base_ = static_cast<char*>(p);
        state_ = new (base_) shared_state;
        static_assert(std::atomic<std::uint8_t>::is_always_lock_free);
        counters_ = reinterpret_cast<std::atomic<std::uint8_t>*>(base_ + sizeof(shared_state));  // zero pages: all 0
    }
    ~shared_log() { ::munmap(base_, bytes_); }
    shared_log(const shared_log&) = delete;
    shared_log& operator=(const shared_log&) = delete;

    shared_state& state() const noexcept { return *state_; }
    std::uint64_t cap() const noexcept { return cap_; }
    std::atomic<std::uint8_t>& delivered(unsigned layer, std::uint64_t p, std::uint64_t seq) const noexcept {
        return counters_[(layer * producers_ + p) * cap_ + seq];
    }
    std::atomic<std::uint8_t>& uncertain(std::uint64_t p, std::uint64_t seq) const noexcept {
        return counters_[(std::size_t{layers_} * producers_ + p) * cap_ + seq];
    }
    std::atomic<std::uint8_t>& redelivered(std::uint64_t p, std::uint64_t seq) const noexcept {
        return counters_[((std::size_t{layers_} + 1) * producers_ + p) * cap_ + seq];
    }
    std::atomic<std::uint8_t>& not_owed(unsigned layer, std::uint64_t p, std::uint64_t seq) const noexcept {
        return counters_[((std::size_t{layers_} + 2 + layer) * producers_ + p) * cap_ + seq];
    }
    // Marks [from, to) of producer p not owed to layer's consumer.
    void excuse(unsigned layer, std::uint64_t p, std::uint64_t from, std::uint64_t to) const noexcept {
        for (std::uint64_t s = from; s < to && s < cap_; ++s) not_owed(layer, p, s).store(1, std::memory_order_relaxed);
    }

private:
    unsigned producers_, layers_;
    std::uint64_t cap_;
    std::size_t bytes_ = 0;
    char* base_ = nullptr;
    shared_state* state_ = nullptr;
    std::atomic<std::uint8_t>* counters_ = nullptr;
};

// ---- adapters ---------------------------------------------------------------
//
// An adapter says, for one transport:
//   name, broadcast (every consumer reads every message), resumable (a
//   restarted consumer continues from consumer_slot::position),
//   producer_killable, consumer_killable (false: a process SIGKILLed inside a
//   send or receive can wreck the transport for everyone, so crash mode
//   spares that side unless --kill-all says otherwise);
//   its constructor: the supervisor's setup, before any child is forked; its
//   destructor removes whatever it created;
//   max_payload(): the largest payload (after wire_header) it carries;
//   producer(): the sending channel, made in a producer process;
//   consumer(position): the receiving channel, made in a consumer process;
//   send(tx, bytes, timeout), recv(rx, bytes, timeout) -> ipc::status, and
//   for resumable transports position(rx); transports that redeliver say
//   redelivers = true and give peek(rx, bytes, timeout, status, redelivered),
//   returning a guard that holds the message until released, and
//   redelivered_by_ring(): what the transport itself counted.
// Channels of std::string cover most transports; see pipe_case for a fixed record.

template <class Tx, class Rx>
struct string_io {
    static ipc::status send(Tx& tx, const std::string& m, std::chrono::milliseconds t) { return tx.send_for(m, t); }
    static ipc::status recv(Rx& rx, std::string& m, std::chrono::milliseconds t) { return rx.recv_for(m, t); }
};

// A unique name for this run: ipc-test-<process group>-<pid>-<n>-<tag>.
std::string object_name(const char* tag) { return ipc_test::unique_name(tag); }

struct posix_mq_case : string_io<ipc::posix_mq_channel<std::string>, ipc::posix_mq_channel<std::string>> {
    static constexpr const char* name = "posix_mq";
    static constexpr bool broadcast = false, resumable = false, producer_killable = true, consumer_killable = true;
    static constexpr std::size_t message_size = 1024;
    std::string queue = "/" + object_name("torture-mq");
    ipc::transport::posix_mq owner = ipc::transport::posix_mq::create(queue, {.max_messages = 10, .message_size = message_size});

    posix_mq_case(const options&) {}
    ~posix_mq_case() { ipc::transport::posix_mq::remove(queue); }
    static std::size_t max_payload() { return message_size - header_size; }
    auto producer() { return ipc::posix_mq_channel<std::string>::open(queue, ipc::transport::mq_access::send); }
    auto consumer(std::uint64_t) { return ipc::posix_mq_channel<std::string>::open(queue, ipc::transport::mq_access::recv); }
};

struct sysv_mq_case : string_io<ipc::sysv_mq_channel<std::string>, ipc::sysv_mq_channel<std::string>> {
    static constexpr const char* name = "sysv_mq";
    static constexpr bool broadcast = false, resumable = false, producer_killable = true, consumer_killable = true;
    static constexpr ipc::transport::sysv_mq_options opts{.max_message = 2048, .queue_bytes = 16384};
    ipc::transport::sysv_mq owner = ipc::transport::sysv_mq::create(ipc::transport::sysv_key::private_key(), opts);

    sysv_mq_case(const options&) {}
    ~sysv_mq_case() { (void)owner.remove(); }
    static std::size_t max_payload() { return opts.max_message - header_size; }
    auto producer() { return ipc::sysv_mq_channel<std::string>(ipc::transport::sysv_mq::attach(owner.id(), opts)); }
    auto consumer(std::uint64_t) { return producer(); }
};

// Writers append under the file lock; every consumer follows the whole log.
struct file_case : string_io<ipc::file_sender<std::string>, ipc::file_receiver<std::string>> {
    static constexpr const char* name = "file";
    static constexpr bool broadcast = true, resumable = true;
    // A writer killed inside writev(2) leaves the start of a frame; the next
    // writer finishes it from the journal (see file.hpp), so killing is fair.
    static constexpr bool producer_killable = true, consumer_killable = true;
    ipc_test::temp_dir dir;
    std::string path = dir / "log";

    file_case(const options&) { ipc::transport::file_writer::create(path); }
    static std::size_t max_payload() { return 6000; }  // frames cross page boundaries
    auto producer() { return ipc::file_sender<std::string>::open(path); }
    auto consumer(std::uint64_t position) {
        return ipc::file_receiver<std::string>::open(path, ipc::transport::file_end::follow, position);
    }
    static std::uint64_t position(const ipc::file_receiver<std::string>& rx) { return ipc::file_position(rx); }
};

// Several senders, each its own socket connected to one bound socket that the
// supervisor owns and every consumer process receives from.
struct unix_dgram_case
    : string_io<ipc::channel<std::string, ipc::transport::unix_dgram>, ipc::channel<std::string, ipc::transport::unix_dgram>> {
    using channel_type = ipc::channel<std::string, ipc::transport::unix_dgram>;
    static constexpr const char* name = "unix_dgram";
    static constexpr bool broadcast = false, resumable = false, producer_killable = true, consumer_killable = true;
    ipc_test::temp_dir dir;
    ipc::transport::unix_address address = ipc::transport::unix_address::path(dir / "rx.sock");
    ipc::transport::unix_dgram bound = ipc::transport::unix_dgram::bind(address);

    unix_dgram_case(const options&) {}
    static std::size_t max_payload() { return 4000; }
    auto producer() { return channel_type(ipc::transport::unix_dgram::connect(address)); }
    auto consumer(std::uint64_t) {
        return channel_type(ipc::transport::unix_dgram(ipc::detail::unique_fd(::fcntl(bound.native_handle(), F_DUPFD_CLOEXEC, 0))));
    }
};

// Transports of fixed-size values carry a message in a record of this size,
// its header telling how much of it is the message.
using record = std::array<char, 512>;

template <class Tx, class Rx>
struct record_io {
    static ipc::status send(Tx& tx, const std::string& m, std::chrono::milliseconds t) {
        record r{};
        std::memcpy(r.data(), m.data(), m.size());
        return tx.send_for(r, t);
    }
    static ipc::status recv(Rx& rx, std::string& m, std::chrono::milliseconds t) {
        record r{};
        auto st = rx.recv_for(r, t);
        wire_header h{};
        std::memcpy(&h, r.data(), header_size);
        m.assign(r.data(), header_size + std::min<std::size_t>(h.length, sizeof(record) - header_size));
        return st;
    }
    static std::size_t max_payload() { return sizeof(record) - header_size; }
};

// One pipe, every producer writing and every consumer reading fixed records of
// at most PIPE_BUF bytes: each write is atomic and each read takes exactly one
// record. The supervisor keeps both ends open, so no one ever sees EOF or EPIPE.
struct pipe_case : record_io<ipc::pipe_sender<record>, ipc::pipe_receiver<record>> {
    static_assert(sizeof(record) <= PIPE_BUF);
    static constexpr const char* name = "pipe";
    static constexpr bool broadcast = false, resumable = false, producer_killable = true, consumer_killable = true;
    ipc::transport::pipe_pair ends = ipc::transport::make_pipe();

    pipe_case(const options&) {}
    static ipc::detail::unique_fd dup(int fd) { return ipc::detail::unique_fd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)); }
    auto producer() { return ipc::pipe_sender<record>(ipc::transport::pipe_writer(dup(ends.writer.native_handle()))); }
    auto consumer(std::uint64_t) { return ipc::pipe_receiver<record>(ipc::transport::pipe_reader(dup(ends.reader.native_handle()))); }
};

// A named FIFO shared like the pipe above: every process opens the path
// itself; the supervisor holds both ends so opens never wait and no one sees EOF.
struct fifo_case : record_io<ipc::fifo_sender<record>, ipc::fifo_receiver<record>> {
    static constexpr const char* name = "fifo";
    static constexpr bool broadcast = false, resumable = false, producer_killable = true, consumer_killable = true;
    ipc_test::temp_dir dir;
    std::string path = dir / "fifo";
    bool made = (ipc::transport::fifo::create(path), true);
    ipc::transport::fifo_reader keep_reader = ipc::transport::fifo_reader::open(path);
    ipc::transport::fifo_writer keep_writer = ipc::transport::fifo_writer::open(path, 1s);

    fifo_case(const options&) {}
    auto producer() { return ipc::fifo_sender<record>(ipc::transport::fifo_writer::open(path, 1s)); }
    auto consumer(std::uint64_t) { return ipc::fifo_receiver<record>(ipc::transport::fifo_reader::open(path)); }
};

// The lock-free MPMC ring in POSIX shared memory. A claimant says which index
// it claims in a line of its own before its one atomic claim (ring/mpmc.hpp),
// so a process killed anywhere leaves claims no live end names, which a
// waiting peer repairs when it checks the peer table, every
// peer_check_interval (20 ms here), or that a restarted process repairs when
// it opens the ring.
template <ipc::ring::delivery D>
using mpmc_record_channel = ipc::channel<record, ipc::transport::posix_shm<ipc::ring::mpmc<record, D>>, ipc::sync::futex, ipc::framing::fixed>;

template <ipc::ring::delivery D>
struct shm_mpmc_adapter : record_io<mpmc_record_channel<D>, mpmc_record_channel<D>> {
    using channel_type = mpmc_record_channel<D>;
    using transport = typename channel_type::transport_type;
    static constexpr bool broadcast = false, resumable = false, producer_killable = true, consumer_killable = true;
    static constexpr std::chrono::milliseconds check_interval{20};
    std::string region = object_name("torture-ring");
    channel_type owner = channel_type::create(region, 64);

    shm_mpmc_adapter(const options&) {
        // The supervisor counts as both sides, so no one ever sees "closed".
        owner.transport().attach(ipc::direction::send);
        owner.transport().attach(ipc::direction::recv);
    }
    ~shm_mpmc_adapter() { transport::remove(region); }
    auto producer() {
        auto ch = channel_type::open(region);
        ch.transport().peer_check_interval(check_interval);
        return ch;
    }
    auto consumer(std::uint64_t) { return producer(); }
};

struct shm_mpmc_case : shm_mpmc_adapter<ipc::ring::delivery::at_most_once> {
    static constexpr const char* name = "shm_mpmc";
    using shm_mpmc_adapter::shm_mpmc_adapter;
};

// The same ring, made to redeliver what a killed consumer held: consumers
// read in place and release after counting (as a worker releases a task
// once done), so no kill loses a message.
struct shm_mpmc_alo_case : shm_mpmc_adapter<ipc::ring::delivery::at_least_once> {
    static constexpr const char* name = "shm_mpmc_alo";
    static constexpr bool redelivers = true;
    using shm_mpmc_adapter::shm_mpmc_adapter;

    static auto peek(channel_type& rx, std::string& m, std::chrono::milliseconds t, ipc::status& st, bool& redelivered) {
        auto g = rx.peek_for(t);
        st = g.status();
        if (g) {
            wire_header h{};
            std::memcpy(&h, g->data(), header_size);
            m.assign(g->data(), header_size + std::min<std::size_t>(h.length, sizeof(record) - header_size));
            redelivered = rx.transport().redelivered();
        }
        return g;
    }
    std::uint64_t redelivered_by_ring() { return owner.transport().ring().redelivered(); }
};

// The broadcast ring (one publisher, every subscriber reads every message),
// slow_policy::block: the publisher waits for the slowest live subscriber,
// and a killed one is reaped (every check interval) so it holds no one.
// A consumer subscribes as it opens; a restarted one starts at the newest
// message (see "rejoins" at the top).
// The supervisor holds the region but is no end of it (a subscriber that
// never reads would hold the publisher). Channel: the broadcast channel type,
// IO its send/recv; the case gives its name, region tag and capacity.
template <class Channel, class IO, class Case>
struct shm_broadcast_adapter : IO {
    using channel_type = Channel;
    using transport = typename channel_type::transport_type;
    static constexpr bool broadcast = true, resumable = false, producer_killable = true, consumer_killable = true;
    static constexpr bool rejoins = true, one_producer = true;
    static constexpr std::chrono::milliseconds check_interval{20};
    std::string region = object_name(Case::tag);
    channel_type owner = channel_type::create(region, {.capacity = Case::capacity, .max_subscribers = 64, .slow = ipc::ring::slow_policy::block});

    shm_broadcast_adapter(const options&) {}
    ~shm_broadcast_adapter() { transport::remove(region); }
    auto producer() {
        auto ch = channel_type::open(region);
        ch.transport().peer_check_interval(check_interval);
        return ch;
    }
    auto consumer(std::uint64_t) {
        auto ch = producer();
        ch.transport().attach(ipc::direction::recv);
        return ch;
    }
    // A killed publisher is peer_dead until the supervisor starts another:
    // wait on, as for a full transport.
    static ipc::status recv(channel_type& rx, std::string& m, std::chrono::milliseconds t) {
        const ipc::status s = IO::recv(rx, m, t);
        return s == ipc::status::peer_dead ? ipc::status::timed_out : s;
    }
    // Messages the ring told this subscriber it missed since it subscribed
    // (under block never any: what one skips is owed, so counted as lost).
    static std::uint64_t missed(const channel_type& rx) { return rx.transport().missed(); }
};

struct shm_broadcast_case : shm_broadcast_adapter<ipc::shm_broadcast<record>, record_io<ipc::shm_broadcast<record>, ipc::shm_broadcast<record>>,
                                                  shm_broadcast_case> {
    static constexpr const char* name = "shm_broadcast";
    static constexpr const char* tag = "torture-bcast";
    // 256 slots: subscribers publish their tails lazily (every 4 messages, see ring/broadcast.hpp).
    static constexpr std::uint64_t capacity = 256;
    using shm_broadcast_adapter::shm_broadcast_adapter;
};

// The variable-size broadcast ring: each message one record of its own
// length (0 to max_payload bytes after the header), so records of every
// size wrap around the ring's end (padding records) and lap its oldest bound.
using bytes_broadcast = ipc::shm_broadcast_bytes<std::string>;
struct shm_broadcast_bytes_case : shm_broadcast_adapter<bytes_broadcast, string_io<bytes_broadcast, bytes_broadcast>, shm_broadcast_bytes_case> {
    static constexpr const char* name = "shm_broadcast_bytes";
    static constexpr const char* tag = "torture-bcastb";
    // 16 KiB: about 16 records of the mean size (max_payload / 2) fit.
    static constexpr std::uint64_t capacity = 1 << 14;
    static std::size_t max_payload() { return 2000; }
    using shm_broadcast_adapter::shm_broadcast_adapter;
};

template <class Case>
inline constexpr bool redelivers = requires { requires Case::redelivers; };
template <class Case>
inline constexpr bool rejoins = requires { requires Case::rejoins; };

// ---- the processes -----------------------------------------------------------

// Exit codes of a producer or consumer that stopped by itself.
constexpr int done_ok = 0;
constexpr int failed_transport = 10;  // a channel call failed: printed
constexpr int failed_corrupt = 11;    // a stream lost its framing: nothing more can be read

template <class Case>
int run_producer(Case& c, const shared_log& log, unsigned p, std::uint64_t limit, std::uint64_t seed) {
    auto& slot = log.state().producer[p];
    auto tx = c.producer();
    std::string msg;
    for (;;) {
        const std::uint64_t seq = slot.next.load();
        if (seq >= limit || log.state().stop_producers.load()) return done_ok;
        encode(msg, seed, p, seq, Case::max_payload());
        slot.attempt.store(seq);
        // Bounded waits: a full transport stays full only while consumers are being restarted.
        for (;;) {
            auto st = Case::send(tx, msg, 100ms);
            if (st == ipc::status::ok) break;
            if (st != ipc::status::timed_out) {
                std::fprintf(stderr, "%s producer %u: send: %s\n", Case::name, p, std::string(st.name()).c_str());
                return failed_transport;
            }
        }
        slot.next.store(seq + 1);
    }
}

template <class Case>
int run_consumer(Case& c, const shared_log& log, unsigned k) {
    auto& st = log.state();
    auto& slot = st.consumer[k];
    const unsigned layer = Case::broadcast ? k : 0;
    // A resumable reader killed after counting but before saving its position
    // reads that message again first: recognise it, and count it once.
    std::uint64_t replay = ~0ULL;
    if (Case::resumable && slot.phase.load() == in_hand) replay = slot.hand.load();
    slot.phase.store(idle);
    auto rx = c.consumer(slot.position.load());
    // A rejoining subscriber is owed nothing published before it subscribed:
    // what its producer had finished by now (read after subscribing), and,
    // at its first message, everything before that. The message its producer
    // was sending meanwhile (`next` now) was committed before or after the
    // join, unknown which (the ring takes either order as right): if no
    // later one arrives to tell, it is not owed either (see the drain below).
    bool first = true;
    std::uint64_t joined_at[max_producers]{};
    if constexpr (rejoins<Case>)
        for (unsigned p = 0; p < max_producers; ++p) {
            joined_at[p] = st.producer[p].next.load();
            if (joined_at[p] > slot.last_seen[p].load()) log.excuse(layer, p, slot.last_seen[p].load(), joined_at[p]);
        }
    // A rejoining subscriber checks order against what the ring tells it:
    // the misses it was told of as of its last message, and the number each
    // producer's next message must then carry (0: none read since joining).
    std::uint64_t told_before = 0;
    std::uint64_t expect[max_producers]{};
    if constexpr (rejoins<Case>) told_before = Case::missed(rx);
    std::string msg;
    for (;;) {
        const bool draining = st.drain.load();
        slot.phase.store(receiving);
        ipc::status s = ipc::status::ok;
        bool redelivered = false;
        // Redelivering transports: the message stays held (claimed) until counted.
        auto held = [&] {
            if constexpr (redelivers<Case>) return Case::peek(rx, msg, 50ms, s, redelivered);
            else return (s = Case::recv(rx, msg, 50ms), 0);
        }();
        if (s == ipc::status::timed_out) {
            slot.phase.store(idle);
            if (!draining) continue;
            if constexpr (rejoins<Case>)
                if (first)  // nothing read since joining: the send under way then (if made) may have come first
                    for (unsigned p = 0; p < max_producers; ++p)
                        if (joined_at[p] < st.producer[p].next.load()) log.excuse(layer, p, joined_at[p], joined_at[p] + 1);
            return done_ok;
        }
        if (s != ipc::status::ok) {
            slot.phase.store(idle);
            std::fprintf(stderr, "%s consumer %u: recv: %s\n", Case::name, k, std::string(s.name()).c_str());
            st.corrupt.fetch_add(1);
            return failed_corrupt;
        }
        auto h = decode(msg);
        if (!h || h->producer >= max_producers) {
            st.corrupt.fetch_add(1);
            slot.phase.store(idle);
            continue;
        }
        const std::uint64_t p = h->producer, seq = h->seq;
        if constexpr (rejoins<Case>)
            if (std::exchange(first, false)) log.excuse(layer, p, slot.last_seen[p].load(), seq);
        slot.hand.store(hand_of(p, seq));
        slot.phase.store(in_hand);
        if (seq >= log.cap() || seq >= st.producer[p].next.load() + 1) {
            st.phantoms.fetch_add(1);
        } else if (hand_of(p, seq) == std::exchange(replay, ~0ULL) && log.delivered(layer, p, seq).load() > 0) {
            // counted before the kill
        } else {
            if (redelivered) log.redelivered(p, seq).fetch_add(1);
            log.delivered(layer, p, seq).fetch_add(1);
        }
        std::uint64_t before = slot.last_seen[p].load();
        bool out_of_order = !redelivered && seq + 1 <= before && !(Case::resumable && seq + 1 == before);
        if constexpr (rejoins<Case>) {
            // One violation per message that is not the next one once the
            // gap before it is accounted for: each number skipped was either
            // a miss the ring told of since the last message (its ring has
            // one publisher: they are this producer's) or a send a killed
            // producer never made (uncertain). What a told miss skipped is
            // still owed, so a miss that did happen is a loss, and one that
            // did not (the next number after all) is out of order here.
            const std::uint64_t told = Case::missed(rx) - told_before;
            told_before += told;
            if (expect[p] != 0) {
                std::uint64_t certain = 0;
                for (std::uint64_t g = expect[p]; g < seq && g < log.cap(); ++g) certain += log.uncertain(p, g).load() == 0;
                out_of_order = seq < expect[p] || told > seq - expect[p] || certain > told;
            }
            expect[p] = seq + 1;
        }
        if (out_of_order) st.order_violations.fetch_add(1);
        slot.last_seen[p].store(std::max(before, seq + 1));
        if constexpr (Case::resumable) slot.position.store(Case::position(rx));
        if constexpr (redelivers<Case>) held.release();  // done with it: only now may the ring forget it
        slot.phase.store(idle);
    }
}

// Runs fn in a forked child that always _exits, and dies with the supervisor
// (so a killed supervisor leaves no orphans spinning); returns its pid.
template <class F>
pid_t spawn(F&& fn) {
    std::fflush(nullptr);
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::system_category(), "fork");
    if (pid == 0) {
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(failed_transport);
        int code = failed_transport;
        try {
            code = fn();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "ipc_torture child %d: %s\n", ::getpid(), e.what());
        }
        std::fflush(nullptr);
        ::_exit(code);
    }
    return pid;
}

// ---- the supervisor ------------------------------------------------------------

struct report {
    std::uint64_t committed = 0, delivered = 0, uncertain = 0, blind_kills = 0, lost_with_blind = 0;
    std::uint64_t producer_kills = 0, consumer_kills = 0;
    std::uint64_t losses = 0, duplicates = 0, order_violations = 0, corrupt = 0, phantoms = 0;
    std::uint64_t redelivered = 0, redelivered_by_ring = 0;  // receipts flagged redelivered; what the transport counted
    std::uint64_t not_owed = 0;  // (message, reader) pairs a rejoining subscriber was away for
    bool hung = false, child_failed = false;
    double seconds = 0;

    bool ok() const { return !losses && !duplicates && !order_violations && !corrupt && !phantoms && !hung && !child_failed; }
};

template <class Case>
report run_case(const options& o) {
    report r;
    const auto t0 = clock_type::now();
    const std::uint64_t limit = o.messages ? o.messages : seconds_mode_cap;
    shared_log log(o.producers, Case::broadcast ? o.consumers : 1, limit);
    auto& st = log.state();
    Case c(o);
    std::mt19937_64 rng(o.seed);

    std::vector<pid_t> producers(o.producers, -1), consumers(o.consumers, -1);
    // Whatever ends this function (a throw included), no child outlives it;
    // says whether there was one left to end.
    auto end_all = [&] {
        bool any = false;
        for (auto* pids : {&producers, &consumers})
            for (pid_t& pid : *pids)
                if (pid > 0) {
                    any = true;
                    ::kill(pid, SIGKILL);
                    ::waitpid(pid, nullptr, 0);
                    pid = -1;
                }
        return any;
    };
    struct on_exit {
        decltype(end_all)& f;
        ~on_exit() { f(); }
    } guard{end_all};
    auto start_producer = [&](unsigned p) { producers[p] = spawn([&, p] { return run_producer(c, log, p, limit, o.seed); }); };
    auto start_consumer = [&](unsigned k) { consumers[k] = spawn([&, k] { return run_consumer(c, log, k); }); };
    for (unsigned k = 0; k < o.consumers; ++k) start_consumer(k);
    for (unsigned p = 0; p < o.producers; ++p) start_producer(p);

    // After a producer died: a send it began and did not commit is uncertain; skip it.
    auto settle_producer = [&](unsigned p) {
        auto& s = st.producer[p];
        const std::uint64_t next = s.next.load();
        if (s.attempt.load() == next && next < limit) {
            log.uncertain(p, next).store(1);
            s.uncertain_sends.fetch_add(1);
            s.next.store(next + 1);
        }
        s.attempt.store(~0ULL);
    };
    // After a consumer died: what it held is uncertain; a kill inside a receive may hide one message.
    auto settle_consumer = [&](unsigned k) {
        auto& s = st.consumer[k];
        const int phase = s.phase.load();
        if (Case::resumable) return;  // the restarted reader sorts out its own hand (see run_consumer)
        if (rejoins<Case>) {  // the restarted subscriber is owed nothing from its absence (see run_consumer)
            s.phase.store(idle);
            return;
        }
        if (redelivers<Case>) {  // what it held goes to another consumer: nothing is excused
            s.phase.store(idle);
            return;
        }
        if (phase == in_hand) {
            const std::uint64_t h = s.hand.load(), p = h >> 40, seq = h & ((1ULL << 40) - 1);
            if (p < max_producers && seq < limit) log.uncertain(p, seq).store(1);
        } else if (phase == receiving) {
            ++r.blind_kills;
        }
        s.phase.store(idle);
    };

    // A child that exits by itself: producers when done, anyone on a failure.
    auto reap = [&](std::vector<pid_t>& pids, bool is_producer) {
        for (unsigned i = 0; i < pids.size(); ++i) {
            if (pids[i] < 0) continue;
            int status = 0;
            if (::waitpid(pids[i], &status, WNOHANG) != pids[i]) continue;
            pids[i] = -1;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != done_ok) {
                std::fprintf(stderr, "%s: %s %u ended with status %d\n", Case::name, is_producer ? "producer" : "consumer", i, status);
                r.child_failed = true;
            }
        }
    };
    auto running = [](const std::vector<pid_t>& v) { return std::count_if(v.begin(), v.end(), [](pid_t p) { return p > 0; }); };

    const auto run_until = t0 + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.messages ? 1e9 : o.seconds));
    const auto watchdog = t0 + std::chrono::duration_cast<clock_type::duration>(
                                   std::chrono::duration<double>(o.messages ? 60.0 + o.messages * o.producers / 2000.0 : o.seconds + 20.0));

    // Phase 1: producers run, and in crash mode someone dies every few milliseconds.
    while (running(producers) > 0 && !r.child_failed) {
        const auto now = clock_type::now();
        if (now >= watchdog) {
            r.hung = true;
            break;
        }
        if (now >= run_until) st.stop_producers.store(1);
        std::this_thread::sleep_for(std::chrono::microseconds(o.kill_every_ms * 500 + rng() % (o.kill_every_ms * 1000)));
        if (o.crash && !st.stop_producers.load()) {
            const unsigned killable_p = Case::producer_killable || o.kill_all ? o.producers : 0;
            const unsigned killable_c = Case::consumer_killable || o.kill_all ? o.consumers : 0;
            const unsigned victim = static_cast<unsigned>(rng() % std::max(1u, killable_p + killable_c));
            const bool is_producer = victim < killable_p;
            auto& pids = is_producer ? producers : consumers;
            const unsigned i = is_producer ? victim : victim - killable_p;
            if (killable_p + killable_c > 0 && pids[i] > 0) {
                ::kill(pids[i], SIGKILL);
                int status = 0;
                ::waitpid(pids[i], &status, 0);
                pids[i] = -1;
                if (is_producer) {
                    ++r.producer_kills;
                    settle_producer(i);
                    start_producer(i);
                } else {
                    ++r.consumer_kills;
                    settle_consumer(i);
                    start_consumer(i);
                }
            }
        }
        reap(producers, true);
        reap(consumers, false);  // one that ends by itself has failed; those we killed are back already
    }

    // Phase 2: producers finish the message in hand (consumers still take
    // from the transport), then consumers empty it: only once every producer
    // has exited can "nothing arrived for a while" mean "nothing more will".
    st.stop_producers.store(1);
    while (running(producers) > 0 && clock_type::now() < watchdog) {
        std::this_thread::sleep_for(2ms);
        reap(producers, true);
    }
    st.drain.store(1);
    while (running(consumers) > 0 && clock_type::now() < watchdog) {
        std::this_thread::sleep_for(2ms);
        reap(consumers, false);
    }
    if (end_all()) r.hung = true;

    // The accounting.
    std::uint64_t missing = 0;
    const unsigned layers = Case::broadcast ? o.consumers : 1;
    for (unsigned p = 0; p < o.producers; ++p) {
        const std::uint64_t sent = st.producer[p].next.load();
        for (std::uint64_t seq = 0; seq < limit && seq <= sent; ++seq) {
            const bool uncertain = log.uncertain(p, seq).load() != 0;
            if (seq < sent) (uncertain ? r.uncertain : r.committed) += 1;
            for (unsigned layer = 0; layer < layers; ++layer) {
                const unsigned n = log.delivered(layer, p, seq).load();
                if (seq == sent) {
                    r.phantoms += n;  // never sent
                    continue;
                }
                r.delivered += n;
                const unsigned again = log.redelivered(p, seq).load();
                r.redelivered += again;
                if (n > 1) r.duplicates += n - 1 - std::min(n - 1, again);  // a redelivered copy accounts for one
                if (n == 0 && !uncertain) {
                    if (log.not_owed(layer, p, seq).load()) {
                        ++r.not_owed;
                    } else if (++missing <= 5) {  // which, so that a failure can be looked into
                        std::fprintf(stderr, "%s: missing: producer %u message %llu (of %llu sent), reader %u\n", Case::name, p,
                                     static_cast<unsigned long long>(seq), static_cast<unsigned long long>(sent), layer);
                    }
                }
            }
        }
    }
    r.lost_with_blind = std::min(missing, r.blind_kills);
    r.losses = missing - r.lost_with_blind;
    r.order_violations = st.order_violations.load();
    r.corrupt = st.corrupt.load();
    r.phantoms += st.phantoms.load();
    if constexpr (redelivers<Case>) r.redelivered_by_ring = c.redelivered_by_ring();
    r.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    return r;
}

void print(const char* name, const report& r, unsigned consumers, bool broadcast, bool spared, bool redelivering, bool rejoining) {
    std::printf("%-10s %s  %.1fs  committed %" PRIu64 "  delivered %" PRIu64 "%s  uncertain %" PRIu64
                "  kills %" PRIu64 "/%" PRIu64 " (producers/consumers)  lost-with-killed-consumer %" PRIu64 "/%" PRIu64
                "  losses %" PRIu64 "  duplicates %" PRIu64 "  order-violations %" PRIu64 "  corrupt %" PRIu64
                "  phantoms %" PRIu64 "%s%s%s%s%s\n",
                name, r.ok() ? "PASS" : "FAIL", r.seconds, r.committed, r.delivered,
                broadcast ? (" (x" + std::to_string(consumers) + " readers)").c_str() : "", r.uncertain, r.producer_kills,
                r.consumer_kills, r.lost_with_blind, r.blind_kills, r.losses, r.duplicates, r.order_violations, r.corrupt,
                r.phantoms,
                redelivering ? ("  redelivered " + std::to_string(r.redelivered) + " (transport counted " +
                                std::to_string(r.redelivered_by_ring) + ")")
                                   .c_str()
                             : "",
                rejoining ? ("  not-owed-to-rejoined " + std::to_string(r.not_owed)).c_str() : "",
                r.hung ? "  HUNG" : "", r.child_failed ? "  CHILD-FAILED" : "",
                spared ? "  (some processes spared: see the adapter)" : "");
    std::fflush(stdout);
}

template <class Case>
bool run_one(const options& o) {
    try {
        options mine = o;
        if constexpr (requires { requires Case::one_producer; }) mine.producers = 1;  // one publisher
        report r = run_case<Case>(mine);
        const bool spared = !(Case::producer_killable && Case::consumer_killable) && !o.kill_all;
        print(Case::name, r, o.consumers, Case::broadcast, o.crash && spared, redelivers<Case>, rejoins<Case>);
        return r.ok();
    } catch (const std::exception& e) {
        std::printf("%-10s FAIL  setup: %s\n", Case::name, e.what());
        return false;
    }
}

struct entry {
    const char* name;
    bool (*run)(const options&);
};
constexpr entry cases[] = {
    {posix_mq_case::name, run_one<posix_mq_case>}, {sysv_mq_case::name, run_one<sysv_mq_case>},
    {file_case::name, run_one<file_case>},         {unix_dgram_case::name, run_one<unix_dgram_case>},
    {pipe_case::name, run_one<pipe_case>},         {fifo_case::name, run_one<fifo_case>},
    {shm_mpmc_case::name, run_one<shm_mpmc_case>},     {shm_mpmc_alo_case::name, run_one<shm_mpmc_alo_case>},
    {shm_broadcast_case::name, run_one<shm_broadcast_case>}, {shm_broadcast_bytes_case::name, run_one<shm_broadcast_bytes_case>},
};

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    // No test cases here: a failed REQUIRE in a support.hpp helper ends the program.
    doctest::Context asserts;
    asserts.setAsDefaultForAssertsOutOfTestCases();
    asserts.setAssertHandler([](const doctest::AssertData& a) {
        std::fprintf(stderr, "ipc_torture: %s failed at %s:%d\n", a.m_expr, a.m_file, a.m_line);
        std::exit(3);
    });
    // Own process group: names carry it (ipc_test::run_tag), and nothing of
    // another run is ever touched.
    ::setpgid(0, 0);
    std::printf("ipc_torture: transport %s, %u producers, %u consumers, %s, %s, seed %" PRIu64 "\n", o.transport.c_str(),
                o.producers, o.consumers,
                o.messages ? (std::to_string(o.messages) + " messages per producer").c_str()
                           : (std::to_string(o.seconds) + " s per transport").c_str(),
                o.crash ? ("crash mode, a kill every ~" + std::to_string(o.kill_every_ms) + " ms").c_str() : "no kills",
                o.seed);
    bool ok = true, found = false;
    for (const entry& e : cases) {
        if (o.transport != "all" && o.transport != e.name) continue;
        found = true;
        ok = e.run(o) && ok;
    }
    if (!found) usage(("unknown transport " + o.transport).c_str());
    // Hygiene: nothing named with this run's tag may be left.
    for (const char* dir : {"/dev/mqueue", "/dev/shm", "/tmp"}) {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(dir, ec))
            if (e.path().filename().string().find(ipc_test::run_tag()) != std::string::npos) {
                std::printf("ipc_torture: left behind: %s\n", e.path().c_str());
                ok = false;
            }
    }
    std::printf("ipc_torture: %s\n", ok ? "all checks passed" : "FAILED");
    return ok ? 0 : 1;
}
