import { describe, expect, it } from "vitest";
import { DecodeError } from "../../src/errors.js";
import { decodeFrameInto, encodeFrame, encodeFrameFromColumns, frameRecordCount } from "../../src/io/frame.js";
import { DRIVER_LOCATION } from "../../src/pipelines/driver-tracking/spec.js";
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
