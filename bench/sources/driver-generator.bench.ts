// The embedded driver-location generator against the naive way (an object per event, Math.random,
// trig per step). Every task call produces BATCH events, so eventsPerSec = BATCH / mean call time.
//
//   npm run build && node dist/bench/sources/driver-generator.bench.js [--quick]

import { pathToFileURL } from "node:url";
import {
  formatTable, machine, machineLine, measureBatches, type BatchCase, type BenchRow,
} from "../harness.js";
import { DEFAULT_CITIES, DriverGenerator, type DriverColumns } from "../../src/sources/driver-generator.js";

const GROUP = "driver generator";
const BATCH = 8192;
const DRIVERS = 10_000;
const PARTITIONS = 16;

export const groups: readonly string[] = [GROUP];

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const naive = new NaiveGenerator(DRIVERS);
  let sink = 0;
  const cases: BatchCase[] = [
    {
      name: "naive: object per event, Math.random",
      baseline: true,
      note: "{driverId, lat, lon, ts, speedKmh} pushed to an array; trig per step",
      fn: () => {
        const events = naive.batch(BATCH);
        sink += events.length;
      },
    },
  ];
  for (const skew of [0, 1]) {
    const gen = new DriverGenerator({ drivers: DRIVERS, partitions: PARTITIONS, skew });
    const cols = columns(BATCH);
    let p = 0;
    cases.push({
      name: `DriverGenerator.fill, skew ${skew}`,
      baseline: false,
      note: `${BATCH}-event batches into preallocated columns, partitions round-robin, ${DRIVERS} drivers`,
      fn: () => {
        sink += gen.fill(p, cols, 0, BATCH);
        p = p + 1 === PARTITIONS ? 0 : p + 1;
      },
    });
  }

  const rows = await measureBatches(GROUP, cases, BATCH, opts.quick);
  if (sink <= 0) throw new Error("driver generator bench: nothing was generated");
  return rows;
}

function columns(n: number): DriverColumns {
  return { driver: new Uint32Array(n), lat: new Float64Array(n), lon: new Float64Array(n), ts: new Float64Array(n), speed: new Float64Array(n) };
}

interface NaiveDriver {
  id: string;
  lat: number;
  lon: number;
  heading: number;
  speedKmh: number;
  lastTs: number;
}

/** The obvious generator: driver objects, Math.random for every choice, an event object per fix. */
class NaiveGenerator {
  private readonly drivers: NaiveDriver[] = [];
  private ts = 1_700_000_000_000;

  constructor(n: number) {
    for (let i = 1; i <= n; i++) {
      const city = DEFAULT_CITIES[Math.floor(Math.random() * DEFAULT_CITIES.length)]!;
      this.drivers.push({
        id: `drv-${String(i).padStart(6, "0")}`,
        lat: city.lat + (Math.random() - 0.5) * 0.2,
        lon: city.lon + (Math.random() - 0.5) * 0.2,
        heading: Math.random() * 2 * Math.PI,
        speedKmh: 10 + Math.random() * 80,
        lastTs: this.ts,
      });
    }
  }

  batch(n: number): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const d = this.drivers[Math.floor(Math.random() * this.drivers.length)]!;
      this.ts += 0.4;
      const ts = Math.floor(this.ts);
      const km = (d.speedKmh * (ts - d.lastTs)) / 3_600_000;
      d.lat += (km * Math.cos(d.heading)) / 111.195;
      d.lon += (km * Math.sin(d.heading)) / (111.195 * Math.cos((d.lat * Math.PI) / 180));
      d.heading += (Math.random() - 0.5) * 0.7;
      d.speedKmh = Math.min(90, Math.max(10, d.speedKmh + (Math.random() - 0.5) * 6));
      d.lastTs = ts;
      const event: Record<string, unknown> = { driverId: d.id, lat: d.lat, lon: d.lon, ts };
      if (Math.random() >= 0.05) event.speedKmh = Math.round(d.speedKmh * 10) / 10;
      out.push(event);
    }
    return out;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await run({ quick: process.argv.includes("--quick") });
  console.log(machineLine(machine()));
  console.log(formatTable(rows));
}
