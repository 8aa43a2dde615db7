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
 * It first tries `speedBoundDecision`, a polynomial-only two-sided bound; only when the true
 * speed lies within about 1e-6 (relative) of the limit, or the inputs are out of the bound's
 * domain, does it evaluate the haversine.
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

/** `speedBoundDecision`: the speed is surely at most the limit. */
export const SPEED_WITHIN = 0;
/** `speedBoundDecision`: the speed surely exceeds the limit. */
export const SPEED_EXCEEDS = 1;
/** `speedBoundDecision`: the bound cannot decide; evaluate the haversine. */
export const SPEED_UNDECIDED = -1;

// Relative safety margin on a. The bound polynomials are evaluated with a relative error below
// ~1e-15 and the exact path's sin/cos/asin (fdlibm, < 1 ulp) below ~1e-14, so 1e-9 leaves six
// orders of magnitude; it widens the undecided band by only ~1e-9 of the limit.
const MARGIN = 1e-9;
// Absolute slack on each cos bound, for rounding in evaluating the cos polynomial near 0.
const COS_SLACK = 1e-14;
// Domain of the bound: |Δlat|, |Δlon| ≤ 90° keeps a ≤ 0.75, where asin is well conditioned, and
// the half-angles ≤ π/4 where the sin polynomials are tight; θ ≤ 1 rad likewise. θ ≥ 1e-100
// keeps sin²θ (and any a near it) far from subnormal numbers, where relative rounding breaks down.
const MAX_DELTA_DEG = 90;
const MIN_THETA = 1e-100;
const MAX_THETA = 1;

/**
 * The cheap half of `speedExceedsKmh`: `SPEED_EXCEEDS`, `SPEED_WITHIN`, or `SPEED_UNDECIDED`.
 * Never allocates, never calls a transcendental function.
 *
 * With θ = limit · Δt / (2R), speed > limit ⇔ asin(√a) > θ ⇔ a > sin²θ (for 0 < θ ≤ π/2). It
 * brackets a and sin θ between Taylor partial sums, which are rigorous bounds for x ≥ 0:
 * x − x³/6 + x⁵/120 − x⁷/5040 ≤ sin x ≤ x − x³/6 + x⁵/120, and for all y the cos series cut after
 * a −y¹⁰/10! term is below cos y and cut after +y⁸/8! is above. It decides only when the brackets
 * are apart by the relative margin `MARGIN`, far beyond the rounding of either side. Non-finite
 * inputs, Δt ≤ 0, limit ≤ 0, θ outside [1e-100, 1], |lat| > 90 and |Δlat| or |Δlon| > 90° give
 * `SPEED_UNDECIDED`.
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
  const theta = (limitKmh * ((ts2Ms - ts1Ms) / MS_PER_HOUR)) / DIAMETER_KM;
  const dLat = lat2 - lat1;
  const dLon = lon2 - lon1;
  // Written so that NaN fails every test.
  if (
    !(theta >= MIN_THETA && theta <= MAX_THETA) ||
    !(Math.abs(dLat) <= MAX_DELTA_DEG && Math.abs(dLon) <= MAX_DELTA_DEG) ||
    !(Math.abs(lat1) <= 90 && Math.abs(lat2) <= 90) ||
    !(limitKmh > 0)
  ) {
    return SPEED_UNDECIDED;
  }
  // Same half-angles as haversineKm, made non-negative (sin² is even).
  const x = Math.abs(dLat * HALF_DEG_TO_RAD);
  const z = Math.abs(dLon * HALF_DEG_TO_RAD);
  const x2 = x * x;
  const z2 = z * z;
  const sinXHi = x * (1 - (x2 / 6) * (1 - x2 / 20));
  const sinXLo = sinXHi - (x * x2 * x2 * x2) / 5040;
  const sinZHi = z * (1 - (z2 / 6) * (1 - z2 / 20));
  const sinZLo = sinZHi - (z * z2 * z2 * z2) / 5040;

  const y1 = lat1 * DEG_TO_RAD;
  const y2 = lat2 * DEG_TO_RAD;
  const y1s = y1 * y1;
  const y2s = y2 * y2;
  // cos y ≤ 1 − y²/2 + y⁴/24 − y⁶/720 + y⁸/40320 =: P8; cos y ≥ P8 − y¹⁰/3628800.
  const cos1Hi = 1 - (y1s / 2) * (1 - (y1s / 12) * (1 - (y1s / 30) * (1 - y1s / 56)));
  const cos2Hi = 1 - (y2s / 2) * (1 - (y2s / 12) * (1 - (y2s / 30) * (1 - y2s / 56)));
  const cos1Lo = Math.max(0, cos1Hi - (y1s * y1s * y1s * y1s * y1s) / 3628800 - COS_SLACK);
  const cos2Lo = Math.max(0, cos2Hi - (y2s * y2s * y2s * y2s * y2s) / 3628800 - COS_SLACK);

  const aHi = sinXHi * sinXHi + (cos1Hi + COS_SLACK) * (cos2Hi + COS_SLACK) * sinZHi * sinZHi;
  const aLo = sinXLo * sinXLo + cos1Lo * cos2Lo * sinZLo * sinZLo;

  const t2 = theta * theta;
  const sinThetaHi = theta * (1 - (t2 / 6) * (1 - t2 / 20));
  const sinThetaLo = sinThetaHi - (theta * t2 * t2 * t2) / 5040;
  if (aHi * (1 + MARGIN) < sinThetaLo * sinThetaLo) return SPEED_WITHIN;
  if (aLo > sinThetaHi * sinThetaHi * (1 + MARGIN)) return SPEED_EXCEEDS;
  return SPEED_UNDECIDED;
}

function checkBatchLength(n: number, capacity: number): void {
  if (!(n >= 0 && n <= capacity && (n | 0) === n)) {
    throw new RangeError(`n must be an integer in 0..${capacity} (the shortest array's length), got ${String(n)}`);
  }
}
