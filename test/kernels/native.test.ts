// The native kernels (native-bindings/) against the JS kernels, the reference: bit-exact on
// ≥ 1 M seeded inputs per kernel, edge values included, on SharedArrayBuffer-backed arrays. When
// the addon is not built those comparisons are skipped (the reason is in their name); the loader
// and fallback tests always run.
import { afterEach, describe, expect, it } from "vitest";
import { mulberry32, nextDown, nextUp, unit53 } from "../support/random.js";

const scratch = new DataView(new ArrayBuffer(8));
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etaBatch, haversineBatch } from "../../src/kernels/geo.js";
import { GEOHASH_MAX_PRECISION, geohashEncodeBatch } from "../../src/kernels/geohash.js";
import {
  NATIVE_ENV,
  etaBatchFast,
  geohashEncodeBatchFast,
  haversineBatchFast,
  loadNativeKernels,
  loadNativeKernelsFrom,
  nativeAddonPath,
  nativeStatus,
  resetNativeKernels,
} from "../../src/kernels/native.js";

// --- helpers ---------------------------------------------------------------------------------

const N = 1 << 20; // 1 048 576 inputs per kernel (and per geohash precision)


function sharedF64(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(n * 8));
}
function sharedU32(n: number): Uint32Array {
  return new Uint32Array(new SharedArrayBuffer(n * 4));
}

interface Diff {
  /** Values compared. */
  compared: number;
  /** Pairs that are both NaN (equal here whatever their payload bits). */
  bothNaN: number;
  /** Index of the first pair whose bits differ (-1: none). */
  first: number;
  mismatches: number;
}

/** Bitwise comparison of two f64 arrays (so +0 ≠ -0); two NaNs count as equal. */
function diffF64(a: Float64Array, b: Float64Array, n: number): Diff {
  const ua = new Uint32Array(a.buffer, a.byteOffset, 2 * n);
  const ub = new Uint32Array(b.buffer, b.byteOffset, 2 * n);
  const d: Diff = { compared: n, bothNaN: 0, first: -1, mismatches: 0 };
  for (let i = 0; i < n; i++) {
    if (ua[2 * i] === ub[2 * i] && ua[2 * i + 1] === ub[2 * i + 1]) {
      if (a[i] !== a[i]) d.bothNaN++;
      continue;
    }
    if (a[i] !== a[i] && b[i] !== b[i]) {
      d.bothNaN++;
      continue;
    }
    if (d.first < 0) d.first = i;
    d.mismatches++;
  }
  return d;
}

function diffU32(a: Uint32Array, b: Uint32Array, n: number): Diff {
  const d: Diff = { compared: n, bothNaN: 0, first: -1, mismatches: 0 };
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      if (d.first < 0) d.first = i;
      d.mismatches++;
    }
  }
  return d;
}

/** Values every coordinate array starts with: poles, antimeridian, zeros, NaN, infinities, huge. */
const SPECIALS = [
  0, -0, 90, -90, 180, -180, nextDown(90), nextUp(-90), nextDown(180), nextUp(-180), nextUp(90), nextDown(-90),
  nextUp(180), nextDown(-180), 360, -360, 720, 1e-300, -1e-300, Number.MIN_VALUE, 1e6, -1e6, 1e10, 1e22, 1e300,
  -1e300, Number.MAX_VALUE, NaN, Infinity, -Infinity, 45, -45, 135, 0.5, 1,
] as const;

/** A random finite double over the whole exponent range, either sign. */
function wildDouble(next: () => number): number {
  const hi = next();
  const lo = next();
  scratch.setUint32(0, hi);
  scratch.setUint32(4, lo);
  const x = scratch.getFloat64(0);
  return Number.isFinite(x) ? x : unit53(next) * 1e3;
}

/** Geohash cell boundaries `min + j*step` of one coordinate at `bits` bits, and neighbours. */
function geohashBoundary(next: () => number, min: number, range: number, bits: number): number {
  const cells = 2 ** bits;
  const j = Math.floor(unit53(next) * (cells + 1));
  const b = min + j * (range / cells);
  const r = next() % 3;
  return r === 0 ? b : r === 1 ? nextUp(b) : nextDown(b);
}

/** Random coordinates: `kind` picks the distribution, so every batch mixes all of them. */
function coordinate(next: () => number, limit: number): number {
  const kind = next() % 16;
  if (kind < 8) return (unit53(next) * 2 - 1) * limit; // valid range, uniform
  if (kind < 10) return (unit53(next) * 2 - 1) * limit * 4; // out of range
  if (kind < 11) return SPECIALS[next() % SPECIALS.length]!;
  if (kind < 12) return wildDouble(next);
  if (kind < 14) return (next() & 1 ? limit : -limit) - (next() & 1 ? -1 : 1) * unit53(next) * 1e-6; // near the edge
  return Math.round((unit53(next) * 2 - 1) * limit * 8) / 8; // "round" coordinates
}

