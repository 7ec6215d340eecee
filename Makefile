# Kiln: `make demo` sets up everything and runs the tour; `make test` sets up everything and runs the tests.
SWIFT ?= swift

.PHONY: deps build demo test golden bench bench-check bench-baseline bench-gemm clean

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product kiln
	$(SWIFT) build -c release --product kiln-gemm-bench

demo: build
	@bash scripts/demo.sh

# Test processes run in parallel, one per core: the suite is bound by JIT compiles (25 min serial,
# 14 min in parallel on 2 cores).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel

# Fused against unfused residual blocks, with the machine's roofs measured in the same run.
# BENCH_FLAGS passes options through, e.g. make bench BENCH_FLAGS="--quick --threads 1".
BENCH_FLAGS ?=
KILN_RELEASE = $$($(SWIFT) build -c release --show-bin-path)/kiln

bench: deps
	$(SWIFT) build -c release --product kiln
	mkdir -p out
	nice $(KILN_RELEASE) bench --json out/bench.json --plot out/bench.svg $(BENCH_FLAGS)

# A fresh run against the checked-in baseline: fails when a fused median is > 25% slower
# or a fused/unfused ratio < 80% of the baseline's.
bench-check: deps
	$(SWIFT) build -c release --product kiln
	mkdir -p out
	nice $(KILN_RELEASE) bench --json out/bench.json --plot out/bench.svg --compare Benchmarks/baseline-blocks.json $(BENCH_FLAGS)

# Rewrite the baseline after an intended change (commit it with the reason).
bench-baseline: deps
	$(SWIFT) build -c release --product kiln
	nice $(KILN_RELEASE) bench --json Benchmarks/baseline-blocks.json $(BENCH_FLAGS)

# Kiln's GEMM micro-kernel against OpenBLAS, single thread, medians in one run.
bench-gemm: deps
	$(SWIFT) build -c release --product kiln-gemm-bench
	$$($(SWIFT) build -c release --show-bin-path)/kiln-gemm-bench

# Regenerate the checked-in zoo IR (IR/models/*.kir) after an intended change to tracing.
golden: build
	@kiln=$$($(SWIFT) build -c release --product kiln --show-bin-path)/kiln; \
	for m in $$($$kiln models | awk '{print $$1}'); do $$kiln trace $$m -o IR/models/$$m.kir; done

clean:
	rm -rf .build out

# Hardening (not part of `make test`). libFuzzer targets under Fuzz/, each run for
# FUZZ_SECONDS (default 60); FUZZ_JOBS=2 runs two at a time. See Fuzz/RESULTS.md.
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1
.PHONY: fuzz test-asan
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) bash scripts/fuzz.sh

# The whole test suite under AddressSanitizer (leak checking on), in its own build
# directory so it never disturbs the normal debug build. See "Hardening" in README.md.
test-asan: deps
	@bash scripts/test-asan.sh
