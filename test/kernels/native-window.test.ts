// The native window-table and driver-tracking chain kernels (native-bindings/) against their JS
// references, bit for bit: WindowTable.add / addBatch (window-table.ts) and DriverTrackingShard's
// JS loop (pipelines/driver-tracking/shard.ts). Equal means: the same windows emitted in the same
// order at every close (so the same capacity and slot order), the same exported entries, the same
// output records to the last bit. The wrappers are also run with RIPTIDE_NATIVE=0 in this file, so
// the JS path is tested when the addon is present. Native comparisons are skipped (reason in their
// name) when the addon is not built, except under CI, where a missing addon fails.
import { afterAll, describe, expect, it } from "vitest";
import {
  IO_FROM, IO_MIN_START, IO_N, IO_NEXT, IO_OUT_MIN_START, IO_OUT_SIZE, IO_SIZE, IO_SIZE_MS, IO_STATUS, IO_WORDS,
  NATIVE_ENV, STATUS_DONE, STATUS_NEED_GROW, loadNativeKernels, nativeStatus, resetNativeKernels, windowAddBatchFast,
} from "../../src/kernels/native.js";
import { validateFixes } from "../../src/kernels/validate.js";
import { WindowTable, type WindowSink } from "../../src/kernels/window-table.js";
import { DriverTrackingShard } from "../../src/pipelines/driver-tracking/shard.js";
import { inputLayout, type DriverInputColumns } from "../../src/pipelines/driver-tracking/spec.js";
import { H_COUNT, HEADER_WORDS } from "../../src/ring/layout.js";
import { OUTPUT_FIELDS, OutputWriter, outputLayout } from "../../src/ring/output.js";
import { BatchRing } from "../../src/ring/ring.js";
import { DriverGenerator, type DriverGeneratorOptions } from "../../src/sources/driver-generator.js";
import { GeneratorSource } from "../../src/sources/generator-source.js";
import { mulberry32, unit53 } from "../support/random.js";

const saved = process.env[NATIVE_ENV];
function setEnv(v: string | undefined): void {
  if (v === undefined) delete process.env[NATIVE_ENV];
  else process.env[NATIVE_ENV] = v;
  resetNativeKernels();
}
afterAll(() => setEnv(saved));

setEnv(saved);
const native = process.env[NATIVE_ENV] === "0" ? undefined : loadNativeKernels();
const why = native === undefined ? ` (skipped: ${nativeStatus().reason ?? "addon unavailable"})` : "";

const bits = new DataView(new ArrayBuffer(8));
/** A double as its 16 hex digits (so -0 ≠ +0 and NaN payloads show). */
function hex(x: number): string {
  bits.setFloat64(0, x);
  return bits.getBigUint64(0).toString(16).padStart(16, "0");
}

class Collect implements WindowSink {
  readonly rows: string[] = [];
  window(key: number, start: number, count: number, sum: number, n: number, min: number, max: number): void {
    this.rows.push([key, ...[start, count, sum, n, min, max].map(hex)].join(" "));
  }
}

function exported(t: WindowTable): string[] {
  const out = new Float64Array(t.size * 7);
  expect(t.exportTo(out, 0)).toBe(t.size * 7);
  return Array.from(out, hex);
}

/** Seeded batches of (key, start, value), with hostile starts and values mixed in. */
function windowBatches(seed: number, batches: number, size: number): Array<{ keys: Uint32Array; starts: Float64Array; values: Float64Array }> {
  const next = mulberry32(seed);
  const sizeMs = 1000;
  const odd = [-0, 0, NaN, -1e15, 2 ** 31 * sizeMs, 2 ** 32 * sizeMs + 5000, -(2 ** 33) * sizeMs, 1e300, -Infinity, 0.5];
  const oddValues = [NaN, -0, 0, Infinity, -Infinity, 2 ** 53, -(2 ** 53), 5e-324];
  let t = 1_700_000_000_000;
  const out = [];
  for (let b = 0; b < batches; b++) {
    const keys = new Uint32Array(new SharedArrayBuffer(size * 4));
    const starts = new Float64Array(new SharedArrayBuffer(size * 8));
    const values = new Float64Array(new SharedArrayBuffer(size * 8));
    for (let i = 0; i < size; i++) {
      t += unit53(next) * 3;
      const r = next() % 64;
      keys[i] = r === 0 ? next() : next() % (b % 3 === 0 ? 6000 : 300); // some batches spread wide: growth
      starts[i] = r === 1 ? odd[next() % odd.length]! : Math.floor((t - unit53(next) * 2000) / sizeMs) * sizeMs;
      values[i] = r === 2 ? oddValues[next() % oddValues.length]! : Math.round(unit53(next) * 1e8);
    }
    out.push({ keys, starts, values });
  }
  return out;
}

