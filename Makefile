# Causeway's two commands: `make demo` and `make test`. Everything else here is a step
# of those two, runnable on its own.
#
# Variables (override on the command line or in the environment):
#   SCRATCH       SwiftPM build folder (default .build; each engineer uses .build-NAME)
#   FUZZ_SECONDS  how long each fuzzer runs in `make fuzz` and `make test` (default 60)
#   PYTHON        the interpreter the test venv is made from (default python3)
#   DEMO_ARGS     flags for `causeway demo` in `make demo` (e.g. --keep-running --orders 12)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

SWIFT ?= swift
PYTHON ?= python3
SCRATCH ?= .build
VENV ?= .venv
FUZZ_SECONDS ?= 60
DEMO_ARGS ?=
FUZZ_SCRATCH ?= .build-fuzz
# Benchmarks/ is a package of its own so that only its two targets pay for swift-otel.
BENCH_SCRATCH ?= Benchmarks/.build

BIN := $(SCRATCH)/debug/causeway

export SWIFT PYTHON SCRATCH VENV FUZZ_SECONDS FUZZ_SCRATCH BENCH_SCRATCH

.PHONY: demo test deps deps-test venv build unit interop interop-kafka-python-2 bench-broker interop-swift-otel fuzz bench bench-tracing

## The main job: the order demo (broker, collector and four services in one process; six
## orders stitched into chains). DEMO_ARGS=--keep-running keeps it up for the UI and curl.
demo: deps build
	$(BIN) demo $(DEMO_ARGS)

## Every test: Debian packages, venv, build, swift test, interop tests, fuzzers.
test:
	scripts/test.sh

deps:
	scripts/install-deps.sh

## deps and what only the tests use (chromium for the web UI's test).
deps-test:
	scripts/install-deps.sh --tests

venv:
	scripts/python-venv.sh

build:
	$(SWIFT) build --scratch-path $(SCRATCH)

unit:
	$(SWIFT) test --scratch-path $(SCRATCH)

interop: venv
	CAUSEWAY_BIN=$(BIN) $(VENV)/bin/python -m pytest Tests/Interop -q -rfEsx

## The broker's kafka-python tests again with kafka-python 2.3.x, in a venv of their own.
interop-kafka-python-2:
	scripts/broker-kafka-python-2.sh

## EventTracing's messaging helpers and JSON logs on swift-otel's tracer (issue 3: they
## must work with any Tracer). The first run builds swift-otel, which takes minutes.
interop-swift-otel:
	$(SWIFT) test --package-path Benchmarks --scratch-path $(BENCH_SCRATCH)

fuzz:
	scripts/fuzz.sh

## Decode/encode figures for BENCHMARKS.md: a release build of `causeway bench telemetry`,
## which also times protobuf's C parser (upb) through the venv's Python on the same bytes.
bench: deps venv
	$(SWIFT) build --scratch-path $(SCRATCH) -c release --product causeway
	$(SCRATCH)/release/causeway bench telemetry --python $(VENV)/bin/python \
		--upb-script Tests/Interop/upb_parse_bench.py $(BENCH_ARGS)

## Broker vs Redis Streams figures for BENCHMARKS.md: a release `causeway broker` driven by
## `causeway bench broker` (batching Swift client) and by librdkafka, and redis-server
## driven by `causeway bench redis-streams`; same volume, same run.
## BENCH_ARGS: --messages N --sizes 100,1024 --durability none,1s,always --no-librdkafka
bench-broker: deps venv
	$(SWIFT) build --scratch-path $(SCRATCH) -c release --product causeway
	$(VENV)/bin/python scripts/broker_bench.py --causeway $(SCRATCH)/release/causeway $(BENCH_ARGS)

## EventTracing vs swift-otel figures for BENCHMARKS.md: propagation, spans and JSON log
## lines, both sides in one release build and one run. BENCH_ARGS: --rounds N --iterations N
bench-tracing:
	$(SWIFT) build --package-path Benchmarks --scratch-path $(BENCH_SCRATCH) -c release --product EventTracingBench
	$(BENCH_SCRATCH)/release/EventTracingBench $(BENCH_ARGS)
