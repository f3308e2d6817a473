// ipc-ls: what it prints. The columns are described once, below: the table's
// header and the "Columns" part of --help come from the same list.
#include "ipc_ls.hpp"

#include <cstdio>
#include <string_view>

namespace ipc_ls {
namespace {

struct column {
    const char* title;
    int width;  // 0: the last column, as wide as its text
    bool left;
    const char* meaning;
};

constexpr column columns[] = {
    {"NAME", 40, true,
     "the object's name: as ipc names it (ring \"jobs\" is /dev/shm/ipc.jobs), a POSIX name without its '/', "
     "sysv:KEY (KEY in decimal; sysv:private:ID when it has no key), or the path of a FIFO or socket"},
    {"KIND", 11, true,
     "posix_shm or sysv_shm (shared memory: an ipc ring, or another program's region), mutex (ipc's robust mutex), "
     "posix_mq or sysv_mq (message queue), posix_sem or sysv_sem (semaphore; sysv_sem is a set), fifo, unix_socket"},
    {"ORIGIN", 7, true,
     "ipc: made by ipc (an ipc. name in /dev/shm, or ipc's ring header); foreign: made by another program (shown "
     "with --all); unknown: cannot tell (queues, semaphores, FIFOs and sockets carry no mark of their maker)"},
    {"UID", 6, false, "the owner's user id"},
    {"MODE", 4, true, "the permission bits, in octal"},
    {"AGE", 4, false, "time since the object was made or last changed: s, m, h, d (seconds ... days; see Age below)"},
    {"SIZE", 10, false,
     "bytes: a region's size (shared memory, mutex, POSIX semaphore file); a message queue: the bytes of the "
     "messages in it"},
    {"RING", 5, true, "the ring in a region: spsc, mpmc, bytes or broadcast"},
    {"CAPACITY", 12, false,
     "a ring's slots (a byte ring: its bytes); a POSIX queue's messages x bytes per message (mq_maxmsg x "
     "mq_msgsize); a System V queue's bytes (msg_qbytes)"},
    {"QUEUED", 8, false, "messages waiting (a byte ring: bytes)"},
    {"SENDERS(live/dead)", 18, true,
     "a ring's senders in its peer table: alive, and dead ones that nobody has replaced yet"},
    {"RECEIVERS(live/dead)", 20, true, "the same for its receivers"},
    {"PROCS", 5, false,
     "processes that hold it: System V segment: attached (shm_nattch); others: mapped or open, as /proc shows "
     "them (your own processes only, unless root); - where the kernel does not tell"},
    {"CREATOR", 9, true,
     "the pid that made it (a ring's formatter; a System V segment's shm_cpid), with a + once that process has "
     "exited"},
    {"STATE", 0, true,
     "what ipc-ls makes of it: in use, stale, no users yet, live, no reader, a semaphore's value(s), or why it "
     "could not be read; after --remove-stale, what became of it"},
};

// `text` folded at spaces to lines of at most `width` characters, every line
// after the first indented by `indent` spaces.
std::string fold(std::string_view text, std::size_t indent, std::size_t width) {
    std::string out, line;
    for (std::size_t start = 0; start < text.size();) {
        std::size_t end = text.find(' ', start);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view word = text.substr(start, end - start);
        if (!line.empty() && indent + line.size() + 1 + word.size() > width) {
            out += line + "\n" + std::string(indent, ' ');
            line.clear();
        }
        line += (line.empty() ? "" : " ") + std::string(word);
        start = end + 1;
    }
    return out + line;
}

std::string human_age(double seconds) {
    const long long s = seconds > 0 ? static_cast<long long>(seconds) : 0;
    if (s < 60) return std::to_string(s) + "s";
    if (s < 3600) return std::to_string(s / 60) + "m";
    if (s < 86400) return std::to_string(s / 3600) + "h";
    return std::to_string(s / 86400) + "d";
}

template <class T>
std::string or_dash(const std::optional<T>& v) {
    return v ? std::to_string(*v) : "-";
}

std::string capacity_cell(const entry& e) {
    if (e.capacity && e.message_size) return std::to_string(*e.capacity) + "x" + std::to_string(*e.message_size);
    return or_dash(e.capacity);
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

template <class T>
std::string json_or_null(const std::optional<T>& v) {
    return v ? std::to_string(*v) : "null";
}

const char* origin_text(origin o) { return o == origin::ipc ? "ipc" : o == origin::foreign ? "foreign" : "unknown"; }

void print_cells(const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        const int w = columns[i].width;
        std::string c = cells[i];
        if (w > 0 && static_cast<int>(c.size()) < w) {
            const std::string pad(static_cast<std::size_t>(w) - c.size(), ' ');
            c = columns[i].left ? c + pad : pad + c;
        }
        line += (i ? " " : "") + c;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::puts(line.c_str());
}

}  // namespace

const char* const usage_text =
    "usage: ipc-ls [--all] [--json] [--remove-stale] [--dry-run] [--min-age SECONDS] "
    "[--remove-fifos-without-reader] [--dir PATH]... [--mq NAME]... [PREFIX]   (--help: more)\n";

std::string help_text() {
    std::string h = R"(usage: ipc-ls [OPTION]... [PREFIX]
Lists the IPC objects on this machine, one line each with a header naming the
columns: shared memory (ipc's rings in /dev/shm/ipc.* and in System V
segments, ipc's robust mutexes in /dev/shm/ipc.mutex.*), POSIX and System V
message queues, POSIX named semaphores (/dev/shm/sem.*) and System V
semaphore sets, and with --dir the FIFOs and Unix sockets of a directory.
By default only ipc's objects and those whose maker cannot be told (queues,
semaphores) are shown; --all adds the other programs' objects. PREFIX keeps
the names starting with it (for files: the file name).

  --all               also list the objects that other programs made
  --json              one JSON object per line, for scripts (see JSON below)
  --remove-stale      remove the stale objects (see below)
  --dry-run           say what --remove-stale would remove; remove nothing
  --min-age SECONDS   grace period for objects nobody uses yet (default 60)
  --remove-fifos-without-reader
                      with --remove-stale: also remove stale FIFOs
  --dir PATH          also list the FIFOs and Unix sockets in PATH
                      (repeatable; not recursive)
  --mq NAME           also look for the POSIX message queue NAME (repeatable;
                      needed only when /dev/mqueue is not mounted and ipc-ls
                      cannot mount it itself: see Message queues below)
  --help              this text

Columns ("-": means nothing for this kind of object):
)";
    for (const column& c : columns) {
        char title[32];
        std::snprintf(title, sizeof title, "  %-22s", c.title);
        h += title + fold(c.meaning, 24, 79) + "\n";
    }
    h += R"(
JSON: one object per line, with the columns as fields and null where the
table shows "-": name, kind, origin, uid, mode ("0600"), age (whole
seconds), size, ring, capacity (a POSIX queue: mq_maxmsg), message_size (a
POSIX queue: mq_msgsize), queued, senders_alive, senders_dead,
receivers_alive, receivers_dead, untracked (ring ends the peer table had no
room for), procs, creator_pid, creator_alive, key and id (System V), values
(semaphores: [value, ...]), stale, removed, state, details (rings: what only
their kind has, e.g. an mpmc ring's {"delivery":"at most once",
"redelivered":0}), rows (rings: a table only their kind has, one object per
row, e.g. a broadcast ring's [{"row":"subscriber","entry":0,"pid":4242,
"state":"live","process":"alive","tail":1000,"lag":3,"missed":0}]).

