/**
 * The V8 flags `riptide` runs with, read from bin/riptide.js's shebang (`#!/usr/bin/env -S node
 * FLAGS`): the one place they are written. Whatever starts the CLI through `node bin/riptide.js`
 * instead of the shebang (tests, benchmarks, the chaos script) passes these, so it measures and
 * tests what a user's `riptide` runs.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** bin/riptide.js, from dist/src/cli/ (built) or src/cli/ (run from source). */
export const RIPTIDE_BIN = fileURLToPath(new URL(import.meta.url.includes("/dist/") ? "../../../bin/riptide.js" : "../../bin/riptide.js", import.meta.url));

/** The flags after `node` on the first line of `bin` (empty when the line names none). */
export function shebangFlags(bin = RIPTIDE_BIN): string[] {
  const first = readFileSync(bin, "utf8").split("\n", 1)[0] ?? "";
  const m = /^#!\S*env -S node((?:\s+--\S+)*)\s*$/.exec(first);
  if (!m) throw new Error(`${bin}: the first line is not "#!/usr/bin/env -S node [--flags]": ${first}`);
  return m[1]!.trim().split(/\s+/).filter((s) => s.length > 0);
}
