#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default 15),
# JOBS of them at a time (default 1; each fuzzer is one process on one core, so
# on an otherwise idle machine `nproc` of them cost the time of one).
# A target may write seeds into its corpus first (IPC_FUZZ_SEEDS, see fuzz_region.cpp).
# Usage: fuzz/run.sh [SECONDS] [BUILD_DIR] [JOBS]
set -euo pipefail
seconds=${1:-15}
here=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$here/build/fuzz}
jobs=${3:-1}
# A build directory that already exists (e.g. the clang preset's, which
# builds the fuzzers too) is reused as it is.
if [[ ! -f $build/CMakeCache.txt ]]; then
    CXX=clang++ cmake -S "$here" -B "$build" -G Ninja -DIPC_BUILD_FUZZERS=ON -DIPC_BUILD_TESTS=OFF \
        -DIPC_BUILD_EXAMPLES=OFF -DIPC_BUILD_BENCH=OFF >/dev/null
fi
targets=$(cd "$here/fuzz" && ls fuzz_*.cpp | sed 's/^fuzz_/fuzz-/; s/\.cpp$//')
# shellcheck disable=SC2086
cmake --build "$build" -j2 --target $targets
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
# Each fuzzer leaves its log and its exit status in the corpus directory; the
# results are printed in order once all have finished.
fuzz_one() {
    local f=$1 name rc=0
    name=$(basename "$f")
    IPC_FUZZ_SEEDS="$corpus/$name" "$f" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$corpus/" "$corpus/$name" 2>"$corpus/$name.log" || rc=$?
    echo "$rc" >"$corpus/$name.rc"
}
names=()
for f in "$build"/fuzz/fuzz-*; do
    name=$(basename "$f")
    mkdir -p "$corpus/$name"
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
    echo "== $name for ${seconds}s"
    fuzz_one "$f" &
    names+=("$name")
done
wait
status=0
for name in "${names[@]}"; do
    if [[ $(cat "$corpus/$name.rc" 2>/dev/null) != 0 ]]; then
        echo "== $name FAILED:"
        tail -40 "$corpus/$name.log"
        status=1
    else
        echo "== $name"
        grep -E "stat::number_of_executed_units" "$corpus/$name.log" || true
    fi
done
exit $status
