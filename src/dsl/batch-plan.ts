/**
 * Batch compilation of typed topologies on the worker engine: a topology of the shape
 *
 *   stream(schema) ─► filter/filterNot/processValues … ─► groupByKey() | groupBy(key function)
 *                  ─► windowedBy(TimeWindows) ─► count | sum | min | max | mean (emitted at close)
 *                  ─► toStream() ─► to(topic)
 *
 * runs over each ring batch as a columnar plan instead of one executor call per record:
 *
 *   pass 1 (columns, whole batch): built-in key functions (Fields.geohashCode: geohashEncodeBatch);
 *                       built-in processValues steps at the head of the chain (Fields.checkLatLon,
 *                       Fields.speedLimit on its per-key store's arrays: builtinPass), a verdict per record
 *   pass 2 (one loop):  invalid? → invalid output
 *                       watermark moved? → close the windows it closes
 *                       filters: built-ins (Fields.validLatLon) read the columns; user predicates
 *                                get one reused row object (no object per record)
 *                       processValues: a flagged record (its verdict, or a user processor's string
 *                                result; the processor gets the row, its key's state and a context)
 *                                goes to its flagged topic as an OUT_OBJECT (engine.ts renders it)
 *                       key: the key column, the pass-1 column, or the user function on the row
 *                       value: a field read straight from its column (recognised once, see
 *                              fieldOfSelector) or the user function on the row
 *                       windows: late check, then the typed window table (BatchWindowTable)
 *
 * A plan with no user function (fusedSteps: built-in filters and checks on one lat/lon pair, a source
 * or geohash key, a column value) runs pass 2 as one fused loop instead (processFused): the built-in
 * steps inline beside the window update, as the hand-written driver-tracking shard, no verdict pass.
 * With tumbling windows and the native addon built, that loop runs in native code, one call per
 * batch (processNative over the addon's dslFusedBatch, batch-native.ts), to the same outputs and state.
 *
 * Outputs are those of the record-at-a-time path (engine-shard.ts over executor.ts): the same window
 * results and partials (closed in order of window start, then first insertion), the same late,
 * invalid and user-error side outputs, emitted at the same points of the record sequence.
 * Anything else (other operators, update emission, retention, sliding or session windows) stays
 * on the record-at-a-time path: compileBatchPlan() says why it does not apply.
 *
 * One difference a user function can see: the value it gets is a row object reused for every
 * record of the shard (as the record-at-a-time path already does when no user function runs
 * before the aggregate); a function that keeps a reference to it sees it change. Config
 * `batch: false` (runTopology's option) keeps the record-at-a-time path.
 */
import { geohashEncodeBatch, geohashEncodeInt } from "../kernels/geohash.js";
import type { ProcessorConfig, ShardProcessor } from "../pipelines/processor.js";
import { OUT_INVALID, OUT_LATE, type OutputWriter } from "../ring/output.js";
import type { ColumnArray, FieldSpec } from "../schema/schema.js";
import { columnFnSpec, speedReason, validLatLon, type ColumnFnSpec } from "./columns.js";
import { PRECHECK_FOUR_R2 as FOUR_R2, PRECHECK_RAD as RAD, PRECHECK_SAFETY as SAFETY, speedExceedsKmh } from "../kernels/geo.js";
import { DSL_OUTPUT_TOO_LARGE, DSL_UNKNOWN_GROUP_KEY, DSL_USER_ERROR, NUMERIC_KEY, writeObjectOutput } from "./engine-common.js";
import { flaggedJson, keyJson, type FlaggedJson } from "./flagged-json.js";
import { StateStoreFullError, TopologyError } from "./errors.js";
import { keyOf } from "./executor.js";
import type { BuiltinOp, PlanNode, Topology } from "./plan.js";
import { SharedStrings } from "./shared-strings.js";
import { decodeState, encodeState, readText, writeText } from "./state-codec.js";
import type { TimeWindows } from "./windows.js";
import { FIX_REASONS, fixReason } from "../kernels/validate.js";
import { flaggedRecord, NO_STATE, PerKeyTable, type PerKeyStoreSpec, type ProcessorContext } from "./per-key-store.js";
import {
  D_FOUR_R2, D_FROM, D_GRACE_MS, D_HAS_VALUE, D_KEY_GEOHASH, D_LIMIT, D_LIVE_ADDED, D_MAX_KMH, D_MIN_START, D_N, D_NEXT,
  D_NEXT_SEQ, D_O_LAT, D_O_LON, D_O_TS, D_PRECISION, D_RAD, D_SAFETY, D_SIDES, D_SIZE, D_SIZE_MS, D_STATUS, D_STEPS,
  D_ROW_WORDS, D_STORE_ROWS, D_STRIDE, D_WATERMARK, D_WORDS, DSL_SIDE_CHECK, DSL_SIDE_INVALID, DSL_SIDE_LATE, DSL_STATUS_DONE,
  DSL_STATUS_NEED_CLOSE, DSL_STATUS_NEED_GROW, SIDE_WORDS, loadDslFusedBatch, type DslFusedBatch,
} from "./batch-native.js";

type Fn2 = (k: any, v: any) => unknown;

interface FilterStep {
  /** A user predicate (called with the row), or undefined for the built-in. */
  fn: Fn2 | undefined;
  negate: boolean;
  /** Built-in Fields.validLatLon (or, for processValues, Fields.checkLatLon): its field names. */
  lat: string;
  lon: string;
  /**
   * A processValues step instead of a filter (per-key-store.ts): its processor (undefined for the
   * built-in Fields.checkLatLon, read from the columns), its per-key store and its flagged topic.
   */
  process?: {
    fn: ((v: any, state: any, ctx: any) => unknown) | undefined; store: PerKeyStoreSpec | undefined; flagged: string;
    /** The built-in Fields.speedLimit, run on the store's arrays (fn is then undefined). */
    speed?: Extract<ColumnFnSpec, { kind: "speedLimit" }>;
  };
}

export interface BatchPlan {
  filters: FilterStep[];
  /** source: the key column; geohash: a column pass; user: the groupBy function on the row. */
  key: { kind: "source" } | { kind: "geohash"; lat: string; lon: string; precision: number } | { kind: "user"; fn: Fn2 };
  /** none: count without a value; column: a field read; user: the selector on the row. */
  value: { kind: "none" } | { kind: "column"; field: string } | { kind: "user"; fn: (v: any) => number };
  op: BuiltinOp;
  sizeMs: number;
  advanceMs: number;
  graceMs: number;
  store: string;
  /** groupBy: each shard sends its partial of a closed window (engine.ts partialsOf). */
  partials: boolean;
  /** Some step calls a user function with the row. */
  needsRow: boolean;
}

const isNumeric = (f: FieldSpec | undefined): boolean => f !== undefined && f.type !== "string" && f.type !== "text";

/**
 * The field a value selector reads, when it is a plain field read (`"speedKmh"` or
 * `v => v.speedKmh`): it is called twice, on probe objects that return a distinct number per field,
 * and must read exactly one numeric field and return its value both times. Anything else is a user
 * function (called per record).
 */
export function fieldOfSelector(fn: (v: any) => number, fields: readonly FieldSpec[]): string | undefined {
  let found: string | undefined;
  for (const base of [0.5, 0.25]) {
    const reads: string[] = [];
    const probe = new Proxy({}, {
      get(_t, p) {
        if (typeof p !== "string") return undefined;
        reads.push(p);
        const j = fields.findIndex((f) => f.name === p);
        return j < 0 ? undefined : 4_503_599_627 + j * 4 + base;
      },
    });
    let r: unknown;
    try {
      r = fn(probe);
    } catch {
      return undefined;
    }
    if (reads.length !== 1) return undefined;
    const j = fields.findIndex((f) => f.name === reads[0]);
    if (j < 0 || !isNumeric(fields[j]) || r !== 4_503_599_627 + j * 4 + base) return undefined;
    if (found !== undefined && found !== reads[0]) return undefined;
    found = reads[0];
  }
  return found;
}

