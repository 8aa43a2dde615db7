{
  # Riptide's optional native kernels. Built by scripts/build-native.mjs (node-gyp against Node's
  # own headers, offline via .npmrc nodedir). The JS kernels in src/kernels/ are the reference;
  # these must be bit-exact with them, so: no -ffast-math, no FMA contraction, no -march.
  "targets": [
    {
      "target_name": "riptide_native",
      "sources": ["src/kernels.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-O3", "-fno-fast-math", "-ffp-contract=off", "-fno-strict-aliasing"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-fast-math", "-ffp-contract=off"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "OTHER_CFLAGS": ["-fno-fast-math", "-ffp-contract=off"]
      },
      "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/fp:precise", "/O2"] } }
    }
  ]
}
