import { describe, it, expect } from "vitest";
import { mulberry32, nextDown, nextUp, unit53 } from "../support/random.js";
import ngeohash from "ngeohash";
import {
  GEOHASH_BASE32,
  geohashBits,
  geohashEncodeBatch,
  geohashEncodeInt,
  geohashFromString,
  geohashIntToString,
  geohashToString,
} from "../../src/kernels/geohash.js";

// --- helpers ---------------------------------------------------------------------------------


/** Bits of longitude / latitude at a precision: ceil(5p/2), floor(5p/2). */
const lonBits = (p: number): number => (5 * p + 1) >> 1;
const latBits = (p: number): number => (5 * p) >> 1;

/** A boundary of the bisection at depth m (exact double): min + k * range / 2^m. */
function boundary(min: number, range: number, m: number, k: number): number {
  return k * (range / 2 ** m) + min;
}

/**
 * Points that stress the fix-up: uniform doubles, exact bisection midpoints at a random depth
 * 1..30, and their neighbours one ulp above and below. Deterministic from `seed`.
 */
function makePoints(n: number, seed: number): { lat: Float64Array; lon: Float64Array } {
  const next = mulberry32(seed);
  const lat = new Float64Array(n);
  const lon = new Float64Array(n);
  const coord = (min: number, range: number): number => {
    const kind = next() % 10;
    if (kind < 7) return min + unit53(next) * range;
    const m = 1 + (next() % 30);
    const k = Math.floor(unit53(next) * (2 ** m + 1));
    const b = boundary(min, range, m, k);
    return kind === 7 ? b : kind === 8 ? nextUp(b) : nextDown(b);
  };
  for (let i = 0; i < n; i++) {
    lat[i] = coord(-90, 180);
    lon[i] = coord(-180, 360);
  }
  return { lat, lon };
}

/** Encodes every (lat[i], lon[i]) with both encoders and returns the mismatches (at most 5). */
function mismatches(lat: ArrayLike<number>, lon: ArrayLike<number>, precision: number): string[] {
  const n = lat.length;
  const la = Float64Array.from(lat);
  const lo = Float64Array.from(lon);
  const hi = new Uint32Array(n);
  const low = new Uint32Array(n);
  geohashEncodeBatch(la, lo, n, precision, hi, low);
  const bad: string[] = [];
  for (let i = 0; i < n && bad.length < 5; i++) {
    const want = ngeohash.encode(la[i]!, lo[i]!, precision);
    const got = geohashToString(hi[i]!, low[i]!, precision);
    if (got !== want) bad.push(`(${la[i]}, ${lo[i]}) p${precision}: got ${got}, ngeohash ${want}`);
    if (precision <= 6) {
      const scalar = geohashEncodeInt(la[i]!, lo[i]!, precision);
      if (scalar !== low[i] || hi[i] !== 0) bad.push(`(${la[i]}, ${lo[i]}) p${precision}: scalar ${scalar} batch ${hi[i]}/${low[i]}`);
    }
  }
  return bad;
}

const PRECISIONS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

// --- tests -----------------------------------------------------------------------------------

