// ipc/codec.hpp: how a message type becomes bytes and back.
//
// ipc::codec<T> is the customisation point. Provide either
//   static std::span<const std::byte> bytes(const T&)          (contiguous: sent without a copy)
// or
//   static std::size_t size(const T&);
//   static void encode(const T&, std::span<std::byte> out);    (out.size() == size(v))
// and
//   static bool decode(std::span<const std::byte> in, T& out); (false: not a valid T)
// Optionally
//   static std::span<std::byte> writable(T& out, std::size_t n);
// makes out hold n bytes and returns them, so a receiver can read a payload
// straight into out (an empty span: not possible for this n).
// Trivially copyable types, std::string and vectors of byte-sized elements
// come ready.
#pragma once

#include "version.hpp" // first: the C++20 check

#include <concepts>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace ipc {

template <class T>
struct codec;

template <class T>
    requires std::is_trivially_copyable_v<T>
struct codec<T> {
    static std::span<const std::byte> bytes(const T& v) noexcept {
        return std::as_bytes(std::span<const T, 1>(&v, 1));
    }
    static std::span<std::byte> writable(T& out, std::size_t n) noexcept {
        if (n != sizeof(T)) return {};
        return std::as_writable_bytes(std::span<T, 1>(&out, 1));
    }
    static bool decode(std::span<const std::byte> in, T& out) noexcept {
        if (in.size() != sizeof(T)) return false;
        std::memcpy(static_cast<void*>(&out), in.data(), sizeof(T));
        return true;
    }
};

namespace detail {
template <class C>
concept byte_container = requires(C& c, const C& cc, std::size_t n) {
    typename C::value_type;
    requires sizeof(typename C::value_type) == 1;
    requires std::is_trivially_copyable_v<typename C::value_type>;
    { cc.data() } -> std::convertible_to<const typename C::value_type*>;
    { cc.size() } -> std::convertible_to<std::size_t>;
    c.assign(cc.data(), cc.data());
};

template <class C>
struct byte_container_codec {
    static std::span<const std::byte> bytes(const C& v) noexcept {
        return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
    }
    static std::span<std::byte> writable(C& out, std::size_t n) {
        out.resize(n);
        return {reinterpret_cast<std::byte*>(out.data()), n};
    }
    static bool decode(std::span<const std::byte> in, C& out) {
        // assign() keeps the capacity a reused buffer already has: no allocation in steady state.
        auto p = reinterpret_cast<const typename C::value_type*>(in.data());
        out.assign(p, p + in.size());
        return true;
    }
};
}  // namespace detail

template <class Ch, class Tr, class A>
struct codec<std::basic_string<Ch, Tr, A>> : detail::byte_container_codec<std::basic_string<Ch, Tr, A>> {
    static_assert(sizeof(Ch) == 1, "ipc::codec: only strings of byte-sized characters are encoded out of the box");
};

template <class E, class A>
    requires(sizeof(E) == 1 && std::is_trivially_copyable_v<E>)
struct codec<std::vector<E, A>> : detail::byte_container_codec<std::vector<E, A>> {};

// The shapes a codec can take.
template <class T>
concept contiguous_codec = requires(const T& v) {
    { codec<T>::bytes(v) } -> std::convertible_to<std::span<const std::byte>>;
};

template <class T>
concept encoding_codec = requires(const T& v, std::span<std::byte> out) {
    { codec<T>::size(v) } -> std::convertible_to<std::size_t>;
    codec<T>::encode(v, out);
};

template <class T>
concept encodable = contiguous_codec<T> || encoding_codec<T>;

template <class T>
concept writable_codec = requires(T& out, std::size_t n) {
    { codec<T>::writable(out, n) } -> std::same_as<std::span<std::byte>>;
};

template <class T>
concept decodable = requires(std::span<const std::byte> in, T& out) {
    { codec<T>::decode(in, out) } -> std::convertible_to<bool>;
};

template <class T>
inline std::size_t encoded_size(const T& v) {
    if constexpr (contiguous_codec<T>) return codec<T>::bytes(v).size();
    else return codec<T>::size(v);
}

}  // namespace ipc
