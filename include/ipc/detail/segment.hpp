// ipc/detail/segment.hpp: the checked header of a named shared-memory segment,
// and the create / open / open_or_create steps shared_memory and shared_object share.
//
// A segment is the POSIX shared-memory object /dev/shm/ipc.segment.<name>:
// [segment_header][padding][data]. The header holds sizes and offsets, never
// pointers. Its state word tells an opener where the creator is:
//
//   0             blank: created, not yet described (the file may still be 0 bytes)
//   initialising  described (magic, layout, creator, type): the creator runs T's constructor
//   ready         usable
//   failed        T's constructor threw; the creator removes the name
//
// Every opener reads the header as untrusted: a field is used only after it
// is checked against the size of the object actually mapped.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <new>
#include <string>
#include <string_view>
#include <system_error>

#include "chrono.hpp"
#include "sleep.hpp"
#include "../error.hpp"
#include "../open_mode.hpp"
#include "fd.hpp"
#include "name.hpp"
#include "process.hpp"
#include "region.hpp"

namespace ipc::detail {

inline constexpr std::uint64_t segment_magic = 0x314d474553435049ULL;  // "IPCSEGM1" in memory
inline constexpr std::uint32_t segment_version = 1;
inline constexpr std::string_view segment_prefix = "ipc.segment.";

inline constexpr std::uint32_t segment_initialising = 0x494e4954;  // "INIT"
inline constexpr std::uint32_t segment_ready = 0x600d;
inline constexpr std::uint32_t segment_failed = 0xdead;

// How long an opener waits for a creator that is alive and still initialising.
inline constexpr std::chrono::seconds segment_init_wait{5};

enum class segment_kind : std::uint32_t { raw = 1, object = 2 };

struct segment_header {
    std::uint64_t magic;
    std::uint32_t version;
    std::atomic<std::uint32_t> state;  // see the top of the file; stored last, with release
    std::int64_t creator_pid;          // who initialises it (pid and start time: dead or slow?)
    std::uint64_t creator_start_time;
    std::uint64_t total_size;   // bytes of the whole object
    std::uint64_t data_offset;  // where the data starts
    std::uint64_t data_size;
    std::uint32_t kind;         // segment_kind
    std::uint32_t reserved;
    std::uint64_t value_size;   // object: sizeof(T)
    std::uint64_t value_align;  // object: alignof(T)
    std::uint64_t type_tag;     // object: ipc::ring::type_tag<T>
    char type_name[128];        // object: ipc::ring::type_name<T>, cut to fit, for error messages
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// What a program expects to find (or creates).
struct segment_layout {
    segment_kind kind = segment_kind::raw;
    std::uint64_t data_size = 0;  // raw: 0 = any size (open)
    std::uint64_t data_align = 64;
    std::uint64_t value_size = 0;
    std::uint64_t value_align = 0;
    std::uint64_t type_tag = 0;
    std::string_view type_name;