/** The batch plan of a typed topology, or the reason it runs record at a time. */
export function compileBatchPlan(topology: Topology): BatchPlan | string {
  const nodes = topology.nodes;
  const src = nodes[0];
  if (src === undefined || src.kind !== "source" || !src.schema) return "the first node is not a stream source with a schema";
  // (A source's key function is not called on the engine: the key comes from the key column.)
  const fields = src.schema.fields;
  const field = (name: string) => fields.find((f) => f.name === name);
  const children = new Map<number, number>();
  for (const n of nodes) for (const p of n.parents) children.set(p, (children.get(p) ?? 0) + 1);
  const filters: FilterStep[] = [];
  let key: BatchPlan["key"] = { kind: "source" };
  let needsRow = false;
  let i = 1;
  for (; i < nodes.length; i++) {
    const n = nodes[i]!;
    if (n.parents.length !== 1 || n.parents[0] !== i - 1 || children.get(i - 1) !== 1) return `${n.name} is not a straight chain`;
    if (n.kind === "filter") {
      const spec = columnFnSpec(n.fn);
      if (spec?.kind === "validLatLon" && isNumeric(field(spec.lat)) && isNumeric(field(spec.lon))) {
        filters.push({ fn: undefined, negate: n.negate, lat: spec.lat, lon: spec.lon });
      } else {
        filters.push({ fn: n.fn, negate: n.negate, lat: "", lon: "" });
        needsRow = true;
      }
      continue;
    }
    if (n.kind === "processValues") {
      // The built-ins run in a column pass before the record loop (BatchShardProcessor.builtinPass):
      // recognised while every step before them is one; elsewhere they are called as user functions.
      const spec = filters.every((f) => f.process !== undefined && f.process.fn === undefined) ? columnFnSpec(n.fn) : undefined;
      if (spec?.kind === "checkLatLon" && n.store === undefined && isNumeric(field(spec.lat)) && isNumeric(field(spec.lon))) {
        filters.push({ fn: undefined, negate: false, lat: spec.lat, lon: spec.lon, process: { fn: undefined, store: undefined, flagged: n.flagged } });
      } else if (spec?.kind === "speedLimit" && n.store !== undefined && !filters.some((f) => f.process?.speed !== undefined) && ["lat", "lon", "ts"].every((f) => n.store!.fields.includes(f)) &&
        field(spec.lat)?.type === "f64" && field(spec.lon)?.type === "f64" && spec.ts === src.timestampField) {
        filters.push({ fn: undefined, negate: false, lat: spec.lat, lon: spec.lon, process: { fn: undefined, store: n.store, flagged: n.flagged, speed: spec } });
      } else {
        filters.push({ fn: undefined, negate: false, lat: "", lon: "", process: { fn: n.fn, store: n.store, flagged: n.flagged } });
        needsRow = true;
      }
      continue;
    }
    if (n.kind === "selectKey" && n.repartition) {
      const spec = columnFnSpec(n.fn);
      if (spec?.kind === "geohashCode" && isNumeric(field(spec.lat)) && isNumeric(field(spec.lon))) {
        key = { kind: "geohash", lat: spec.lat, lon: spec.lon, precision: spec.precision };
      } else {
        key = { kind: "user", fn: n.fn };
        needsRow = true;
      }
      i++;
    }
    break;
  }
  const agg = nodes[i];
  if (agg === undefined || agg.kind !== "aggregate") return "no aggregate after the filters and groupBy";
  if (agg.parents[0] !== i - 1 || children.get(i - 1) !== 1) return `${agg.name} is not a straight chain`;
  if (!agg.builtin) return "the aggregate is not a built-in (count/sum/min/max/mean)";
  // TimeWindows by shape (a topology module may hold its own copy of the class, e.g. the package's).
  const w = agg.windows as unknown as Partial<TimeWindows> | undefined;
  if (!w || typeof w.sizeMs !== "number" || typeof w.advanceMs !== "number" || typeof w.graceMs !== "number" || "timeDifferenceMs" in w || "inactivityGapMs" in w) {
    return "the windows are not TimeWindows";
  }
  if (agg.emit !== "close" || agg.retentionMs !== 0) return "the aggregate emits updates or keeps closed windows";
  const toStream = nodes[i + 1];
  const sink = nodes[i + 2];
  if (nodes.length !== i + 3 || toStream?.kind !== "toStream" || sink?.kind !== "sink") return "the aggregate is not followed by toStream().to(topic) alone";
  if (toStream.parents[0] !== i || sink.parents[0] !== i + 1 || children.get(i) !== 1 || children.get(i + 1) !== 1) return "not a straight chain after the aggregate";
  let value: BatchPlan["value"] = { kind: "none" };
  const sel = agg.builtin.field;
  if (sel !== undefined) {
    const f = fieldOfSelector(sel, fields);
    if (f !== undefined) value = { kind: "column", field: f };
    else {
      value = { kind: "user", fn: sel };
      needsRow = true;
    }
  }
  return {
    filters, key, value, op: agg.builtin.op, sizeMs: w.sizeMs, advanceMs: w.advanceMs, graceMs: w.graceMs, store: agg.store,
    partials: key.kind !== "source", needsRow,
  };
}


/** Steps of the fused record loop (BatchShardProcessor.processFused). */
const STEP_FILTER = 0;
const STEP_FILTER_NOT = 1;
const STEP_CHECK = 2;
const STEP_SPEED = 3;

/**
 * The steps of a plan that the fused record loop runs: no user function anywhere, every step a
 * built-in (Fields.validLatLon filters, Fields.checkLatLon, Fields.speedLimit) on the same lat/lon
 * fields. Undefined: the general loop.
 */
function fusedSteps(plan: BatchPlan): Int8Array | undefined {
  if (plan.needsRow || plan.key.kind === "user" || plan.value.kind === "user") return undefined;
  const f0 = plan.filters[0];
  const steps = new Int8Array(plan.filters.length);
  for (const [j, f] of plan.filters.entries()) {
    if (f.fn !== undefined || f.lat !== f0!.lat || f.lon !== f0!.lon) return undefined;
    if (f.process === undefined) steps[j] = f.negate ? STEP_FILTER_NOT : STEP_FILTER;
    else if (f.process.fn !== undefined) return undefined;
    else steps[j] = f.process.speed !== undefined ? STEP_SPEED : STEP_CHECK;
  }
  return steps;
}

/** Keys of unknown groupBy keys (neither a known string nor an integer in [0, 2^31)) start here. */
const UNKNOWN_KEY = 2 ** 32;

/**
 * The window table of a batch plan: open addressing keyed by (key code, window start), as
 * driver-tracking's WindowTable (kernels/window-table.ts), with the latest timestamp and the
 * first-insertion order of each entry (the record-at-a-time store closes windows in order of start,
 * then first insertion). Key codes are f64: string ids and integer keys + 2^31 below 2^32, unknown
 * keys from 2^32. Row-major: an entry's words side by side in `rows` (W_* offsets, `w` words a
 * slot), so that an update touches its slot's flag and one or two cache lines, not a line per field
 * (the table shares the core's cache with the input columns and the per-key stores). A table for a
 * count, sum or mean, which never read min and max, keeps 7 words an entry instead of 9 (`minMax`
 * false: maxTs and seq move up two), the hand-written WindowTable's width. No allocation per update;
 * closing tombstones in place.
 */
export class BatchWindowTable {
  private cap = 0;
  /** Capacity − 1 (a power of two minus one); read by the inlined probe in BatchShardProcessor.process. */
  mask = 0;
  /** Per slot: 0 free, 1 used, 2 tombstone (during a close). */
  used!: Uint8Array;
  /** Per slot `w` words: key, start, count, sum, n, [min, max,] maxTs, seq (the W_* offsets, then oMaxTs and oSeq). */
  rows!: Float64Array;
  /** Words per entry: 9, or 7 without min and max. */
  readonly w: number;
  /** The offsets of the latest timestamp and the insertion number in an entry (w − 2, w − 1). */
  readonly oMaxTs: number;
  readonly oSeq: number;
  size = 0;
  nextSeq = 0;
  /** Smallest window start present (Infinity when empty). */
  minStart = Infinity;
  /** Closing scratch: slots of the entries a close emits. */
  private closing = new Int32Array(64);

  constructor(private readonly limit: number, private readonly storeName: string, initialCapacity = 1024, readonly minMax = true) {
    this.w = minMax ? 9 : 7;
    this.oMaxTs = this.w - 2;
    this.oSeq = this.w - 1;
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.allocate(cap);
  }

  get bytes(): number {
    return this.cap * (1 + 8 * this.w);
  }

  private lastStart = NaN;
  private lastTerm = 0;

