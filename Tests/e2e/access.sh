#!/usr/bin/env bash
# Access control by SO_PEERCRED, with a real second user: clients run as nobody (65534)
# through setpriv. Needs root (CI and the dev machines are); skipped otherwise.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
    echo "skipped: needs root and setpriv"; echo "0 passed, 0 failed"; exit 0
fi
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
chmod 0755 "$WORK"
mkdir -p "$WORK/root"
cp -r "$FIXTURE" "$WORK/root/tiny2"
chmod -R a+rX "$WORK/root"

# 1. Only root's group may connect: nobody is refused at hello.
SOCK=$WORK/closed.sock
"$EAGLED" --socket "$SOCK" --socket-mode 0666 --model "tiny=$FIXTURE" --allow-group 0 --log-level warning 2>"$WORK/closed.log" &
DAEMON_PID=$!
check "daemon up" wait_for_socket "$SOCK"
expect_exit "root is served" 0 "$PROBE" health --socket "$SOCK"
expect_exit "nobody is refused → 17" 17 "${AS_NOBODY[@]}" "$PROBE" health --socket "$SOCK"
check "refusal names the uid" grep -q "uid 65534 is not allowed" "$WORK/last.err"
stop_daemon

# 2. nobody allowed (by uid) but not an admin: may generate, may not load or unload.
SOCK=$WORK/open.sock
"$EAGLED" --socket "$SOCK" --socket-mode 0666 --model "tiny=$FIXTURE" --allow-user 65534 --model-root "$WORK/root" \
    --log-level warning 2>"$WORK/open.log" &
DAEMON_PID=$!
check "daemon up" wait_for_socket "$SOCK"
expect_exit "nobody may generate" 0 "${AS_NOBODY[@]}" "$PROBE" generate --socket "$SOCK" --tokens 1,2 --max-tokens 3
expect_exit "nobody may not load → 17" 17 "${AS_NOBODY[@]}" "$PROBE" load --socket "$SOCK" tiny2 "$WORK/root/tiny2"
expect_exit "nobody may not unload → 17" 17 "${AS_NOBODY[@]}" "$PROBE" unload --socket "$SOCK" tiny
expect_exit "root may load" 0 "$PROBE" load --socket "$SOCK" tiny2 "$WORK/root/tiny2"
stop_daemon

# 3. The socket mode alone keeps nobody out (0600, no access lists).
SOCK=$WORK/private.sock
"$EAGLED" --socket "$SOCK" --socket-mode 0600 --model "tiny=$FIXTURE" --log-level warning 2>"$WORK/private.log" &
DAEMON_PID=$!
check "daemon up" wait_for_socket "$SOCK"
expect_exit "0600 socket: nobody cannot connect → 69" 69 "${AS_NOBODY[@]}" "$PROBE" health --socket "$SOCK"
stop_daemon
summary
