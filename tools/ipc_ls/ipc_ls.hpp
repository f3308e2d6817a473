// What ipc-ls knows about one object, and the parts of the tool that fill it:
//   tools/ipc_ls.cpp          shared-memory regions (rings, mutexes), the stale rules, main
//   tools/ipc_ls/kernel.cpp   message queues and semaphores (POSIX and System V)
//   tools/ipc_ls/files.cpp    FIFOs and Unix sockets, and who holds what (/proc)
//   tools/ipc_ls/output.cpp   --help, the table and the JSON lines
#pragma once

#include <sys/stat.h>
#include <time.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ipc_ls {

struct file_id {
    dev_t dev = 0;
    ino_t ino = 0;
    auto operator<=>(const file_id&) const = default;
};

// Who made an object: ipc (its name prefix in /dev/shm, or ipc's ring header),
// another program, or nobody can tell (queues, semaphores, FIFOs and sockets
// carry no mark of their maker).
enum class origin { ipc, foreign, unknown };

struct entry {
    std::string name;        // as the library names it (posix: without "ipc."), sysv:KEY, or a path
    std::string where;       // the KIND column: posix_shm, sysv_shm, mutex, posix_mq, sysv_mq, posix_sem, sysv_sem, fifo, unix_socket
    std::string leaf;        // fifo, unix_socket: the file name in its directory (what PREFIX matches)
    std::string dir;
    std::string file;        // the file name a /proc/PID/fd link ends in (objects with an inode), else ""
    origin from = origin::unknown;
    file_id id;              // objects with an inode: the inode inspected
    unsigned uid = 0;
    unsigned mode = 0;
    double age = 0;          // seconds since the object was made or last changed
    std::string verdict = "ok";  // or why the object could not be read
    // Columns that mean something for some kinds only: empty is "-" (JSON null).
    std::optional<unsigned long long> size, capacity, fill, message_size;
    std::optional<unsigned> holders;  // processes attached, mapping or holding it open
    std::optional<long long> key;     // System V
    std::vector<long long> values;    // semaphores: each one's value
    std::string kind = "-";  // the RING column: spsc, mpmc, bytes
    // Rings: fields only their kind has (ring::description), e.g. mpmc's delivery.
    struct detail_field {
        std::string name, value;
        bool number;
    };
    std::vector<detail_field> details;
    // Rings: rows of a table only their kind has, e.g. a broadcast ring's
    // subscribers (what = "subscriber"), each with its own fields.
    struct detail_row {
        std::string what;
        std::vector<detail_field> fields;
    };
    std::vector<detail_row> rows;
    unsigned senders_alive = 0, senders_dead = 0, receivers_alive = 0, receivers_dead = 0, untracked = 0;
    bool ring = false;
    bool unformatted = false;  // empty, or header not formatted yet: a creator at work, or one that died at it
    bool ipc_magic = false;    // the header starts with ipc's magic
    bool held = false;         // attached, mapped, open or bound by a process (see observe())
    bool refused = false;      // unix_socket: connect refused
    bool no_reader = false;    // fifo: nobody reads it
    long long creator = 0;     // rings: the pid that formatted it (other System V segments: shm_cpid)
    bool creator_alive = false;
    int sysv_id = -1;
    pid_t sysv_cpid = 0;
    time_t sysv_ctime = 0;
    // Set by judge():
    bool stale = false;
    bool removable = false;
    std::string state_text;
};

inline double seconds_since(timespec t) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<double>(now.tv_sec - t.tv_sec) + static_cast<double>(now.tv_nsec - t.tv_nsec) / 1e9;
}

// Age from the later of ctime and mtime: the youngest the object can be.
inline double age_of(const struct stat& sb) {
    const timespec& c = sb.st_ctim;
    const timespec& m = sb.st_mtim;
    return seconds_since(c.tv_sec > m.tv_sec || (c.tv_sec == m.tv_sec && c.tv_nsec > m.tv_nsec) ? c : m);
}

inline void take_stat(const struct stat& sb, entry& e) {
    e.id = {sb.st_dev, sb.st_ino};
    e.uid = sb.st_uid;
    e.mode = sb.st_mode & 07777;
    e.age = age_of(sb);
}

// The name System V objects are listed under: their key, in decimal as
// /proc/sysvipc shows it, or their id when they have none (IPC_PRIVATE, 0).
inline std::string sysv_name(long long key, int id) {
    return key == 0 ? "sysv:private:" + std::to_string(id) : "sysv:" + std::to_string(key);
}

// kernel.cpp. Notes for the user (what could not be listed, and why) go to `notes`.
void scan_posix_mq(const std::vector<std::string>& named, std::vector<entry>& out, std::vector<std::string>& notes);
bool inspect_posix_sem(int dirfd, const std::string& file, entry& e);
void scan_sysv_mq(std::vector<entry>& out);
void scan_sysv_sem(std::vector<entry>& out);

// files.cpp
bool inspect_file(const std::string& dir, int dirfd, const std::string& leaf, entry& e);
void scan_dir(const std::string& dir, std::vector<entry>& out);
void observe(std::vector<entry>& es);

// output.cpp
extern const char* const usage_text;
std::string help_text();
void print_header();
void print_row(const entry& e, const std::string& state);
void print_detail_rows(const entry& e);
void print_json(const entry& e, const std::string& state, bool removed);

}  // namespace ipc_ls
