/**
 * The driver-tracking kernel chain as it runs inside a shard worker, one pass per batch:
 *
 *   for each record (already validated, watermark attached, at the edge):
 *     invalid?  → invalid output
 *     anomaly?  → faster than 250 km/h since the driver's last aggregated fix → anomaly output
 *     late?     → its 60 s window closed (end + grace ≤ watermark) → late output
 *     else      → window table (geohash-5 region, window start) += 1, speed
 *                 the fix becomes the driver's `last` when it is newer
 *   after the batch: close windows up to the batch watermark
 *
 * Per-driver state lives in typed arrays indexed by the driver's interned id.
 */
import { geohashEncodeInt } from "../../kernels/geohash.js";
import { haversineKm, speedExceedsKmh } from "../../kernels/geo.js";
import { WindowTable } from "../../kernels/window-table.js";
import { OUT_ANOMALY, OUT_INVALID, OUT_LATE, type OutputWriter } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { ShardProcessor } from "../processor.js";
import {
  ANOMALY_SPEED, GRACE_MS, LATE_WINDOW_CLOSED, MAX_SPEED_KMH, REGION_PRECISION, SPEED_SCALE, WINDOW_MS,
  type DriverInputColumns,
} from "./spec.js";

export class DriverTrackingShard implements ShardProcessor {
  private lastLat = new Float64Array(1024);
  private lastLon = new Float64Array(1024);
  /** NaN = no aggregated fix yet. */
  private lastTs = new Float64Array(1024).fill(NaN);
  private readonly table = new WindowTable({ sizeMs: WINDOW_MS, graceMs: GRACE_MS, initialCapacity: 4096 });

  process(columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void {
    const { driverId, lat, lon, ts, speedKmh, _off, _wm, _reason } = columns as unknown as DriverInputColumns;
    const table = this.table;
    for (let i = 0; i < n; i++) {
      const d = driverId[i]!;
      const la = lat[i]!;
      const lo = lon[i]!;
      const t = ts[i]!;
      const sp = speedKmh[i]!;
      const reason = _reason[i]!;
      if (reason !== 0) {
        out.side(OUT_INVALID, reason, d, partition, _off[i]!, la, lo, t, sp, 0, 0);
        continue;
      }
      if (d >= this.lastTs.length) this.growDrivers(d);
      const lastTs = this.lastTs;
      const lt = lastTs[d]!;
      if (t > lt && speedExceedsKmh(this.lastLat[d]!, this.lastLon[d]!, lt, la, lo, t, MAX_SPEED_KMH)) {
        const kmh = haversineKm(this.lastLat[d]!, this.lastLon[d]!, la, lo) / ((t - lt) / 3_600_000);
        out.side(OUT_ANOMALY, ANOMALY_SPEED, d, partition, _off[i]!, la, lo, t, sp, kmh, lt);
        continue;
      }
      const start = Math.floor(t / WINDOW_MS) * WINDOW_MS;
      const wm = _wm[i]!;
      if (start + WINDOW_MS + GRACE_MS <= wm) {
        out.side(OUT_LATE, LATE_WINDOW_CLOSED, d, partition, _off[i]!, la, lo, t, sp, wm, start);
        continue;
      }
      table.add(geohashEncodeInt(la, lo, REGION_PRECISION), start, sp - sp === 0 ? Math.round(sp * SPEED_SCALE) : NaN);
      if (!(lt >= t)) {
        lastTs[d] = t;
        this.lastLat[d] = la;
        this.lastLon[d] = lo;
      }
    }
  }

  advance(watermark: number, out: OutputWriter): void {
    this.table.closeUpTo(watermark, out);
  }

  stateBytes(): number {
    return this.table.bytes + this.lastTs.length * 24;
  }

  private growDrivers(id: number): void {
    let cap = this.lastTs.length;
    while (cap <= id) cap *= 2;
    const lat = new Float64Array(cap); lat.set(this.lastLat);
    const lon = new Float64Array(cap); lon.set(this.lastLon);
    const ts = new Float64Array(cap).fill(NaN); ts.set(this.lastTs);
    this.lastLat = lat; this.lastLon = lon; this.lastTs = ts;
  }
}