/** Runs the batches through `add` (the reference) and through `batchAdd`, closing as time moves. */
function compareTables(seed: number, batchAdd: (t: WindowTable, k: Uint32Array, s: Float64Array, v: Float64Array, n: number) => void): void {
  const ref = new WindowTable({ sizeMs: 1000, graceMs: 300, initialCapacity: 16 });
  const got = new WindowTable({ sizeMs: 1000, graceMs: 300, initialCapacity: 16 });
  const refRows = new Collect();
  const gotRows = new Collect();
  let closes = 0;
  let maxSize = 0;
  const batches = windowBatches(seed, 60, 4096);
  batches.forEach(({ keys, starts, values }, b) => {
    const n = b % 7 === 0 ? 1 + (b % 4000) : keys.length; // some partial batches
    for (let i = 0; i < n; i++) ref.add(keys[i]!, starts[i]!, values[i]!);
    batchAdd(got, keys, starts, values, n);
    maxSize = Math.max(maxSize, ref.size);
    expect(got.size).toBe(ref.size);
    expect(got.bytes).toBe(ref.bytes);
    expect(got.nextCloseAt).toBe(ref.nextCloseAt);
    if (b % 5 === 4) {
      const wm = 1_700_000_000_000 + b * 4096 * 1.5 - 2500;
      expect(got.closeUpTo(wm, gotRows)).toBe(ref.closeUpTo(wm, refRows));
      closes++;
    }
    if (b % 9 === 0) expect(exported(got)).toEqual(exported(ref));
  });
  ref.closeUpTo(Infinity, refRows);
  got.closeUpTo(Infinity, gotRows);
  expect(gotRows.rows.length).toBe(refRows.rows.length);
  expect(gotRows.rows).toEqual(refRows.rows); // same order: same slots
  expect(refRows.rows.length).toBeGreaterThan(10_000);
  expect(closes).toBeGreaterThan(5);
  expect(maxSize).toBeGreaterThan(4000); // grew from 16 slots many times
}

describe("windowAddBatchFast", () => {
  it("with RIPTIDE_NATIVE=0 (the JS addBatch) equals add one by one", () => {
    setEnv("0");
    expect(loadNativeKernels()).toBeUndefined();
    compareTables(1, windowAddBatchFast);
    setEnv(saved);
  });

  it(`native: equals add one by one, through growth, hostile starts and values, and closes${why}`, () => {
    if (native === undefined) return;
    setEnv(saved);
    expect(loadNativeKernels()).toBe(native);
    for (const seed of [2, 3]) compareTables(seed, windowAddBatchFast);
  });
});

