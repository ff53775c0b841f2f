# The two commands: `make serve` and `make test`. Each first installs what it is missing
# (scripts/setup.sh skips what is already there), so a fresh Debian machine with only the
# Rust toolchain needs nothing else.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: serve test setup build

## Build the playground and serve it at http://127.0.0.1:8080
serve:
	bash scripts/setup.sh serve
	trunk serve --release --offline --address 127.0.0.1 --port 8080

## Run every test layer (native, shaders, gpu, wasm, e2e) and print their counts
test:
	bash scripts/setup.sh
	bash scripts/test.sh

## Install the tools only
setup:
	bash scripts/setup.sh

## Build the page into dist/ without serving it
build:
	bash scripts/setup.sh serve
	trunk build --release --offline
