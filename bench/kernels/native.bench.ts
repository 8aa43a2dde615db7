// The native kernels (native-bindings/, src/kernels/native.ts) against the JS kernels they must
// equal bit for bit. Each task call processes a whole pre-generated batch in SharedArrayBuffer-
// backed arrays (as the workers hold them), so eventsPerSec = BATCH / mean seconds per call. Per
// group: the JS kernel (baseline), the native kernel when the addon is built, and two memory-
// bandwidth bounds (bandwidth.ts): this machine's copy rate, cache-resident and from DRAM, divided
// by the bytes the kernel reads and writes per event. Each kernel row's note says what share of
// the bounds it reaches.
//
// Groups: the three stateless kernels; the window-table update (WindowTable.addBatch vs the native
// windowAddBatch on the same table layout); and driver-tracking's whole shard chain per batch
// (DriverTrackingShard's JS loop vs its one native call per batch), on generator batches validated
// by the edge kernel beforehand, as a shard worker receives them.
//
//   npm run build && node scripts/build-native.mjs && node dist/bench/kernels/native.bench.js [--quick]

import { pathToFileURL } from "node:url";
import { Bench } from "tinybench";
import {
  tinybenchNote,
  formatTable,
  machine,
  machineLine,
  tinybenchEventsPerSec,
  tinybenchOptions,
  measureBatches,
  mulberry32,
  type BatchCase,
  type BenchRow,
} from "../harness.js";
import { etaBatch, haversineBatch } from "../../src/kernels/geo.js";
import { geohashEncodeBatch } from "../../src/kernels/geohash.js";
import { loadNativeKernels, nativeStatus, windowAddBatchFast } from "../../src/kernels/native.js";
import { validateFixes } from "../../src/kernels/validate.js";
import { WindowTable } from "../../src/kernels/window-table.js";
import { DriverTrackingShard } from "../../src/pipelines/driver-tracking/shard.js";
import { inputLayout, type DriverInputColumns } from "../../src/pipelines/driver-tracking/spec.js";
import { H_COUNT, HEADER_WORDS } from "../../src/ring/layout.js";
import { OUT_WINDOW, OutputWriter, outputLayout, type OutputColumns } from "../../src/ring/output.js";
import { BatchRing } from "../../src/ring/ring.js";
import { DriverGenerator } from "../../src/sources/driver-generator.js";
import { GeneratorSource } from "../../src/sources/generator-source.js";
import { boundRows, ofBound } from "./bandwidth.js";

/** The groups this module reports (the suite runner's --only filter reads it). */
export const groups = ["native geohash p7", "native haversine", "native ETA", "native window add", "native shard chain"] as const;

const BATCH = 65_536;

