# The single entry point for humans and CI. `.ci/run` calls `make test`.
SHELL := /bin/bash
CARGO ?= cargo
FUZZ_SECONDS ?= 10
export CARGO_TERM_COLOR ?= never

.PHONY: run build test unit sans-io fuzz lint fmt bench bench-large setup setup-run services clean

## run: build and start the standalone product (every component, embedded backends)
run: setup-run
	$(CARGO) run --release -p lwm2m -- run --target all

build:
	$(CARGO) build --workspace --all-targets

## test: everything CI checks: unit, property and integration tests, the sans-IO check, a fuzz smoke run
test: setup services unit sans-io fuzz

unit:
	# The end-to-end tests run the real binaries, so build them first.
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

sans-io:
	scripts/check-sans-io.sh

## fuzz: a short run of every fuzz target (FUZZ_SECONDS each)
fuzz: setup
	scripts/fuzz-smoke.sh $(FUZZ_SECONDS)

## lint: formatting and clippy with warnings as errors
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## bench: benchmarks against the machine's own limits (10k devices), results in bench/results/
bench: setup-run
	scripts/bench.sh bench

## bench-large: the same with 100k devices (takes longer than 20 minutes)
bench-large: setup-run
	scripts/bench.sh bench-large

setup:
	scripts/setup.sh test

services:
	scripts/services.sh

setup-run:
	scripts/setup.sh run

clean:
	$(CARGO) clean
	rm -rf fuzz/target
