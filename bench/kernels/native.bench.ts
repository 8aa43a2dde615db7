// The native kernels (native-bindings/, src/kernels/native.ts) against the JS kernels they must
// equal bit for bit. Each task call processes a whole pre-generated batch in SharedArrayBuffer-
// backed arrays (as the workers hold them), so eventsPerSec = BATCH / mean seconds per call. Per
// group: the JS kernel (baseline), the native kernel when the addon is built, and a memory-
// bandwidth bound: this machine's Float64Array.prototype.set copy rate divided by the bytes the
// kernel reads and writes per event (a kernel streaming from DRAM cannot beat it).
//
//   npm run build && node scripts/build-native.mjs && node dist/bench/kernels/native.bench.js [--quick]

import { pathToFileURL } from "node:url";
import { Bench } from "tinybench";
import {
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
import { loadNativeKernels, nativeStatus } from "../../src/kernels/native.js";

/** The groups this module reports (the suite runner's --only filter reads it). */
export const groups = ["native geohash p7", "native haversine", "native ETA"] as const;

const BATCH = 65_536;
/** Elements per array of the copy measurement: 2 × 64 MiB, well beyond any cache. */
const COPY_ELEMENTS = 8 * 1024 * 1024;

/** Bytes each kernel reads + writes per event. */
const BYTES = {
  geohash: 2 * 8 + 2 * 4, // lat, lon (f64) in; hi, lo (u32) out
  haversine: 4 * 8 + 8, // lat1, lon1, lat2, lon2 in; km out
  eta: 5 * 8 + 8, // driver lat/lon, request lat/lon, traffic in; minutes out
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

  const copyBytesPerSec = await measureCopy(opts.quick);
  const bound = (bytes: number): Omit<BenchRow, "group"> => ({
    name: "memory-bandwidth bound",
    eventsPerSec: copyBytesPerSec / bytes,
    baseline: false,
    note:
      `Float64Array.set copy of ${(COPY_ELEMENTS * 8) / 2 ** 20} MiB: ${(copyBytesPerSec / 1e9).toFixed(2)} GB/s ` +
      `(read + write) ÷ ${bytes} B/event read + written`,
  });

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
  rows.push(...(await measureBatches(groups[0], geohash, BATCH, opts.quick)), { group: groups[0], ...bound(BYTES.geohash) });
  rows.push(...(await measureBatches(groups[1], haversine, BATCH, opts.quick)), { group: groups[1], ...bound(BYTES.haversine) });
  rows.push(...(await measureBatches(groups[2], eta, BATCH, opts.quick)), { group: groups[2], ...bound(BYTES.eta) });
  return rows;
}

/** Bytes per second read + written by `dst.set(src)` on two large Float64Arrays (tinybench mean). */
async function measureCopy(quick: boolean): Promise<number> {
  const src = new Float64Array(COPY_ELEMENTS);
  const dst = new Float64Array(COPY_ELEMENTS);
  for (let i = 0; i < COPY_ELEMENTS; i++) src[i] = i; // touch every page before timing
  dst.fill(1);
  const bench = new Bench({ name: "copy", ...tinybenchOptions(quick), iterations: 8, warmupIterations: 2 });
  bench.add("Float64Array.set", () => dst.set(src), { async: false });
  await bench.run();
  return 2 * 8 * tinybenchEventsPerSec(bench.tasks[0]!.result, COPY_ELEMENTS);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await run({ quick: process.argv.includes("--quick") });
  console.log(`${formatTable(rows)}\n\n${machineLine(machine())}`);
}
