#!/usr/bin/env -S node --max-semi-space-size=64 --heap-growing-percent=300
// The `riptide` command: runs the built CLI (npm run build makes dist/).
// The V8 flags on the first line are the one place riptide's are written (src/cli/node-flags.ts
// reads them for whatever starts this file with `node`; bench/RESULTS.md has the measurements):
// --max-semi-space-size=64 (MiB of V8's young generation): with the default 16 MiB, idle-time
//   scavenges of node-rdkafka's per-message garbage paused the main thread up to 0.48 s.
// --heap-growing-percent=300: with a 64 MiB young generation V8 starts incremental marking as soon
//   as the old generation's headroom is below the young generation's size, so a Kafka run did a
//   full mark-compact every second (10–30 ms of the main thread each); letting the old generation
//   grow to 4× its live size before the next one cut the broker-append → processed p99 at
//   100 k JSON events/s from 19.6–70.4 ms to 9.4–22.3 ms (6 interleaved pairs; 4 of them < 10 ms).
// Run it as `node <those flags> bin/riptide.js …` where the shebang is not used.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
const main = fileURLToPath(new URL("../dist/src/cli/main.js", import.meta.url));
if (!existsSync(main)) {
  process.stderr.write("riptide: the build is missing (dist/). Run `npm run build` (npm start and npm test do it for you).\n");
  process.exit(2);
}
// `riptide pipelines | head`: a reader that goes away is not an error.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
const { main: run } = await import(main);
process.exitCode = await run(process.argv.slice(2));