Rows in the table: under a broadcast ring's line, one indented line per
subscriber entry held: entry (its index in the ring's table), pid, state
(live; claiming: joining; dropped: by slow_policy::drop_slowest, not yet
back), process (alive, or dead: its entry is freed at the next peer check),
tail (the next message it reads), lag (messages published it has not read,
at most the capacity) and missed (messages it was told it missed).

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
Never removed, only listed: message queues, semaphores and robust mutexes
(the kernel keeps no count of their users, and one left with nobody attached
is how they are meant to be used), other programs' objects, regions that are
not ipc rings or have another layout version, datagram sockets, symbolic
links.

A ring's CREATOR is recorded with its start time, so a reused pid is not taken
for it; a System V segment's shm_cpid is not, so its + is only a hint.

Age is the time since the object was made or last changed: for files (POSIX
shared memory, semaphores and queues, FIFOs, sockets) the later of ctime and
mtime, read with fstat on the object itself (a POSIX queue's change with each
message); System V: shm_ctime, the last msgsnd/msgrcv or change of a queue,
the last semop or change of a set. Shared memory records no later use, so a
ring left without users on purpose (to be opened later) is removed once it is
older than --min-age. /proc shows a user its own processes only: run ipc-ls as
the objects' owner, or as root. Each object is looked at again right before it
is removed, by the identity first seen (inode; System V: shmid, creator and
ctime), and is kept if it changed or is no longer stale.

Message queues: POSIX queues have file names only in the mqueue file system.
When it is not mounted at /dev/mqueue, ipc-ls says so on stderr and mounts it
for itself alone (a read-only mount no path leads to, gone when ipc-ls exits;
this needs CAP_SYS_ADMIN). Failing that, it lists the queues a process it can
see holds open, and those named with --mq. To mount it for everyone (root):
  mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue
)";
    return h;
}

