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
    # Release (-O): the harnesses run the real kernels and tokenizer, 4-30x faster optimized;
    # coverage and ASan instrument the optimized code just the same.
    (cd Fuzz && "$SWIFT" build -c release --scratch-path "$SCRATCH" --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address \
        -Xcc -fsanitize=address --product eagle-fuzz 2>&1 | grep -v "ld.gold: warning" | tail -3)
fi
SRC=Sources/CEagleClient
if [ ! -x "$SCRATCH/fuzz-client" ] || [ -n "$(find $SRC Fuzz/CClient Include -newer "$SCRATCH/fuzz-client" -name '*.[ch]' | head -1)" ]; then
    ${CLANG:-clang} -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_GNU_SOURCE -pthread \
        -IInclude -I$SRC Fuzz/CClient/fuzz_client.c $SRC/*.c \
        -lprotobuf-c -o "$SCRATCH/fuzz-client" 2>&1 | grep -v "ld.gold: warning" || true
fi
echo "fuzz: harnesses built in $(( $(date +%s) - build_start )) s"
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

failed=0
summary=()
for h in "${HARNESSES[@]}"; do
    if [ "$h" = client ]; then bin=$SCRATCH/fuzz-client; else bin=$SCRATCH/release/eagle-fuzz; fi
    corpus=$SCRATCH/corpus/$h artifacts=$SCRATCH/artifacts/$h/
    mkdir -p "$corpus" "$artifacts"
    log=$SCRATCH/fuzz-$h.log
    # Leaks: the Swift runtime's caches (metadata, string bridging) allocate for good, so
    # leak checks of a Swift harness report them, and libFuzzer reruns every input whose
    # mallocs and frees differ (half the time); the C client is checked for leaks.
    # malloc_context_size=0: ASan keeps no stack per allocation (a fifth of the time);
    # reproduce an artifact without it to see where the bad block came from.
    leaks=0; [ "$h" = client ] && leaks=1
    # Input sizes that cover each format (frames: the 64 KiB frame limit; tokenizer text:
    # pre-tokenization splits long text into short words, so 8 KiB loses nothing).
    case $h in tokenizer) max_len=8192 ;; config) max_len=16384 ;; frames) max_len=70000 ;; *) max_len=131072 ;; esac
    if EAGLE_FUZZ_TARGET=$h EAGLE_THREADS=${EAGLE_THREADS:-1} \
        ASAN_OPTIONS=detect_leaks=$leaks:malloc_context_size=0:${ASAN_OPTIONS:-} "$bin" -detect_leaks=$leaks \
        -max_total_time="$SECONDS_EACH" -timeout=60 -rss_limit_mb=4096 -max_len=$max_len -print_final_stats=1 -artifact_prefix="$artifacts" \
        "$corpus" "Fuzz/corpus/$h" >"$log" 2>&1; then status=ok; else status=CRASH; failed=1; fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    summary+=("$(printf '%-12s %-6s %10s execs %8s exec/s  corpus %s' "$h" "$status" "${runs:-?}" "${rate:-?}" "$(ls "$corpus" | wc -l)")")
    if [ $status != ok ]; then grep -E "ERROR|Fatal|panic|SUMMARY|Test unit written" "$log" | head -20; fi
done
printf 'fuzz: %s\n' "${summary[@]}"
exit $failed
