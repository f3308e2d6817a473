"""bench_smoke: ipc_bench --quick --json prints one valid JSON object per line,
every case measured, each channel compared with its baseline: the pipe cases,
the futex shared-memory cases at one size (with their floors), and the raw
call cases and the ipc.rpc cases at one size (calls per second with 1 and
with in_flight calls). A throughput measured by the harness's one-way phase
says how far behind its receiver was (lag_p50)."""
import json
import subprocess
import sys

bench = sys.argv[1]
lines = []
for args in (["--filter", "pipe"], ["--filter", "shm.futex", "--sizes", "64"], ["--filter", "call", "--sizes", "64"],
             ["--filter", "rpc", "--sizes", "64"], ["--cases", "floor.spsc_handwritten.behind", "--sizes", "64"]):
    run = subprocess.run([bench, "--quick", "--json", *args], capture_output=True, text=True, timeout=25)
    if run.returncode != 0:
        sys.exit(f"ipc_bench {' '.join(args)} exited with {run.returncode}: {run.stderr}")
    lines += run.stdout.splitlines()
if not lines:
    sys.exit("ipc_bench printed nothing")
cases = set()
for line in lines:
    row = json.loads(line)
    if not isinstance(row, dict):
        sys.exit(f"not an object: {line}")
    if "error" in row:
        sys.exit(f"a case failed: {line}")
    if "skipped" in row:
        continue
    for key in ("case", "size", "rtt_p50_ns", "rtt_p99_ns", "msgs_per_s", "mb_per_s"):
        if key not in row:
            sys.exit(f"missing {key}: {line}")
    # Floors measure only what they stand for: round trips, or copy bandwidth.
    rtt, tput = row["rtt_p50_ns"] is not None, row["msgs_per_s"] is not None
    if not (rtt and tput) and not (row["case"].startswith("floor.") and (rtt or tput)):
        sys.exit(f"a quantity is missing: {line}")
    if rtt and not 0 < row["rtt_p50_ns"] <= row["rtt_p99_ns"] or tput and not row["msgs_per_s"] > 0:
        sys.exit(f"implausible numbers: {line}")
    # A call case compared with a channel (ipc.rpc.shm with ipc.shm.futex) has a latency ratio only.
    call_vs_channel = "in_flight" in row and not row.get("baseline", "").endswith(".call")
    if row["case"].startswith("ipc."):
        for key in ("baseline", "ratio_rtt") if call_vs_channel else ("baseline", "ratio_rtt", "ratio_tput"):
            if key not in row:
                sys.exit(f"missing {key}: {line}")
    # Call cases: calls/s with 1 in flight too, RTT against the ping-pong of their socket.
    if row["case"].endswith(".call") or row["case"].startswith("ipc.rpc."):
        if not (row.get("msgs_per_s_1") or 0) > 0 or not (row.get("in_flight") or 0) > 1 or "ratio_rtt" not in row:
            sys.exit(f"a call case without msgs_per_s_1, in_flight or ratio_rtt: {line}")
        if call_vs_channel and "ratio_tput" in row:
            sys.exit(f"calls/s compared with one-way messages/s: {line}")
    # The one-way phase's receiver lag: messages, never negative; every stream
    # case here runs in that phase (call cases, which have in_flight, and
    # floor.memcpy have loops of their own).
    if tput and "in_flight" not in row and row["case"] != "floor.memcpy":
        if not (row.get("lag_p50") is not None and row["lag_p50"] >= 0):
            sys.exit(f"a one-way throughput without lag_p50: {line}")
    cases.add(row["case"])

expected = {"raw.pipe", "ipc.pipe.fixed", "ipc.pipe.length_prefixed", "ipc.pipe.delimited",
            "floor.futex_pingpong", "floor.spsc_handwritten", "ipc.shm.futex", "ipc.shm.futex.loan", "ipc.shm.futex.batch",
            "raw.unix_stream", "raw.unix_stream.call", "raw.tcp.call", "ipc.rpc.unix_stream", "ipc.rpc.tcp", "ipc.rpc.shm",
            "floor.spsc_handwritten.behind"}
if not expected <= cases:
    sys.exit(f"cases missing: {sorted(expected - cases)}")
print(f"bench_smoke: {len(lines)} JSON lines, {len(cases)} cases")
