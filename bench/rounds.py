#!/usr/bin/env python3
"""Medians of ipc_bench ratios over many rounds, split by the machine's state.

Shared VMs flip between speed states: on the project's 2-vCPU VM the
hand-written ring's 8-byte round trip (floor.spsc_handwritten) is 130-170 ns in
one state and 430-550 ns in the other, and ratios against the floors move with
it (a ring that needs locked instructions keeps its rate while the floor's
quadruples). A median that pools rounds of both states describes neither, so
each round is tagged by that round trip, measured just before it, and the
medians are given per state.

    bench/rounds.py --bench build/release/bench/ipc_bench --rounds 40 \\
        --cases floor.spsc_handwritten,ipc.shm.spin --sizes 8,64

Two binaries (before/after a change) alternate round by round, so both see the
same states: --bench old=path/to/old --bench new=path/to/new. --jsonl FILE
keeps every row (tagged with bin, round and state) for a later look.

Throughput rows also give the median of the rounds' lag_p50: how many
messages the receiver was behind (see bench/README.md, "Reading a throughput
figure"); two figures with very different lags come from different regimes.
"""
import argparse
import json
import statistics
import subprocess
import sys
from collections import defaultdict


def run(bench, args, timeout):
    out = subprocess.run([bench, "--json", *args], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        sys.exit(f"{bench} {' '.join(args)} exited with {out.returncode}: {out.stderr.strip()}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def state_of(bench, split_ns, extra, timeout):
    rows = run(bench, ["--cases", "floor.spsc_handwritten", "--sizes", "8", "--repeat", "1", *extra], timeout)
    rtt = next((r["rtt_p50_ns"] for r in rows if r.get("rtt_p50_ns")), None)
    if rtt is None:
        sys.exit(f"{bench}: floor.spsc_handwritten gave no 8-byte round trip")
    return ("fast" if rtt < split_ns else "slow"), rtt


# ipc_bench gives a ratio only when the case's baselines ran with it: a quick
# run says which they are, and they join the list.
def with_baselines(bench, cases, sizes, timeout):
    names = cases.split(",")
    for row in run(bench, ["--quick", "--cases", cases, "--sizes", sizes.split(",")[0], "--repeat", "1"], timeout):
        for key in ("baseline", "tput_baseline"):
            if row.get(key) and row[key] not in names:
                names.append(row[key])
    return ",".join(names)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", action="append", required=True, help="ipc_bench, or NAME=PATH (repeat to alternate binaries)")
    p.add_argument("--cases", required=True)
    p.add_argument("--sizes", default="8,64")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--split-ns", type=float, default=300, help="the floor's 8-byte round trip that separates fast from slow rounds")
    p.add_argument("--quick", action="store_true", help="pass --quick to ipc_bench (a smoke run)")
    p.add_argument("--timeout", type=float, default=300, help="seconds one ipc_bench run may take")
    p.add_argument("--jsonl", help="also write every row here")
    a = p.parse_args()
    if a.rounds < 1:
        sys.exit("--rounds must be at least 1")
    benches = [tuple(b.split("=", 1)) if "=" in b else (b, b) for b in a.bench]
    extra = ["--quick"] if a.quick else []
    cases = with_baselines(benches[0][1], a.cases, a.sizes, a.timeout)

    medians = defaultdict(list)  # (case, size, quantity, state, bin) -> ratios
    lags = defaultdict(list)     # (case, size, "tput", state, bin) -> lag_p50
    rounds = defaultdict(list)    # (bin, state) -> the floor's round trips
    keep = open(a.jsonl, "w") if a.jsonl else None
    for n in range(a.rounds):
        for name, bench in benches:
            state, rtt = state_of(bench, a.split_ns, extra, a.timeout)
            rounds[(name, state)].append(rtt)
            for row in run(bench, ["--cases", cases, "--sizes", a.sizes, "--repeat", "1", *extra], a.timeout):
                if "error" in row:
                    sys.exit(f"{name}: a case failed: {json.dumps(row)}")
                for q in ("rtt", "tput"):
                    if row.get(f"ratio_{q}") is not None:
                        medians[(row["case"], row["size"], q, state, name)].append(row[f"ratio_{q}"])
                if row.get("lag_p50") is not None:  # baselines too: their lag is half of a comparison
                    lags[(row["case"], row["size"], "tput", state, name)].append(row["lag_p50"])
                if keep:
                    keep.write(json.dumps({**row, "bin": name, "round": n, "state": state}) + "\n")
    if keep:
        keep.close()

    names = [name for name, _ in benches]
    for (name, state), rtts in sorted(rounds.items()):
        print(f"{name}: {len(rtts)} {state} rounds (floor.spsc_handwritten 8 B round trip, median {statistics.median(rtts):.0f} ns)")
    print(f"{'case':34} {'bytes':>6} {'ratio':5} {'state':5}  " + "  ".join(f"{n:>28}" for n in names))
    for key in sorted({k[:4] for k in medians} | {k[:4] for k in lags}, key=lambda k: (k[0], k[1], k[2], k[3])):
        cells = []
        for n in names:
            v = medians.get(key + (n,))
            lag = lags.get(key + (n,))
            lag_text = f" lag {statistics.median(lag):>6.0f}" if lag else " " * 11
            if v:
                cells.append(f"{statistics.median(v):8.2f} (n={len(v):>3}){lag_text}")
            elif lag:  # a baseline: no ratio of its own
                cells.append(f"{'-':>8} (n={len(lag):>3}){lag_text}")
            else:
                cells.append(f"{'-':>28}")
        print(f"{key[0]:34} {key[1]:>6} {key[2]:5} {key[3]:5}  " + "  ".join(cells))
    print("ratio: rtt is the round trip over the case's baseline, tput its throughput over its throughput baseline "
          "(as ipc_bench prints them); medians per state only; lag: the receiver's median backlog in messages (throughput rows)")


if __name__ == "__main__":
    main()
