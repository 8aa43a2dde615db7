/**
 * Piscina task of the thread-handoff bench (ring.bench.ts): one call per transferred batch of
 * 4-element records (driverId, lat, lon, ts) in a Float64Array; counts them and sums lat.
 */
import type { HandoffDone } from "./handoff-worker.js";

export default function countBatch(batch: Float64Array): HandoffDone {
  let latSum = 0;
  for (let k = 1; k < batch.length; k += 4) latSum += batch[k]!;
  return { records: batch.length / 4, latSum };
}