// --- loader and fallback (always run) ---------------------------------------------------------

describe("native kernel loader", () => {
  const saved = process.env[NATIVE_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[NATIVE_ENV];
    else process.env[NATIVE_ENV] = saved;
    resetNativeKernels();
  });

  it(`returns undefined when ${NATIVE_ENV}=0, and the wrappers then run the JS kernels`, () => {
    process.env[NATIVE_ENV] = "0";
    resetNativeKernels();
    expect(loadNativeKernels()).toBeUndefined();
    expect(nativeStatus().reason).toBe(`${NATIVE_ENV}=0`);

    const n = 4096;
    const next = mulberry32(7);
    const lat = sharedF64(n);
    const lon = sharedF64(n);
    for (let i = 0; i < n; i++) {
      lat[i] = coordinate(next, 90);
      lon[i] = coordinate(next, 180);
    }
    const hi = sharedU32(n);
    const lo = sharedU32(n);
    const refHi = new Uint32Array(n);
    const refLo = new Uint32Array(n);
    geohashEncodeBatchFast(lat, lon, n, 9, hi, lo);
    geohashEncodeBatch(lat, lon, n, 9, refHi, refLo);
    expect(diffU32(hi, refHi, n).mismatches + diffU32(lo, refLo, n).mismatches).toBe(0);
    // The distance wrappers too: forced JS even though the addon may be built.
    const out = sharedF64(n);
    const ref = sharedF64(n);
    haversineBatchFast(lat, lon, lon, lat, n, out);
    haversineBatch(lat, lon, lon, lat, n, ref);
    expect(diffF64(out, ref, n).mismatches).toBe(0);
    etaBatchFast(lat, lon, lon, lat, lat, n, out, 17);
    etaBatch(lat, lon, lon, lat, lat, n, ref, 17);
    expect(diffF64(out, ref, n).mismatches).toBe(0);
  });

  it("reads the environment once, until reset", () => {
    delete process.env[NATIVE_ENV];
    resetNativeKernels();
    const first = loadNativeKernels();
    process.env[NATIVE_ENV] = "0";
    expect(loadNativeKernels()).toBe(first);
    resetNativeKernels();
    expect(loadNativeKernels()).toBeUndefined();
  });

  it("points at native-bindings/build/Release/riptide_native.node", () => {
    expect(nativeAddonPath()).toMatch(/native-bindings[\\/]build[\\/]Release[\\/]riptide_native\.node$/);
  });

  it("returns undefined, with a reason, for a missing addon", () => {
    const s = loadNativeKernelsFrom(join(tmpdir(), "riptide-no-such-dir", "riptide_native.node"));
    expect(s.kernels).toBeUndefined();
    expect(s.reason).toMatch(/^not built/);
  });

  it("returns undefined, with a reason, for an addon that fails to load", () => {
    const dir = mkdtempSync(join(tmpdir(), "riptide-native-"));
    const bogus = join(dir, "riptide_native.node");
    writeFileSync(bogus, "this is not a shared object");
    const s = loadNativeKernelsFrom(bogus);
    expect(s.kernels).toBeUndefined();
    expect(s.reason).toMatch(/^failed to load/);
  });

  it("the wrappers validate like the JS kernels, native or not", () => {
    for (const env of ["0", undefined]) {
      if (env === undefined) delete process.env[NATIVE_ENV];
      else process.env[NATIVE_ENV] = env;
      resetNativeKernels();
      const f = new Float64Array(4);
      const u = new Uint32Array(4);
      expect(() => geohashEncodeBatchFast(f, f, 4, 13, u, u)).toThrow(
        new RangeError("precision must be an integer in 1..12, got 13"),
      );
      expect(() => geohashEncodeBatchFast(f, f, 5, 5, u, u)).toThrow(
        new RangeError("n must be an integer in 0..4 (the shortest array's length), got 5"),
      );
      expect(() => haversineBatchFast(f, f, f, f, 1.5, f)).toThrow(RangeError);
      expect(() => etaBatchFast(f, f, f, f, f, -1, f)).toThrow(RangeError);
    }
  });
});

// --- native vs JS (only when the addon is built) -----------------------------------------------

resetNativeKernels();
const native = process.env[NATIVE_ENV] === "0" ? undefined : loadNativeKernels();
const why = native === undefined ? ` (skipped: ${nativeStatus().reason ?? "addon unavailable"})` : "";
if (native === undefined) console.warn(`native.test.ts: native-vs-JS comparisons skipped: ${nativeStatus().reason}`);

