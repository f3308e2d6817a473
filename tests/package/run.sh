#!/usr/bin/env bash
# Packaging check: installs ipc to a temporary prefix and builds and runs the
# same consumer program (consumer.cpp) the four ways a user would pull ipc in:
# find_package, add_subdirectory, pkg-config (g++ and clang++) and meson
# (installed, and as a subproject).
# Also checks that the install recipe needs no doctest, that ipc.pc points
# into the prefix given at install time, that <ipc/channel.hpp> alone compiles
# warning-free from the installed tree under both compilers and stops at one
# message under C++17 (meson too). (README's examples are tests of the CMake
# presets; the install holds the same headers, which the diff below checks.)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ipc-package-XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
strict=(-std=c++20 -Wall -Wextra -Wpedantic -Werror)

step() { printf '\n--- package: %s\n' "$*"; }
quiet() { "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; return 1; }; }

step "install as README says (cmake -S . -B build && cmake --install build --prefix P), doctest hidden"
# The recipe must never need doctest: hide it, and expect the tests to be skipped with a message.
cmake -S "$src" -B "$work/build" -DCMAKE_IGNORE_PATH=/usr/include >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log"; exit 1; }
grep -q 'ipc: tests skipped: doctest not found' "$work/configure.log" ||
    { cat "$work/configure.log"; echo "no 'tests skipped' message without doctest"; exit 1; }
quiet cmake --install "$work/build" --prefix "$prefix"
for f in include/ipc/channel.hpp share/cmake/ipc/ipcConfig.cmake share/cmake/ipc/ipcConfigVersion.cmake \
         share/cmake/ipc/ipcTargets.cmake share/pkgconfig/ipc.pc; do
    [[ -f $prefix/$f ]] || { echo "missing from the install: $f"; exit 1; }
done
# Every header in the source tree is installed.
diff <(cd "$src/include" && find ipc -name '*.hpp' | sort) <(cd "$prefix/include" && find ipc -name '*.hpp' | sort)
echo "installed $(find "$prefix" -type f | wc -l) files"

step "BUILD_TESTING=OFF and IPC_BUILD_TESTS=OFF each turn the tests off"
for opt in -DBUILD_TESTING=OFF -DIPC_BUILD_TESTS=OFF; do
    quiet cmake -S "$src" -B "$work/notests" -G Ninja "$opt"
    if grep -q 'test-pipe' "$work/notests/build.ninja"; then echo "$opt: test targets still generated"; exit 1; fi
    echo "$opt: no test targets"
    rm -rf "$work/notests"
done

step "find_package(ipc CONFIG REQUIRED)"
quiet cmake -S "$here/find_package" -B "$work/find_package" -G Ninja -DCMAKE_PREFIX_PATH="$prefix"
quiet cmake --build "$work/find_package"
"$work/find_package/consumer"

step "add_subdirectory(<ipc source>)"
quiet cmake -S "$here/add_subdirectory" -B "$work/add_subdirectory" -G Ninja -DIPC_SOURCE_DIR="$src"
quiet cmake --build "$work/add_subdirectory"
"$work/add_subdirectory/consumer"

export PKG_CONFIG_PATH=$prefix/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
step "ipc.pc is relocatable: pkg-config --cflags ipc points into the prefix given at install time"
cflags=$(pkg-config --cflags ipc | xargs)
[[ $cflags == -I* && $(realpath -m "${cflags#-I}") == "$(realpath "$prefix/include")" ]] ||
    { echo "pkg-config --cflags ipc gives '$cflags', not -I$prefix/include"; exit 1; }
echo "$cflags"
for cxx in g++ clang++; do
    step "pkg-config with $cxx: $(pkg-config --cflags --libs ipc)"
    # shellcheck disable=SC2046 # the flags are meant to split
    "$cxx" "${strict[@]}" $(pkg-config --cflags ipc) "$here/consumer.cpp" -o "$work/consumer-$cxx" $(pkg-config --libs ipc)
    "$work/consumer-$cxx"
    echo '#include <ipc/channel.hpp>' | "$cxx" "${strict[@]}" -fsyntax-only -I"$prefix/include" -x c++ -
    echo "<ipc/channel.hpp> alone compiles with $cxx ${strict[*]}"
    "$here/cxx17-error.sh" "$cxx" "$prefix/include"
done

# The meson consumer gets the source tree as a subproject next to it.
mkdir -p "$work/meson-consumer/meson/subprojects"
cp "$here/consumer.cpp" "$work/meson-consumer/"
cp "$here/meson/meson.build" "$work/meson-consumer/meson/"
ln -s "$src" "$work/meson-consumer/meson/subprojects/ipc"
for how in pkg-config subproject; do
    step "meson dependency('ipc') from $how"
    opts=()
    [[ $how == subproject ]] && opts=(--force-fallback-for=ipc)
    quiet meson setup "${opts[@]}" "$work/meson-$how" "$work/meson-consumer/meson"
    # Make sure the dependency came from where this step says.
    found=$(grep -h "ipc found: YES" "$work/meson-$how/meson-logs/meson-log.txt")
    if [[ $how == subproject ]]; then want='(overridden)'; else want='Run-time dependency'; fi
    [[ $found == *"$want"* ]] || { echo "ipc was not found from $how: $found"; exit 1; }
    quiet meson compile -C "$work/meson-$how"
    "$work/meson-$how/consumer"
done

step "meson consumer without cpp_std=c++20: the one C++20 message"
quiet meson setup -Dcpp_std=none "$work/meson-nostd" "$work/meson-consumer/meson"
if meson compile -C "$work/meson-nostd" >"$work/nostd.log" 2>&1; then
    echo "a gnu++17 meson build of the consumer compiled"; exit 1
fi
errors=$(grep -E '(fatal )?error:' "$work/nostd.log" || true)
if [[ $(head -n1 <<<"$errors") != *'ipc needs C++20: compile with -std=c++20'* || $(wc -l <<<"$errors") != 2 ]]; then
    cat "$work/nostd.log"; echo "want the C++20 #error and its fatal stop only"; exit 1
fi
echo "$(head -n1 <<<"$errors" | sed 's/.*error: //')"

printf '\npackage: all consumers built and ran\n'
