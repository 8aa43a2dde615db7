/**
 * The bench's DSL topology (a module the shard workers import): fixes per driver in 60 s tumbling
 * windows with 10 s grace, on the driver generator's records. The key is the generator's u32
 * driver id (the same column layout as driver-tracking's `driverId`).
 */
import { StreamsBuilder, TimeWindows, defineSchema } from "../../src/index.js";

export const schema = defineSchema("driver-location", { driverId: "u32", lat: "f64", lon: "f64", ts: "f64", speedKmh: "f64" });

export default function topology() {
  const b = new StreamsBuilder();
  b.stream("driver-locations", { schema, key: "driverId", timestamp: "ts" })
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 10_000))
    .count()
    .toStream()
    .to("fixes-per-driver");
  return b.build();
}
