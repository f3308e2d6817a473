// libFuzzer: arbitrary bytes as rpc frames, and as a stream cut by
// rpc::socket_link, through the decoder and the server's answer. Every frame the decoder
// accepts stays inside the input; every answer is a frame the decoder
// accepts; the stream never yields a frame over rpc::max_frame_size.
#include <ipc/rpc/server.hpp>

#include "memory_stream.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

// memory_stream as the socket of a socket_link: reads in fuzzer-chosen chunks, writes nowhere.
struct memory_socket : ipc_fuzz::memory_stream {
    using memory_stream::memory_stream;
    int native_handle() const noexcept { return -1; }
    bool is_open() const noexcept { return true; }
    std::size_t write_some(std::span<const std::span<const std::byte>>, ipc::io_mode, std::error_code& ec) noexcept {
        ec = ipc::make_error_code(ipc::errc::peer_closed);
        return 0;
    }
};

struct args {
    int x;
};

const ipc::rpc::server& fuzz_server() {
    static const ipc::rpc::server srv = [] {
        ipc::rpc::server s;
        s.on("Coordinator.Example", [](const args& a) { return args{a.x + 1}; });
        s.on("Echo", [](const std::string& t) { return t; });
        s.on("Throw", [](const int&) -> int { throw std::runtime_error("thrown"); });
        return s;
    }();
    return srv;
}

void check_frame(std::span<const std::byte> in, bool& greeted) {
    ipc::rpc::frame_view v;
    std::error_code ec;
    if (ipc::rpc::decode(in, v, ec)) {
        const auto* lo = reinterpret_cast<const char*>(in.data());
        if (v.method.size() > ipc::rpc::max_method_length || v.method.data() < lo ||
            v.method.data() + v.method.size() > lo + in.size() || v.payload.data() + v.payload.size() != in.data() + in.size())
            __builtin_trap();
    }
    ipc::rpc::detail::frame_buffer out;
    const bool keep = fuzz_server().answer(in, out, greeted);
    ipc::rpc::frame_view a;
    if (!ipc::rpc::decode(out.bytes, a, ec)) __builtin_trap();  // the server only says well-formed things
    if (!keep && a.head.kind != ipc::rpc::frame_kind::error) __builtin_trap();
}

void write_seed(const char* dir, const char* name, const std::vector<std::byte>& bytes) {
    const std::string path = std::string(dir) + "/" + name;
    if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
        std::fwrite(bytes.data(), 1, bytes.size(), f);
        std::fclose(f);
    }
}

// Appends a frame as a stream carries it: 4-byte little-endian length, then the frame.
void append_framed(std::vector<std::byte>& out, const ipc::rpc::detail::frame_buffer& f) {
    const auto n = static_cast<std::uint32_t>(f.bytes.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(n >> (8 * i)));
    out.insert(out.end(), f.bytes.begin(), f.bytes.end());
}

}  // namespace

// With IPC_FUZZ_SEEDS=<corpus dir> (fuzz/run.sh sets it): a hello frame alone,
// and a stream of a handshake, a good call, a call of the wrong type and an
// unknown method, so the fuzzer starts past the magic and the length checks.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* dir = std::getenv("IPC_FUZZ_SEEDS");
    if (!dir) return 0;
    namespace rpc = ipc::rpc;
    std::error_code ec;
    rpc::detail::frame_buffer f;
    rpc::header h;
    h.kind = rpc::frame_kind::hello;
    (void)rpc::detail::encode_bytes(f, h, {}, {}, ec);
    write_seed(dir, "seed-hello", f.bytes);

    std::vector<std::byte> stream(8, std::byte{0xff});  // chunk sizes for memory_stream
    append_framed(stream, f);
    h.kind = rpc::frame_kind::request;
    h.id = 1;
    h.request_tag = ipc::ring::type_tag<args>;
    h.reply_tag = ipc::ring::type_tag<args>;
    (void)rpc::detail::encode(f, h, "Coordinator.Example", args{99}, ec);
    append_framed(stream, f);
    h.id = 2;
    h.request_tag = ipc::ring::type_tag<std::string>;
    (void)rpc::detail::encode(f, h, "Coordinator.Example", std::string("99"), ec);
    append_framed(stream, f);
    h.id = 3;
    (void)rpc::detail::encode(f, h, "No.Such", std::string("x"), ec);
    append_framed(stream, f);
    write_seed(dir, "seed-stream", stream);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The whole input as one frame, before and after the handshake.
    const std::span<const std::byte> whole(reinterpret_cast<const std::byte*>(data), size);
    bool fresh = false, greeted = true;
    check_frame(whole, fresh);
    check_frame(whole, greeted);
    // And as a stream cut by the link a socket connection uses (its own
    // read-ahead buffer), the frames answered in turn as one connection's.
    ipc::rpc::socket_link<memory_socket> link{memory_socket(data, size)};
    ipc::rpc::detail::frame_buffer f;
    bool conn = false;
    for (std::size_t guard = 0; guard <= size + 1; ++guard) {
        std::error_code ec;
        if (link.recv(f, ipc::deadline::immediate(), ec) != ipc::status::ok) return 0;
        if (f.bytes.size() > ipc::rpc::max_frame_size) __builtin_trap();
        check_frame(f.bytes, conn);
    }
    __builtin_trap();  // more frames than bytes: the link invented data
    return 0;
}
