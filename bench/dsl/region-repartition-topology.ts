/**
 * driver-tracking's window counts with a user aggregate instead of the built-in count, so the
 * topology runs in the DSL's general form: the fixes (keyed by driver) are grouped by geohash-5
 * region, which moves each record to the shard of its region (repartitioning), where it is counted.
 */
import { Geo, StreamsBuilder, TimeWindows } from "../../src/index.js";
import { schema } from "./driver-count-topology.js";
import { valid } from "./region-count-topology.js";

export default function topology() {
  const b = new StreamsBuilder();
  b.stream<{ lat: number; lon: number }>("driver-locations", { schema, key: "driverId", timestamp: "ts" })
    .filter((_k, v) => valid(v))
    .groupBy((_k, v) => Geo.geohashCode(v.lat, v.lon, 5))
    .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 10_000))
    .aggregate(() => 0, (_region, _v, n: number) => n + 1)
    .toStream()
    .to("regions");
  return b.build();
}
