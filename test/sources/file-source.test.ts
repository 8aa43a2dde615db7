/**
 * The JSON-lines file source on any input (fast-check, fixed seed): any lines — events, broken
 * JSON, any Unicode, CRLF, blank, too long — read with any read size give the same records and
 * rejects: each non-blank line is exactly one record (its event as written) or one reject with a
 * reason. Then the whole CLI on a file of bad input: every bad line is an `invalid` output with
 * its reason, and the good ones still make their windows.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { DRIVER_LOCATION } from "../../src/pipelines/driver-tracking/spec.js";
import type { OutputColumns } from "../../src/ring/output.js";
import { Interner } from "../../src/schema/interner.js";
import type { ColumnArray } from "../../src/schema/schema.js";
import { JsonLinesFileSource } from "../../src/sources/file-source.js";
import { compileJsonDecoder } from "../../src/sources/json.js";
import { riptide } from "../support/kafka.js";

const FUZZ = { seed: 0xf11e_50, numRuns: 150 } as const;
const dir = mkdtempSync(join(tmpdir(), "riptide-file-source-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function columns(n: number): Record<string, ColumnArray> {
  return { driverId: new Uint32Array(n), lat: new Float64Array(n), lon: new Float64Array(n), ts: new Float64Array(n), speedKmh: new Float64Array(n), _off: new Float64Array(n) };
}

interface Read {
  events: unknown[];
  ids: string[];
  rejects: Array<{ offset: number; reason: string }>;
}

/** Reads a whole file through the source, `batch` records per fill. */
function readThrough(path: string, opts: { chunkBytes?: number; maxLineChars?: number }, batch = 7): Read {
  const rejects: Read["rejects"] = [];
  const interner = new Interner();
  const src = new JsonLinesFileSource(path, compileJsonDecoder(DRIVER_LOCATION, interner), (_p, offset, _raw, reason) => rejects.push({ offset, reason }), 1 << 10, opts);
  const cols = columns(batch);
  const events: unknown[] = [];
  const ids: string[] = [];
  const out = { off: new Float64Array(1) } as unknown as OutputColumns;
  for (let guard = 0; !src.exhausted() && guard < 100_000; guard++) {
    const n = src.fill(0, cols, batch);
    for (let i = 0; i < n; i++) {
      out.off[0] = cols._off![i]!;
      events.push(src.event(out, 0));
      ids.push(interner.name(cols.driverId![i]!));
    }
  }
  void src.close();
  return { events, ids, rejects };
}

const event = fc.record({
  driverId: fc.string({ unit: "grapheme", maxLength: 10 }), lat: fc.double({ min: -90, max: 90, noNaN: true }),
  lon: fc.double({ min: -180, max: 180, noNaN: true }), ts: fc.integer({ min: 0, max: 2e12 }),
}).map((e) => JSON.stringify(e));
const line = fc.oneof(
  event, event, event,
  fc.string({ unit: "grapheme", maxLength: 30 }), // mostly not JSON
  fc.json({ maxDepth: 1 }), // JSON, rarely an event
  fc.constantFrom("", "   ", "\t", "{", "}", "null", "[1,2]", '{"lat":NaN}', '{"driverId":"x","lat":1e999,"lon":2,"ts":3}'),
  fc.string({ unit: "grapheme-ascii", minLength: 161, maxLength: 200 }), // longer than the limit below
);

