// ipc-ls: message queues and semaphores, POSIX and System V. None of them
// carries a mark of who made it (ipc takes the name or key its user gives), so
// their ORIGIN is "unknown", and they are listed, never removed: the kernel
// keeps no count of their users, and a queue or semaphore left with nobody
// attached is how they are meant to be used.
//
// POSIX queues have file names only in the mqueue file system. When it is not
// mounted at /dev/mqueue, ipc-ls mounts it for itself alone (a detached mount
// that no path leads to, gone when ipc-ls exits; this needs CAP_SYS_ADMIN), and
// failing that lists the queues that a process it can see holds open, and those
// named with --mq; notes on stderr say which.
#include "ipc_ls.hpp"

#include <ipc/detail/fd.hpp>
#include <ipc/detail/name.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace ipc_ls {
namespace {

using ipc::detail::unique_fd;

constexpr long mqueue_magic = 0x19800202;  // <linux/magic.h>: MQUEUE_MAGIC

std::string unreadable(int err) { return std::string("unreadable: ") + std::strerror(err); }

// /dev/mqueue, if the mqueue file system is mounted there.
unique_fd mounted_mqueue() {
    unique_fd d(::open("/dev/mqueue", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct statfs fs {};
    if (!d || ::fstatfs(d.get(), &fs) != 0 || fs.f_type != mqueue_magic) return {};
    return d;
}

// The mqueue file system of our IPC namespace, mounted for this process only:
// a read-only mount that no path leads to, gone when the descriptor closes.
// Fails (err) without CAP_SYS_ADMIN or before Linux 5.2.
unique_fd private_mqueue(int& err) {
#if defined(SYS_fsopen) && defined(SYS_fsconfig) && defined(SYS_fsmount)
    // From <linux/mount.h>, which clashes with glibc's <sys/mount.h>.
    constexpr unsigned fsopen_cloexec = 1, fsconfig_cmd_create = 6, fsmount_cloexec = 1;
    constexpr unsigned mount_attr_rdonly = 1, mount_attr_nosuid = 2, mount_attr_nodev = 4, mount_attr_noexec = 8;
    unique_fd fs(static_cast<int>(::syscall(SYS_fsopen, "mqueue", fsopen_cloexec)));
    if (!fs || ::syscall(SYS_fsconfig, fs.get(), fsconfig_cmd_create, nullptr, nullptr, 0) != 0) {
        err = errno;
        return {};
    }
    unique_fd mnt(static_cast<int>(::syscall(SYS_fsmount, fs.get(), fsmount_cloexec,
                                             mount_attr_rdonly | mount_attr_nosuid | mount_attr_nodev | mount_attr_noexec)));
    unique_fd root(mnt ? ::openat(mnt.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1);
    if (!root) err = errno;
    return root;
#else
    err = ENOSYS;
    return {};
#endif
}

// What the open queue `q` says of itself: its limits and what waits in it
// (mq_getattr), and the bytes queued (the QSIZE field its file reads as).
void read_queue(int q, entry& e) {
    struct stat sb {};
    if (::fstat(q, &sb) == 0) take_stat(sb, e);
    mq_attr a{};
    if (::mq_getattr(q, &a) != 0) {
        e.verdict = unreadable(errno);
        return;
    }
    e.capacity = static_cast<unsigned long long>(a.mq_maxmsg);
    e.message_size = static_cast<unsigned long long>(a.mq_msgsize);
    e.fill = static_cast<unsigned long long>(a.mq_curmsgs);
    char text[128] = {};
    unsigned long long bytes = 0;
    if (::pread(q, text, sizeof text - 1, 0) > 0 && std::sscanf(text, "QSIZE:%llu", &bytes) == 1) e.size = bytes;
}

entry queue_entry(const std::string& name) {
    entry e;
    e.where = "posix_mq";
    e.name = name;
    e.file = name;  // a descriptor's link in /proc reads "/NAME"
    return e;
}

// Every queue in the mqueue file system open at `dirfd`.
void list_queues(int dirfd, std::vector<entry>& out) {
    DIR* d = ::fdopendir(::fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
    if (!d) return;
    while (dirent* de = ::readdir(d)) {
        const std::string file = de->d_name;
        struct stat sb {};
        if (::fstatat(::dirfd(d), file.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) continue;
        entry e = queue_entry(file);
        take_stat(sb, e);  // in case it cannot be opened: another user's
        unique_fd q(::openat(::dirfd(d), file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
        if (q) read_queue(q.get(), e);
        else e.verdict = unreadable(errno);
        out.push_back(std::move(e));
    }
    ::closedir(d);
}

// The queues that processes ipc-ls can see hold open: a descriptor whose link
// reads "/NAME" and that answers mq_getattr once reopened through /proc
// (a regular file at /NAME does not). Read-only, nonblocking: nothing waits.
void queues_held_open(std::set<file_id>& seen, std::vector<entry>& out) {
    DIR* proc = ::opendir("/proc");
    if (!proc) return;
    while (dirent* de = ::readdir(proc)) {
        const std::string pid = de->d_name;
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
        const std::string fd_dir = "/proc/" + pid + "/fd/";
        DIR* fds = ::opendir(fd_dir.c_str());
        if (!fds) continue;
        while (dirent* fe = ::readdir(fds)) {
            char link[PATH_MAX];
            const ssize_t n = ::readlinkat(::dirfd(fds), fe->d_name, link, sizeof link);
            const std::string target = n > 1 ? std::string(link, static_cast<std::size_t>(n)) : "";
            if (target.size() < 2 || target[0] != '/' || target.find('/', 1) != std::string::npos ||
                target.ends_with(" (deleted)"))
                continue;
            struct stat sb {};
            if (::fstatat(::dirfd(fds), fe->d_name, &sb, 0) != 0 || !S_ISREG(sb.st_mode) ||
                seen.count({sb.st_dev, sb.st_ino}))
                continue;
            unique_fd q(::open((fd_dir + fe->d_name).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
            mq_attr a{};
            if (!q || ::mq_getattr(q.get(), &a) != 0) continue;
            entry e = queue_entry(target.substr(1));
            read_queue(q.get(), e);
            seen.insert(e.id);
            out.push_back(std::move(e));
        }
        ::closedir(fds);
    }
    ::closedir(proc);
}

double age_from(std::initializer_list<long long> times) {
    long long latest = 0;
    for (long long t : times) latest = t > latest ? t : latest;
    return seconds_since({static_cast<time_t>(latest), 0});
}

std::string values_text(const std::vector<long long>& values) {
    std::string s = values.size() == 1 ? "value" : "values";
    for (std::size_t i = 0; i < values.size() && i < 8; ++i) {
        s += ' ';  // appended in two steps: g++ 12 -O3 reports a false -Wrestrict on " " + to_string()
        s += std::to_string(values[i]);
    }
    return values.size() > 8 ? s + " ..." : s;
}

entry sysv_entry(const char* kind, long long key, int id, unsigned uid, unsigned perms) {
    entry e;
    e.where = kind;
    e.name = sysv_name(key, id);
    e.key = key;
    e.sysv_id = id;
    e.uid = uid;
    e.mode = perms & 0777;
    return e;
}

// Lines of a /proc/sysvipc file, without the column titles.
std::vector<std::string> sysvipc_lines(const char* path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
}

}  // namespace

void scan_posix_mq(const std::vector<std::string>& named, std::vector<entry>& out, std::vector<std::string>& notes) {
    if (unique_fd d = mounted_mqueue()) {
        list_queues(d.get(), out);
        return;
    }
    const char* const mount = "mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue";
    int why = 0;
    if (unique_fd d = private_mqueue(why)) {
        list_queues(d.get(), out);
        notes.push_back(std::string("/dev/mqueue is not mounted (") + mount +
                        " mounts it): POSIX message queues were listed through a private mount");
        return;
    }
    std::set<file_id> seen;
    queues_held_open(seen, out);
    for (const std::string& name : named) {
        std::string path;
        std::error_code ec;
        if (!ipc::detail::posix_ipc_name(name, path, ec)) {
            notes.push_back("--mq " + name + ": not a POSIX queue name");
            continue;
        }
        unique_fd q(::mq_open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
        if (!q) {
            notes.push_back("--mq " + name + ": " + std::strerror(errno));
            continue;
        }
        entry e = queue_entry(path.substr(1));
        read_queue(q.get(), e);
        if (seen.insert(e.id).second) out.push_back(std::move(e));
    }
    notes.push_back(std::string("/dev/mqueue is not mounted (as root, ") + mount + " mounts it) and a private " +
                    "mount failed (" + std::strerror(why) + ", it needs CAP_SYS_ADMIN): the only POSIX message queues " +
                    "listed are those open in a process ipc-ls can see, and those named with --mq NAME");
}

// /dev/shm/sem.NAME: a POSIX named semaphore (sem_open). Its value is read
// through sem_open, which needs read and write permission on the file.
// False if it is not a regular file (or gone).
bool inspect_posix_sem(int dirfd, const std::string& file, entry& e) {
    e.where = "posix_sem";
    e.name = file.substr(ipc::detail::sem_name_prefix);
    e.file = file;
    struct stat sb {};
    if (::fstatat(dirfd, file.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) return false;
    take_stat(sb, e);
    e.size = static_cast<unsigned long long>(sb.st_size);
    std::string path;
    std::error_code ec;
    // A file shorter than a sem_t would fault once mapped: not a semaphore.
    if (static_cast<unsigned long long>(sb.st_size) < sizeof(sem_t) ||
        !ipc::detail::posix_ipc_name(e.name, path, ec, ipc::detail::sem_name_prefix)) {
        e.verdict = "not a semaphore";
        return true;
    }
    sem_t* s = ::sem_open(path.c_str(), 0);
    if (s == SEM_FAILED) {
        e.verdict = unreadable(errno);
        return true;
    }
    int value = 0;
    if (::sem_getvalue(s, &value) == 0) {
        e.values = {value};
        e.verdict = values_text(e.values);
    }
    ::sem_close(s);
    return true;
}

// /proc/sysvipc/msg: key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime
void scan_sysv_mq(std::vector<entry>& out) {
    for (const std::string& line : sysvipc_lines("/proc/sysvipc/msg")) {
        std::istringstream f(line);
        long long key = 0, stime = 0, rtime = 0, ctime = 0;
        int id = 0, lspid = 0, lrpid = 0;
        unsigned perms = 0, uid = 0, gid = 0, cuid = 0, cgid = 0;
        unsigned long long cbytes = 0, qnum = 0;
        if (!(f >> key >> id >> std::oct >> perms >> std::dec >> cbytes >> qnum >> lspid >> lrpid >> uid >> gid >> cuid >>
              cgid >> stime >> rtime >> ctime))
            continue;
        entry e = sysv_entry("sysv_mq", key, id, uid, perms);
        e.size = cbytes;
        e.fill = qnum;
        e.age = age_from({stime, rtime, ctime});
        ::msqid_ds ds{};
        if (::msgctl(id, IPC_STAT, &ds) == 0) e.capacity = ds.msg_qbytes;  // needs read permission
        else e.verdict = unreadable(errno);
        out.push_back(std::move(e));
    }
}

// /proc/sysvipc/sem: key semid perms nsems uid gid cuid cgid otime ctime
void scan_sysv_sem(std::vector<entry>& out) {
    for (const std::string& line : sysvipc_lines("/proc/sysvipc/sem")) {
        std::istringstream f(line);
        long long key = 0, otime = 0, ctime = 0;
        int id = 0;
        unsigned perms = 0, nsems = 0, uid = 0, gid = 0, cuid = 0, cgid = 0;
        if (!(f >> key >> id >> std::oct >> perms >> std::dec >> nsems >> uid >> gid >> cuid >> cgid >> otime >> ctime))
            continue;
        entry e = sysv_entry("sysv_sem", key, id, uid, perms);
        e.age = age_from({otime, ctime});
        std::vector<unsigned short> v(nsems);
        if (nsems > 0 && ::semctl(id, 0, GETALL, v.data()) == 0) {  // needs read permission
            e.values.assign(v.begin(), v.end());
            e.verdict = values_text(e.values);
        } else if (nsems > 0) {
            e.verdict = unreadable(errno);
        }
        out.push_back(std::move(e));
    }
}

}  // namespace ipc_ls
