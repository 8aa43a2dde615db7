/**
 * driver-tracking, the whole job, written in the DSL (DESIGN.md "The main job"; the hand-written
 * job is src/pipelines/driver-tracking): a module the shard workers import.
 *
 *   validate   Fields.checkLatLon: an invalid fix goes to "driver-invalid" with the hand-written
 *              job's reason (records without a valid time or a driver are the engine's invalid output)
 *   anomaly    processValues with a per-key store of the driver's last aggregated fix
 *              (Fields.speedLimit, or the same written as a user function: speedCheck): a fix faster
 *              than 250 km/h since it goes to "driver-anomalies" with the reason
 *   windows    per geohash-5 region (Fields.geohashCode), 60 s tumbling windows with 10 s grace:
 *              count and mean speed to "driver-regions"; a fix whose window closed goes to
 *              "driver-late" with its lateness
 *
 * As in the hand-written job, a fix becomes the driver's last only when it is aggregated: not
 * flagged, its window still open (the late check the window makes, made here on the context's
 * watermark), and newer than the last. The default export reads string driver ids (as the
 * hand-written job: JSON input, the generator's ids interned) with the built-in;
 * driver-tracking-job-function-topology.ts is the same job with the user function.
 */
import { Fields, Geo, StreamsBuilder, Stores, TimeWindows, defineSchema, type KeyState, type ProcessorContext, type Schema } from "../../src/index.js";

const WINDOW_MS = 60_000;
const GRACE_MS = 10_000;
const MAX_SPEED_KMH = 250;

export const schemaStrings = defineSchema("driver-location", { driverId: "string", lat: "f64", lon: "f64", ts: "f64", speedKmh: "f64" });

interface Fix { lat: number; lon: number; ts: number; speedKmh: number }

/** The anomaly step as a user function (Fields.speedLimit(250, windows) does the same): flags a fix faster than 250 km/h since the driver's last aggregated fix; keeps that fix. */
function speedCheck(fix: Fix, last: KeyState<"lat" | "lon" | "ts">, ctx: ProcessorContext): string | undefined {
  const t = fix.ts;
  const lt = last.ts; // NaN: no fix yet
  if (t > lt && Geo.speedExceedsKmh(last.lat, last.lon, lt, fix.lat, fix.lon, t, MAX_SPEED_KMH)) {
    const kmh = Geo.haversineKm(last.lat, last.lon, fix.lat, fix.lon) / ((t - lt) / 3_600_000);
    return `${kmh.toFixed(1)} km/h since the driver's last fix at ${lt} exceeds ${MAX_SPEED_KMH} km/h`;
  }
  // Late (its window closed): not aggregated, so not the driver's last.
  if (Math.floor(t / WINDOW_MS) * WINDOW_MS + WINDOW_MS + GRACE_MS <= ctx.watermark) return undefined;
  if (!(lt >= t)) {
    last.ts = t;
    last.lat = fix.lat;
    last.lon = fix.lon;
  }
  return undefined;
}

/**
 * Test variants (test/dsl/fixtures): `topicPrefix` before every topic name; `graceMs` instead of
 * 10 s (the built-in anomaly check's late rule follows the windows); `secondSink`: a sink nothing
 * reaches, so that the engine runs the job in its general form (the typed form takes one sink).
 */
export interface JobVariant { topicPrefix?: string; graceMs?: number; secondSink?: boolean }

export function driverTrackingJob(schema: Schema, anomaly: "builtin" | "function" = "builtin", variant: JobVariant = {}) {
  const t = (name: string) => `${variant.topicPrefix ?? ""}${name}`;
  const windows = TimeWindows.ofSizeAndGrace(WINDOW_MS, variant.graceMs ?? GRACE_MS);
  const b = new StreamsBuilder();
  const fixes = b.stream<Fix>(t("driver-locations"), { schema, key: "driverId", timestamp: "ts" });
  if (variant.secondSink) fixes.filter(() => false).to(t("driver-nothing"));
  fixes
    .processValues(undefined, Fields.checkLatLon("lat", "lon"), { flagged: t("driver-invalid"), name: "validate" })
    .processValues(Stores.perKey("last-fix", { lat: "f64", lon: "f64", ts: "f64" }), anomaly === "builtin" ? Fields.speedLimit(MAX_SPEED_KMH, windows) : speedCheck, { flagged: t("driver-anomalies"), name: "anomaly" })
    .groupBy(Fields.geohashCode("lat", "lon", 5))
    .windowedBy(windows)
    .mean("speedKmh", { late: t("driver-late") })
    .toStream()
    .to(t("driver-regions"));
  return b.build();
}

export default function topology() {
  return driverTrackingJob(schemaStrings);
}
