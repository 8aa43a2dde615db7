// Geohash kernels against ngeohash. Each task call encodes a whole pre-generated batch, so
// eventsPerSec = BATCH / mean seconds per call.
//
//   npm run build && node dist/bench/kernels/geohash.bench.js [--quick]

import { pathToFileURL } from "node:url";
import ngeohash from "ngeohash";
import {
  formatTable,
  machine,
  machineLine,
  measureBatches,
  type BatchCase,
  type BenchRow,
} from "../harness.js";
import { geohashEncodeBatch, geohashEncodeInt } from "../../src/kernels/geohash.js";

/** The groups this module reports (the suite runner's --only filter reads it). */
export const groups = ["geohash p7", "geohash p5"] as const;

const BATCH = 65_536;

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const { lat, lon } = makePoints(BATCH, 0x5eed);
  const strings: string[] = new Array<string>(BATCH).fill("");
  const hi = new Uint32Array(BATCH);
  const lo = new Uint32Array(BATCH);

  // The rows must compute the same thing: check once before timing.
  const checkHi = new Uint32Array(BATCH);
  const checkLo = new Uint32Array(BATCH);
  bisectBatch(lat, lon, BATCH, 7, checkHi, checkLo);
  geohashEncodeBatch(lat, lon, BATCH, 7, hi, lo);
  for (let i = 0; i < BATCH; i++) {
    if (hi[i] !== checkHi[i] || lo[i] !== checkLo[i]) throw new Error(`geohash bench: batch != bisection at ${i}`);
  }

  const p7: BatchCase[] = [
    {
      name: "ngeohash.encode per point",
      baseline: true,
      note: "string per point",
      fn: () => {
        for (let i = 0; i < BATCH; i++) strings[i] = ngeohash.encode(lat[i]!, lon[i]!, 7);
      },
    },
    {
      name: "per-bit bisection into Uint32Array",
      baseline: false,
      note: "reference: ngeohash's loop on typed arrays, no strings",
      fn: () => bisectBatch(lat, lon, BATCH, 7, hi, lo),
    },
    {
      name: "geohashEncodeBatch",
      baseline: false,
      note: "quantize + exact fix-up + morton spread, hi/lo",
      fn: () => geohashEncodeBatch(lat, lon, BATCH, 7, hi, lo),
    },
  ];
  const p5: BatchCase[] = [
    {
      name: "ngeohash.encode per point",
      baseline: true,
      note: "string per point",
      fn: () => {
        for (let i = 0; i < BATCH; i++) strings[i] = ngeohash.encode(lat[i]!, lon[i]!, 5);
      },
    },
    {
      name: "geohashEncodeInt loop",
      baseline: false,
      note: "scalar call per point",
      fn: () => {
        for (let i = 0; i < BATCH; i++) lo[i] = geohashEncodeInt(lat[i]!, lon[i]!, 5);
      },
    },
    {
      name: "geohashEncodeBatch",
      baseline: false,
      fn: () => geohashEncodeBatch(lat, lon, BATCH, 5, hi, lo),
    },
  ];
  return [...(await measureBatches(groups[0], p7, BATCH, opts.quick)), ...(await measureBatches(groups[1], p5, BATCH, opts.quick))];
}

/**
 * The straightforward typed-array port of ngeohash's loop (one comparison per bit), kept here as
 * the reference point for what quantizing and spreading buy.
 */
function bisectBatch(
  lat: Float64Array,
  lon: Float64Array,
  n: number,
  precision: number,
  outHi: Uint32Array,
  outLo: Uint32Array,
): void {
  const bits = 5 * precision;
  for (let i = 0; i < n; i++) {
    const la = lat[i]!;
    const lo = lon[i]!;
    let minLat = -90;
    let maxLat = 90;
    let minLon = -180;
    let maxLon = 180;
    let hi = 0;
    let low = 0;
    for (let b = 0; b < bits; b++) {
      let bit = 0;
      if ((b & 1) === 0) {
        const mid = (minLon + maxLon) / 2;
        if (lo > mid) (bit = 1), (minLon = mid);
        else maxLon = mid;
      } else {
        const mid = (minLat + maxLat) / 2;
        if (la > mid) (bit = 1), (minLat = mid);
        else maxLat = mid;
      }
      // Bit b (from the top) lands at position bits-1-b; positions >= 30 go to hi.
      if (bits - 1 - b >= 30) hi = (hi << 1) | bit;
      else low = (low << 1) | bit;
    }
    outHi[i] = hi;
    outLo[i] = low;
  }
}

/** Seeded points spread over the inhabited latitudes (mulberry32). */
function makePoints(n: number, seed: number): { lat: Float64Array; lon: Float64Array } {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const lat = new Float64Array(n);
  const lon = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    lat[i] = next() * 120 - 55;
    lon[i] = next() * 360 - 180;
  }
  return { lat, lon };
}


if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await run({ quick: process.argv.includes("--quick") });
  console.log(`${formatTable(rows)}\n\n${machineLine(machine())}`);
}
