/**
 * The driver-tracking kernel chain as it runs inside a shard worker, two passes per batch:
 *
 *   pass 1: geohash-5 of every record (a column kernel)
 *   pass 2, for each record (already validated, watermark attached, at the edge):
 *     invalid?  → invalid output
 *     anomaly?  → faster than 250 km/h since the driver's last aggregated fix → anomaly output
 *     late?     → its 60 s window closed (end + grace ≤ watermark) → late output
 *     else      → window table (geohash-5 region, window start) += 1, speed
 *                 the fix becomes the driver's `last` when it is newer
 *   after the batch: close windows up to the batch watermark
 *   with `positions` (config, for the Redis GEO index): after the batch, one POSITION output per
 *   driver whose `last` moved in it — its latest position, coalesced per batch
 *
 * Per-driver state lives in typed arrays indexed by the driver's interned id.
 *
 * With the native kernels loaded (src/kernels/native.ts; per worker thread, on the first shard
 * built there) both passes run as one native call per batch (`driverTrackingBatch`), in place on
 * the same arrays (`positions` included), with bit-exact results; the JS loop below is the
 * reference and the fallback. Config `kernels: "js"` forces the JS loop.
 */
import { geohashEncodeBatch } from "../../kernels/geohash.js";
import { haversineKm, PRECHECK_FOUR_R2 as FOUR_R2, PRECHECK_RAD as RAD, PRECHECK_SAFETY as SAFETY, speedExceedsKmh } from "../../kernels/geo.js";
import {
  IO_BATCH_NO, IO_FROM, IO_GRACE_MS, IO_MAX_SPEED_KMH, IO_MIN_START, IO_MOVED, IO_N, IO_NEXT, IO_OUT_MIN_START,
  IO_OUT_SIZE, IO_POSITIONS, IO_PRECISION, IO_SIDES, IO_SIZE, IO_SIZE_MS, IO_SPEED_SCALE, IO_STATUS, IO_WORDS,
  SIDE_ANOMALY, SIDE_INVALID, STATUS_DONE,
  STATUS_NEED_GROW, requireNativeKernels, type NativeKernels,
} from "../../kernels/native.js";
import { WindowTable } from "../../kernels/window-table.js";
import { OUT_ANOMALY, OUT_INVALID, OUT_LATE, OUT_POSITION, type OutputWriter } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { ProcessorConfig, ShardProcessor } from "../processor.js";
import {
  ANOMALY_SPEED, GRACE_MS, LATE_WINDOW_CLOSED, MAX_SPEED_KMH, REGION_PRECISION, SPEED_SCALE, WINDOW_MS,
  type DriverInputColumns,
} from "./spec.js";

const KM_PER_MS = MAX_SPEED_KMH / 3_600_000;

export class DriverTrackingShard implements ShardProcessor {
  private lastLat = new Float64Array(1024);
  private lastLon = new Float64Array(1024);
  /** NaN = no aggregated fix yet. */
  private lastTs = new Float64Array(1024).fill(NaN);
  /** Scratch: region code of each record of the batch (pass 1). */
  private regions = new Uint32Array(0);
  private regionsHi = new Uint32Array(0);
  private readonly table = new WindowTable({ sizeMs: WINDOW_MS, graceMs: GRACE_MS, initialCapacity: 4096 });
  /** Emit each batch's latest position per driver (config `positions`). */
  private readonly positions: boolean;
  /** Region (geohash-5 int) of each driver's `last`; with `positions` only. */
  private lastRegion = new Uint32Array(1024);
  /** Batch number in which a driver was last put on `moved` (dedupes the per-batch list). */
  private movedIn = new Float64Array(1024).fill(-1);
  /** Drivers whose `last` moved in the current batch. */
  private moved = new Uint32Array(0);
  private batchNo = 0;
  /** The native kernels, or undefined: the JS loop. */
  private readonly native: NativeKernels | undefined;
  /** Native path scratch: side outputs of a batch (4 words each), the kernel's io words. */
  private sides = new Float64Array(0);
  private readonly io = new Float64Array(IO_WORDS);

  constructor(config: ProcessorConfig = {}) {
    this.positions = config["positions"] === true;
    this.native = config["kernels"] === "js" ? undefined : requireNativeKernels();
    const io = this.io;
    io[IO_SIZE_MS] = WINDOW_MS;
    io[IO_GRACE_MS] = GRACE_MS;
    io[IO_MAX_SPEED_KMH] = MAX_SPEED_KMH;
    io[IO_SPEED_SCALE] = SPEED_SCALE;
    io[IO_PRECISION] = REGION_PRECISION;
    io[IO_POSITIONS] = this.positions ? 1 : 0;
  }

  /** Whether batches run through the native kernels. */
  get usesNative(): boolean {
    return this.native !== undefined;
  }

