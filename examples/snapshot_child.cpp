// snapshot_child: the parent forks a child that writes a snapshot of the
// parent's in-memory data to a file, as Redis writes its RDB file. fork() gives
// the child a copy-on-write image of the data as it was at that instant, so the
// parent goes on changing its data while the child writes. The child reports
// success and the file's size through a pipe; the parent verifies the file.
//
//   ./snapshot_child [records]        (default 100000)
#include <ipc/process.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

struct record {
    std::uint64_t key;
    std::uint64_t value;
};

// What the child tells the parent: trivially copyable, so it travels as one fixed-size message.
struct report {
    int ok;  // 1: written, flushed to disk and renamed into place
    std::uint64_t bytes;
    std::uint64_t records;
};

// FNV-1a over the records: what the parent compares the file with.
std::uint64_t checksum(const record* r, std::size_t n) {
    std::uint64_t h = 1469598103934665603ull;
    const auto* p = reinterpret_cast<const unsigned char*>(r);
    for (std::size_t i = 0; i < n * sizeof(record); ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

// Writes count, then the records, to path + ".tmp", then renames it to path:
// a reader never sees half a snapshot, and a crash leaves the old one.
bool write_snapshot(const std::string& path, const std::vector<record>& db) {
    const std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wbx");  // x: fail rather than follow or reuse an existing file
    if (!f) return false;
    const std::uint64_t n = db.size();
    bool ok = std::fwrite(&n, sizeof n, 1, f) == 1 && std::fwrite(db.data(), sizeof(record), db.size(), f) == db.size() &&
              std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
    ok = std::fclose(f) == 0 && ok;
    return ok && std::rename(tmp.c_str(), path.c_str()) == 0;
}

int main(int argc, char** argv) {
    using namespace std::chrono_literals;
    const std::size_t n = std::max<std::size_t>(1, argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000);
    const std::string path = "/tmp/ipc-example-snapshot-" + std::to_string(::getpid()) + ".bin";

    std::vector<record> db(n);
    for (std::size_t i = 0; i < n; ++i) db[i] = {i, i * i};
    const std::uint64_t at_fork = checksum(db.data(), db.size());

    // fork_with<ToChild, FromChild>: a pipe each way (nothing goes down this one);
    // the lambda runs in the child, which sees db as it was at the fork.
    auto child = ipc::fork_with<int, report>([&](ipc::pipe_receiver<int>&, ipc::pipe_sender<report>& to_parent) {
        report r{};
        if (write_snapshot(path, db)) r = {1, sizeof(std::uint64_t) + db.size() * sizeof(record), db.size()};
        return to_parent.send(r) == ipc::status::ok ? 0 : 1;
    });

    // Meanwhile the parent serves writes: its pages are copied, the child's snapshot is not touched.
    for (auto& r : db) r.value += 1;

    report r{};
    const ipc::status got = child.from_child.recv_for(r, 30s);  // bounded: a dead child cannot hang us
    const auto code = child.process.wait_for(5s);
    if (got != ipc::status::ok || !r.ok || code != 0) {
        std::fprintf(stderr, "the child did not write the snapshot (report: %s, exit %d)\n",
                     got == ipc::status::ok ? "failed" : "none", code.value_or(-1));
        std::remove((path + ".tmp").c_str());
        std::remove(path.c_str());
        return 1;
    }

    // Verify: the size the child reported, the record count, and the data as it was at the fork.
    bool good = false;
    if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
        std::uint64_t count = 0;
        std::vector<record> back(n);
        good = std::fread(&count, sizeof count, 1, f) == 1 && count == n && std::fread(back.data(), sizeof(record), n, f) == n &&
               std::fgetc(f) == EOF && std::ftell(f) == static_cast<long>(r.bytes) && r.records == n &&
               checksum(back.data(), n) == at_fork && checksum(back.data(), n) != checksum(db.data(), n);
        std::fclose(f);
    }
    std::remove(path.c_str());
    std::printf("snapshot of %llu records, %llu bytes: %s\n", static_cast<unsigned long long>(r.records),
                static_cast<unsigned long long>(r.bytes), good ? "verified (the data as at the fork)" : "WRONG");
    return good ? 0 : 1;
}