/** Bytes each kernel reads + writes per event, and what they are. */
const BYTES = {
  geohash: [2 * 8 + 2 * 4, "lat, lon f64 in; hi, lo u32 out"],
  haversine: [4 * 8 + 8, "4 f64 in, 1 out"],
  eta: [5 * 8 + 8, "5 f64 in, 1 out"],
  // key u32, start f64, value f64 in; the entry: probe used u8 + key u32 + start f64, then count,
  // sum, n, min, max f64 read and written.
  window: [20 + 13 + 80, "20 B in, entry probe 13 B, 5 f64 read + written"],
  // the input columns a shard reads (driverId u32, lat, lon, ts, speedKmh, _wm f64, _reason u8),
  // the driver's last fix read and written (3 f64), and the window entry as above.
  chain: [45 + 48 + 93, "45 B of input columns, driver state 24 B read + written, window entry 93 B"],
} as const;

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const native = loadNativeKernels();
  const missing = native === undefined ? `native not measured: ${nativeStatus().reason ?? "unavailable"}` : undefined;

  const next = mulberry32(0x4a71e);
  const uniform = (): number => next() / 4294967296;
  const shared = (): Float64Array => new Float64Array(new SharedArrayBuffer(BATCH * 8));
  // Drivers and requests over a 50 km city (as geo.bench.ts); geohash points over inhabited latitudes.
  const dLat = shared();
  const dLon = shared();
  const rLat = shared();
  const rLon = shared();
  const traffic = shared();
  const lat = shared();
  const lon = shared();
  for (let i = 0; i < BATCH; i++) {
    dLat[i] = 40.5 + uniform() * 0.45;
    dLon[i] = -74.2 + uniform() * 0.6;
    rLat[i] = 40.5 + uniform() * 0.45;
    rLon[i] = -74.2 + uniform() * 0.6;
    traffic[i] = 1 + uniform() * 1.5;
    lat[i] = uniform() * 120 - 55;
    lon[i] = uniform() * 360 - 180;
  }
  const out = shared();
  const check = shared();
  const hi = new Uint32Array(new SharedArrayBuffer(BATCH * 4));
  const lo = new Uint32Array(new SharedArrayBuffer(BATCH * 4));
  const checkHi = new Uint32Array(BATCH);
  const checkLo = new Uint32Array(BATCH);

  // The rows must compute the same thing: check once before timing.
  if (native !== undefined) {
    geohashEncodeBatch(lat, lon, BATCH, 7, checkHi, checkLo);
    native.geohashEncodeBatch(lat, lon, BATCH, 7, hi, lo);
    haversineBatch(dLat, dLon, rLat, rLon, BATCH, check);
    native.haversineBatch(dLat, dLon, rLat, rLon, BATCH, out);
    for (let i = 0; i < BATCH; i++) {
      if (hi[i] !== checkHi[i] || lo[i] !== checkLo[i]) throw new Error(`native bench: geohash native != JS at ${i}`);
      if (!Object.is(out[i], check[i])) throw new Error(`native bench: haversine native != JS at ${i}`);
    }
  }

  const rows: BenchRow[] = [];
  const jsNote = (s: string): string => (missing === undefined ? s : `${s}; ${missing}`);

  const geohash: BatchCase[] = [
    { name: "geohashEncodeBatch (JS)", baseline: true, note: jsNote("reference kernel"), fn: () => geohashEncodeBatch(lat, lon, BATCH, 7, hi, lo) },
  ];
  const haversine: BatchCase[] = [
    { name: "haversineBatch (JS)", baseline: true, note: jsNote("reference kernel, V8 fdlibm sin/cos/asin"), fn: () => haversineBatch(dLat, dLon, rLat, rLon, BATCH, out) },
  ];
  const eta: BatchCase[] = [
    { name: "etaBatch (JS)", baseline: true, note: jsNote("reference kernel"), fn: () => etaBatch(dLat, dLon, rLat, rLon, traffic, BATCH, out) },
  ];
  if (native !== undefined) {
    geohash.push({ name: "geohashEncodeBatch (native)", baseline: false, note: "N-API, -O3 scalar loop", fn: () => native.geohashEncodeBatch(lat, lon, BATCH, 7, hi, lo) });
    haversine.push({ name: "haversineBatch (native)", baseline: false, note: "N-API, fdlibm port, -O3 scalar loop", fn: () => native.haversineBatch(dLat, dLon, rLat, rLon, BATCH, out) });
    eta.push({ name: "etaBatch (native)", baseline: false, note: "N-API, fdlibm port, -O3 scalar loop", fn: () => native.etaBatch(dLat, dLon, rLat, rLon, traffic, BATCH, out, 30) });
  }
  rows.push(...withBounds(await measureBatches(groups[0], geohash, BATCH, opts.quick), await boundRows(groups[0], ...BYTES.geohash, opts.quick)));
  rows.push(...withBounds(await measureBatches(groups[1], haversine, BATCH, opts.quick), await boundRows(groups[1], ...BYTES.haversine, opts.quick)));
  rows.push(...withBounds(await measureBatches(groups[2], eta, BATCH, opts.quick), await boundRows(groups[2], ...BYTES.eta, opts.quick)));
  rows.push(...withBounds(await windowAdd(native !== undefined, jsNote, opts.quick), await boundRows(groups[3], ...BYTES.window, opts.quick)));
  rows.push(...withBounds(await shardChain(native !== undefined, jsNote, opts.quick), await boundRows(groups[4], ...BYTES.chain, opts.quick)));
  return rows;
}

/** The kernel rows, each note ending with its share of the bounds, then the bound rows. */
function withBounds(kernelRows: BenchRow[], bounds: BenchRow[]): BenchRow[] {
  return [...kernelRows.map((r) => ({ ...r, note: `${r.note ?? ""}; ${ofBound(r.eventsPerSec, bounds)}` })), ...bounds];
}

// ── window-table update ─────────────────────────────────────────────────────────────────────────

const WINDOW_BATCH = 4096;
const WINDOW_EVENTS = 1 << 20;

/**
 * WindowTable.addBatch (the JS reference: add per record) against the native windowAddBatch, on
 * window-table.bench.ts's kind of data: 2000 geohash-5 region codes, event time advancing 0.6 ms
 * per event with up to 5 s of jitter, 5 % values missing; each call adds one batch of 4096 and
 * closes what the batch's watermark passed. Replays shifted forward in time when the data runs out.
 */
