/**
 * Decimal → double without a string, for the byte-level JSON decoder: the double nearest to
 * (mh · 10^r + ml) / 10^scale, as JSON.parse gives it, or a refusal when this cannot decide
 * cheaply (the caller then parses the text). JSON.stringify writes a double with up to 17 significant
 * digits; a mantissa past 2^53 (most 17-digit ones: a latitude written in full) is no longer exact
 * in one double, and Number(text) on it cost a string per number, per event.
 *
 * With error-free transformations (Dekker's product, Knuth's sum; no FMA in JS):
 *   m = s + lo exactly                          (s, lo integers, |lo| ≤ 2^15)
 *   q0 = fl(s / D)                              (D = 10^scale, exact for scale ≤ 22)
 *   R = m − q0·D, exact to a few units of 2^-50 of D·ulp(q0)
 *   the answer is q0 + k ulps, k = the nearest integer to R / (D·ulp(q0))
 * q0 is within 1.5 ulps of m/D, so |k| ≤ 2; refused when R / (D·ulp) lies within 1e-6 of a half (a
 * tie or nearly: round-half-even would need exact arithmetic; an integer's is exact, and rounds to
 * even), when q0 + k ulps leaves q0's binade,
 * or when q0 + k ulps is a power of two and the answer may lie below it (finer ulps there).
 */

const SPLIT = 134217729; // 2^27 + 1 (Veltkamp)
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k); // exact up to 1e22
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // the word holding sign and exponent

/**
 * The double nearest to (mh · 10^r + ml) / 10^scale into io[4], from io = [mh, ml, r, scale, …];
 * false when it cannot decide (the caller parses the text). Numbers pass through a Float64Array
 * both ways: the function is too large to be inlined, and a double passed to or returned from a
 * call that is not would be boxed, a heap number per number decoded.
 *   mh: the leading digits (an integer below 2^53); ml: the r digits after them (below 10^r),
 *   r ≤ 4; scale: digits after the decimal point among all of them, ≤ 22.
 */
export function decimalInto(io: Float64Array): boolean {
  const mh = io[0]!, ml = io[1]!, r = io[2]!, scale = io[3]!;
  // (p, e): mh · 10^r = p + e exactly.
  const pr = POW10[r]!;
  const p = mh * pr;
  let x = SPLIT * mh;
  const ah = x - (x - mh), al = mh - ah;
  x = SPLIT * pr;
  const bh = x - (x - pr), bl = pr - bh;
  const e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
  // (s, t): p + ml = s + t exactly; lo = e + t is exact (integers, both below 2^15).
  const s = p + ml;
  const bb = s - p;
  const t = (p - (s - bb)) + (ml - bb);
  const lo = e + t;
  const D = POW10[scale]!;
  const q0 = s / D;
  // (h, l): q0 · D = h + l exactly; s − h is exact (Sterbenz: h is within 2^-51 of s).
  const h = q0 * D;
  x = SPLIT * q0;
  const qh = x - (x - q0), ql = q0 - qh;
  x = SPLIT * D;
  const dh = x - (x - D), dl = D - dh;
  const l = ((qh * dh - h) + qh * dl + ql * dh) + ql * dl;
  const R = (s - h) + (lo - l);
  f64[0] = q0;
  const exp = (u32[HI]! >>> 20) & 0x7ff;
  if (exp === 0 || exp === 0x7ff) return false;
  const ulp = 2 ** (exp - 1075);
  const off = R / (D * ulp);
  let k = Math.round(off);
  if (Math.abs(Math.abs(off - k) - 0.5) < 1e-6) {
    // An integer (D = 1: q0 = s, R = lo, all exact) exactly halfway: to the even mantissa.
    if (scale !== 0 || Math.abs(off - k) !== 0.5) return false;
    const lower = Math.floor(off);
    f64[0] = q0 + lower * ulp;
    k = (u32[1 - HI]! & 1) === 0 ? lower : lower + 1;
  }
  if (off < 0 && (u32[HI]! & 0xfffff) === 0 && u32[1 - HI] === 0) return false; // q0 = 2^n: finer ulps below it
  if (k === 0) {
    io[4] = q0;
    return true;
  }
  if (k < -2 || k > 2) return false;
  const c = q0 + k * ulp;
  f64[0] = c;
  if (((u32[HI]! >>> 20) & 0x7ff) !== exp) return false;
  if (off < k && (u32[HI]! & 0xfffff) === 0 && u32[1 - HI] === 0) return false; // c = 2^n, the answer may lie below it
  io[4] = c;
  return true;
}

const IO = new Float64Array(5);

/** decimalInto with numbers in and out (tests; NaN: declined). */
export function decimalToDouble(mh: number, ml: number, r: number, scale: number): number {
  IO[0] = mh;
  IO[1] = ml;
  IO[2] = r;
  IO[3] = scale;
  return decimalInto(IO) ? IO[4]! : NaN;
}