  /** The home slot of (key, start). BatchShardProcessor.process inlines the same formula: keep them equal. */
  private home(key: number, start: number): number {
    if (start !== this.lastStart) {
      this.lastStart = start;
      this.lastTerm = Math.imul((start / 1000) | 0, 0x9e3779b1) ^ (start | 0);
    }
    let h = Math.imul((key >>> 0) ^ this.lastTerm, 0x85ebca6b) ^ ((key / 4294967296) | 0);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h & this.mask;
  }

  private slotOf(key: number, start: number): number {
    let s = this.home(key, start);
    const w = this.w;
    while (this.used[s] !== 0 && (this.rows[s * w + W_KEY] !== key || this.rows[s * w + W_START] !== start)) s = (s + 1) & this.mask;
    return s;
  }

  /** Adds value x (non-finite: counted only) with timestamp t to (key, start), as NumericWindowStore.add. */
  add(key: number, start: number, x: number, t: number): void {
    let s = this.slotOf(key, start);
    if (this.used[s] === 0) s = this.insert(s, key, start, t);
    const r = this.rows;
    const b = s * this.w;
    r[b + W_COUNT]++;
    if (x - x === 0) {
      r[b + W_SUM] += x;
      r[b + W_N]++;
      if (this.minMax) {
        if (x < r[b + W_MIN]!) r[b + W_MIN] = x;
        if (x > r[b + W_MAX]!) r[b + W_MAX] = x;
      }
    }
    if (t > r[b + this.oMaxTs]!) r[b + this.oMaxTs] = t;
  }

  /** What insert() does before a new entry when it must (dslFusedBatch stops there): StateStoreFullError at the bound, else grow. */
  growForInsert(): void {
    if (this.size >= this.limit) throw new StateStoreFullError(this.storeName, this.limit);
    if ((this.size + 1) * 2 > this.cap) this.rehash(this.cap * 2);
  }

  /** The bound on entries (dslFusedBatch's D_LIMIT). */
  get maxEntries(): number {
    return this.limit;
  }

  /** A new entry for (key, start) at the free slot the probe stopped at; returns its slot (another one when the table grew). */
  insert(slot: number, key: number, start: number, t: number): number {
    if (this.size >= this.limit) throw new StateStoreFullError(this.storeName, this.limit);
    let s = slot;
    if ((this.size + 1) * 2 > this.cap) {
      this.rehash(this.cap * 2);
      s = this.slotOf(key, start);
    }
    this.used[s] = 1;
    const r = this.rows;
    const b = s * this.w;
    r[b + W_KEY] = key;
    r[b + W_START] = start;
    r[b + W_COUNT] = 0;
    r[b + W_SUM] = 0;
    r[b + W_N] = 0;
    if (this.minMax) {
      r[b + W_MIN] = Infinity;
      r[b + W_MAX] = -Infinity;
    }
    r[b + this.oMaxTs] = t;
    r[b + this.oSeq] = this.nextSeq++;
    this.size++;
    if (start < this.minStart) this.minStart = start;
    return s;
  }

  /**
   * The slots of every entry with start ≤ maxStart, ordered by start then first insertion, into
   * `closing` (returned with their number); call remove() after emitting them.
   */
  collect(maxStart: number): number {
    let m = 0;
    const rows = this.rows;
    const w = this.w;
    const oSeq = this.oSeq;
    let start = NaN;
    let oneStart = true;
    let lo = Infinity;
    let hi = -Infinity;
    for (let s = 0; s < this.cap; s++) {
      if (this.used[s] !== 1 || rows[s * w + W_START]! > maxStart) continue;
      if (m === this.closing.length) {
        const grown = new Int32Array(m * 2);
        grown.set(this.closing);
        this.closing = grown;
      }
      this.closing[m++] = s;
      const st = rows[s * w + W_START]!;
      if (m === 1) start = st;
      else if (st !== start) oneStart = false;
      const q = rows[s * w + oSeq]!;
      if (q < lo) lo = q;
      if (q > hi) hi = q;
    }
    // One window start (a tumbling window closing, the usual case) and insertion numbers close
    // together: ordered by placing each slot at its number (they are distinct), no comparison sort.
    if (oneStart && m > 1 && hi - lo < 4 * m) this.orderBySeq(m, lo, hi - lo + 1);
    else this.closing.subarray(0, m).sort(this.order);
    return m;
  }

  /** Scratch of orderBySeq: a slot + 1 per insertion number of the range (0: none). */
  private bySeq = new Int32Array(0);

  /** Orders closing[0, m) by insertion number, all within [lo, lo + range). */
  private orderBySeq(m: number, lo: number, range: number): void {
    if (this.bySeq.length < range) this.bySeq = new Int32Array(Math.max(range, this.bySeq.length * 2));
    const by = this.bySeq;
    const closing = this.closing;
    const rows = this.rows;
    const w = this.w;
    const oSeq = this.oSeq;
    for (let j = 0; j < m; j++) by[rows[closing[j]! * w + oSeq]! - lo] = closing[j]! + 1;
    let j = 0;
    for (let q = 0; q < range; q++) {
      const s = by[q]!;
      if (s === 0) continue;
      closing[j++] = s - 1;
      by[q] = 0;
    }
  }

  get closingSlots(): Int32Array {
    return this.closing;
  }

  private readonly order = (a: number, b: number): number =>
    this.rows[a * this.w + W_START]! - this.rows[b * this.w + W_START]! || this.rows[a * this.w + this.oSeq]! - this.rows[b * this.w + this.oSeq]!;

  /** Removes the m entries collect() gave. */
  remove(m: number): void {
    if (m === 0) return;
    for (let j = 0; j < m; j++) this.used[this.closing[j]!] = 2;
    this.size -= m;
    let minStart = Infinity;
    const w = this.w;
    for (let s = 0; s < this.cap; s++) if (this.used[s] === 1 && this.rows[s * w + W_START]! < minStart) minStart = this.rows[s * w + W_START]!;
    this.minStart = minStart;
    this.sweep();
  }

  /** Removes tombstones in place, every live entry moved back to the first free slot of its probe path (as WindowTable.sweep). */
  private sweep(): void {
    const cap = this.cap;
    const w = this.w;
    let first = 0;
    while (first < cap && this.used[first] !== 0) first++;
    for (let s = 0; s < cap; s++) if (this.used[s] === 2) this.used[s] = 0;
    for (let k = 1; k <= cap; k++) {
      const s = (first + k) & this.mask;
      if (this.used[s] === 0) continue;
      let t = this.home(this.rows[s * w + W_KEY]!, this.rows[s * w + W_START]!);
      while (t !== s && this.used[t] !== 0) t = (t + 1) & this.mask;
      if (t === s) continue;
      this.used[t] = 1;
      this.rows.copyWithin(t * w, s * w, s * w + w);
      this.used[s] = 0;
    }
  }

  private allocate(cap: number): void {
    this.cap = cap;
    this.mask = cap - 1;
    this.used = new Uint8Array(cap);
    this.rows = new Float64Array(cap * this.w);
  }

  private rehash(cap: number): void {
    const { used, rows, w } = this;
    const old = this.cap;
    this.allocate(cap);
    for (let s = 0; s < old; s++) {
      if (used[s] !== 1) continue;
      const t = this.slotOf(rows[s * w + W_KEY]!, rows[s * w + W_START]!);
      this.used[t] = 1;
      this.rows.set(rows.subarray(s * w, s * w + w), t * w);
    }
  }

  /** `w` words per entry (key, start, count, sum, n, [min, max,] maxTs, seq) at `at`; the words, or -1 when they do not fit. */
  exportTo(into: Float64Array, at: number): number {
    const w = this.w;
    const words = w * this.size;
    if (at + words > into.length) return -1;
    // Word by word (the shard snapshots every few batches: a subarray per entry was most of its cost).
    const rows = this.rows;
    let o = at;
    for (let s = 0; s < this.cap; s++) {
      if (this.used[s] !== 1) continue;
      for (let b = s * w, e = b + w; b < e; b++) into[o++] = rows[b]!;
    }
    // No arithmetic after the loop: V8 compiles the loop on its first call (on-stack replacement)
    // before any code after it ran, and an operation there without type feedback deoptimised the
    // compiled loop at the end of every checkpoint (`return o - at`: 620 deopts in 10 M events).
    return words;
  }

