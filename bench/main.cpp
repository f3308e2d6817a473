// ipc_bench: ipc channels against hand-written system calls, shared-memory
// floors and other libraries, between two processes pinned to two CPUs.
//
//   ipc_bench [--json] [--quick] [--filter TEXT[,TEXT] | --cases A,B] [--sizes 8,64,4096,65536] [--repeat N] [--list] [--about] [--sigpipe-default]
//
// Each case reports round-trip latency (median and p99) and one-way throughput.
// A case with a baseline also reports ratio_rtt = rtt_p50 / baseline rtt_p50
// (above 1: slower) and ratio_tput = msgs_per_s / baseline msgs_per_s (below 1:
// slower). A selected case always runs its baseline too.
#include <sys/socket.h>

#include <csignal>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ipc/version.hpp>

#include "calls.hpp"
#include "cases.hpp"
#include "harness.hpp"

namespace {

using namespace bench;
constexpr std::int64_t ms = 1'000'000;
//                      warmup  rounds  rtt time  messages   bytes           one-way time  memcpy bytes
constexpr plan full_plan{200,    20000,  250 * ms, 1'000'000, std::size_t{1} << 30, 250 * ms, std::size_t{1} << 30};
constexpr plan quick_plan{20,    1000,   15 * ms,  100'000,   std::size_t{64} << 20, 15 * ms, std::size_t{32} << 20};

struct options {
    bool json = false;
    bool quick = false;
    bool list = false;
    bool about = false;
    bool sigpipe_default = false;
    std::vector<std::string> filter{""};  // --filter: cases whose name contains one of these
    std::vector<std::string> cases;  // --cases: exactly these, without their baselines
    std::vector<std::size_t> sizes{8, 64, 4096, 65536};
    int repeat = 1;
};

[[noreturn]] void usage(int code) {
    std::fprintf(code ? stderr : stdout,
                 "usage: ipc_bench [--json] [--quick] [--filter TEXT[,TEXT] | --cases A,B] [--sizes 8,64,4096,65536] [--repeat N] [--list] [--about]\n"
                 "                 [--sigpipe-default]\n"
                 "  --json      one JSON object per line instead of a table\n"
                 "  --quick     short run (CI smoke test); numbers are rough\n"
                 "  --filter    only cases whose name contains TEXT, or one of the comma-separated TEXTs (their baselines run too)\n"
                 "  --cases     exactly the cases named, comma-separated (no baselines: no ratios)\n"
                 "  --sizes     message sizes in bytes\n"
                 "  --repeat    run each measurement N times and report the medians\n"
                 "  --list      print the case names and exit\n"
                 "  --about     print the compiler and the CPUs used, as one JSON object, and exit\n"
                 "  --sigpipe-default  keep SIGPIPE's default action (pipe writes then pay ipc's SIGPIPE guard)\n"
                 "ratio_rtt = rtt_p50 / baseline's (>1 slower); ratio_tput = msgs_per_s / baseline's (<1 slower)\n");
    std::exit(code);
}

// "a,b,,c": the non-empty items.
std::vector<std::string> split(std::string_view list) {
    std::vector<std::string> items;
    for (std::size_t at = 0; at <= list.size();) {
        const std::size_t comma = std::min(list.find(',', at), list.size());
        if (comma > at) items.emplace_back(list.substr(at, comma - at));
        at = comma + 1;
    }
    return items;
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(2);
            return argv[++i];
        };
        if (a == "--json") o.json = true;
        else if (a == "--quick") o.quick = true;
        else if (a == "--list") o.list = true;
        else if (a == "--about") o.about = true;
        else if (a == "--sigpipe-default") o.sigpipe_default = true;
        else if (a == "--filter") {
            o.filter = split(value());
            if (o.filter.empty()) o.filter = {""};  // --filter "": everything, as before
        }
        else if (a == "--cases") {
            o.cases = split(value());
            if (o.cases.empty()) usage(2);
        } else if (a == "--repeat") o.repeat = std::max(1, std::atoi(value()));
        else if (a == "--sizes") {
            o.sizes.clear();
            for (const char* p = value(); *p;) {
                char* end = nullptr;
                unsigned long long n = std::strtoull(p, &end, 10);
                if (end == p || n == 0 || n > (std::size_t{1} << 20)) usage(2);
                o.sizes.push_back(n);
                p = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') usage(2);
            }
        } else if (a == "--help" || a == "-h") usage(0);
        else usage(2);
    }
    return o;
}

// The first two CPUs this process may run on; fewer than two: no pinning.
void choose_cpus(bool quiet) {
    cpu_set_t set;
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return;
    int found = 0;
    for (int c = 0; c < CPU_SETSIZE && found < 2; ++c)
        if (CPU_ISSET(c, &set)) cpu_of[found++] = c;
    if (found < 2) {
        cpu_of[0] = cpu_of[1] = -1;
        if (!quiet) std::fprintf(stderr, "ipc_bench: fewer than 2 CPUs available: processes are not pinned\n");
    }
}

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
        out += c;
    }
    return out + '"';
}

