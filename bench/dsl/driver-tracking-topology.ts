/**
 * driver-tracking's windows written in the DSL, on the driver generator's records (u32 driver ids):
 * valid fixes (DESIGN.md's rules, Fields.validLatLon) per geohash-5 region (Fields.geohashCode) in
 * 60 s windows with 10 s grace, their count and mean speed (a mean's window output carries its
 * count). Without the hand-written job's per-driver anomaly check (> 250 km/h since the driver's
 * last fix): the figure before the DSL had processValues; the whole job is
 * driver-tracking-job-topology.ts. The built-ins run as column passes of the batch plan
 * (src/dsl/batch-plan.ts). test/dsl/fixtures/driver-tracking.js is this topology
 * (driverTrackingWindows) on string driver ids, as JSON input carries them.
 */
import { Fields, StreamsBuilder, TimeWindows, type Schema } from "../../src/index.js";
import { schema } from "./driver-count-topology.js";

export function driverTrackingWindows(s: Schema) {
  const b = new StreamsBuilder();
  b.stream("driver-locations", { schema: s, key: "driverId", timestamp: "ts" })
    .filter(Fields.validLatLon("lat", "lon"))
    .groupBy(Fields.geohashCode("lat", "lon", 5))
    .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 10_000))
    .mean("speedKmh")
    .toStream()
    .to("driver-regions");
  return b.build();
}

export default function topology() {
  return driverTrackingWindows(schema);
}
