import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DecodeError } from "../../src/errors.js";
import { decodeFrameInto, encodeFrame, encodeFrameFromColumns, FrameEncoder, frameRecordCount } from "../../src/io/frame.js";
import { DRIVER_LOCATION } from "../../src/pipelines/driver-tracking/spec.js";
import { defineSchema } from "../../src/schema/schema.js";
import { Interner } from "../../src/schema/interner.js";
import type { ColumnArray } from "../../src/schema/schema.js";

function columns(n: number): Record<string, ColumnArray> {
  return { driverId: new Uint32Array(n), lat: new Float64Array(n), lon: new Float64Array(n), ts: new Float64Array(n), speedKmh: new Float64Array(n) };
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

const records = [
  { driverId: "drv-1", lat: 37.77, lon: -122.42, ts: 1_700_000_000_000, speedKmh: 30.5 },
  { driverId: "drv-ü", lat: -33.86, lon: 151.2, ts: 1_700_000_001_000 },
  { driverId: 42, lat: null, lon: 2.35, ts: 1_700_000_002_000, speedKmh: 12 },
  { driverId: "drv-1", lat: 48.85, lon: 2.35, ts: 1_700_000_003_000, speedKmh: 0 },
];

describe("frames", () => {
  it.each([0, 1, 3, 5])("round-trip records at byte offset %i (aligned or not), in pieces", (shift) => {
    const frame = encodeFrame(DRIVER_LOCATION, records);
    const buf = Buffer.alloc(frame.length + shift);
    frame.copy(buf, shift);
    const view = buf.subarray(shift);
    const interner = new Interner();
    const cols = columns(8);
    const ids: number[] = [];
    expect(frameRecordCount(DRIVER_LOCATION, view)).toBe(4);
    expect(decodeFrameInto(DRIVER_LOCATION, view, 0, 3, cols, 0, interner, ids)).toBe(3);
    expect(decodeFrameInto(DRIVER_LOCATION, view, 3, 10, cols, 3, interner, ids)).toBe(1);
    expect([...cols.driverId!.subarray(0, 4)].map((id) => interner.name(id))).toEqual(["drv-1", "drv-ü", "", "drv-1"]);
    expect([...cols.lat!.subarray(0, 4)]).toEqual([37.77, -33.86, NaN, 48.85]);
    expect([...cols.speedKmh!.subarray(0, 4)]).toEqual([30.5, NaN, 12, 0]);
    expect([...cols.ts!.subarray(0, 4)]).toEqual(records.map((r) => r.ts));
  });

  it("encodes typed columns the same as objects", () => {
    const n = 500;
    const r = rng(3);
    const c = columns(n);
    const names = ["", "a", "bb", "ccc"];
    const objs: Array<Record<string, unknown>> = [];
    for (let i = 0; i < n; i++) {
      const id = Math.floor(r() * 4);
      c.driverId![i] = id; c.lat![i] = r() * 180 - 90; c.lon![i] = r() * 360 - 180; c.ts![i] = 1e12 + i; c.speedKmh![i] = r() < 0.1 ? NaN : r() * 100;
      objs.push({ driverId: id === 0 ? undefined : names[id], lat: c.lat![i], lon: c.lon![i], ts: c.ts![i], speedKmh: c.speedKmh![i] });
    }
    const a = encodeFrameFromColumns(DRIVER_LOCATION, c, n, (id) => names[id]!);
    const b = encodeFrame(DRIVER_LOCATION, objs);
    const back = columns(n);
    const interner = new Interner();
    decodeFrameInto(DRIVER_LOCATION, a, 0, n, back, 0, interner, []);
    const back2 = columns(n);
    decodeFrameInto(DRIVER_LOCATION, b, 0, n, back2, 0, interner, []);
    expect([...back.lat!]).toEqual([...c.lat!]);
    expect([...back.speedKmh!]).toEqual([...back2.speedKmh!]);
    expect([...back.driverId!].map((id) => interner.name(id))).toEqual([...back2.driverId!].map((id) => interner.name(id)));
  });

  it("an encoder kept across frames writes each frame as a fresh one would (names cached, indexes stamped per frame)", () => {
    const r = rng(11);
    const names = (id: number) => (id % 50 === 0 ? `long-${id}-${"x".repeat(300)}` : `drv-${id}-${"é".repeat(id % 3)}`); // some past 255 bytes
    const enc = new FrameEncoder(DRIVER_LOCATION, names);
    for (let f = 0; f < 30; f++) {
      const n = 1 + Math.floor(r() * 300);
      const c = columns(n);
      // ids from a range that moves and grows (past the encoder's first 1024), some missing (0)
      for (let i = 0; i < n; i++) {
        c.driverId![i] = r() < 0.05 ? 0 : 1 + Math.floor(r() * (50 + f * 100));
        c.lat![i] = r(); c.lon![i] = r(); c.ts![i] = f * 1000 + i; c.speedKmh![i] = r();
      }
      // Byte for byte as the object encoder (its own string table, built with a Map) writes it.
      const objs = Array.from({ length: n }, (_, i) => ({
        driverId: c.driverId![i] === 0 ? undefined : names(c.driverId![i]!), lat: c.lat![i], lon: c.lon![i], ts: c.ts![i], speedKmh: c.speedKmh![i],
      }));
      const frame = enc.encode(c, n);
      expect(frame.equals(encodeFrame(DRIVER_LOCATION, objs)), `frame ${f}`).toBe(true);
      expect(frame.equals(encodeFrameFromColumns(DRIVER_LOCATION, c, n, names)), `frame ${f}`).toBe(true);
    }
  });

  it.each([
    ["short", (f: Buffer) => f.subarray(0, 10), /shorter than its 20-byte header/],
    ["bad magic", (f: Buffer) => { const g = Buffer.from(f); g.writeUInt32LE(0x12345678, 0); return g; }, /not a Riptide frame/],
    ["unknown version", (f: Buffer) => { const g = Buffer.from(f); g.writeUInt16LE(9, 4); return g; }, /unknown frame version 9/],
    ["wrong field count", (f: Buffer) => { const g = Buffer.from(f); g.writeUInt16LE(3, 6); return g; }, /frame has 3 fields/],
    ["record count too large", (f: Buffer) => { const g = Buffer.from(f); g.writeUInt32LE(1e6, 8); return g; }, /does not match its header/],
    ["truncated body", (f: Buffer) => f.subarray(0, f.length - 8), /does not match its header/],
    ["string index out of range", (f: Buffer) => {
      const g = Buffer.from(f);
      const tableBytes = g.readUInt32LE(16);
      g.writeUInt32LE(77, (20 + tableBytes + 7) & ~7); // first driverId index
      return g;
    }, /refers to string 77/],
  ])("rejects a frame with %s as a DecodeError", (_name, mutate, message) => {
    const f = mutate(encodeFrame(DRIVER_LOCATION, records));
    expect(() => decodeFrameInto(DRIVER_LOCATION, f, 0, 10, columns(10), 0, new Interner(), [])).toThrow(DecodeError);
    expect(() => decodeFrameInto(DRIVER_LOCATION, f, 0, 10, columns(10), 0, new Interner(), [])).toThrow(message);
  });

  it("never throws anything but DecodeError on seeded random corruptions", () => {
    const good = encodeFrame(DRIVER_LOCATION, records);
    const r = rng(11);
    let decoded = 0;
    for (let k = 0; k < 20_000; k++) {
      const f = Buffer.from(good);
      const flips = 1 + Math.floor(r() * 4);
      for (let j = 0; j < flips; j++) f[Math.floor(r() * f.length)] = Math.floor(r() * 256);
      const g = r() < 0.3 ? f.subarray(0, Math.floor(r() * f.length)) : f;
      try {
        decodeFrameInto(DRIVER_LOCATION, g, 0, 16, columns(16), 0, new Interner(), []);
        decoded++;
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError);
      }
    }
    expect(decoded).toBeGreaterThan(0); // flips inside float columns still decode
  });
});

