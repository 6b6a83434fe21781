#!/usr/bin/env bash
# sd_notify without systemd: a datagram socket stands in for $NOTIFY_SOCKET and collects
# READY/STATUS/WATCHDOG/STOPPING. Then SIGTERM in the middle of a streamed generation: the
# client still gets every token and the daemon exits 0.
source "$(dirname "$0")/lib.sh"
MODEL=$ROOT/Models/tiny-pystd
[ -f "$MODEL/config.json" ] || MODEL=$FIXTURE
CONTEXT=$(python3 -c "import json,sys; print(json.load(open('$MODEL/config.json'))['max_position_embeddings'])")
TOKENS=$((CONTEXT - 40))

SOCK=$WORK/eagled.sock
NOTIFY=$WORK/notify.sock
python3 - "$NOTIFY" "$WORK/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.5)
deadline = time.time() + 120
with open(sys.argv[2], "w", buffering=1) as log:
    while time.time() < deadline:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            continue
        log.write(msg.replace("\n", " | ") + "\n")
        if "STOPPING=1" in msg:
            break
PY
LISTENER=$!
for _ in $(seq 1 100); do [ -S "$NOTIFY" ] && break; sleep 0.05; done

NOTIFY_SOCKET=$NOTIFY WATCHDOG_USEC=200000 "$EAGLED" --socket "$SOCK" --model "m=$MODEL" --workers 1 \
    --log-level info 2>"$WORK/eagled.log" &
DAEMON_PID=$!
check "daemon answers health" wait_for_socket "$SOCK"
check "READY=1 with a STATUS" bash -c "for i in \$(seq 1 100); do grep -q 'READY=1 | STATUS=serving' '$WORK/notify.log' && exit 0; sleep 0.05; done; exit 1"
check "load progress as STATUS= before READY" bash -c "grep -q \"^STATUS=loading model 'm': opened checkpoint\" '$WORK/notify.log'"
check "load progress in the log" grep -q "model 'm': opened checkpoint" "$WORK/eagled.log"
check "watchdog pings (WATCHDOG_USEC=200000)" bash -c "for i in \$(seq 1 100); do test \$(grep -c '^WATCHDOG=1' '$WORK/notify.log') -ge 2 && exit 0; sleep 0.05; done; exit 1"

# A long streamed generation; SIGTERM once its first chunk has arrived.
"$PROBE" generate --socket "$SOCK" --tokens 1,2,3,4 --max-tokens "$TOKENS" --ignore-eos --json >"$WORK/gen.out" 2>"$WORK/gen.err" &
CLIENT=$!
for _ in $(seq 1 400); do grep -q '"chunk"' "$WORK/gen.out" 2>/dev/null && break; sleep 0.01; done
kill -TERM "$DAEMON_PID"
wait "$CLIENT"; CLIENT_RC=$?
wait "$DAEMON_PID"; DAEMON_RC=$?; DAEMON_PID=
check "in-flight client finished normally" test "$CLIENT_RC" -eq 0
RESULT=$(grep '"generate"' "$WORK/gen.out")
check "it got all $TOKENS tokens" python3 -c "import json,sys; r=json.loads(sys.argv[1])['generate']; sys.exit(0 if len(r['ids'])==$TOKENS else 1)" "$RESULT"
check "SIGTERM exits 0" test "$DAEMON_RC" -eq 0
check "STOPPING=1 sent" bash -c "for i in \$(seq 1 100); do grep -q 'STOPPING=1' '$WORK/notify.log' && exit 0; sleep 0.05; done; exit 1"
check "drain logged the running request" grep -q "draining: 1 generations" "$WORK/eagled.log"
check "new connections refused after stop" bash -c "! '$PROBE' health --socket '$SOCK' 2>/dev/null"
wait "$LISTENER" 2>/dev/null
summary
