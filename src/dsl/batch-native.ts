/**
 * The batch plan's fused record loop in native code: a physical operator the plan picks when it is
 * a recognised chain of built-ins (what Spark and Flink do with whole-stage code generation, here
 * one compiled loop for every such plan):
 *
 *   BatchShardProcessor.process ─► fused plan, tumbling windows, typed columns, addon built?
 *        │ yes: processNative ─► dslFusedBatch (native-bindings/src/kernels.cc), one call per batch,
 *        │      more only where JS must act: a window close, a table or store to grow
 *        │      ◄─ side outputs (invalid, flagged, late) as a list, emitted in record order
 *        └ no:  processFused (the JS loop, the reference)
 *
 * The native loop performs processFused's floating-point operations in the same order (built
 * without fast-math or FMA, V8's fdlibm for the exact speed check), so the window table, the
 * per-key store and the outputs are the JS loop's, bit for bit; test/dsl/batch-native.test.ts
 * compares them. The addon loads lazily (src/kernels/native.ts: `RIPTIDE_NATIVE=0` switches it off);
 * an addon built before this entry point lacks `dslFusedBatch` and the JS loop runs. Config
 * `kernels: "js"` forces the JS loop for one processor.
 *
 * @module
 */
import { loadNativeKernels, type NativeKernels } from "../kernels/native.js";

/** The addon's `dslFusedBatch` (see the C++ comment): arguments in this order. */
export type DslFusedBatch = (
  key: Uint32Array, ts: Float64Array, wm: Float64Array, reason: Uint8Array, lat: Float64Array, lon: Float64Array,
  value: Float64Array, steps: Uint8Array, store: Float64Array, used: Uint8Array, rows: Float64Array,
  sides: Float64Array, io: Float64Array,
) => void;

// dslFusedBatch's io words (kernels.cc enum DslIo).
/** In: the first record; in: the batch's length. */
export const D_FROM = 0;
export const D_N = 1;
/** In/out: the window table's entries, smallest start, next insertion number; the shard's watermark. */
export const D_SIZE = 2;
export const D_MIN_START = 3;
export const D_NEXT_SEQ = 4;
export const D_WATERMARK = 5;
/** In: the plan's tumbling windows, the table's bound on entries. */
export const D_SIZE_MS = 6;
export const D_GRACE_MS = 7;
export const D_LIMIT = 8;
/** In: 1 when the key is Fields.geohashCode of lat/lon at D_PRECISION (else the key column). */
export const D_KEY_GEOHASH = 9;
export const D_PRECISION = 10;
/** In: 1 when the aggregate reads a value column. */
export const D_HAS_VALUE = 11;
/** In: the number of steps. */
export const D_STEPS = 12;
/** In: Fields.speedLimit's limit; its store's row stride, the offsets of lat, lon, ts in a row, its rows. */
export const D_MAX_KMH = 13;
export const D_STRIDE = 14;
export const D_O_LAT = 15;
export const D_O_LON = 16;
export const D_O_TS = 17;
export const D_STORE_ROWS = 18;
/** In: the pre-check's constants (kernels/geo.ts PRECHECK_*). */
export const D_RAD = 19;
export const D_FOUR_R2 = 20;
export const D_SAFETY = 21;
/** Out: DSL_STATUS_*, the record it stopped before, side outputs written, store keys that got state. */
export const D_STATUS = 22;
export const D_NEXT = 23;
export const D_SIDES = 24;
export const D_LIVE_ADDED = 25;
/** In: the window table's words per entry (BatchWindowTable.w): 9, or 7 without min and max. */
export const D_ROW_WORDS = 26;
export const D_WORDS = 32;

export const DSL_STATUS_DONE = 0;
/** The record's window needs a new entry and the table is full or must grow first. */
export const DSL_STATUS_NEED_GROW = 1;
/** The record's key is beyond the per-key store's rows. */
export const DSL_STATUS_NEED_STORE = 2;
/** The record moved the watermark (io[D_WATERMARK], already set) past the smallest open window's close. */
export const DSL_STATUS_NEED_CLOSE = 3;

/** Words per side output: record, tag, step, a, b, c. */
export const SIDE_WORDS = 6;
/** The record's reason column is not 0: the invalid output. */
export const DSL_SIDE_INVALID = 1;
/** Fields.checkLatLon (step) flagged it. */
export const DSL_SIDE_CHECK = 2;
/** Fields.speedLimit (step) flagged it: a, b, c = the key's last lat, lon, ts. */
export const DSL_SIDE_SPEED = 3;
/** Every window of the record closed: a = the watermark. */
export const DSL_SIDE_LATE = 4;

/**
 * The addon's dslFusedBatch, or undefined (not built, an older build, `RIPTIDE_NATIVE=0`); for a
 * window table of 7-word rows (`rowWords` 7) only a build that reads D_ROW_WORDS: an older one
 * takes every table for 9-word rows, and refuses a 7-word table as too short (the probe below).
 */
export function loadDslFusedBatch(rowWords = 9): DslFusedBatch | undefined {
  const k = loadNativeKernels() as (NativeKernels & { dslFusedBatch?: unknown }) | undefined;
  if (k === undefined || typeof k.dslFusedBatch !== "function") return undefined;
  const fn = k.dslFusedBatch as DslFusedBatch;
  if (rowWords === 9) return fn;
  if (narrowRows === undefined) {
    const io = new Float64Array(D_WORDS);
    io[D_ROW_WORDS] = 7;
    const none = new Float64Array(0);
    try {
      fn(new Uint32Array(0), none, none, new Uint8Array(0), none, none, none, new Uint8Array(0), none, new Uint8Array(2), new Float64Array(14), none, io);
      narrowRows = true;
    } catch {
      narrowRows = false;
    }
  }
  return narrowRows ? fn : undefined;
}

/** Whether the addon's dslFusedBatch takes 7-word window rows (probed once). */
let narrowRows: boolean | undefined;
