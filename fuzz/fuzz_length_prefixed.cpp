// libFuzzer: arbitrary bytes through a length-prefixed stream channel.
#include "memory_stream.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    constexpr std::size_t max = 512;
    ipc_fuzz::drain<std::string>(data, size, ipc::framing::length_prefixed(max), [](const std::string& s) {
        if (s.size() > max) __builtin_trap();
    });
    return 0;
}
