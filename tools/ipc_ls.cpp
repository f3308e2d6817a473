// ipc-ls: lists the IPC objects on this machine (ipc's by default, every
// program's with --all) and who uses them, so stale objects left by crashed
// programs can be found and removed. `ipc-ls --help` prints the options, the
// columns and what "stale" means (tools/ipc_ls/output.cpp: that text is the
// definition --remove-stale applies). This file reads shared-memory regions and
// applies the rules; tools/ipc_ls/ipc_ls.hpp says where the rest lives.
//
// Regions are read-only mapped and treated as untrusted bytes: every field is
// checked before use, and a region that fails a check is listed as such.
#include <ipc/ring/kinds.hpp>
#include <ipc/ring/layout.hpp>
#include <ipc/sem/robust_mutex.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "ipc_ls/ipc_ls.hpp"

namespace {

using namespace ipc_ls;

using state = ipc::ring::shared_state<ipc::ring::two_indices>;
constexpr std::size_t state_size = sizeof(state);
// Bytes of a region mapped to read it: its shared state and a kind's
// control, whatever the kind (ring::describe checks that its control fits).
constexpr std::size_t described_size = std::size_t{1} << 20;

struct options {
    double min_age = 60;
    bool remove_fifos = false;
};

entry::detail_field detail_field_of(const ipc::ring::described_fields::field& f) {
    return {std::string(f.name), f.text.empty() ? std::to_string(f.number) : std::string(f.text), f.text.empty()};
}

// Reads what a region's header says, checking everything against `size`
// (the object's size; `p` maps `mapped` bytes of it, at most size).
void inspect(const std::byte* p, std::size_t mapped, std::size_t size, entry& e) {
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
    if (!ipc::ring::known::knows(h.kind)) {
        e.verdict = "unknown ring kind";
        return;
    }
    if (!ipc::ring::detail::is_pow2(h.capacity) || h.total_size > size || h.data_offset < state_size ||
        h.data_offset > h.total_size) {
        e.verdict = "corrupt header";
        return;
    }
    // What is queued, the kind's own fields and rows: the kind says (ring/kinds.hpp).
    ipc::ring::description d;
    d.row_context = &e;
    d.on_row = [](void* context, const ipc::ring::description::row& r) noexcept {
        try {
            auto& rows = static_cast<entry*>(context)->rows;
            rows.push_back({std::string(r.what), {}});
            for (std::size_t i = 0; i < r.field_count; ++i) rows.back().fields.push_back(detail_field_of(r.fields[i]));
        } catch (...) {  // out of memory: the listing goes on without the rest
        }
    };
    if (!ipc::ring::describe({p, mapped}, d)) {
        e.verdict = "corrupt header";
        return;
    }
    e.ring = true;
    e.kind = std::string(d.kind);
    e.capacity = h.capacity;
    e.fill = d.queued;
    for (std::size_t i = 0; i < d.field_count; ++i) e.details.push_back(detail_field_of(d.fields[i]));
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
    e.file = file;
    e.from = origin::ipc;
    struct stat sb {};
    if (::fstatat(dirfd, file.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) return false;
    take_stat(sb, e);  // in case it cannot be opened: another user's
    e.size = static_cast<unsigned long long>(sb.st_size);
    ipc::detail::unique_fd fd(::openat(dirfd, file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd) {
        e.verdict = std::string("unreadable: ") + std::strerror(errno);
        return true;
    }
    if (::fstat(fd.get(), &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
    take_stat(sb, e);
    const auto size = static_cast<unsigned long long>(sb.st_size);
    e.size = size;
    const std::size_t len = size < described_size ? static_cast<std::size_t>(size) : described_size;
    if (len == 0) {
        e.unformatted = !mutex;  // a creator between shm_open and ftruncate (a mutex is never removed)
        e.verdict = "empty";
    } else if (void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd.get(), 0); m != MAP_FAILED) {
        if (mutex) inspect_mutex(static_cast<const std::byte*>(m), len, e);
        else inspect(static_cast<const std::byte*>(m), len, static_cast<std::size_t>(size), e);
        ::munmap(m, len);
    } else {
        e.verdict = std::string("unreadable: ") + std::strerror(errno);
    }
    return true;
}

// Another program's file in /dev/shm: only what fstatat tells (it is not read).
bool inspect_foreign(int dirfd, const std::string& file, entry& e) {
    struct stat sb {};
    if (::fstatat(dirfd, file.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) return false;
    e.where = "posix_shm";
    e.name = e.file = file;
    e.from = origin::foreign;
    take_stat(sb, e);
    e.size = static_cast<unsigned long long>(sb.st_size);
    e.verdict.clear();
    return true;
}

// /dev/shm: ipc's regions (ipc.*), POSIX named semaphores (sem.*) and the
// rest, another program's shared memory.
void scan_posix(std::vector<entry>& out) {
    DIR* d = ::opendir("/dev/shm");
    if (!d) return;
    while (dirent* de = ::readdir(d)) {
        const std::string file = de->d_name;
        entry e;
        bool found = false;
        if (file.rfind("ipc.", 0) == 0) {
            found = inspect_posix(::dirfd(d), file, e);
        } else if (file.rfind("sem.", 0) == 0) {
            found = inspect_posix_sem(::dirfd(d), file, e);
        } else {
            found = inspect_foreign(::dirfd(d), file, e);
        }
        if (found) out.push_back(std::move(e));
    }
    ::closedir(d);
}

// System V segment `id`: ipc's if its header starts with ipc's magic (a ring,
// or one being formatted), else another program's (a segment not formatted
// far enough to show the magic cannot be told from one).
// Segments carry no name: they are listed as sysv:<key>. False if it is gone.
bool inspect_sysv(int id, entry& e) {
    ::shmid_ds ds{};
    if (::shmctl(id, IPC_STAT, &ds) != 0) return false;
    const std::size_t size = ds.shm_segsz;
    if (void* m = ::shmat(id, nullptr, SHM_RDONLY); m != reinterpret_cast<void*>(-1)) {
        inspect(static_cast<const std::byte*>(m), size, size, e);
        ::shmdt(m);
        const bool ours = e.ring || e.ipc_magic;  // another layout version is still ipc's
        e.from = ours ? origin::ipc : origin::foreign;
        if (!ours) {  // nothing of it is judged: it is never removed
            e.unformatted = false;
            e.verdict.clear();
            e.creator = ds.shm_cpid;
            e.creator_alive = ::kill(ds.shm_cpid, 0) == 0 || errno == EPERM;
        }
    } else {
        e.verdict = std::string("unreadable: ") + std::strerror(errno);  // not ours to read: whose, unknown
    }
    // Counted after our own detach; shm_atime/dtime are not used as an age,
    // since every ipc-ls run (ours included) updates them.
    ::shmid_ds now{};
    if (::shmctl(id, IPC_STAT, &now) != 0 || now.shm_cpid != ds.shm_cpid || now.shm_ctime != ds.shm_ctime) return false;
    e.where = "sysv_shm";
    e.key = static_cast<long long>(ds.shm_perm.__key);
    e.name = sysv_name(*e.key, id);
    e.uid = ds.shm_perm.uid;
    e.mode = ds.shm_perm.mode & 0777;
    e.size = size;
    e.sysv_id = id;
    e.sysv_cpid = ds.shm_cpid;
    e.sysv_ctime = ds.shm_ctime;
    e.age = seconds_since({ds.shm_ctime, 0});
    e.holders = static_cast<unsigned>(now.shm_nattch);
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

// Applies the rules of help_text(). The age matters only for objects that have
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
        if (now->where != "sysv_shm") {  // sysv: shm_nattch, just read
            now->held = candidates[k].held;
            now->holders = candidates[k].holders;
        }
        judge(*now, o);
        if (!now->removable) result[i] = outcome::changed;
        else if (dry_run) result[i] = outcome::would_remove;
        else result[i] = remove(*now) ? outcome::removed : outcome::failed;
    }
    return result;
}

// A whole number of seconds, at most 10 digits.
bool parse_seconds(const char* s, double& out) {
    const std::string v = s;
    if (v.empty() || v.size() > 10 || v.find_first_not_of("0123456789") != std::string::npos) return false;
    out = static_cast<double>(std::strtoull(s, nullptr, 10));
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    bool json = false, remove_stale_objects = false, dry_run = false, all_origins = false;
    options o;
    std::string prefix;
    std::vector<std::string> dirs, queues;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--json") json = true;
        else if (a == "--all") all_origins = true;
        else if (a == "--remove-stale") remove_stale_objects = true;
        else if (a == "--dry-run") dry_run = true;
        else if (a == "--remove-fifos-without-reader") o.remove_fifos = true;
        else if (a == "--min-age" && i + 1 < argc && parse_seconds(argv[i + 1], o.min_age)) ++i;
        else if (a == "--dir" && i + 1 < argc && argv[i + 1][0] != '\0') dirs.push_back(argv[++i]);
        else if (a == "--mq" && i + 1 < argc && argv[i + 1][0] != '\0') queues.push_back(argv[++i]);
        else if (a == "--help" || a == "-h") {
            std::fputs(help_text().c_str(), stdout);
            return 0;
        } else if (!a.empty() && a[0] != '-' && prefix.empty()) prefix = a;
        else {
            std::fputs(usage_text, stderr);
            return 2;
        }
    }
    std::vector<entry> found, all;
    std::vector<std::string> notes;
    scan_posix(found);
    scan_sysv(found);
    scan_posix_mq(queues, found, notes);
    scan_sysv_mq(found);
    scan_sysv_sem(found);
    for (const std::string& d : dirs) scan_dir(d, found);
    std::size_t hidden = 0;
    for (auto& e : found) {
        if ((e.leaf.empty() ? e.name : e.leaf).rfind(prefix, 0) != 0) continue;
        if (e.from == origin::foreign && !all_origins) ++hidden;
        else all.push_back(std::move(e));
    }
    observe(all);
    for (entry& e : all) judge(e, o);
    const std::vector<outcome> done =
        remove_stale_objects || dry_run ? remove_stale(all, o, dry_run) : std::vector<outcome>(all.size(), outcome::none);

    for (const std::string& n : notes) std::fprintf(stderr, "ipc-ls: %s\n", n.c_str());
    if (!json) print_header();
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
        if (json) print_json(e, state, done[i] == outcome::removed);
        else {
            print_row(e, state);
            print_detail_rows(e);
        }
    }
    if (hidden && !json)
        std::fprintf(stderr, "ipc-ls: %zu object%s made by other programs not shown (--all lists them)\n", hidden,
                     hidden == 1 ? "" : "s");
    return failures ? 1 : 0;
}