describe.skipIf(native === undefined)(`native windowAddBatch kernel${why}`, () => {
  const k = native!;

  it("stops before the record that needs growth, without touching the table", () => {
    const t = new WindowTable({ sizeMs: 1000, initialCapacity: 16 });
    const n = 20;
    const keys = new Uint32Array(n).map((_, i) => i + 1);
    const starts = new Float64Array(n).fill(5000);
    const values = new Float64Array(n).fill(1);
    const io = new Float64Array(IO_WORDS);
    io[IO_FROM] = 0; io[IO_N] = n; io[IO_SIZE] = 0; io[IO_MIN_START] = Infinity; io[IO_SIZE_MS] = 1000;
    const a = t.arrays;
    k.windowAddBatch(a.used, a.keys, a.starts, a.count, a.sum, a.n, a.min, a.max, keys, starts, values, io);
    // 16 slots hold at most 8 entries: the 9th new entry needs growth.
    expect([io[IO_STATUS], io[IO_NEXT], io[IO_OUT_SIZE], io[IO_OUT_MIN_START]]).toEqual([STATUS_NEED_GROW, 8, 8, 5000]);
    expect(a.used.reduce((s, u) => s + u, 0)).toBe(8);
    t.setCounters(io[IO_OUT_SIZE]!, io[IO_OUT_MIN_START]!);
    t.growForInsert();
    io[IO_FROM] = io[IO_NEXT]!; io[IO_SIZE] = t.size;
    const b = t.arrays;
    k.windowAddBatch(b.used, b.keys, b.starts, b.count, b.sum, b.n, b.min, b.max, keys, starts, values, io);
    // 32 slots hold 16: it stops again, at the 17th; after a second growth it finishes.
    expect([io[IO_STATUS], io[IO_NEXT], io[IO_OUT_SIZE]]).toEqual([STATUS_NEED_GROW, 16, 16]);
    t.setCounters(io[IO_OUT_SIZE]!, io[IO_OUT_MIN_START]!);
    t.growForInsert();
    io[IO_FROM] = io[IO_NEXT]!; io[IO_SIZE] = t.size;
    const c = t.arrays;
    k.windowAddBatch(c.used, c.keys, c.starts, c.count, c.sum, c.n, c.min, c.max, keys, starts, values, io);
    expect([io[IO_STATUS], io[IO_NEXT], io[IO_OUT_SIZE]]).toEqual([STATUS_DONE, n, n]);
    t.setCounters(io[IO_OUT_SIZE]!, io[IO_OUT_MIN_START]!);
    const ref = new WindowTable({ sizeMs: 1000, initialCapacity: 16 });
    ref.addBatch(keys, starts, values, n);
    expect(exported(t)).toEqual(exported(ref));
  });

  it("rejects a non-power-of-two table, short arrays and a bad range instead of reading past them", () => {
    const f = new Float64Array(16);
    const io = new Float64Array(IO_WORDS);
    io[IO_N] = 4;
    const u8 = new Uint8Array(16);
    const u32 = new Uint32Array(16);
    expect(() => k.windowAddBatch(new Uint8Array(12), u32, f, f, f, f, f, f, u32, f, f, io)).toThrow(RangeError);
    expect(() => k.windowAddBatch(u8, new Uint32Array(8), f, f, f, f, f, f, u32, f, f, io)).toThrow(RangeError);
    io[IO_N] = 17;
    expect(() => k.windowAddBatch(u8, u32, f, f, f, f, f, f, u32, f, f, io)).toThrow(RangeError);
    io[IO_N] = 4;
    expect(() => k.windowAddBatch(u8, u32, f, f, f, f, f, f, u32, f, f, new Float64Array(4))).toThrow(RangeError);
    expect(() => k.windowAddBatch(u8, u32, f, f, f, f, f, f, f as unknown as Uint32Array, f, f, io)).toThrow(TypeError);
  });
});

// --- driver-tracking's shard chain --------------------------------------------------------------

const BATCH = 2048;

/** Every record of an output ring as text, bit for bit. */
function drain(ring: BatchRing, into: string[]): void {
  for (let slot = ring.peek(); slot >= 0; slot = ring.peek()) {
    const n = ring.header[slot * HEADER_WORDS + H_COUNT]!;
    const cols = ring.columns[slot]!;
    for (let i = 0; i < n; i++) into.push(OUTPUT_FIELDS.map((f) => hex(cols[f.name]![i]!)).join(" "));
    ring.release();
  }
}

interface ChainRun { rows: string[]; native: boolean; maxTableBytes: number }

/**
 * Feeds `batches` generator batches (plus hand-made hostile records) through the edge validation
 * and one DriverTrackingShard built with `kernels`, closing windows per batch, then flushing;
 * returns every output record. A snapshot/restore round trip mid-way exercises the state layout.
 */
function runChain(options: Partial<DriverGeneratorOptions>, batches: number, kernels: "auto" | "js", positions = false): ChainRun {
  const source = new GeneratorSource(new DriverGenerator(options));
  const input = BatchRing.create(inputLayout(BATCH), 2);
  const outRing = BatchRing.create(outputLayout(1024), 64);
  const out = new OutputWriter(outRing);
  let shard = new DriverTrackingShard({ kernels, positions });
  const rows: string[] = [];
  const streamTime = new Float64Array(source.partitions).fill(-Infinity);
  const next = mulberry32(99);
  let maxTableBytes = 0;
  for (let b = 0; b < batches; b++) {
    const p = b % source.partitions;
    const cols = input.columns[0]!;
    const c = cols as unknown as DriverInputColumns;
    const n = source.fill(p, cols, b % 5 === 3 ? 1 + (b * 37) % BATCH : BATCH);
    for (let i = 0; i < n; i++) {
      c._off[i] = b * BATCH + i;
      const r = next() % 128;
      // Speeds that stress the micro-km/h rounding and the NaN/Infinity test.
      if (r === 0) c.speedKmh[i] = [Infinity, -Infinity, NaN, -0, 0.0000005, -0.0000005, 1e300, -12.5000005][next() % 8]!;
      else if (r === 1) c.speedKmh[i] = (next() % 100000) / 1e6 + 0.0000005;
      else if (r === 2) c.driverId[i] = 40_000 + (next() % 5000); // new drivers beyond the arrays: growth
    }
    let otherMin = Infinity;
    for (let q = 0; q < streamTime.length; q++) if (q !== p && streamTime[q]! < otherMin) otherMin = streamTime[q]!;
    streamTime[p] = validateFixes(c.driverId, c.lat, c.lon, c.ts, n, streamTime[p]!, otherMin, c._reason, c._wm);
    shard.process(cols, n, p, out);
    maxTableBytes = Math.max(maxTableBytes, (shard as unknown as { table: WindowTable }).table.bytes);
    shard.advance(c._wm[n - 1]!, out);
    out.flush();
    drain(outRing, rows);
    if (b === batches >> 1) {
      const snap = new Float64Array(1 << 22);
      const words = shard.snapshot(snap);
      expect(words).toBeGreaterThan(0);
      const fresh = new DriverTrackingShard({ kernels, positions });
      fresh.restore(snap, words);
      shard = fresh;
    }
  }
  shard.advance(Infinity, out);
  out.flush();
  drain(outRing, rows);
  return { rows, native: shard.usesNative, maxTableBytes };
}

