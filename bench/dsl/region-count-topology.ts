/**
 * driver-tracking's window counts in the DSL, on the generator's records (u32 driver ids): valid
 * fixes counted per geohash-5 region in 60 s windows with 10 s grace. No anomaly check, no mean
 * speed: less than the hand-written job does.
 */
import { Geo, StreamsBuilder, TimeWindows } from "../../src/index.js";
import { schema } from "./driver-count-topology.js";

/** A fix inside the lat/lon ranges and not at (0, 0), as driver-tracking's validation requires. */
export const valid = (v: { lat: number; lon: number }): boolean =>
  Number.isFinite(v.lat) && Number.isFinite(v.lon) && v.lat >= -90 && v.lat <= 90 && v.lon >= -180 && v.lon <= 180 && !(v.lat === 0 && v.lon === 0);

export default function topology() {
  const b = new StreamsBuilder();
  b.stream<{ lat: number; lon: number }>("driver-locations", { schema, key: "driverId", timestamp: "ts" })
    .filter((_k, v) => valid(v))
    .groupBy((_k, v) => Geo.geohashCode(v.lat, v.lon, 5))
    .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 10_000))
    .count()
    .toStream()
    .to("regions");
  return b.build();
}
