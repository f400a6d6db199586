# lfm2-rl: `make run` trains (default config configs/lfm2_350m_lora.yaml), `make test` runs every test.
SHELL := /bin/bash
config ?= lfm2_350m_lora.yaml
# A bare file name is looked up in configs/; a path is used as given.
CONFIG_PATH := $(if $(findstring /,$(config)),$(config),$(if $(wildcard $(config)),$(config),configs/$(config)))

.PHONY: all setup build gyp browser test run bench bench-gpu typecheck clean emu-asan

all: build

setup: node_modules/.installed browser

node_modules/.installed: package.json
	@echo "→ installing npm packages (builds the native addon)"
	# node-llama-cpp (the llama.cpp peer, a devDependency) ships prebuilt CPU binaries: never let its postinstall download or compile.
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

# The CUDA emulation module under AddressSanitizer (build-asan/) and the GPU suites on it: an out-of-bounds device
# access in a kernel is reported like compute-sanitizer's memcheck would. Slower than `make test`; not part of it.
emu-asan: node_modules/.installed
	@echo "→ CUDA emulation module with AddressSanitizer; GPU suites on it"
	node node_modules/cmake-js/bin/cmake-js compile --directory . --out build-asan --target lfm2_rl_emu \
	  --CDLFM2_CUDA=OFF --CDLFM2_CUDA_EMU_ASAN=ON --parallel $${LFM2_JOBS:-2}
	LD_PRELOAD=$$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 \
	  LFM2_ADDON=$(CURDIR)/build-asan/Release/lfm2_rl_emu.node npx vitest run --project gpu $(ARGS)

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