describe("JSON-lines file source, property-based", () => {
  it("any lines, any read size: every non-blank line is one record or one reject, the same as read whole", () => {
    let k = 0;
    const stats = { events: 0, rejects: 0 };
    fc.assert(fc.property(fc.array(line, { maxLength: 40 }), fc.boolean(), fc.integer({ min: 1, max: 64 }), (lines, crlf, chunkBytes) => {
      const path = join(dir, `lines-${k++}.jsonl`);
      writeFileSync(path, lines.join(crlf ? "\r\n" : "\n"));
      const maxLineChars = 160;
      const small = readThrough(path, { chunkBytes, maxLineChars });
      const whole = readThrough(path, { maxLineChars });
      expect(small).toEqual(whole);
      // Reference: what each line must give.
      const want: Read = { events: [], ids: [], rejects: [] };
      let offset = 0;
      for (const l of lines) {
        if (l.trim().length === 0) continue;
        const o = offset++;
        if (l.length > maxLineChars) { want.rejects.push({ offset: o, reason: `record ${o}: line longer than ${maxLineChars} characters (one event per line)` }); continue; }
        let v: unknown;
        try { v = JSON.parse(l); } catch (err) { want.rejects.push({ offset: o, reason: `not valid JSON: ${(err as Error).message}` }); continue; }
        want.events.push(v);
        const id = typeof v === "object" && v !== null ? (v as Record<string, unknown>)["driverId"] : undefined;
        want.ids.push(typeof id === "string" ? id : "");
      }
      expect(small).toEqual(want);
      stats.events += want.events.length;
      stats.rejects += want.rejects.length;
    }), FUZZ);
    // The generator reaches both sides (not a property that holds because nothing decodes).
    expect(stats.events).toBeGreaterThan(200);
    expect(stats.rejects).toBeGreaterThan(200);
  });

  it("regression: a character split between two reads stays whole", () => {
    const path = join(dir, "split.jsonl");
    const text = JSON.stringify({ driverId: "drv-é€😀", lat: 1, lon: 2, ts: 3 });
    writeFileSync(path, `${text}\n${text}\n`);
    for (const chunkBytes of [1, 2, 3, 5, 16, 17]) {
      expect(readThrough(path, { chunkBytes }).ids).toEqual(["drv-é€😀", "drv-é€😀"]);
    }
    // With the default 4 MiB reads: an "é" whose two bytes straddle byte 4 194 304 of the file.
    const filler = JSON.stringify({ driverId: "f", lat: 1, lon: 2, ts: 3 });
    const lines: string[] = [];
    let bytes = 0;
    while (bytes + filler.length + 1 < (1 << 22) - 200) { lines.push(filler); bytes += filler.length + 1; }
    const head = '{"driverId":"';
    const pad = (1 << 22) - 1 - bytes - head.length; // "é" starts at the last byte of the first read
    lines.push(`${head}${"p".repeat(pad)}é","lat":1,"lon":2,"ts":3}`);
    writeFileSync(path, lines.join("\n") + "\n");
    expect(readThrough(path, {}, 4096).ids.at(-1)).toBe(`${"p".repeat(pad)}é`);
  });
});

describe("riptide run --input on bad input", () => {
  it("gives every bad line an invalid output with its reason, and processes the rest", async () => {
    const path = join(dir, "bad.jsonl");
    const out = join(dir, "bad-out.jsonl");
    const good = (i: number) => JSON.stringify({ driverId: `d${i % 5}`, lat: 37.77 + i * 1e-5, lon: -122.42, ts: 1_700_000_000_000 + i * 1000, speedKmh: 30 });
    const bad: Array<[string, RegExp]> = [
      ["{not json", /^not valid JSON: /],
      ['{"driverId":"d1","lat":NaN,"lon":1,"ts":1}', /^not valid JSON: /],
      ['{"driverId":"d1","lat":Infinity,"lon":1,"ts":1}', /^not valid JSON: /],
      ['{"driverId":"d1","lat":1e999,"lon":1,"ts":1700000000000}', /^lat must be a finite number$/],
      ['{"driverId":"d1","lat":"37.7","lon":1,"ts":1700000000000}', /^lat must be a finite number$/],
      ['{"driverId":"d1","lat":37.7,"lon":null,"ts":1700000000000}', /^lon must be a finite number$/],
      ['{"driverId":42,"lat":37.7,"lon":1,"ts":1700000000000}', /^driverId must be a non-empty string$/],
      ['{"driverId":"d1","lat":37.7,"lon":1,"ts":"yesterday"}', /^ts must be a finite number$/],
      ['{"driverId":"d1","lat":95,"lon":1,"ts":1700000000000}', /^lat must be within \[-90, 90\]$/],
      ["[1,2,3]", /^driverId must be a non-empty string$/],
      ["42", /^driverId must be a non-empty string$/],
      ["null", /^driverId must be a non-empty string$/],
      [`{"driverId":"${"x".repeat(1_100_000)}"}`, /^record \d+: line longer than 1048576 characters/],
    ];
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) {
      lines.push(good(i));
      if (i % 15 === 7 && bad.length > lines.length - i - 1) lines.push(bad[lines.length - i - 1]![0]);
    }
    const placed = lines.length - 200;
    for (const [text] of bad.slice(placed)) lines.push(text);
    writeFileSync(path, lines.join("\n") + "\n");
    const run = riptide(["run", "--input", path, "--output", out, "--json", "--quiet", "--workers", "1"]);
    expect(await run.exited, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
    const outputs = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const invalid = outputs.filter((o) => o["type"] === "invalid");
    expect(invalid).toHaveLength(bad.length);
    expect(summary.outputs.invalid).toBe(bad.length);
    for (const [, reason] of bad) expect(invalid.filter((o) => reason.test(o["reason"] as string)).length, String(reason)).toBeGreaterThan(0);
    const windows = outputs.filter((o) => o["type"] === "window");
    expect(windows.reduce((a, w) => a + (w["count"] as number), 0)).toBe(200);
  }, 60_000);
});
