/**
 * Geohash encoding, bit-exact with `ngeohash.encode(lat, lon, precision)`.
 *
 * A geohash of precision `p` is `5p` bits: longitude and latitude bisection bits interleaved,
 * longitude first, so longitude gets `ceil(5p/2)` bits and latitude `floor(5p/2)`. ngeohash
 * bisects `[-180, 180]` / `[-90, 90]` and emits 1 iff `value > mid`, so after `m` bits of one
 * coordinate the cell index is the number of boundaries `min + j*step` (`0 < j < 2^m`,
 * `step = range / 2^m`) that the value lies strictly above:
 *
 *     cell(x) = clamp(ceil((x - min) / step) - 1, 0, 2^m - 1)        (NaN -> 0)
 *
 * Exactness: instead of `m` bisection steps we take the candidate `c = floor((x - min) * scale)`
 * and correct it with one exact comparison. `scale` is `2^m / range` rounded UP (times 1 + 2^-50),
 * so if x lies above boundary `K` then `fl(x - min) >= K*step` (rounding is monotone and
 * `K*step` is a double) and the product is `>= K`: the candidate never undershoots. Its relative
 * error is below 2^-48, i.e. under 2^-18 of a cell for `m <= 30`, so it overshoots by at most one.
 * Hence `c` is right unless `x <= min + c*step`, in which case it is `c - 1`. The bounds
 * `min + c*step` are multiples of `45 * 2^(3-m)` below 2^36 in magnitude, so `c*step` and
 * `c*step + min` are exact doubles — the very midpoints ngeohash computes by halving. A value
 * exactly on a boundary goes to the lower cell (ngeohash's bit is 1 only for `>`); values beyond
 * the range clamp to the first/last cell and NaN gives cell 0, exactly as ngeohash's comparisons
 * do (NaN > mid is false at every step).
 *
 * Integer form: the code is split into `lo`, its lowest 30 bits, and `hi`, the bits above (0 for
 * precision <= 6). Each holds whole base-32 characters: `lo` is the last six characters, `hi` the
 * first `p - 6`. Both are non-negative integers below 2^30, so they fit in Uint32Array and in V8's
 * small-integer representation.
 *
 * @module
 */

/** The geohash alphabet: character `i` encodes the 5-bit value `i`. */
export const GEOHASH_BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz";

/** Largest precision `geohashEncodeInt` accepts: 6 characters = 30 bits, one small integer. */
export const GEOHASH_INT_MAX_PRECISION = 6;
/** Largest precision the batch encoder and the string helpers accept: 12 characters = 60 bits. */
export const GEOHASH_MAX_PRECISION = 12;

/** Bits of each coordinate that land in `lo` (the low 30 bits hold 15 of each). */
const HALF_LO_BITS = 15;
const HALF_LO_MASK = 0x7fff;

/** Makes each candidate scale strictly larger than the exact 2^m / range (see the module comment). */
const SCALE_ROUND_UP = 1 + 2 ** -50;

// Per-precision tables, indexed by precision (index 0 unused). For one coordinate with m bits:
// LAST = 2^m - 1, SCALE = 2^m / range rounded up (for the candidate), STEP = range / 2^m (exact).
// LON_SHIFT is 0 when 5p is odd (longitude holds the last bit) and 1 when even.
const LON_LAST = new Int32Array(GEOHASH_MAX_PRECISION + 1);
const LAT_LAST = new Int32Array(GEOHASH_MAX_PRECISION + 1);
const LON_SCALE = new Float64Array(GEOHASH_MAX_PRECISION + 1);
const LAT_SCALE = new Float64Array(GEOHASH_MAX_PRECISION + 1);
const LON_STEP = new Float64Array(GEOHASH_MAX_PRECISION + 1);
const LAT_STEP = new Float64Array(GEOHASH_MAX_PRECISION + 1);
const LON_SHIFT = new Int32Array(GEOHASH_MAX_PRECISION + 1);
for (let p = 1; p <= GEOHASH_MAX_PRECISION; p++) {
  const bits = 5 * p;
  const lonCells = 2 ** ((bits + 1) >> 1);
  const latCells = 2 ** (bits >> 1);
  LON_LAST[p] = lonCells - 1;
  LAT_LAST[p] = latCells - 1;
  LON_SCALE[p] = (lonCells / 360) * SCALE_ROUND_UP;
  LAT_SCALE[p] = (latCells / 180) * SCALE_ROUND_UP;
  LON_STEP[p] = 360 / lonCells;
  LAT_STEP[p] = 180 / latCells;
  LON_SHIFT[p] = (bits & 1) ^ 1;
}