    constexpr std::uint64_t data_offset() const noexcept {
        const std::uint64_t a = data_align > 64 ? data_align : 64;
        return (sizeof(segment_header) + a - 1) / a * a;
    }
};

// Runs the constructor of what the segment holds, once, in the creator.
// May throw: the creator then marks the header failed and removes the name.
struct segment_init {
    void (*fn)(void* ctx, std::byte* data) = nullptr;
    void* ctx = nullptr;
};

struct opened_segment {
    mapping map;
    std::byte* data = nullptr;
    std::uint64_t size = 0;
    bool created = false;
};

// "/ipc.segment.<name>" for shm_open; errc::name_invalid with words otherwise.
inline bool segment_object_name(std::string_view name, std::string& path, std::error_code& ec) noexcept {
    std::string n;
    if (!posix_ipc_name(name, n, ec, segment_prefix.size())) {
        if (last_error_detail(ec).empty())
            explain(ec, "segment name '%.*s' is not 1 to %zu characters of [A-Za-z0-9._-] (an optional leading '/' aside)",
                    static_cast<int>(name.size() > 64 ? 64 : name.size()), name.data(), static_cast<std::size_t>(NAME_MAX) - segment_prefix.size());
        return false;
    }
    try {
        path = "/";
        path += segment_prefix;
        path.append(n, 1);
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
        return false;
    }
    return true;
}

// The type name a header records, made printable (it is untrusted).
inline void recorded_type_name(const segment_header& h, char (&out)[sizeof(segment_header::type_name)]) noexcept {
    std::size_t i = 0;
    for (; i + 1 < sizeof out && h.type_name[i] != '\0'; ++i) {
        const char c = h.type_name[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    out[i] = '\0';
}

// Checks a described header (state not 0) against the mapped size and what
// this program expects. ec set (with words) if it is not usable.
inline bool check_segment(std::string_view name, const segment_header& h, std::uint64_t file_size,
                          const segment_layout& want, std::error_code& ec) noexcept {
    const int nl = static_cast<int>(name.size());
    if (h.magic != segment_magic) {
        ec = explain(make_error_code(errc::corrupt), "segment '%.*s' is not an ipc segment (its first 8 bytes are 0x%016llx)",
                     nl, name.data(), static_cast<unsigned long long>(h.magic));
        return false;
    }
    if (h.version != segment_version) {
        ec = explain(make_error_code(errc::layout_mismatch), "segment '%.*s' has layout version %u, this program reads version %u",
                     nl, name.data(), h.version, segment_version);
        return false;
    }
    const std::uint32_t s = h.state.load(std::memory_order_acquire);
    if (s != segment_initialising && s != segment_ready && s != segment_failed) {
        ec = explain(make_error_code(errc::corrupt), "segment '%.*s' has state word 0x%x, which is none of ipc's", nl, name.data(), s);
        return false;
    }
    if (h.total_size != file_size) {
        ec = explain(make_error_code(errc::corrupt), "segment '%.*s' is %llu bytes but its header says %llu (truncated or resized)",
                     nl, name.data(), static_cast<unsigned long long>(file_size), static_cast<unsigned long long>(h.total_size));
        return false;
    }
    if (h.data_offset < sizeof(segment_header) || h.data_offset % 64 != 0 || h.data_offset > file_size ||
        h.data_size > file_size - h.data_offset) {
        ec = explain(make_error_code(errc::corrupt), "segment '%.*s': its header puts %llu bytes of data at offset %llu, outside its %llu bytes",
                     nl, name.data(), static_cast<unsigned long long>(h.data_size), static_cast<unsigned long long>(h.data_offset),
                     static_cast<unsigned long long>(file_size));
        return false;
    }
    if (h.kind != static_cast<std::uint32_t>(want.kind)) {
        ec = explain(make_error_code(errc::layout_mismatch), "segment '%.*s' holds %s, this program opens it as %s", nl,
                     name.data(), h.kind == static_cast<std::uint32_t>(segment_kind::raw) ? "raw bytes (shared_memory)" : "an object (shared_object<T>)",
                     want.kind == segment_kind::raw ? "raw bytes (shared_memory)" : "an object (shared_object<T>)");
        return false;
    }
    if (want.kind == segment_kind::object) {
        if (h.value_size != want.value_size || h.value_align != want.value_align || h.type_tag != want.type_tag ||
            h.data_offset != want.data_offset() || h.data_size != want.data_size) {
            char theirs[sizeof h.type_name];
            recorded_type_name(h, theirs);
            ec = explain(make_error_code(errc::layout_mismatch),
                         "segment '%.*s' holds '%s' (%llu bytes, aligned to %llu, tag %016llx); this program expects '%.*s' (%llu bytes, aligned to %llu, tag %016llx)",
                         nl, name.data(), theirs, static_cast<unsigned long long>(h.value_size),
                         static_cast<unsigned long long>(h.value_align), static_cast<unsigned long long>(h.type_tag),
                         static_cast<int>(want.type_name.size() > 96 ? 96 : want.type_name.size()), want.type_name.data(),
                         static_cast<unsigned long long>(want.value_size), static_cast<unsigned long long>(want.value_align),
                         static_cast<unsigned long long>(want.type_tag));
            return false;
        }
    } else if (want.data_size != 0 && h.data_size != want.data_size) {
        ec = explain(make_error_code(errc::layout_mismatch), "segment '%.*s' has %llu bytes, this program asked for %llu",
                     nl, name.data(), static_cast<unsigned long long>(h.data_size), static_cast<unsigned long long>(want.data_size));
        return false;
    }
    return true;
}

// Creates the object exclusively (0600 unless widened, O_NOFOLLOW), describes
// it, runs init and publishes it. errc::already_exists if the name is taken.
// If init throws, the header says failed, the name is removed and the
// exception propagates.
inline opened_segment create_segment(std::string_view name, const std::string& path, const segment_layout& want,
                                     permissions p, segment_init init, std::error_code& ec) {
    const std::uint64_t offset = want.data_offset();
    if (want.data_size > (std::uint64_t{1} << 48)) {
        ec = explain(make_error_code(errc::limit_exceeded), "segment '%.*s': %llu bytes is over the 256 TiB ipc allows",
                     static_cast<int>(name.size()), name.data(), static_cast<unsigned long long>(want.data_size));
        return {};
    }
    const std::uint64_t total = offset + want.data_size;
    const ::mode_t mode = p.mode & 0777;
    unique_fd fd(::shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!fd) {
        ec = last_error();
        if (ec == errc::already_exists)
            explain(ec, "segment '%.*s' already exists (/dev/shm%s)", static_cast<int>(name.size()), name.data(), path.c_str());
        return {};
    }
    mapping m = size_and_map(fd.get(), static_cast<std::size_t>(total), mode, ec);
    if (ec) {
        ::shm_unlink(path.c_str());
        return {};
    }
    auto* h = new (m.bytes().data()) segment_header{};
    const process_identity me = self_identity();
    h->magic = segment_magic;
    h->version = segment_version;
    h->creator_pid = me.pid;
    h->creator_start_time = me.start_time;
    h->total_size = total;
    h->data_offset = offset;
    h->data_size = want.data_size;
    h->kind = static_cast<std::uint32_t>(want.kind);
    h->value_size = want.value_size;
    h->value_align = want.value_align;
    h->type_tag = want.type_tag;
    want.type_name.copy(h->type_name, sizeof h->type_name - 1);
    h->state.store(segment_initialising, std::memory_order_release);
    std::byte* data = m.bytes().data() + offset;
    if (init.fn) {
        try {
            init.fn(init.ctx, data);
        } catch (...) {
            h->state.store(segment_failed, std::memory_order_release);
            ::shm_unlink(path.c_str());
            throw;
        }
    }
    h->state.store(segment_ready, std::memory_order_release);
    return {std::move(m), data, want.data_size, true};
}

// Result of one look at an existing segment: usable, not (ec), or "was
// removed under us / its creator gave up" (retry: open_or_create creates anew).
enum class segment_look : unsigned char { ok, failed, retry };

// Opens an existing segment, waiting (bounded) for a live creator to finish.
inline segment_look open_segment(std::string_view name, const std::string& path, const segment_layout& want,
                                 opened_segment& out, std::error_code& ec) noexcept {
    const int nl = static_cast<int>(name.size());
    const auto until = std::chrono::steady_clock::now() + segment_init_wait;
    for (;;) {
        unique_fd fd(::shm_open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0));
        if (!fd) {
            ec = last_error();
            if (ec == errc::not_found)
                explain(ec, "segment '%.*s' does not exist (no /dev/shm%s)", nl, name.data(), path.c_str());
            return segment_look::failed;
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) {
            ec = last_error();
            return segment_look::failed;
        }
        if (!S_ISREG(st.st_mode)) {
            ec = explain(make_error_code(errc::corrupt), "segment '%.*s' is not a regular shared-memory object", nl, name.data());
            return segment_look::failed;
        }
        const auto size = static_cast<std::uint64_t>(st.st_size);
        if (size > 0 && size < sizeof(segment_header)) {
            ec = explain(make_error_code(errc::corrupt), "segment '%.*s' is %llu bytes, too small for its %zu-byte header (truncated?)",
                         nl, name.data(), static_cast<unsigned long long>(size), sizeof(segment_header));
            return segment_look::failed;
        }
        const bool late = std::chrono::steady_clock::now() >= until;
        if (size > 0) {
            mapping m = mapping::map_fd(fd.get(), static_cast<std::size_t>(size), ec);
            if (ec) return segment_look::failed;
            const auto* h = std::launder(reinterpret_cast<const segment_header*>(m.bytes().data()));
            const std::uint32_t s = h->state.load(std::memory_order_acquire);
            if (s != 0) {
                if (!check_segment(name, *h, size, want, ec)) return segment_look::failed;
                if (s == segment_ready) {
                    std::byte* data = m.bytes().data() + h->data_offset;
                    out = {std::move(m), data, h->data_size, false};
                    return segment_look::ok;
                }
                if (s == segment_failed) {
                    ec = explain(make_error_code(errc::corrupt), "segment '%.*s': its creator's initialisation failed (the constructor threw)",
                                 nl, name.data());
                    return segment_look::retry;
                }
                const process_identity creator{static_cast<std::int32_t>(h->creator_pid), h->creator_start_time};
                if (!is_alive(creator)) {
                    // It may have finished after we looked and exited since
                    // (a zombie counts as dead): only a state still
                    // "initialising" now, which nobody can change any more,
                    // means it died constructing. Otherwise look again.
                    if (h->state.load(std::memory_order_acquire) != segment_initialising) continue;
                    ec = explain(make_error_code(errc::corrupt),
                                 "segment '%.*s' was never initialised: its creator (pid %lld) died while constructing it; remove it and create it again",
                                 nl, name.data(), static_cast<long long>(h->creator_pid));
                    return segment_look::failed;
                }
                if (late) {
                    ec = explain(make_error_code(errc::timed_out), "segment '%.*s' is still being initialised by pid %lld after %lld s",
                                 nl, name.data(), static_cast<long long>(h->creator_pid), static_cast<long long>(segment_init_wait.count()));
                    return segment_look::failed;
                }
            }
        }
        if (late) {  // blank all this time: nobody is describing it
            ec = explain(make_error_code(errc::corrupt),
                         "segment '%.*s' is still blank (%llu bytes, no header) after %lld s: its creator died before describing it; remove it",
                         nl, name.data(), static_cast<unsigned long long>(size), static_cast<long long>(segment_init_wait.count()));
            return segment_look::failed;
        }
        detail::sleep_for(std::chrono::milliseconds(1));
    }
}

enum class segment_mode : unsigned char { create, open, open_or_create };

// The three ways in, by name. Throws only what init throws.
inline opened_segment acquire_segment(std::string_view name, segment_mode mode, const segment_layout& want, permissions p,
                                      segment_init init, std::error_code& ec) {
    ec.clear();
    std::string path;
    if (!segment_object_name(name, path, ec)) return {};
    opened_segment out;
    if (mode == segment_mode::create) return create_segment(name, path, want, p, init, ec);
    if (mode == segment_mode::open) {
        (void)open_segment(name, path, want, out, ec);  // out is set only when usable
        return out;
    }
    // Two processes racing here: one creates, the other opens and waits for
    // "ready". A name removed in between, or a creator whose constructor
    // threw (it removes the name), sends us round again.
    for (int attempt = 0; attempt < 100; ++attempt) {
        ec.clear();
        out = create_segment(name, path, want, p, init, ec);
        if (ec != errc::already_exists) return out;
        ec.clear();
        const segment_look r = open_segment(name, path, want, out, ec);
        if (r == segment_look::ok) return out;
        if (r == segment_look::failed && ec != errc::not_found) return {};
    }
    return {};
}

// shm_unlink by name: true if removed. Nothing there is false with no error
// (as ring regions' remove); the throwing form returns false too.
inline bool remove_segment(std::string_view name, std::error_code& ec) noexcept {
    ec.clear();
    std::string path;
    if (!segment_object_name(name, path, ec)) return false;
    if (::shm_unlink(path.c_str()) == 0) return true;
    ec = last_error();
    if (ec == errc::not_found) ec.clear();
    return false;
}

}  // namespace ipc::detail
