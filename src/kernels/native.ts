/**
 * The optional native kernels (native-bindings/, an N-API addon) and the `…Fast` wrappers that use
 * them when they load and the JS kernels otherwise.
 *
 *   geohashEncodeBatchFast ─┐                      ┌─► riptide_native.node  (native-bindings/build/Release)
 *   haversineBatchFast ─────┼─► loadNativeKernels ─┤
 *   etaBatchFast ───────────┘   (once, lazily)     └─► undefined ─► the JS kernel (geohash.ts, geo.ts)
 *
 * The JS kernels are the reference: the native ones perform the same floating-point operations in
 * the same order (with V8's fdlibm sin/cos/asin, not libm's) and `test/kernels/native.test.ts`
 * requires bit-exact equality on millions of inputs. The addon is loaded on first use, never at
 * import; it is `undefined` when it is not built (`node scripts/build-native.mjs` builds it), fails
 * to load, has another ABI version, or `RIPTIDE_NATIVE=0` is set. Loading never throws.
 *
 * The wrappers take and fill the same typed arrays as the JS kernels, views of a SharedArrayBuffer
 * included, validate `precision` and `n` with the JS kernels' messages, and never allocate.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_BASE_SPEED_KMH, etaBatch, haversineBatch } from "./geo.js";
import { GEOHASH_MAX_PRECISION, geohashEncodeBatch } from "./geohash.js";

/** The addon's `abiVersion` this module expects; any other is treated as not loadable. */
export const NATIVE_ABI_VERSION = 1;

/** The environment variable that switches the native kernels off when set to `"0"`. */
export const NATIVE_ENV = "RIPTIDE_NATIVE";

/** The addon's exports (native-bindings/src/kernels.cc). Argument order is the JS kernels'. */
export interface NativeKernels {
  readonly abiVersion: number;
  geohashEncodeBatch(
    lat: Float64Array,
    lon: Float64Array,
    n: number,
    precision: number,
    outHi: Uint32Array,
    outLo: Uint32Array,
  ): void;
  haversineBatch(
    lat1: Float64Array,
    lon1: Float64Array,
    lat2: Float64Array,
    lon2: Float64Array,
    n: number,
    out: Float64Array,
  ): void;
  etaBatch(
    driverLat: Float64Array,
    driverLon: Float64Array,
    reqLat: Float64Array,
    reqLon: Float64Array,
    traffic: Float64Array,
    n: number,
    outMinutes: Float64Array,
    baseSpeedKmh: number,
  ): void;
  /** V8's fdlibm `Math.sin`, as the addon computes it (exported for the tests). */
  sin(x: number): number;
  /** V8's fdlibm `Math.cos`. */
  cos(x: number): number;
  /** V8's fdlibm `Math.asin`. */
  asin(x: number): number;
}

/** Why `loadNativeKernels` returned what it did. */
export interface NativeStatus {
  /** The kernels, or undefined when the JS kernels are used. */
  kernels: NativeKernels | undefined;
  /** Where the addon was looked for (undefined when the path could not be determined). */
  path: string | undefined;
  /** Why the kernels are undefined (`RIPTIDE_NATIVE=0`, not built, the load error, …). */
  reason: string | undefined;
}

let status: NativeStatus | undefined;

/**
 * The native kernels, or undefined (see the module comment). The first call decides, later calls
 * return the same answer until `resetNativeKernels()`.
 */
export function loadNativeKernels(): NativeKernels | undefined {
  return (status ??= probe()).kernels;
}

/** `loadNativeKernels()` with where it looked and why it found nothing. */
export function nativeStatus(): NativeStatus {
  return (status ??= probe());
}

/** Forgets the loaded (or failed) state, so the next call re-reads `RIPTIDE_NATIVE` (for tests). */
export function resetNativeKernels(): void {
  status = undefined;
}

/** The addon file this module loads: `native-bindings/build/Release/riptide_native.node`. */
export function nativeAddonPath(): string | undefined {
  try {
    let dir = dirname(fileURLToPath(import.meta.url));
    // src/kernels (vitest, tsx) or dist/src/kernels (tsc output): the root holds package.json.
    for (let i = 0; i < 6; i++) {
      if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "native-bindings"))) {
        return join(dir, "native-bindings", "build", "Release", "riptide_native.node");
      }
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  } catch {
    // Not a file: URL (bundled, eval'd, a browser-like context): no addon.
  }
  return undefined;
}

