// libFuzzer: arbitrary bytes as a shared ring region, as a hostile or broken
// peer could leave it (of the current layout version). Every ring kind attaches to it (or
// refuses it); one that attaches is driven a bounded number of times, through
// its own calls and through the kind interface ring_region uses
// (ring/kind.hpp: join, loan/commit, front/release, repair, leave). ipc-ls's
// reader (ring::describe) reads it, and the sync area is bound to a policy
// (ring/sync_shared.hpp: its tag and name are untrusted). Nothing may read or
// write outside the region, crash or loop forever.
#include <ipc/ring/bytes.hpp>
#include <ipc/ring/kinds.hpp>
#include <ipc/ring/mpmc.hpp>
#include <ipc/ring/spsc.hpp>
#include <ipc/ring/sync_shared.hpp>
#include <ipc/sync/futex.hpp>

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

struct odd {
    std::uint8_t b[13];
};

constexpr int rounds = 64;

template <class Ring>
void drive_fixed(std::span<std::byte> mem) {
    using T = typename Ring::value_type;
    std::error_code ec;
    Ring r = ipc::ring::attach<Ring>(mem, ec);
    if (ec) return;
    T v{};
    (void)r.size();
    (void)r.can_push();
    (void)r.can_pop();
    (void)r.hdr();
    (void)r.peers().count();
    for (int i = 0; i < rounds; ++i) {
        (void)r.try_pop(v);
        (void)r.try_push(v);
        std::array<T, 3> batch{};
        (void)r.pop_n(batch);
        (void)r.push_n(batch);
    }
    if constexpr (requires { r.inspect(0); }) {  // mpmc's own calls
        auto dead = [](std::uint32_t) { return false; };
        for (int i = 0; i < rounds; ++i) {
            (void)r.repair(dead);
            (void)r.redelivered();
            (void)r.inspect(static_cast<std::uint64_t>(i));
            if (auto c = r.front(1)) r.release(c);
            if (auto c = r.loan(1)) r.commit(c);
        }
    }
    // As ring_region drives any fixed kind: one end per direction.
    typename Ring::end_state ends[2]{};
    for (ipc::direction d : {ipc::direction::send, ipc::direction::recv}) {
        ec.clear();
        if (!r.join(d, ends[ipc::ring::detail::index(d)], {0, ipc::ring::owner_word(r.peers(), 0)}, ec)) return;
    }
    auto& tx = ends[0];
    auto& rx = ends[1];
    std::array<T, 3> batch{};
    for (int i = 0; i < rounds; ++i) {
        (void)r.can_push(tx);
        (void)r.can_pop(rx);
        if (const T* p = r.front(rx)) {
            std::memcpy(static_cast<void*>(&v), p, sizeof(T));
            (void)r.redelivered(rx);
            r.release(rx);
        }
        if (T* p = r.loan(tx)) {
            std::memcpy(static_cast<void*>(p), &v, sizeof(T));
            if (i % 3 == 0) r.cancel(tx);
            else r.commit(tx);
        }
        ec.clear();
        if (auto m = r.front_message(rx, ec)) r.release(rx);
        ec.clear();
        if (std::byte* p = r.loan_message(sizeof(T), tx, ec)) {
            std::memset(p, i, sizeof(T));
            r.commit_message(sizeof(T), tx);
        }
        (void)r.pop_n(batch, rx);
        (void)r.push_n(batch, tx);
        (void)r.repair();
    }
    r.leave(ipc::direction::send, tx);
    r.leave(ipc::direction::recv, rx);
}

void drive_bytes(std::span<std::byte> mem) {
    std::error_code ec;
    auto r = ipc::ring::attach<ipc::ring::bytes>(mem, ec);
    if (ec) return;
    std::array<std::byte, 256> buf{};
    (void)r.size();
    (void)r.can_pop();
    for (int i = 0; i < rounds; ++i) {
        ec.clear();
        (void)r.try_pop(buf, ec);
        ec.clear();
        if (auto m = r.front(ec)) r.release();
        ec.clear();
        (void)r.try_push(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(i) % buf.size()), ec);
        ec.clear();
        (void)r.can_push();
    }
    // As ring_region drives a variable-size kind.
    ipc::ring::bytes::end_state tx{}, rx{};
    if (!r.join(ipc::direction::send, tx, {}, ec) || !r.join(ipc::direction::recv, rx, {}, ec)) return;
    for (int i = 0; i < rounds; ++i) {
        ec.clear();
        if (auto m = r.front(rx, ec)) r.release(rx);
        ec.clear();
        if (std::byte* p = r.loan(static_cast<std::size_t>(i) * 5 % 200, tx, ec)) {
            std::memset(p, i, static_cast<std::size_t>(i) * 5 % 200);
            r.commit(static_cast<std::size_t>(i) % 7, tx);
        }
        ec.clear();
        if (auto m = r.front_message(rx, ec)) r.release(rx);
        (void)r.can_pop(rx);
        (void)r.repair();
    }
}

// What ipc-ls reads: the header of any kind, then the kind's own fields.
void describe(std::span<std::byte> mem) {
    if (!ipc::ring::is_formatted(mem)) return;
    ipc::ring::description d;
    if (!ipc::ring::describe(mem, d)) return;
    for (std::size_t i = 0; i < d.field_count && i < std::size(d.fields); ++i) (void)d.fields[i].name.size();
}