export async function windowAdd(hasNative: boolean, jsNote: (s: string) => string, quick: boolean): Promise<BenchRow[]> {
  const next = mulberry32(0x3a11);
  const codes = new Uint32Array(2000).map(() => next() >>> 7);
  const keys = new Uint32Array(new SharedArrayBuffer(WINDOW_EVENTS * 4));
  const starts = new Float64Array(new SharedArrayBuffer(WINDOW_EVENTS * 8));
  const ts = new Float64Array(WINDOW_EVENTS);
  const values = new Float64Array(new SharedArrayBuffer(WINDOW_EVENTS * 8));
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < WINDOW_EVENTS; i++) {
    keys[i] = codes[next() % 2000]!;
    ts[i] = Math.floor(t0 + i * 0.6 - (next() / 4294967296) * 5000);
    starts[i] = Math.floor(ts[i]! / 60_000) * 60_000;
    values[i] = next() % 20 === 0 ? NaN : Math.round((10 + (next() / 4294967296) * 80) * 1e6);
  }
  const span = Math.ceil(WINDOW_EVENTS * 0.6 + 5000 + 60_000);
  let shift = 0; // added to every ts of the data so far (shared: the sides replay the same arrays)

  class Side {
    readonly table = new WindowTable({ sizeMs: 60_000, graceMs: 10_000, initialCapacity: 4096 });
    at = 0;
    closed = 0;
    checksum = 0;
    readonly sink = { window: (_k: number, _s: number, count: number): void => { this.closed++; this.checksum += count; } };
    constructor(private readonly useNative: boolean) {}
    batch(): void {
      const at = this.at;
      const k = keys.subarray(at, at + WINDOW_BATCH);
      const s = starts.subarray(at, at + WINDOW_BATCH);
      const v = values.subarray(at, at + WINDOW_BATCH);
      if (this.useNative) windowAddBatchFast(this.table, k, s, v, WINDOW_BATCH);
      else this.table.addBatch(k, s, v, WINDOW_BATCH);
      this.at = at + WINDOW_BATCH;
      this.table.closeUpTo(ts[this.at - 1]! + shift - 5000, this.sink);
    }
    /** Outside the timed calls: replays the data later in event time once used up. */
    rewindIfDone(): void {
      if (this.at + WINDOW_BATCH <= WINDOW_EVENTS) return;
      shift += span;
      for (let i = 0; i < WINDOW_EVENTS; i++) starts[i] = Math.floor((ts[i]! + shift) / 60_000) * 60_000;
      this.at = 0;
    }
  }
  // Both must agree over the whole data once before timing (the JS side is the reference).
  {
    const a = new Side(false);
    const b = new Side(true);
    while (a.at + WINDOW_BATCH <= WINDOW_EVENTS) { a.batch(); b.batch(); }
    a.table.closeUpTo(Infinity, a.sink);
    b.table.closeUpTo(Infinity, b.sink);
    if (a.closed !== b.closed || a.checksum !== b.checksum || a.closed === 0) {
      throw new Error(`native bench: window add JS closed ${a.closed} (${a.checksum}), native ${b.closed} (${b.checksum})`);
    }
  }
  const js = new Side(false);
  const nat = new Side(true);
  const bench = new Bench({ name: groups[3], ...tinybenchOptions(quick) });
  // Each side shifts the shared starts when it wraps; tasks run one after the other, so a side
  // only ever sees time moving forward.
  bench.add("js", () => js.batch(), { async: false, beforeEach: () => js.rewindIfDone() });
  if (hasNative) bench.add("native", () => nat.batch(), { async: false, beforeEach: () => nat.rewindIfDone() });
  await bench.run();
  const [jsTask, natTask] = bench.tasks;
  const rows: BenchRow[] = [{
    group: groups[3], name: "WindowTable.addBatch (JS)", baseline: true,
    eventsPerSec: tinybenchEventsPerSec(jsTask!.result, WINDOW_BATCH),
    note: jsNote(`reference: add per record, closeUpTo per batch; ${tinybenchNote(jsTask!.result, WINDOW_BATCH)}`),
  }];
  if (natTask) {
    rows.push({
      group: groups[3], name: "windowAddBatch (native)", baseline: false,
      eventsPerSec: tinybenchEventsPerSec(natTask.result, WINDOW_BATCH),
      note: `in place on the table's arrays, closeUpTo (JS) per batch; ${tinybenchNote(natTask.result, WINDOW_BATCH)}`,
    });
  }
  return rows;
}

// ── driver-tracking's shard chain ───────────────────────────────────────────────────────────────

const CHAIN_BATCH = 2048;
const CHAIN_SLOTS = 256;

/**
 * DriverTrackingShard.process + advance per batch, JS loop vs one native call, on 256 batches of
 * 2048 generator events (DriverGenerator defaults, seed 42) laid out as input ring slots and
 * validated beforehand by the edge kernel, in the coordinator's partition order. The outputs go
 * to an output ring drained in the same thread (counting windows). Replays shifted forward.
 */
