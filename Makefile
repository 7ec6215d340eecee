# Kiln: `make demo` sets up everything and runs the tour; `make test` sets up everything and runs the tests.
SWIFT ?= swift

.PHONY: deps build demo test clean

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product kiln

demo: build
	@bash scripts/demo.sh

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

clean:
	rm -rf .build out
