#!/usr/bin/env bash
# Builds the libFuzzer harnesses and runs each for SECONDS (default 60; `make fuzz
# FUZZ_SECONDS=N`, `make fuzz-smoke` uses 10). Harnesses: the Swift ones of Fuzz/Package.swift
# (frames, safetensors, torch, config, tokenizer: one binary, EAGLE_FUZZ_TARGET picks) and
# libeagle's response handling (C, clang). Corpora: Fuzz/corpus/<harness> (committed seeds,
# read-only) plus .build-fuzz/corpus/<harness> (what runs add); crashes go to
# .build-fuzz/artifacts/<harness>/. Prints exec/s and executions per harness; exits 1 if
# any harness found a crash.
#   Fuzz/run.sh [SECONDS] [HARNESS...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${1:-60}
shift || true
HARNESSES=("$@")
[ ${#HARNESSES[@]} -gt 0 ] || HARNESSES=(frames safetensors torch config tokenizer client)
# FUZZ_BUILD_ONLY=1: build the harnesses, run nothing.
SWIFT=${SWIFT:-swift}
SCRATCH=$ROOT/.build-fuzz
mkdir -p "$SCRATCH"

build_start=$(date +%s)
needs_swift=0
for h in "${HARNESSES[@]}"; do [ "$h" = client ] || needs_swift=1; done
if [ $needs_swift = 1 ]; then
    # swiftc keeps only the last -sanitize= it is given, and SwiftPM passes one flag per
    # --sanitize: "--sanitize fuzzer --sanitize address" would drop the coverage
    # instrumentation. One combined flag after SwiftPM's keeps both.
    (cd Fuzz && "$SWIFT" build --scratch-path "$SCRATCH" --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address \
        -Xcc -fsanitize=address --product eagle-fuzz 2>&1 | grep -v "ld.gold: warning" | tail -3)
fi
SRC=Sources/CEagleClient
if [ ! -x "$SCRATCH/fuzz-client" ] || [ -n "$(find $SRC Fuzz/CClient Include -newer "$SCRATCH/fuzz-client" -name '*.[ch]' | head -1)" ]; then
    ${CLANG:-clang} -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_GNU_SOURCE -pthread \
        -IInclude -I$SRC Fuzz/CClient/fuzz_client.c $SRC/errors.c $SRC/frame.c $SRC/connection.c $SRC/generate.c \
        $SRC/calls.c $SRC/eagle.pb-c.c -lprotobuf-c -o "$SCRATCH/fuzz-client" 2>&1 | grep -v "ld.gold: warning" || true
fi
echo "fuzz: harnesses built in $(( $(date +%s) - build_start )) s"
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

failed=0
summary=()
for h in "${HARNESSES[@]}"; do
    if [ "$h" = client ]; then bin=$SCRATCH/fuzz-client; else bin=$SCRATCH/debug/eagle-fuzz; fi
    corpus=$SCRATCH/corpus/$h artifacts=$SCRATCH/artifacts/$h/
    mkdir -p "$corpus" "$artifacts"
    log=$SCRATCH/fuzz-$h.log
    # ASan: leaks in a Swift harness's global state are not findings; UBSan/ASan errors are.
    leaks=0; [ "$h" = client ] && leaks=1
    if EAGLE_FUZZ_TARGET=$h ASAN_OPTIONS=detect_leaks=$leaks:${ASAN_OPTIONS:-} "$bin" -max_total_time="$SECONDS_EACH" \
        -timeout=60 -rss_limit_mb=4096 -max_len=131072 -print_final_stats=1 -artifact_prefix="$artifacts" \
        "$corpus" "Fuzz/corpus/$h" >"$log" 2>&1; then status=ok; else status=CRASH; failed=1; fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    summary+=("$(printf '%-12s %-6s %10s execs %8s exec/s  corpus %s' "$h" "$status" "${runs:-?}" "${rate:-?}" "$(ls "$corpus" | wc -l)")")
    if [ $status != ok ]; then grep -E "ERROR|Fatal|panic|SUMMARY|Test unit written" "$log" | head -20; fi
done
printf 'fuzz: %s\n' "${summary[@]}"
exit $failed
