#!/usr/bin/env bash
# Static checks of the units: systemd-analyze verify, and the offline security exposure.
source "$(dirname "$0")/lib.sh"
if ! command -v systemd-analyze >/dev/null; then
    echo "systemd-analyze not installed (Debian package systemd)"; echo "0 passed, 1 failed"; exit 1
fi
UNITS=$WORK/units
mkdir -p "$UNITS"
# verify wants ExecStart's binary to exist: point it at the built one.
sed "s|/usr/local/bin/eagled|$EAGLED|" "$ROOT/Systemd/eagled.service" >"$UNITS/eagled.service"
cp "$ROOT/Systemd/eagled.socket" "$UNITS/"
(cd "$UNITS" && systemd-analyze verify --man=no --recursive-errors=no eagled.socket eagled.service) >"$WORK/verify.out" 2>&1
check "systemd-analyze verify" test $? -eq 0
check "verify prints no warnings" test ! -s "$WORK/verify.out"
[ -s "$WORK/verify.out" ] && cat "$WORK/verify.out"
(cd "$UNITS" && systemd-analyze security --offline=yes eagled.service) >"$WORK/security.out" 2>&1
SCORE=$(sed -n 's/.*Overall exposure level for eagled.service: \([0-9.]*\).*/\1/p' "$WORK/security.out")
echo "exposure score: ${SCORE:-unknown}"
check "exposure score is reported" test -n "$SCORE"
check "exposure score ≤ 2.0" awk -v s="${SCORE:-99}" 'BEGIN { exit !(s <= 2.0) }'
check "socket mode 0660" grep -q '^SocketMode=0660' "$ROOT/Systemd/eagled.socket"
check "service has no RuntimeDirectory (it would delete the socket on stop)" bash -c "! grep -q '^RuntimeDirectory=' '$ROOT/Systemd/eagled.service'"
check "service raises LimitNOFILE above the default 1024" bash -c "grep -Eq '^LimitNOFILE=([0-9]{5,}|infinity)' '$ROOT/Systemd/eagled.service'"
check "example config passes eagled --check-config" "$EAGLED" --config "$ROOT/Systemd/eagled.json" --check-config
summary
