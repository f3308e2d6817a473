// ipc-ls: lists ipc's shared-memory rings (and message queues) and who uses
// them, so stale objects left by crashed programs can be found and removed.
//
//   ipc-ls                  a table: name, owner, mode, size, ring, fill, users
//                           (and ipc::sem::robust_mutex objects, kind mutex)
//   ipc-ls --json           the same as JSON lines, for scripts
//   ipc-ls --remove-stale   also removes every ring with no live user
//   ipc-ls ... PREFIX       only objects whose name starts with PREFIX
//   ipc-ls --dir PATH ...   also lists the FIFOs and Unix socket files in PATH
//                           (repeatable; not recursive; PREFIX matches the file name)
//   ipc-ls --remove-stale --remove-fifos-without-reader
//                           also removes the FIFOs no process reads
//
// FIFOs and sockets live wherever a program put them, so only the directories
// named with --dir are scanned; none by default, not even /tmp, because a probe
// connects to every socket it finds (other programs' too) and that is to be
// asked for, not done by surprise. Entries are lstat()ed and never followed:
// a symbolic link is not listed, whatever it points to. Probes:
//   socket: connect(SOCK_STREAM), then connect(SOCK_SEQPACKET). A success is
//     "live" (the listener sees a connection that closes at once), a refusal
//     (ECONNREFUSED: nothing is bound to the file, or a stream socket bound but
//     not listening yet) is "stale"; a datagram socket refuses both types, so
//     whether anyone reads it cannot be told: "unknown".
//   FIFO: open(O_WRONLY | O_NONBLOCK) succeeds only if a reader has it open:
//     "live", else "no reader". The probe closes at once, so a reader that
//     had no writer yet sees one come and go (its next read may return EOF).
// --remove-stale removes stale socket files (after checking, right before the
// unlink, that the name is still that socket); FIFOs only with
// --remove-fifos-without-reader, after probing them again.
//
// Regions are read-only mapped and treated as untrusted bytes: every field is
// checked before use, and a region that fails a check is listed as such.
// "stale" means no live process is registered in the region's peer table;
// a region created but not opened yet is stale too, so --remove-stale is for
// when no program is starting up on it.
#include <ipc/ring/layout.hpp>
#include <ipc/sem/robust_mutex.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using state = ipc::ring::shared_state<ipc::ring::two_indices>;
constexpr std::size_t state_size = sizeof(state);

struct entry {
    std::string name;        // as the library names it (posix: without "ipc.")
    std::string where;       // posix_shm, sysv_shm, posix_mq, mutex, fifo, unix_socket
    std::string leaf;        // fifo, unix_socket: the file name in its directory (what PREFIX matches)
    std::string dir;
    ino_t ino = 0;
    bool no_reader = false;  // a FIFO nobody reads
    unsigned uid = 0;
    unsigned mode = 0;
    unsigned long long size = 0;
    std::string verdict = "ok";  // or why the region could not be read
    std::string kind = "-";
    unsigned long long capacity = 0, fill = 0;
    unsigned senders_alive = 0, senders_dead = 0, receivers_alive = 0, receivers_dead = 0, untracked = 0;
    bool ring = false;
    bool stale = false;
    int sysv_id = -1;
};

// Reads what a region's header says, checking everything against `size`.
void inspect(const std::byte* p, std::size_t size, entry& e) {
    if (size < state_size || !ipc::ring::is_formatted({p, size})) {
        e.verdict = "not a formatted ipc ring";
        return;
    }
    const auto* st = reinterpret_cast<const state*>(p);
    const auto& h = st->hdr;
    if (h.magic != ipc::ring::region_magic) {
        e.verdict = "bad magic";
        return;
    }
    if (h.version != ipc::ring::layout_version) {
        e.verdict = "layout version " + std::to_string(h.version);
        return;
    }
    switch (h.kind) {
    case 1: e.kind = "spsc"; break;
    case 2: e.kind = "mpmc"; break;
    case 3: e.kind = "bytes"; break;
    default: e.verdict = "unknown ring kind"; return;
    }
    if (!ipc::ring::detail::is_pow2(h.capacity) || h.total_size > size || h.data_offset < state_size ||
        h.data_offset > h.total_size) {
        e.verdict = "corrupt header";
        return;
    }
    e.ring = true;
    e.capacity = h.capacity;
    const std::uint64_t head = st->ctl.head.load(std::memory_order_acquire);
    const std::uint64_t tail = st->ctl.tail.load(std::memory_order_acquire);
    e.fill = head - tail <= h.capacity ? head - tail : h.capacity;
    e.untracked = st->members.untracked.load(std::memory_order_acquire);
    const auto& t = st->peers;
    for (std::size_t i = 0; i < ipc::ring::max_peers; ++i) {
        const std::uint64_t s = t.slots[i].state.load(std::memory_order_acquire);
        if (s == 0) continue;
        // A pid <= 0 would make kill() test a whole group: the slot is garbage.
        const bool alive = ipc::ring::peer_table::pid_of(s) > 0 && t.owner_alive(i);
        switch (static_cast<ipc::detail::peer_role>(t.slots[i].role.load(std::memory_order_relaxed))) {
        case ipc::detail::peer_role::sender: (alive ? e.senders_alive : e.senders_dead)++; break;
        case ipc::detail::peer_role::receiver: (alive ? e.receivers_alive : e.receivers_dead)++; break;
        default: break;
        }
    }
    e.stale = e.senders_alive == 0 && e.receivers_alive == 0 && e.untracked == 0;
}

