#!/usr/bin/env bash
# Checks that a C++17 compile of <ipc/channel.hpp> fails with the one message
# version.hpp gives (the #error, then the fatal stop right after it) and nothing
# else: no error from the code that follows.
# Usage: cxx17-error.sh COMPILER INCLUDE_DIR [-std=c++17]
set -uo pipefail
cxx=$1 include=$2 std=${3:--std=c++17}
want='ipc needs C++20: compile with -std=c++20'

if out=$(echo '#include <ipc/channel.hpp>' | "$cxx" "$std" -I"$include" -x c++ -fsyntax-only - 2>&1); then
    echo "FAIL: $cxx $std compiled <ipc/channel.hpp>"; exit 1
fi
errors=$(grep -E '(fatal )?error:' <<<"$out")
count=$(wc -l <<<"$errors")
if [[ $(head -n1 <<<"$errors") != *"$want"* || $count != 2 || $(tail -n1 <<<"$errors") != *'fatal error:'* ]]; then
    echo "FAIL: $cxx $std: want the C++20 #error then the fatal stop, got $count errors:"
    echo "$out" | head -n 30
    exit 1
fi
echo "$cxx $std: one message: $(head -n1 <<<"$errors" | sed 's/.*error: //')"