describe("geohash encode is bit-exact with ngeohash", () => {
  const N = 1_000_000;
  const { lat, lon } = makePoints(N, 0x9e3779b9);

  for (const p of PRECISIONS) {
    it(`matches ngeohash.encode on ${N.toLocaleString("en")} seeded points at precision ${p}`, () => {
      expect(mismatches(lat, lon, p)).toEqual([]);
    });
  }

  it("matches at the poles and the antimeridian", () => {
    const lats = [90, -90, 0, 45, -45, 89.99999999999999, -89.99999999999999];
    const lons = [180, -180, 0, 90, -90, 179.99999999999997, -179.99999999999997];
    const la: number[] = [];
    const lo: number[] = [];
    for (const a of lats) for (const b of lons) la.push(a), lo.push(b);
    for (const p of PRECISIONS) expect(mismatches(la, lo, p)).toEqual([]);
    // Spot values: ngeohash puts -180/-90 in the first cell and 180/90 in the last.
    expect(ngeohash.encode(-90, -180, 5)).toBe("00000");
    expect(geohashIntToString(geohashEncodeInt(-90, -180, 5), 5)).toBe("00000");
    expect(geohashIntToString(geohashEncodeInt(90, 180, 5), 5)).toBe("zzzzz");
  });

  it("matches on and beside every kind of bisection boundary at every precision", () => {
    const next = mulberry32(7);
    for (const p of PRECISIONS) {
      const la: number[] = [];
      const lo: number[] = [];
      // Depths up to the precision's bit count, with the first, last, middle and random k.
      for (const [min, range, bits, isLon] of [
        [-180, 360, lonBits(p), true],
        [-90, 180, latBits(p), false],
      ] as const) {
        for (let m = 1; m <= bits; m++) {
          const cells = 2 ** m;
          const ks = [0, 1, 2, cells / 2 - 1, cells / 2, cells / 2 + 1, cells - 2, cells - 1, cells];
          for (let r = 0; r < 20; r++) ks.push(Math.floor(unit53(next) * (cells + 1)));
          for (const k of ks) {
            if (k < 0 || k > cells) continue;
            const b = boundary(min, range, m, k);
            for (const v of [b, nextUp(b), nextDown(b)]) {
              const other = isLon ? -90 + unit53(next) * 180 : -180 + unit53(next) * 360;
              la.push(isLon ? other : v);
              lo.push(isLon ? v : other);
            }
          }
        }
      }
      // Both coordinates on boundaries at once.
      for (let r = 0; r < 2000; r++) {
        const mLon = 1 + (next() % lonBits(p));
        const mLat = 1 + (next() % latBits(p));
        la.push(boundary(-90, 180, mLat, Math.floor(unit53(next) * (2 ** mLat + 1))));
        lo.push(boundary(-180, 360, mLon, Math.floor(unit53(next) * (2 ** mLon + 1))));
      }
      expect(mismatches(la, lo, p)).toEqual([]);
    }
  });

  it("matches around (0, 0): ±0, ±tiny, ±one ulp of 1", () => {
    const vals = [0, -0, Number.MIN_VALUE, -Number.MIN_VALUE, 1e-300, -1e-300, Number.EPSILON, -Number.EPSILON];
    const la: number[] = [];
    const lo: number[] = [];
    for (const a of vals) for (const b of vals) la.push(a), lo.push(b);
    for (const p of PRECISIONS) expect(mismatches(la, lo, p)).toEqual([]);
    // A value exactly on a midpoint goes to the lower cell: (0, 0) is "7zzz…" (below both).
    expect(geohashIntToString(geohashEncodeInt(0, 0, 6), 6)).toBe("7zzzzz");
    expect(geohashIntToString(geohashEncodeInt(Number.MIN_VALUE, Number.MIN_VALUE, 6), 6)).toBe("s00000");
  });

  it("matches ngeohash outside the valid range and for NaN / ±Infinity (clamped; NaN -> cell 0)", () => {
    const vals = [NaN, Infinity, -Infinity, 95, -95, 200, -200, 1e300, -1e300, 360, -360];
    const la: number[] = [];
    const lo: number[] = [];
    for (const a of vals) for (const b of [...vals, 0, 12.5]) la.push(a), lo.push(b), la.push(b), lo.push(a);
    for (const p of PRECISIONS) expect(mismatches(la, lo, p)).toEqual([]);
  });
});

