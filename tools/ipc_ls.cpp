// ipc-ls: lists ipc's shared-memory rings (and message queues) and who uses
// them, so stale objects left by crashed programs can be found and removed.
// `ipc-ls --help` prints the options and what "stale" means (help_text below:
// that text is the definition --remove-stale applies).
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
//
// Regions are read-only mapped and treated as untrusted bytes: every field is
// checked before use, and a region that fails a check is listed as such.
#include <ipc/ring/layout.hpp>
#include <ipc/sem/robust_mutex.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* help_text = R"(usage: ipc-ls [OPTION]... [PREFIX]
Lists ipc's objects: rings in POSIX shared memory (/dev/shm/ipc.*) and in
System V segments, robust mutexes (/dev/shm/ipc.mutex.*, kind mutex), POSIX
message queues (/dev/mqueue/ipc*), and with --dir the FIFOs and Unix socket
files of a directory. PREFIX keeps the names starting with it (for files: the
file name).

  --json              one JSON object per line, for scripts
  --remove-stale      remove the stale objects (see below)
  --dry-run           say what --remove-stale would remove; remove nothing
  --min-age SECONDS   grace period for objects nobody uses yet (default 60)
  --remove-fifos-without-reader
                      with --remove-stale: also remove stale FIFOs
  --dir PATH          also list the FIFOs and Unix sockets in PATH
                      (repeatable; not recursive)
  --help              this text

An object is stale, and --remove-stale removes it, only if:
  ring (posix_shm, sysv_shm): nobody uses it, i.e. no live process is in its
    peer table, no end is untracked (table full), no process has a System V
    segment attached (shm_nattch), no process that ipc-ls can see in /proc
    has a POSIX region mapped or open; and either
    (a) its peer table records users and all of them died, or
    (b) it records no users and is older than --min-age.
  region still being created (empty, or its header not formatted yet): nobody
    has it mapped or open and it is older than --min-age.
  Unix socket: a connect is refused, no socket in /proc/net/unix is bound at
    its path (bound but not listening yet), and it is older than --min-age.
  FIFO (only with --remove-fifos-without-reader): no reader, no process that
    ipc-ls can see has it open, and it is older than --min-age.
Never removed: message queues and robust mutexes (they record no users),
regions that are not ipc rings or have another layout version, datagram
sockets, symbolic links.

CREATOR is the pid that formatted a ring, with a + once that process has
exited (pid and start time are recorded, so a reused pid is not taken for it).

Age is the time since the object was made (or last resized or written): the
later of its ctime and mtime, read with fstat on the object itself (System V:
shm_ctime). Shared memory records no later use, so a ring left without users
on purpose (to be opened later) is removed once it is older than --min-age.
/proc shows a user its own processes only: run ipc-ls as the objects' owner,
or as root. Each object is looked at again right before it is removed, by the
identity first seen (inode; System V: shmid, creator and ctime), and is kept
if it changed or is no longer stale.
)";

using state = ipc::ring::shared_state<ipc::ring::two_indices>;
constexpr std::size_t state_size = sizeof(state);

struct file_id {
    dev_t dev = 0;
    ino_t ino = 0;
    auto operator<=>(const file_id&) const = default;
};

struct entry {
    std::string name;        // as the library names it (posix: without "ipc.")
    std::string where;       // posix_shm, sysv_shm, posix_mq, mutex, fifo, unix_socket
    std::string leaf;        // fifo, unix_socket: the file name in its directory (what PREFIX matches)
    std::string dir;
    file_id id;              // posix_shm, fifo, unix_socket: the inode inspected
    unsigned uid = 0;
    unsigned mode = 0;
    unsigned long long size = 0;
    double age = 0;          // seconds since the object was made or last changed
    std::string verdict = "ok";  // or why the region could not be read
    std::string kind = "-";
    unsigned long long capacity = 0, fill = 0;
    unsigned senders_alive = 0, senders_dead = 0, receivers_alive = 0, receivers_dead = 0, untracked = 0;
    bool ring = false;
    bool unformatted = false;  // empty, or header not formatted yet: a creator at work, or one that died at it
    bool ipc_magic = false;    // the header starts with ipc's magic
    bool held = false;         // attached, mapped, open or bound by a process (see observe())
    bool refused = false;      // unix_socket: connect refused
    bool no_reader = false;    // fifo: nobody reads it
    long long creator = 0;   // rings: the pid that formatted it (System V: the segment's creator)
    bool creator_alive = false;
    int sysv_id = -1;
    pid_t sysv_cpid = 0;
    time_t sysv_ctime = 0;
    // Set by judge():
    bool stale = false;
    bool removable = false;
    std::string state_text;
};

