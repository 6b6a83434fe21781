#!/usr/bin/env bash
# Socket activation with an inherited fd: systemd-socket-activate binds the socket and
# execs eagled with LISTEN_FDS=1 (fd 3) on the first connection.
source "$(dirname "$0")/lib.sh"
if ! command -v systemd-socket-activate >/dev/null; then
    echo "systemd-socket-activate not installed (Debian package systemd)"; echo "0 passed, 1 failed"; exit 1
fi

SOCK=$WORK/activated.sock
systemd-socket-activate -l "$SOCK" "$EAGLED" --socket "$WORK/unused.sock" --model "tiny=$FIXTURE" \
    --log-level info 2>"$WORK/eagled.log" &
DAEMON_PID=$!
check "listener socket exists" bash -c "for i in \$(seq 1 100); do test -S '$SOCK' && exit 0; sleep 0.05; done; exit 1"
check "first connection activates the daemon" wait_for_socket "$SOCK"
expect_exit "generate over the inherited socket" 0 "$PROBE" generate --socket "$SOCK" --tokens 1,5,9 --max-tokens 4 --json
check "result has 4 tokens" grep -q '"generate":{"ids":\[[0-9]*,[0-9]*,[0-9]*,[0-9]*\]' "$WORK/last.out"
check "daemon used fd 3, not its own path" grep -q "socket fd 3 from systemd" "$WORK/eagled.log"
check "no socket created at --socket" test ! -e "$WORK/unused.sock"
stop_daemon
check "SIGTERM exits 0" test "$DAEMON_RC" -eq 0
summary
