# eagled — top-level entry points. `make demo` runs the main job, `make test` every test.
SWIFT ?= swift
MODEL ?= Models/tiny-pystd
PROMPT ?= def fibonacci(n):
BENCH_DIR ?= bench-models/synthetic-1b

.PHONY: all deps build demo test bench bench-model clean

all: build

deps:
	@bash Tools/install-deps.sh

build: deps
	$(SWIFT) build

## One-shot generation on the bundled model, in-process.
demo: deps
	$(SWIFT) build -c release --product eagle-generate
	.build/release/eagle-generate --model $(MODEL) --prompt "$(PROMPT)" --max-tokens 96

## Every test: Swift unit, golden-vector and end-to-end tests.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## Speed figures (not a test): fixture model and a synthetic 1B-shape checkpoint.
bench: deps bench-model
	$(SWIFT) build -c release --product eagle-bench
	.build/release/eagle-bench $(MODEL) $(BENCH_DIR)

bench-model:
	@test -f $(BENCH_DIR)/model.safetensors.index.json || python3 Tools/make_synthetic_checkpoint.py $(BENCH_DIR)

clean:
	rm -rf .build
