// fuzz/image.hpp: a fuzzer's input as a shared region would hold it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

namespace ipc_fuzz {

// An image of the input, cache-line aligned as a mapping is.
struct image {
    image(const std::uint8_t* data, std::size_t size)
        : size_(size), mem_(static_cast<std::byte*>(std::aligned_alloc(64, (size + 63) / 64 * 64 + 64))) {
        if (data && size) std::memcpy(mem_.get(), data, size);
    }
    std::span<std::byte> bytes() { return {mem_.get(), size_}; }

private:
    struct freer {
        void operator()(std::byte* p) const { std::free(p); }
    };
    std::size_t size_;
    std::unique_ptr<std::byte, freer> mem_;
};

}  // namespace ipc_fuzz
