"""bench_smoke: ipc_bench --quick --json --filter pipe prints one valid JSON
object per line, every case measured, each channel compared with its baseline."""
import json
import subprocess
import sys

bench = sys.argv[1]
run = subprocess.run([bench, "--quick", "--json", "--filter", "pipe"],
                     capture_output=True, text=True, timeout=50)
if run.returncode != 0:
    sys.exit(f"ipc_bench exited with {run.returncode}: {run.stderr}")

lines = run.stdout.splitlines()
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
    if not 0 < row["rtt_p50_ns"] <= row["rtt_p99_ns"] or not row["msgs_per_s"] > 0:
        sys.exit(f"implausible numbers: {line}")
    if row["case"].startswith("ipc."):
        for key in ("baseline", "ratio_rtt", "ratio_tput"):
            if key not in row:
                sys.exit(f"missing {key}: {line}")
    cases.add(row["case"])

expected = {"raw.pipe", "ipc.pipe.fixed", "ipc.pipe.length_prefixed", "ipc.pipe.delimited"}
if not expected <= cases:
    sys.exit(f"cases missing: {sorted(expected - cases)}")
print(f"bench_smoke: {len(lines)} JSON lines, {len(cases)} cases")
