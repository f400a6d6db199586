# lfm2-rl: `make run` trains (default config configs/lfm2_350m_lora.yaml), `make test` runs every test.
SHELL := /bin/bash
config ?= lfm2_350m_lora.yaml
# A bare file name is looked up in configs/; a path is used as given.
CONFIG_PATH := $(if $(findstring /,$(config)),$(config),$(if $(wildcard $(config)),$(config),configs/$(config)))

.PHONY: all setup build gyp browser test run bench bench-gpu typecheck clean

all: build

setup: node_modules/.installed browser

node_modules/.installed: package.json
	@echo "→ installing npm packages (builds the native addon)"
	# node-llama-cpp (the llama.cpp peer) ships prebuilt CPU binaries: never let its postinstall download or compile.
	NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund
	@touch $@

build: node_modules/.installed
	@echo "→ building native addon"
	npm run build:native

browser:
	@bash scripts/ensure-chromium.sh

test: setup build gyp
	@echo "→ running tests"
	npx vitest run

# The node-gyp description (bindings.gyp) must keep building the same CPU addon.
gyp: node_modules/.installed
	@echo "→ checking bindings.gyp with node-gyp"
	bash scripts/node-gyp-build.sh > build-gyp.log 2>&1 || (tail -40 build-gyp.log; exit 1)

typecheck: node_modules/.installed
	npx tsc --noEmit

run: setup build
	@echo "→ training with $(CONFIG_PATH)"
	./bin/lfm2-rl.js train --config $(CONFIG_PATH) $(ARGS)

bench: setup build
	npx tsx bench/run.ts $(ARGS)

bench-gpu: setup build
	npx tsx bench/run.ts --gpu $(ARGS)

clean:
	rm -rf build build-gyp dist
