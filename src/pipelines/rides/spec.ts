/**
 * Ride events: the union of two streams, driver locations and ride requests (seed §3, §5), as one
 * record layout so that both travel through the same rings in arrival order.
 *
 *   driver-locations  {driverId, lat, lon, ts, speedKmh?}                 → kind LOCATION
 *   ride-requests     {requestId, riderId?, lat, lon, ts, regionId?}       → kind REQUEST
 *
 * A record with a `requestId` is a request (its pickup point in lat/lon), any other a location.
 * Regions are geohash-5 cells of the position, for drivers and requests alike (a request's
 * `regionId`, which the generator writes as that same geohash, is informational and not read).
 */
import { fixReason } from "../../kernels/validate.js";
import { compileLayout, defineSchema, type RecordLayout } from "../../schema/schema.js";

export const RIDE_EVENT = defineSchema("ride-event", {
  driverId: "string",
  requestId: "string",
  lat: "f64",
  lon: "f64",
  ts: "f64",
  speedKmh: "f64",
}, { transient: ["requestId"], transientInState: true }); // a new id per request: kept while its outputs or an open request need it

export const KIND_LOCATION = 1;
export const KIND_REQUEST = 2;
export const REGION_PRECISION = 5;

export const RIDE_SYSTEM_FIELDS = [
  { name: "_off", type: "f64" },
  { name: "_wm", type: "f64" },
  { name: "_reason", type: "u8" },
  { name: "_kind", type: "u8" },
] as const;

export function rideInputLayout(capacity: number): RecordLayout {
  return compileLayout([...RIDE_EVENT.fields, ...RIDE_SYSTEM_FIELDS], capacity);
}

export interface RideInputColumns {
  driverId: Uint32Array;
  requestId: Uint32Array;
  lat: Float64Array;
  lon: Float64Array;
  ts: Float64Array;
  speedKmh: Float64Array;
  _off: Float64Array;
  _wm: Float64Array;
  _reason: Uint8Array;
  _kind: Uint8Array;
}

/** Reason text per code (the FIX_* codes of kernels/validate, the id named for both kinds). */
export const RIDE_REASONS: readonly string[] = [
  "",
  "driverId (or requestId) must be a non-empty string",
  "lat must be a finite number",
  "lon must be a finite number",
  "ts must be a finite number",
  "lat must be within [-90, 90]",
  "lon must be within [-180, 180]",
  "lat and lon are both 0",
];

/**
 * Edge kernel: kind, reason code and watermark of `n` ride events (see validateFixes: stream time
 * advances over valid records of both kinds). Returns the partition's new stream time.
 */
export function prepareRideEvents(c: RideInputColumns, n: number, streamTime: number, otherMin: number): number {
  const { driverId, requestId, lat, lon, ts, _reason, _wm, _kind } = c;
  let st = +streamTime; // a number to the optimizer (kernels/validate.ts)
  const other = +otherMin;
  for (let i = 0; i < n; i++) {
    const req = requestId[i]!;
    const t = ts[i]!;
    _kind[i] = req !== 0 ? KIND_REQUEST : KIND_LOCATION;
    const r = fixReason(req !== 0 ? req : driverId[i]!, lat[i]!, lon[i]!, t);
    _reason[i] = r;
    if (r === 0 && t > st) st = t;
    _wm[i] = st < other ? st : other;
  }
  return st;
}

/** The event a side output refers to, rebuilt from its fields (key = id, a..d = lat, lon, ts, speed, f = kind). */
export function rideEventFromFields(kind: number, id: string, lat: number, lon: number, ts: number, speed: number): Record<string, unknown> {
  const v = (x: number): number | null => (Number.isNaN(x) ? null : x);
  if (kind === KIND_REQUEST) return { requestId: id, lat: v(lat), lon: v(lon), ts: v(ts) };
  const e: Record<string, unknown> = { driverId: id, lat: v(lat), lon: v(lon), ts: v(ts) };
  if (!Number.isNaN(speed)) e["speedKmh"] = speed;
  return e;
}
