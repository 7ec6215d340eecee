#!/usr/bin/env bash
# Builds Kiln's libFuzzer targets (Fuzz/*.swift) with the Swift toolchain's fuzzer and
# address sanitizer, then runs each for FUZZ_SECONDS (default 60).
#
#   scripts/fuzz.sh                 # build and run every target
#   scripts/fuzz.sh build           # build only
#   scripts/fuzz.sh run npy         # run one target (ir, npy, safetensors, arguments)
#   FUZZ_SECONDS=600 FUZZ_JOBS=2 scripts/fuzz.sh
#
# Targets are compiled directly with swiftc as one module together with the sources they
# exercise (KilnIR, and KilnRuntime/TensorIO for the tensor readers), so they do not need
# LLVM or OpenBLAS and build in about a minute. Working corpora and crash artifacts go to
# .build-fuzz/ (not checked in); seeds come from IR/models, Tests/Corpus/malformed,
# Tests/Corpus/tensors and the checked-in findings in Tests/Corpus/fuzz/<target>/.
# A crash leaves its input in .build-fuzz/artifacts/<target>/: copy it into
# Tests/Corpus/fuzz/<target>/, fix the bug, and the normal test suite replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-1}
OUT=.build-fuzz
TARGETS=(ir npy safetensors arguments)
SWIFTC=${SWIFTC:-swiftc}

sources() {
    case "$1" in
        ir) echo Fuzz/FuzzIRParser.swift Sources/KilnIR/*.swift ;;
        npy) echo Fuzz/FuzzNPY.swift Sources/KilnIR/*.swift Sources/KilnRuntime/TensorIO/*.swift ;;
        safetensors) echo Fuzz/FuzzSafeTensors.swift Sources/KilnIR/*.swift Sources/KilnRuntime/TensorIO/*.swift ;;
        arguments) echo Fuzz/FuzzArguments.swift Sources/KilnIR/*.swift ;;
        *) echo "unknown fuzz target '$1' (targets: ${TARGETS[*]})" >&2; exit 2 ;;
    esac
}

build() {
    local t=$1
    mkdir -p "$OUT/bin"
    echo "building fuzz-$t"
    # One module named KilnIR, so the targets call the library code directly; the
    # "file is part of module KilnIR; ignoring import" warnings are expected.
    # shellcheck disable=SC2046
    nice "$SWIFTC" -sanitize=fuzzer,address -parse-as-library -O -g -suppress-warnings -module-name KilnIR \
        $(sources "$t") -o "$OUT/bin/fuzz-$t" 2>&1 | grep -v 'Cannot export local symbol' || true
    test -x "$OUT/bin/fuzz-$t"
}

seed() {
    local t=$1 dir=$OUT/corpus/$t
    mkdir -p "$dir"
    case "$t" in
        ir) cp IR/models/*.kir Tests/Corpus/malformed/*.kir "$dir"/ ;;
        npy) cp Tests/Corpus/tensors/*.npy "$dir"/ ;;
        safetensors) cp Tests/Corpus/tensors/*.safetensors "$dir"/ ;;
        arguments)
            printf '1x56x56x96\0x=x.npy' > "$dir/seed1"
            printf '2,1024,512\0input.npy' > "$dir/seed2"
            printf '8X3\0a.b=dir/x=y.npy' > "$dir/seed3" ;;
    esac
    if [ -d "Tests/Corpus/fuzz/$t" ]; then
        find "Tests/Corpus/fuzz/$t" -type f ! -name '*.md' ! -name '*.expect' -exec cp {} "$dir"/ \;
    fi
}

run() {
    local t=$1
    mkdir -p "$OUT/artifacts/$t" "$OUT/logs"
    seed "$t"
    echo "fuzzing $t for ${SECONDS_PER_TARGET}s (log: $OUT/logs/$t.log)"
    local rc=0
    # ASan's leak check stays on: a leak in a reader is a finding too.
    nice "$OUT/bin/fuzz-$t" "$OUT/corpus/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -max_len=8192 -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t/" >"$OUT/logs/$t.log" 2>&1 || rc=$?
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$OUT/logs/$t.log" | sed "s/^/$t /" || true
    if [ $rc -ne 0 ]; then
        echo "fuzz-$t FOUND A PROBLEM (exit $rc); inputs in $OUT/artifacts/$t/, details in $OUT/logs/$t.log" >&2
    fi
    return $rc
}

case "${1:-all}" in
    build) shift; for t in "${@:-${TARGETS[@]}}"; do build "$t"; done ;;
    run) shift; for t in "${@:-${TARGETS[@]}}"; do run "$t"; done ;;
    all)
        for t in "${TARGETS[@]}"; do build "$t"; done
        status=0
        if [ "$JOBS" -gt 1 ]; then
            pids=()
            for t in "${TARGETS[@]}"; do
                run "$t" & pids+=($!)
                while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 5; done
            done
            for p in "${pids[@]}"; do wait "$p" || status=1; done
        else
            for t in "${TARGETS[@]}"; do run "$t" || status=1; done
        fi
        exit $status ;;
    *) echo "usage: scripts/fuzz.sh [build [TARGET...] | run [TARGET...] | all]" >&2; exit 2 ;;
esac