/**
 * Loads the addon at `path` and checks its shape; never throws. `loadNativeKernels` calls it with
 * `nativeAddonPath()`; tests call it with other paths to exercise the failure cases.
 */
export function loadNativeKernelsFrom(path: string): NativeStatus {
  if (!existsSync(path)) {
    return { kernels: undefined, path, reason: `not built (${path} is missing; run node scripts/build-native.mjs)` };
  }
  try {
    const require = createRequire(import.meta.url);
    const mod = require(path) as Partial<NativeKernels>;
    if (mod.abiVersion !== NATIVE_ABI_VERSION) {
      return { kernels: undefined, path, reason: `ABI version ${String(mod.abiVersion)}, expected ${NATIVE_ABI_VERSION}; rebuild it` };
    }
    for (const name of ["geohashEncodeBatch", "haversineBatch", "etaBatch", "sin", "cos", "asin"] as const) {
      if (typeof mod[name] !== "function") return { kernels: undefined, path, reason: `the addon has no ${name}; rebuild it` };
    }
    return { kernels: mod as NativeKernels, path, reason: undefined };
  } catch (e) {
    return { kernels: undefined, path, reason: `failed to load: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function probe(): NativeStatus {
  if (process.env[NATIVE_ENV] === "0") return { kernels: undefined, path: undefined, reason: `${NATIVE_ENV}=0` };
  const path = nativeAddonPath();
  if (path === undefined) return { kernels: undefined, path, reason: "no addon path (not loaded from a file in the project)" };
  return loadNativeKernelsFrom(path);
}

/** `geohashEncodeBatch` (geohash.ts), native when available. Same arguments, results and errors. */
export function geohashEncodeBatchFast(
  lat: Float64Array,
  lon: Float64Array,
  n: number,
  precision: number,
  outHi: Uint32Array,
  outLo: Uint32Array,
): void {
  const k = (status ??= probe()).kernels;
  if (k === undefined) return geohashEncodeBatch(lat, lon, n, precision, outHi, outLo);
  checkPrecision(precision, GEOHASH_MAX_PRECISION);
  checkBatchLength(n, Math.min(lat.length, lon.length, outHi.length, outLo.length));
  k.geohashEncodeBatch(lat, lon, n, precision, outHi, outLo);
}

/** `haversineBatch` (geo.ts), native when available. Same arguments, results and errors. */
export function haversineBatchFast(
  lat1: Float64Array,
  lon1: Float64Array,
  lat2: Float64Array,
  lon2: Float64Array,
  n: number,
  out: Float64Array,
): void {
  const k = (status ??= probe()).kernels;
  if (k === undefined) return haversineBatch(lat1, lon1, lat2, lon2, n, out);
  checkBatchLength(n, Math.min(lat1.length, lon1.length, lat2.length, lon2.length, out.length));
  k.haversineBatch(lat1, lon1, lat2, lon2, n, out);
}

/**
 * `etaBatch` (geo.ts), native when available. Same arguments, results and errors.
 * @param baseSpeedKmh @default 30
 */
export function etaBatchFast(
  driverLat: Float64Array,
  driverLon: Float64Array,
  reqLat: Float64Array,
  reqLon: Float64Array,
  traffic: Float64Array,
  n: number,
  outMinutes: Float64Array,
  baseSpeedKmh: number = DEFAULT_BASE_SPEED_KMH,
): void {
  const k = (status ??= probe()).kernels;
  if (k === undefined) return etaBatch(driverLat, driverLon, reqLat, reqLon, traffic, n, outMinutes, baseSpeedKmh);
  checkBatchLength(
    n,
    Math.min(driverLat.length, driverLon.length, reqLat.length, reqLon.length, traffic.length, outMinutes.length),
  );
  // The JS kernel coerces like any arithmetic; the addon takes a number.
  k.etaBatch(driverLat, driverLon, reqLat, reqLon, traffic, n, outMinutes, +baseSpeedKmh);
}

// The JS kernels' checks, with their messages (geohash.ts, geo.ts).
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
