#!/usr/bin/env bash
# eagle-probe chat (history, /eagle, /clear, /stats, --system, Ctrl-C) and stats --prometheus
# against a live eagled on the bundled model, and the eagled-metrics units.
source "$(dirname "$0")/lib.sh"

SOCK=$WORK/eagled.sock
PY=$ROOT/Models/tiny-pystd
"$EAGLED" --socket "$SOCK" --model "py=$PY,draft=$ROOT/Models/tiny-pystd-eagle" --model "plain=$PY" \
    --default-max-tokens 12 --log-level warning 2>"$WORK/eagled.log" &
DAEMON_PID=$!
check "daemon answers health" wait_for_socket "$SOCK"

chat() { "$PROBE" chat --socket "$SOCK" "$@"; }
# field FILE N WHAT: WHAT (tokens|prompt) of the N-th "last reply:" line of FILE.
field() {
    grep '^last reply:' "$1" | sed -n "${2}p" | sed -n "s/.* \([0-9]*\) tokens, prompt \([0-9]*\) tokens.*/\1 \2/p" |
        { read -r t p; if [ "$3" = tokens ]; then echo "${t:-0}"; else echo "${p:-0}"; fi; }
}
# reply FILE: the text before the first /stats output (the first reply, as streamed).
reply() { sed '/^last reply:/,$d' "$1" | grep -v '^EAGLE o'; }

# Two turns: the second request carries the first exchange, so its prompt is longer than
# the first prompt plus the first reply; without history it would be the short second line.
Q1="def parse_args(argv):"
printf '%s\n' "$Q1" /stats "ok" /stats /bye | chat py >"$WORK/two.out" 2>"$WORK/two.err"
check "two-turn chat exits 0" test $? -eq 0
N1=$(field "$WORK/two.out" 1 tokens); P1=$(field "$WORK/two.out" 1 prompt)
N2=$(field "$WORK/two.out" 2 tokens); P2=$(field "$WORK/two.out" 2 prompt)
echo "turn 1: prompt $P1, reply $N1 tokens; turn 2: prompt $P2, reply $N2 tokens"
check "both replies have tokens" test "$N1" -gt 0 -a "$N2" -gt 0
check "second request carries the first exchange" test "$P2" -ge $((P1 + N1 + 1))
"$PROBE" generate --socket "$SOCK" --model py --chat "$Q1" >"$WORK/gen.out"
check "first reply equals generate --chat" test "$(reply "$WORK/two.out")" = "$(cat "$WORK/gen.out")"
check "/stats prints the model's totals" grep -q "^model py	requests [1-9]" "$WORK/two.out"
check "/stats says mean accepted 1.00 for plain decoding" grep -q "^last reply:.*mean accepted 1.00 tokens/step" "$WORK/two.out"

# The same second turn alone: a much shorter prompt (what a lost history would look like).
printf '%s\n' "ok" /stats | chat py >"$WORK/alone.out"
check "a first turn alone has a shorter prompt" test "$(field "$WORK/alone.out" 1 prompt)" -lt "$P1"

# /clear forgets: the next prompt is the first one again.
printf '%s\n' "$Q1" /clear "$Q1" /stats | chat py >"$WORK/clear.out"
check "/clear forgets the conversation" test "$(field "$WORK/clear.out" 1 prompt)" -eq "$P1"

# --system is sent first.
printf '%s\n' "$Q1" /stats | chat py --system "You write Python." >"$WORK/system.out"
check "--system lengthens the prompt" test "$(field "$WORK/system.out" 1 prompt)" -gt "$P1"

# EAGLE: greedy replies equal plain ones, and the result reports tokens per step.
printf '%s\n' "/eagle on" "$Q1" /stats | chat py >"$WORK/eagle.out" 2>"$WORK/eagle.err"
check "/eagle on with a draft head" grep -q "^EAGLE on" "$WORK/eagle.out"
check "EAGLE reply equals the plain reply" test "$(reply "$WORK/eagle.out")" = "$(cat "$WORK/gen.out")"
check "EAGLE /stats reports mean accepted" grep -q "^last reply:.*mean accepted [0-9.]* tokens/step" "$WORK/eagle.out"
printf '%s\n' "/eagle on" "$Q1" | chat plain >"$WORK/noeagle.out" 2>"$WORK/noeagle.err"
check "/eagle on without a head is refused, chat goes on" \
    bash -c "grep -q 'has no draft head' '$WORK/noeagle.err' && grep -q '^EAGLE off' '$WORK/noeagle.out' && test \$(wc -c <'$WORK/noeagle.out') -gt 10"
expect_exit "chat with an unknown model → 15" 15 chat nope </dev/null
printf '%s\n' /nope /help | chat py >"$WORK/help.out" 2>"$WORK/help.err"
check "unknown command is reported, /help lists commands" bash -c "grep -q 'unknown command /nope' '$WORK/help.err' && grep -q '/eagle on|off' '$WORK/help.out'"