struct options {
    double min_age = 60;
    bool remove_fifos = false;
};

double seconds_since(timespec t) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<double>(now.tv_sec - t.tv_sec) + static_cast<double>(now.tv_nsec - t.tv_nsec) / 1e9;
}

// Age from the later of ctime and mtime: the youngest the object can be.
double age_of(const struct stat& sb) {
    const timespec& c = sb.st_ctim;
    const timespec& m = sb.st_mtim;
    return seconds_since(c.tv_sec > m.tv_sec || (c.tv_sec == m.tv_sec && c.tv_nsec > m.tv_nsec) ? c : m);
}

void take_stat(const struct stat& sb, entry& e) {
    e.id = {sb.st_dev, sb.st_ino};
    e.uid = sb.st_uid;
    e.mode = sb.st_mode & 07777;
    e.size = static_cast<unsigned long long>(sb.st_size);
    e.age = age_of(sb);
}

// Reads what a region's header says, checking everything against `size`
// (the object's size; `p` maps min(size, state_size) bytes of it).
void inspect(const std::byte* p, std::size_t size, entry& e) {
    const auto* st = reinterpret_cast<const state*>(p);
    const auto& h = st->hdr;
    e.ipc_magic = size >= state_size && h.magic == ipc::ring::region_magic;
    if (size < state_size || !ipc::ring::is_formatted({p, size})) {
        // format() stores the state word last: 0 under a zero or ipc magic is a
        // format in progress (or one whose creator died); anything else is not ours.
        if (size >= state_size && h.state.load(std::memory_order_acquire) == 0 && (h.magic == 0 || e.ipc_magic)) {
            e.unformatted = true;
            e.verdict = "not formatted yet";
        } else {
            e.verdict = "not a formatted ipc ring";
        }
        return;
    }
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
    e.fill = ipc::ring::queued(head, tail, h.capacity);
    e.creator = h.creator_pid;
    e.creator_alive = h.creator_pid > 0 && h.creator_pid <= INT32_MAX &&
                      ipc::detail::is_alive({static_cast<std::int32_t>(h.creator_pid), h.creator_start_time});
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
}

// A robust mutex (ipc::sem::robust_mutex): its header's verdict (`p` maps len bytes).
void inspect_mutex(const std::byte* p, std::size_t len, entry& e) {
    std::error_code ec;
    const auto v = ipc::detail::check_robust_mutex({p, len}, ec);
    if (v == ipc::detail::robust_mutex_check::unformatted) e.verdict = "not formatted yet";
    else if (v == ipc::detail::robust_mutex_check::bad) e.verdict = ec.message();
}
static_assert(state_size >= ipc::detail::robust_mutex_handle::storage_size);