describe("geohash integer form", () => {
  it("batch at p <= 6 gives hi = 0 and lo = geohashEncodeInt; at p > 6, lo is the last six characters", () => {
    const { lat, lon } = makePoints(10_000, 42);
    const hi = new Uint32Array(lat.length);
    const lo = new Uint32Array(lat.length);
    const bad: string[] = [];
    for (const p of PRECISIONS) {
      geohashEncodeBatch(lat, lon, lat.length, p, hi, lo);
      for (let i = 0; i < lat.length && bad.length < 5; i++) {
        const where = `(${lat[i]}, ${lon[i]}) p${p}: hi ${hi[i]} lo ${lo[i]}`;
        if (lo[i]! >= 2 ** 30 || hi[i]! >= 2 ** Math.max(0, 5 * p - 30)) bad.push(`${where} out of range`);
        if (p <= 6) {
          if (hi[i] !== 0 || lo[i] !== geohashEncodeInt(lat[i]!, lon[i]!, p)) bad.push(`${where} != scalar`);
        } else {
          const s = ngeohash.encode(lat[i]!, lon[i]!, p);
          if (geohashIntToString(lo[i]!, 6) !== s.slice(p - 6)) bad.push(`${where}: lo is not the last 6 of ${s}`);
          if (geohashToString(0, hi[i]!, p - 6) !== s.slice(0, p - 6)) bad.push(`${where}: hi is not the head of ${s}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it("the p5 code is the geohash read as a base-32 number (ngeohash.decode_int agrees)", () => {
    const code = geohashEncodeInt(37.7749, -122.4194, 5);
    const s = ngeohash.encode(37.7749, -122.4194, 5);
    let v = 0;
    for (const ch of s) v = v * 32 + GEOHASH_BASE32.indexOf(ch);
    expect(code).toBe(v);
    expect(code).toBe(ngeohash.encode_int(37.7749, -122.4194, 25));
  });

  it("geohashFromString inverts geohashToString at every precision", () => {
    const { lat, lon } = makePoints(2_000, 3);
    for (const p of PRECISIONS) {
      for (let i = 0; i < lat.length; i++) {
        const s = ngeohash.encode(lat[i]!, lon[i]!, p);
        const code = geohashFromString(s);
        expect(code.precision).toBe(p);
        expect(geohashToString(code.hi, code.lo, p)).toBe(s);
      }
    }
    expect(geohashFromString("9q8yy")).toEqual({ hi: 0, lo: geohashEncodeInt(37.7749, -122.4194, 5), precision: 5 });
  });

  it("geohashFromString rejects bad input with messages that say what is wrong", () => {
    expect(() => geohashFromString("")).toThrow(RangeError);
    expect(() => geohashFromString("0123456789bcd")).toThrow(/length must be 1\.\.12, got 13/);
    expect(() => geohashFromString("9qa")).toThrow(/"a" at index 2/);
    expect(() => geohashFromString("9q\u00e9")).toThrow(RangeError);
    expect(() => geohashFromString(7 as unknown as string)).toThrow(TypeError);
  });
});

describe("geohash options are validated", () => {
  it("geohashBits is 5 * precision for 1..12", () => {
    for (const p of PRECISIONS) expect(geohashBits(p)).toBe(5 * p);
  });

  it("rejects a precision outside the range with a RangeError naming it", () => {
    for (const bad of [0, 13, -1, 1.5, NaN, Infinity]) {
      expect(() => geohashBits(bad)).toThrow(/precision must be an integer in 1\.\.12/);
      expect(() => geohashToString(0, 0, bad)).toThrow(RangeError);
    }
    for (const bad of [0, 7, 12, 2.5, NaN]) {
      expect(() => geohashEncodeInt(0, 0, bad)).toThrow(/precision must be an integer in 1\.\.6, got/);
      expect(() => geohashIntToString(0, bad)).toThrow(RangeError);
    }
    const f = new Float64Array(4);
    const u = new Uint32Array(4);
    expect(() => geohashEncodeBatch(f, f, 4, 13, u, u)).toThrow(/precision/);
  });

  it("rejects a batch length beyond the arrays with a RangeError naming n", () => {
    const f = new Float64Array(4);
    const u = new Uint32Array(3);
    expect(() => geohashEncodeBatch(f, f, 4, 5, u, u)).toThrow(/n must be an integer in 0\.\.3/);
    expect(() => geohashEncodeBatch(f, f, -1, 5, u, u)).toThrow(RangeError);
    expect(() => geohashEncodeBatch(f, f, 0, 5, u, u)).not.toThrow();
  });

  it("writes nothing past n", () => {
    const lat = new Float64Array([1, 2, 3, 4]);
    const lon = new Float64Array([1, 2, 3, 4]);
    const hi = new Uint32Array(4).fill(0xdeadbeef);
    const lo = new Uint32Array(4).fill(0xdeadbeef);
    geohashEncodeBatch(lat, lon, 2, 9, hi, lo);
    expect([hi[2], hi[3], lo[2], lo[3]]).toEqual([0xdeadbeef, 0xdeadbeef, 0xdeadbeef, 0xdeadbeef]);
  });
});
