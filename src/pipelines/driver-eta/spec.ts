/**
 * driver-eta (seed §3, "Real-Time ETA Calculation"): for every driver location update, the ETA to
 * each open ride request within 5 km, and matching.
 *
 *   ride events (driver locations + ride requests, ../rides/spec.ts), in arrival order:
 *   request  → open (until matched, or until the watermark passes its ts + 10 minutes)
 *   location → region = geohash-5; the region's traffic multiplier takes the fix's speed
 *              the driver becomes available on first sight, and again once its match's hold ends
 *              (the stream has no trip-completed event: a match holds the driver 15 minutes of
 *              event time) — each change is an `availability` output
 *              for each open request within 5 km (haversine, R = 6371.0088 km):
 *                etaMinutes = distanceKm / (30 km/h / trafficMultiplier(driver's region)) · 60
 *                → an `eta` output
 *              if the driver is available and the smallest ETA is ≤ 5 minutes (ties: the older
 *              request), the driver is matched to that request: the request closes (matched once),
 *              the driver holds the match (unavailable) → an `availability` output with the request
 *
 * Traffic multiplier of a region: free-flow 50 km/h over the region's exponentially weighted mean
 * reported speed (α = 0.1 per fix with a finite speedKmh), clamped to [1, 3]; 1 before any speed.
 *
 * Matching is one global decision per request and per driver, so the pipeline's state lives in
 * one shard (maxWorkers 1): the ETA kernel, the open-request table (sorted by latitude, so a
 * driver scans only the ±5 km band) and the per-driver and per-region tables are typed arrays.
 */
export const PIPELINE = "driver-eta";
export const SEARCH_RADIUS_KM = 5;
export const BASE_SPEED_KMH = 30;
export const MATCH_MAX_ETA_MIN = 5;
export const REQUEST_TTL_MS = 600_000;
export const MATCH_HOLD_MS = 900_000;
export const FREE_FLOW_KMH = 50;
export const SPEED_EWMA_ALPHA = 0.1;
export const MAX_TRAFFIC = 3;

/** Output kinds of this pipeline (pipeline-specific kinds start at OUT_PIPELINE_BASE). */
export const OUT_ETA = 16;
export const OUT_AVAILABILITY = 17;

export function trafficMultiplier(meanSpeedKmh: number): number {
  if (!(meanSpeedKmh > 0)) return 1;
  const m = FREE_FLOW_KMH / meanSpeedKmh;
  return m < 1 ? 1 : m > MAX_TRAFFIC ? MAX_TRAFFIC : m;
}