// /dev/shm/<file> as it is now, looked at through one descriptor: the times,
// inode and bytes all belong to the same object even if the name is replaced
// meanwhile. False if it is not a regular file (or gone).
bool inspect_posix(int dirfd, const std::string& file, entry& e) {
    const std::string_view mutex_prefix = ipc::detail::robust_mutex_prefix;
    const bool mutex = file.rfind(mutex_prefix, 0) == 0;
    e.where = mutex ? "mutex" : "posix_shm";
    e.name = file.substr(mutex ? mutex_prefix.size() : 4);
    struct stat sb {};
    if (::fstatat(dirfd, file.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) return false;
    take_stat(sb, e);  // in case it cannot be opened: another user's
    ipc::detail::unique_fd fd(::openat(dirfd, file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd) {
        e.verdict = std::string("unreadable: ") + std::strerror(errno);
        return true;
    }
    if (::fstat(fd.get(), &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
    take_stat(sb, e);
    const std::size_t len = e.size < state_size ? static_cast<std::size_t>(e.size) : state_size;
    if (len == 0) {
        e.unformatted = !mutex;  // a creator between shm_open and ftruncate (a mutex is never removed)
        e.verdict = "empty";
    } else if (void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd.get(), 0); m != MAP_FAILED) {
        if (mutex) inspect_mutex(static_cast<const std::byte*>(m), len, e);
        else inspect(static_cast<const std::byte*>(m), static_cast<std::size_t>(e.size), e);
        ::munmap(m, len);
    } else {
        e.verdict = std::string("unreadable: ") + std::strerror(errno);
    }
    return true;
}

void scan_posix(std::vector<entry>& out) {
    DIR* d = ::opendir("/dev/shm");
    if (!d) return;
    while (dirent* de = ::readdir(d)) {
        const std::string file = de->d_name;
        entry e;
        if (file.rfind("ipc.", 0) == 0 && inspect_posix(::dirfd(d), file, e)) out.push_back(std::move(e));
    }
    ::closedir(d);
}

// System V segment `id`, if it holds an ipc ring (or one being formatted:
// ipc's magic and a zero state word). Segments carry no name: they are listed
// as sysv:<key>. A segment not formatted far enough to show the magic cannot
// be told from another program's, so it is not listed.
bool inspect_sysv(int id, entry& e) {
    ::shmid_ds ds{};
    if (::shmctl(id, IPC_STAT, &ds) != 0) return false;
    void* m = ::shmat(id, nullptr, SHM_RDONLY);
    if (m == reinterpret_cast<void*>(-1)) return false;  // not ours to read
    const std::size_t size = ds.shm_segsz;
    inspect(static_cast<const std::byte*>(m), size, e);
    ::shmdt(m);
    if (!e.ring && !(e.unformatted && e.ipc_magic)) return false;
    // Counted after our own detach; shm_atime/dtime are not used as an age,
    // since every ipc-ls run (ours included) updates them.
    ::shmid_ds now{};
    if (::shmctl(id, IPC_STAT, &now) != 0 || now.shm_cpid != ds.shm_cpid || now.shm_ctime != ds.shm_ctime) return false;
    e.where = "sysv_shm";
    e.name = "sysv:" + std::to_string(static_cast<long long>(ds.shm_perm.__key));
    e.uid = ds.shm_perm.uid;
    e.mode = ds.shm_perm.mode & 0777;
    e.size = size;
    e.sysv_id = id;
    e.sysv_cpid = ds.shm_cpid;
    e.sysv_ctime = ds.shm_ctime;
    e.age = seconds_since({ds.shm_ctime, 0});
    e.held = now.shm_nattch > 0;  // the kernel detaches the dead: exact
    return true;
}

void scan_sysv(std::vector<entry>& out) {
    std::ifstream in("/proc/sysvipc/shm");
    std::string line;
    std::getline(in, line);  // column titles
    while (std::getline(in, line)) {
        std::istringstream f(line);
        long long key = 0, id = 0;
        entry e;
        if (f >> key >> id && inspect_sysv(static_cast<int>(id), e)) out.push_back(std::move(e));
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
        take_stat(sb, e);
        e.size = 0;
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

// The FIFO or socket `leaf` of `dir`; false if it is neither (or gone).
bool inspect_file(const std::string& dir, int dirfd, const std::string& leaf, entry& e) {
    struct stat sb {};
    if (::fstatat(dirfd, leaf.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0) return false;
    if (!S_ISFIFO(sb.st_mode) && !S_ISSOCK(sb.st_mode)) return false;  // symbolic links included: never followed
    e.dir = dir;
    e.leaf = leaf;
    e.name = dir + (dir.empty() || dir.back() != '/' ? "/" : "") + leaf;
    take_stat(sb, e);
    e.size = 0;
    std::string why;
    if (S_ISSOCK(sb.st_mode)) {
        e.where = "unix_socket";
        const probe p = probe_socket(e.name, why);
        e.refused = p == probe::stale;
        e.verdict = p == probe::live ? "live" : p == probe::stale ? "stale" : why;
    } else {
        e.where = "fifo";
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

// The inodes among `wanted` that another process has mapped (/proc/PID/maps)
// or open (/proc/PID/fd). A user sees only its own processes (root: all), so
// this can only add users, never prove there are none. `leaves` are the file
// names of the wanted objects: only a descriptor whose link ends in one is
// stat()ed, so a file on a hung network mount held by some process cannot
// stall us.
std::set<file_id> held_by_others(const std::set<file_id>& wanted, const std::set<std::string>& leaves) {
    std::set<file_id> held;
    DIR* proc = wanted.empty() ? nullptr : ::opendir("/proc");
    if (!proc) return held;
    const std::string self = std::to_string(::getpid());
    auto leaf_of = [](std::string link) {
        if (link.ends_with(" (deleted)")) link.resize(link.size() - 10);
        return link.substr(link.rfind('/') + 1);  // npos + 1 == 0: the whole text
    };
    while (dirent* de = ::readdir(proc)) {
        const std::string pid = de->d_name;
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid == self) continue;
        std::ifstream maps("/proc/" + pid + "/maps");
        std::string line;
        while (std::getline(maps, line)) {
            unsigned major = 0, minor = 0;
            unsigned long long ino = 0;  // address perms offset major:minor inode [path]
            if (std::sscanf(line.c_str(), "%*s %*s %*s %x:%x %llu", &major, &minor, &ino) != 3 || ino == 0) continue;
            if (const file_id id{::makedev(major, minor), static_cast<ino_t>(ino)}; wanted.count(id)) held.insert(id);
        }
        DIR* fds = ::opendir(("/proc/" + pid + "/fd").c_str());
        if (!fds) continue;
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
    ::closedir(proc);
    return held;
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

// Marks every entry that a process holds: mapped or open (posix_shm, fifo),
// bound (unix_socket). System V segments know it already (shm_nattch).
void observe(std::vector<entry>& es) {
    std::set<file_id> wanted;
    std::set<std::string> leaves;
    bool sockets = false;
    for (const entry& e : es) {
        if (e.where == "posix_shm" || e.where == "fifo") {
            wanted.insert(e.id);
            leaves.insert(e.where == "fifo" ? e.leaf : "ipc." + e.name);
        }
        sockets = sockets || e.where == "unix_socket";
    }
    const std::set<file_id> held = held_by_others(wanted, leaves);
    const std::vector<std::string> bound = sockets ? bound_paths() : std::vector<std::string>{};
    for (entry& e : es) {
        if (e.where == "posix_shm" || e.where == "fifo") e.held = held.count(e.id) != 0;
        else if (e.where == "unix_socket") e.held = e.refused && bound_at(bound, e);
    }
}

// Applies the rules of help_text. The age matters only for objects that have
// never had a user: they may be a creator's, between creating and opening
// (or formatting, or listen()ing); a ring whose recorded users all died is
// stale at once.
void judge(entry& e, const options& o) {
    const bool old = o.min_age <= 0 || e.age >= o.min_age;
    if (e.ring) {
        const bool used = e.senders_alive || e.receivers_alive || e.untracked || e.held;
        const bool had_users = e.senders_dead || e.receivers_dead;
        e.stale = e.removable = !used && (had_users || old);
        e.state_text = used ? "in use" : e.stale ? "stale" : "no users yet";
    } else if (e.unformatted) {
        e.stale = e.removable = !e.held && old;
        e.state_text = e.held ? e.verdict + " (in use)" : e.stale ? e.verdict + ", stale" : e.verdict;
    } else if (e.where == "unix_socket") {
        e.stale = e.removable = e.refused && !e.held && old;
        e.state_text = !e.refused ? e.verdict : e.held ? "bound, not listening" : e.stale ? "stale" : "no listener yet";
    } else if (e.where == "fifo") {
        e.removable = o.remove_fifos && e.no_reader && !e.held && old;  // a FIFO is never "stale": it may wait for a reader
        e.state_text = e.no_reader && e.held ? "no reader (open)" : e.verdict;
    } else {
        e.state_text = e.verdict;
    }
}

// The object e as it is now, if its name still leads to the same object
// (same inode; System V: same shmid, creator and ctime).
std::optional<entry> look_again(const entry& e) {
    entry now;
    bool same = false;
    if (e.where == "sysv_shm") {
        same = inspect_sysv(e.sysv_id, now) && now.sysv_cpid == e.sysv_cpid && now.sysv_ctime == e.sysv_ctime;
    } else {
        DIR* d = ::opendir(e.where == "posix_shm" ? "/dev/shm" : e.dir.c_str());
        if (!d) return std::nullopt;
        same = e.where == "posix_shm" ? inspect_posix(::dirfd(d), "ipc." + e.name, now)
                                      : inspect_file(e.dir, ::dirfd(d), e.leaf, now);
        same = same && now.id == e.id && now.where == e.where;
        ::closedir(d);
    }
    if (!same) return std::nullopt;
    return now;
}

// Removes the object e was inspected as, and only that one: the name must
// still lead to the inode inspected (System V: the shmid, same creator and
// ctime, still unattached). Races remain, since no system call unlinks "this
// inode" or removes "this segment if unattached", and /proc is read before
// the last look: a process that opens the object between those checks and
// the unlink, without joining its peer table yet, keeps a mapping nobody else
// will find by name. Only an object just judged abandoned (all users dead, or
// none for --min-age) can meet this, so that process is alone on it, as if it
// had come a moment later and found nothing. A new object made under the
// name has another inode and is left alone, unless it appears in the instant
// between the final fstatat and the unlink: that needs someone else to have
// removed ours just then.
bool remove(const entry& e) {
    if (e.where == "sysv_shm") {
        ::shmid_ds ds{};
        return ::shmctl(e.sysv_id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 0 && ds.shm_cpid == e.sysv_cpid &&
               ds.shm_ctime == e.sysv_ctime && ::shmctl(e.sysv_id, IPC_RMID, nullptr) == 0;
    }
    if (e.where != "posix_shm" && e.where != "fifo" && e.where != "unix_socket") return false;
    const std::string leaf = e.where == "posix_shm" ? "ipc." + e.name : e.leaf;
    DIR* d = ::opendir(e.where == "posix_shm" ? "/dev/shm" : e.dir.c_str());
    if (!d) return false;
    struct stat sb {};
    const bool ok = ::fstatat(::dirfd(d), leaf.c_str(), &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
                    file_id{sb.st_dev, sb.st_ino} == e.id && ::unlinkat(::dirfd(d), leaf.c_str(), 0) == 0;
    ::closedir(d);
    return ok;
}

enum class outcome { none, removed, would_remove, failed, changed };

// Checks the candidates again and removes those still stale, each by the
// identity first inspected. Order matters: first /proc (who has them mapped
// or open: slow, it reads every process), then per object the peer table and
// the probes (fast), then at once the unlink. A process that attaches while
// /proc is read is then seen in the peer table.
std::vector<outcome> remove_stale(const std::vector<entry>& all, const options& o, bool dry_run) {
    std::vector<outcome> result(all.size(), outcome::none);
    std::vector<entry> candidates;
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (!all[i].removable) continue;
        candidates.push_back(all[i]);
        which.push_back(i);
    }
    observe(candidates);
    for (std::size_t k = 0; k < candidates.size(); ++k) {
        const std::size_t i = which[k];
        std::optional<entry> now = look_again(candidates[k]);
        if (!now) {
            result[i] = outcome::changed;
            continue;
        }
        if (now->where != "sysv_shm") now->held = candidates[k].held;  // sysv: shm_nattch, just read
        judge(*now, o);
        if (!now->removable) result[i] = outcome::changed;
        else if (dry_run) result[i] = outcome::would_remove;
        else result[i] = remove(*now) ? outcome::removed : outcome::failed;
    }
    return result;
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

// A whole number of seconds, at most 10 digits.
bool parse_seconds(const char* s, double& out) {
    const std::string v = s;
    if (v.empty() || v.size() > 10 || v.find_first_not_of("0123456789") != std::string::npos) return false;
    out = static_cast<double>(std::strtoull(s, nullptr, 10));
    return true;
}

} // namespace

int main(int argc, char** argv) {
    bool json = false, remove_stale_objects = false, dry_run = false;
    options o;
    std::string prefix;
    std::vector<std::string> dirs;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--json") json = true;
        else if (a == "--remove-stale") remove_stale_objects = true;
        else if (a == "--dry-run") dry_run = true;
        else if (a == "--remove-fifos-without-reader") o.remove_fifos = true;
        else if (a == "--min-age" && i + 1 < argc && parse_seconds(argv[i + 1], o.min_age)) ++i;
        else if (a == "--dir" && i + 1 < argc && argv[i + 1][0] != '\0') dirs.push_back(argv[++i]);
        else if (a == "--help" || a == "-h") {
            std::fputs(help_text, stdout);
            return 0;
        } else if (!a.empty() && a[0] != '-' && prefix.empty()) prefix = a;
        else {
            std::fprintf(stderr, "usage: ipc-ls [--json] [--remove-stale] [--dry-run] [--min-age SECONDS] "
                                 "[--remove-fifos-without-reader] [--dir PATH]... [PREFIX]   (--help: more)\n");
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
    observe(all);
    for (entry& e : all) judge(e, o);
    const std::vector<outcome> done =
        remove_stale_objects || dry_run ? remove_stale(all, o, dry_run) : std::vector<outcome>(all.size(), outcome::none);

    if (!json)
        std::printf("%-40s %-9s %6s %5s %-9s %10s %-5s %10s %10s %-11s %-11s %s\n", "NAME", "KIND", "UID", "MODE", "CREATOR",
                    "SIZE", "RING", "CAPACITY", "QUEUED", "SEND a/d", "RECV a/d", "STATE");
    int failures = 0;
    for (std::size_t i = 0; i < all.size(); ++i) {
        const entry& e = all[i];
        std::string state = e.state_text;
        switch (done[i]) {
        case outcome::none: break;
        case outcome::removed: state += ", removed"; break;
        case outcome::would_remove: state += ", would be removed"; break;
        case outcome::changed: state += ", changed meanwhile: kept"; break;
        case outcome::failed:
            state += ", removal failed";
            ++failures;
            break;
        }
        const bool removed = done[i] == outcome::removed;
        if (json) {
            std::printf("{\"name\":%s,\"kind\":\"%s\",\"uid\":%u,\"mode\":\"%04o\",\"size\":%llu,\"ring\":\"%s\","
                        "\"capacity\":%llu,\"queued\":%llu,\"senders_alive\":%u,\"senders_dead\":%u,"
                        "\"receivers_alive\":%u,\"receivers_dead\":%u,\"untracked\":%u,\"stale\":%s,\"removed\":%s,"
                        "\"age\":%lld,\"creator_pid\":%lld,\"creator_alive\":%s,\"state\":%s}\n",
                        json_string(e.name).c_str(), e.where.c_str(), e.uid, e.mode, e.size, e.kind.c_str(), e.capacity,
                        e.fill, e.senders_alive, e.senders_dead, e.receivers_alive, e.receivers_dead, e.untracked,
                        e.stale ? "true" : "false", removed ? "true" : "false",
                        e.age > 0 ? static_cast<long long>(e.age) : 0LL, e.creator, e.creator_alive ? "true" : "false",
                        json_string(state).c_str());
        } else {
            char send[24], recv[24];
            std::snprintf(send, sizeof send, "%u/%u", e.senders_alive, e.senders_dead);
            std::snprintf(recv, sizeof recv, "%u/%u", e.receivers_alive, e.receivers_dead);
            std::string shown;
            for (char c : e.name) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
            char creator[24] = "-";
            if (e.creator > 0) std::snprintf(creator, sizeof creator, "%lld%s", e.creator, e.creator_alive ? "" : "+");
            std::printf("%-40s %-9s %6u %05o %-9s %10llu %-5s %10llu %10llu %-11s %-11s %s\n", shown.c_str(), e.where.c_str(),
                        e.uid, e.mode, creator, e.size, e.kind.c_str(), e.capacity, e.fill, send, recv, state.c_str());
        }
    }
    return failures ? 1 : 0;
}
