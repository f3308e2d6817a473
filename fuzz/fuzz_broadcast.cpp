// libFuzzer: arbitrary bytes as a broadcast ring region (header, control,
// slots and subscriber table), as a hostile or broken peer could leave it,
// and as a broadcast_bytes region (records, history words: no lying length
// or position may be followed). attach() refuses it or the ring is driven as
// publisher and subscribers a bounded number of times: nothing may read or
// write outside the region, crash or loop forever.
#include <ipc/ring/broadcast.hpp>
#include <ipc/ring/broadcast_bytes.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "image.hpp"

namespace {

using ipc_fuzz::image;

using ring_t = ipc::ring::broadcast<std::uint64_t>;
using bytes_t = ipc::ring::broadcast_bytes;
constexpr int rounds = 64;

// Whatever the region says, nobody is alive: every entry is reapable.
bool nobody(const ipc::detail::process_identity&) { return false; }

void drive(std::span<std::byte> mem) {
    std::error_code ec;
    ring_t r = ring_t::attach(mem, ec);
    if (ec) return;
    (void)r.options();
    (void)r.head();
    (void)r.dropped();
    (void)r.publisher_identity();
    (void)r.for_each_subscriber([](const ring_t::subscriber_info&) {});
    ring_t::publisher p;
    ring_t::subscriber a, b;
    // A publisher in the region (or a subscriber entry) may name this very
    // process: these may fail, and the ring is driven anyway.
    (void)r.open_publisher(p, ec);
    (void)r.subscribe(a, ec);
    (void)r.subscribe(b, 1, ec);
    std::uint64_t v = 0;
    for (int i = 0; i < rounds; ++i) {
        (void)r.try_push(p, v++);
        (void)r.can_push(p);
        (void)r.try_pop(a, v);
        (void)r.can_pop(b);
        if (auto f = r.front(b)) (void)r.release(b);
        if (std::uint64_t* slot = r.loan(p)) {
            *slot = v;
            if (i % 3 == 0) r.cancel(p);
            else r.commit(p);
        }
        if (i % 16 == 0) (void)r.reap(nobody);
    }
    r.unsubscribe(a);
    r.unsubscribe(b);
    r.close_publisher(p);
}

void drive_bytes(std::span<std::byte> mem) {
    std::error_code ec;
    bytes_t r = bytes_t::attach(mem, ec);
    if (ec) return;
    (void)r.head();
    (void)r.oldest();
    (void)r.records();
    (void)r.subscribers();
    (void)r.publisher_status();
    bytes_t::publisher p;
    bytes_t::subscriber a, b;
    (void)r.open_publisher(p, ec);
    (void)r.subscribe(a, ec);
    (void)r.subscribe(b, 2, ec);
    std::byte buf[256];
    for (int i = 0; i < rounds; ++i) {
        const std::size_t n = static_cast<std::size_t>(i * 37) % (r.max_record() + 2);
        if (std::byte* at = r.loan(p, n, ec)) {
            std::memset(at, i, n);
            if (i % 5 == 0) r.cancel(p);
            else r.commit(p, n - n / 3);
        }
        (void)r.try_pop(a, buf, ec);
        if (auto f = r.front(b)) {
            unsigned sum = 0;
            for (std::byte c : f.data) sum += static_cast<unsigned>(c);  // every byte lent must be in the region (ASan says)
            asm volatile("" : : "r"(sum));
            (void)r.release(b);
        }
        (void)r.can_pop(a);
        if (i % 16 == 0) (void)r.reap(nobody);
    }
    r.unsubscribe(a);
    r.unsubscribe(b);
    r.close_publisher(p);
}

void save(const std::string& dir, const char* name, image& im) {
    if (std::FILE* f = std::fopen((dir + "/" + name).c_str(), "wb")) {
        std::fwrite(im.bytes().data(), 1, im.bytes().size(), f);
        std::fclose(f);
    }
}

// A well-formed region with traffic and subscribers in it, so the fuzzer
// starts past the header checks (a 64-bit type tag is not guessed).
void write_seed(const std::string& dir, const char* name, const ipc::ring::broadcast_options& o) {
    const std::uint64_t need = ring_t::required_size(o);
    image im(nullptr, need);
    std::memset(im.bytes().data(), 0, need);
    std::error_code ec;
    ring_t r = ring_t::format(im.bytes(), o, ec);
    if (ec) return;
    ring_t::publisher p;
    ring_t::subscriber a, b;
    (void)r.subscribe(a, ec);
    (void)r.open_publisher(p, ec);
    for (std::uint64_t i = 0; i < 5; ++i) (void)r.try_push(p, i);
    (void)r.subscribe(b, ec);
    std::uint64_t v;
    (void)r.try_pop(a, v);
    save(dir, name, im);
}

void write_bytes_seed(const std::string& dir, const char* name, const ipc::ring::broadcast_options& o) {
    const std::uint64_t need = bytes_t::required_size(o);
    image im(nullptr, need);
    std::memset(im.bytes().data(), 0, need);
    std::error_code ec;
    bytes_t r = bytes_t::format(im.bytes(), o, ec);
    if (ec) return;
    bytes_t::publisher p;
    bytes_t::subscriber a, b;
    (void)r.subscribe(a, ec);
    (void)r.open_publisher(p, ec);
    std::byte msg[100] = {};
    for (std::size_t i = 0; i < 9; ++i) (void)r.try_push(p, std::span<const std::byte>(msg, i * 11), ec);
    (void)r.subscribe(b, ec);
    std::byte buf[100];
    (void)r.try_pop(a, buf, ec);
    save(dir, name, im);
}

}  // namespace

// With IPC_FUZZ_SEEDS=<corpus dir> (fuzz/run.sh sets it), writes the seeds
// there before libFuzzer reads the corpus.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* dir = std::getenv("IPC_FUZZ_SEEDS");
    if (!dir) return 0;
    write_seed(dir, "seed-block", {8, 3, ipc::ring::slow_policy::block, 2});
    write_seed(dir, "seed-overwrite", {4, 2, ipc::ring::slow_policy::overwrite, 0});
    write_seed(dir, "seed-drop", {4, 4, ipc::ring::slow_policy::drop_slowest, 3});
    write_bytes_seed(dir, "seed-bytes-block", {256, 3, ipc::ring::slow_policy::block, 2});
    write_bytes_seed(dir, "seed-bytes-overwrite", {128, 2, ipc::ring::slow_policy::overwrite, 0});
    write_bytes_seed(dir, "seed-bytes-drop", {256, 4, ipc::ring::slow_policy::drop_slowest, 3});
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > (1u << 20)) return 0;
    image im(data, size);
    drive(im.bytes());
    drive_bytes(im.bytes());  // (attach refuses a region of the other kind)
    return 0;
}
