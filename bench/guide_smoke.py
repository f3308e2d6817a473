"""bench_guide_smoke: bench/guide.py keeps working. A quick run writes a table
with a row per mechanism, a figure in every measured cell, the machine, and
(when matplotlib is installed) a well-formed SVG naming every mechanism; the
saved run gives the same table again without matplotlib (with a note saying
the plot needs it) and spliced into a document between the markers.

  guide_smoke.py bench/guide.py path/to/ipc_bench OUTDIR [--require-svg]

--require-svg (CMake passes it when it found a python3 with matplotlib):
fail rather than check the table alone when matplotlib cannot be imported."""
import importlib.util
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

guide_py, bench, out = sys.argv[1:4]
require_svg = "--require-svg" in sys.argv[4:]
spec = importlib.util.spec_from_file_location("guide", guide_py)
guide = importlib.util.module_from_spec(spec)
spec.loader.exec_module(guide)


def run(args, block_matplotlib=False):
    # Blocking matplotlib: an import of it then fails, as on a machine without it.
    pre = "import sys, runpy; " + ("sys.modules['matplotlib'] = None; " if block_matplotlib else "")
    code = pre + f"sys.argv = {[guide_py, *args]!r}; runpy.run_path({guide_py!r}, run_name='__main__')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=150)
    if r.returncode != 0:
        sys.exit(f"guide.py {' '.join(args)} exited with {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def check_table(md):
    lines = md.splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    if head[:7] != ["mechanism", "round trip 8 B", "4 KiB", "64 KiB", "one way 8 B", "4 KiB", "64 KiB"]:
        sys.exit(f"unexpected header: {lines[0]}")
    rows = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != len(head):
            sys.exit(f"a row with {len(cells)} cells under {len(head)} columns: {line}")
        rows[cells[0]] = cells
    figure = re.compile(r"^(\d+(\.\d+)?(e[+-]\d+)? (µs|ms|[MG]B/s)|\d+(\.\d+)?[kMG]? msg/s|n/a \[\d+\])$")
    for label, case, *_ in guide.MECHANISMS:
        if label not in rows:
            sys.exit(f"no row for {label}")
        if case is None:
            continue
        cells = rows[label][1:7]
        bad = [c for c in cells if not figure.match(c)]
        if bad:
            sys.exit(f"{label}: cells that are neither a figure nor a noted n/a: {bad}")
        # Every mechanism carries 8 bytes: a time (µs, or ms when a loaded machine stalls one) and a rate.
        if not cells[0].endswith(("µs", "ms")) or not cells[3].endswith("msg/s"):
            sys.exit(f"{label}: no figure at 8 bytes: {cells}")
    for n in set(re.findall(r"n/a \[(\d+)\]", md)):
        if f"\n[{n}] " not in md:
            sys.exit(f"note [{n}] is used but not given")
    if not re.search(r"^Machine: .+ cores .+Linux .+built by (g\+\+|clang\+\+) ", md, re.M):
        sys.exit("the machine is not stated")


def check_svg(path):
    root = ET.parse(path).getroot()  # raises on a malformed file
    if not root.tag.endswith("svg"):
        sys.exit(f"{path}: root element {root.tag}")
    text = " ".join(t for t in root.itertext())
    missing = [label for label, case, *_ in guide.MECHANISMS if case and label not in text]
    if missing:
        sys.exit(f"{path}: no line labelled {missing}")
    if len(root.findall(".//{http://www.w3.org/2000/svg}path")) < len(guide.MECHANISMS):
        sys.exit(f"{path}: too few paths for the lines")


first = run(["--bench", bench, "--quick", "--out", out])
failed = [line for line in open(os.path.join(out, "guide.jsonl")) if '"error"' in line]
if failed:
    sys.exit("cases failed:\n" + "".join(failed))
table = open(os.path.join(out, "guide-table.md")).read()
check_table(table)
svg = os.path.join(out, "guide.svg")
if importlib.util.find_spec("matplotlib"):
    check_svg(svg)
    plotted = "SVG checked"
elif require_svg:
    sys.exit(f"--require-svg, but {sys.executable} cannot import matplotlib")
else:
    if os.path.exists(svg) or "needs matplotlib" not in first:
        sys.exit("without matplotlib: an SVG, or no note saying why there is none")
    plotted = "matplotlib is not installed: table only"

again = os.path.join(out, "from-saved")
note = run(["--from", os.path.join(out, "guide.jsonl"), "--out", again], block_matplotlib=True)
if open(os.path.join(again, "guide-table.md")).read() != table:
    sys.exit("the saved run gives another table")
if "needs matplotlib" not in note or os.path.exists(os.path.join(again, "guide.svg")):
    sys.exit("without matplotlib: an SVG, or no note saying why there is none")

doc = os.path.join(out, "doc.md")
with open(doc, "w") as f:
    f.write(f"# before\n{guide.BEGIN}\nold table\n{guide.END}\nafter\n")
run(["--from", os.path.join(out, "guide.jsonl"), "--out", again, "--doc", doc], block_matplotlib=True)
if open(doc).read() != f"# before\n{guide.BEGIN}\n{table}{guide.END}\nafter\n":
    sys.exit("--doc did not replace the text between the markers with the table")
print(f"bench_guide_smoke: {len(guide.MECHANISMS)} mechanisms in the table; {plotted}")
