/**
 * Great-circle distance, ETA and speed-check kernels. Degrees in, kilometres / minutes out.
 *
 * The reference distance is the haversine formula on a sphere of radius `EARTH_RADIUS_KM`:
 *
 *     a = sin²(Δφ/2) + cos φ1 · cos φ2 · sin²(Δλ/2)
 *     d = 2R · asin(√a)
 *
 * (√a is capped at 1 so that rounding near antipodes cannot produce NaN). Every kernel here gives
 * bit-for-bit the value of `haversineKm` evaluated as written, never an approximation of it; the
 * batch variants only hoist work that does not change the result. No function allocates.
 *
 * @module
 */

/** Mean Earth radius (IUGG), km. */
export const EARTH_RADIUS_KM = 6371.0088;
/** The seed's base speed in city traffic, km/h. */
export const DEFAULT_BASE_SPEED_KMH = 30;

const DIAMETER_KM = 2 * EARTH_RADIUS_KM;
const DEG_TO_RAD = Math.PI / 180;
const HALF_DEG_TO_RAD = DEG_TO_RAD / 2;
const MS_PER_HOUR = 3_600_000;

/** Haversine great-circle distance in km between (`lat1`, `lon1`) and (`lat2`, `lon2`), degrees. */
export function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const sinHalfDLat = Math.sin((lat2 - lat1) * HALF_DEG_TO_RAD);
  const sinHalfDLon = Math.sin((lon2 - lon1) * HALF_DEG_TO_RAD);
  const a =
    sinHalfDLat * sinHalfDLat +
    Math.cos(lat1 * DEG_TO_RAD) * Math.cos(lat2 * DEG_TO_RAD) * sinHalfDLon * sinHalfDLon;
  return DIAMETER_KM * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** `out[i] = haversineKm(lat1[i], lon1[i], lat2[i], lon2[i])` for `i < n`. */
export function haversineBatch(
  lat1: Float64Array,
  lon1: Float64Array,
  lat2: Float64Array,
  lon2: Float64Array,
  n: number,
  out: Float64Array,
): void {
  checkBatchLength(n, Math.min(lat1.length, lon1.length, lat2.length, lon2.length, out.length));
  for (let i = 0; i < n; i++) out[i] = haversineKm(lat1[i]!, lon1[i]!, lat2[i]!, lon2[i]!);
}

/**
 * ETA in minutes over `distanceKm` at `baseSpeedKmh / trafficMultiplier`, as the seed computes it:
 * `distance / (baseSpeed / trafficMultiplier) * 60`.
 * @param baseSpeedKmh @default 30
 */
export function etaMinutes(
  distanceKm: number,
  trafficMultiplier: number,
  baseSpeedKmh: number = DEFAULT_BASE_SPEED_KMH,
): number {
  return (distanceKm / (baseSpeedKmh / trafficMultiplier)) * 60;
}

/**
 * ETA in minutes from driver `i` to request `i`, for `i < n`:
 * `outMinutes[i] = etaMinutes(haversineKm(driver_i, req_i), traffic[i], baseSpeedKmh)`.
 * @param baseSpeedKmh @default 30
 */
export function etaBatch(
  driverLat: Float64Array,
  driverLon: Float64Array,
  reqLat: Float64Array,
  reqLon: Float64Array,
  traffic: Float64Array,
  n: number,
  outMinutes: Float64Array,
  baseSpeedKmh: number = DEFAULT_BASE_SPEED_KMH,
): void {
  checkBatchLength(
    n,
    Math.min(driverLat.length, driverLon.length, reqLat.length, reqLon.length, traffic.length, outMinutes.length),
  );
  for (let i = 0; i < n; i++) {
    const d = haversineKm(driverLat[i]!, driverLon[i]!, reqLat[i]!, reqLon[i]!);
    outMinutes[i] = (d / (baseSpeedKmh / traffic[i]!)) * 60;
  }
}

/**
 * ETA in minutes from one driver at (`lat`, `lon`) to each of `n` requests. Where
 * `haversineKm(lat, lon, reqLat[i], reqLon[i]) <= maxKm`, `outMinutes[i]` gets the ETA (as
 * `etaMinutes`); elsewhere NaN. Returns how many requests were within `maxKm`.
 *
 * The driver's cos φ is computed once, and requests whose latitude difference alone puts them
 * beyond `maxKm` (great-circle distance ≥ R·|Δφ|, with a 1e-9 relative margin for rounding) skip
 * the trigonometry; both leave every written value equal to the scalar expression.
 * @param baseSpeedKmh @default 30
 */
