# Kiln: `make demo` sets up everything and runs the tour; `make test` sets up everything and runs the tests.
SWIFT ?= swift

.PHONY: deps build demo test golden bench-gemm clean

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product kiln
	$(SWIFT) build -c release --product kiln-gemm-bench

demo: build
	@bash scripts/demo.sh

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

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