const kinds = (rows: string[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const r of rows) {
    const k = String(parseInt(r.slice(0, 16), 16) === 0 ? 0 : new DataView(new BigUint64Array([BigInt(`0x${r.slice(0, 16)}`)]).buffer).getFloat64(0, true));
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
};

describe("DriverTrackingShard", () => {
  it('with kernels "js" or RIPTIDE_NATIVE=0 runs the JS loop', () => {
    expect(new DriverTrackingShard({ kernels: "js" }).usesNative).toBe(false);
    setEnv("0");
    expect(new DriverTrackingShard().usesNative).toBe(false);
    setEnv(saved);
  });

  it(`RIPTIDE_NATIVE=1 requires the addon${why}`, () => {
    setEnv("1");
    if (native === undefined) expect(() => new DriverTrackingShard()).toThrow(/RIPTIDE_NATIVE=1/);
    else expect(new DriverTrackingShard().usesNative).toBe(true);
    setEnv(saved);
  });

  const NOISY: Partial<DriverGeneratorOptions> = {
    seed: 5, drivers: 3000, partitions: 4, outOfOrderShare: 0.05, lateShare: 0.01, invalidShare: 0.01,
    teleportShare: 0.005, speedMissingShare: 0.1,
  };
  // One wide "city": thousands of geohash-5 regions per window, so the window table grows.
  const WIDE: Partial<DriverGeneratorOptions> = {
    ...NOISY, seed: 8, drivers: 20_000, cities: [{ name: "wide", lat: 45, lon: 10, radiusKm: 400, weight: 1 }],
  };

  it.each([["noisy", NOISY, 300, false], ["wide", WIDE, 200, false], ["noisy with positions", NOISY, 300, true]] as const)(
    `native chain equals the JS loop to the last bit (%s generator data, hostile speeds, new drivers)${why}`,
    (_name, options, batches, positions) => {
      if (native === undefined) return;
      const js = runChain(options, batches, "js", positions);
      const nat = runChain(options, batches, "auto", positions);
      expect(js.native).toBe(false);
      expect(nat.native).toBe(true);
      const counts = kinds(js.rows);
      // The mix is what the test claims: windows (1), invalid (2), anomaly (3), late (4), acks are not here.
      expect(counts["1"]).toBeGreaterThan(1000);
      expect(counts["2"]).toBeGreaterThan(100);
      expect(counts["3"]).toBeGreaterThan(20);
      expect(counts["4"]).toBeGreaterThan(50);
      // POSITION (9): one per driver that moved in a batch, only with `positions`.
      if (positions) expect(counts["9"]).toBeGreaterThan(100_000);
      else expect(counts["9"]).toBeUndefined();
      // The window table starts at 4096 slots; on the wide data it grew at least twice.
      if (_name === "wide") expect(js.maxTableBytes).toBeGreaterThanOrEqual(4 * new WindowTable({ sizeMs: 1, initialCapacity: 4096 }).bytes);
      expect(nat.rows.length).toBe(js.rows.length);
      const firstDiff = nat.rows.findIndex((r, i) => r !== js.rows[i]);
      expect(firstDiff < 0 ? "" : `record ${firstDiff}: native ${nat.rows[firstDiff]} vs JS ${js.rows[firstDiff]}`).toBe("");
    },
  );

  it("CI builds the addon (a missing addon would leave the native path untested)", () => {
    if (process.env["CI"] !== "true" || process.env[NATIVE_ENV] === "0") return;
    expect(nativeStatus().reason).toBeUndefined();
  });
});
