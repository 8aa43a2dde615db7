// The native kernels (native-bindings/, src/kernels/native.ts) against the JS kernels they must
// equal bit for bit. Each call processes a whole pre-generated batch in SharedArrayBuffer-backed
// arrays (as the workers hold them). Per group: the JS kernel (baseline), the native kernel when
// the addon is built, and two memory-bandwidth bounds: this machine's copy rate divided by the
// bytes the kernel reads and writes per event, cache-resident (a 2 MiB copy, measured in the same
// interleaved rounds as the kernels) and from DRAM (a 1 GiB copy, measured once; bandwidth.ts).
// Each kernel row's note says what share of the bounds it reaches.
//
// Measurement: the cases of a group run interleaved in short slices and each reports its median
// slice (interleave.ts), because this 2-core machine is shared: ratios within a group hold under
// contention even when absolute figures drift.
//
// Groups: the three stateless kernels; the window-table update (WindowTable.addBatch vs the native
// windowAddBatch on the same table layout); and driver-tracking's whole shard chain per batch
// (DriverTrackingShard's JS loop vs its one native call per batch), on generator batches validated
// by the edge kernel beforehand, as a shard worker receives them.
//
//   npm run build && node scripts/build-native.mjs && node dist/bench/kernels/native.bench.js [--quick]

import { pathToFileURL } from "node:url";
import { formatMps, formatTable, machine, machineLine, mulberry32, type BenchRow } from "../harness.js";
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
import { copyRates } from "./bandwidth.js";
import { interleaveOptions, measureInterleaved, type InterleavedCase, type InterleavedResult } from "./interleave.js";

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

  const geohash: Case[] = [
    { name: "geohashEncodeBatch (JS)", baseline: true, note: jsNote("reference kernel"), fn: () => geohashEncodeBatch(lat, lon, BATCH, 7, hi, lo) },
  ];
  const haversine: Case[] = [
    { name: "haversineBatch (JS)", baseline: true, note: jsNote("reference kernel, V8 fdlibm sin/cos/asin"), fn: () => haversineBatch(dLat, dLon, rLat, rLon, BATCH, out) },
  ];
  const eta: Case[] = [
    { name: "etaBatch (JS)", baseline: true, note: jsNote("reference kernel"), fn: () => etaBatch(dLat, dLon, rLat, rLon, traffic, BATCH, out) },
  ];
  if (native !== undefined) {
    geohash.push({ name: "geohashEncodeBatch (native)", baseline: false, note: "N-API, -O3 scalar loop", fn: () => native.geohashEncodeBatch(lat, lon, BATCH, 7, hi, lo) });
    haversine.push({ name: "haversineBatch (native)", baseline: false, note: "N-API, fdlibm port, -O3 scalar loop", fn: () => native.haversineBatch(dLat, dLon, rLat, rLon, BATCH, out) });
    eta.push({ name: "etaBatch (native)", baseline: false, note: "N-API, fdlibm port, -O3 scalar loop", fn: () => native.etaBatch(dLat, dLon, rLat, rLon, traffic, BATCH, out, 30) });
  }
  rows.push(...(await measureGroup(groups[0], geohash, BATCH, BYTES.geohash, opts.quick)));
  rows.push(...(await measureGroup(groups[1], haversine, BATCH, BYTES.haversine, opts.quick)));
  rows.push(...(await measureGroup(groups[2], eta, BATCH, BYTES.eta, opts.quick)));
  rows.push(...(await measureGroup(groups[3], windowAddCases(native !== undefined, jsNote), WINDOW_BATCH, BYTES.window, opts.quick)));
  rows.push(...(await measureGroup(groups[4], shardChainCases(native !== undefined, jsNote), CHAIN_BATCH, BYTES.chain, opts.quick)));
  return rows;
}

interface Case {
  name: string;
  baseline: boolean;
  note: string;
  fn: () => void;
  before?: () => void;
}