export function etaFromPoint(
  lat: number,
  lon: number,
  reqLat: Float64Array,
  reqLon: Float64Array,
  traffic: Float64Array,
  n: number,
  maxKm: number,
  outMinutes: Float64Array,
  baseSpeedKmh: number = DEFAULT_BASE_SPEED_KMH,
): number {
  checkBatchLength(n, Math.min(reqLat.length, reqLon.length, traffic.length, outMinutes.length));
  const cosLat = Math.cos(lat * DEG_TO_RAD);
  // |Δlat| in degrees beyond which R·|Δφ| > maxKm·(1 + 1e-9): those requests are surely out.
  const maxDLatDeg = (maxKm * (1 + 1e-9)) / (EARTH_RADIUS_KM * DEG_TO_RAD);
  let within = 0;
  for (let i = 0; i < n; i++) {
    const rLat = reqLat[i]!;
    if (Math.abs(rLat - lat) > maxDLatDeg) {
      outMinutes[i] = NaN;
      continue;
    }
    // haversineKm(lat, lon, rLat, reqLon[i]) with cos(lat) hoisted; same operations, same order.
    const sinHalfDLat = Math.sin((rLat - lat) * HALF_DEG_TO_RAD);
    const sinHalfDLon = Math.sin((reqLon[i]! - lon) * HALF_DEG_TO_RAD);
    const a = sinHalfDLat * sinHalfDLat + cosLat * Math.cos(rLat * DEG_TO_RAD) * sinHalfDLon * sinHalfDLon;
    const d = DIAMETER_KM * Math.asin(Math.min(1, Math.sqrt(a)));
    if (d <= maxKm) {
      outMinutes[i] = (d / (baseSpeedKmh / traffic[i]!)) * 60;
      within++;
    } else {
      outMinutes[i] = NaN;
    }
  }
  return within;
}

/**
 * Whether moving from fix 1 to fix 2 implies a speed above `limitKmh`. Returns exactly
 * `haversineKm(lat1, lon1, lat2, lon2) / ((ts2Ms - ts1Ms) / 3_600_000) > limitKmh`, for every
 * input including NaN, equal or reversed timestamps.
 *
 * It first tries `speedBoundDecision`, a polynomial-only estimate with a proven error band; only
 * when the speed lies within about 1e-7 (relative) of the limit, or the fixes are outside the
 * estimate's domain (far apart, near the poles, long gaps), does it evaluate the haversine.
 * Small enough for V8 to inline, with both halves, into a caller's loop (bytecode ~80 + ~400 +
 * ~130 bytes, within its 920-byte budget), so the doubles are never boxed.
 */
export function speedExceedsKmh(
  lat1: number,
  lon1: number,
  ts1Ms: number,
  lat2: number,
  lon2: number,
  ts2Ms: number,
  limitKmh: number,
): boolean {
  const decision = speedBoundDecision(lat1, lon1, ts1Ms, lat2, lon2, ts2Ms, limitKmh);
  if (decision !== SPEED_UNDECIDED) return decision === SPEED_EXCEEDS;
  return haversineKm(lat1, lon1, lat2, lon2) / ((ts2Ms - ts1Ms) / MS_PER_HOUR) > limitKmh;
}

/**
 * The pre-check the driver-tracking shard and the DSL batch plan run inline before
 * speedExceedsKmh (a call there would box doubles): with dp, dl the differences in radians and
 * y2 = (dp² + dl²) / 4, `y2 < 0.25 && PRECHECK_FOUR_R2 * y2 < allowedKm² (1 − y2) PRECHECK_SAFETY`
 * means the distance is surely within what the limit allows.
 */
export const PRECHECK_RAD = Math.PI / 180;
export const PRECHECK_FOUR_R2 = 4 * EARTH_RADIUS_KM * EARTH_RADIUS_KM;
export const PRECHECK_SAFETY = 1 - 1e-9;

/** `speedBoundDecision`: the speed is surely at most the limit. */
export const SPEED_WITHIN = 0;
/** `speedBoundDecision`: the speed surely exceeds the limit. */
export const SPEED_EXCEEDS = 1;
/** `speedBoundDecision`: the bound cannot decide; evaluate the haversine. */
export const SPEED_UNDECIDED = -1;

