#!/usr/bin/env bash
# The whole test suite under AddressSanitizer with leak checking (LeakSanitizer) on.
#
#   make test-asan            # or: bash scripts/test-asan.sh [--filter REGEX]
#
# Builds into .build-asan (a separate scratch path, so the normal debug build in .build is
# untouched) with `--sanitize=address`, then runs the tests from that build. Any ASan error
# or leak fails the run. scripts/lsan.supp lists leaks that are not Kiln's, each with the
# reason; Kiln's own code (including JIT'd kernels and the AOT test's shared library) has no
# suppressions. Expect the build to take several times the normal one and the tests ~2-3x.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
SCRATCH=.build-asan
nice "$SWIFT" build --build-tests --sanitize=address --scratch-path "$SCRATCH"
# halt_on_error: stop at the first report so the log ends with it. detect_leaks: LSan at
# exit of the test process. The JIT maps executable memory itself, which ASan tolerates.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=1:${LSAN_OPTIONS:-}"
# The AOT test compiles a C program that calls the generated library: instrument it too.
export KILN_TEST_CFLAGS="-fsanitize=address"
start=$(date +%s)
nice "$SWIFT" test --skip-build --sanitize=address --scratch-path "$SCRATCH" "$@"
echo "ASan test run: $(( $(date +%s) - start )) s"
