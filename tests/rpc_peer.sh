#!/bin/sh
# A server and a client started as two unrelated programs (tests/rpc_peer.cpp)
# over a Unix socket, TCP on 127.0.0.1 and ::1, and shared memory: the classic
# call (X = 99 gives Y = 100) and the errors; then a server killed mid-call
# ends the client's call at once (closed, or peer_dead over shared memory).
#   usage: rpc_peer.sh path/to/rpc_peer
set -eu
peer=$1
dir=$(mktemp -d /tmp/ipc-test-XXXXXX)
server=
shm="ipc-test-$$-rpc-peer"
cleanup() {
    [ -n "$server" ] && kill -9 "$server" 2>/dev/null
    rm -rf "$dir"
    # A killed (or failed) shm server cannot remove its rings.
    rm -f "/dev/shm/ipc.$shm.req" "/dev/shm/ipc.$shm.rep" "/dev/shm/ipc.$shm-k.req" "/dev/shm/ipc.$shm-k.rep"
}
trap cleanup EXIT

# Starts `rpc_peer serve ARGS...` in the background and waits (bounded) for its
# "ready PORT" line; sets $server and $port.
n=0
start() {
    n=$((n + 1))
    ready="$dir/ready.$n"  # a new file each time: the background redirection truncates late
    "$peer" serve "$@" >"$ready" &
    server=$!
    i=0
    until grep -q '^ready [0-9]*$' "$ready" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 200 ] || ! kill -0 "$server" 2>/dev/null; then echo "server $* never became ready"; return 1; fi
        sleep 0.05
    done
    port=$(sed -n 's/^ready //p' "$ready")
}
stop() {
    kill -TERM "$server"
    wait "$server" || { echo "server exited $?"; exit 1; }
    server=
}

start unix "$dir/s.sock"; timeout 20 "$peer" call unix "$dir/s.sock"; stop
start tcp 127.0.0.1 0; timeout 20 "$peer" call tcp 127.0.0.1 "$port"; stop
if start tcp ::1 0 2>/dev/null; then
    timeout 20 "$peer" call tcp ::1 "$port"; stop
else
    echo "no IPv6 loopback: skipped ::1"; server=
fi
start shm "$shm"; timeout 20 "$peer" call shm "$shm"; wait "$server"; server=
if ls /dev/shm | grep -q "$shm"; then echo "shared memory left behind"; exit 1; fi

# Killed servers: the pending call ends within a second, with the right status.
for kind in unix shm; do
    if [ $kind = unix ]; then addr="$dir/k.sock"; else addr="$shm-k"; fi
    start $kind "$addr"
    timeout 20 "$peer" hang $kind "$addr" >"$dir/hang" &
    client=$!
    sleep 0.3
    kill -9 "$server"; wait "$server" 2>/dev/null || true; server=
    wait "$client" || { echo "hang client ($kind) failed:"; cat "$dir/hang"; exit 1; }
    cat "$dir/hang"
    ms=$(sed -n 's/.* after \([0-9]*\) ms/\1/p' "$dir/hang")
    if [ "$ms" -gt 1300 ]; then echo "the call took $ms ms to end after the kill"; exit 1; fi
done
echo "rpc_peer: ok"