// Domain of the estimate (outside it: SPEED_UNDECIDED). |lat1| ≤ 80° and |Δlat| ≤ 2° keep both
// latitudes within 82°, where cos ≥ 0.139; |Δlat|, |Δlon| ≤ 2° keep the half-angles ≤ 0.0175 rad;
// θ ≤ 0.05 rad is a threshold distance of 637 km. θ ≥ 1e-100 keeps sin²θ far from subnormals.
const MAX_ABS_LAT_DEG_SQ = 80 * 80;
const MAX_DELTA_DEG_SQ = 2 * 2;
const MIN_THETA = 1e-100;
const MAX_THETA = 0.05;
// Relative error band. On that domain the truncated series below are within 2.6e-8 of a (cos²
// of up to 82° known to 1.3e-8 relative, squared) and 1e-10 of sin²θ; float rounding, including
// computing the mean latitude from degrees rather than from the rounded radians, adds ~1e-14,
// and the exact path's own rounding is ~1e-14. A band of 1e-7 leaves a factor of 3.8 over that.
const BAND = 1e-7;
// θ = limit · Δt_ms · THETA_PER_KMH_MS, i.e. limit · hours / (2R).
const THETA_PER_KMH_MS = 1 / (MS_PER_HOUR * DIAMETER_KM);
// sin²u = u² − u⁴/3 + 2u⁶/45 − u⁸/315 + …   (the cos series of 2u; error ≤ u⁸/315)
const Q4 = -1 / 3;
const Q6 = 2 / 45;
// cos y = 1 − y²/2! + y⁴/4! − … + y¹²/12! − …   (error ≤ y¹⁴/14!, ≤ 1.8e-9 for |y| ≤ 82°)
const C2 = -1 / 2;
const C4 = 1 / 24;
const C6 = -1 / 720;
const C8 = 1 / 40320;
const C10 = -1 / 3628800;
const C12 = 1 / 479001600;

/**
 * The cheap half of `speedExceedsKmh`: `SPEED_EXCEEDS`, `SPEED_WITHIN`, or `SPEED_UNDECIDED`.
 * Never allocates, never calls a transcendental function.
 *
 * With θ = limit · Δt / (2R), speed > limit ⇔ asin(√a) > θ ⇔ a > sin²θ (0 < θ ≤ π/2), where a is
 * the haversine's `sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2)`. Both a and sin²θ are estimated with
 * truncated Taylor series (Lagrange remainder at most the first omitted term), which on the domain
 * below is a relative error under 2.6e-8 in total. The estimate decides only when a and sin²θ are
 * apart by more than `BAND` = 1e-7 (relative), so the exact expression, whose own rounding is
 * ~1e-14, must agree. Non-finite inputs, Δt ≤ 0, limit ≤ 0 and fixes outside the domain (|lat1| >
 * 80°, |Δlat| or |Δlon| > 2°, θ > 0.05 rad) give `SPEED_UNDECIDED`.
 */
export function speedBoundDecision(
  lat1: number,
  lon1: number,
  ts1Ms: number,
  lat2: number,
  lon2: number,
  ts2Ms: number,
  limitKmh: number,
): number {
  const theta = limitKmh * (ts2Ms - ts1Ms) * THETA_PER_KMH_MS;
  const dLat = lat2 - lat1;
  const dLon = lon2 - lon1;
  // Written so that NaN fails the test; squares instead of Math.abs keep the bytecode small
  // enough for V8 to inline this function (its limit is 460 bytes).
  if (
    !(
      limitKmh > 0 &&
      theta >= MIN_THETA &&
      theta <= MAX_THETA &&
      dLat * dLat <= MAX_DELTA_DEG_SQ &&
      dLon * dLon <= MAX_DELTA_DEG_SQ &&
      lat1 * lat1 <= MAX_ABS_LAT_DEG_SQ
    )
  ) {
    return SPEED_UNDECIDED;
  }
  // Same half-angles in radians as haversineKm; m is the mean latitude.
  const u = dLat * HALF_DEG_TO_RAD;
  const v = dLon * HALF_DEG_TO_RAD;
  const m = (lat1 + lat2) * HALF_DEG_TO_RAD;
  const u2 = u * u;
  const v2 = v * v;
  const m2 = m * m;
  const t2 = theta * theta;
  const sin2U = u2 * (1 + u2 * (Q4 + u2 * Q6));
  const cosM = 1 + m2 * (C2 + m2 * (C4 + m2 * (C6 + m2 * (C8 + m2 * (C10 + m2 * C12)))));
  // cos φ1 · cos φ2 = cos²((φ1 + φ2)/2) − sin²((φ2 − φ1)/2), an identity: one cos series, not two.
  const a = sin2U + (cosM * cosM - sin2U) * (v2 * (1 + v2 * (Q4 + v2 * Q6)));
  const sin2Theta = t2 * (1 + t2 * (Q4 + t2 * Q6));
  if (a < sin2Theta * (1 - BAND)) return SPEED_WITHIN;
  if (a > sin2Theta * (1 + BAND)) return SPEED_EXCEEDS;
  return SPEED_UNDECIDED;
}

function checkBatchLength(n: number, capacity: number): void {
  if (!(n >= 0 && n <= capacity && (n | 0) === n)) {
    throw new RangeError(`n must be an integer in 0..${capacity} (the shortest array's length), got ${String(n)}`);
  }
}
