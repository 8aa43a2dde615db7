// region-repartition-json.js with a chain of two repartitions (eos-repartition.mjs's chain modes):
// valid fixes grouped by their driver's car (a new key: the first repartition) into a KTable of
// each car's latest fix, whose updates are grouped by geohash-5 region (a second new key: the second
// repartition) and counted with a user aggregate in 60 s windows with 10 s grace.
import { Geo, StreamsBuilder, TimeWindows } from "riptide";
import { schema, valid } from "./region-repartition-json.js";

const prefix = process.env.RIPTIDE_BENCH_PREFIX ?? "";

export default function topology() {
  const b = new StreamsBuilder();
  b.stream(`${prefix}locations`, { schema, key: "driverId", timestamp: "ts" })
    .filter((_k, v) => valid(v))
    .groupBy((driver) => `car-of-${driver}`)
    .reduce((_last, fix) => fix)
    .toStream()
    .groupBy((_car, v) => Geo.geohashCode(v.lat, v.lon, 5))
    .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 10_000))
    .aggregate(() => 0, (_region, _v, n) => n + 1, { late: `${prefix}late` })
    .toStream()
    .to(`${prefix}regions`);
  return b.build();
}