/** A 2 MiB footprint copy (1 MiB read, 1 MiB written): the cache-resident bound's measurement. */
const COPY_ELEMENTS = 128 * 1024;
const copySrc = new Float64Array(COPY_ELEMENTS).map((_, i) => i);
const copyDst = new Float64Array(COPY_ELEMENTS);

/**
 * Runs the cases and a cache-resident copy interleaved; returns the kernel rows (notes ending with
 * their share of the bounds) and the two bound rows.
 */
async function measureGroup(group: string, cases: readonly Case[], eventsPerCall: number,
  bytes: readonly [number, string], quick: boolean): Promise<BenchRow[]> {
  const dram = (await copyRates(quick)).dram;
  const opts = interleaveOptions(quick);
  const results = measureInterleaved([
    ...cases.map((c): InterleavedCase => ({ name: c.name, fn: c.fn, before: c.before, unitsPerCall: eventsPerCall })),
    { name: "copy", fn: () => copyDst.set(copySrc), unitsPerCall: 2 * 8 * COPY_ELEMENTS },
  ], opts);
  const copy = results[results.length - 1]!;
  const [perEvent, what] = bytes;
  const cacheBound = copy.perSec / perEvent;
  const dramBound = dram / perEvent;
  const pct = (x: number, bound: number): string => `${((100 * x) / bound).toFixed(x * 20 < bound ? 1 : 0)} %`;
  const how = (r: InterleavedResult): string =>
    `median of ${r.rounds} interleaved ${opts.sliceMs} ms slices (${formatMps(r.min)}–${formatMps(r.max)} M/s), ${r.calls} calls × ${eventsPerCall} events`;
  const gbps = (x: number): string => `${(x / 1e9).toFixed(1)} GB/s`;
  return [
    ...cases.map((c, i) => {
      const r = results[i]!;
      return {
        group, name: c.name, baseline: c.baseline, eventsPerSec: r.perSec,
        note: `${c.note}; ${how(r)}; ${pct(r.perSec, cacheBound)} of the cache bound, ${pct(r.perSec, dramBound)} of the DRAM bound`,
      };
    }),
    {
      group, name: "bandwidth bound, cache-resident", baseline: false, eventsPerSec: cacheBound,
      note: `2 MiB copy ${gbps(copy.perSec)} (read + write, median of the same rounds) ÷ ${perEvent} B/event (${what})`,
    },
    {
      group, name: "bandwidth bound, DRAM", baseline: false, eventsPerSec: dramBound,
      note: `1 GiB copy ${gbps(dram)} (read + write, measured once per run) ÷ ${perEvent} B/event`,
    },
  ];
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
function windowAddCases(hasNative: boolean, jsNote: (s: string) => string): Case[] {
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
  const cases: Case[] = [{
    name: "WindowTable.addBatch (JS)", baseline: true, fn: () => js.batch(), before: () => js.rewindIfDone(),
    note: jsNote("reference: add per record, closeUpTo per batch"),
  }];
  if (hasNative) {
    cases.push({
      name: "windowAddBatch (native)", baseline: false, fn: () => nat.batch(), before: () => nat.rewindIfDone(),
      note: "in place on the table's arrays, closeUpTo (JS) per batch",
    });
  }
  return cases;
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
function shardChainCases(hasNative: boolean, jsNote: (s: string) => string): Case[] {
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
  const cases: Case[] = [{
    name: "DriverTrackingShard, JS loop", baseline: true, fn: () => js.batch(), before: () => js.rewindIfDone(),
    note: jsNote("geohash-5 pass + anomaly, late, window add, last fix; close per batch"),
  }];
  if (hasNative) {
    cases.push({
      name: "DriverTrackingShard, one native call per batch", baseline: false, fn: () => nat.batch(), before: () => nat.rewindIfDone(),
      note: "driverTrackingBatch fused, side outputs emitted from JS, close in JS",
    });
  }
  return cases;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await run({ quick: process.argv.includes("--quick") });
  console.log(`${formatTable(rows)}\n\n${machineLine(machine())}`);
}