// ── property-based: fast-check with a fixed seed and bounded runs (deterministic, fast in CI) ──

const FUZZ = { seed: 0x5eed_f4a3, numRuns: 400 } as const;
const SCHEMA_BYTES = 4 + 8 * 4; // bytes per record of DRIVER_LOCATION in a frame

/** Decoded rows as plain values (strings by name), or the DecodeError message. */
function decodeAll(frame: Uint8Array, max = 64): { rows: unknown[][] } | { error: string } {
  const interner = new Interner();
  const cols = columns(max);
  let got: number;
  try {
    got = decodeFrameInto(DRIVER_LOCATION, frame, 0, max, cols, 0, interner, []);
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err; // anything else is a crash
    return { error: err.message };
  }
  const rows: unknown[][] = [];
  for (let i = 0; i < got; i++) rows.push([interner.name(cols.driverId![i]!), cols.lat![i], cols.lon![i], cols.ts![i], cols.speedKmh![i]]);
  return { rows };
}

/** The same bytes inside a larger buffer, at any alignment, between canaries (0xA5). */
function embedded(frame: Uint8Array, shift: number): Uint8Array {
  const big = new Uint8Array(frame.length + shift + 4096).fill(0xa5);
  big.set(frame, shift);
  return big.subarray(shift, shift + frame.length);
}

