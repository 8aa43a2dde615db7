/**
 * surge-pricing inside a shard worker (see spec.ts for the semantics):
 *
 *   pass 1: geohash-5 of every record (column kernel)
 *   pass 2, per record: invalid → invalid output; windows covering ts all closed → late output;
 *     request  → window table (region, s) += demand 1 for each open window s covering ts
 *     location → for each open window s covering ts not yet counting the driver in that region:
 *                window table (region, s) += supply 1 (seen set of (driver, region, s))
 *                (a driver seen again in the same region and minute is skipped at once: it falls
 *                in exactly the same windows)
 *   advance: close windows (end + grace ≤ watermark) and forget their seen entries
 *
 * Window table entries: count = demand + supply, sum = demand (a request adds 1, a driver 0), so
 * the partials of all shards merge by addition.
 */
import { geohashEncodeBatch } from "../../kernels/geohash.js";
import { WindowTable } from "../../kernels/window-table.js";
import { OUT_INVALID, OUT_LATE, type OutputWriter } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { ShardProcessor } from "../processor.js";
import { KIND_REQUEST, REGION_PRECISION, type RideInputColumns } from "../rides/spec.js";
import { SeenSet } from "./seen-set.js";
import { ADVANCE_MS, GRACE_MS, LATE_ALL_WINDOWS_CLOSED, WINDOW_MS } from "./spec.js";

export class SurgePricingShard implements ShardProcessor {
  private readonly table = new WindowTable({ sizeMs: WINDOW_MS, graceMs: GRACE_MS, initialCapacity: 8192 });
  private readonly seen = new SeenSet();
  /** Per driver: region and minute (window advance) it was last counted in; NaN = never. */
  private lastRegion = new Uint32Array(1024);
  private lastMinute = new Float64Array(1024).fill(NaN);
  private regions = new Uint32Array(0);
  private regionsHi = new Uint32Array(0);

  process(columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void {
    const c = columns as unknown as RideInputColumns;
    const { driverId, ts, _wm, _reason, _kind } = c;
    if (this.regions.length < n) {
      this.regions = new Uint32Array(n);
      this.regionsHi = new Uint32Array(n);
    }
    geohashEncodeBatch(c.lat, c.lon, n, REGION_PRECISION, this.regionsHi, this.regions);
    const regions = this.regions;
    const table = this.table;
    for (let i = 0; i < n; i++) {
      if (_reason[i] !== 0) {
        this.side(OUT_INVALID, _reason[i]!, c, i, partition, out, 0);
        continue;
      }
      const t = ts[i]!;
      const minute = Math.floor(t / ADVANCE_MS) * ADVANCE_MS;
      const closeBefore = _wm[i]! - WINDOW_MS - GRACE_MS; // a window starting at or before this has closed
      if (minute <= closeBefore) {
        this.side(OUT_LATE, LATE_ALL_WINDOWS_CLOSED, c, i, partition, out, _wm[i]!);
        continue;
      }
      let first = minute - WINDOW_MS + ADVANCE_MS;
      if (first <= closeBefore) first = Math.floor(closeBefore / ADVANCE_MS) * ADVANCE_MS + ADVANCE_MS;
      const region = regions[i]!;
      if (_kind[i] === KIND_REQUEST) {
        for (let s = first; s <= minute; s += ADVANCE_MS) table.add(region, s, 1);
        continue;
      }
      const d = driverId[i]!;
      if (d >= this.lastMinute.length) this.growDrivers(d);
      if (this.lastMinute[d] === minute && this.lastRegion[d] === region) continue;
      for (let s = first; s <= minute; s += ADVANCE_MS) {
        if (this.seen.addIfAbsent(d, region, s)) table.add(region, s, 0);
      }
      this.lastMinute[d] = minute;
      this.lastRegion[d] = region;
    }
  }

  /** Side outputs carry (lat, lon, ts, speed) in a..d, the watermark in e, the record's kind in f. */
  private side(kind: number, code: number, c: RideInputColumns, i: number, partition: number, out: OutputWriter, wm: number): void {
    const req = c.requestId[i]!;
    out.side(kind, code, req !== 0 ? req : c.driverId[i]!, partition, c._off[i]!, c.lat[i]!, c.lon[i]!, c.ts[i]!, c.speedKmh[i]!, wm, c._kind[i]!);
  }

  advance(watermark: number, out: OutputWriter): void {
    if (watermark < this.table.nextCloseAt) return;
    this.table.closeUpTo(watermark, out);
    this.seen.purgeUpTo(watermark - WINDOW_MS - GRACE_MS);
  }

  stateBytes(): number {
    return this.table.bytes + this.seen.bytes + this.lastMinute.length * 12;
  }

  /** Layout: [drivers L, table entries E, seen entries S, lastRegion × L, lastMinute × L, table × 7E, seen × 3S]. */
  snapshot(into: Float64Array): number {
    const L = this.lastMinute.length;
    let at = 3 + 2 * L;
    if (at > into.length) return -1;
    for (let d = 0; d < L; d++) into[3 + d] = this.lastRegion[d]!;
    into.set(this.lastMinute, 3 + L);
    const tw = this.table.exportTo(into, at);
    if (tw < 0) return -1;
    at += tw;
    const sw = this.seen.exportTo(into, at);
    if (sw < 0) return -1;
    into[0] = L;
    into[1] = tw / 7;
    into[2] = sw / 3;
    return at + sw;
  }

  restore(from: Float64Array, _words: number): void {
    const L = from[0]!;
    this.lastRegion = new Uint32Array(L);
    for (let d = 0; d < L; d++) this.lastRegion[d] = from[3 + d]!;
    this.lastMinute = from.slice(3 + L, 3 + 2 * L);
    const at = 3 + 2 * L;
    this.table.importFrom(from, at, from[1]!);
    this.seen.importFrom(from, at + 7 * from[1]!, from[2]!);
  }

  private growDrivers(id: number): void {
    let cap = this.lastMinute.length;
    while (cap <= id) cap *= 2;
    const r = new Uint32Array(cap); r.set(this.lastRegion);
    const m = new Float64Array(cap).fill(NaN); m.set(this.lastMinute);
    this.lastRegion = r;
    this.lastMinute = m;
  }
}
