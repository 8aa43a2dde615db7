// bench/dsl/region-repartition-topology.ts on JSON input (string driver ids, as `riptide loadgen`
// writes them), its topics under RIPTIDE_BENCH_PREFIX: valid fixes grouped by geohash-5 region (a
// new key: a repartition) and counted with a user aggregate in 60 s windows with 10 s grace, so it
// runs in the general form with and without --instance-id (eos-repartition.mjs).
import { Geo, StreamsBuilder, TimeWindows, defineSchema } from "riptide";

const prefix = process.env.RIPTIDE_BENCH_PREFIX ?? "";
export const schema = defineSchema("driver-location", { driverId: "string", lat: "f64", lon: "f64", ts: "f64", speedKmh: "f64" });

export const valid = (v) => Number.isFinite(v.lat) && Number.isFinite(v.lon) && v.lat >= -90 && v.lat <= 90 && v.lon >= -180 && v.lon <= 180 && !(v.lat === 0 && v.lon === 0);

export default function topology() {
  const b = new StreamsBuilder();
  b.stream(`${prefix}locations`, { schema, key: "driverId", timestamp: "ts" })
    .filter((_k, v) => valid(v))
    .groupBy((_k, v) => Geo.geohashCode(v.lat, v.lon, 5))
    .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 10_000))
    .aggregate(() => 0, (_region, _v, n) => n + 1, { late: `${prefix}late` })
    .toStream()
    .to(`${prefix}regions`);
  return b.build();
}
