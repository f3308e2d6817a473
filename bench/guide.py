#!/usr/bin/env python3
"""guide.py: "which IPC mechanism for what", measured.

Runs ipc_bench over one case per mechanism (or reads a saved run) and writes
  OUT/guide.jsonl     the measurements and the machine (rerun with --from)
  OUT/guide-table.md  the table: round trip and throughput at 8 B, 4 KiB and
                      64 KiB, and what each mechanism does (boundaries, hosts,
                      a crashed peer, poll, names)
  OUT/guide.svg       latency and throughput against message size (needs
                      matplotlib: Debian python3-matplotlib)
With --doc FILE the table goes into FILE between the guide.py markers instead
of guide-table.md.

  bench/guide.py --bench build/release/bench/ipc_bench --repeat 5 --out docs --doc docs/guide.md
  bench/guide.py --from docs/guide.jsonl --out /tmp/guide      # redraw from a saved run
  bench/guide.py --bench ... --quick --out /tmp/g              # a short run (CI); rough numbers
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

TABLE_SIZES = (8, 4096, 65536)
SWEEP_SIZES = (8, 64, 256, 1024, 4096, 16384, 65536)
BEGIN, END = "<!-- guide.py: begin -->", "<!-- guide.py: end -->"

# What each mechanism is, the ipc_bench case that measures it (an ipc channel,
# length_prefixed where the framing is a choice, so that every size runs), and
# what it does. These are facts of ipc on Linux, not measurements; each one is
# documented in the header named in "use". Columns:
#   bounds   keeps message boundaries (a stream needs a framing; ipc adds one)
#   hosts    works between two machines
#   crash    what the other side sees when a peer process dies (SIGKILL, crash)
#   poll     waitable with poll/epoll beside other descriptors
#   name     needs a name in the file system (and so cleanup, and permissions)
CALL_PEERS = {"peer.grpc", "peer.capnp_rpc", "peer.zmq_reqrep"}  # request/reply: see `ipc_bench --filter rpc`

MECHANISMS = [
    # label, case, use (API, header), bounds, hosts, crash, poll, name, fits
    ("pipe", "ipc.pipe.length_prefixed", "`fork_with`, `pipe_channel` (process.hpp, channel.hpp)",
     "no: a stream", "no", "end of stream", "yes", "no: inherited by fork", "a parent and its children"),
    ("FIFO", "ipc.fifo.length_prefixed", "`fifo` (transport/fifo.hpp)",
     "no: a stream", "no", "end of stream", "yes", "yes: a path", "unrelated local programs, shell tools"),
    ("Unix stream socket", "ipc.unix_stream.length_prefixed", "`unix_stream` (transport/unix_socket.hpp)",
     "no: a stream", "no", "end of stream", "yes", "optional: a path, an abstract name, or a socketpair",
     "local client/server; passing descriptors"),
    ("Unix seqpacket socket", "ipc.unix_seqpacket.length_prefixed", "`unix_seqpacket` (transport/unix_socket.hpp)",
     "yes", "no", "end of stream", "yes", "optional, as above", "local client/server with messages"),
    ("Unix datagram socket", "ipc.unix_dgram.length_prefixed", "`unix_dgram` (transport/unix_socket.hpp)",
     "yes", "no", "sender: closed; receiver: nothing", "yes", "optional, as above", "local one-way notices"),
    ("TCP (loopback)", "ipc.tcp.length_prefixed", "`tcp_socket` (transport/inet_socket.hpp)",
     "no: a stream", "yes", "end of stream", "yes", "no: address and port", "other hosts"),
    ("UDP (loopback)", "ipc.udp.length_prefixed", "`udp_socket` (transport/inet_socket.hpp)",
     "yes", "yes (may lose, reorder)", "nothing", "yes", "no: address and port", "other hosts, loss tolerated"),
    ("POSIX message queue", "ipc.posix_mq.length_prefixed", "`posix_mq` (transport/posix_mq.hpp)",
     "yes, with priorities", "no", "nothing; queued messages stay", "yes", "yes: /dev/mqueue",
     "work queues between unrelated programs"),
    ("System V message queue", "ipc.sysv_mq.length_prefixed", "`sysv_mq` (transport/sysv_mq.hpp)",
     "yes, with types", "no", "nothing; queued messages stay", "no", "no: a key (see ipcs)", "legacy systems"),
    ("shared memory SPSC, futex", "ipc.shm.futex", "`shm_channel<T, sync::futex>` (transport/posix_shm.hpp)",
     "yes: one T a slot", "no", "peer_dead", "yes (a doorbell found by the region's name)", "yes: /dev/shm",
     "fast streams of fixed-size records"),
    ("shared memory SPSC, spin", "ipc.shm.spin", "`shm_channel<T, sync::spin>` (transport/posix_shm.hpp)",
     "yes: one T a slot", "no", "peer_dead", "no", "yes: /dev/shm", "lowest latency, a core each spinning"),
    ("shared memory MPMC, futex", "ipc.shm_mpmc.futex", "`shm_mpmc_channel<T, sync::futex>` (transport/posix_shm.hpp)",
     "yes: one T a slot", "no", "peer_dead; its slots repaired (`shm_work_queue`: its claimed message redelivered)",
     "yes", "yes: /dev/shm", "several producers and consumers"),
    ("shared memory bytes ring, futex", "ipc.shm_bytes.futex",
     "`shm_message_channel<std::vector<std::byte>, sync::futex>` (transport/posix_shm.hpp)",
     "yes: variable-size records", "no", "peer_dead", "yes", "yes: /dev/shm", "fast variable-size messages"),
    ("eventfd", "ipc.eventfd", "`eventfd_channel` (transport/eventfd.hpp)",
     "no: a counter, sends add up", "no", "nothing (no peers, only holders)", "yes", "no: inherited or passed",
     "wake-ups, counts of work"),
    ("realtime signal", "ipc.signal", "`signal_sender`, `signal_receiver` (transport/signal.hpp)",
     "yes: one 8-byte value each", "no", "sender: closed (pidfd)", "yes (signalfd)", "no: a pid", "small notices to a pid"),
    # ipc_bench does not measure files (see bench/README.md): facts only.
    ("file log", None, "`file_sender`, `file_receiver` (transport/file.hpp)",
     "no: a stream", "no", "a torn frame is completed by the next writer", "yes (inotify)", "yes: a path",
     "logs, replay, data that must outlive processes"),
]


def machine(bench):
    """The machine and build, as the guide states them."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    about = json.loads(subprocess.run([bench, "--about"], capture_output=True, text=True, check=True).stdout)
    return {"cpu": cpu, "cores": os.cpu_count(), "cores_usable": len(os.sched_getaffinity(0)),
            "kernel": platform.release(), "compiler": about.get("compiler"), "optimisation": about.get("optimisation"),
            "ipc_version": about.get("ipc_version"), "cpus_pinned": about.get("cpus"),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"), "load_before": os.getloadavg()[0]}


def measure(bench, quick, repeat):
    names = subprocess.run([bench, "--list"], capture_output=True, text=True, check=True).stdout.split()
    # Message-passing peers only: the RPC peers (bench/calls.hpp) measure calls,
    # which this table's "one way" column would misstate.
    peers = [n for n in names if n.startswith("peer.") and n not in CALL_PEERS]
    cases = [m[1] for m in MECHANISMS if m[1]] + peers
    missing = [c for c in cases if c not in names]
    if missing:
        sys.exit(f"guide.py: {bench} has no case {', '.join(missing)}")
    sizes = TABLE_SIZES if quick else SWEEP_SIZES
    meta = machine(bench)
    if meta["load_before"] > 0.25 * meta["cores"]:
        print(f"guide.py: load average {meta['load_before']:.1f} on {meta['cores']} cores: these numbers are not for publishing",
              file=sys.stderr)
    args = [bench, "--json", "--cases", ",".join(cases), "--sizes", ",".join(map(str, sizes)), "--repeat", str(repeat)]
    if quick:
        args.append("--quick")
    run = subprocess.run(args, capture_output=True, text=True)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        sys.exit(f"guide.py: {' '.join(args)} exited with {run.returncode}")
    meta.update(quick=quick, repeat=repeat, load_after=os.getloadavg()[0])
    return meta, [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


def load(path):
    meta, rows = None, []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            obj = json.loads(line)
            if "machine" in obj:
                meta = obj["machine"]
            elif "case" in obj:
                rows.append(obj)
    if not rows:
        sys.exit(f"guide.py: no measurements in {path}")
    return meta, rows


def machine_line(meta):
    if not meta:
        return "Machine: not recorded (the file holds ipc_bench output alone)."
    pinned = meta.get("cpus_pinned") or [-1, -1]
    where = f"pinned to CPUs {pinned[0]} and {pinned[1]}" if pinned[0] >= 0 else "not pinned"
    kind = "a quick run (rough numbers)" if meta.get("quick") else f"median of {meta.get('repeat', 1)} runs"
    return (f"Machine: {meta['cpu']}, {meta['cores']} cores ({meta['cores_usable']} usable), Linux {meta['kernel']}; "
            f"ipc_bench built by {meta['compiler']} {meta['optimisation']}, processes {where}; {kind}, {meta['date']}, "
            f"load average {meta['load_before']:.2f} before and {meta['load_after']:.2f} after.")


def per_second(v):
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale * 0.9995:  # 999.96k prints as 1M, not 1e+03k
            return f"{v / scale:.3g}{prefix} msg/s"
    return f"{v:.3g} msg/s"


def cell(rows, case, size, field, notes):
    r = rows.get((case, size))
    if r is None:
        return "–"
    if "skipped" in r or "error" in r:
        reason = r.get("skipped") or "failed: " + r["error"]
        if reason not in notes:
            notes.append(reason)
        return f"n/a [{notes.index(reason) + 1}]"
    v = r.get(field)
    if v is None:
        return "–"
    if field == "rtt_p50_ns":
        return f"{v / 1000:.3g} µs" if v < 999_500 else f"{v / 1e6:.3g} ms"
    if field == "msgs_per_s":
        return per_second(v)
    return f"{v:.3g} MB/s" if v < 999.5 else f"{v / 1000:.3g} GB/s"


def numbers(rows, case, notes):
    return [cell(rows, case, s, "rtt_p50_ns", notes) for s in TABLE_SIZES] + \
           [cell(rows, case, 8, "msgs_per_s", notes)] + [cell(rows, case, s, "mb_per_s", notes) for s in TABLE_SIZES[1:]]


def table(meta, rows_list):
    rows = {(r["case"], r["size"]): r for r in rows_list}
    notes = []
    head = ["mechanism", "round trip 8 B", "4 KiB", "64 KiB", "one way 8 B", "4 KiB", "64 KiB",
            "keeps boundaries", "across hosts", "a peer dies", "pollable", "name in the file system", "fits", "ipc API"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, case, use, bounds, hosts, crash, poll, name, fits in MECHANISMS:
        nums = numbers(rows, case, notes) if case else ["not measured"] + [""] * 5
        out.append("| " + " | ".join([label, *nums, bounds, hosts, crash, poll, name, fits, use]) + " |")
    peers = sorted({r["case"] for r in rows_list if r["case"].startswith("peer.") and r["case"] not in CALL_PEERS})
    if peers:
        out += ["", "Other libraries, same machine, same harness:", "",
                "| library | round trip 8 B | 4 KiB | 64 KiB | one way 8 B | 4 KiB | 64 KiB |", "|" + "---|" * 7]
        out += ["| " + " | ".join([p[len("peer."):], *numbers(rows, p, notes)]) + " |" for p in peers]
    out += ["", "Round trip: median time for a message to go to the other process and back. One way: messages "
            "(or bytes, MB = 10^6) per second sent back to back. Cases: " +
            ", ".join(f"`{m[1]}`" for m in MECHANISMS if m[1]) + " (see bench/README.md).", "", machine_line(meta)]
    if notes:
        out += [""] + [f"[{i}] {n}" for i, n in enumerate(notes, 1)]
    return "\n".join(out) + "\n"


def plot(meta, rows_list, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("guide.py: no plot: it needs matplotlib (Debian: apt-get install python3-matplotlib)")
        return False
    plt.rcParams["svg.hashsalt"] = "ipc-guide"  # stable ids: a rerun on the same numbers gives the same file
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable, in the reader's font
    fig, (lat, tput) = plt.subplots(1, 2, figsize=(13, 5.5))
    series = [(label, case) for label, case, *_ in MECHANISMS if case]
    series += [(c[len("peer."):], c) for c in sorted({r["case"] for r in rows_list if r["case"].startswith("peer.")})]
    styles = ["-", "--", ":", "-."]
    markers = "osD^v<>ph*"
    for i, (label, case) in enumerate(series):
        points = sorted((r["size"], r) for r in rows_list if r["case"] == case and r.get("rtt_p50_ns"))
        if not points:
            continue
        style = dict(linestyle=styles[i // 10 % len(styles)], marker=markers[i % len(markers)], color=f"C{i % 10}",
                     label=label, markersize=4)
        sizes = [s for s, _ in points]
        lat.plot(sizes, [r["rtt_p50_ns"] / 1000 for _, r in points], **style)
        tput.plot(sizes, [r["mb_per_s"] for _, r in points], **style)
    for ax, what in ((lat, "round trip, median (µs)"), (tput, "one way (MB/s, MB = 10^6 bytes)")):
        ax.set_xscale("log", base=2)
        ticks = sorted({r["size"] for r in rows_list})
        ax.set_xticks(ticks, [f"{t // 1024} Ki" if t >= 1024 else str(t) for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_yscale("log")
        ax.set_xlabel("message size (bytes)")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
    lat.set_title("latency (lower is better)")
    tput.set_title("throughput (higher is better)")
    handles, labels = lat.get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.suptitle(machine_line(meta), fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0, 0.8, 0.93))
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--bench", help="the ipc_bench executable to run")
    src.add_argument("--from", dest="saved", metavar="FILE", help="a saved run (guide.jsonl, or ipc_bench --json output)")
    ap.add_argument("--quick", action="store_true", help="ipc_bench --quick, table sizes only (CI)")
    ap.add_argument("--repeat", type=int, default=1, help="ipc_bench --repeat N (medians)")
    ap.add_argument("--out", default=".", help="directory for guide.jsonl, guide-table.md and guide.svg")
    ap.add_argument("--doc", help=f"put the table into this file between {BEGIN} and {END}")
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    if a.bench:
        meta, rows = measure(a.bench, a.quick, a.repeat)
        with open(os.path.join(a.out, "guide.jsonl"), "w") as f:
            f.write(json.dumps({"machine": meta}) + "\n")
            f.writelines(json.dumps(r) + "\n" for r in rows)
    else:
        meta, rows = load(a.saved)
    md = table(meta, rows)
    print(md)
    if a.doc:
        with open(a.doc) as f:
            text = f.read()
        if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
            sys.exit(f"guide.py: {a.doc} needs one {BEGIN} line and one {END} line after it")
        before, rest = text.split(BEGIN)
        with open(a.doc, "w") as f:
            f.write(before + BEGIN + "\n" + md + END + rest.split(END, 1)[1])
    else:
        with open(os.path.join(a.out, "guide-table.md"), "w") as f:
            f.write(md)
    svg = os.path.join(a.out, "guide.svg")
    if plot(meta, rows, svg):
        print(f"guide.py: wrote {svg}")


if __name__ == "__main__":
    main()
