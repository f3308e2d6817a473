// ipc/shared_memory.hpp: named shared memory, as raw bytes or as one typed object.
//
//   struct table {
//       ipc::sem::shared_robust_mutex lock;  // see ipc/sem/shared.hpp
//       int rows[64];
//   };
//   auto t = ipc::shared_object<table>::open_or_create("pool");  // the creator alone constructs it
//   std::lock_guard g(t->lock);
//   t->rows[3] += 1;
//
//   auto m = ipc::shared_memory::create("frames", 1 << 20);     // 1 MiB of zeroes
//   std::span<std::byte> b = m.bytes();
//
// Each lives in /dev/shm/ipc.segment.<name> (created 0600 and exclusively,
// opened with O_NOFOLLOW) behind a checked header: magic, version, sizes, and
// for an object sizeof(T), alignof(T) and T's type tag and name, so a segment
// made for `table` refuses to open as `other_table` (errc::layout_mismatch,
// naming both). Every process maps it at its own address: store offsets or
// indices in it, never pointers. The creator constructs T exactly once, even
// when several processes call open_or_create at once; the others wait (up to
// 5 s while the creator is alive) until it is ready. A creator killed while
// constructing leaves a segment every opener refuses with errc::corrupt,
// saying so, until someone removes it. The segment stays until remove(name),
// like a file; closing a handle only unmaps it.
//
// Factories take the name first, and an std::error_code& last for the twin
// that reports ipc's failures there instead of throwing. (An exception that
// T's constructor throws propagates from both, after the half-made segment is
// removed; an ipc::error or std::system_error from it lands in the twin's ec.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#include "detail/segment.hpp"
#include "error.hpp"
#include "open_mode.hpp"
#include "ring/layout.hpp"
#include "sem/shared.hpp"

namespace ipc {

template <class T>
class shared_object;

// N bytes of named shared memory, zero-filled at creation, 64-byte aligned.
class shared_memory {
public:
    shared_memory() noexcept = default;

    // A new segment of `size` bytes (at least 1); errc::already_exists if the name is taken.
    static shared_memory create(std::string_view name, std::size_t size, permissions p = {}) {
        return or_throw(name, detail::segment_mode::create, size, p, "ipc::shared_memory::create");
    }
    static shared_memory create(std::string_view name, std::size_t size, std::error_code& ec) noexcept {
        return make(name, detail::segment_mode::create, size, {}, ec);
    }
    static shared_memory create(std::string_view name, std::size_t size, permissions p, std::error_code& ec) noexcept {
        return make(name, detail::segment_mode::create, size, p, ec);
    }
    // An existing segment of any size; errc::not_found if there is none.
    static shared_memory open(std::string_view name) {
        return or_throw(name, detail::segment_mode::open, 0, {}, "ipc::shared_memory::open");
    }
    static shared_memory open(std::string_view name, std::error_code& ec) noexcept {
        return make(name, detail::segment_mode::open, 0, {}, ec);
    }
    // Opens it, or creates it with `size` bytes; an existing one of another size is errc::layout_mismatch.
    static shared_memory open_or_create(std::string_view name, std::size_t size, permissions p = {}) {
        return or_throw(name, detail::segment_mode::open_or_create, size, p, "ipc::shared_memory::open_or_create");
    }
    static shared_memory open_or_create(std::string_view name, std::size_t size, std::error_code& ec) noexcept {
        return make(name, detail::segment_mode::open_or_create, size, {}, ec);
    }
    static shared_memory open_or_create(std::string_view name, std::size_t size, permissions p, std::error_code& ec) noexcept {
        return make(name, detail::segment_mode::open_or_create, size, p, ec);
    }

    // Removes the name (raw or typed segment alike); processes that have it
    // mapped keep using it. False if there was nothing to remove (not an error).
    static bool remove(std::string_view name) {
        std::error_code ec;
        const bool r = detail::remove_segment(name, ec);
        detail::throw_if(ec, "ipc::shared_memory::remove");
        return r;
    }
    static bool remove(std::string_view name, std::error_code& ec) noexcept { return detail::remove_segment(name, ec); }

    std::span<std::byte> bytes() const noexcept { return {data_, size_}; }
    std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    // True if this handle's factory made the segment (open_or_create: it was not there).
    bool created() const noexcept { return created_; }
    bool is_open() const noexcept { return data_ != nullptr; }
    explicit operator bool() const noexcept { return is_open(); }

