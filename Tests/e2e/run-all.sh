#!/usr/bin/env bash
# Runs every end-to-end shell test; prints "N passed, M failed" over all of them.
# Expects eagled and eagle-probe built in BIN_DIR (default .build/debug).
cd "$(dirname "$0")"
total_pass=0; total_fail=0
for t in probe.sh chat-metrics.sh access.sh socket-activation.sh notify-drain.sh systemd-units.sh; do
    echo "== $t"
    out=$(bash "$t" 2>&1); rc=$?
    echo "$out"
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
    p=$(echo "$line" | cut -d' ' -f1); f=$(echo "$line" | cut -d' ' -f3)
    total_pass=$((total_pass + ${p:-0})); total_fail=$((total_fail + ${f:-1}))
    [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ] && total_fail=$((total_fail + 1))
done
echo "e2e: $total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
