#!/usr/bin/env bash
# `make sanitize`: the Swift test suites under AddressSanitizer and ThreadSanitizer (each
# with a scratch path of its own, since the flags change every object), and the C client
# tests (libeagle, fake server, live daemon) under AddressSanitizer + UndefinedBehaviorSanitizer.
#   Tools/sanitize.sh [asan|tsan|c ...]     (default: all three)
#   SANITIZE_FILTER=Suite                   (passed to swift test --filter)
# Prints one line per part and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(asan tsan c)
filter=()
[ -n "${SANITIZE_FILTER:-}" ] && filter=(--filter "$SANITIZE_FILTER")
results=()
failed=0

# ASan's quarantine is 64 MiB instead of 256: freed blocks it holds count in the resident
# memory the backpressure tests bound (a 1 MiB tokenize flood read +418 MiB against 400).
swift_suite() { # name, sanitizer, scratch
    local name=$1 sanitizer=$2 scratch=$3 start rc
    start=$(date +%s)
    # The daemon binary too: some suites and the C e2e tests start it.
    "$SWIFT" build --scratch-path "$scratch" --sanitize "$sanitizer" --product eagledPackageTests &&
        TSAN_OPTIONS="suppressions=$PWD/Tools/tsan.supp ${TSAN_OPTIONS:-}" \
        LSAN_OPTIONS="suppressions=$PWD/Tools/lsan.supp ${LSAN_OPTIONS:-}" \
        ASAN_OPTIONS="quarantine_size_mb=64:${ASAN_OPTIONS:-}" \
        "$SWIFT" test --scratch-path "$scratch" --sanitize "$sanitizer" --skip-build "${filter[@]}" 2>&1 | tee "$scratch/sanitize.log" | tail -5
    rc=${PIPESTATUS[0]}
    grep -q "ERROR: AddressSanitizer\|WARNING: ThreadSanitizer\|runtime error:" "$scratch/sanitize.log" 2>/dev/null && rc=1
    results+=("$name: $([ "$rc" = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s (log $scratch/sanitize.log)")
    [ "$rc" = 0 ] || failed=1
}

for part in "${parts[@]}"; do
    case $part in
    asan) swift_suite "swift ASan" address .build-asan ;;
    tsan) swift_suite "swift TSan" thread .build-tsan ;;
    c)
        start=$(date +%s)
        mkdir -p .build-c-asan
        BUILD=$PWD/.build-c-asan SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
            bash Tests/CClient/run.sh 2>&1 | tee .build-c-asan/sanitize.log | tail -3
        rc=${PIPESTATUS[0]}
        results+=("C client ASan+UBSan: $([ "$rc" = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s (log .build-c-asan/sanitize.log)")
        [ "$rc" = 0 ] || failed=1 ;;
    *) echo "unknown part '$part' (asan, tsan, c)"; exit 64 ;;
    esac
done
printf 'sanitize: %s\n' "${results[@]}"
exit $failed
