#!/usr/bin/env -S node --max-semi-space-size=64
// The `riptide` command: runs the built CLI (npm run build makes dist/).
// --max-semi-space-size=64 (MiB of V8's young generation): node-rdkafka makes an object and a
// Buffer per Kafka message on this thread; with the default 16 MiB, idle-time scavenges of that
// garbage paused the main thread up to 0.48 s and set the p99 latency (bench/RESULTS.md).
// Run it as `node --max-semi-space-size=64 bin/riptide.js …` where the shebang is not used.
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