# Ctrl-C during a long reply (sampled, up to 4000 tokens) cancels that request and keeps the
# session: /stats then has no last reply, and the chat ends at /bye with 0.
mkfifo "$WORK/in"
"$PROBE" chat --socket "$SOCK" py --max-tokens 4000 --temperature 1 --seed 7 <"$WORK/in" >"$WORK/int.out" 2>"$WORK/int.err" &
CHAT_PID=$!
exec 7>"$WORK/in"
echo "$Q1" >&7
for _ in $(seq 1 100); do [ -s "$WORK/int.out" ] && break; sleep 0.05; done
kill -INT "$CHAT_PID"
for _ in $(seq 1 100); do grep -q '^\[cancelled\]' "$WORK/int.out" && break; sleep 0.05; done
(printf '%s\n' /stats /bye >&7) 2>/dev/null  # a subshell: the chat may have exited already
exec 7>&-
wait "$CHAT_PID"; INT_RC=$?
check "Ctrl-C cancels the reply" grep -q '^\[cancelled\]' "$WORK/int.out"
check "the session goes on after Ctrl-C" bash -c "test $INT_RC -eq 0 && grep -q '^last reply: none yet' '$WORK/int.out'"

# Prometheus text: every sample line has the expected shape; counters grow with a generation.
prom() { "$PROBE" stats --socket "$SOCK" --prometheus; }
value() { grep "^$1{model=\"py\"} " "$2" | cut -d' ' -f2; }
prom >"$WORK/before.prom"
check "stats --prometheus exits 0" test $? -eq 0
check "every sample line is eagled_NAME{model=\"…\"} VALUE" \
    bash -c "! grep -v '^#' '$WORK/before.prom' | grep -vE '^eagled_[a-z_]+\{model=\"[^\"]*\"\} [0-9.e+-]+$' | grep -q ."
check "one sample per model per metric" test "$(grep -c '^eagled_requests_total{' "$WORK/before.prom")" -eq 2
check "HELP and TYPE for each metric" test "$(grep -c '^# HELP eagled_' "$WORK/before.prom")" -eq "$(grep -c '^# TYPE eagled_' "$WORK/before.prom")"
check "counters are _total, active/queued are gauges" \
    bash -c "grep -q '^# TYPE eagled_generated_tokens_total counter' '$WORK/before.prom' && grep -q '^# TYPE eagled_active_requests gauge' '$WORK/before.prom' && grep -q '^# TYPE eagled_queued_requests gauge' '$WORK/before.prom' && ! grep -E '^# TYPE [a-z_]+ counter' '$WORK/before.prom' | grep -v '_total counter' | grep -q ."
"$PROBE" generate --socket "$SOCK" --model py "import os" >/dev/null
prom >"$WORK/after.prom"
check "requests_total increased" test "$(value eagled_requests_total "$WORK/after.prom")" -gt "$(value eagled_requests_total "$WORK/before.prom")"
check "generated_tokens_total increased" test "$(value eagled_generated_tokens_total "$WORK/after.prom")" -gt "$(value eagled_generated_tokens_total "$WORK/before.prom")"
check "prompt_tokens_total increased" test "$(value eagled_prompt_tokens_total "$WORK/after.prom")" -gt "$(value eagled_prompt_tokens_total "$WORK/before.prom")"
expect_exit "--prometheus with --json → 64" 64 "$PROBE" stats --socket "$SOCK" --prometheus --json

# The metrics units: systemd-analyze verify, and their command run against this daemon with
# the collector directory and binary swapped for ours (atomic: no temporary file left).
UNITS=$WORK/units
mkdir -p "$UNITS" "$WORK/textfile"
cp "$ROOT/Systemd/eagled-metrics.service" "$ROOT/Systemd/eagled-metrics.timer" "$ROOT/Systemd/eagled.socket" "$UNITS/"
if command -v systemd-analyze >/dev/null; then
    (cd "$UNITS" && systemd-analyze verify --man=no --recursive-errors=no eagled-metrics.timer eagled-metrics.service) >"$WORK/verify.out" 2>&1
    check "metrics units pass systemd-analyze verify" test $? -eq 0
    check "verify prints no warnings" test ! -s "$WORK/verify.out"
    [ -s "$WORK/verify.out" ] && cat "$WORK/verify.out"
else
    fail "systemd-analyze not installed (Debian package systemd)"
fi
CMD=$(sed -n "s/^ExecStart=\/bin\/sh -c '\(.*\)'$/\1/p" "$UNITS/eagled-metrics.service" |
    sed -e "s|/var/lib/node_exporter/textfile_collector|$WORK/textfile|g" -e "s|/usr/local/bin/eagle-probe|$PROBE|")
check "metrics unit writes to a temporary file, then renames it" bash -c "echo '$CMD' | grep -q 'eagled.prom.tmp && mv -f'"
EAGLED_SOCKET=$SOCK sh -c "$CMD"
check "metrics unit's command succeeds" test $? -eq 0
check "it leaves eagled.prom and no temporary file" bash -c "test -s '$WORK/textfile/eagled.prom' && test \$(ls '$WORK/textfile' | wc -l) -eq 1"
check "eagled.prom has the samples" grep -q '^eagled_requests_total{model="py"} [1-9]' "$WORK/textfile/eagled.prom"

stop_daemon
check "SIGTERM exits 0" test "$DAEMON_RC" -eq 0
summary