std::string json_number(double v, int decimals) {
    if (std::isnan(v)) return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

// The measured baselines of a case (nullptr: none, or not measured).
struct baselines {
    const result* rtt = nullptr;
    const result* tput = nullptr;
    const result* bw = nullptr;
};

double ratio(double v, const result* base, double result::*field) {
    return base && base->error.empty() ? v / (base->*field) : none;
}

// Throughput ratios compare like with like: calls per second (call cases
// measure msgs_per_s_1) with calls per second, messages with messages.
double tput_ratio(const result& r, const result* base) {
    if (!base || std::isnan(r.msgs_per_s_1) != std::isnan(base->msgs_per_s_1)) return none;
    return ratio(r.msgs_per_s, base, &result::msgs_per_s);
}

void print_json(const case_entry& c, std::size_t size, const result& r, const baselines& b, int repeat) {
    std::string line = "{\"case\":" + json_string(c.name) + ",\"size\":" + std::to_string(size);
    if (!r.error.empty()) {
        line += std::string(r.skipped ? ",\"skipped\":" : ",\"error\":") + json_string(r.error) + "}";
        std::puts(line.c_str());
        return;
    }
    line += ",\"rtt_p50_ns\":" + json_number(r.rtt_p50_ns, 0) + ",\"rtt_p99_ns\":" + json_number(r.rtt_p99_ns, 0) +
            ",\"msgs_per_s\":" + json_number(r.msgs_per_s, 0) + ",\"mb_per_s\":" + json_number(r.mb_per_s, 1) +
            ",\"repeat\":" + std::to_string(repeat);
    if (!std::isnan(r.lag_p50)) line += ",\"lag_p50\":" + json_number(r.lag_p50, 0);
    if (!std::isnan(r.msgs_per_s_1))
        line += ",\"msgs_per_s_1\":" + json_number(r.msgs_per_s_1, 0) + ",\"in_flight\":" + std::to_string(calls::in_flight);
    if (c.baseline) {
        line += ",\"baseline\":" + json_string(c.baseline);
        if (c.tput_baseline) line += ",\"tput_baseline\":" + json_string(c.tput_baseline);
        if (b.rtt && b.rtt->error.empty())
            line += ",\"ratio_rtt\":" + json_number(ratio(r.rtt_p50_ns, b.rtt, &result::rtt_p50_ns), 3);
        if (const double t = tput_ratio(r, b.tput); !std::isnan(t)) line += ",\"ratio_tput\":" + json_number(t, 3);
        if (const double t1 = ratio(r.msgs_per_s_1, b.tput, &result::msgs_per_s_1); !std::isnan(t1))
            line += ",\"ratio_tput_1\":" + json_number(t1, 3);
    }
    if (c.bw_baseline) {
        line += ",\"bw_baseline\":" + json_string(c.bw_baseline);
        if (b.bw && b.bw->error.empty()) line += ",\"ratio_bw\":" + json_number(ratio(r.mb_per_s, b.bw, &result::mb_per_s), 3);
    }
    std::puts((line + "}").c_str());
}

std::string cell(double v, double scale, const char* fmt) {
    if (std::isnan(v)) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, fmt, v * scale);
    return buf;
}

