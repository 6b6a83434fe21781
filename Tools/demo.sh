#!/usr/bin/env bash
# The README's main command: start eagled on the bundled model, generate through
# eagle-probe, stop the daemon with SIGTERM.
#   Tools/demo.sh [PROMPT]     (MODEL=Models/tiny-pystd MAX_TOKENS=96 by default; with
#   DRAFT=DIR naming an EAGLE head, the model is served with it and generation uses EAGLE)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-Models/tiny-pystd}
MAX_TOKENS=${MAX_TOKENS:-96}
DRAFT=${DRAFT:-}
PROMPT=${1:-${PROMPT:-$'class Stack:\n    def __init__(self):'}}
SWIFT=${SWIFT:-swift}

# --product: a bare release build would also compile swift-protobuf's C++ protoc.
$SWIFT build -c release --product eagled
$SWIFT build -c release --product eagle-probe
BIN=$($SWIFT build -c release --show-bin-path)

WORK=$(mktemp -d /tmp/eagled-demo.XXXXXX)
SOCK=$WORK/eagled.sock
SPEC="demo=$MODEL"
EAGLE_FLAG=()
if [ -n "$DRAFT" ] && [ -d "$DRAFT" ]; then SPEC="$SPEC,draft=$DRAFT"; EAGLE_FLAG=(--eagle); fi
"$BIN/eagled" --socket "$SOCK" --model "$SPEC" --log-level notice 2>"$WORK/eagled.log" &
PID=$!
cleanup() {
    if kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

for _ in $(seq 1 300); do
    "$BIN/eagle-probe" health --socket "$SOCK" >/dev/null 2>&1 && break
    if ! kill -0 "$PID" 2>/dev/null; then cat "$WORK/eagled.log" >&2; exit 1; fi
    sleep 0.1
done

echo "── eagled serving $MODEL on $SOCK"
"$BIN/eagle-probe" models --socket "$SOCK"
generate() {
    "$BIN/eagle-probe" generate --socket "$SOCK" --max-tokens "$MAX_TOKENS" --summary "$@" "$PROMPT" 2>"$WORK/summary"
}
echo "── eagle-probe generate (plain decoding):"
printf '%s' "$PROMPT"
generate | tee "$WORK/plain.txt"
cat "$WORK/summary"
if [ ${#EAGLE_FLAG[@]} -gt 0 ]; then
    # The same prompt with EAGLE left to the daemon: it uses the tree its calibration and
    # acceptance statistics expect to be fastest here — or plain decoding when no tree pays.
    echo "── eagle-probe generate --eagle (the daemon chooses the tree):"
    printf '%s' "$PROMPT"
    generate --eagle | tee "$WORK/eagle.txt"
    cat "$WORK/summary"
    if cmp -s "$WORK/plain.txt" "$WORK/eagle.txt"; then
        echo "── identical text: EAGLE is lossless"
    else
        echo "── the texts differ: EAGLE must be lossless, please report this" >&2
        exit 1
    fi
fi
"$BIN/eagle-probe" stats --socket "$SOCK"
kill -TERM "$PID"
wait "$PID"
echo "── eagled stopped (exit $?)"
