#!/usr/bin/env node
// The `riptide` command: runs the built CLI (npm run build makes dist/).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
const main = fileURLToPath(new URL("../dist/src/cli/main.js", import.meta.url));
if (!existsSync(main)) {
  process.stderr.write("riptide: the build is missing (dist/). Run `npm run build` (npm start and npm test do it for you).\n");
  process.exit(2);
}
const { main: run } = await import(main);
process.exitCode = await run(process.argv.slice(2));
