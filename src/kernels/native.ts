/**
 * The optional native kernels (native-bindings/, an N-API addon) and the `…Fast` wrappers that use
 * them when they load and the JS kernels otherwise.
 *
 *   geohashEncodeBatchFast ─┐                      ┌─► riptide_native.node  (native-bindings/build/Release)
 *   haversineBatchFast ─────┤                      │
 *   etaBatchFast ───────────┼─► loadNativeKernels ─┤
 *   windowAddBatchFast ─────┘   (once per thread,  └─► undefined ─► the JS kernel (geohash.ts, geo.ts,
 *                                lazily)                              window-table.ts)
 *
 * driver-tracking's shard processor (src/pipelines/driver-tracking/shard.ts) calls the addon's
 * fused `driverTrackingBatch` directly: one native call per batch for its whole chain.
 *
 * The JS kernels are the reference: the native ones perform the same floating-point operations in
 * the same order (with V8's fdlibm sin/cos/asin, not libm's) and `test/kernels/native.test.ts`
 * requires bit-exact equality on millions of inputs. The addon is loaded on first use, never at
 * import, once per thread (module state is per worker thread); it is `undefined` when it is not
 * built (`node scripts/build-native.mjs` builds it), fails to load, has another ABI version, or
 * `RIPTIDE_NATIVE=0` is set. Loading never throws; `RIPTIDE_NATIVE=1` makes `requireNativeKernels`
 * (used where a processor is built) throw instead of falling back, for runs that must be native.
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
import type { WindowTable } from "./window-table.js";

/** The addon's `abiVersion` this module expects; any other is treated as not loadable. */
export const NATIVE_ABI_VERSION = 3;

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
  /**
   * `WindowTable.add(inKeys[i], inStarts[i], inValues[i])` for io[IO_FROM] ≤ i < io[IO_N], in place
   * on the table's arrays (counters in/out through `io`, see the IO_* constants). Stops with
   * STATUS_NEED_GROW before a record whose new entry needs the table to grow first.
   */
  windowAddBatch(
    used: Uint8Array, keys: Uint32Array, starts: Float64Array, count: Float64Array, sum: Float64Array,
    n: Float64Array, min: Float64Array, max: Float64Array,
    inKeys: Uint32Array, inStarts: Float64Array, inValues: Float64Array, io: Float64Array,
  ): void;
  /**
   * `DriverTrackingShard.process` (both passes) for io[IO_FROM] ≤ i < io[IO_N], in place on the
   * input columns, the per-driver arrays and the window table's arrays. Side outputs are written to
   * `sides`, 4 words each (record index, SIDE_* tag, detail, detail2), io[IO_SIDES] of them. With
   * io[IO_POSITIONS] = 1 it also keeps the shard's `positions` bookkeeping (lastRegion, movedIn,
   * moved; io[IO_BATCH_NO], io[IO_MOVED]). Stops with STATUS_NEED_DRIVERS or STATUS_NEED_GROW
   * before the record that needs it (io[IO_NEXT]).
   */
  driverTrackingBatch(
    driverId: Uint32Array, lat: Float64Array, lon: Float64Array, ts: Float64Array, speedKmh: Float64Array,
    wm: Float64Array, reason: Uint8Array, lastLat: Float64Array, lastLon: Float64Array, lastTs: Float64Array,
    used: Uint8Array, keys: Uint32Array, starts: Float64Array, count: Float64Array, sum: Float64Array,
    n: Float64Array, min: Float64Array, max: Float64Array, sides: Float64Array, io: Float64Array,
    lastRegion: Uint32Array, movedIn: Float64Array, moved: Uint32Array,
  ): void;
  /** V8's fdlibm `Math.sin`, as the addon computes it (exported for the tests). */
  sin(x: number): number;
  /** V8's fdlibm `Math.cos`. */
  cos(x: number): number;
  /** V8's fdlibm `Math.asin`. */
  asin(x: number): number;
}

