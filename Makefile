# eagled — top-level entry points. `make demo` runs the main job, `make test` every test.
SWIFT ?= swift
MODEL ?= Models/tiny-pystd
DRAFT ?= Models/tiny-pystd-eagle
BENCH_DIR ?= bench-models/synthetic-1b
# Debug test build: naming the test product keeps SwiftPM from also compiling
# swift-protobuf's C++ protoc (a bare `swift build --build-tests` does, for ~8 minutes).
TEST_PRODUCTS = eagledPackageTests eagled eagle-probe

FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10

.PHONY: all deps build demo test test-swift test-c test-python test-e2e bench bench-model clean fuzz fuzz-smoke sanitize

all: build

deps:
	@bash Tools/install-deps.sh

build: deps
	$(SWIFT) build --product eagled
	$(SWIFT) build --product eagle-probe

## The main job: eagled serving the bundled model (with its EAGLE head), one generation
## through eagle-probe, then SIGTERM.
demo: deps
	MODEL=$(MODEL) DRAFT=$(DRAFT) bash Tools/demo.sh

## Every test: Swift unit, golden-vector and live-socket tests, the C client, the Python
## binding, and end-to-end shell tests (probe, socket activation, systemd units).
test: deps test-swift test-c test-python test-e2e fuzz-smoke

test-swift:
	for p in $(TEST_PRODUCTS); do $(SWIFT) build --product $$p || exit 1; done
	$(SWIFT) test --skip-build

test-c:
	$(MAKE) -C Sources/CEagleClient
	EAGLE_E2E_REQUIRED=1 bash Tests/CClient/run.sh

# The binding never searches the working directory for libeagle.so: point it at this build.
test-python:
	$(MAKE) -C Sources/CEagleClient
	EAGLE_LIBRARY=$(CURDIR)/.build-c/lib/libeagle.so EAGLE_E2E_REQUIRED=1 python3 -m pytest -q Bindings/python/tests

test-e2e:
	bash Tests/e2e/run-all.sh

## libFuzzer harnesses (Fuzz/README.md), each for FUZZ_SECONDS; fuzz-smoke (the last part
## of `make test`): each for FUZZ_SMOKE_SECONDS from the committed seeds. Their build (every
## library optimized, with coverage + ASan, .build-fuzz) is separate from the test build:
## about 4 minutes from scratch on the shared 2-core machine, the smoke runs about 1 minute.
fuzz: deps
	bash Fuzz/run.sh $(FUZZ_SECONDS)

fuzz-smoke: deps
	bash Fuzz/run.sh $(FUZZ_SMOKE_SECONDS)

## Swift suites under ASan and TSan (own scratch paths), C client tests under ASan+UBSan.
sanitize: deps
	bash Tools/sanitize.sh

## Speed figures (not tests): core decode vs bandwidth on the fixture and a synthetic 1B
## checkpoint; EAGLE vs plain on held-out prompts; daemon overhead and concurrency.
bench: deps bench-model
	$(SWIFT) build -c release --product eagle-bench
	$(SWIFT) build -c release --product eagle-daemon-bench
	.build/release/eagle-bench core $(MODEL) $(BENCH_DIR)
	.build/release/eagle-bench eagle --model $(MODEL) --draft $(DRAFT)
	.build/release/eagle-daemon-bench

bench-model:
	@bash Tools/install-deps.sh --bench
	@test -f $(BENCH_DIR)/model.safetensors.index.json || python3 Tools/make_synthetic_checkpoint.py $(BENCH_DIR)

include mk/install.mk

clean:
	rm -rf .build .build-c .build-fuzz .build-asan .build-tsan .build-c-asan
