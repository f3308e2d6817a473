// libFuzzer: arbitrary bytes through a line channel.
#include "memory_stream.hpp"

#include <cstring>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    constexpr std::size_t max = 64;
    ipc_fuzz::drain<std::string>(data, size, ipc::framing::delimited('\n', max), [](const std::string& s) {
        if (s.size() > max || s.find('\n') != std::string::npos) __builtin_trap();
    });
    return 0;
}