// The `io` words of the batch kernels (native-bindings/src/kernels.cc, enum Io): inputs, results.
export const IO_FROM = 0;
export const IO_N = 1;
/** In: the table's entry count. */
export const IO_SIZE = 2;
/** In: the table's smallest window start. */
export const IO_MIN_START = 3;
/** In: window size in ms. */
export const IO_SIZE_MS = 4;
export const IO_GRACE_MS = 5;
export const IO_MAX_SPEED_KMH = 6;
export const IO_SPEED_SCALE = 7;
/** In: geohash precision of the region (1..6). */
export const IO_PRECISION = 8;
/** In: 1 to keep the per-batch moved-driver list (driver-tracking's `positions`), else 0. */
export const IO_POSITIONS = 9;
/** Out: STATUS_*. */
export const IO_STATUS = 10;
/** Out: the record the kernel stopped before (n when done). */
export const IO_NEXT = 11;
/** Out: side outputs written. */
export const IO_SIDES = 12;
export const IO_OUT_SIZE = 13;
export const IO_OUT_MIN_START = 14;
/** In: the batch number marking `movedIn`. */
export const IO_BATCH_NO = 15;
/** In/out: drivers on the moved list so far. */
export const IO_MOVED = 16;
export const IO_WORDS = 20;
export const STATUS_DONE = 0;
/** The next record needs a new table entry and the table must grow first (`growForInsert`). */
export const STATUS_NEED_GROW = 1;
/** The next record's driver id is beyond the per-driver arrays. */
export const STATUS_NEED_DRIVERS = 2;
// Side-output tags in `sides`.
export const SIDE_INVALID = 1;
export const SIDE_ANOMALY = 2;
export const SIDE_LATE = 3;

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

/**
 * `loadNativeKernels()`, except that with `RIPTIDE_NATIVE=1` a missing addon is an error (naming
 * the reason) instead of the JS fallback.
 */
export function requireNativeKernels(): NativeKernels | undefined {
  const s = (status ??= probe());
  if (s.kernels === undefined && process.env[NATIVE_ENV] === "1") {
    throw new Error(`${NATIVE_ENV}=1 but the native kernels are unavailable: ${s.reason ?? "unknown reason"}`);
  }
  return s.kernels;
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
    for (const name of ["geohashEncodeBatch", "haversineBatch", "etaBatch", "windowAddBatch", "driverTrackingBatch", "sin", "cos", "asin"] as const) {
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

const addIo = new Float64Array(IO_WORDS);

/**
 * `table.addBatch(keys, starts, values, n)` (window-table.ts), native when available: the same
 * entries, capacity and slot order afterwards, so closing emits the same windows in the same order.
 */
export function windowAddBatchFast(
  table: WindowTable,
  keys: Uint32Array,
  starts: Float64Array,
  values: Float64Array,
  n: number,
): void {
  const k = (status ??= probe()).kernels;
  if (k === undefined) return table.addBatch(keys, starts, values, n);
  checkBatchLength(n, Math.min(keys.length, starts.length, values.length));
  const io = addIo;
  io[IO_FROM] = 0;
  io[IO_N] = n;
  io[IO_SIZE_MS] = table.sizeMs;
  for (;;) {
    const a = table.arrays;
    io[IO_SIZE] = table.size;
    io[IO_MIN_START] = table.smallestStart;
    k.windowAddBatch(a.used, a.keys, a.starts, a.count, a.sum, a.n, a.min, a.max, keys, starts, values, io);
    table.setCounters(io[IO_OUT_SIZE]!, io[IO_OUT_MIN_START]!);
    if (io[IO_STATUS] === STATUS_DONE) return;
    table.growForInsert(); // STATUS_NEED_GROW: where the JS insert grows, then resume at that record
    io[IO_FROM] = io[IO_NEXT]!;
  }
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
