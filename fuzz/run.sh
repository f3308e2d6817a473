#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default 15).
# A target may write seeds into its corpus first (IPC_FUZZ_SEEDS, see fuzz_region.cpp).
# Usage: fuzz/run.sh [SECONDS] [BUILD_DIR]
set -euo pipefail
seconds=${1:-15}
here=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$here/build/fuzz}
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
status=0
for f in "$build"/fuzz/fuzz-*; do
    name=$(basename "$f")
    mkdir -p "$corpus/$name"
    echo "== $name for ${seconds}s"
    if ! IPC_FUZZ_SEEDS="$corpus/$name" "$f" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
         -artifact_prefix="$corpus/" "$corpus/$name" 2>"$corpus/$name.log"; then
        tail -40 "$corpus/$name.log"
        status=1
    else
        grep -E "stat::number_of_executed_units" "$corpus/$name.log" || true
    fi
done
exit $status
