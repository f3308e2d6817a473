#!/bin/sh
# examples/across_hosts as two unrelated programs over TCP: a server on
# 127.0.0.1 (then ::1, when the machine has IPv6 loopback) and a client given
# only the address and the port the server printed.
#   usage: across_hosts.sh path/to/across_hosts
set -eu
prog=$1
out=$(mktemp /tmp/ipc-test-XXXXXX)
server=
trap '[ -n "$server" ] && kill -9 "$server" 2>/dev/null; rm -f "$out"' EXIT

for host in 127.0.0.1 ::1; do
    rm -f "$out"  # the background redirection creates it anew: no stale line from the last round
    "$prog" serve "$host" 0 >"$out" 2>&1 &
    server=$!
    i=0
    until grep -q '^listening on [0-9]*$' "$out" 2>/dev/null; do
        i=$((i + 1))
        if ! kill -0 "$server" 2>/dev/null; then
            if [ "$host" = ::1 ]; then echo "no IPv6 loopback: skipped ::1"; server=; continue 2; fi
            echo "the server on $host failed:"; cat "$out"; exit 1
        fi
        if [ "$i" -gt 200 ]; then echo "the server on $host never listened"; exit 1; fi
        sleep 0.05
    done
    port=$(sed -n 's/^listening on //p' "$out")
    timeout 20 "$prog" call "$host" "$port"
    kill -TERM "$server"
    wait "$server"
    server=
done
echo "across_hosts: ok"
