/**
 * flaggedJson (src/dsl/flagged-json.ts) writes, from the columns, the text JSON.stringify gives for
 * a flagged record `{ k, v: { reason, event: row } }` with the row the batch plan fills: seeded
 * random rows with strings that need escaping, NaN, ±Infinity, -0, tiny and huge numbers, f32 and
 * integer columns, string and number keys.
 */
import { describe, expect, it } from "vitest";
import { flaggedJson, keyJson, numberText } from "../../src/dsl/flagged-json.js";
import { flaggedRecord } from "../../src/dsl/per-key-store.js";
import type { ColumnArray, FieldSpec } from "../../src/schema/schema.js";
import { mulberry32 } from "../support/random.js";

const fields: FieldSpec[] = [
  { name: "driverId", type: "string" }, { name: "lat", type: "f64" }, { name: "lon", type: "f32" }, { name: "ts", type: "f64" },
  { name: "n", type: "u32" }, { name: "delta", type: "i32" }, { name: "flag", type: "u8" }, { name: "we\"ird\\ näme", type: "string" },
];
const strings = ["", "driver-7", "quote \" and backslash \\", "tab\tnewline\n", "ünïcödé ✓", "\u0001\u001f", "\ud83d\ude80", "\ud800 lone"];
const specials = [NaN, Infinity, -Infinity, -0, 0, 5e-324, 1.7976931348623157e308, 1e21, 1e-7, 0.1 + 0.2, 1_700_000_000_000.5];

describe("flaggedJson", () => {
  it("writes what JSON.stringify writes for the filled row", () => {
    const next = mulberry32(11);
    const N = 2_000;
    const cols: ColumnArray[] = [new Uint32Array(N), new Float64Array(N), new Float32Array(N), new Float64Array(N),
      new Uint32Array(N), new Int32Array(N), new Uint8Array(N), new Uint32Array(N)];
    const pick = (): number => (next() % 3 === 0 ? specials[next() % specials.length]! : ((next() % 2_000_000) - 1_000_000) / 997);
    for (let i = 0; i < N; i++) {
      cols[0]![i] = next() % strings.length;
      cols[1]![i] = pick();
      cols[2]![i] = pick();
      cols[3]![i] = pick();
      cols[4]![i] = next();
      cols[5]![i] = next() | 0;
      cols[6]![i] = next();
      cols[7]![i] = next() % strings.length;
    }
    const str = (id: number) => strings[id]!;
    const sq = (id: number) => JSON.stringify(str(id));
    const write = flaggedJson(fields)!;
    expect(write).toBeDefined();
    for (let i = 0; i < N; i++) {
      const row: Record<string, unknown> = {};
      fields.forEach((f, j) => { row[f.name] = f.type === "string" ? str(cols[j]![i]!) : cols[j]![i]; });
      const key = [str(cols[0]![i]!), i, NaN, undefined][i % 4];
      const reason = strings[(i >> 2) % strings.length]!;
      expect(write(keyJson(key), reason, cols, i, sq)).toBe(JSON.stringify({ k: key ?? null, v: flaggedRecord(reason, row) }));
    }
  });

  it("leaves schemas with a text field or an index-like field name to JSON.stringify", () => {
    expect(flaggedJson([{ name: "a", type: "text" }])).toBeUndefined();
    expect(flaggedJson([{ name: "x", type: "f64" }, { name: "0", type: "f64" }])).toBeUndefined();
    expect(flaggedJson([{ name: "01", type: "f64" }])).toBeDefined();
    expect(flaggedJson([])!(keyJson("k"), "r", [], 0, String)).toBe(JSON.stringify({ k: "k", v: { reason: "r", event: {} } }));
  });
});

describe("numberText", () => {
  it("is String(x) for every number, integers around its range's edges and seeded epoch milliseconds included", () => {
    const next = mulberry32(5);
    const xs: number[] = [...specials, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 1e15 - 1, 1e15, 1e15 + 1, 999_999_999_999_999, 1e6, 1e12, 1_700_000_000_000,
      1_700_000_000_001, 1_700_000_999_999, 1_700_001_000_000, 2 ** 53, -1_700_000_000_000, 1_700_000_000_000.5];
    for (let k = 0; k < 20_000; k++) xs.push(Math.floor(next() * 1e6) * 1e6 + (next() % 1_000_000), 2 ** 31 + next() * 4096 + (next() % 1000));
    for (const x of xs) expect(numberText(x), String(x)).toBe(String(x));
  });
});
