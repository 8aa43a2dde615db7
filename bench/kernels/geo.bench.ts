// Distance, ETA and speed-check kernels against plain JavaScript. Each task call processes a whole
// pre-generated batch of pairs, so eventsPerSec = BATCH / mean seconds per call.
//
//   npm run build && node dist/bench/kernels/geo.bench.js [--quick]

import { pathToFileURL } from "node:url";
import {
  formatTable,
  machine,
  machineLine,
  measureBatches,
  mulberry32,
  type BatchCase,
  type BenchRow,
} from "../harness.js";
import { EARTH_RADIUS_KM, etaBatch, etaFromPoint, haversineKm, speedExceedsKmh } from "../../src/kernels/geo.js";

/** The groups this module reports (the suite runner's --only filter reads it). */
export const groups = ["haversine + ETA", "speed check"] as const;

const BATCH = 65_536;
const SPEED_LIMIT_KMH = 250;

interface LatLon {
  lat: number;
  lon: number;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const next = mulberry32(0x9e0);
  const uniform = (): number => next() / 4294967296;

  // ETA: drivers and ride requests scattered over a 50 km city.
  const dLat = new Float64Array(BATCH);
  const dLon = new Float64Array(BATCH);
  const rLat = new Float64Array(BATCH);
  const rLon = new Float64Array(BATCH);
  const traffic = new Float64Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    dLat[i] = 40.5 + uniform() * 0.45;
    dLon[i] = -74.2 + uniform() * 0.6;
    rLat[i] = 40.5 + uniform() * 0.45;
    rLon[i] = -74.2 + uniform() * 0.6;
    traffic[i] = 1 + uniform() * 1.5;
  }
  const drivers: LatLon[] = Array.from({ length: BATCH }, (_, i) => ({ lat: dLat[i]!, lon: dLon[i]! }));
  const requests: LatLon[] = Array.from({ length: BATCH }, (_, i) => ({ lat: rLat[i]!, lon: rLon[i]! }));
  const trafficList: number[] = Array.from(traffic);
  const etaObjects: number[] = new Array<number>(BATCH).fill(0);
  const etaOut = new Float64Array(BATCH);

  // Speed check: consecutive fixes of drivers, 1–30 s apart, at 0–300 km/h (about 1 in 6 above
  // the 250 km/h limit), anywhere between 55°S and 65°N.
  const lat1 = new Float64Array(BATCH);
  const lon1 = new Float64Array(BATCH);
  const ts1 = new Float64Array(BATCH);
  const lat2 = new Float64Array(BATCH);
  const lon2 = new Float64Array(BATCH);
  const ts2 = new Float64Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    lat1[i] = uniform() * 120 - 55;
    lon1[i] = uniform() * 360 - 180;
    ts1[i] = 1_700_000_000_000 + i * 1000;
    const dtMs = 1000 + Math.floor(uniform() * 29_000);
    ts2[i] = ts1[i]! + dtMs;
    const km = (uniform() * 300 * dtMs) / 3_600_000;
    const bearing = uniform() * 2 * Math.PI;
    const rad = km / EARTH_RADIUS_KM;
    lat2[i] = lat1[i]! + (rad * Math.cos(bearing) * 180) / Math.PI;
    lon2[i] = lon1[i]! + (rad * Math.sin(bearing) * 180) / Math.PI / Math.cos((lat1[i]! * Math.PI) / 180);
  }
  const flags = new Uint8Array(BATCH);
  const exactFlags = new Uint8Array(BATCH);

  const speedExact = (): void => {
    for (let i = 0; i < BATCH; i++) {
      exactFlags[i] =
        haversineKm(lat1[i]!, lon1[i]!, lat2[i]!, lon2[i]!) / ((ts2[i]! - ts1[i]!) / 3_600_000) > SPEED_LIMIT_KMH ? 1 : 0;
    }
  };
  const speedBounded = (): void => {
    for (let i = 0; i < BATCH; i++) {
      flags[i] = speedExceedsKmh(lat1[i]!, lon1[i]!, ts1[i]!, lat2[i]!, lon2[i]!, ts2[i]!, SPEED_LIMIT_KMH) ? 1 : 0;
    }
  };
  // The rows must compute the same thing: check once before timing.
  speedExact();
  speedBounded();
  let exceeding = 0;
  for (let i = 0; i < BATCH; i++) {
    if (flags[i] !== exactFlags[i]) throw new Error(`geo bench: speedExceedsKmh != exact at ${i}`);
    exceeding += flags[i]!;
  }
  etaBatch(dLat, dLon, rLat, rLon, traffic, BATCH, etaOut);
  etaWithObjects(drivers, requests, trafficList, etaObjects);
  for (let i = 0; i < BATCH; i++) {
    if (Math.abs(etaOut[i]! - etaObjects[i]!) > 1e-9 * etaOut[i]!) throw new Error(`geo bench: etaBatch != objects at ${i}`);
  }

  const eta: BatchCase[] = [
    {
      name: "objects {lat,lon} + Math.* haversine + ETA",
      baseline: true,
      note: "one driver-request pair per event",
      fn: () => etaWithObjects(drivers, requests, trafficList, etaObjects),
    },
    {
      name: "etaBatch",
      baseline: false,
      note: "typed arrays, same pairs",
      fn: () => etaBatch(dLat, dLon, rLat, rLon, traffic, BATCH, etaOut),
    },
    {
      name: "etaFromPoint, maxKm 5",
      baseline: false,
      note: "one driver to all requests; events = requests",
      fn: () => etaFromPoint(40.7, -73.9, rLat, rLon, traffic, BATCH, 5, etaOut),
    },
  ];
  const speed: BatchCase[] = [
    {
      name: "exact haversine / hours > limit",
      baseline: true,
      note: `${((100 * exceeding) / BATCH).toFixed(0)}% of pairs exceed ${SPEED_LIMIT_KMH} km/h`,
      fn: speedExact,
    },
    {
      name: "speedExceedsKmh",
      baseline: false,
      note: "polynomial bound first, haversine only when undecided",
      fn: speedBounded,
    },
  ];
  return [...(await measureBatches(groups[0], eta, BATCH, opts.quick)), ...(await measureBatches(groups[1], speed, BATCH, opts.quick))];
}

/** The plain-JavaScript way: an object per point, the textbook formula, results in an array. */
function etaWithObjects(drivers: LatLon[], requests: LatLon[], traffic: number[], out: number[]): void {
  for (let i = 0; i < drivers.length; i++) {
    const d = drivers[i]!;
    const r = requests[i]!;
    const toRad = Math.PI / 180;
    const dLat = (r.lat - d.lat) * toRad;
    const dLon = (r.lon - d.lon) * toRad;
    const a =
      Math.sin(dLat / 2) ** 2 + Math.cos(d.lat * toRad) * Math.cos(r.lat * toRad) * Math.sin(dLon / 2) ** 2;
    const km = 2 * 6371.0088 * Math.asin(Math.sqrt(a));
    const adjustedSpeed = 30 / traffic[i]!;
    out[i] = (km / adjustedSpeed) * 60;
  }
}


if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await run({ quick: process.argv.includes("--quick") });
  console.log(`${formatTable(rows)}\n\n${machineLine(machine())}`);
}
