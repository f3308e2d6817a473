// examples/mq_priority_workers.cpp: a job queue with priorities, served by two worker processes.
//
// The parent puts jobs of mixed priority on a POSIX message queue, then starts
// two workers. Each receive takes the most urgent job still waiting, so urgent
// jobs are done first whatever order they were queued in, and each job is done
// by exactly one worker. Workers report on a second queue; the parent prints
// who did what, checks it, and exits 0.
#include <ipc/channel.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

using namespace std::chrono_literals;

struct job {
    int id;  // -1: no more work, stop
    char what[60];
};

struct report {
    int job_id;
    int worker;
    unsigned priority;
};

struct work_item {
    unsigned priority;  // higher first
    const char* what;
};

constexpr work_item work[] = {
    {1, "rebuild the search index"}, {3, "page the on-call engineer"}, {2, "send an invoice"},
    {1, "compress old logs"},        {3, "restart a crashed service"}, {2, "resize an avatar"},
    {1, "clean temporary files"},    {2, "email the daily digest"},
};
constexpr int job_count = static_cast<int>(std::size(work));
constexpr int worker_count = 2;

// A worker: take the most urgent job, do it, report it; stop at the stop job.
int run_worker(int worker, ipc::posix_mq_channel<job>& jobs, ipc::posix_mq_channel<report>& reports) {
    job j{};
    for (;;) {
        ipc::transport::posix_mq::recv_info info;  // the receive says the job's priority
        if (jobs.recv_for(j, info, 10s) != ipc::status::ok) return 1;
        if (j.id < 0) return 0;
        ::usleep(5000);  // the work
        if (reports.send_for(report{j.id, worker, info.priority}, 10s) != ipc::status::ok) return 1;
    }
}

}  // namespace

int main() {
    const std::string pid = std::to_string(::getpid());
    const std::string jobs_name = "/ipc-example-jobs-" + pid, reports_name = "/ipc-example-reports-" + pid;

    ipc::transport::posix_mq_options o;
    o.max_messages = job_count + worker_count;  // all jobs and stops fit: 10, the default limit
    o.message_size = sizeof(job);
    auto jobs = ipc::posix_mq_channel<job>::create(jobs_name, o);
    o.message_size = sizeof(report);
    auto reports = ipc::posix_mq_channel<report>::create(reports_name, o);
    // The workers inherit the open queues, so the names can go at once:
    // nothing is left behind in /dev/mqueue however this program ends.
    ipc::transport::posix_mq::remove(jobs_name);
    ipc::transport::posix_mq::remove(reports_name);

    for (int i = 0; i < job_count; ++i) {
        job j{i, {}};
        std::snprintf(j.what, sizeof j.what, "%s", work[i].what);
        if (jobs.try_send(j, {.priority = work[i].priority}) != ipc::status::ok) return 1;
    }
    // Stops go last at priority 0 (the default), below every job.
    for (int w = 0; w < worker_count; ++w)
        if (jobs.try_send(job{-1, "stop"}) != ipc::status::ok) return 1;

    pid_t pids[worker_count];
    for (int w = 0; w < worker_count; ++w) {
        std::fflush(nullptr);
        pids[w] = ::fork();
        if (pids[w] < 0) return 1;
        if (pids[w] == 0) ::_exit(run_worker(w + 1, jobs, reports));
    }

    bool ok = true;
    int done_by[job_count] = {};
    unsigned last_priority[worker_count + 1] = {~0u, ~0u, ~0u};
    for (int n = 0; n < job_count; ++n) {
        report r{};
        if (reports.recv_for(r, 10s) != ipc::status::ok || r.job_id < 0 || r.job_id >= job_count) {
            std::printf("a report is missing\n");
            ok = false;
            break;
        }
        std::printf("worker %d did job %d (priority %u): %s\n", r.worker, r.job_id, r.priority, work[r.job_id].what);
        ++done_by[r.job_id];
        // Everything was queued before the workers started, so each one
        // takes jobs in order of falling priority.
        ok = ok && r.priority == work[r.job_id].priority && r.priority <= last_priority[r.worker];
        last_priority[r.worker] = r.priority;
    }
    for (int i = 0; i < job_count; ++i) ok = ok && done_by[i] == 1;
    for (pid_t p : pids) {
        int st = 0;
        ok = ::waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0 && ok;
    }
    std::printf(ok ? "all %d jobs done once each, most urgent first\n" : "FAILED (%d jobs)\n", job_count);
    return ok ? 0 : 1;
}