    // Unmaps (the segment itself stays until remove).
    void close() noexcept {
        map_.reset();
        data_ = nullptr;
        size_ = 0;
        created_ = false;
    }

private:
    template <class T>
    friend class shared_object;

    explicit shared_memory(detail::opened_segment s) noexcept
        : map_(std::move(s.map)), data_(s.data), size_(static_cast<std::size_t>(s.size)), created_(s.created) {}

    static shared_memory make(std::string_view name, detail::segment_mode mode, std::size_t size, permissions p,
                              std::error_code& ec) noexcept {
        ec.clear();
        if (size == 0 && mode != detail::segment_mode::open) {
            ec = detail::explain(make_error_code(errc::limit_exceeded), "segment '%.*s': a size of 0 bytes; give the size to create",
                                 static_cast<int>(name.size()), name.data());
            return {};
        }
        detail::segment_layout want;
        want.data_size = size;
        // No initialiser runs (the bytes start as zeroes), so nothing can throw.
        return shared_memory(detail::acquire_segment(name, mode, want, p, {}, ec));
    }
    static shared_memory or_throw(std::string_view name, detail::segment_mode mode, std::size_t size, permissions p, const char* what) {
        std::error_code ec;
        shared_memory m = make(name, mode, size, p, ec);
        detail::throw_if(ec, what);
        return m;
    }

    detail::mapping map_;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    bool created_ = false;
};

namespace detail {

template <class... A>
struct first_is_permissions : std::false_type {};
template <class A0, class... A>
struct first_is_permissions<A0, A...> : std::is_same<std::remove_cvref_t<A0>, permissions> {};

template <class... A>
struct last_is_error_code : std::false_type {};
template <class A0, class... A>
struct last_is_error_code<A0, A...> : std::is_same<std::tuple_element_t<sizeof...(A), std::tuple<A0, A...>>, std::error_code&> {};

// T(args...) where that is a constructor call, else T{args...} (an aggregate:
// clang++ 14 has no parenthesised aggregate initialisation).
template <class T, class... A>
concept placeable = std::is_constructible_v<T, A...> || requires(A&&... a) { T{std::forward<A>(a)...}; };

template <class T, class... A>
void construct_in(std::byte* where, A&&... a) {
    static_assert(placeable<T, A...>, "ipc::shared_object<T>: T cannot be constructed from the arguments given to create / open_or_create");
    if constexpr (std::is_constructible_v<T, A...>) ::new (static_cast<void*>(where)) T(std::forward<A>(a)...);
    else ::new (static_cast<void*>(where)) T{std::forward<A>(a)...};
}

}  // namespace detail

// One T in a named segment: the creator constructs it with the arguments
// given to create / open_or_create (value-initialised without any); nobody
// else constructs, copies or destroys it. What T may be:
//  - trivially destructible (its destructor never runs: the object outlives
//    every process), which also keeps out std::string, std::vector and smart
//    pointers, whose heap is one process's;
//  - without pointers (no trait can check that: store offsets or indices)
//    and without virtual functions;
//  - anything else goes: atomics, ipc::sem::shared_semaphore and
//    shared_robust_mutex (constructed by T's constructor, so exactly once),
//    nested structs and arrays.
// A program opening it must have the same T: size, alignment and type tag
// (ipc::ring::type_name, the same under g++ and clang++) are checked.
template <class T>
class shared_object {
    static_assert(std::is_object_v<T> && !std::is_array_v<T> && std::is_same_v<T, std::remove_cv_t<T>>,
                  "ipc::shared_object<T>: T must be a non-const class or scalar type (wrap an array in a struct)");
    static_assert(!std::is_pointer_v<T> && !std::is_member_pointer_v<T>,
                  "ipc::shared_object<T>: a pointer means nothing in another process; store an offset or an index");
    static_assert(!std::is_polymorphic_v<T>,
                  "ipc::shared_object<T>: T has virtual functions, whose table pointer is valid only in the process that built it");
    static_assert(std::is_trivially_destructible_v<T>,
                  "ipc::shared_object<T>: T must be trivially destructible: its destructor never runs (the object outlives "
                  "every process); this also keeps out std::string, std::vector and smart pointers, which point into one process's heap");
    static_assert(alignof(T) <= 4096, "ipc::shared_object<T>: T may be aligned to a page (4096 bytes) at most");

public:
    using element_type = T;

