#!/bin/sh
# The README claim, checked: lines written by a shell with `echo hello > fifo`
# come out of the fifo_lines example, and the FIFO is gone afterwards.
#   usage: fifo_lines.sh path/to/fifo_lines
set -eu
prog=$1
dir=$(mktemp -d /tmp/ipc-test-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fifo="$dir/lines"

"$prog" -n 2 -t 20 "$fifo" >"$dir/out" &
pid=$!

# Wait (bounded) for the example to create the FIFO.
i=0
while [ ! -p "$fifo" ]; do
    i=$((i + 1))
    if [ "$i" -gt 200 ]; then kill "$pid"; echo "the FIFO never appeared"; exit 1; fi
    sleep 0.05
done

# Two separate writers, each opening, writing one line and closing.
timeout 10 sh -c 'echo hello > "$1"' sh "$fifo"
timeout 10 sh -c 'echo world > "$1"' sh "$fifo"

wait "$pid"
expected=$(printf 'hello\nworld')
if [ "$(cat "$dir/out")" != "$expected" ]; then
    echo "unexpected output:"; cat "$dir/out"; exit 1
fi
if [ -e "$fifo" ]; then echo "the FIFO was left behind"; exit 1; fi
echo "fifo_lines: ok"
