#!/usr/bin/env bash
# eagle-probe against a live eagled: every subcommand, exit codes by error class, bad input
# through `raw`, runtime loads inside/outside the model root, and a clean SIGTERM exit.
source "$(dirname "$0")/lib.sh"

SOCK=$WORK/eagled.sock
mkdir -p "$WORK/root"
cp -r "$FIXTURE" "$WORK/root/tiny2"
HEAD=$ROOT/Tests/Fixtures/models/tiny-llama3-head
"$EAGLED" --socket "$SOCK" --model "tiny=$FIXTURE" --model "tinye=$FIXTURE,draft=$HEAD" --default-model tiny --model-root "$WORK/root" --socket-mode 0600 \
    --default-max-tokens 9 \
    --log-level warning 2>"$WORK/eagled.log" &
DAEMON_PID=$!
check "daemon answers health" wait_for_socket "$SOCK"
check "socket mode is 0600" test "$(stat -c %a "$SOCK")" = 600

expect_exit "health" 0 "$PROBE" health --socket "$SOCK"
check "health says serving" grep -q "^serving 2 model" "$WORK/last.out"
expect_exit "models" 0 "$PROBE" models --socket "$SOCK"
check "models lists tiny" grep -q "^tiny" "$WORK/last.out"
expect_exit "generate --json" 0 "$PROBE" generate --socket "$SOCK" --tokens 1,5,9 --max-tokens 6 --ignore-eos --json
# Chunks carry every token once (several per chunk when tokens come faster than ~2 ms).
streamed_ids() { python3 -c 'import json,sys; print(sum(len(json.loads(l).get("chunk", {}).get("ids", [])) for l in sys.stdin))' <"$WORK/last.out"; }
check "json has hello, chunks with 6 tokens and a result" test "$(streamed_ids)" -eq 6 -a "$(grep -c '"generate"' "$WORK/last.out")" -eq 1 -a "$(grep -c '"hello"' "$WORK/last.out")" -eq 1
check "json result carries token ids" grep -q '"ids":\[[0-9,]*\].*STOP_REASON_MAX_TOKENS' "$WORK/last.out"
expect_exit "generate blocking" 0 "$PROBE" generate --socket "$SOCK" --tokens 1,5,9 --max-tokens 6 --no-stream --json
A=$(grep '"generate"' "$WORK/last.out" | sed 's/.*"ids":\(\[[0-9,]*\]\).*/\1/')
"$PROBE" generate --socket "$SOCK" --tokens 1,5,9 --max-tokens 6 --json | grep '"generate"' | sed 's/.*"ids":\(\[[0-9,]*\]\).*/\1/' > "$WORK/streamed"
check "streamed and blocking results agree" test "$A" = "$(cat "$WORK/streamed")"
expect_exit "stats" 0 "$PROBE" stats --socket "$SOCK"
check "stats counts requests" grep -q "requests [1-9]" "$WORK/last.out"

# Error classes: 10 + status code.
expect_exit "unknown model → 15" 15 "$PROBE" generate --socket "$SOCK" --model nope --tokens 1
expect_exit "token out of range → 13" 13 "$PROBE" generate --socket "$SOCK" --tokens 1,4000
expect_exit "negative temperature → 13" 13 "$PROBE" generate --socket "$SOCK" --tokens 1 --temperature=-1
expect_exit "huge max tokens → 13" 13 "$PROBE" generate --socket "$SOCK" --tokens 1 --max-tokens 100000000
expect_exit "zero max tokens → 13" 13 "$PROBE" generate --socket "$SOCK" --tokens 1 --max-tokens 0
check "zero max tokens is explained" grep -q "max_tokens must be at least 1" "$WORK/last.out" "$WORK/last.err"
expect_exit "unset max tokens" 0 "$PROBE" generate --socket "$SOCK" --tokens 1,5,9 --ignore-eos --json
check "unset max tokens is the server default (9)" test "$(streamed_ids)" -eq 9
expect_exit "text without tokenizer → 19" 19 "$PROBE" generate --socket "$SOCK" "hello"
expect_exit "EAGLE without head → 19" 19 "$PROBE" generate --socket "$SOCK" --tokens 1 --eagle
expect_exit "EAGLE with head" 0 "$PROBE" generate --socket "$SOCK" --model tinye --eagle --tokens 1,5,9 --max-tokens 6 --no-stream --json
check "EAGLE greedy equals plain greedy" test "$(grep '"generate"' "$WORK/last.out" | sed 's/.*"ids":\(\[[0-9,]*\]\).*/\1/')" = "$A"
expect_exit "load outside model root → 17" 17 "$PROBE" load --socket "$SOCK" x "$FIXTURE"
expect_exit "load missing dir → 15" 15 "$PROBE" load --socket "$SOCK" x "$WORK/root/none"
expect_exit "load inside model root" 0 "$PROBE" load --socket "$SOCK" tiny2 "$WORK/root/tiny2"
expect_exit "generate on loaded model" 0 "$PROBE" generate --socket "$SOCK" --model tiny2 --tokens 1,5,9 --max-tokens 6 --no-stream --json
check "loaded model gives the same tokens" test "$(grep '"generate"' "$WORK/last.out" | sed 's/.*"ids":\(\[[0-9,]*\]\).*/\1/')" = "$A"
expect_exit "unload" 0 "$PROBE" unload --socket "$SOCK" tiny2
expect_exit "unloaded model is gone → 15" 15 "$PROBE" generate --socket "$SOCK" --model tiny2 --tokens 1
expect_exit "no daemon → 69" 69 "$PROBE" health --socket "$WORK/absent.sock"

# raw: JSON in, frames out.
printf '%s\n' '{"health":{}}' '{"id":"7","tokenize":{"text":"x"}}' | "$PROBE" raw --socket "$SOCK" >"$WORK/raw.out" 2>&1
check "raw exits 19 for the failed request" test $? -eq 19
check "raw prints the hello, health and status" test "$(wc -l <"$WORK/raw.out")" -eq 3
check "raw keeps the request id" grep -q '"id":"7","status":{"code":"FAILED_PRECONDITION"' "$WORK/raw.out"
printf '%s\n' '{"id":"3","hello":{"magic":1,"protocolVersion":1}}' | "$PROBE" raw --no-hello --socket "$SOCK" >"$WORK/raw2.out" 2>&1
check "wrong magic → INVALID_ARGUMENT" grep -q 'INVALID_ARGUMENT' "$WORK/raw2.out"
printf '%s\n' '{"id":"4","hello":{"magic":1161905996,"protocolVersion":9}}' | "$PROBE" raw --no-hello --socket "$SOCK" >"$WORK/raw3.out" 2>&1
check "wrong version → UNIMPLEMENTED" grep -q 'UNIMPLEMENTED' "$WORK/raw3.out"

# Garbage bytes: a protocol error and a close, and the daemon keeps serving.
if command -v python3 >/dev/null; then
    python3 - "$SOCK" >"$WORK/garbage.out" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"GET / HTTP/1.1\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk: break
    data += chunk
print(len(data) > 4 and data[4:].find(b"exceeds") >= 0)
PY
    check "garbage bytes get a status and a close" grep -q True "$WORK/garbage.out"
fi
expect_exit "still serving after bad input" 0 "$PROBE" health --socket "$SOCK"

stop_daemon
check "SIGTERM exits 0" test "$DAEMON_RC" -eq 0
check "socket file removed" test ! -e "$SOCK"
summary
