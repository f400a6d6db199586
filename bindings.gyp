# node-gyp description of the CPU addon (the cmake-js build in CMakeLists.txt is the build of record; this file
# must build the same CPU sources, and CI checks that it does). node-gyp only reads a file named binding.gyp in the
# directory it runs in, so scripts/node-gyp-build.sh links this file into build-gyp/ and runs node-gyp there with
# its own --directory option. Paths below are therefore relative to build-gyp/.
{
  "targets": [
    {
      "target_name": "lfm2_rl_avx512",
      "type": "static_library",
      "sources": ["<!@(node ../scripts/gyp-sources.mjs avx512 build-gyp)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "../native"],
      "cflags_cc": ["-std=c++17", "-O3", "-fPIC", "-fexceptions", "-mavx512f", "-mavx512bw", "-mavx512vl",
                    "-mavx512dq", "-mavx512bf16", "-mamx-tile", "-mamx-bf16", "-mfma", "-mf16c", "-mavx2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"]
    },
    {
      "target_name": "lfm2_rl_avx2",
      "type": "static_library",
      "sources": ["<!@(node ../scripts/gyp-sources.mjs avx2 build-gyp)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "../native"],
      "cflags_cc": ["-std=c++17", "-O3", "-fPIC", "-fexceptions", "-mavx2", "-mfma", "-mf16c"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"]
    },
    {
      "target_name": "lfm2_rl",
      "dependencies": ["lfm2_rl_avx512", "lfm2_rl_avx2"],
      "sources": ["<!@(node ../scripts/gyp-sources.mjs portable build-gyp)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "../native"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-frtti", "-fno-math-errno"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "libraries": ["-lpthread"]
    }
  ]
}