// ASCII code -> 5-bit value, -1 for characters outside the alphabet.
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < GEOHASH_BASE32.length; i++) DECODE[GEOHASH_BASE32.charCodeAt(i)] = i;

/**
 * Number of bits in a geohash of `precision` characters (`5 * precision`).
 * @throws RangeError if `precision` is not an integer in 1..12.
 */
export function geohashBits(precision: number): number {
  checkPrecision(precision, GEOHASH_MAX_PRECISION);
  return 5 * precision;
}

/**
 * Geohash of (`lat`, `lon`) at `precision` 1..6 as a non-negative integer below 2^30 (the `lo`
 * half; `hi` is 0 at these precisions). The per-record fast path: no allocation, no loop.
 * @throws RangeError if `precision` is not an integer in 1..6.
 */
export function geohashEncodeInt(lat: number, lon: number, precision: number): number {
  checkPrecision(precision, GEOHASH_INT_MAX_PRECISION);
  const lonCell = cellIndex(lon, -180, LON_SCALE[precision]!, LON_STEP[precision]!, LON_LAST[precision]!);
  const latCell = cellIndex(lat, -90, LAT_SCALE[precision]!, LAT_STEP[precision]!, LAT_LAST[precision]!);
  const lonShift = LON_SHIFT[precision]!;
  return (spread15(lonCell) << lonShift) | (spread15(latCell) << (lonShift ^ 1));
}

/**
 * Geohashes of `n` points at `precision` 1..12: for each `i < n`, `outHi[i]` and `outLo[i]` get
 * the bits above the lowest 30 and the lowest 30 bits of the code (see the module comment).
 * At precision <= 6, `outHi[i]` is 0 and `outLo[i]` equals `geohashEncodeInt(lat[i], lon[i], p)`.
 * @throws RangeError if `precision` is not an integer in 1..12 or `n` exceeds an array's length.
 */
export function geohashEncodeBatch(
  lat: Float64Array,
  lon: Float64Array,
  n: number,
  precision: number,
  outHi: Uint32Array,
  outLo: Uint32Array,
): void {
  checkPrecision(precision, GEOHASH_MAX_PRECISION);
  checkBatchLength(n, Math.min(lat.length, lon.length, outHi.length, outLo.length));
  const lonScale = LON_SCALE[precision]!;
  const latScale = LAT_SCALE[precision]!;
  const lonStep = LON_STEP[precision]!;
  const latStep = LAT_STEP[precision]!;
  const lonLast = LON_LAST[precision]!;
  const latLast = LAT_LAST[precision]!;
  const lonShift = LON_SHIFT[precision]!;
  const latShift = lonShift ^ 1;
  if (precision <= GEOHASH_INT_MAX_PRECISION) {
    for (let i = 0; i < n; i++) {
      const lonCell = cellIndex(lon[i]!, -180, lonScale, lonStep, lonLast);
      const latCell = cellIndex(lat[i]!, -90, latScale, latStep, latLast);
      outHi[i] = 0;
      outLo[i] = (spread15(lonCell) << lonShift) | (spread15(latCell) << latShift);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const lonCell = cellIndex(lon[i]!, -180, lonScale, lonStep, lonLast);
      const latCell = cellIndex(lat[i]!, -90, latScale, latStep, latLast);
      outHi[i] =
        (spread15(lonCell >>> HALF_LO_BITS) << lonShift) | (spread15(latCell >>> HALF_LO_BITS) << latShift);
      outLo[i] =
        (spread15(lonCell & HALF_LO_MASK) << lonShift) | (spread15(latCell & HALF_LO_MASK) << latShift);
    }
  }
}

