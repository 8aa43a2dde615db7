/**
 * driver-tracking (seed §3, Uber location tracking): the fixed semantics of DESIGN.md.
 *
 *   validate → stream time → anomaly (> 250 km/h since the driver's last aggregated fix)
 *            → late check (60 s tumbling windows, 10 s grace) → count + mean speed per geohash-5
 *            region → emit at window close
 *
 * This module holds what both threads share: the record layout, the constants, the reason codes.
 */
import { compileLayout, defineSchema, type RecordLayout } from "../../schema/schema.js";

export const PIPELINE = "driver-tracking";
export const WINDOW_MS = 60_000;
export const GRACE_MS = 10_000;
export const MAX_SPEED_KMH = 250;
export const REGION_PRECISION = 5;
/** Speeds are summed in micro-km/h integers so that sums are exact in any order (1 or N workers). */
export const SPEED_SCALE = 1e6;

/** The event as devices send it (JSON field names). */
export const DRIVER_LOCATION = defineSchema("driver-location", {
  driverId: "string",
  lat: "f64",
  lon: "f64",
  ts: "f64",
  speedKmh: "f64",
});

/** Columns every input record carries besides its fields: source offset, watermark, reason code. */
export const SYSTEM_FIELDS = [
  { name: "_off", type: "f64" },
  { name: "_wm", type: "f64" },
  { name: "_reason", type: "u8" },
] as const;

export function inputLayout(capacity: number): RecordLayout {
  return compileLayout([...DRIVER_LOCATION.fields, ...SYSTEM_FIELDS], capacity);
}

/** Typed view of one input slot. */
export interface DriverInputColumns {
  driverId: Uint32Array;
  lat: Float64Array;
  lon: Float64Array;
  ts: Float64Array;
  speedKmh: Float64Array;
  _off: Float64Array;
  _wm: Float64Array;
  _reason: Uint8Array;
}

/** Reason codes of the anomaly and late outputs (the invalid codes are FIX_* in kernels/validate). */
export const ANOMALY_SPEED = 1;
export const LATE_WINDOW_CLOSED = 1;