// A sync area as a peer left it: a policy binds to it (or is refused, its
// error naming the untrusted name found there), then forgets every end.
template <class Policy>
void bind_policy(std::span<std::byte> mem) {
    if (mem.size() < sizeof(ipc::ring::shared_state<ipc::ring::two_indices>)) return;
    auto& area = ipc::ring::state_of<ipc::ring::spsc<char>>(mem)->sync;
    // "Being set up" makes a binder wait 2 s for the setter: a valid state, too slow to fuzz.
    if (area.policy.tag.load() == ipc::ring::busy_sync_tag) return;
    std::error_code ec;
    if (!ipc::ring::bind_sync(area, ipc::ring::binding_of<Policy>, ec)) {
        (void)ipc::last_error_detail(ec);
        return;
    }
    for (int slot = -1; slot <= static_cast<int>(ipc::ring::max_peers); ++slot)
        for (ipc::direction d : {ipc::direction::send, ipc::direction::recv}) Policy::forget_end(area, d, slot);
}

}  // namespace

namespace {

// Seeds: well-formed regions of every kind with some traffic in them, so the
// fuzzer starts past the header checks (a 64-bit type tag is not guessed).
template <class Ring, class Fill>
void write_seed(const std::string& dir, const char* name, std::uint64_t capacity, Fill fill) {
    const std::uint64_t need = ipc::ring::required_size<Ring>(capacity);
    image im(nullptr, need);
    std::memset(im.bytes().data(), 0, need);
    std::error_code ec;
    Ring r = ipc::ring::format<Ring>(im.bytes(), capacity, ec);
    if (ec) return;
    (void)r.peers().join(ipc::detail::peer_role::sender);
    fill(r);
    if (std::FILE* f = std::fopen((dir + "/" + name).c_str(), "wb")) {
        std::fwrite(im.bytes().data(), 1, need, f);
        std::fclose(f);
    }
}

}  // namespace

// With IPC_FUZZ_SEEDS=<corpus dir> (fuzz/run.sh sets it), writes the seeds
// there before libFuzzer reads the corpus.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* dir = std::getenv("IPC_FUZZ_SEEDS");
    if (!dir) return 0;
    write_seed<ipc::ring::spsc<std::uint64_t>>(dir, "seed-spsc", 8, [](auto& r) {
        for (std::uint64_t i = 0; i < 5; ++i) (void)r.try_push(i);
        std::uint64_t v;
        (void)r.try_pop(v);
    });
    write_seed<ipc::ring::spsc<odd>>(dir, "seed-spsc-odd", 4, [](auto& r) { (void)r.try_push(odd{}); });
    write_seed<ipc::ring::mpmc<std::uint64_t>>(dir, "seed-mpmc", 8, [](auto& r) {
        (void)r.loan(ipc::ring::owner_word(0, 1));  // claimed, never committed
        for (std::uint64_t i = 0; i < 4; ++i) (void)r.try_push(i, ipc::ring::owner_word(0, 1));
    });
    write_seed<ipc::ring::mpmc<odd>>(dir, "seed-mpmc-odd", 4, [](auto& r) { (void)r.try_push(odd{}); });
    // At least once: a consumer's claim a repair (all owners dead) turns into a redelivery.
    write_seed<ipc::ring::mpmc<std::uint64_t, ipc::ring::delivery::at_least_once>>(dir, "seed-mpmc-alo", 8, [](auto& r) {
        for (std::uint64_t i = 0; i < 6; ++i) (void)r.try_push(i, ipc::ring::owner_word(0, 1));
        (void)r.front(ipc::ring::owner_word(1, 1));  // claimed, never released
        (void)r.repair([](std::uint32_t) { return false; });
    });
    write_seed<ipc::ring::bytes>(dir, "seed-bytes", 128, [](auto& r) {
        std::array<std::byte, 40> m{};
        std::error_code ec;
        for (int i = 0; i < 3; ++i) (void)r.try_push(m, ec);
        std::array<std::byte, 64> out{};
        (void)r.try_pop(out, ec);
        (void)r.try_push(m, ec);  // wraps with a padding record
    });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > (1u << 20)) return 0;
    // Each ring gets a fresh image: one ring's writes must not feed the next.
    { image im(data, size); drive_fixed<ipc::ring::spsc<std::uint64_t>>(im.bytes()); }
    { image im(data, size); drive_fixed<ipc::ring::spsc<odd>>(im.bytes()); }
    { image im(data, size); drive_fixed<ipc::ring::mpmc<std::uint64_t>>(im.bytes()); }
    { image im(data, size); drive_fixed<ipc::ring::mpmc<odd>>(im.bytes()); }
    { image im(data, size); drive_fixed<ipc::ring::mpmc<std::uint64_t, ipc::ring::delivery::at_least_once>>(im.bytes()); }
    { image im(data, size); drive_bytes(im.bytes()); }
    { image im(data, size); describe(im.bytes()); }
    { image im(data, size); bind_policy<ipc::sync::futex>(im.bytes()); }
    return 0;
}