/**
 * The geohash string of a code split as `hi`/`lo` (see the module comment). Edge helper: allocates.
 * @throws RangeError if `precision` is not an integer in 1..12.
 */
export function geohashToString(hi: number, lo: number, precision: number): string {
  checkPrecision(precision, GEOHASH_MAX_PRECISION);
  let s = "";
  for (let i = precision - GEOHASH_INT_MAX_PRECISION - 1; i >= 0; i--) {
    s += GEOHASH_BASE32[(hi >>> (5 * i)) & 31];
  }
  for (let i = Math.min(precision, GEOHASH_INT_MAX_PRECISION) - 1; i >= 0; i--) {
    s += GEOHASH_BASE32[(lo >>> (5 * i)) & 31];
  }
  return s;
}

/**
 * The geohash string of a `geohashEncodeInt` code. Edge helper: allocates.
 * @throws RangeError if `precision` is not an integer in 1..6.
 */
export function geohashIntToString(code: number, precision: number): string {
  checkPrecision(precision, GEOHASH_INT_MAX_PRECISION);
  return geohashToString(0, code, precision);
}

/** A geohash in integer form, as `geohashFromString` returns it. */
export interface GeohashCode {
  /** Bits above the lowest 30 (0 for precision <= 6). */
  hi: number;
  /** Lowest 30 bits. */
  lo: number;
  /** Number of characters, 1..12. */
  precision: number;
}

/**
 * Parses a geohash string (lowercase, as ngeohash produces) into its integer form, the inverse of
 * `geohashToString`. Edge helper: allocates the result.
 * @throws TypeError if `s` is not a string; RangeError if its length is not 1..12 or it holds a
 *   character outside `GEOHASH_BASE32`.
 */
export function geohashFromString(s: string): GeohashCode {
  if (typeof s !== "string") throw new TypeError(`geohash must be a string, got ${typeof s}`);
  const precision = s.length;
  if (precision < 1 || precision > GEOHASH_MAX_PRECISION) {
    throw new RangeError(`geohash length must be 1..${GEOHASH_MAX_PRECISION}, got ${precision} ("${s}")`);
  }
  const hiChars = Math.max(0, precision - GEOHASH_INT_MAX_PRECISION);
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < precision; i++) {
    const code = s.charCodeAt(i);
    const v = code < 128 ? DECODE[code]! : -1;
    if (v < 0) {
      throw new RangeError(
        `geohash "${s}" has ${JSON.stringify(s[i])} at index ${i}; use only "${GEOHASH_BASE32}"`,
      );
    }
    if (i < hiChars) hi = (hi << 5) | v;
    else lo = (lo << 5) | v;
  }
  return { hi, lo, precision };
}

/**
 * Cell index of `x` among `last + 1` cells of width `step` starting at `min`: the number of cell
 * boundaries `x` lies strictly above, clamped to `0..last`; NaN gives 0. The candidate from
 * `(x - min) * scale` is the answer or one above it; the exact comparison with the candidate
 * cell's lower bound settles which.
 */
function cellIndex(x: number, min: number, scale: number, step: number, last: number): number {
  const t = (x - min) * scale;
  const c = t >= 0 ? (t < last ? t | 0 : last) : 0;
  return c > 0 && x <= c * step + min ? c - 1 : c;
}

/** Spreads the low 15 bits of `x` to the even bit positions 0, 2, …, 28. */
function spread15(x: number): number {
  x = (x | (x << 8)) & 0x00ff00ff;
  x = (x | (x << 4)) & 0x0f0f0f0f;
  x = (x | (x << 2)) & 0x33333333;
  return (x | (x << 1)) & 0x55555555;
}

function checkPrecision(precision: number, max: number): void {
  if (!(precision >= 1 && precision <= max && (precision | 0) === precision)) {
    throw new RangeError(`precision must be an integer in 1..${max}, got ${String(precision)}`);
  }
}

function checkBatchLength(n: number, capacity: number): void {
  if (!(n >= 0 && n <= capacity && (n | 0) === n)) {
    throw new RangeError(`n must be an integer in 0..${capacity} (the shortest array's length), got ${String(n)}`);
  }
}

