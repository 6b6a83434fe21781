#!/usr/bin/env bash
# C client tests: builds libeagle.so and the test programs, then runs
#   1. test_exports.sh  exported symbols, no Swift runtime, soname, pkg-config
#   2. test_fake        libeagle against fake-eagled (framing, errors, streams, cancel, threads)
#   3. test_e2e         libeagle against a live eagled on a temp socket, when eagled is built
# and prints one closing line "CClient: N passed, N failed, N skipped".
#
# Environment: EAGLED (eagled binary; default .build/release/eagled, then .build/debug/eagled),
# EAGLE_TEST_MODEL (model dir; default Models/tiny-pystd), BUILD (default .build-c),
# EAGLE_E2E_REQUIRED=1 (a missing eagled fails instead of skipping), SANITIZE (compiler flags
# such as "-fsanitize=address,undefined": library, fake server and tests are built with them
# into BUILD, and the export checks, which inspect a shippable library, are skipped).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$root/.build-c}
out=$BUILD/tests
mkdir -p "$out"

SANITIZE=${SANITIZE:-}
if [ -n "$SANITIZE" ]; then
    make -s -C "$root/Sources/CEagleClient" BUILD="$BUILD" CFLAGS="-O1 -g $SANITIZE -fno-omit-frame-pointer" LDFLAGS="$SANITIZE" \
        || { echo "CClient: 0 passed, 1 failed"; exit 1; }
else
    make -s -C "$root/Sources/CEagleClient" BUILD="$BUILD" || { echo "CClient: 0 passed, 1 failed"; exit 1; }
fi
cflags=(-O1 -g -std=c11 -D_GNU_SOURCE -pthread -Wall -Wextra -I"$root/Include" $SANITIZE)
link=(-L"$BUILD/lib" -Wl,-rpath,"$BUILD/lib" -leagle)
set -e
cc "${cflags[@]}" -o "$out/fake-eagled" "$root/Tests/CClient/fake_server.c" \
    "$root/Sources/CEagleClient/eagle.pb-c.c" -lprotobuf-c
cc "${cflags[@]}" -o "$out/test_fake" "$root/Tests/CClient/test_fake.c" "${link[@]}"
cc "${cflags[@]}" -o "$out/test_e2e" "$root/Tests/CClient/test_e2e.c" "${link[@]}"
set +e

tmp=$(mktemp -d /tmp/eagle-ctest.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

passed=0 failed=0 skipped=0
# Runs a suite, shows its output, and adds its "NAME: N passed, N failed" line to the totals.
suite() {
    local log=$tmp/suite.log
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line
    line=$(grep -E '^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    if [ -z "$line" ]; then
        echo "suite $1 ended (rc $rc) without a summary line"
        failed=$((failed + 1))
        return
    fi
    local p f
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*passed, ([0-9]+) failed.*/\1/' <<<"$line")
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); echo "suite $1 exited with $rc"; fi
}

# Waits up to $2 seconds for socket $1 to appear (while process $3 lives).
wait_socket() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        [ -S "$1" ] && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

if [ -z "$SANITIZE" ]; then
    echo "== exports"
    suite "$root/Tests/CClient/test_exports.sh" "$BUILD"
fi

echo "== libeagle against fake-eagled"
"$out/fake-eagled" --socket "$tmp/fake.sock" &
pids+=($!)
if wait_socket "$tmp/fake.sock" 10 "${pids[-1]}"; then
    EAGLE_SOCKET=$tmp/fake.sock suite timeout 300 "$out/test_fake"
else
    echo "fake-eagled did not start"; failed=$((failed + 1))
fi

echo "== libeagle against eagled"
eagled=${EAGLED:-}
if [ -z "$eagled" ]; then
    for candidate in "$root/.build/release/eagled" "$root/.build/debug/eagled"; do
        if [ -x "$candidate" ]; then eagled=$candidate; break; fi
    done
fi
model=${EAGLE_TEST_MODEL:-$root/Models/tiny-pystd}
if [ -z "$eagled" ] || [ ! -x "$eagled" ] || [ ! -d "$model" ]; then
    echo "skipped: needs an eagled binary (swift build --product eagled, or EAGLED=path) and the model $model"
    if [ "${EAGLE_E2E_REQUIRED:-0}" = 1 ]; then failed=$((failed + 1)); else skipped=$((skipped + 1)); fi
else
    echo "using $eagled with $model"
    model=$(cd "$model" && pwd)
    "$eagled" --socket "$tmp/eagled.sock" --model "tiny=$model,workers=2" --model-root "$(dirname "$model")" \
        --default-max-tokens 20 \
        >"$tmp/eagled.log" 2>&1 &
    pids+=($!)
    if wait_socket "$tmp/eagled.sock" 60 "${pids[-1]}"; then
        EAGLE_SOCKET=$tmp/eagled.sock EAGLE_TEST_MODEL_DIR=$model suite timeout 600 "$out/test_e2e"
    else
        echo "eagled did not start:"; cat "$tmp/eagled.log"; failed=$((failed + 1))
    fi
fi

if [ "$skipped" -gt 0 ]; then
    echo "CClient: $passed passed, $failed failed, $skipped skipped"
else
    echo "CClient: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
