// ipc-ls: FIFOs and Unix sockets (found only in the directories named with
// --dir), and who holds what as /proc shows it.
//
// FIFOs and sockets live wherever a program put them, so only the directories
// named with --dir are scanned; none by default, not even /tmp, because a probe
// connects to every socket it finds (other programs' too) and that is to be
// asked for, not done by surprise. Entries are lstat()ed and never followed:
// a symbolic link is not listed, whatever it points to. Probes:
//   socket: connect(SOCK_STREAM), then connect(SOCK_SEQPACKET). A success is
//     "live" (the listener sees a connection that closes at once), a refusal
//     (ECONNREFUSED: nothing is bound to the file, or a stream socket bound but
//     not listening yet) is "stale" unless /proc/net/unix shows a socket bound
//     there or the file is younger than --min-age; a datagram socket refuses both types, so
//     whether anyone reads it cannot be told: "unknown".
//   FIFO: open(O_WRONLY | O_NONBLOCK) succeeds only if a reader has it open:
//     "live", else "no reader". The probe closes at once, so a reader that
//     had no writer yet sees one come and go (its next read may return EOF).
#include "ipc_ls.hpp"

#include <ipc/detail/fd.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace ipc_ls {
namespace {

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

}  // namespace

// The FIFO or socket `leaf` of `dir`; false if it is neither (or gone).
bool inspect_file(const std::string& dir, int dirfd, const std::string& leaf, entry& e) {
    struct stat sb {};
    if (::fstatat(dirfd, leaf.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0) return false;
    if (!S_ISFIFO(sb.st_mode) && !S_ISSOCK(sb.st_mode)) return false;  // symbolic links included: never followed
    e.dir = dir;
    e.leaf = leaf;
    e.name = dir + (dir.empty() || dir.back() != '/' ? "/" : "") + leaf;
    take_stat(sb, e);
    std::string why;
    if (S_ISSOCK(sb.st_mode)) {
        e.where = "unix_socket";
        const probe p = probe_socket(e.name, why);
        e.refused = p == probe::stale;
        e.verdict = p == probe::live ? "live" : p == probe::stale ? "stale" : why;
    } else {
        e.where = "fifo";
        e.file = leaf;
        const bool reader = fifo_has_reader(dirfd, leaf, sb.st_ino, why);
        e.no_reader = !reader && why.empty();
        e.verdict = !why.empty() ? why : reader ? "live" : "no reader";
    }
    return true;
}

void scan_dir(const std::string& dir, std::vector<entry>& out) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
        std::fprintf(stderr, "ipc-ls: %s: %s\n", dir.c_str(), std::strerror(errno));
        return;
    }
    while (dirent* de = ::readdir(d)) {
        entry e;
        if (inspect_file(dir, ::dirfd(d), de->d_name, e)) out.push_back(std::move(e));
    }
    ::closedir(d);
}

// ---- who holds what, as /proc shows it ------------------------------------

namespace {

// How many other processes have each of the inodes among `wanted` mapped
// (/proc/PID/maps) or open (/proc/PID/fd). A user sees only its own processes
// (root: all), so this can only add users, never prove there are none.
// `leaves` are the file names of the wanted objects: only a descriptor whose
// link ends in one is stat()ed, so a file on a hung network mount held by some
// process cannot stall us.
std::map<file_id, unsigned> holders_of(const std::set<file_id>& wanted, const std::set<std::string>& leaves) {
    std::map<file_id, unsigned> count;
    DIR* proc = wanted.empty() ? nullptr : ::opendir("/proc");
    if (!proc) return count;
    const std::string self = std::to_string(::getpid());
    auto leaf_of = [](std::string link) {
        if (link.ends_with(" (deleted)")) link.resize(link.size() - 10);
        return link.substr(link.rfind('/') + 1);  // npos + 1 == 0: the whole text
    };
    while (dirent* de = ::readdir(proc)) {
        const std::string pid = de->d_name;
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid == self) continue;
        std::set<file_id> held;  // by this process, counted once however often mapped or opened
        std::ifstream maps("/proc/" + pid + "/maps");
        std::string line;
        while (std::getline(maps, line)) {
            unsigned major = 0, minor = 0;
            unsigned long long ino = 0;  // address perms offset major:minor inode [path]
            if (std::sscanf(line.c_str(), "%*s %*s %*s %x:%x %llu", &major, &minor, &ino) != 3 || ino == 0) continue;
            if (const file_id id{::makedev(major, minor), static_cast<ino_t>(ino)}; wanted.count(id)) held.insert(id);
        }
        if (DIR* fds = ::opendir(("/proc/" + pid + "/fd").c_str())) {
            while (dirent* fe = ::readdir(fds)) {
                char link[PATH_MAX];
                const ssize_t n = ::readlinkat(::dirfd(fds), fe->d_name, link, sizeof link);
                if (fe->d_name[0] == '.' || n <= 0 || !leaves.count(leaf_of(std::string(link, static_cast<std::size_t>(n)))))
                    continue;
                struct stat sb {};  // stat() through the link names the open file; nothing is opened
                if (::fstatat(::dirfd(fds), fe->d_name, &sb, 0) != 0) continue;
                if (const file_id id{sb.st_dev, sb.st_ino}; wanted.count(id)) held.insert(id);
            }
            ::closedir(fds);
        }
        for (const file_id& id : held) ++count[id];
    }
    ::closedir(proc);
    return count;
}
// Paths that a socket in /proc/net/unix is bound to (this network namespace).
std::vector<std::string> bound_paths() {
    std::vector<std::string> paths;
    std::ifstream in("/proc/net/unix");
    std::string line;
    std::getline(in, line);  // column titles
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string field, last;
        int n = 0;
        while (f >> field) {
            last = field;
            ++n;
        }
        if (n >= 8 && !last.empty() && last[0] != '@') paths.push_back(last);  // '@': abstract, no file
    }
    return paths;
}

// Whether a socket is bound at e's path. A relative bind path is matched by
// its last component: that may keep a stale file, never remove a live one.
bool bound_at(const std::vector<std::string>& paths, const entry& e) {
    char* real = ::realpath(e.dir.c_str(), nullptr);
    const std::string abs = real ? std::string(real) + "/" + e.leaf : e.name;
    std::free(real);
    for (const std::string& p : paths) {
        if (p == e.name || p == abs) return true;
        if (p[0] != '/' && (p == e.leaf || (p.size() > e.leaf.size() && p.ends_with("/" + e.leaf)))) return true;
    }
    return false;
}

}  // namespace

// Counts the processes that hold each entry with an inode (mapped or open;
// System V segments know theirs already: shm_nattch), and marks the sockets
// that are bound.
void observe(std::vector<entry>& es) {
    std::set<file_id> wanted;
    std::set<std::string> leaves;
    bool sockets = false;
    for (const entry& e : es) {
        if (!e.file.empty()) {
            wanted.insert(e.id);
            leaves.insert(e.file);
        }
        sockets = sockets || e.where == "unix_socket";
    }
    const std::map<file_id, unsigned> holders = holders_of(wanted, leaves);
    const std::vector<std::string> bound = sockets ? bound_paths() : std::vector<std::string>{};
    for (entry& e : es) {
        if (!e.file.empty()) {
            const auto it = holders.find(e.id);
            e.holders = it == holders.end() ? 0 : it->second;
            e.held = *e.holders > 0;
        } else if (e.where == "unix_socket") {
            e.held = e.refused && bound_at(bound, e);
        }
    }
}

}  // namespace ipc_ls
