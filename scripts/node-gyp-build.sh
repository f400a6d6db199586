#!/usr/bin/env bash
# Builds the CPU-only addon with node-gyp from bindings.gyp (a check that the gyp description does not rot).
# node-gyp insists on a file named binding.gyp in its working directory, so we link ours into build-gyp/ and point
# node-gyp there with its --directory option. The result is build-gyp/build/Release/lfm2_rl.node.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$root/build-gyp"
ln -sf ../bindings.gyp "$root/build-gyp/binding.gyp"
node_gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
[[ -f "$node_gyp" ]] || node_gyp="$(command -v node-gyp)"
nodedir="$(npm config get nodedir 2>/dev/null || true)"
args=(rebuild --directory "$root/build-gyp" --jobs "${LFM2_JOBS:-$(nproc)}")
[[ -n "$nodedir" && "$nodedir" != "undefined" && "$nodedir" != "null" ]] && args+=(--nodedir "$nodedir")
node "$node_gyp" "${args[@]}"
