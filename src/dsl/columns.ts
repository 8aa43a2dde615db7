/**
 * Built-in record functions that the worker engine recognises and runs as column passes over a
 * whole ring batch (batch-plan.ts) instead of calling them once per record. Each is also a plain
 * function of (key, value), so a topology that uses them runs unchanged in the TopologyTestDriver
 * and on the record-at-a-time path, with the same results:
 *
 *   .filter(Fields.validLatLon("lat", "lon"))               driver-tracking's validity rules
 *   .groupBy(Fields.geohashCode("lat", "lon", 5))            geohash-5 region as an integer key
 *
 * A user function does the same on the engine (it is called with a row object per record); these
 * skip the call and the row.
 */
import { geohashBits, geohashEncodeInt } from "../kernels/geohash.js";
import { FIX_REASONS, fixReason } from "../kernels/validate.js";
import { haversineKm, speedExceedsKmh } from "../kernels/geo.js";
import { numberText } from "./flagged-json.js";

/** What a built-in is, read by the batch compiler. */
export type ColumnFnSpec =
  | { kind: "validLatLon"; lat: string; lon: string }
  | { kind: "geohashCode"; lat: string; lon: string; precision: number }
  | { kind: "checkLatLon"; lat: string; lon: string }
  | { kind: "speedLimit"; maxKmh: number; sizeMs: number; graceMs: number; lat: string; lon: string; ts: string };

const SPEC = Symbol.for("riptide.columnFn");

/** The spec of a built-in made by `Fields`, or undefined for any other function. */
export function columnFnSpec(fn: unknown): ColumnFnSpec | undefined {
  return typeof fn === "function" ? ((fn as unknown as Record<symbol, ColumnFnSpec | undefined>)[SPEC]) : undefined;
}

function tag<F extends (...args: any[]) => unknown>(fn: F, spec: ColumnFnSpec): F {
  Object.defineProperty(fn, SPEC, { value: Object.freeze(spec), enumerable: false });
  return fn;
}

/**
 * True when (lat, lon) is a valid fix by DESIGN.md's rules (kernels/validate.ts): both finite,
 * lat within [-90, 90], lon within [-180, 180], not both 0.
 */
export function validLatLon(lat: number, lon: number): boolean {
  return lat - lat === 0 && lon - lon === 0 && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && !(lat === 0 && lon === 0);
}

/** The reason Fields.speedLimit gives (driver-tracking's anomaly reason). */
export function speedReason(lat1: number, lon1: number, ts1: number, lat2: number, lon2: number, ts2: number, maxKmh: number): string {
  const kmh = haversineKm(lat1, lon1, lat2, lon2) / ((ts2 - ts1) / 3_600_000);
  return `${kmh.toFixed(1)} km/h since the driver's last fix at ${numberText(ts1)} exceeds ${maxKmh} km/h`;
}

export const Fields = {
  /** Predicate: the record's (lat, lon) fields are a valid fix (see validLatLon). */
  validLatLon(lat = "lat", lon = "lon"): (key: unknown, value: any) => boolean {
    return tag((_k: unknown, v: any) => validLatLon(v[lat], v[lon]), { kind: "validLatLon", lat, lon });
  },
  /**
   * processValues processor: flags a record whose (lat, lon) fields are not a valid fix (see
   * validLatLon) with driver-tracking's reason text ("lat must be within [-90, 90]", …); valid
   * records flow on. `stream.processValues(undefined, Fields.checkLatLon(), { flagged: "invalid" })`.
   */
  checkLatLon(lat = "lat", lon = "lon"): (value: any) => string | undefined {
    return tag((v: any) => {
      const r = fixReason(1, v[lat], v[lon], 0);
      return r === 0 ? undefined : FIX_REASONS[r];
    }, { kind: "checkLatLon", lat, lon });
  },
  /**
   * processValues processor with a per-key store of fields `lat`, `lon`, `ts` (the key's last kept
   * fix): flags a record faster than maxKmh since that fix (haversine; ts in ms) with
   * driver-tracking's reason text; otherwise the record flows on and becomes the last fix when it is
   * newer and its window of `windows` (tumbling TimeWindows: the aggregation after it) is still
   * open, i.e. when the aggregation will count it. The hand-written job's anomaly check:
   *
   *   .processValues(Stores.perKey("last-fix", { lat: "f64", lon: "f64", ts: "f64" }),
   *                  Fields.speedLimit(250, windows), { flagged: "anomalies" })
   *   … .windowedBy(windows) …
   *
   * The batch plan runs it on the store's arrays (no row, no call); elsewhere it is this function.
   */
  speedLimit(maxKmh: number, windows: { sizeMs: number; advanceMs: number; graceMs: number }, lat = "lat", lon = "lon", ts = "ts"):
    (value: any, last: { lat: number; lon: number; ts: number }, ctx: { watermark: number }) => string | undefined {
    if (!(maxKmh > 0)) throw new RangeError(`speedLimit needs a speed > 0 km/h, got ${maxKmh}`);
    const { sizeMs, advanceMs, graceMs } = windows ?? ({} as never);
    if (typeof sizeMs !== "number" || advanceMs !== sizeMs || typeof graceMs !== "number") {
      throw new RangeError("speedLimit needs the tumbling TimeWindows of the aggregation after it (e.g. TimeWindows.ofSizeAndGrace(60_000, 10_000))");
    }
    return tag((v: any, last: { lat: number; lon: number; ts: number }, ctx: { watermark: number }) => {
      const t: number = v[ts];
      const lt = last.ts; // NaN: no fix yet
      if (t > lt && speedExceedsKmh(last.lat, last.lon, lt, v[lat], v[lon], t, maxKmh)) return speedReason(last.lat, last.lon, lt, v[lat], v[lon], t, maxKmh);
      // Late (its window closed): not aggregated, so not the last fix.
      if (Math.floor(t / sizeMs) * sizeMs + sizeMs + graceMs <= ctx.watermark) return undefined;
      if (!(lt >= t)) {
        last.ts = t;
        last.lat = v[lat];
        last.lon = v[lon];
      }
      return undefined;
    }, { kind: "speedLimit", maxKmh, sizeMs, graceMs, lat, lon, ts });
  },
  /** Key function: Geo.geohashCode of the record's (lat, lon) fields, precision 1..6. @default precision 5 */
  geohashCode(lat = "lat", lon = "lon", precision = 5): (key: unknown, value: any) => number {
    if (!Number.isInteger(precision) || precision < 1 || precision > 6) throw new RangeError(`geohashCode precision must be an integer in 1..6, got ${precision}`);
    geohashBits(precision);
    return tag((_k: unknown, v: any) => geohashEncodeInt(v[lat], v[lon], precision), { kind: "geohashCode", lat, lon, precision });
  },
};
