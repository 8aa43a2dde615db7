/**
 * Fixes per driver with a user aggregate, on the driver's own key, so no record moves between
 * shards (the comparison row for region-repartition-topology.ts). The second output (fixes at
 * speeds over 250 km/h) makes it a topology of the DSL's general form, like the repartitioning one.
 */
import { StreamsBuilder, TimeWindows } from "../../src/index.js";
import { schema } from "./driver-count-topology.js";

export default function topology() {
  const b = new StreamsBuilder();
  const fixes = b.stream<{ speedKmh: number }>("driver-locations", { schema, key: "driverId", timestamp: "ts" });
  fixes.filter((_k, v) => v.speedKmh > 250).to("too-fast");
  fixes
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 10_000))
    .aggregate(() => 0, (_driver, _v, n: number) => n + 1)
    .toStream()
    .to("fixes-per-driver");
  return b.build();
}