// A robust mutex (ipc::sem::robust_mutex) has no table of users: it is listed
// with its header's verdict, never as stale.
void inspect_mutex(const std::byte* p, std::size_t len, entry& e) {
    std::error_code ec;
    const auto v = ipc::sem::detail::check_layout({p, len}, ec);
    if (v == ipc::sem::detail::layout_check::unformatted) e.verdict = "not formatted (yet)";
    else if (v == ipc::sem::detail::layout_check::bad) e.verdict = ec.message();
}
static_assert(state_size >= ipc::sem::detail::robust_mutex_handle::storage_size);

void scan_posix(std::vector<entry>& out) {
    DIR* d = ::opendir("/dev/shm");
    if (!d) return;
    while (dirent* de = ::readdir(d)) {
        const std::string file = de->d_name;
        if (file.rfind("ipc.", 0) != 0) continue;
        entry e;
        const std::string_view mutex_prefix = ipc::sem::detail::robust_mutex_prefix;
        const bool mutex = file.rfind(mutex_prefix, 0) == 0;
        e.where = mutex ? "mutex" : "posix_shm";
        e.name = file.substr(mutex ? mutex_prefix.size() : 4);
        struct stat sb {};
        if (::fstatat(::dirfd(d), file.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) continue;
        e.uid = sb.st_uid;
        e.mode = sb.st_mode & 07777;
        e.size = static_cast<unsigned long long>(sb.st_size);
        ipc::detail::unique_fd fd(::openat(::dirfd(d), file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
        struct stat now {};
        const std::size_t len = e.size < state_size ? static_cast<std::size_t>(e.size) : state_size;
        if (!fd || ::fstat(fd.get(), &now) != 0 || now.st_ino != sb.st_ino) {
            e.verdict = std::string("unreadable: ") + std::strerror(errno);  // another user's, or replaced meanwhile
        } else if (len == 0) {
            e.verdict = "empty";
        } else if (void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd.get(), 0); m != MAP_FAILED) {
            if (mutex) inspect_mutex(static_cast<const std::byte*>(m), len, e);
            else inspect(static_cast<const std::byte*>(m), static_cast<std::size_t>(e.size), e);
            ::munmap(m, len);
        } else {
            e.verdict = std::string("unreadable: ") + std::strerror(errno);
        }
        out.push_back(std::move(e));
    }
    ::closedir(d);
}

// System V segments carry no name: those whose first bytes are an ipc ring
// header are listed as sysv:<key>.
void scan_sysv(std::vector<entry>& out) {
    std::ifstream in("/proc/sysvipc/shm");
    std::string line;
    std::getline(in, line);  // column titles
    while (std::getline(in, line)) {
        std::istringstream f(line);
        long long key = 0, id = 0, size = 0;
        unsigned perms = 0;
        long long cpid, lpid, nattch, uid;
        if (!(f >> key >> id >> perms >> size >> cpid >> lpid >> nattch >> uid)) continue;
        void* m = ::shmat(static_cast<int>(id), nullptr, SHM_RDONLY);
        if (m == reinterpret_cast<void*>(-1)) continue;  // not ours to read
        entry e;
        inspect(static_cast<const std::byte*>(m), static_cast<std::size_t>(size), e);
        ::shmdt(m);
        if (!e.ring) continue;
        e.where = "sysv_shm";
        e.name = "sysv:" + std::to_string(key);
        e.uid = static_cast<unsigned>(uid);
        e.mode = perms & 0777;
        e.size = static_cast<unsigned long long>(size);
        e.sysv_id = static_cast<int>(id);
        out.push_back(std::move(e));
    }
}

void scan_mqueue(std::vector<entry>& out) {
    DIR* d = ::opendir("/dev/mqueue");
    if (!d) return;
    while (dirent* de = ::readdir(d)) {
        const std::string file = de->d_name;
        if (file.rfind("ipc", 0) != 0) continue;
        struct stat sb {};
        if (::fstatat(::dirfd(d), file.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0) continue;
        entry e;
        e.where = "posix_mq";
        e.name = file;
        e.uid = sb.st_uid;
        e.mode = sb.st_mode & 07777;
        e.verdict = "message queue (users unknown)";
        out.push_back(std::move(e));
    }
    ::closedir(d);
}

// What a connect() to the socket file at `path` says.
enum class probe { live, stale, unknown };

probe probe_socket(const std::string& path, std::string& why) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) {
        why = "unknown (path too long to probe)";
        return probe::unknown;
    }
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    for (int type : {SOCK_STREAM, SOCK_SEQPACKET}) {
        // Nonblocking: a listener with a full backlog answers EAGAIN instead of making us wait.
        ipc::detail::unique_fd s(::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!s) {
            why = std::string("unknown (socket: ") + std::strerror(errno) + ")";
            return probe::unknown;
        }
        const int rc = ipc::detail::retry_eintr([&] { return ::connect(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a); });
        if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) return probe::live;
        if (errno == ECONNREFUSED) return probe::stale;
        if (errno != EPROTOTYPE) {
            why = std::string("unknown (") + std::strerror(errno) + ")";
            return probe::unknown;
        }
    }
    why = "unknown (datagram socket)";
    return probe::unknown;
}

