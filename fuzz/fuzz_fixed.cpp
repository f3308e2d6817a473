// libFuzzer: arbitrary bytes through a fixed-size record channel.
#include "memory_stream.hpp"

struct record {
    std::uint32_t a;
    std::uint16_t b;
    char c[10];
};

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    ipc_fuzz::drain<record>(data, size, ipc::framing::fixed{}, [](const record&) {});
    return 0;
}
