/**
 * surge-pricing (seed §5, "Sliding Windows: Uber surge pricing calculation"): per region, ride
 * requests (demand) against drivers present (supply) on hopping windows of 10 minutes advancing by
 * 1 minute, and a surge multiplier from the two.
 *
 *   ride events (driver locations + ride requests, see ../rides/spec.ts)
 *     → validate (invalid output) → region = geohash-5 of the position
 *     → the 10 windows [s, s + 10 min) with s a multiple of 1 min covering ts; windows already
 *       closed (end + 10 s grace ≤ watermark) are skipped, and a record whose windows are all
 *       closed goes to the late output (Kafka Streams' behaviour for hopping windows)
 *     → request: demand(region, window) += 1
 *       location: supply(region, window) += 1 the first time the driver is seen in that region
 *                 during that window (distinct drivers)
 *     → at window close: {type:"window", key: region, windowStart, windowEnd, requests, drivers,
 *       surgeMultiplier}
 *
 * The multiplier (the seed's calculateSurgeMultiplier, with supply):
 *   ratio = requests / max(drivers, 1)
 *   surgeMultiplier = 1.0                                         when ratio ≤ 1
 *                   = min(3.0, round₀.₁(1 + 0.5 · (ratio − 1)))  otherwise
 * so 2 requests per driver give 1.5×, 3 give 2.0×, 5 or more the 3.0× cap.
 *
 * Shards: a driver's locations are all on one shard (partitioned or spread by driver), so the
 * distinct-driver counts of the shards add up exactly; requests count wherever they land. Both
 * are integers, so 1 or N workers give the same results.
 */
export const PIPELINE = "surge-pricing";
export const WINDOW_MS = 600_000;
export const ADVANCE_MS = 60_000;
export const GRACE_MS = 10_000;
export const MAX_SURGE = 3;
export const SURGE_SLOPE = 0.5;
export const LATE_ALL_WINDOWS_CLOSED = 1;

export function surgeMultiplier(requests: number, drivers: number): number {
  const ratio = requests / Math.max(drivers, 1);
  if (ratio <= 1) return 1;
  return Math.min(MAX_SURGE, Math.round((1 + SURGE_SLOPE * (ratio - 1)) * 10) / 10);
}