// True if a reader has the FIFO `leaf` in `dirfd` open; sets `why` if it cannot tell.
bool fifo_has_reader(int dirfd, const std::string& leaf, ino_t ino, std::string& why) {
    ipc::detail::unique_fd f(::openat(dirfd, leaf.c_str(), O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
    if (!f) {
        if (errno != ENXIO) why = std::string("unknown (") + std::strerror(errno) + ")";
        return false;
    }
    struct stat sb {};
    if (::fstat(f.get(), &sb) != 0 || !S_ISFIFO(sb.st_mode) || sb.st_ino != ino) why = "unknown (replaced meanwhile)";
    return true;
}

void scan_dir(const std::string& dir, std::vector<entry>& out) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
        std::fprintf(stderr, "ipc-ls: %s: %s\n", dir.c_str(), std::strerror(errno));
        return;
    }
    while (dirent* de = ::readdir(d)) {
        const std::string file = de->d_name;
        struct stat sb {};
        if (::fstatat(::dirfd(d), file.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (!S_ISFIFO(sb.st_mode) && !S_ISSOCK(sb.st_mode)) continue;  // symbolic links included: never followed
        entry e;
        e.dir = dir;
        e.leaf = file;
        e.name = dir + (dir.empty() || dir.back() != '/' ? "/" : "") + file;
        e.uid = sb.st_uid;
        e.mode = sb.st_mode & 07777;
        e.ino = sb.st_ino;
        std::string why;
        if (S_ISSOCK(sb.st_mode)) {
            e.where = "unix_socket";
            const probe p = probe_socket(e.name, why);
            e.stale = p == probe::stale;
            e.verdict = p == probe::live ? "live" : p == probe::stale ? "stale" : why;
        } else {
            e.where = "fifo";
            const bool reader = fifo_has_reader(::dirfd(d), file, sb.st_ino, why);
            e.no_reader = !reader && why.empty();
            e.verdict = !why.empty() ? why : reader ? "live" : "no reader";
        }
        out.push_back(std::move(e));
    }
    ::closedir(d);
}

std::string json_string(const std::string& s) {
    std::string o = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", c);
            o += b;
        } else {
            o += static_cast<char>(c);
        }
    }
    return o + "\"";
}