  importFrom(from: Float64Array, at: number, entries: number, nextSeq: number): void {
    let cap = 1024;
    while (entries * 2 + 2 > cap) cap *= 2;
    this.allocate(cap);
    this.size = 0;
    this.minStart = Infinity;
    this.nextSeq = nextSeq;
    const w = this.w;
    for (let e = 0, o = at; e < entries; e++, o += w) {
      const s = this.slotOf(from[o + W_KEY]!, from[o + W_START]!);
      this.used[s] = 1;
      this.rows.set(from.subarray(o, o + w), s * w);
      this.size++;
      if (from[o + W_START]! < this.minStart) this.minStart = from[o + W_START]!;
    }
  }
}

/** A BatchWindowTable row's offsets (the checkpoint's entry layout too); maxTs and seq follow at w − 2 and w − 1. */
const W_KEY = 0;
const W_START = 1;
const W_COUNT = 2;
const W_SUM = 3;
const W_N = 4;
/** Only in 9-word rows (BatchWindowTable.minMax). */
const W_MIN = 5;
const W_MAX = 6;

/** Checkpoint tag of a batch-plan shard (the record-at-a-time path writes its watermark and store count instead). */
const SNAPSHOT_TAG = -0x42a7c;
/** The executor's default bound on a store's entries (ExecutorOptions.maxStoreEntries). */
const MAX_STORE_ENTRIES = 1_000_000;

/** A shard of a batch-compiled topology: the ShardProcessor the record-at-a-time DslShardProcessor would be. */
export class BatchShardProcessor implements ShardProcessor {
  private readonly table: BatchWindowTable;
  private readonly strings: SharedStrings | undefined;
  private readonly fields: readonly FieldSpec[];
  private readonly keyField: string;
  private readonly timestampField: string;
  private readonly keyIsString: boolean;
  private readonly row: Record<string, unknown> = {};
  /** The batch's column of each schema field, for the row. */
  private readonly cols: ColumnArray[] = [];
  /** The shard's watermark (the largest seen). */
  private watermark = -Infinity;
  /** Unknown groupBy keys by keyOf(key): their index (code − 2^32); the keys themselves in order. */
  private readonly unknownIds = new Map<unknown, number>();
  private unknownKeys: unknown[] = [];
  /** Pass-1 columns. */
  private codes = new Uint32Array(0);
  private codesHi = new Uint32Array(0);
  private out: OutputWriter | undefined;

  constructor(readonly plan: BatchPlan, topology: Topology, config: ProcessorConfig) {
    const src = topology.nodes[0] as Extract<PlanNode, { kind: "source" }>;
    this.fields = src.schema!.fields;
    this.keyField = config["keyField"] as string;
    this.timestampField = config["timestampField"] as string;
    this.keyIsString = config["keyIsString"] === true;
    if (plan.partials !== ((config["partials"] ?? "") !== "")) throw new TopologyError("batch plan: the main thread and the worker disagree on groupBy partials");
    const table = config["strings"];
    this.strings = table instanceof SharedArrayBuffer ? new SharedStrings(table) : undefined;
    for (const f of this.fields) this.row[f.name] = f.type === "string" ? "" : 0;
    this.filler = new Function("row", "cols", "i", "str",
      this.fields.map((f, j) => `row[${JSON.stringify(f.name)}] = ${f.type === "string" ? `str(cols[${j}][i])` : `cols[${j}][i]`};`).join("\n")) as never;
    this.flagText = flaggedJson(this.fields);
    this.table = new BatchWindowTable(MAX_STORE_ENTRIES, plan.store, 1024, plan.op === "min" || plan.op === "max");
    this.speedStep = plan.filters.findIndex((f) => f.process?.speed !== undefined);
    this.fused = fusedSteps(plan);
    // The fused loop in native code (batch-native.ts): tumbling windows only (a record has one
    // window, so a stop to grow the table never leaves a record half added).
    if (this.fused !== undefined && plan.advanceMs === plan.sizeMs && config["kernels"] !== "js") this.nativeFused = loadDslFusedBatch(this.table.w);
    this.prefix = plan.filters.findIndex((f) => f.process === undefined || f.process.fn !== undefined);
    if (this.prefix < 0) this.prefix = plan.filters.length;
    const sideTopics = JSON.parse((config["sideTopics"] as string | undefined) ?? "[]") as string[];
    plan.filters.forEach((f, j) => {
      if (f.process === undefined) return;
      const code = sideTopics.indexOf(f.process.flagged);
      if (code < 0) throw new TopologyError(`batch plan: the main thread did not plan an output for ${f.process.flagged}`);
      this.flaggedCodes[j] = code + 1;
      if (f.process.store !== undefined) this.perKey[j] = new PerKeyTable(f.process.store, MAX_STORE_ENTRIES);
      const sp = f.process.speed;
      if (sp !== undefined) this.speedFields[j] = ["lat", "lon", "ts"].map((x) => f.process!.store!.fields.indexOf(x));
    });
  }

  /** The plan's steps for the fused record loop (processFused), or undefined: the general loop. */
  private readonly fused: Int8Array | undefined;
  /** The addon's fused loop for this plan (processNative), or undefined: processFused. */
  private readonly nativeFused: DslFusedBatch | undefined;
  /** processNative's io words and side outputs (SIDE_WORDS a record at most). */
  private readonly nativeIo = new Float64Array(D_WORDS);
  private nativeSides = new Float64Array(0);

  /** Whether this shard runs the fused loop in native code (when its batches' columns are typed as the plan's). */
  get usesNative(): boolean {
    return this.nativeFused !== undefined;
  }

  /** Fields.speedLimit steps: the store's field indexes of lat, lon, ts. */
  private readonly speedFields: number[][] = [];
  /** Per step with lat/lon fields (built-in filters and checks): the batch's lat and lon columns at 2j, 2j + 1 (resolved once per batch). */
  private readonly speedCols: ColumnArray[] = [];
  /** The batch's event-time column. */
  private tsCol: ColumnArray = new Float64Array(0);

  /** The built-in processValues steps at the head of the plan (run by builtinPass); the Fields.speedLimit one among them (-1: none). */
  private readonly prefix: number;
  private readonly speedStep: number;
  /** Per step: its per-key store (processValues with a store), its flagged topic's output code. */
  private readonly perKey: (PerKeyTable | undefined)[] = [];
  private readonly flaggedCodes: number[] = [];
  private readonly ctx: ProcessorContext = { key: undefined, timestamp: 0, watermark: -Infinity };

  private str(id: number): string {
    return this.strings ? this.strings.name(id) : String(id);
  }

  /**
   * Writes record i's fields into the row: a function generated for the schema, one store per field
   * by its constant name (a loop with `row[name]` made every store a generic keyed store, most of the
   * cost of a user function's record).
   */
  private readonly filler: (row: Record<string, unknown>, cols: ColumnArray[], i: number, str: (id: number) => string) => void;
  private readonly strOf = (id: number): string => this.str(id);
  /** The JSON text of string id, kept per id (flagged records: each driver's key and name, written again at each of its flags). */
  private readonly strJson = new Map<number, string>();
  private readonly sqOf = (id: number): string => {
    let q = this.strJson.get(id);
    if (q === undefined) {
      q = JSON.stringify(this.str(id));
      this.strJson.set(id, q);
    }
    return q;
  };
  /** The JSON of a record a built-in step flags, written from the columns (flagged-json.ts); undefined: the row and JSON.stringify. */
  private readonly flagText: FlaggedJson | undefined;

  private fillRow(i: number): void {
    this.filler(this.row, this.cols, i, this.strOf);
  }

