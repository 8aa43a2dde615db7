/**
 * The ride pipelines' shard halves on one thread, data in memory (the seeded ride generator, edge
 * kernel already applied), each call processing the same 64 Ki events from fresh state:
 *
 *   surge-pricing:  SurgePricingShard (geohash-5 column kernel, window table, seen set)
 *                   vs naive: an object per event, ngeohash, Map of windows with a Set of drivers
 *   driver-eta:     DriverEtaShard (open requests sorted by latitude, typed-array state)
 *                   vs naive: an object per event, ngeohash, an array of open requests scanned in full
 *
 * Outputs go to a counting writer (no ring), so these are the kernels' costs, not the pipelines'.
 */
import ngeohash from "ngeohash";
import { DriverEtaShard } from "../../src/pipelines/driver-eta/shard.js";
import { prepareRideEvents, rideInputLayout, type RideInputColumns } from "../../src/pipelines/rides/spec.js";
import { SurgePricingShard } from "../../src/pipelines/surge-pricing/shard.js";
import type { OutputWriter } from "../../src/ring/output.js";
import { bindColumns, type ColumnArray } from "../../src/schema/schema.js";
import { RideGenerator } from "../../src/sources/ride-generator.js";
import { measureBatches, type BenchRow } from "../harness.js";

const BATCH = 2048;
const BATCHES = 32;
const PARTITIONS = 8;
export const groups = ["surge-pricing shard, one thread", "driver-eta shard, one thread"] as const;

interface Prepared { cols: Record<string, ColumnArray>[]; events: Array<Record<string, unknown>>[] }

function prepare(): Prepared {
  const gen = new RideGenerator({ seed: 42, drivers: 10_000, partitions: PARTITIONS });
  const layout = rideInputLayout(BATCH);
  const st = new Float64Array(PARTITIONS).fill(-Infinity);
  const out: Prepared = { cols: [], events: [] };
  for (let b = 0; b < BATCHES; b++) {
    const p = b % PARTITIONS;
    const cols = bindColumns(new ArrayBuffer(layout.bytesPerSlot), 0, layout);
    const c = cols as unknown as RideInputColumns;
    gen.fill(p, { driver: c.driverId, request: c.requestId, lat: c.lat, lon: c.lon, ts: c.ts, speed: c.speedKmh }, 0, BATCH);
    let other = Infinity;
    for (let q = 0; q < PARTITIONS; q++) if (q !== p && st[q]! < other) other = st[q]!;
    st[p] = prepareRideEvents(c, BATCH, st[p]!, other);
    out.cols.push(cols);
    const evs: Array<Record<string, unknown>> = [];
    for (let i = 0; i < BATCH; i++) {
      evs.push({ driverId: c.driverId[i], requestId: c.requestId[i], lat: c.lat[i], lon: c.lon[i], ts: c.ts[i], speedKmh: c.speedKmh[i], wm: c._wm[i], ok: c._reason[i] === 0 });
    }
    out.events.push(evs);
  }
  return out;
}

let sink = 0;
const counter = {
  side: () => { sink++; },
  window: () => { sink++; },
} as unknown as OutputWriter;

function naiveSurge(events: Array<Record<string, unknown>>[]): void {
  const windows = new Map<string, { requests: number; drivers: Set<number> }>();
  for (const batch of events) {
    for (const raw of batch) {
      const e = { ...raw }; // the object a naive pipeline gets per event
      if (!e["ok"]) { sink++; continue; }
      const ts = e["ts"] as number;
      const minute = Math.floor(ts / 60_000) * 60_000;
      const key = ngeohash.encode(e["lat"] as number, e["lon"] as number, 5);
      for (let s = minute - 540_000; s <= minute; s += 60_000) {
        const k = `${key}|${s}`;
        let w = windows.get(k);
        if (!w) windows.set(k, (w = { requests: 0, drivers: new Set() }));
        if ((e["requestId"] as number) !== 0) w.requests++;
        else w.drivers.add(e["driverId"] as number);
      }
    }
  }
  sink += windows.size;
}

function naiveEta(events: Array<Record<string, unknown>>[]): void {
  const open: Array<{ id: number; lat: number; lon: number; ts: number }> = [];
  const held = new Set<number>();
  const rad = Math.PI / 180;
  for (const batch of events) {
    for (const raw of batch) {
      const e = { ...raw };
      if (!e["ok"]) { sink++; continue; }
      const lat = e["lat"] as number, lon = e["lon"] as number, ts = e["ts"] as number;
      if ((e["requestId"] as number) !== 0) { open.push({ id: e["requestId"] as number, lat, lon, ts }); continue; }
      ngeohash.encode(lat, lon, 5);
      let best = -1, bestEta = Infinity;
      for (let k = 0; k < open.length; k++) {
        const r = open[k]!;
        if (r.ts + 600_000 <= (e["wm"] as number)) continue;
        const a = Math.sin(((r.lat - lat) * rad) / 2) ** 2 + Math.cos(lat * rad) * Math.cos(r.lat * rad) * Math.sin(((r.lon - lon) * rad) / 2) ** 2;
        const d = 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(a)));
        if (d > 5) continue;
        const eta = (d / 30) * 60;
        sink++;
        if (eta <= 5 && eta < bestEta) { best = k; bestEta = eta; }
      }
      const id = e["driverId"] as number;
      if (best >= 0 && !held.has(id)) { held.add(id); open.splice(best, 1); }
    }
  }
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const data = prepare();
  const events = BATCH * BATCHES;
  const surge = await measureBatches(groups[0], [
    { name: "naive: object per event, ngeohash, Map + Set", baseline: true, fn: () => naiveSurge(data.events) },
    {
      name: "riptide SurgePricingShard", baseline: false,
      fn: () => {
        const s = new SurgePricingShard();
        data.cols.forEach((c, b) => { s.process(c, BATCH, b % PARTITIONS, counter); s.advance((c["_wm"] as Float64Array)[BATCH - 1]!, counter); });
      },
    },
  ], events, opts.quick);
  const eta = await measureBatches(groups[1], [
    { name: "naive: object per event, full scan of open requests", baseline: true, fn: () => naiveEta(data.events) },
    {
      name: "riptide DriverEtaShard", baseline: false,
      fn: () => {
        const s = new DriverEtaShard();
        data.cols.forEach((c, b) => { s.process(c, BATCH, b % PARTITIONS, counter); s.advance((c["_wm"] as Float64Array)[BATCH - 1]!, counter); });
      },
    },
  ], events, opts.quick);
  if (sink < 0) throw new Error("unreachable");
  return [...surge, ...eta];
}