export async function shardChain(hasNative: boolean, jsNote: (s: string) => string, quick: boolean): Promise<BenchRow[]> {
  const source = new GeneratorSource(new DriverGenerator({ seed: 42 }));
  const ring = BatchRing.create(inputLayout(CHAIN_BATCH), CHAIN_SLOTS);
  const cols = ring.columns.map((c) => c as unknown as DriverInputColumns);
  const partition = new Int32Array(CHAIN_SLOTS);
  const streamTime = new Float64Array(source.partitions).fill(-Infinity);
  let lo = Infinity, hi = -Infinity;
  for (let s = 0; s < CHAIN_SLOTS; s++) {
    const p = s % source.partitions;
    partition[s] = p;
    if (source.fill(p, ring.columns[s]!, CHAIN_BATCH) !== CHAIN_BATCH) throw new Error("native bench: short generator batch");
    const c = cols[s]!;
    let otherMin = Infinity;
    for (let q = 0; q < streamTime.length; q++) if (q !== p && streamTime[q]! < otherMin) otherMin = streamTime[q]!;
    streamTime[p] = validateFixes(c.driverId, c.lat, c.lon, c.ts, CHAIN_BATCH, streamTime[p]!, otherMin, c._reason, c._wm);
    for (let i = 0; i < CHAIN_BATCH; i++) {
      const t = c.ts[i]!;
      if (t < lo) lo = t; // NaN (invalid fixes) compares false
      if (t > hi) hi = t;
    }
  }
  const span = hi - lo + 120_000;

  class Side {
    readonly shard: DriverTrackingShard;
    readonly outRing = BatchRing.create(outputLayout(1024), 64);
    readonly out = new OutputWriter(this.outRing);
    at = 0;
    windows = 0;
    records = 0;
    constructor(kernels: "js" | "auto") {
      this.shard = new DriverTrackingShard({ kernels });
    }
    batch(): void {
      const s = this.at++;
      const c = cols[s]!;
      this.shard.process(ring.columns[s]!, CHAIN_BATCH, partition[s]!, this.out);
      this.shard.advance(c._wm[CHAIN_BATCH - 1]!, this.out);
      this.out.flush();
      this.drain();
    }
    end(): void {
      this.shard.advance(Infinity, this.out);
      this.out.flush();
      this.drain();
    }
    private drain(): void {
      const r = this.outRing;
      for (let slot = r.peek(); slot >= 0; slot = r.peek()) {
        const n = r.header[slot * HEADER_WORDS + H_COUNT]!;
        const kind = (r.columns[slot] as unknown as OutputColumns).kind;
        for (let i = 0; i < n; i++) if (kind[i] === OUT_WINDOW) this.windows++;
        this.records += n;
        r.release();
      }
    }
    /** Outside the timed calls: replays the batches later in event time (ts and watermarks). */
    rewindIfDone(): void {
      if (this.at < CHAIN_SLOTS) return;
      for (const c of cols) {
        for (let i = 0; i < CHAIN_BATCH; i++) {
          c.ts[i] = c.ts[i]! + span;
          c._wm[i] = c._wm[i]! + span;
        }
      }
      this.at = 0;
    }
  }
  {
    const a = new Side("js");
    const b = new Side("auto");
    for (let s = 0; s < CHAIN_SLOTS; s++) { a.batch(); b.batch(); }
    a.end();
    b.end();
    if (a.windows !== b.windows || a.records !== b.records || a.windows === 0) {
      throw new Error(`native bench: shard chain JS gave ${a.records} outputs (${a.windows} windows), native ${b.records} (${b.windows})`);
    }
    a.rewindIfDone();
  }
  const js = new Side("js");
  const nat = new Side("auto");
  const bench = new Bench({ name: groups[4], ...tinybenchOptions(quick) });
  bench.add("js", () => js.batch(), { async: false, beforeEach: () => js.rewindIfDone() });
  if (hasNative) bench.add("native", () => nat.batch(), { async: false, beforeEach: () => nat.rewindIfDone() });
  await bench.run();
  const [jsTask, natTask] = bench.tasks;
  const rows: BenchRow[] = [{
    group: groups[4], name: "DriverTrackingShard, JS loop", baseline: true,
    eventsPerSec: tinybenchEventsPerSec(jsTask!.result, CHAIN_BATCH),
    note: jsNote(`geohash-5 pass + anomaly, late, window add, last fix; close per batch; ${tinybenchNote(jsTask!.result, CHAIN_BATCH)}`),
  }];
  if (natTask) {
    rows.push({
      group: groups[4], name: "DriverTrackingShard, one native call per batch", baseline: false,
      eventsPerSec: tinybenchEventsPerSec(natTask.result, CHAIN_BATCH),
      note: `driverTrackingBatch fused, side outputs emitted from JS, close in JS; ${tinybenchNote(natTask.result, CHAIN_BATCH)}`,
    });
  }
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await run({ quick: process.argv.includes("--quick") });
  console.log(`${formatTable(rows)}\n\n${machineLine(machine())}`);
}
