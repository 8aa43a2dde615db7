{
  # Riptide's optional consumer take and many-record produce for node-rdkafka (see src/take.cc,
  # src/produce.cc), and a producer whose delivery reports are packed numbers (src/packed-producer.cc). Built by scripts/build-native.mjs after node-rdkafka (whose headers and
  # librdkafka it uses). Without it, Riptide reads through node-rdkafka's consume() and produces
  # through its produce() (src/io/kafka/rdkafka.ts).
  "variables": { "rdk": "<(module_root_dir)/../../node_modules/node-rdkafka" },
  "targets": [
    {
      "target_name": "riptide_kafka",
      "sources": ["src/take.cc", "src/produce.cc", "src/packed-producer.cc"],
      "include_dirs": [
        "<!(node -e \"require('nan')\")",
        "<(rdk)",
        # librdkafka's headers from node-rdkafka's package (its build may be restored from a cache
        # that holds the built libraries only: scripts/ensure.mjs)
        "<(rdk)/deps/librdkafka/src",
        "<(rdk)/deps/librdkafka/src-cpp"
      ],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20", "-fno-rtti"],
      "cflags_cc": ["-std=c++20", "-O2"],
      "libraries": ["-L<(rdk)/build/deps", "-l:librdkafka.so.1", "-Wl,-rpath,'$$ORIGIN/../../../../node_modules/node-rdkafka/build/deps'"]
    }
  ]
}
