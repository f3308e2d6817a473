#!/usr/bin/env bash
# Packaging check: installs ipc to a temporary prefix and builds and runs the
# same consumer program (consumer.cpp) the four ways a user would pull ipc in:
# find_package, add_subdirectory, pkg-config (g++ and clang++) and meson
# (installed, and as a subproject).
# Also checks that <ipc/channel.hpp> alone compiles warning-free from the
# installed tree under both compilers, and that the README's example runs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ipc-package-XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
strict=(-std=c++20 -Wall -Wextra -Wpedantic -Werror)

step() { printf '\n--- package: %s\n' "$*"; }
quiet() { "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; return 1; }; }

step "install to a temporary prefix"
quiet cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DIPC_BUILD_TESTS=OFF -DIPC_BUILD_EXAMPLES=OFF -DIPC_BUILD_BENCH=OFF -DIPC_INSTALL=ON
quiet cmake --install "$work/build"
for f in include/ipc/channel.hpp share/cmake/ipc/ipcConfig.cmake share/cmake/ipc/ipcConfigVersion.cmake \
         share/cmake/ipc/ipcTargets.cmake share/pkgconfig/ipc.pc; do
    [[ -f $prefix/$f ]] || { echo "missing from the install: $f"; exit 1; }
done
# Every header in the source tree is installed.
diff <(cd "$src/include" && find ipc -name '*.hpp' | sort) <(cd "$prefix/include" && find ipc -name '*.hpp' | sort)
echo "installed $(find "$prefix" -type f | wc -l) files"

step "find_package(ipc CONFIG REQUIRED)"
quiet cmake -S "$here/find_package" -B "$work/find_package" -G Ninja -DCMAKE_PREFIX_PATH="$prefix"
quiet cmake --build "$work/find_package"
"$work/find_package/consumer"

step "add_subdirectory(<ipc source>)"
quiet cmake -S "$here/add_subdirectory" -B "$work/add_subdirectory" -G Ninja -DIPC_SOURCE_DIR="$src"
quiet cmake --build "$work/add_subdirectory"
"$work/add_subdirectory/consumer"

export PKG_CONFIG_PATH=$prefix/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
for cxx in g++ clang++; do
    step "pkg-config with $cxx: $(pkg-config --cflags --libs ipc)"
    # shellcheck disable=SC2046 # the flags are meant to split
    "$cxx" "${strict[@]}" $(pkg-config --cflags ipc) "$here/consumer.cpp" -o "$work/consumer-$cxx" $(pkg-config --libs ipc)
    "$work/consumer-$cxx"
    echo '#include <ipc/channel.hpp>' | "$cxx" "${strict[@]}" -fsyntax-only -I"$prefix/include" -x c++ -
    echo "<ipc/channel.hpp> alone compiles with $cxx ${strict[*]}"
done

step "the README's example, from the installed headers"
awk '/^```cpp$/ { on = 1; next } /^```$/ { on = 0 } on' "$src/README.md" >"$work/readme.cpp"
g++ "${strict[@]}" -I"$prefix/include" "$work/readme.cpp" -o "$work/readme" -pthread
"$work/readme"

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

printf '\npackage: all consumers built and ran\n'