  process(columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void {
    if (this.native !== undefined) {
      this.processNative(this.native, columns as unknown as DriverInputColumns, n, partition, out);
      return;
    }
    const c = columns as unknown as DriverInputColumns;
    const { driverId, lat, lon, ts, speedKmh, _wm, _reason } = c;
    if (this.regions.length < n) {
      this.regions = new Uint32Array(n);
      this.regionsHi = new Uint32Array(n);
      this.moved = new Uint32Array(n);
    }
    // Pass 1, column at a time: every record's region (invalid ones too; their code is unused).
    geohashEncodeBatch(lat, lon, n, REGION_PRECISION, this.regionsHi, this.regions);
    const regions = this.regions;
    const table = this.table;
    let winStart = NaN;
    const positions = this.positions;
    let moved = 0;
    const batchNo = ++this.batchNo;
    // Pass 2, record at a time (per-driver state is sequential). Rare outcomes leave through
    // small methods so this loop stays small enough for V8 to inline the kernels it calls.
    for (let i = 0; i < n; i++) {
      if (_reason[i] !== 0) {
        this.side(OUT_INVALID, _reason[i]!, c, i, partition, out, 0, 0);
        continue;
      }
      const d = driverId[i]!;
      if (d >= this.lastTs.length) this.growDrivers(d);
      const la = lat[i]!;
      const lo = lon[i]!;
      const t = ts[i]!;
      const lt = this.lastTs[d]!;
      if (t > lt) {
        // Inline pre-check: haversine d = 2R·asin(√a) with a ≤ y² = (Δφ² + Δλ²)/4 (sin²x ≤ x²,
        // cos ≤ 1) and asin(y) ≤ y/√(1−y²), so d² ≤ 4R²y²/(1−y²). When that bound is below the
        // allowed distance (with a 1e-9 margin, far above rounding), the exact check cannot say
        // "exceeds"; otherwise the exact kernel decides. Real fixes almost always pass here.
        const dp = (la - this.lastLat[d]!) * RAD;
        const dl = (lo - this.lastLon[d]!) * RAD;
        const y2 = (dp * dp + dl * dl) * 0.25;
        const allowed = (t - lt) * KM_PER_MS;
        if (!(y2 < 0.25 && FOUR_R2 * y2 < allowed * allowed * (1 - y2) * SAFETY) &&
          speedExceedsKmh(this.lastLat[d]!, this.lastLon[d]!, lt, la, lo, t, MAX_SPEED_KMH)) {
          this.anomaly(c, i, partition, out, d, lt);
          continue;
        }
      }
      // Fixes arrive mostly in time order: reuse the last window while t is inside it, 1 ms clear
      // of its edges (there the formula's division is exact, so the result is the formula's).
      if (!(t >= winStart + 1 && t < winStart + WINDOW_MS - 1)) winStart = Math.floor(t / WINDOW_MS) * WINDOW_MS;
      const start = winStart;
      const wm = _wm[i]!;
      if (start + WINDOW_MS + GRACE_MS <= wm) {
        this.side(OUT_LATE, LATE_WINDOW_CLOSED, c, i, partition, out, wm, start);
        continue;
      }
      const sp = speedKmh[i]!;
      table.add(regions[i]!, start, sp - sp === 0 ? Math.round(sp * SPEED_SCALE) : NaN);
      if (!(lt >= t)) {
        this.lastTs[d] = t;
        this.lastLat[d] = la;
        this.lastLon[d] = lo;
        if (positions) {
          this.lastRegion[d] = regions[i]!;
          if (this.movedIn[d] !== batchNo) {
            this.movedIn[d] = batchNo;
            this.moved[moved++] = d;
          }
        }
      }
    }
    if (moved > 0) this.emitPositions(moved, partition, out);
  }

  /** One POSITION output per driver whose `last` moved in this batch: the latest position. */
  private emitPositions(moved: number, partition: number, out: OutputWriter): void {
    for (let k = 0; k < moved; k++) {
      const d = this.moved[k]!;
      out.side(OUT_POSITION, this.lastRegion[d]!, d, partition, 0, this.lastLat[d]!, this.lastLon[d]!, this.lastTs[d]!, NaN, 0, 0);
    }
  }

  /**
   * `process` as one native call per batch (more only when the per-driver arrays or the window
   * table must grow: the kernel stops before that record, JS grows exactly as the JS loop would,
   * and the kernel resumes there). Side outputs come back as a list, emitted here in record order;
   * nothing else is written to `out` during a batch, so the output is the JS loop's.
   */
  private processNative(k: NativeKernels, c: DriverInputColumns, n: number, partition: number, out: OutputWriter): void {
    if (this.sides.length < 4 * n) this.sides = new Float64Array(4 * n);
    if (this.positions && this.moved.length < n) this.moved = new Uint32Array(n);
    const sides = this.sides;
    const io = this.io;
    const table = this.table;
    io[IO_FROM] = 0;
    io[IO_N] = n;
    io[IO_BATCH_NO] = ++this.batchNo;
    io[IO_MOVED] = 0;
    for (;;) {
      const a = table.arrays;
      io[IO_SIZE] = table.size;
      io[IO_MIN_START] = table.smallestStart;
      k.driverTrackingBatch(c.driverId, c.lat, c.lon, c.ts, c.speedKmh, c._wm, c._reason, this.lastLat, this.lastLon,
        this.lastTs, a.used, a.keys, a.starts, a.count, a.sum, a.n, a.min, a.max, sides, io, this.lastRegion, this.movedIn,
        this.moved);
      table.setCounters(io[IO_OUT_SIZE]!, io[IO_OUT_MIN_START]!);
      const count = io[IO_SIDES]!;
      for (let j = 0; j < count * 4; j += 4) {
        const i = sides[j]!;
        const tag = sides[j + 1]!;
        if (tag === SIDE_INVALID) this.side(OUT_INVALID, c._reason[i]!, c, i, partition, out, 0, 0);
        else if (tag === SIDE_ANOMALY) this.side(OUT_ANOMALY, ANOMALY_SPEED, c, i, partition, out, sides[j + 2]!, sides[j + 3]!);
        else this.side(OUT_LATE, LATE_WINDOW_CLOSED, c, i, partition, out, sides[j + 2]!, sides[j + 3]!);
      }
      const status = io[IO_STATUS]!;
      if (status === STATUS_DONE) break;
      const next = io[IO_NEXT]!;
      if (status === STATUS_NEED_GROW) table.growForInsert();
      else this.growDrivers(c.driverId[next]!); // STATUS_NEED_DRIVERS
      io[IO_FROM] = next;
    }
    const moved = io[IO_MOVED]!;
    if (moved > 0) this.emitPositions(moved, partition, out);
  }

  private side(kind: number, code: number, c: DriverInputColumns, i: number, partition: number, out: OutputWriter,
    detail: number, detail2: number): void {
    out.side(kind, code, c.driverId[i]!, partition, c._off[i]!, c.lat[i]!, c.lon[i]!, c.ts[i]!, c.speedKmh[i]!, detail, detail2);
  }

  private anomaly(c: DriverInputColumns, i: number, partition: number, out: OutputWriter, d: number, lt: number): void {
    const kmh = haversineKm(this.lastLat[d]!, this.lastLon[d]!, c.lat[i]!, c.lon[i]!) / ((c.ts[i]! - lt) / 3_600_000);
    this.side(OUT_ANOMALY, ANOMALY_SPEED, c, i, partition, out, kmh, lt);
  }

  advance(watermark: number, out: OutputWriter): void {
    this.table.closeUpTo(watermark, out);
  }

  /** Layout: [drivers L, entries E, lastLat × L, lastLon × L, lastTs × L, table entries × 7E]. */
  snapshot(into: Float64Array): number {
    const L = this.lastTs.length;
    if (2 + 3 * L > into.length) return -1;
    into.set(this.lastLat, 2);
    into.set(this.lastLon, 2 + L);
    into.set(this.lastTs, 2 + 2 * L);
    const words = this.table.exportTo(into, 2 + 3 * L);
    if (words < 0) return -1;
    into[0] = L;
    into[1] = words / 7;
    return 2 + 3 * L + words;
  }

  restore(from: Float64Array, _words: number): void {
    const L = from[0]!;
    this.lastLat = from.slice(2, 2 + L);
    this.lastLon = from.slice(2 + L, 2 + 2 * L);
    this.lastTs = from.slice(2 + 2 * L, 2 + 3 * L);
    this.table.importFrom(from, 2 + 3 * L, from[1]!);
    // Per-batch scratch, not state: a driver's region is set again before it is emitted.
    if (this.lastRegion.length < L) {
      this.lastRegion = new Uint32Array(L);
      this.movedIn = new Float64Array(L).fill(-1);
    }
  }

  /** Logged last fixes (last-fix-log.ts seed words): each driver keeps the later of its own and the logged one. */
  mergeState(words: Float64Array): void {
    const L = words[0]!;
    for (let d = 1; d < L; d++) {
      const t = words[2 + 2 * L + d]!;
      if (t !== t) continue;
      if (d >= this.lastTs.length) this.growDrivers(d);
      if (this.lastTs[d]! >= t) continue;
      this.lastTs[d] = t;
      this.lastLat[d] = words[2 + d]!;
      this.lastLon[d] = words[2 + L + d]!;
    }
  }

  stateBytes(): number {
    return this.table.bytes + this.lastTs.length * 24;
  }

  stateEntries(): number {
    return this.table.size;
  }

  private growDrivers(id: number): void {
    let cap = this.lastTs.length;
    while (cap <= id) cap *= 2;
    const lat = new Float64Array(cap); lat.set(this.lastLat);
    const lon = new Float64Array(cap); lon.set(this.lastLon);
    const ts = new Float64Array(cap).fill(NaN); ts.set(this.lastTs);
    this.lastLat = lat; this.lastLon = lon; this.lastTs = ts;
    const region = new Uint32Array(cap); region.set(this.lastRegion.subarray(0, cap));
    const movedIn = new Float64Array(cap).fill(-1); movedIn.set(this.movedIn.subarray(0, cap));
    this.lastRegion = region; this.movedIn = movedIn;
  }
}