const record = fc.record({
  driverId: fc.oneof(fc.string({ unit: "grapheme", maxLength: 12 }), fc.constant(undefined), fc.integer()),
  lat: fc.double(), lon: fc.double(), ts: fc.double(),
  speedKmh: fc.oneof(fc.double(), fc.constant(undefined)),
}, { requiredKeys: ["lat", "lon", "ts"] });

/** A header field overwritten with a value near a boundary (where 32-bit arithmetic wraps) or anywhere. */
const u32 = fc.oneof(
  fc.integer({ min: 0, max: 70 }),
  fc.nat({ max: 0xffffffff }),
  fc.tuple(fc.constantFrom(2 ** 28, 2 ** 29, 2 ** 30, 2 ** 31, 3 * 2 ** 30, 2 ** 32 - 16), fc.integer({ min: 0, max: 15 })).map(([a, b]) => (a + b) >>> 0),
);
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("count" as const), value: u32 }),
  // The true count or table size plus a power of two: where 32-bit size arithmetic would wrap around.
  fc.record({ kind: fc.constant("countWrap" as const), value: fc.constantFrom(2 ** 28, 2 ** 29, 2 ** 30, 2 ** 31, 3 * 2 ** 30) }),
  fc.record({ kind: fc.constant("tableWrap" as const), value: fc.constantFrom(2 ** 29, 2 ** 30, 2 ** 31, 2 ** 32 - 8) }),
  fc.record({ kind: fc.constant("strings" as const), value: u32 }),
  fc.record({ kind: fc.constant("table" as const), value: u32 }),
  fc.record({ kind: fc.constant("version" as const), value: fc.nat({ max: 0xffff }) }),
  fc.record({ kind: fc.constant("fields" as const), value: fc.nat({ max: 0xffff }) }),
  fc.record({ kind: fc.constant("bytes" as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("grow" as const), extra: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(frame: Buffer, ms: Mutation[]): Buffer {
  let f = Buffer.from(frame);
  for (const m of ms) {
    switch (m.kind) {
      case "count": if (f.length >= 12) f.writeUInt32LE(m.value, 8); break;
      case "countWrap": if (f.length >= 12) f.writeUInt32LE((f.readUInt32LE(8) + m.value) >>> 0, 8); break;
      case "tableWrap": if (f.length >= 20) f.writeUInt32LE((f.readUInt32LE(16) + m.value) >>> 0, 16); break;
      case "strings": if (f.length >= 16) f.writeUInt32LE(m.value, 12); break;
      case "table": if (f.length >= 20) f.writeUInt32LE(m.value, 16); break;
      case "version": if (f.length >= 6) f.writeUInt16LE(m.value, 4); break;
      case "fields": if (f.length >= 8) f.writeUInt16LE(m.value, 6); break;
      case "bytes": if (f.length > 0) f[m.at % f.length] = m.value; break;
      case "cut": f = f.subarray(0, m.at % (f.length + 1)); break;
      case "grow": f = Buffer.concat([f, m.extra]); break;
    }
  }
  return f;
}

/** A schema without strings: its first column is read with one aligned copy, no per-record check. */
const NUMS = defineSchema("nums", { a: "f64", b: "u32", d: "f32" });

/** Decoded NUMS rows, or the DecodeError message. */
function decodeNums(frame: Uint8Array, max = 64): { rows: number[][] } | { error: string } {
  const cols = { a: new Float64Array(max), b: new Uint32Array(max), d: new Float32Array(max) };
  let got: number;
  try {
    got = decodeFrameInto(NUMS, frame, 0, max, cols, 0, new Interner(), []);
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    return { error: err.message };
  }
  const rows: number[][] = [];
  for (let i = 0; i < got; i++) rows.push([cols.a[i]!, cols.b[i]!, cols.d[i]!]);
  return { rows };
}

describe("frames, property-based", () => {
  it("round-trip any records: doubles (NaN, ±Infinity, -0), any Unicode ids, missing fields", () => {
    fc.assert(fc.property(fc.array(record, { maxLength: 40 }), (recs) => {
      const got = decodeAll(encodeFrame(DRIVER_LOCATION, recs), 64);
      expect("rows" in got).toBe(true);
      const rows = (got as { rows: unknown[][] }).rows;
      expect(rows).toHaveLength(recs.length);
      recs.forEach((r, i) => {
        expect(rows[i]![0]).toBe(typeof r.driverId === "string" ? r.driverId : "");
        expect(Object.is(rows[i]![1], r.lat) && Object.is(rows[i]![2], r.lon) && Object.is(rows[i]![3], r.ts)).toBe(true);
        expect(Object.is(rows[i]![4], r.speedKmh ?? NaN)).toBe(true);
      });
    }), FUZZ);
  });

  it("a corrupted frame is a DecodeError or decodes exactly the bytes it holds, wherever it sits in memory", () => {
    fc.assert(fc.property(fc.array(record, { maxLength: 12 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.nat({ max: 7 }),
      (recs, ms, shift) => {
        const f = mutate(encodeFrame(DRIVER_LOCATION, recs), ms);
        const alone = decodeAll(new Uint8Array(f)); // its own exact ArrayBuffer
        const inside = decodeAll(embedded(f, shift)); // canaries around, any alignment
        expect(inside).toEqual(alone);
        if ("rows" in alone) {
          // Whatever decodes fits in the message: no record was read from outside it.
          expect(alone.rows.length * SCHEMA_BYTES).toBeLessThanOrEqual(f.length);
          expect(frameRecordCount(DRIVER_LOCATION, f)).toBeLessThanOrEqual(f.length);
        }
      }), FUZZ);
  });

  it("the same for a schema without strings (its columns are bulk-copied)", () => {
    const num = fc.record({ a: fc.double(), b: fc.nat({ max: 0xffffffff }), d: fc.double() });
    fc.assert(fc.property(fc.array(num, { maxLength: 12 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.nat({ max: 7 }),
      (recs, ms, shift) => {
        const f = mutate(encodeFrame(NUMS, recs), ms);
        const alone = decodeNums(new Uint8Array(f));
        expect(decodeNums(embedded(f, shift))).toEqual(alone);
        if ("rows" in alone) expect(alone.rows.length * (8 + 4 + 4)).toBeLessThanOrEqual(f.length);
      }), FUZZ);
  });

  it("never throws anything but DecodeError on arbitrary bytes behind the magic", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const f = Buffer.concat([Buffer.from([0x52, 0x54, 0x46, 0x31, 1, 0, 5, 0]), bytes]);
      decodeAll(f); // throws (fails the property) on anything but a DecodeError
    }), FUZZ);
  });

  it("regression: a header claiming 2^30 + k records is not taken for k (32-bit wrap in the size check)", () => {
    const good = encodeFrame(DRIVER_LOCATION, records); // 4 records
    for (const n of [2 ** 30 + 4, 2 ** 31 + 4, 3 * 2 ** 30 + 4]) {
      const f = Buffer.from(good);
      f.writeUInt32LE(n >>> 0, 8);
      expect(() => frameRecordCount(DRIVER_LOCATION, f)).toThrow(DecodeError);
      expect(decodeAll(embedded(f, 0))).toEqual({ error: expect.stringMatching(/does not match its header/) });
    }
  });

  it("regression: a frame read in pieces is rejected whole on its first piece (bad string index in a later record)", () => {
    const f = encodeFrame(DRIVER_LOCATION, records);
    const tableBytes = f.readUInt32LE(16);
    f.writeUInt32LE(99, ((20 + tableBytes + 7) & ~7) + 3 * 4); // the 4th record's driverId
    // The first piece (2 records) already fails: none of the frame's records reaches a ring.
    expect(() => decodeFrameInto(DRIVER_LOCATION, f, 0, 2, columns(2), 0, new Interner(), [])).toThrow(/frame record 3 refers to string 99/);
  });
});