    shared_object() noexcept = default;

    // A new segment holding T(args...); errc::already_exists if the name is
    // taken. Optional first argument: ipc::permissions{0660} (0600 otherwise).
    // Twin: an std::error_code& as the last argument.
    template <class... Args>
    static shared_object create(std::string_view name, Args&&... args) {
        return make<Args...>(name, detail::segment_mode::create, std::forward_as_tuple(std::forward<Args>(args)...),
                             "ipc::shared_object::create");
    }
    // An existing segment holding a T; errc::not_found if there is none,
    // errc::layout_mismatch if it holds something else, errc::corrupt if it
    // is damaged or its creator died constructing it.
    static shared_object open(std::string_view name) {
        std::error_code ec;
        shared_object o = open(name, ec);
        detail::throw_if(ec, "ipc::shared_object::open");
        return o;
    }
    static shared_object open(std::string_view name, std::error_code& ec) noexcept {
        return shared_object(detail::acquire_segment(name, detail::segment_mode::open, layout(), {}, {}, ec));
    }
    // Opens it, or creates it holding T(args...); created() tells which.
    template <class... Args>
    static shared_object open_or_create(std::string_view name, Args&&... args) {
        return make<Args...>(name, detail::segment_mode::open_or_create, std::forward_as_tuple(std::forward<Args>(args)...),
                             "ipc::shared_object::open_or_create");
    }

    // As shared_memory::remove (the same names: a segment is raw or typed).
    static bool remove(std::string_view name) { return shared_memory::remove(name); }
    static bool remove(std::string_view name, std::error_code& ec) noexcept { return shared_memory::remove(name, ec); }

    T* get() const noexcept { return seg_.data_ ? std::launder(reinterpret_cast<T*>(seg_.data_)) : nullptr; }
    T& operator*() const noexcept { return *get(); }
    T* operator->() const noexcept { return get(); }
    bool created() const noexcept { return seg_.created(); }
    bool is_open() const noexcept { return seg_.is_open(); }
    explicit operator bool() const noexcept { return is_open(); }
    // Unmaps; the object stays in the segment until remove.
    void close() noexcept { seg_.close(); }

private:
    explicit shared_object(detail::opened_segment s) noexcept : seg_(std::move(s)) {}

    static detail::segment_layout layout() noexcept {
        detail::segment_layout l;
        l.kind = detail::segment_kind::object;
        l.data_size = sizeof(T);
        l.data_align = alignof(T);
        l.value_size = sizeof(T);
        l.value_align = alignof(T);
        l.type_tag = ring::type_tag<T>;
        l.type_name = ring::type_name<T>::value;
        return l;
    }

    // Splits (permissions?, constructor arguments..., error_code&?) and runs
    // the factory; the constructor runs inside it, in the creator only. A is
    // given explicitly (the factory's deduced Args: error_code& stays a reference).
    template <class... A>
    static shared_object make(std::string_view name, detail::segment_mode mode, std::tuple<A&&...> args, const char* what) {
        constexpr bool has_p = detail::first_is_permissions<A...>::value;
        constexpr bool has_ec = detail::last_is_error_code<A...>::value;
        constexpr std::size_t first = has_p ? 1 : 0;
        constexpr std::size_t count = sizeof...(A) - first - (has_ec ? 1 : 0);
        permissions p{};
        if constexpr (has_p) p = std::get<0>(args);
        auto construct = [&]<std::size_t... I>(std::byte* where, std::index_sequence<I...>) {
            detail::construct_in<T>(where, std::forward<std::tuple_element_t<first + I, std::tuple<A...>>>(std::get<first + I>(args))...);
        };
        auto run = [&](std::byte* where) { construct(where, std::make_index_sequence<count>{}); };
        const detail::segment_init init{[](void* ctx, std::byte* where) { (*static_cast<decltype(run)*>(ctx))(where); }, &run};
        if constexpr (has_ec) {
            std::error_code& ec = std::get<sizeof...(A) - 1>(args);
            try {
                return shared_object(detail::acquire_segment(name, mode, layout(), p, init, ec));
            } catch (const std::system_error& e) {
                ec = e.code();
                return {};
            }
        } else {
            std::error_code ec;
            shared_object o(detail::acquire_segment(name, mode, layout(), p, init, ec));
            detail::throw_if(ec, what);
            return o;
        }
    }

    shared_memory seg_;
};

}  // namespace ipc