describe.skipIf(native === undefined)(`native kernels are bit-exact with the JS kernels${why}`, () => {
  const k = native!;

  it(`fdlibm sin/cos/asin equal V8's Math.sin/cos/asin on ${N} inputs each`, () => {
    const next = mulberry32(0xf00d);
    let bad = 0;
    let firstBad = "";
    for (let i = 0; i < N; i++) {
      // Magnitudes 2^-30 .. 2^40 (covers every argument-reduction path), plus wild doubles.
      const x = i % 8 === 0 ? wildDouble(next) : (unit53(next) * 2 - 1) * 2 ** ((next() % 71) - 30);
      const y = unit53(next) * 2 - 1;
      for (const [got, want] of [
        [k.sin(x), Math.sin(x)],
        [k.cos(x), Math.cos(x)],
        [k.asin(y), Math.asin(y)],
      ] as const) {
        if (!Object.is(got, want)) {
          bad++;
          firstBad ||= `x=${x} y=${y}: ${got} vs ${want}`;
        }
      }
    }
    expect(firstBad).toBe("");
    expect(bad).toBe(0);
  });

  it(`geohashEncodeBatch at precisions 1..12, ${N} points each, cell boundaries and neighbours included`, () => {
    const lat = sharedF64(N);
    const lon = sharedF64(N);
    const hi = sharedU32(N);
    const lo = sharedU32(N);
    const refHi = sharedU32(N);
    const refLo = sharedU32(N);
    for (let p = 1; p <= GEOHASH_MAX_PRECISION; p++) {
      const next = mulberry32(0x9e0 + p);
      const bits = 5 * p;
      for (let i = 0; i < N; i++) {
        const kind = next() % 4;
        if (kind === 0) {
          // Exact boundaries of this precision (and of a coarser one) and their nextafter neighbours.
          const m = next() % (bits >> 1) + 1;
          lat[i] = geohashBoundary(next, -90, 180, m);
          lon[i] = geohashBoundary(next, -180, 360, next() & 1 ? (bits + 1) >> 1 : m);
        } else {
          lat[i] = coordinate(next, 90);
          lon[i] = coordinate(next, 180);
        }
      }
      SPECIALS.forEach((v, j) => {
        lat[j] = v;
        lon[SPECIALS.length - 1 - j] = v;
      });
      hi.fill(0xdeadbeef);
      lo.fill(0xdeadbeef);
      k.geohashEncodeBatch(lat, lon, N, p, hi, lo);
      geohashEncodeBatch(lat, lon, N, p, refHi, refLo);
      expect({ p, hi: diffU32(hi, refHi, N), lo: diffU32(lo, refLo, N) }).toEqual({
        p,
        hi: { compared: N, bothNaN: 0, first: -1, mismatches: 0 },
        lo: { compared: N, bothNaN: 0, first: -1, mismatches: 0 },
      });
    }
  });

  function makeQuads(seed: number): { lat1: Float64Array; lon1: Float64Array; lat2: Float64Array; lon2: Float64Array } {
    const next = mulberry32(seed);
    const lat1 = sharedF64(N);
    const lon1 = sharedF64(N);
    const lat2 = sharedF64(N);
    const lon2 = sharedF64(N);
    for (let i = 0; i < N; i++) {
      const a = coordinate(next, 90);
      const b = coordinate(next, 180);
      lat1[i] = a;
      lon1[i] = b;
      switch (next() % 8) {
        case 0: // near-antipodal: √a rounds to ≥ 1 (the cap)
          lat2[i] = -a + (unit53(next) - 0.5) * 1e-9;
          lon2[i] = b + 180 + (unit53(next) - 0.5) * 1e-9;
          break;
        case 1: // same point, or one ulp away
          lat2[i] = next() & 1 ? a : nextUp(a);
          lon2[i] = next() & 1 ? b : nextDown(b);
          break;
        case 2: // across the antimeridian
          lat2[i] = a + (unit53(next) - 0.5) * 0.1;
          lon2[i] = b > 0 ? -180 + unit53(next) * 0.01 : 180 - unit53(next) * 0.01;
          break;
        case 3: // close (a city), the common case
          lat2[i] = a + (unit53(next) - 0.5) * 0.2;
          lon2[i] = b + (unit53(next) - 0.5) * 0.2;
          break;
        default:
          lat2[i] = coordinate(next, 90);
          lon2[i] = coordinate(next, 180);
      }
    }
    SPECIALS.forEach((v, j) => {
      lat1[j] = v;
      lon2[j] = v;
      lat2[SPECIALS.length + j] = v;
      lon1[SPECIALS.length + j] = v;
    });
    return { lat1, lon1, lat2, lon2 };
  }

  it(`haversineBatch on ${N} point pairs (poles, antimeridian, antipodes, NaN, huge)`, () => {
    const { lat1, lon1, lat2, lon2 } = makeQuads(0x4a5e);
    const out = sharedF64(N);
    const ref = sharedF64(N);
    k.haversineBatch(lat1, lon1, lat2, lon2, N, out);
    haversineBatch(lat1, lon1, lat2, lon2, N, ref);
    const d = diffF64(out, ref, N);
    expect(d.first < 0 ? "" : `i=${d.first}: ${out[d.first]} vs ${ref[d.first]}`).toBe("");
    expect(d.mismatches).toBe(0);
    expect(d.bothNaN).toBeGreaterThan(0); // the NaN inputs were exercised
  });

  it(`etaBatch on ${N} driver/request pairs, odd traffic and base speeds included`, () => {
    const { lat1, lon1, lat2, lon2 } = makeQuads(0xe7a);
    const next = mulberry32(0x7aff1c);
    const traffic = sharedF64(N);
    const oddTraffic = [0, -0, -1, 1, NaN, Infinity, -Infinity, 1e-300, 1e300] as const;
    for (let i = 0; i < N; i++) {
      traffic[i] = next() % 32 === 0 ? oddTraffic[next() % oddTraffic.length]! : 0.5 + unit53(next) * 3;
    }
    const out = sharedF64(N);
    const ref = sharedF64(N);
    for (const base of [30, 17.3, 0, -5, NaN, Infinity]) {
      k.etaBatch(lat1, lon1, lat2, lon2, traffic, N, out, base);
      etaBatch(lat1, lon1, lat2, lon2, traffic, N, ref, base);
      const d = diffF64(out, ref, N);
      expect({ base, first: d.first < 0 ? "" : `i=${d.first}: ${out[d.first]} vs ${ref[d.first]}`, mismatches: d.mismatches })
        .toEqual({ base, first: "", mismatches: 0 });
    }
  });

  it("writes exactly n outputs (canaries after n stay untouched)", () => {
    const n = 1000;
    const f = sharedF64(n + 8).fill(1.25);
    const out = sharedF64(n + 8).fill(-7);
    const hi = sharedU32(n + 8).fill(0xcafe);
    const lo = sharedU32(n + 8).fill(0xcafe);
    k.haversineBatch(f, f, f, f, n, out);
    k.etaBatch(f, f, f, f, f, n, out, 30);
    k.geohashEncodeBatch(f, f, n, 12, hi, lo);
    for (let i = n; i < n + 8; i++) {
      expect([out[i], hi[i], lo[i]]).toEqual([-7, 0xcafe, 0xcafe]);
    }
  });

  it("works on views at an offset into a SharedArrayBuffer", () => {
    const sab = new SharedArrayBuffer(8 * 4096);
    const lat = new Float64Array(sab, 8 * 16, 1000);
    const lon = new Float64Array(sab, 8 * 1100, 1000);
    const out = new Float64Array(sab, 8 * 2200, 1000);
    const ref = new Float64Array(1000);
    const next = mulberry32(3);
    for (let i = 0; i < 1000; i++) {
      lat[i] = coordinate(next, 90);
      lon[i] = coordinate(next, 180);
    }
    k.haversineBatch(lat, lon, lon, lat, 1000, out);
    haversineBatch(lat, lon, lon, lat, 1000, ref);
    expect(diffF64(out, ref, 1000).mismatches).toBe(0);
  });

  it("rejects arrays of the wrong type and n beyond the arrays instead of reading past them", () => {
    const f = new Float64Array(4);
    const u = new Uint32Array(4);
    expect(() => k.haversineBatch(f, f, f, f, 5, f)).toThrow(RangeError);
    expect(() => k.geohashEncodeBatch(f, f, 4, 5, u, new Uint32Array(2))).toThrow(RangeError);
    expect(() => k.haversineBatch(f, f, f, f, 4, u as unknown as Float64Array)).toThrow(TypeError);
    expect(() => k.geohashEncodeBatch(f, f, 4, 0, u, u)).toThrow(RangeError);
  });

  it("the Fast wrappers use it", () => {
    resetNativeKernels();
    expect(loadNativeKernels()).toBe(k);
    const n = 1000;
    const f = new Float64Array(n).fill(12.5);
    const out = new Float64Array(n);
    haversineBatchFast(f, f, f, f, n, out);
    etaBatchFast(f, f, f, f, f, n, out);
    expect(out[0]).toBe(0);
  });
});