void print_header() {
    std::vector<std::string> titles;
    for (const column& c : columns) titles.emplace_back(c.title);
    print_cells(titles);
}

void print_row(const entry& e, const std::string& state) {
    std::string shown;
    for (char c : e.name) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", e.mode);
    std::string creator = "-";
    if (e.creator > 0) creator = std::to_string(e.creator) + (e.creator_alive ? "" : "+");
    const auto live_dead = [&](unsigned live, unsigned dead) {
        return e.ring ? std::to_string(live) + "/" + std::to_string(dead) : std::string("-");
    };
    print_cells({shown, e.where, origin_text(e.from), std::to_string(e.uid), mode, human_age(e.age), or_dash(e.size),
                 e.ring ? e.kind : "-", capacity_cell(e), or_dash(e.fill), live_dead(e.senders_alive, e.senders_dead),
                 live_dead(e.receivers_alive, e.receivers_dead), or_dash(e.holders), creator,
                 state.empty() ? "-" : state});
}

// Under a ring's line, one indented line per row its kind lists (a
// broadcast ring: each subscriber), as name=value.
void print_detail_rows(const entry& e) {
    for (const auto& r : e.rows) {
        std::string line = "  " + r.what;
        for (const auto& f : r.fields) line += " " + f.name + "=" + f.value;
        std::printf("%s\n", line.c_str());
    }
}

void print_json(const entry& e, const std::string& state, bool removed) {
    const auto ring_count = [&](unsigned n) { return e.ring ? std::to_string(n) : std::string("null"); };
    std::string values = "null";
    if (!e.values.empty()) {
        values = "[";
        for (std::size_t i = 0; i < e.values.size(); ++i) values += (i ? "," : "") + std::to_string(e.values[i]);
        values += "]";
    }
    const auto object = [](const std::vector<entry::detail_field>& fields, std::string first) {
        for (const auto& f : fields) first += (first.back() == '{' ? "" : ",") + json_string(f.name) + ":" + (f.number ? f.value : json_string(f.value));
        return first + "}";
    };
    std::string details = "null", rows = "null";
    if (e.ring) {
        details = object(e.details, "{");
        rows = "[";
        for (std::size_t i = 0; i < e.rows.size(); ++i) rows += (i ? "," : "") + object(e.rows[i].fields, "{\"row\":" + json_string(e.rows[i].what));
        rows += "]";
    }
    const bool has_creator = e.creator > 0;
    std::printf("{\"name\":%s,\"kind\":\"%s\",\"origin\":\"%s\",\"uid\":%u,\"mode\":\"%04o\",\"age\":%lld,\"size\":%s,"
                "\"ring\":%s,\"capacity\":%s,\"message_size\":%s,\"queued\":%s,\"senders_alive\":%s,"
                "\"senders_dead\":%s,\"receivers_alive\":%s,\"receivers_dead\":%s,\"untracked\":%s,\"procs\":%s,"
                "\"creator_pid\":%s,\"creator_alive\":%s,\"key\":%s,\"id\":%s,\"values\":%s,\"stale\":%s,"
                "\"removed\":%s,\"state\":%s,\"details\":%s,\"rows\":%s}\n",
                json_string(e.name).c_str(), e.where.c_str(), origin_text(e.from), e.uid, e.mode,
                e.age > 0 ? static_cast<long long>(e.age) : 0LL, json_or_null(e.size).c_str(),
                e.ring ? json_string(e.kind).c_str() : "null", json_or_null(e.capacity).c_str(),
                json_or_null(e.message_size).c_str(), json_or_null(e.fill).c_str(), ring_count(e.senders_alive).c_str(),
                ring_count(e.senders_dead).c_str(), ring_count(e.receivers_alive).c_str(),
                ring_count(e.receivers_dead).c_str(), ring_count(e.untracked).c_str(), json_or_null(e.holders).c_str(),
                has_creator ? std::to_string(e.creator).c_str() : "null",
                has_creator ? (e.creator_alive ? "true" : "false") : "null", json_or_null(e.key).c_str(),
                e.sysv_id >= 0 ? std::to_string(e.sysv_id).c_str() : "null", values.c_str(),
                e.stale ? "true" : "false", removed ? "true" : "false", json_string(state).c_str(), details.c_str(), rows.c_str());
}

}  // namespace ipc_ls