// Removes a stale socket or a FIFO without reader, if its name is still the
// file that was probed (and, for a FIFO, still has no reader).
bool remove_file(const entry& e) {
    DIR* d = ::opendir(e.dir.c_str());
    if (!d) return false;
    struct stat sb {};
    std::string why;
    bool ok = ::fstatat(::dirfd(d), e.leaf.c_str(), &sb, AT_SYMLINK_NOFOLLOW) == 0 && sb.st_ino == e.ino;
    if (e.where == "unix_socket") ok = ok && S_ISSOCK(sb.st_mode);
    else ok = ok && S_ISFIFO(sb.st_mode) && !fifo_has_reader(::dirfd(d), e.leaf, e.ino, why) && why.empty();
    ok = ok && ::unlinkat(::dirfd(d), e.leaf.c_str(), 0) == 0;
    ::closedir(d);
    return ok;
}

bool remove(const entry& e) {
    if (e.where == "posix_shm") return ::shm_unlink(("/ipc." + e.name).c_str()) == 0;
    if (e.where == "sysv_shm") return ::shmctl(e.sysv_id, IPC_RMID, nullptr) == 0;
    if (e.where == "unix_socket" || e.where == "fifo") return remove_file(e);
    return false;
}

} // namespace

int main(int argc, char** argv) {
    bool json = false, remove_stale = false, remove_fifos = false;
    std::string prefix;
    std::vector<std::string> dirs;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--json") json = true;
        else if (a == "--remove-stale") remove_stale = true;
        else if (a == "--remove-fifos-without-reader") remove_fifos = true;
        else if (a == "--dir" && i + 1 < argc && argv[i + 1][0] != '\0') dirs.push_back(argv[++i]);
        else if (!a.empty() && a[0] != '-' && prefix.empty()) prefix = a;
        else {
            std::fprintf(stderr, "usage: ipc-ls [--json] [--remove-stale] [--remove-fifos-without-reader] [--dir PATH]... [PREFIX]\n");
            return 2;
        }
    }
    std::vector<entry> found, all;
    scan_posix(found);
    scan_sysv(found);
    scan_mqueue(found);
    for (const std::string& d : dirs) scan_dir(d, found);
    for (auto& e : found)
        if ((e.leaf.empty() ? e.name : e.leaf).rfind(prefix, 0) == 0) all.push_back(std::move(e));

    if (!json)
        std::printf("%-40s %-9s %6s %5s %10s %-5s %10s %10s %-11s %-11s %s\n", "NAME", "KIND", "UID", "MODE", "SIZE",
                    "RING", "CAPACITY", "QUEUED", "SEND a/d", "RECV a/d", "STATE");
    int failures = 0;
    for (const entry& e : all) {
        std::string verdict = e.ring ? (e.stale ? "stale" : "in use") : e.verdict;
        bool removed = false;
        const bool removable = (e.ring || e.where == "unix_socket") ? e.stale : e.no_reader && remove_fifos;
        if (remove_stale && removable) {
            removed = remove(e);
            if (!removed) ++failures;
            verdict += removed ? ", removed" : ", removal failed";
        }
        if (json) {
            std::printf("{\"name\":%s,\"kind\":\"%s\",\"uid\":%u,\"mode\":\"%04o\",\"size\":%llu,\"ring\":\"%s\","
                        "\"capacity\":%llu,\"queued\":%llu,\"senders_alive\":%u,\"senders_dead\":%u,"
                        "\"receivers_alive\":%u,\"receivers_dead\":%u,\"untracked\":%u,\"stale\":%s,\"removed\":%s,"
                        "\"state\":%s}\n",
                        json_string(e.name).c_str(), e.where.c_str(), e.uid, e.mode, e.size, e.kind.c_str(), e.capacity,
                        e.fill, e.senders_alive, e.senders_dead, e.receivers_alive, e.receivers_dead, e.untracked,
                        e.stale ? "true" : "false", removed ? "true" : "false", json_string(verdict).c_str());
        } else {
            char send[24], recv[24];
            std::snprintf(send, sizeof send, "%u/%u", e.senders_alive, e.senders_dead);
            std::snprintf(recv, sizeof recv, "%u/%u", e.receivers_alive, e.receivers_dead);
            std::string shown;
            for (char c : e.name) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
            std::printf("%-40s %-9s %6u %05o %10llu %-5s %10llu %10llu %-11s %-11s %s\n", shown.c_str(), e.where.c_str(),
                        e.uid, e.mode, e.size, e.kind.c_str(), e.capacity, e.fill, send, recv, verdict.c_str());
        }
    }
    return failures ? 1 : 0;
}
