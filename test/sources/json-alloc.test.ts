/**
 * The byte-level JSON decoder allocates nothing per event once optimized, with coordinates written
 * in full (17 significant digits: past 2^53, decimalInto's) and batches alternating between two
 * ring slots' columns (a closure over the decoder's arguments cost a context object per call). By allocation, not time; measured by
 * fixtures/json-alloc.mjs on the built decoder in a plain Node process (the code `riptide` runs;
 * vitest's module runner transforms modules, dist/ included, and there the same decoder is
 * optimized otherwise and boxes doubles).
 */
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

it("decodes events with coordinates in full without allocating, once optimized", () => {
  for (const m of ["sources/json", "sources/decimal", "schema/interner"]) {
    const js = fileURLToPath(new URL(`../../dist/src/${m}.js`, import.meta.url));
    const ts = fileURLToPath(new URL(`../../src/${m}.ts`, import.meta.url));
    if (!existsSync(js) || statSync(js).mtimeMs < statSync(ts).mtimeMs) throw new Error(`dist/src/${m}.js is missing or older than src/${m}.ts: run \`npx tsc -p tsconfig.json\` first`);
  }
  const r = spawnSync(process.execPath, [fileURLToPath(new URL("fixtures/json-alloc.mjs", import.meta.url))], { encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout.trim()) as { perEvent: number[]; fullDigits: number; lat: number; expectedLat: number; speed: number; expectedSpeed: number };
  expect(out.fullDigits).toBeGreaterThan(500); // most events: a number past 2^53 (decimalInto's)
  // Windows of 100 000 decodes for up to 20 s: the first run before the optimizing compiler got to
  // the decoder; one below 1 byte per event passes. A number parsed through a string, or a double
  // boxed on its way into a column, or a context object per call, is 16 bytes or more per event in
  // every window.
  expect(out.perEvent.at(-1), `bytes per event in each window: ${out.perEvent.join(", ")}`).toBeLessThan(1);
  expect(out.lat).toBe(out.expectedLat);
  expect(out.speed).toBe(out.expectedSpeed);
});