  process(columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void {
    this.out = out;
    const plan = this.plan;
    const key = columns[this.keyField]!;
    const ts = columns[this.timestampField]!;
    const wmCol = columns["_wm"]!;
    const off = columns["_off"]!;
    const reason = columns["_reason"]!;
    for (let f = 0; f < this.fields.length; f++) this.cols[f] = columns[this.fields[f]!.name]!;
    this.tsCol = ts;
    for (let j = 0; j < plan.filters.length; j++) {
      const f = plan.filters[j]!;
      if (f.lat !== "") {
        this.speedCols[2 * j] = columns[f.lat]!;
        this.speedCols[2 * j + 1] = columns[f.lon]!;
      }
      if (f.process?.speed !== undefined) this.bindSpeed(j);
    }
    if (this.nativeFused !== undefined && this.processNative(this.nativeFused, columns, n, partition, out)) return;
    // Pass 1: built-in key functions, a column pass over the batch.
    const keyKind = plan.key.kind;
    if (plan.key.kind === "geohash") {
      if (this.codes.length < n) {
        this.codes = new Uint32Array(n);
        this.codesHi = new Uint32Array(n);
      }
      const lat = columns[plan.key.lat]!;
      const lon = columns[plan.key.lon]!;
      if (lat instanceof Float64Array && lon instanceof Float64Array) geohashEncodeBatch(lat, lon, n, plan.key.precision, this.codesHi, this.codes);
      else for (let i = 0; i < n; i++) this.codes[i] = geohashEncodeInt(lat[i]!, lon[i]!, plan.key.precision);
    }
    if (this.fused !== undefined) {
      this.processFused(this.fused, columns, n, partition, out);
      return;
    }
    const codes = this.codes;
    const filters = plan.filters;
    const nf = filters.length;
    // The common single built-in filter, hoisted.
    const f0 = nf === 1 && filters[0]!.fn === undefined && filters[0]!.process === undefined ? filters[0]! : undefined;
    const prefix = this.prefix;
    if (prefix > 0) this.builtinPass(n, wmCol, reason, key);
    const f0lat = f0 ? columns[f0.lat]! : undefined;
    const f0lon = f0 ? columns[f0.lon]! : undefined;
    const f0neg = f0 ? f0.negate : false;
    const valueKind = plan.value.kind;
    const valueCol = plan.value.kind === "column" ? columns[plan.value.field]! : undefined;
    const userKey = plan.key.kind === "user" ? plan.key.fn : undefined;
    const userValue = plan.value.kind === "user" ? plan.value.fn : undefined;
    const table = this.table;
    // The table's words per entry (not `w`: the loop's name for the record's watermark).
    const rowWords = table.w;
    const oMaxTs = table.oMaxTs;
    const minMax = table.minMax;
    const { sizeMs, advanceMs, graceMs } = plan;
    const keyIsString = this.keyIsString;
    this.rangeLo = Infinity;
    this.rangeHi = -Infinity;
    for (let i = 0; i < n; i++) {
      if (reason[i] !== 0) {
        out.side(OUT_INVALID, reason[i]!, key[i]!, partition, off[i]!, ts[i]!, NaN, NaN, NaN, 0, 0);
        continue;
      }
      // Inline (a call per record would box w): the watermark moves on almost every record, a
      // window closes rarely.
      const w = wmCol[i]!;
      if (w > this.watermark) {
        this.watermark = w;
        if (w - sizeMs - graceMs >= table.minStart) this.close(w - sizeMs - graceMs);
      }
      const t = ts[i]!;
      let k = 0;
      let x = NaN;
      try {
        let rowFilled = false;
        // Filters.
        if (f0 !== undefined) {
          const la = f0lat![i]!;
          const lo = f0lon![i]!;
          // validLatLon(la, lo), inlined.
          const ok = la - la === 0 && lo - lo === 0 && la >= -90 && la <= 90 && lo >= -180 && lo <= 180 && !(la === 0 && lo === 0);
          if (ok === f0neg) continue;
        } else if (nf > 0) {
          let pass = true;
          // The built-in steps at the head ran in builtinPass: their verdict, then the other steps.
          if (prefix > 0 && this.verdict[i] !== 0) {
            this.fillRow(i);
            rowFilled = true;
            this.flag(this.verdict[i]! - 1, this.reasons[i]!, key[i]!, partition, off[i]!, t);
            continue;
          }
          for (let j = prefix; j < nf; j++) {
            const f = filters[j]!;
            const p = f.process;
            if (p !== undefined) {
              // processValues: a string result flags the record (to its topic, with the reason).
              if (!rowFilled) { this.fillRow(i); rowFilled = true; }
              const why = this.runProcessor(j, p.fn!, key[i]!, i);
              if (typeof why === "string") {
                if (!rowFilled) { this.fillRow(i); rowFilled = true; }
                this.flag(j, why, key[i]!, partition, off[i]!, t);
                pass = false;
                break;
              }
              continue;
            }
            // As the executor's FilterProc: the record passes when the result !== negate (no cast to boolean).
            let r: unknown;
            if (f.fn === undefined) {
              r = validLatLon(this.speedCols[2 * j]![i]!, this.speedCols[2 * j + 1]![i]!);
            } else {
              if (!rowFilled) { this.fillRow(i); rowFilled = true; }
              r = f.fn(keyIsString ? this.str(key[i]!) : key[i]!, this.row);
            }
            if (r === f.negate) { pass = false; break; }
          }
          if (!pass) continue;
        }
        // Key.
        if (keyKind === "source") k = key[i]!;
        else if (keyKind === "geohash") k = codes[i]! + NUMERIC_KEY;
        else {
          if (!rowFilled) { this.fillRow(i); rowFilled = true; }
          const kv = userKey!(keyIsString ? this.str(key[i]!) : key[i]!, this.row);
          if (kv === null || kv === undefined) continue;
          k = this.keyCode(kv);
        }
        // Value.
        if (valueKind === "column") x = valueCol![i]!;
        else if (valueKind === "user") {
          if (!rowFilled) { this.fillRow(i); rowFilled = true; }
          x = userValue!(this.row);
        }
      } catch (err) {
        if (err instanceof StateStoreFullError) throw err;
        out.side(OUT_INVALID, DSL_USER_ERROR, key[i]!, partition, off[i]!, t, NaN, NaN, NaN, 0, 0);
        continue;
      }
      if (!(t >= this.rangeLo && t < this.rangeHi)) this.windowRange(t);
      const first = this.rangeFirst;
      const wm = this.watermark;
      let missed = 0;
      for (let s = first; s <= t; s += advanceMs) {
        if (s + sizeMs + graceMs <= wm) {
          missed++;
          continue;
        }
        // table.add(k, s, x, t), inlined: a call would box k, s, x and t (doubles) on every record
        // when V8 does not inline it, which it stops doing once this loop holds user-function calls.
        const term = Math.imul((s / 1000) | 0, 0x9e3779b1) ^ (s | 0);
        let h = Math.imul((k >>> 0) ^ term, 0x85ebca6b) ^ ((k / 4294967296) | 0);
        h ^= h >>> 13;
        h = Math.imul(h, 0xc2b2ae35);
        h ^= h >>> 16;
        const mask = table.mask;
        const used = table.used;
        let r = table.rows;
        let slot = h & mask;
        while (used[slot] !== 0 && (r[slot * rowWords + W_KEY] !== k || r[slot * rowWords + W_START] !== s)) slot = (slot + 1) & mask;
        if (used[slot] === 0) {
          slot = table.insert(slot, k, s, t);
          r = table.rows;
        }
        const b = slot * rowWords;
        r[b + W_COUNT]++;
        if (x - x === 0) {
          r[b + W_SUM] += x;
          r[b + W_N]++;
          if (minMax) {
            if (x < r[b + W_MIN]!) r[b + W_MIN] = x;
            if (x > r[b + W_MAX]!) r[b + W_MAX] = x;
          }
        }
        if (t > r[b + oMaxTs]!) r[b + oMaxTs] = t;
      }
      if (missed > 0) out.side(OUT_LATE, 1, key[i]!, partition, off[i]!, t, wm, wm - t, NaN, 0, 0);
    }
  }

  /**
   * The record loop of a plan without user functions (fusedSteps): the built-in steps inline, in
   * the loop that updates the windows, as the hand-written driver-tracking shard runs its checks —
   * Fields.speedLimit's store row is loaded beside the window update, so that the core overlaps
   * the two waits, and no pass writes a verdict per record for the loop to read back. Outputs are
   * those of the general loop (builtinPass, then the loop in process()), record by record.
   */
  private processFused(steps: Int8Array, columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void {
    const plan = this.plan;
    const key = columns[this.keyField]!;
    const ts = this.tsCol;
    const wmCol = columns["_wm"]!;
    const off = columns["_off"]!;
    const reason = columns["_reason"]!;
    const nf = steps.length;
    // Every built-in step reads the same lat/lon columns (fusedSteps): loaded once per record.
    const f = plan.filters;
    const latCol = nf > 0 ? columns[f[0]!.lat]! : ts;
    const lonCol = nf > 0 ? columns[f[0]!.lon]! : ts;
    this.fusedKey = key;
    this.fusedOff = off;
    // Fields.speedLimit (at most one step): its store's rows [exists, fields…] per key id, the
    // offsets of lat, lon, ts in a row, its limits; the module's constants in locals (an imported
    // binding is a cell load and checks per read).
    const js = this.speedStep;
    const sp = js >= 0 ? f[js]!.process!.speed! : undefined;
    const store = js >= 0 ? this.perKey[js]! : undefined;
    const kmPerMs = sp !== undefined ? sp.maxKmh / 3_600_000 : 0;
    const spSize = sp !== undefined ? sp.sizeMs : 1;
    const spCloseAfter = sp !== undefined ? sp.sizeMs + sp.graceMs : 0;
    const rad = RAD;
    const fourR2 = FOUR_R2;
    const safety = SAFETY;
    let cap = store !== undefined ? store.inUse : 0;
    const stride = store !== undefined ? store.stride : 0;
    const fi = js >= 0 ? this.speedFields[js]! : [0, 0, 0];
    const oLat = 1 + fi[0]!;
    const oLon = 1 + fi[1]!;
    const oTs = 1 + fi[2]!;
    let d = this.sData;
    const keyKind = plan.key.kind;
    const codes = this.codes;
    const valueCol = plan.value.kind === "column" ? columns[plan.value.field]! : undefined;
    const table = this.table;
    const { sizeMs, advanceMs, graceMs } = plan;
    this.rangeLo = Infinity;
    this.rangeHi = -Infinity;
    let spStart = NaN;
    records: for (let i = 0; i < n; i++) {
      if (reason[i] !== 0) {
        out.side(OUT_INVALID, reason[i]!, key[i]!, partition, off[i]!, ts[i]!, NaN, NaN, NaN, 0, 0);
        continue;
      }
      const w = wmCol[i]!;
      if (w > this.watermark) {
        this.watermark = w;
        if (w - sizeMs - graceMs >= table.minStart) this.close(w - sizeMs - graceMs);
      }
      const t = ts[i]!;
      if (nf > 0) {
        const la = latCol[i]!;
        const lo = lonCol[i]!;
        for (let j = 0; j < nf; j++) {
          const step = steps[j]!;
          if (step === STEP_SPEED) {
            const id = key[i]!;
            if (id >= cap) {
              store!.at(id);
              this.bindSpeed(js);
              cap = store!.inUse;
              d = this.sData;
            }
            const b = id * stride;
            const lt = d[b + oTs]!;
            if (t > lt) {
              const pla = d[b + oLat]!;
              const plo = d[b + oLon]!;
              // The hand-written pre-check (kernels/geo.ts PRECHECK_*): a bound on the distance that,
              // when below the allowed one, means the exact check cannot say "exceeds".
              const dp = (la - pla) * rad;
              const dl = (lo - plo) * rad;
              const y2 = (dp * dp + dl * dl) * 0.25;
              const allowed = (t - lt) * kmPerMs;
              // Else the exact check, out of line (rare: inlined, its code took the loop's
              // registers and V8's inlining budget; a call with doubles would box them).
              if (!(y2 < 0.25 && fourR2 * y2 < allowed * allowed * (1 - y2) * safety) && this.flagTooFast(j, i, b, partition)) continue records;
            }
            // Newer than the last fix and its window open (a late one is not aggregated): the last fix.
            // The window start of t, reused while t stays 1 ms clear of its edges (as the hand-written shard).
            if (!(t >= spStart + 1 && t < spStart + spSize - 1)) spStart = Math.floor(t / spSize) * spSize;
            if (!(lt >= t) && spStart + spCloseAfter > this.watermark) {
              d[b + oTs] = t;
              d[b + oLat] = la;
              d[b + oLon] = lo;
              if (d[b] !== 1) {
                d[b] = 1;
                store!.live++;
              }
            }
            continue;
          }
          // validLatLon, inlined.
          const ok = la - la === 0 && lo - lo === 0 && la >= -90 && la <= 90 && lo >= -180 && lo <= 180 && !(la === 0 && lo === 0);
          if (step === STEP_CHECK) {
            if (!ok) {
              this.flagInvalidFix(j, i, partition);
              continue records;
            }
          } else if (ok === (step === STEP_FILTER_NOT)) continue records;
        }
      }
      const k = keyKind === "source" ? key[i]! : codes[i]! + NUMERIC_KEY;
      const x = valueCol !== undefined ? valueCol[i]! : NaN;
      if (!(t >= this.rangeLo && t < this.rangeHi)) this.windowRange(t);
      const first = this.rangeFirst;
      const wm = this.watermark;
      let missed = 0;
      for (let s = first; s <= t; s += advanceMs) {
        if (s + sizeMs + graceMs <= wm) missed++;
        else table.add(k, s, x, t);
      }
      if (missed > 0) out.side(OUT_LATE, 1, key[i]!, partition, off[i]!, t, wm, wm - t, NaN, 0, 0);
    }
  }

  /**
   * processFused as one native call per batch (batch-native.ts), when the batch's columns have the
   * types the native loop reads; false (nothing done): processFused runs. The loop stops where JS
   * must act — a window close, a table or per-key store that must grow (or is full: the same
   * StateStoreFullError) — and resumes at that record; before acting, the side outputs of the
   * records before it are emitted, in record order, so that every output comes at the point of
   * the record sequence where processFused writes it.
   */
  private processNative(fn: DslFusedBatch, columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): boolean {
    const plan = this.plan;
    const steps = this.fused!;
    const key = columns[this.keyField]!;
    const ts = this.tsCol;
    const wmCol = columns["_wm"]!;
    const reason = columns["_reason"]!;
    const f0 = plan.filters[0];
    const geo = plan.key.kind === "geohash" ? plan.key : undefined;
    const lat = f0 !== undefined ? columns[f0.lat]! : geo !== undefined ? columns[geo.lat]! : ts;
    const lon = f0 !== undefined ? columns[f0.lon]! : geo !== undefined ? columns[geo.lon]! : ts;
    const value = plan.value.kind === "column" ? columns[plan.value.field]! : ts;
    if (!(key instanceof Uint32Array && ts instanceof Float64Array && wmCol instanceof Float64Array && reason instanceof Uint8Array &&
      lat instanceof Float64Array && lon instanceof Float64Array && value instanceof Float64Array)) return false;
    // The key's lat/lon are the steps' (fusedSteps: one pair), or there are no steps.
    if (geo !== undefined && f0 !== undefined && (geo.lat !== f0.lat || geo.lon !== f0.lon)) return false;
    if (this.nativeSteps.length !== steps.length) this.nativeSteps = Uint8Array.from(steps);
    if (this.nativeSides.length < SIDE_WORDS * n) this.nativeSides = new Float64Array(SIDE_WORDS * n);
    const sides = this.nativeSides;
    const io = this.nativeIo;
    const table = this.table;
    const js = this.speedStep;
    const store = js >= 0 ? this.perKey[js]! : undefined;
    const sp = js >= 0 ? plan.filters[js]!.process!.speed! : undefined;
    io[D_SIZE_MS] = plan.sizeMs;
    io[D_GRACE_MS] = plan.graceMs;
    io[D_LIMIT] = table.maxEntries;
    io[D_KEY_GEOHASH] = geo !== undefined ? 1 : 0;
    io[D_PRECISION] = geo !== undefined ? geo.precision : 1;
    io[D_HAS_VALUE] = plan.value.kind === "column" ? 1 : 0;
    io[D_STEPS] = steps.length;
    io[D_MAX_KMH] = sp !== undefined ? sp.maxKmh : 0;
    const fi = js >= 0 ? this.speedFields[js]! : [0, 0, 0];
    io[D_STRIDE] = store !== undefined ? store.stride : 0;
    io[D_O_LAT] = 1 + fi[0]!;
    io[D_O_LON] = 1 + fi[1]!;
    io[D_O_TS] = 1 + fi[2]!;
    io[D_RAD] = RAD;
    io[D_FOUR_R2] = FOUR_R2;
    io[D_SAFETY] = SAFETY;
    io[D_ROW_WORDS] = table.w;
    io[D_FROM] = 0;
    io[D_N] = n;
    this.fusedKey = key;
    this.fusedOff = columns["_off"]!;
    this.reasonCol = reason;
    for (;;) {
      io[D_SIZE] = table.size;
      io[D_MIN_START] = table.minStart;
      io[D_NEXT_SEQ] = table.nextSeq;
      io[D_WATERMARK] = this.watermark;
      io[D_STORE_ROWS] = store !== undefined ? store.inUse : 0;
      fn(key, ts, wmCol, reason, lat, lon, value, this.nativeSteps, store !== undefined ? store.data : ts, table.used, table.rows, sides, io);
      table.size = io[D_SIZE]!;
      table.minStart = io[D_MIN_START]!;
      table.nextSeq = io[D_NEXT_SEQ]!;
      this.watermark = io[D_WATERMARK]!;
      if (store !== undefined) store.live += io[D_LIVE_ADDED]!;
      const m = io[D_SIDES]! * SIDE_WORDS;
      for (let e = 0; e < m; e += SIDE_WORDS) this.nativeSide(sides, e, partition, out);
      const status = io[D_STATUS]!;
      if (status === DSL_STATUS_DONE) break;
      const next = io[D_NEXT]!;
      if (status === DSL_STATUS_NEED_CLOSE) this.close(this.watermark - plan.sizeMs - plan.graceMs);
      else if (status === DSL_STATUS_NEED_GROW) table.growForInsert();
      else {
        // DSL_STATUS_NEED_STORE: as processFused's store.at (StateStoreFullError beyond the bound).
        store!.at(key[next]!);
        this.bindSpeed(js);
      }
      io[D_FROM] = next;
    }
    return true;
  }

  private nativeSteps = new Uint8Array(0);
  /** processNative's batch: the reason column (for the invalid outputs). */
  private reasonCol: ColumnArray = new Uint8Array(0);

  /** One side output of processNative's list (at e): what processFused writes for that record. */
  private nativeSide(sides: Float64Array, e: number, partition: number, out: OutputWriter): void {
    const i = sides[e]!;
    const tag = sides[e + 1]!;
    const j = sides[e + 2]!;
    const key = this.fusedKey;
    const off = this.fusedOff;
    const t = this.tsCol[i]!;
    if (tag === DSL_SIDE_INVALID) {
      out.side(OUT_INVALID, this.reasonCol[i]!, key[i]!, partition, off[i]!, t, NaN, NaN, NaN, 0, 0);
    } else if (tag === DSL_SIDE_CHECK) {
      this.flagInvalidFix(j, i, partition);
    } else if (tag === DSL_SIDE_LATE) {
      const wm = sides[e + 3]!;
      out.side(OUT_LATE, 1, key[i]!, partition, off[i]!, t, wm, wm - t, NaN, 0, 0);
    } else {
      // DSL_SIDE_SPEED: the reason from the key's last fix as it was at this record.
      const sp = this.plan.filters[j]!.process!.speed!;
      this.flagBuiltin(j, speedReason(sides[e + 3]!, sides[e + 4]!, sides[e + 5]!, this.speedCols[2 * j]![i]!, this.speedCols[2 * j + 1]![i]!, t, sp.maxKmh), i, partition);
    }
  }

  /**
   * The first window start of the last record's range of t (see firstStart in windows.ts), and the
   * range [rangeLo, rangeHi) of t it holds for: 1 ms clear of the edges, where the formula's result
   * cannot change. Recomputed by windowRange() when t leaves it (rarely: times mostly in order).
   */
  private rangeFirst = 0;
  private rangeLo = Infinity;
  private rangeHi = -Infinity;

  private windowRange(t: number): void {
    const { sizeMs, advanceMs } = this.plan;
    const raw = Math.floor((t - sizeMs) / advanceMs) * advanceMs + advanceMs;
    this.rangeFirst = Math.max(0, raw);
    if (raw >= 0) {
      this.rangeLo = raw - advanceMs + sizeMs + 1;
      this.rangeHi = raw + sizeMs - 1;
    } else {
      this.rangeLo = Infinity;
      this.rangeHi = -Infinity;
    }
  }

  /** processFused's batch: the key and offset columns (for the rare flagged records). */
  private fusedKey: ColumnArray = new Float64Array(0);
  private fusedOff: ColumnArray = new Float64Array(0);

  /**
   * processFused's Fields.speedLimit (step j) for record i when the pre-check could not clear it:
   * the exact check against the key's last fix (its row at b), and when too fast the record to the
   * step's topic. Reads its doubles from the arrays (passed, they would be boxed).
   */
  private flagTooFast(j: number, i: number, b: number, partition: number): boolean {
    const sp = this.plan.filters[j]!.process!.speed!;
    const fi = this.speedFields[j]!;
    const d = this.sData;
    const pla = d[b + 1 + fi[0]!]!;
    const plo = d[b + 1 + fi[1]!]!;
    const lt = d[b + 1 + fi[2]!]!;
    const la = this.speedCols[2 * j]![i]!;
    const lo = this.speedCols[2 * j + 1]![i]!;
    const t = this.tsCol[i]!;
    if (!speedExceedsKmh(pla, plo, lt, la, lo, t, sp.maxKmh)) return false;
    this.flagBuiltin(j, speedReason(pla, plo, lt, la, lo, t, sp.maxKmh), i, partition);
    return true;
  }

  /** processFused's Fields.checkLatLon (step j): record i, not a valid fix, to the step's topic with the reason. */
  private flagInvalidFix(j: number, i: number, partition: number): void {
    const la = this.speedCols[2 * j]![i]!;
    const lo = this.speedCols[2 * j + 1]![i]!;
    this.flagBuiltin(j, FIX_REASONS[fixReason(1, la, lo, 0)]!, i, partition);
  }

  /**
   * Record i of processFused's (or processNative's) batch, flagged by built-in step j: to the step's
   * topic as flag() writes it, its JSON written from the columns when the schema allows (flagText).
   */
  private flagBuiltin(j: number, reason: string, i: number, partition: number): void {
    const id = this.fusedKey[i]!;
    const off = this.fusedOff[i]!;
    const t = this.tsCol[i]!;
    if (this.flagText === undefined) {
      this.fillRow(i);
      this.flag(j, reason, id, partition, off, t);
      return;
    }
    const text = this.flagText(this.keyIsString ? this.sqOf(id) : keyJson(id), reason, this.cols, i, this.sqOf);
    if (!this.out!.object(this.flaggedCodes[j]!, partition, off, t, NaN, NaN, text)) this.out!.side(OUT_INVALID, DSL_OUTPUT_TOO_LARGE, id, partition, off, t, NaN, NaN, NaN, 0, 0);
  }

  /**
   * The built-in steps at the head of the plan (Fields.checkLatLon, Fields.speedLimit) as a column
   * pass over the batch, before the record loop: per record its verdict (0: passes; j + 1: step j
   * flags it, the reason in `reasons`), at the watermark the record loop will have reached at that
   * record. Fields.speedLimit as the hand-written driver-tracking shard does it: the pre-check bound,
   * the exact check when the bound cannot decide, the record becoming the key's last fix when newer
   * and its window still open.
   */
  private builtinPass(n: number, wmCol: ColumnArray, reason: ColumnArray, key: ColumnArray): void {
    if (this.verdict.length < n) this.verdict = new Uint8Array(n);
    const verdict = this.verdict;
    const reasons = this.reasons;
    const prefix = this.prefix;
    const ts = this.tsCol;
    // The speed step (at most one) and its arrays, in locals (re-read when the store grows).
    const js = this.speedStep;
    const sp = js >= 0 ? this.plan.filters[js]!.process!.speed! : undefined;
    const table = js >= 0 ? this.perKey[js]! : undefined;
    const maxKmh = sp !== undefined ? sp.maxKmh : 0;
    const kmPerMs = maxKmh / 3_600_000;
    const size = sp !== undefined ? sp.sizeMs : 0;
    const closeAfter = sp !== undefined ? sp.sizeMs + sp.graceMs : 0;
    let cap = table !== undefined ? table.inUse : 0;
    // The store's rows: [exists, fields…] per key id; the offsets of lat, lon, ts in a row.
    const stride = table !== undefined ? table.stride : 0;
    const fi = js >= 0 ? this.speedFields[js]! : [0, 0, 0];
    const oLat = 1 + fi[0]!;
    const oLon = 1 + fi[1]!;
    const oTs = 1 + fi[2]!;
    let d = this.sData;
    const sLa = js >= 0 ? this.speedCols[2 * js]! : d;
    const sLo = js >= 0 ? this.speedCols[2 * js + 1]! : d;
    let wm = this.watermark;
    for (let i = 0; i < n; i++) {
      verdict[i] = 0;
      if (reason[i] !== 0) continue;
      const w = wmCol[i]!;
      if (w > wm) wm = w;
      let j = 0;
      for (; j < prefix; j++) {
        if (j === js) {
          const la = sLa[i]!;
          const lo = sLo[i]!;
          const id = key[i]!;
          if (id >= cap) {
            table!.at(id);
            this.bindSpeed(js);
            cap = table!.inUse;
            d = this.sData;
          }
          const b = id * stride;
          const t = ts[i]!;
          const lt = d[b + oTs]!;
          if (t > lt) {
            const pla = d[b + oLat]!;
            const plo = d[b + oLon]!;
            // A bound on the distance that, when below the allowed one, means the exact check cannot say "exceeds".
            const dp = (la - pla) * RAD;
            const dl = (lo - plo) * RAD;
            const y2 = (dp * dp + dl * dl) * 0.25;
            const allowed = (t - lt) * kmPerMs;
            if (!(y2 < 0.25 && FOUR_R2 * y2 < allowed * allowed * (1 - y2) * SAFETY) && speedExceedsKmh(pla, plo, lt, la, lo, t, maxKmh)) {
              verdict[i] = j + 1;
              reasons[i] = speedReason(pla, plo, lt, la, lo, t, maxKmh);
              break;
            }
          }
          // Late (its window closed): not aggregated, so not the last fix.
          if (Math.floor(t / size) * size + closeAfter <= wm) continue;
          if (!(lt >= t)) {
            d[b + oTs] = t;
            d[b + oLat] = la;
            d[b + oLon] = lo;
            if (d[b] !== 1) {
              d[b] = 1;
              table!.live++;
            }
          }
          continue;
        }
        // Fields.checkLatLon: validLatLon inlined; the reason (a call) for invalid fixes only.
        const la = this.speedCols[2 * j]![i]!;
        const lo = this.speedCols[2 * j + 1]![i]!;
        if (!(la - la === 0 && lo - lo === 0 && la >= -90 && la <= 90 && lo >= -180 && lo <= 180 && !(la === 0 && lo === 0))) {
          verdict[i] = j + 1;
          reasons[i] = FIX_REASONS[fixReason(1, la, lo, 0)];
          break;
        }
      }
    }
  }

  /** builtinPass's verdict per record of the batch, and the reasons of the flagged ones. */
  private verdict = new Uint8Array(0);
  private readonly reasons: (string | undefined)[] = [];

  /** The array of speed step j's store (the plan's only one: compileBatchPlan takes at most one), again after it grew. */
  private bindSpeed(j: number): void {
    this.sData = this.perKey[j]!.data;
  }
  private sData: Float64Array = new Float64Array(0);

  /** Runs processValues step j's processor on the row, the key's state (slot: the key's id) and the context. */
  private runProcessor(j: number, fn: (v: any, state: any, ctx: any) => unknown, id: number, i: number): unknown {
    const table = this.perKey[j];
    if (table !== undefined) table.at(id);
    const ctx = this.ctx;
    ctx.key = this.keyIsString ? this.str(id) : id;
    ctx.timestamp = this.tsCol[i]!;
    ctx.watermark = this.watermark;
    return fn(this.row, table !== undefined ? table.view : NO_STATE, ctx);
  }

  /** A record step j flagged: to its topic as `{ k, v: { reason, event } }` (OUT_OBJECT, rendered by engine.ts). */
  private flag(j: number, reason: string, id: number, partition: number, off: number, t: number): void {
    writeObjectOutput(this.out!, this.flaggedCodes[j]!, this.keyIsString ? this.str(id) : id, flaggedRecord(reason, this.row), t, NaN, NaN, id, partition, off);
  }

  /** The code of a groupBy key (see BatchWindowTable); unknown keys are resolved again at close. */
  private keyCode(k: unknown): number {
    if (typeof k === "number" && Number.isInteger(k) && k >= 0 && k < NUMERIC_KEY) return k + NUMERIC_KEY;
    if (typeof k === "string" && this.unknownKeys.length === 0) {
      const id = this.strings?.ids.get(k);
      if (id !== undefined) return id;
    } else if (typeof k === "string") {
      const id = this.strings?.ids.get(k);
      if (id !== undefined && !this.unknownIds.has(k)) return id;
    }
    const nk = keyOf(k);
    let u = this.unknownIds.get(nk);
    if (u === undefined) {
      u = this.unknownKeys.length;
      this.unknownIds.set(nk, u);
      this.unknownKeys.push(k);
    }
    return UNKNOWN_KEY + u;
  }

  /** Moves the watermark and emits every window it closes (end + grace ≤ watermark). */
  private advanceTo(watermark: number): void {
    this.watermark = watermark;
    const maxStart = watermark - this.plan.sizeMs - this.plan.graceMs;
    if (maxStart < this.table.minStart) return;
    this.close(maxStart);
  }

  private close(maxStart: number): void {
    const table = this.table;
    const out = this.out!;
    const m = table.collect(maxStart);
    const slots = table.closingSlots;
    const op = this.plan.op;
    const sizeMs = this.plan.sizeMs;
    for (let j = 0; j < m; j++) {
      const s = slots[j]!;
      const r = table.rows;
      const b = s * table.w;
      const code = r[b + W_KEY]!;
      const start = r[b + W_START]!;
      const count = r[b + W_COUNT]!;
      const sum = r[b + W_SUM]!;
      const n = r[b + W_N]!;
      // Rows without min and max (a count, sum or mean, which never read them): what a row holds before its first value.
      const min = table.minMax ? r[b + W_MIN]! : Infinity;
      const max = table.minMax ? r[b + W_MAX]! : -Infinity;
      const ts = r[b + table.oMaxTs]!;
      if (this.plan.partials) {
        let id = code;
        if (code >= UNKNOWN_KEY) {
          const k = this.unknownKeys[code - UNKNOWN_KEY];
          id = typeof k === "string" ? (this.strings?.ids.get(k) ?? -1) : -1;
        }
        if (id < 0) out.side(OUT_INVALID, DSL_UNKNOWN_GROUP_KEY, 0, 0, 0, ts, NaN, NaN, NaN, 0, 0);
        else if (op === "min") out.window(id, start, count, sum, n, min, ts);
        else out.window(id, start, count, sum, n, -ts, max);
      } else {
        const value = op === "count" ? count : op === "sum" ? sum : n === 0 ? NaN : op === "mean" ? sum / n : op === "min" ? min : max;
        out.window(code, start, 1, value, start + sizeMs, ts, 0);
      }
    }
    table.remove(m);
  }

  advance(watermark: number, out: OutputWriter): void {
    this.out = out;
    if (watermark <= this.watermark && watermark !== Infinity) return;
    this.advanceTo(watermark);
  }

  stateBytes(): number {
    let b = this.table.bytes;
    for (const t of this.perKey) if (t !== undefined) b += t.bytes;
    return b;
  }

  stateEntries(): number {
    let e = this.table.size;
    for (const t of this.perKey) if (t !== undefined) e += t.live;
    return e;
  }

  /**
   * [tag, watermark, entries, next insertion number, unknown keys U, (U > 0: their JSON block), entries × the table's w words (9, or 7 for a count, sum or mean)],
   * then each processValues step's per-key store by key id (PerKeyTable.exportDense).
   */
  snapshot(into: Float64Array): number {
    if (into.length < 5) return -1;
    into[0] = SNAPSHOT_TAG;
    into[1] = this.watermark;
    into[2] = this.table.size;
    into[3] = this.table.nextSeq;
    into[4] = this.unknownKeys.length;
    let at = 5;
    if (this.unknownKeys.length > 0) {
      let w: number;
      try {
        w = writeText(into, at, encodeState(this.unknownKeys));
      } catch {
        return -1;
      }
      if (w < 0) return -1;
      at += w;
    }
    const w = this.table.exportTo(into, at);
    if (w < 0) return -1;
    at += w;
    // Then each per-key store (processValues), its slots being the keys' ids.
    for (const t of this.perKey) {
      if (t === undefined) continue;
      const pw = t.exportDense(into, at);
      if (pw < 0) return -1;
      at += pw;
    }
    return at;
  }

  restore(from: Float64Array): void {
    if (from[0] !== SNAPSHOT_TAG) throw new TopologyError("the checkpoint was not written by a batch-compiled shard of this topology");
    this.watermark = from[1]!;
    const entries = from[2]!;
    let at = 5;
    this.unknownIds.clear();
    this.unknownKeys = [];
    if (from[4]! > 0) {
      const { text, words } = readText(from, at);
      this.unknownKeys = decodeState(text) as unknown[];
      this.unknownKeys.forEach((k, u) => this.unknownIds.set(keyOf(k), u));
      at += words;
    }
    this.table.importFrom(from, at, entries, from[3]!);
    at += this.table.w * entries;
    for (const t of this.perKey) if (t !== undefined) at += t.importDense(from, at);
  }
}