void print_row(const case_entry& c, std::size_t size, const result& r, const baselines& b) {
    if (!r.error.empty()) {
        std::printf("%-34s %7zu  %s: %s\n", c.name, size, r.skipped ? "skipped" : "FAILED", r.error.c_str());
        return;
    }
    std::string against = c.baseline ? c.baseline : "";
    if (c.tput_baseline) against += std::string(" / ") + c.tput_baseline;
    // Call cases: msgs/s is calls per second with calls::in_flight in flight; the 1-in-flight figure follows.
    if (!std::isnan(r.msgs_per_s_1)) against += "  [calls/s: " + cell(r.msgs_per_s_1, 1, "%.0f") + " with 1, msgs/s with " +
                                               std::to_string(calls::in_flight) + " in flight]";
    std::printf("%-34s %7zu %10s %10s %12s %10s %7s %7s %6s  %s\n", c.name, size, cell(r.rtt_p50_ns, 1e-3, "%.2f").c_str(),
                cell(r.rtt_p99_ns, 1e-3, "%.2f").c_str(), cell(r.msgs_per_s, 1, "%.0f").c_str(),
                cell(r.mb_per_s, 1, "%.1f").c_str(), cell(ratio(r.rtt_p50_ns, b.rtt, &result::rtt_p50_ns), 1, "%.2f").c_str(),
                cell(tput_ratio(r, b.tput), 1, "%.2f").c_str(),
                cell(ratio(r.mb_per_s, b.bw, &result::mb_per_s), 1, "%.2f").c_str(), against.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    // As a hand-written server does at startup. ipc then writes pipes without
    // its SIGPIPE guard (two rt_sigprocmask calls per write otherwise); raw and
    // ipc cases run under the same disposition. --sigpipe-default measures the guard.
    if (!o.sigpipe_default) std::signal(SIGPIPE, SIG_IGN);
    // The table (cases.hpp), then the peers' cases.
    std::vector<case_entry> cases;
    namespace parts = bench::cases;
    for (const auto part : {parts::raw_cases(), parts::channel_cases(), parts::socket_channel_cases(), parts::floor_cases(),
                            parts::shm_cases(), parts::shm_kernel_cases(), parts::queue_cases(), parts::loop_cases(),
                            std::span<const case_entry>(peer_cases())})
        cases.insert(cases.end(), part.begin(), part.end());

    if (o.list) {
        for (auto& c : cases) std::printf("%s%s%s\n", c.name, c.baseline ? "  vs " : "", c.baseline ? c.baseline : "");
        return 0;
    }
    if (o.about) {  // what a published table must state about the build (bench/guide.py reads it)
        choose_cpus(true);
        char compiler[64] = "unknown";
#if defined(__clang__)
        std::snprintf(compiler, sizeof compiler, "clang++ %d.%d.%d", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
        std::snprintf(compiler, sizeof compiler, "g++ %d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#endif
        std::printf("{\"compiler\":%s,\"optimisation\":\"-O2\",\"ipc_version\":\"%d.%d.%d\",\"cpus\":[%d,%d]}\n",
                    json_string(compiler).c_str(), IPC_VERSION_MAJOR, IPC_VERSION_MINOR, IPC_VERSION_PATCH, cpu_of[0], cpu_of[1]);
        return 0;
    }

    // The selection, plus the baselines of what was selected (--cases: exactly those named).
    std::vector<bool> run(cases.size());
    for (const std::string& name : o.cases) {
        std::size_t i = 0;
        while (i < cases.size() && cases[i].name != name) ++i;
        if (i == cases.size()) {
            std::fprintf(stderr, "ipc_bench: no case named '%s' (see --list)\n", name.c_str());
            return 2;
        }
        run[i] = true;
    }
    for (std::size_t i = 0; i < cases.size() && o.cases.empty(); ++i)
        for (const std::string& text : o.filter)
            if (std::string_view(cases[i].name).find(text) != std::string_view::npos) run[i] = true;
    // Baselines of baselines too (peer.grpc, raw.unix_stream.call, raw.unix_stream): until nothing is added.
    for (bool added = o.cases.empty(); added;) {
        added = false;
        for (std::size_t i = 0; i < cases.size(); ++i)
            if (run[i])
                for (const char* base : {cases[i].baseline, cases[i].tput_baseline, cases[i].bw_baseline})
                    for (std::size_t j = 0; base && j < cases.size(); ++j)
                        if (!run[j] && std::string_view(cases[j].name) == base) run[j] = added = true;
    }

    ::signal(SIGPIPE, SIG_IGN);  // as any program writing to pipes and sockets does
    struct sigaction sa {};
    sa.sa_handler = on_hang;
    ::sigaction(SIGALRM, &sa, nullptr);
    choose_cpus(o.json);
    pin(side::a);

    const plan& p = o.quick ? quick_plan : full_plan;
    if (!o.json) {
        std::printf("ipc_bench: %s run, median of %d, CPUs %d and %d (-1: not pinned). Shared machines are noisy.\n",
                    o.quick ? "quick" : "full", o.repeat, cpu_of[0], cpu_of[1]);
        std::printf("%-34s %7s %10s %10s %12s %10s %7s %7s %6s  %s\n", "case", "bytes", "rtt p50us", "rtt p99us", "msgs/s",
                    "MB/s", "x rtt", "x tput", "x bw", "baseline [/ tput baseline]");
    }
    // Repeats go round the whole selection, so that a burst of load from
    // elsewhere hits every case alike instead of one case's five runs.
    struct job {
        const case_entry* c;
        std::size_t size;
        std::vector<result> runs;
    };
    std::vector<job> jobs;
    for (std::size_t i = 0; i < cases.size(); ++i)
        if (run[i])
            for (std::size_t size : o.sizes) jobs.push_back({&cases[i], size, {}});
    std::map<std::pair<std::string, std::size_t>, result> done;
    for (int k = 0; k < o.repeat; ++k) {
        for (job& j : jobs) {
            j.runs.push_back(j.c->run(j.size, p));
            if (k + 1 < o.repeat) continue;
            result r = median_of(j.runs);
            auto find = [&](const char* name) -> const result* {
                if (!name) return nullptr;
                auto it = done.find({name, j.size});
                return it == done.end() ? nullptr : &it->second;
            };
            const baselines b{find(j.c->baseline), find(j.c->tput_baseline ? j.c->tput_baseline : j.c->baseline),
                              find(j.c->bw_baseline)};
            if (o.json)
                print_json(*j.c, j.size, r, b, o.repeat);
            else
                print_row(*j.c, j.size, r, b);
            std::fflush(stdout);
            done[{j.c->name, j.size}] = std::move(r);
        }
    }
    return 0;
}
