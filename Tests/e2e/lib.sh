# Shared helpers for the end-to-end shell tests. Source it; needs bash.
# BIN_DIR: where eagled and eagle-probe are (default .build/debug); built by the caller.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/.build/debug}
EAGLED=$BIN_DIR/eagled
PROBE=$BIN_DIR/eagle-probe
FIXTURE=$ROOT/Tests/Fixtures/models/tiny-llama3-f16-sharded
PASSED=0
FAILED=0
WORK=$(mktemp -d /tmp/eagled-e2e.XXXXXX)
DAEMON_PID=
trap 'cleanup' EXIT

cleanup() {
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}

pass() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1${2:+: $2}"; }

# check NAME COMMAND...: passes when the command exits 0.
check() {
    local name=$1; shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}

# expect_exit NAME CODE COMMAND...: passes when the command exits with CODE.
expect_exit() {
    local name=$1 code=$2; shift 2
    "$@" >"$WORK/last.out" 2>"$WORK/last.err"
    local rc=$?
    if [ "$rc" -eq "$code" ]; then pass "$name"; else fail "$name" "exit $rc, expected $code: $(head -c 300 "$WORK/last.err")"; fi
}

# wait_for_socket PATH: polls health until the daemon answers (bounded, not a timing test).
wait_for_socket() {
    for _ in $(seq 1 300); do
        "$PROBE" health --socket "$1" >/dev/null 2>&1 && return 0
        if [ -n "$DAEMON_PID" ] && ! kill -0 "$DAEMON_PID" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
    return 1
}

# stop_daemon: SIGTERM, then the exit status of the daemon in $DAEMON_RC.
stop_daemon() {
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID"
    DAEMON_RC=$?
    DAEMON_PID=
}

summary() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
