#!/bin/sh
# Issue 9, item 5: the default type tag is the same under g++ and clang++. Builds
# tests/type_tag_peer.cpp with each compiler; a program built by one creates
# rings and a shared object of a struct, a template type, a std::pair and a
# type in an anonymous namespace, the program built by the other opens them
# (both ways round). Exit 77 (skipped) if either compiler is missing.
#   usage: type_tag_compilers.sh INCLUDE_DIR PEER_SOURCE OUT_DIR
set -eu
inc=$1 src=$2 out=$3
for cxx in g++ clang++; do
    command -v "$cxx" >/dev/null || { echo "$cxx not found: skipped"; exit 77; }
done
mkdir -p "$out"
g++ -std=c++20 -Wall -Wextra -Wpedantic -I"$inc" "$src" -o "$out/peer-g++" -pthread
clang++ -std=c++20 -Wall -Wextra -Wpedantic -I"$inc" "$src" -o "$out/peer-clang++" -pthread

name="ipc-test-tag-$$"
trap 'rm -f /dev/shm/ipc.segment.$name.*' EXIT
status=0
for pair in "g++ clang++" "clang++ g++"; do
    set -- $pair
    if ! "$out/peer-$1" create "$name" || ! "$out/peer-$2" open "$name"; then
        echo "FAILED: made by a $1 build, opened by a $2 build"
        status=1
    else
        echo "ok: made by a $1 build, opened by a $2 build"
    fi
    rm -f /dev/shm/ipc.segment."$name".*
done
exit $status
