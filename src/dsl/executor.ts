/**
 * The executor of a compiled plan, one per shard. The test driver and the worker engine run this
 * same code: records enter with their event time and the shard's watermark (computed where data
 * enters, see time.ts), flow through the processor nodes, and leave through `emit`.
 *
 *   process(topic, key, value, t, wm) ─► advance(wm): close windows, emit unmatched join sides
 *                                     └► source node ─► … processor nodes … ─► sink node ─► emit(topic, …)
 *
 * Windows follow DESIGN.md: a window closes when the watermark reaches its end + grace (sessions:
 * end + gap + grace; join windows: when the watermark passes t + after + grace). A record whose
 * windows have all closed goes to the late topic with its lateness. State lives in per-node stores,
 * bounded by `maxStoreEntries`, reported by `stores()`.
 *
 * Checkpoints (snapshot()/restore(), for worker recovery): everything that shapes future outputs.
 *
 *   [watermark] [number of stateful nodes N] then one block per stateful node, in plan order:
 *     typed window store (built-in aggregate)  [K] [K key codes] [the typed store, numeric-store.ts]
 *                                              (keys that have no code: [-1] [JSON block of the keys] [store])
 *     any other store                          a JSON block (state-codec.ts) of the store's tree:
 *       table             [key, value]…  (keys as the store's own Map keys: keyOf())
 *       kv aggregate      [key, aggregate, latest timestamp]…
 *       time windows      (objectStores) open windows by start (key, aggregate, timestamp, in
 *                         first-insertion order) and closed windows kept for retention (with the
 *                         watermark that drops them)
 *       sessions          (objectStores) per key: its open sessions (start, end, aggregate, close
 *                         time, order) and its closed ones still guarding their gap; the retention queue
 *       sliding windows   per key (first-seen order): its records (t, value, order) and next close;
 *                         the last watermark seen (values off-heap: the capacities their arena held)
 *       stream join       every buffered record (key, value, t, side, matched, close time, order)
 *                         and the order counter
 *     typed session store (built-in aggregate)  [key block] [open sessions, closed ones kept] (session-store.ts)
 *     sessions with a user aggregate             the typed session store's block, then the open
 *                                              sessions' values as bytes (value-slots.ts)
 *     off-heap join buffer                       [key block] [records with their value bytes] (join-store.ts)
 *     off-heap table store (tables, kv aggregates) [entries with their key and value bytes] (table-store.ts)
 *     off-heap window store (time windows with user aggregates, or built-ins kept for retention)
 *                                              [key block] [windows, open then retained: entries in
 *                                              first-insertion order with their value bytes] (window-value-store.ts)
 *     per-key store (processValues)              [key block] [n] [n × (key index, fields…)] (per-key-store.ts)
 * Values keep their shape through JSON (tags for undefined, non-finite numbers, Map, Set, Date,
 * Windowed); a value that cannot be written (a function, a class instance, a cycle) makes
 * snapshot() return -1 with the reason in `snapshotError`, as does a state larger than the area.
 * User functions' own closures (a counter inside a peek) are not state the executor can see.
 */
import { StateStoreFullError, TopologyError } from "./errors.js";
import { OptionRangeError } from "../errors.js";
import { INVALID_TOPIC } from "./builder.js";
import { MinHeap } from "./heap.js";
import type { PlanNode, Topology } from "./plan.js";
import { NumericWindowStore } from "./numeric-store.js";
import { SessionWindows, SlidingWindows, TimeWindows, Windowed } from "./windows.js";
import { decodeState, encodeState, readText, writeText } from "./state-codec.js";
import { repartitionEdges, type RepartitionEdge } from "./repartition.js";
import { SESSION_LATE_GAP, TypedSessionStore } from "./session-store.js";
import { OffHeapJoinStore } from "./join-store.js";
import { OffHeapTableStore } from "./table-store.js";
import { DEFAULT_WINDOW_CACHE_ENTRIES, OffHeapWindowStore } from "./window-value-store.js";
import { SlotValues } from "./value-slots.js";
import { ARRAY_BYTES, MAP_BYTES, MAP_ENTRY_BYTES, flatten, heapBytes, numberBytes, objectBytes, sampledBytes } from "./heap-size.js";
import { NO_STATE, PerKeyTable, flaggedRecord, type KeyState, type ProcessorContext } from "./per-key-store.js";
import { readKeyBlock, StoreKeys, writeKeyBlock } from "./slot-heap.js";

/** Where records go whose user function threw. */
export const ERROR_TOPIC = "riptide-errors";

/** Output of the executor: one call per output record. */
export type Emit = (topic: string, key: unknown, value: unknown, timestamp: number) => void;

/** A closed window's partial of a built-in aggregate (count, sum and n of the finite values, min, max, latest timestamp). */
export type PartialSink = (key: unknown, start: number, count: number, sum: number, n: number, min: number, max: number, ts: number) => void;

export interface ExecutorOptions {
  /** Entries a single state store may hold; beyond it processing fails with ERR_STATE_FULL. @default 1000000 */
  maxStoreEntries?: number;
  /**
   * Built-in aggregates on time windows hand each closed window's raw partial here instead of
   * forwarding its value (the worker engine merges the partials of every shard at window close).
   */
  partials?: PartialSink;
  /**
   * The worker engine: records crossing a repartition edge (repartition.ts) are emitted to the
   * edge's internal output instead of reaching their operator, which gets them back through
   * inject() on the shard that owns their key. Without it (the TopologyTestDriver) they flow on.
   */
  repartition?: boolean;
  /**
   * Session windows, stream-stream joins, tables, non-windowed aggregations and time windows with
   * user aggregates (or kept for retention) keep their state in objects (SessionProc,
   * StreamJoinProc, TableSourceProc, KvAggregateProc, TimeWindowProc) instead of the typed session
   * store, the off-heap join buffer, the off-heap table store and the off-heap window store, and
   * sliding windows keep their records' values as objects instead of bytes: the reference the
   * tests and benches compare the typed stores with. @default false
   */
  objectStores?: boolean;
  /**
   * User aggregates on tumbling and hopping windows each store keeps as objects while they are hot:
   * a write-back cache in front of the off-heap window store's bytes (value-slots.ts), written back
   * when evicted, when their window closes into retention, and before a checkpoint. 0: every update
   * written as bytes. @default 65536
   */
  windowCacheEntries?: number;
  /**
   * State per partition (TaskedProcessor) with GlobalKTables: the executors of one shard's tasks
   * share each global table's store (node id → its processor). The first executor built with this
   * map creates the stores and owns them (checkpoints them); the others look them up and keep them
   * out of their own state, so a task's state never carries a global table.
   */
  globalTables?: Map<number, unknown>;
}

/** What a state store holds, for reports and metrics. */
export interface StoreReport {
  name: string;
  kind: "table" | "kv" | "window" | "session" | "sliding" | "join" | "per-key";
  /** Live entries (open windows, sessions, keys, buffered join records). */
  entries: number;
  /** Closed windows or sessions kept for retention. */
  retained: number;
  /**
   * Bytes held: for typed-array and off-heap stores the arrays and arenas they hold (capacity); for
   * object stores an estimate from their contents (heap-size.ts: a model of V8's object sizes applied
   * to a sample of the entries).
   */
  bytes: number;
  typed: boolean;
}


/** A late record as it reaches the late topic. */
export interface LateRecord {
  operator: string;
  key: unknown;
  value: unknown;
  timestamp: number;
  watermark: number;
  /** How far the record is behind the watermark (watermark − timestamp), ms. */
  latenessMs: number;
  reason: string;
}

/** A stable Map key for any record key (objects by their JSON). */
export function keyOf(k: unknown): unknown {
  return k !== null && typeof k === "object" ? "\u0000" + JSON.stringify(k) : k;
}

type Child = { proc: Proc; port: number };

abstract class Proc {
  readonly children: Child[] = [];
  constructor(readonly exec: TopologyExecutor, readonly node: PlanNode) {}
  abstract process(k: unknown, v: unknown, t: number, port: number): void;
  forward(k: unknown, v: unknown, t: number): void {
    const c = this.children;
    for (let i = 0; i < c.length; i++) c[i]!.proc.process(k, v, t, c[i]!.port);
  }
  /**
   * Emits a result while windows close (no input record to blame): a user function that throws
   * downstream loses this result only, reported to the error topic; the other results still go.
   */
  forwardClosed(k: unknown, v: () => unknown, t: number): void {
    let value: unknown;
    try {
      value = v();
      this.forward(k, value, t);
    } catch (err) {
      if (err instanceof StateStoreFullError) throw err;
      this.exec.emit(ERROR_TOPIC, k instanceof Windowed ? k.key : k,
        { operator: this.node.name, key: k, timestamp: t, watermark: this.exec.watermark, error: String((err as Error)?.message ?? err) }, t);
    }
  }
}

interface Stateful {
  advance(wm: number): void;
  report(): StoreReport;
}

/** A store of objects: its whole state as a tree of plain values for a checkpoint (state-codec.ts), and back. */
interface ObjectState {
  saveState(): unknown;
  loadState(state: any): void;
}

interface Lookup {
  lookup(k: unknown): unknown;
}

/** A typed store: writes its state into a checkpoint itself (keys through encodeKey), and reads it back. */
interface TypedState {
  exportState(into: Float64Array, at: number, encodeKey: (k: unknown) => number): number;
  importState(from: Float64Array, at: number, decodeKey: (x: number) => unknown): number;
}

function isTypedState(p: unknown): p is TypedState {
  return typeof (p as Partial<TypedState>).exportState === "function";
}

function isStateful(p: unknown): p is Proc & Stateful {
  return typeof (p as Stateful).advance === "function";
}

class PassThrough extends Proc {
  process(k: unknown, v: unknown, t: number): void {
    this.forward(k, v, t);
  }
}

class FilterProc extends Proc {
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "filter" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number): void {
    if (this.n.fn(k, v) !== this.n.negate) this.forward(k, v, t);
  }
}

class MapProc extends Proc {
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "map" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number): void {
    const kv = this.n.fn(k, v);
    this.forward(kv.key, kv.value, t);
  }
}

class MapValuesProc extends Proc {
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "mapValues" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number): void {
    this.forward(k, this.n.fn(v, k), t);
  }
}

class FlatMapProc extends Proc {
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "flatMap" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number): void {
    for (const kv of this.n.fn(k, v)) this.forward(kv.key, kv.value, t);
  }
}

class FlatMapValuesProc extends Proc {
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "flatMapValues" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number): void {
    for (const x of this.n.fn(v, k)) this.forward(k, x, t);
  }
}

class PeekProc extends Proc {
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "peek" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number): void {
    this.n.fn(k, v);
    this.forward(k, v, t);
  }
}

class SelectKeyProc extends Proc {
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "selectKey" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number): void {
    this.forward(this.n.fn(k, v), v, t);
  }
}

/** The end of a repartition edge on the sending shard: the record leaves through the edge's output. */
class RepartitionProc extends Proc {
  constructor(exec: TopologyExecutor, n: PlanNode, readonly output: string) { super(exec, n); }
  process(k: unknown, v: unknown, t: number): void {
    this.exec.emit(this.output, k, v, t);
  }
}

class SplitProc extends Proc {
  readonly branches: Proc[] = [];
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "split" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number): void {
    const preds = this.n.predicates;
    for (let i = 0; i < preds.length; i++) {
      if (preds[i]!(k, v)) {
        this.branches[i]!.process(k, v, t, 0);
        return;
      }
    }
  }
}

class SinkProc extends Proc {
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "sink" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number): void {
    const topic = typeof this.n.topic === "string" ? this.n.topic : this.n.topic(k, v);
    this.exec.emit(topic, k, v, t);
  }
}

/** A table read from a topic: the latest value per key; null deletes. Updates flow on (toStream). */
class TableSourceProc extends Proc implements Stateful, Lookup, ObjectState {
  private readonly store = new Map<unknown, unknown>();
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "table-source" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number): void {
    const nk = keyOf(k);
    if (v === null || v === undefined) {
      this.store.delete(nk);
      this.forward(k, null, t);
      return;
    }
    if (!this.store.has(nk)) this.exec.checkBound(this.n.store, this.store.size);
    this.store.set(nk, v);
    this.forward(k, v, t);
  }
  lookup(k: unknown): unknown {
    return this.store.get(keyOf(k));
  }
  advance(): void {}
  report(): StoreReport {
    // Per entry: the Map's entry, its key and the value object (held by the store alone or not).
    const bytes = sampledBytes(this.store, this.store.size, ([nk, v]) => MAP_ENTRY_BYTES + heapBytes(nk) + heapBytes(v));
    return { name: this.n.store, kind: "table", entries: this.store.size, retained: 0, bytes, typed: false };
  }
  /** [map key, value]… */
  saveState(): unknown {
    const rows: unknown[] = [];
    for (const [nk, v] of this.store) rows.push(nk, v);
    return rows;
  }
  loadState(rows: unknown[]): void {
    this.store.clear();
    for (let i = 0; i < rows.length; i += 2) this.store.set(rows[i], rows[i + 1]);
  }
}

type AggNode = Extract<PlanNode, { kind: "aggregate" }>;

function renderer(n: AggNode): (agg: any) => unknown {
  if (n.builtin?.op === "mean") return (a: { sum: number; n: number }) => (a.n > 0 ? a.sum / a.n : null);
  return (a) => a;
}

/** groupByKey()/groupBy() then count/aggregate/reduce without windows: a KTable updated per record. */
class KvAggregateProc extends Proc implements Stateful, Lookup, ObjectState {
  private readonly store = new Map<unknown, { agg: unknown; ts: number }>();
  private readonly render: (a: any) => unknown;
  constructor(exec: TopologyExecutor, readonly n: AggNode) {
    super(exec, n);
    this.render = renderer(n);
  }
  process(k: unknown, v: unknown, t: number): void {
    if (k === null || k === undefined || v === null || v === undefined) return; // Kafka Streams skips null keys and values
    const nk = keyOf(k);
    let e = this.store.get(nk);
    if (!e) {
      this.exec.checkBound(this.n.store, this.store.size);
      e = { agg: this.n.init(), ts: t };
      this.store.set(nk, e);
    }
    e.agg = this.n.adder(k, v, e.agg);
    if (t > e.ts) e.ts = t;
    this.forward(k, this.render(e.agg), e.ts);
  }
  lookup(k: unknown): unknown {
    const e = this.store.get(keyOf(k));
    return e ? this.render(e.agg) : undefined;
  }
  advance(): void {}
  report(): StoreReport {
    // Per entry: the Map's entry, its key, the {agg, ts} object and the aggregate.
    const bytes = sampledBytes(this.store, this.store.size, ([nk, e]) => MAP_ENTRY_BYTES + heapBytes(nk) + objectBytes(2) + numberBytes(e.ts) + heapBytes(e.agg));
    return { name: this.n.store, kind: "kv", entries: this.store.size, retained: 0, bytes, typed: false };
  }
  /** [map key, aggregate, timestamp]… */
  saveState(): unknown {
    const rows: unknown[] = [];
    for (const [nk, e] of this.store) rows.push(nk, e.agg, e.ts);
    return rows;
  }
  loadState(rows: unknown[]): void {
    this.store.clear();
    for (let i = 0; i < rows.length; i += 3) this.store.set(rows[i], { agg: rows[i + 1], ts: rows[i + 2] as number });
  }
}

/** A KTable on the off-heap table store (table-store.ts), checkpointed as the store's block (keys as bytes: encodeKey is not used). */
abstract class TableStoreProc extends Proc implements Stateful, Lookup, TypedState {
  protected readonly store: OffHeapTableStore;
  constructor(exec: TopologyExecutor, n: PlanNode & { store: string }, private readonly kind: "table" | "kv", cols: number) {
    super(exec, n);
    this.store = new OffHeapTableStore(exec.maxStoreEntries, n.store, cols);
  }
  abstract lookup(k: unknown): unknown;
  advance(): void {}
  report(): StoreReport {
    return { name: (this.node as { store: string }).store, kind: this.kind, entries: this.store.size, retained: 0, bytes: this.store.bytes, typed: true };
  }
  exportState(into: Float64Array, at: number): number {
    return this.store.exportTo(into, at);
  }
  importState(from: Float64Array, at: number): number {
    return this.store.importFrom(from, at);
  }
}

/** TableSourceProc's semantics on the off-heap table store: keys and values as bytes. */
class OffHeapTableProc extends TableStoreProc {
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "table-source" }>) {
    super(exec, n, "table", 0);
  }
  process(k: unknown, v: unknown, t: number): void {
    const st = this.store;
    if (v === null || v === undefined) {
      const s = st.find(k);
      if (s >= 0) st.delete(s);
      this.forward(k, null, t);
      return;
    }
    st.put(k, v);
    this.forward(k, v, t);
  }
  lookup(k: unknown): unknown {
    return this.store.get(k);
  }
}

/**
 * The columns of a KTable aggregate in the table store: its latest timestamp (TS), then a built-in's
 * numbers: count, sum, min/max (NaN: none yet), mean (sum, n).
 */
const KV_COLUMNS = { count: 2, sum: 2, min: 2, max: 2, mean: 3 } as const;
const TS = 0;
const A = 1;

/**
 * KvAggregateProc's semantics on the off-heap table store: built-in aggregates as numbers in the
 * store's columns (no value bytes), user aggregates (aggregate/reduce) as encoded values; the latest
 * timestamp per key in the store's time column.
 */
class OffHeapKvAggregateProc extends TableStoreProc {
  private readonly op: keyof typeof KV_COLUMNS | undefined;
  private readonly field: ((v: any) => number) | undefined;
  constructor(exec: TopologyExecutor, readonly n: AggNode) {
    super(exec, n, "kv", n.builtin ? KV_COLUMNS[n.builtin.op] : 1);
    this.op = n.builtin?.op;
    this.field = n.builtin?.field;
  }
  process(k: unknown, v: unknown, t: number): void {
    if (k === null || k === undefined || v === null || v === undefined) return; // Kafka Streams skips null keys and values
    const st = this.store;
    let s = st.find(k);
    if (s < 0) {
      s = st.insert();
      st.setNum(s, TS, t);
      if (this.op === "min" || this.op === "max") st.setNum(s, A, NaN);
      else if (this.op === undefined) st.setValue(s, this.n.init()); // an adder that throws leaves the initial value, as in KvAggregateProc
    }
    if (this.op === undefined) {
      st.setValue(s, this.n.adder(k, v, st.value(s)));
    } else if (this.op === "count") {
      st.setNum(s, A, st.numOf(s, A) + 1);
    } else {
      // The built-ins' adders (builder.ts builtinSpec): non-finite values are skipped.
      const x = this.field ? this.field(v) : v;
      if (typeof x === "number" && x - x === 0) {
        const a = st.numOf(s, A);
        if (this.op === "sum") st.setNum(s, A, a + x);
        else if (this.op === "mean") {
          st.setNum(s, A, a + x);
          st.setNum(s, A + 1, st.numOf(s, A + 1) + 1);
        } else st.setNum(s, A, a !== a ? x : this.op === "min" ? Math.min(a, x) : Math.max(a, x));
      }
    }
    if (t > st.numOf(s, TS)) st.setNum(s, TS, t);
    this.forward(k, this.aggOf(s), st.numOf(s, TS));
  }
  /** The aggregate of slot s as KvAggregateProc renders it (min/max/mean of nothing: null). */
  private aggOf(s: number): unknown {
    const st = this.store;
    switch (this.op) {
      case undefined: return st.value(s);
      case "count": case "sum": return st.numOf(s, A);
      case "min": case "max": { const a = st.numOf(s, A); return a !== a ? null : a; }
      case "mean": { const n = st.numOf(s, A + 1); return n > 0 ? st.numOf(s, A) / n : null; }
    }
  }
  lookup(k: unknown): unknown {
    const s = this.store.find(k);
    return s < 0 ? undefined : this.aggOf(s);
  }
}

interface WinEntry { key: unknown; agg: unknown; ts: number }

/** A time-window store a test driver can fetch from (window store fetch). */
interface WindowFetch {
  fetch(k: unknown, from: number, to: number): { start: number; end: number; value: unknown }[];
}

/** Tumbling and hopping windows with user (object) aggregates: each record into each window of its time still open, else late. */
abstract class TimeWindowBase extends Proc implements Stateful, WindowFetch {
  protected readonly w: TimeWindows;
  protected readonly render: (a: any) => unknown;
  constructor(exec: TopologyExecutor, readonly n: AggNode) {
    super(exec, n);
    this.w = n.windows as TimeWindows;
    this.render = renderer(n);
  }
  /** Adds the record to its key's entry in the open window at `start`. */
  protected abstract addTo(k: unknown, v: unknown, t: number, start: number): void;
  abstract advance(wm: number): void;
  abstract report(): StoreReport;
  abstract fetch(k: unknown, from: number, to: number): { start: number; end: number; value: unknown }[];
  process(k: unknown, v: unknown, t: number): void {
    if (k === null || k === undefined || v === null || v === undefined) return;
    const { sizeMs, advanceMs, graceMs } = this.w;
    const wm = this.exec.watermark;
    let missed = 0;
    let total = 0;
    for (let s = this.w.firstStart(t); s <= t; s += advanceMs) {
      total++;
      if (s + sizeMs + graceMs <= wm) {
        missed++;
        continue;
      }
      this.addTo(k, v, t, s);
    }
    if (missed > 0) {
      this.exec.late(this.n.late, this.n.name, k, v, t,
        `${missed} of its ${total} window(s) closed (end + ${graceMs} ms grace ≤ watermark ${wm})`);
    }
  }
}

/** Tumbling and hopping windows with user (object) aggregates, in Maps (ExecutorOptions.objectStores). */
class TimeWindowProc extends TimeWindowBase implements ObjectState {
  /** Open windows by start; each holds its keys in first-insertion order. */
  private readonly open = new Map<number, Map<unknown, WinEntry>>();
  private starts: number[] = [];
  private entries = 0;
  private readonly retained: { dropAt: number; start: number; entries: Map<unknown, WinEntry> }[] = [];
  private retainedEntries = 0;
  protected addTo(k: unknown, v: unknown, t: number, s: number): void {
    const nk = keyOf(k);
    let win = this.open.get(s);
    if (!win) {
      win = new Map();
      this.open.set(s, win);
      this.insertStart(s);
    }
    let e = win.get(nk);
    if (!e) {
      this.exec.checkBound(this.n.store, this.entries);
      e = { key: k, agg: this.n.init(), ts: t };
      win.set(nk, e);
      this.entries++;
    }
    e.agg = this.n.adder(k, v, e.agg);
    if (t > e.ts) e.ts = t;
    if (this.n.emit === "update") this.forward(new Windowed(k, { start: s, end: s + this.w.sizeMs }), this.render(e.agg), e.ts);
  }
  private insertStart(s: number): void {
    const a = this.starts;
    let i = a.length;
    while (i > 0 && a[i - 1]! > s) i--;
    a.splice(i, 0, s);
  }
  advance(wm: number): void {
    const { sizeMs, graceMs } = this.w;
    while (this.starts.length > 0 && this.starts[0]! + sizeMs + graceMs <= wm) {
      const s = this.starts.shift()!;
      const win = this.open.get(s)!;
      this.open.delete(s);
      this.entries -= win.size;
      if (this.n.emit === "close") {
        for (const e of win.values()) this.forwardClosed(new Windowed(e.key, { start: s, end: s + sizeMs }), () => this.render(e.agg), e.ts);
      }
      if (this.n.retentionMs > 0) {
        this.retained.push({ dropAt: s + sizeMs + graceMs + this.n.retentionMs, start: s, entries: win });
        this.retainedEntries += win.size;
      }
    }
    while (this.retained.length > 0 && this.retained[0]!.dropAt <= wm) this.retainedEntries -= this.retained.shift()!.entries.size;
  }
  /** Windows of a key, open or retained, with start in [from, to] (a window store fetch). */
  fetch(k: unknown, from: number, to: number): { start: number; end: number; value: unknown }[] {
    const nk = keyOf(k);
    const out: { start: number; end: number; value: unknown }[] = [];
    for (const r of this.retained) {
      const e = r.entries.get(nk);
      if (e && r.start >= from && r.start <= to) out.push({ start: r.start, end: r.start + this.w.sizeMs, value: this.render(e.agg) });
    }
    for (const s of this.starts) {
      const e = this.open.get(s)!.get(nk);
      if (e && s >= from && s <= to) out.push({ start: s, end: s + this.w.sizeMs, value: this.render(e.agg) });
    }
    return out;
  }
  report(): StoreReport {
    // Per entry: its window Map's entry, the map key, the WinEntry, its aggregate (and an object key
    // beside its JSON); per window its Map and its place in the open Map or the retained list.
    const all = this.entries + this.retainedEntries;
    const wins = flatten([...this.open.values(), ...this.retained.map((r) => r.entries)], (w) => w);
    const bytes = sampledBytes(wins, all, ([nk, e]) => MAP_ENTRY_BYTES + heapBytes(nk) + objectBytes(3) + numberBytes(e.ts) + heapBytes(e.agg) +
      (typeof e.key === "object" ? heapBytes(e.key) : 0)) + (this.open.size + this.retained.length) * (MAP_BYTES + MAP_ENTRY_BYTES);
    return { name: this.n.store, kind: "window", entries: this.entries, retained: this.retainedEntries, bytes, typed: false };
  }
  /** { open: [start, [key, aggregate, timestamp]…]…, retained: [dropAt, start, [key, aggregate, timestamp]…]… } */
  saveState(): unknown {
    const flat = (win: Map<unknown, WinEntry>): unknown[] => {
      const rows: unknown[] = [];
      for (const e of win.values()) rows.push(e.key, e.agg, e.ts);
      return rows;
    };
    const open: unknown[] = [];
    for (const s of this.starts) open.push(s, flat(this.open.get(s)!));
    const retained: unknown[] = [];
    for (const r of this.retained) retained.push(r.dropAt, r.start, flat(r.entries));
    return { open, retained };
  }
  loadState(state: { open: unknown[]; retained: unknown[] }): void {
    const win = (rows: unknown[]): Map<unknown, WinEntry> => {
      const m = new Map<unknown, WinEntry>();
      for (let i = 0; i < rows.length; i += 3) m.set(keyOf(rows[i]), { key: rows[i], agg: rows[i + 1], ts: rows[i + 2] as number });
      return m;
    };
    this.open.clear();
    this.starts = [];
    this.entries = 0;
    for (let i = 0; i < state.open.length; i += 2) {
      const s = state.open[i] as number;
      const m = win(state.open[i + 1] as unknown[]);
      this.open.set(s, m);
      this.starts.push(s);
      this.entries += m.size;
    }
    this.retained.length = 0;
    this.retainedEntries = 0;
    for (let i = 0; i < state.retained.length; i += 3) {
      const m = win(state.retained[i + 2] as unknown[]);
      this.retained.push({ dropAt: state.retained[i] as number, start: state.retained[i + 1] as number, entries: m });
      this.retainedEntries += m.size;
    }
  }
}

/**
 * TimeWindowProc's semantics on the off-heap window store (window-value-store.ts): each (key, window)
 * entry's aggregate written as bytes (value-codec.ts; one the codec cannot write kept as an object).
 */
class OffHeapWindowProc extends TimeWindowBase implements TypedState {
  private readonly store: OffHeapWindowStore;
  private readonly onClose: ((s: number, start: number) => void) | undefined;
  constructor(exec: TopologyExecutor, n: AggNode) {
    super(exec, n);
    this.store = new OffHeapWindowStore(exec.maxStoreEntries, n.store, this.w.sizeMs + this.w.graceMs, n.retentionMs, 64, exec.windowCacheEntries);
    const st = this.store;
    this.onClose = n.emit !== "close" ? undefined : (s, start) =>
      this.forwardClosed(new Windowed(st.keyOfSlotId(s), { start, end: start + this.w.sizeMs }), () => this.render(st.values.get(s)), st.tsOfSlot(s));
  }
  protected addTo(k: unknown, v: unknown, t: number, start: number): void {
    const st = this.store;
    const s = st.entry(k, st.keys.find(k), start, t);
    if (st.created) st.values.set(s, this.n.init()); // an adder that throws leaves the initial value, as in TimeWindowProc
    const agg = this.n.adder(k, v, st.values.get(s));
    st.values.set(s, agg);
    if (t > st.tsOfSlot(s)) st.setTs(s, t);
    if (this.n.emit === "update") this.forward(new Windowed(k, { start, end: start + this.w.sizeMs }), this.render(agg), st.tsOfSlot(s));
  }
  advance(wm: number): void {
    if (this.store.minStart + this.w.sizeMs + this.w.graceMs > wm && this.store.retained === 0) return;
    this.store.advance(wm, this.onClose);
  }
  fetch(k: unknown, from: number, to: number): { start: number; end: number; value: unknown }[] {
    const st = this.store;
    return st.slotsOf(k, from, to).map((s) => {
      const start = st.startOfSlot(s);
      return { start, end: start + this.w.sizeMs, value: this.render(st.values.get(s)) };
    });
  }
  report(): StoreReport {
    return { name: this.n.store, kind: "window", entries: this.store.size, retained: this.store.retained, bytes: this.store.bytes, typed: true };
  }
  exportState(into: Float64Array, at: number, encodeKey: (k: unknown) => number): number {
    return this.store.exportTo(into, at, encodeKey);
  }
  importState(from: Float64Array, at: number, decodeKey: (x: number) => unknown): number {
    return this.store.importFrom(from, at, decodeKey);
  }
}

/** Tumbling and hopping windows with a built-in numeric aggregate, on the typed-array store. */
class NumericWindowProc extends Proc implements Stateful {
  private readonly store: NumericWindowStore;
  private readonly w: TimeWindows;
  private readonly field: ((v: any) => number) | undefined;
  private readonly keys = new Map<unknown, number>();
  private readonly keyList: unknown[] = [undefined];
  /** The last primitive key and its id (runs of one key skip the Map). */
  private lastKey: unknown = undefined;
  private lastId = 0;
  constructor(exec: TopologyExecutor, readonly n: AggNode) {
    super(exec, n);
    this.w = n.windows as TimeWindows;
    this.field = n.builtin!.field;
    this.store = new NumericWindowStore(n.builtin!.op, exec.maxStoreEntries, n.store);
  }
  /** Small non-negative integer keys (the engine's u32 key ids) → store key id, a dense typed index. */
  private dense = new Int32Array(0);
  private denseId(k: number): number {
    if (k >= this.dense.length) {
      const grown = new Int32Array(Math.max(1024, 2 ** Math.ceil(Math.log2(k + 1))));
      grown.set(this.dense);
      this.dense = grown;
    }
    let id = this.dense[k]!;
    if (id === 0) {
      const nk = keyOf(k);
      id = this.keys.get(nk) ?? 0;
      if (id === 0) {
        id = this.keyList.length;
        this.keys.set(nk, id);
        this.keyList.push(k);
      }
      this.dense[k] = id;
    }
    return id;
  }
  process(k: unknown, v: unknown, t: number): void {
    if (k === null || k === undefined || v === null || v === undefined) return;
    let id: number | undefined = this.lastId;
    if (typeof k === "number" && (k >>> 0) === k && k < 1 << 24) {
      id = this.denseId(k);
    } else if (k !== this.lastKey) {
      const nk = keyOf(k);
      id = this.keys.get(nk);
      if (id === undefined) {
        id = this.keyList.length;
        this.keys.set(nk, id);
        this.keyList.push(k);
      }
      if (typeof k !== "object") {
        this.lastKey = k;
        this.lastId = id;
      }
    }
    const x = this.field ? this.field(v) : typeof v === "number" ? v : NaN;
    const { sizeMs, advanceMs, graceMs } = this.w;
    const wm = this.exec.watermark;
    let missed = 0;
    let total = 0;
    for (let s = this.w.firstStart(t); s <= t; s += advanceMs) {
      total++;
      if (s + sizeMs + graceMs <= wm) {
        missed++;
        continue;
      }
      const slot = this.store.add(id, s, x, t);
      if (this.n.emit === "update") this.forward(new Windowed(k, { start: s, end: s + sizeMs }), this.store.value(slot), this.store.ts(slot));
    }
    if (missed > 0) {
      this.exec.late(this.n.late, this.n.name, k, v, t, `${missed} of its ${total} window(s) closed (end + ${graceMs} ms grace ≤ watermark ${wm})`);
    }
  }
  private readonly emitClosed = (key: number, start: number, value: number | null, ts: number): void => {
    if (this.n.emit === "close") this.forwardClosed(new Windowed(this.keyList[key], { start, end: start + this.w.sizeMs }), () => value, ts);
  };
  private readonly emitPartial = (key: number, start: number, count: number, sum: number, n: number, min: number, max: number, ts: number): void => {
    this.exec.partials!(this.keyList[key], start, count, sum, n, min, max, ts);
  };
  advance(wm: number): void {
    const maxStart = wm - this.w.sizeMs - this.w.graceMs;
    if (maxStart < this.store.minStart) return;
    if (this.exec.partials) this.store.closeThroughRaw(maxStart, this.emitPartial);
    else this.store.closeThrough(maxStart, this.emitClosed);
  }
  report(): StoreReport {
    return { name: this.n.store, kind: "window", entries: this.store.size, retained: 0, bytes: this.store.bytes, typed: true };
  }
  /**
   * [keys K, K encoded keys (ids 1…K), the store]; when a key has no code (encodeKey gives NaN):
   * [-1, a JSON block of the keys (ids 1…K), the store]. -1 when it does not fit.
   */
  exportState(into: Float64Array, at: number, encodeKey: (k: unknown) => number): number {
    const K = this.keyList.length - 1;
    let head = 1 + K;
    if (at + head > into.length) return -1;
    into[at] = K;
    for (let id = 1; id <= K; id++) {
      const x = encodeKey(this.keyList[id]);
      if (Number.isNaN(x)) {
        into[at] = -1;
        const w = writeText(into, at + 1, encodeState(this.keyList.slice(1)));
        if (w < 0) return -1;
        head = 1 + w;
        break;
      }
      into[at + id] = x;
    }
    const w = this.store.exportTo(into, at + head);
    return w < 0 ? -1 : head + w;
  }
  importState(from: Float64Array, at: number, decodeKey: (x: number) => unknown): number {
    const K = from[at]!;
    this.keys.clear();
    this.keyList.length = 1;
    this.dense = new Int32Array(0);
    this.lastKey = undefined;
    this.lastId = 0;
    let head = 1 + K;
    let keys: unknown[];
    if (K < 0) {
      const { text, words } = readText(from, at + 1);
      keys = decodeState(text) as unknown[];
      head = 1 + words;
    } else {
      keys = [];
      for (let id = 1; id <= K; id++) keys.push(decodeKey(from[at + id]!));
    }
    for (const k of keys) {
      this.keys.set(keyOf(k), this.keyList.length);
      this.keyList.push(k);
    }
    return head + this.store.importFrom(from, at + head);
  }
}

interface Session { key: unknown; start: number; end: number; agg: unknown; live: boolean; at: number; seq: number }
interface SessionKey { sessions: Session[]; closed: { start: number; end: number }[] }

/**
 * Session windows that merge. A merged-away session stays in the close-time heap (marked dead) until
 * it reaches the top; when the dead outnumber the live (and a quarter of the keys) the heap is rebuilt
 * from the live ones, and at each checkpoint (so the store holds what a restored one does).
 */
class SessionProc extends Proc implements Stateful, ObjectState {
  private readonly keys = new Map<unknown, SessionKey>();
  private heap = new MinHeap<Session>();
  private readonly retainedQueue: { dropAt: number; ks: SessionKey; nk: unknown }[] = [];
  private live = 0;
  private seq = 0;
  private readonly w: SessionWindows;
  private readonly render: (a: any) => unknown;
  constructor(exec: TopologyExecutor, readonly n: AggNode) {
    super(exec, n);
    this.w = n.windows as SessionWindows;
    this.render = renderer(n);
  }
  process(k: unknown, v: unknown, t: number): void {
    if (k === null || k === undefined || v === null || v === undefined) return;
    const { inactivityGapMs: gap, graceMs } = this.w;
    const wm = this.exec.watermark;
    const nk = keyOf(k);
    if (t + gap + graceMs <= wm) {
      this.exec.late(this.n.late, this.n.name, k, v, t, `a session ending at ${t} would close at ${t + gap + graceMs} (end + gap + grace) ≤ watermark ${wm}`);
      return;
    }
    let ks = this.keys.get(nk);
    for (const c of ks?.closed ?? []) {
      if (t >= c.start - gap && t <= c.end + gap) {
        this.exec.late(this.n.late, this.n.name, k, v, t, `it falls within the gap of session [${c.start}, ${c.end}], closed at watermark ${wm}`);
        return;
      }
    }
    let start = t;
    let end = t;
    let agg = this.n.init();
    const keep: Session[] = [];
    const merged: Session[] = [];
    for (const s of ks?.sessions ?? []) {
      if (s.end >= t - gap && s.start <= t + gap) {
        start = Math.min(start, s.start);
        end = Math.max(end, s.end);
        agg = this.n.merger!(k, agg, s.agg);
        merged.push(s);
      } else {
        keep.push(s);
      }
    }
    // The user's merger and adder run before anything changes: one that throws leaves the store as it was.
    agg = this.n.adder(k, v, agg);
    this.exec.checkBound(this.n.store, this.live - merged.length);
    for (const s of merged) {
      s.live = false;
      this.live--;
      if (this.n.emit === "update") this.forward(new Windowed(k, { start: s.start, end: s.end }), null, s.end);
    }
    const session: Session = { key: k, start, end, agg, live: true, at: end + gap + graceMs, seq: this.seq++ };
    keep.push(session);
    keep.sort((a, b) => a.start - b.start);
    if (!ks) {
      ks = { sessions: [], closed: [] };
      this.keys.set(nk, ks);
    }
    ks.sessions = keep;
    this.live++;
    this.heap.push(session);
    if (merged.length > 0) this.compactIfDead();
    if (this.n.emit === "update") this.forward(new Windowed(k, { start, end }), this.render(agg), end);
  }
  /**
   * Rebuilds the heap from the live sessions when the dead ones left in it outnumber them and a
   * quarter of the keys (a rebuild walks every key, those only guarding closed sessions included).
   */
  private compactIfDead(): void {
    const dead = this.heap.size - this.live;
    if (dead > this.live && dead > this.keys.size >> 2) this.compact();
  }
  /** The heap with the live sessions only: the same (close time, seq) order, so the same closes in the same order. */
  private compact(): void {
    const heap = new MinHeap<Session>();
    for (const ks of this.keys.values()) for (const s of ks.sessions) heap.push(s);
    this.heap = heap;
  }
  advance(wm: number): void {
    const { inactivityGapMs: gap, graceMs } = this.w;
    for (let top = this.heap.peek(); top && top.at <= wm; top = this.heap.peek()) {
      this.heap.pop();
      if (!top.live) continue;
      top.live = false;
      this.live--;
      const nk = keyOf(top.key);
      const ks = this.keys.get(nk)!;
      ks.sessions = ks.sessions.filter((s) => s !== top);
      ks.closed.push({ start: top.start, end: top.end });
      // Kept while a record could still fall within its gap without being late on its own.
      this.retainedQueue.push({ dropAt: top.end + 2 * gap + graceMs + this.n.retentionMs, ks, nk });
      if (this.n.emit === "close") this.forwardClosed(new Windowed(top.key, { start: top.start, end: top.end }), () => this.render(top.agg), top.end);
    }
    this.compactIfDead();
    while (this.retainedQueue.length > 0 && this.retainedQueue[0]!.dropAt <= wm) {
      const r = this.retainedQueue.shift()!;
      r.ks.closed.shift(); // closed in close order, which is dropAt order
      if (r.ks.sessions.length === 0 && r.ks.closed.length === 0) this.keys.delete(r.nk);
    }
  }
  report(): StoreReport {
    // Per live session: its object, boxed times, aggregate and slots in the heap and its key's list;
    // per merged-away session still in the heap: the same less the list's slot (estimated from the
    // live ones: after a checkpoint there are none, as in a restored store, and the same records
    // leave the same ones); per key: the Map's entry, the key, its SessionKey and two arrays; per
    // closed session kept: its {start, end} and its queue entry.
    const sessions = flatten(this.keys.values(), (ks) => ks.sessions);
    const live = sampledBytes(sessions, this.live, (x) => objectBytes(7) + numberBytes(x.start) + numberBytes(x.end) + numberBytes(x.at) +
      numberBytes(x.seq) + heapBytes(x.agg) + 16 + (typeof x.key === "object" ? heapBytes(x.key) : 0));
    const dead = this.heap.size - this.live;
    const bytes = live + (this.live > 0 ? Math.round(dead * (live / this.live - 8)) : 0) +
      sampledBytes(this.keys.keys(), this.keys.size, (nk) => MAP_ENTRY_BYTES + heapBytes(nk) + objectBytes(2) + 2 * ARRAY_BYTES) +
      sampledBytes(this.retainedQueue, this.retainedQueue.length, (r) => objectBytes(2) + 32 + 8 + objectBytes(3) + numberBytes(r.dropAt) + 8);
    return { name: this.n.store, kind: "session", entries: this.live, retained: this.retainedQueue.length, bytes, typed: false };
  }
  /**
   * { seq, keys: [map key, [key, start, end, aggregate, close at, seq]…, [start, end]…]… (first-seen
   * order), queue: [dropAt, index of the key]… }. Merged-away sessions left in the heap are skipped
   * when popped, so they are not written, and the heap is rebuilt without them (as a restore builds it).
   */
  saveState(): unknown {
    if (this.heap.size > this.live) this.compact();
    const index = new Map<SessionKey, number>();
    const keys: unknown[] = [];
    for (const [nk, ks] of this.keys) {
      index.set(ks, index.size);
      const sessions: unknown[] = [];
      for (const s of ks.sessions) sessions.push(s.key, s.start, s.end, s.agg, s.at, s.seq);
      const closed: number[] = [];
      for (const c of ks.closed) closed.push(c.start, c.end);
      keys.push(nk, sessions, closed);
    }
    const queue: number[] = [];
    for (const r of this.retainedQueue) queue.push(r.dropAt, index.get(r.ks)!);
    return { seq: this.seq, keys, queue };
  }
  loadState(state: { seq: number; keys: unknown[]; queue: number[] }): void {
    this.keys.clear();
    this.heap = new MinHeap<Session>();
    this.retainedQueue.length = 0;
    this.live = 0;
    this.seq = state.seq;
    const byIndex: [unknown, SessionKey][] = [];
    for (let i = 0; i < state.keys.length; i += 3) {
      const rows = state.keys[i + 1] as unknown[];
      const closed = state.keys[i + 2] as number[];
      const ks: SessionKey = { sessions: [], closed: [] };
      for (let j = 0; j < rows.length; j += 6) {
        const s: Session = { key: rows[j], start: rows[j + 1] as number, end: rows[j + 2] as number, agg: rows[j + 3], live: true,
          at: rows[j + 4] as number, seq: rows[j + 5] as number };
        ks.sessions.push(s);
        this.heap.push(s);
        this.live++;
      }
      for (let j = 0; j < closed.length; j += 2) ks.closed.push({ start: closed[j]!, end: closed[j + 1]! });
      this.keys.set(state.keys[i], ks);
      byIndex.push([state.keys[i], ks]);
    }
    for (let i = 0; i < state.queue.length; i += 2) {
      const [nk, ks] = byIndex[state.queue[i + 1]!]!;
      this.retainedQueue.push({ dropAt: state.queue[i]!, ks, nk });
    }
  }
}

/** A buffered record of SlidingProc: its value, or (values off-heap) its slot in RecordSlots. */
interface SlideRec { t: number; v: unknown; seq: number }

/** Record values by slot in a byte arena (value-slots.ts), slots reused through a free list. */
class RecordSlots {
  readonly values = new SlotValues(64);
  private readonly free: number[] = [];
  private slots = 0;
  put(v: unknown): number {
    let s = this.free.pop();
    if (s === undefined) {
      s = this.slots++;
      this.values.grow(this.slots);
    }
    this.values.set(s, v);
    return s;
  }
  drop(s: number): void {
    this.values.drop(s);
    this.free.push(s);
  }
  /** Empty, with an arena of `arenaBytes` and `slots` slots (as a checkpoint's store held them). */
  reset(slots: number, arenaBytes: number): void {
    this.values.clear();
    this.values.resize(slots, arenaBytes);
    this.free.length = 0;
    this.slots = 0;
  }
  get capacity(): { slots: number; arena: number } {
    return { slots: this.values.capacity, arena: this.values.arenaUsage().capacity };
  }
}
interface SlideKey { key: unknown; recs: SlideRec[]; nextClose: number }

/**
 * Sliding windows (Kafka Streams' semantics): the windows are the left window [t − d, t] of every
 * record and the right window [t + 1, t + 1 + d] of every record with a later one within d; each
 * window aggregates the records inside it (in arrival order). Windows include their end, so one
 * closes when the watermark passes end + grace (end + grace < watermark). The records of the last
 * d + grace are kept per key and the windows are computed from them.
 */
class SlidingProc extends Proc implements Stateful, ObjectState {
  private readonly keys = new Map<unknown, SlideKey>();
  private records = 0;
  private seq = 0;
  private lastWm = -Infinity;
  private readonly w: SlidingWindows;
  private readonly render: (a: any) => unknown;
  /** The records' values as bytes (their SlideRec.v is a slot), unless ExecutorOptions.objectStores. */
  private readonly slots: RecordSlots | undefined;
  constructor(exec: TopologyExecutor, readonly n: AggNode) {
    super(exec, n);
    this.w = n.windows as SlidingWindows;
    this.render = renderer(n);
    this.slots = exec.objectStores ? undefined : new RecordSlots();
  }
  private recValue(r: SlideRec): unknown {
    return this.slots === undefined ? r.v : this.slots.values.get(r.v as number);
  }
  process(k: unknown, v: unknown, t: number): void {
    if (k === null || k === undefined || v === null || v === undefined) return;
    const { timeDifferenceMs: d, graceMs } = this.w;
    const wm = this.exec.watermark;
    if (t + d + graceMs < wm) {
      this.exec.late(this.n.late, this.n.name, k, v, t, `every window containing it (ends up to ${t + d}) closed: end + ${graceMs} ms grace < watermark ${wm}`);
      return;
    }
    const nk = keyOf(k);
    let ks = this.keys.get(nk);
    if (!ks) {
      ks = { key: k, recs: [], nextClose: Infinity };
      this.keys.set(nk, ks);
    }
    this.exec.checkBound(this.n.store, this.records);
    ks.recs.push({ t, v: this.slots === undefined ? v : this.slots.put(v), seq: this.seq++ });
    this.records++;
    if (t + graceMs < ks.nextClose) ks.nextClose = t + graceMs;
    if (this.n.emit === "update") {
      for (const s of this.starts(ks)) {
        const end = s + d;
        const contains = s <= t && t <= end;
        if (end + graceMs < wm || !(contains || s === t + 1)) continue;
        this.emitWindow(ks, s);
      }
    }
  }
  /** Distinct window starts of a key, ascending. */
  private starts(ks: SlideKey): number[] {
    const d = this.w.timeDifferenceMs;
    const set = new Set<number>();
    for (const r of ks.recs) {
      set.add(r.t - d);
      if (ks.recs.some((q) => q.t > r.t && q.t <= r.t + d)) set.add(r.t + 1);
    }
    return [...set].sort((a, b) => a - b);
  }
  private emitWindow(ks: SlideKey, s: number, closing = false): void {
    const end = s + this.w.timeDifferenceMs;
    let ts = -Infinity;
    for (const r of ks.recs) if (r.t >= s && r.t <= end && r.t > ts) ts = r.t;
    const value = (): unknown => {
      let agg = this.n.init();
      for (const r of ks.recs) if (r.t >= s && r.t <= end) agg = this.n.adder(ks.key, this.recValue(r), agg);
      return this.render(agg);
    };
    if (closing) this.forwardClosed(new Windowed(ks.key, { start: s, end }), value, ts);
    else this.forward(new Windowed(ks.key, { start: s, end }), value(), ts);
  }
  advance(wm: number): void {
    const { timeDifferenceMs: d, graceMs } = this.w;
    const prev = this.lastWm;
    this.lastWm = wm;
    const closing: { ks: SlideKey; s: number }[] = [];
    const touched: [unknown, SlideKey][] = [];
    for (const [nk, ks] of this.keys) {
      if (ks.nextClose >= wm) continue;
      touched.push([nk, ks]);
      let next = Infinity;
      for (const s of this.starts(ks)) {
        const close = s + d + graceMs; // the window is closed once the watermark passes this (end inclusive)
        if (close >= prev && close < wm) closing.push({ ks, s });
        else if (close >= wm && close < next) next = close;
      }
      ks.nextClose = next;
    }
    if (this.n.emit === "close") {
      closing.sort((a, b) => a.s - b.s); // stable: keys in first-seen order within a window end
      for (const c of closing) this.emitWindow(c.ks, c.s, true);
    }
    // A record is needed until every window containing it (latest end t + d) and its own right
    // window [t + 1, t + 1 + d] have closed.
    for (const [nk, ks] of touched) {
      const before = ks.recs.length;
      const slots = this.slots;
      if (slots !== undefined) for (const r of ks.recs) if (r.t + 1 + d + graceMs < wm) slots.drop(r.v as number);
      ks.recs = ks.recs.filter((r) => r.t + 1 + d + graceMs >= wm);
      this.records -= before - ks.recs.length;
      if (ks.recs.length === 0) this.keys.delete(nk);
      for (const r of ks.recs) if (r.t + 1 + d + graceMs < ks.nextClose) ks.nextClose = r.t + 1 + d + graceMs; // visit again to evict
    }
  }
  report(): StoreReport {
    // Per record: its object, boxed time, value (or its slot: the values' bytes are the arena's) and
    // slot in its key's list; per key: the Map's entry, the map key, its SlideKey and list (and an
    // object key beside its JSON).
    const recs = flatten(this.keys.values(), (ks) => ks.recs);
    const off = this.slots !== undefined;
    const bytes = sampledBytes(recs, this.records, (r) => objectBytes(3) + numberBytes(r.t) + numberBytes(r.seq) + 8 + (off ? 0 : heapBytes(r.v))) +
      sampledBytes(this.keys, this.keys.size, ([nk, ks]) => MAP_ENTRY_BYTES + heapBytes(nk) + objectBytes(3) + ARRAY_BYTES +
        numberBytes(ks.nextClose) + (typeof ks.key === "object" ? heapBytes(ks.key) : 0)) + (off ? this.slots!.values.bytes : 0);
    return { name: this.n.store, kind: "sliding", entries: this.records, retained: 0, bytes, typed: off };
  }
  /**
   * { seq, lastWm, keys: [key, next close, [t, value, seq]…]… } in first-seen order; values off-heap
   * also { slots, arena }: the capacities their store held (a restored one holds the same).
   */
  saveState(): unknown {
    const keys: unknown[] = [];
    for (const ks of this.keys.values()) {
      const recs: unknown[] = [];
      for (const r of ks.recs) recs.push(r.t, this.recValue(r), r.seq);
      keys.push(ks.key, ks.nextClose, recs);
    }
    return { seq: this.seq, lastWm: this.lastWm, keys, ...(this.slots !== undefined && this.slots.capacity) };
  }
  loadState(state: { seq: number; lastWm: number; keys: unknown[]; slots?: number; arena?: number }): void {
    this.keys.clear();
    this.records = 0;
    this.seq = state.seq;
    this.lastWm = state.lastWm;
    const slots = this.slots;
    if (slots !== undefined) slots.reset(state.slots ?? 64, state.arena ?? 4096);
    for (let i = 0; i < state.keys.length; i += 3) {
      const rows = state.keys[i + 2] as unknown[];
      const ks: SlideKey = { key: state.keys[i], recs: [], nextClose: state.keys[i + 1] as number };
      for (let j = 0; j < rows.length; j += 3) {
        ks.recs.push({ t: rows[j] as number, v: slots === undefined ? rows[j + 1] : slots.put(rows[j + 1]), seq: rows[j + 2] as number });
      }
      this.records += ks.recs.length;
      this.keys.set(keyOf(ks.key), ks);
    }
  }
}

interface JoinRec { key: unknown; v: unknown; t: number; side: 0 | 1; matched: boolean; live: boolean; at: number; seq: number }

/**
 * Stream-stream windowed join. A left record at t joins right records in [t − before, t + after]
 * (a right record at t: left records in [t − after, t + before]), and joins only records of the
 * other side whose own window is still open when it arrives. A record's window closes when the
 * watermark passes t + after + grace (right side: t + before + grace); then it leaves the buffer
 * and, unmatched, is emitted with null for the other side by left (left records) and outer (both)
 * joins. A record that arrives with its window already closed is late.
 */
/**
 * A stream-stream join's record (both buffers): when its join window closes (t + the other side's
 * difference + grace), or NaN when the watermark has passed that already and the record went to
 * the late output.
 */
function joinCloseAt(exec: TopologyExecutor, n: Extract<PlanNode, { kind: "stream-stream-join" }>, k: unknown, v: unknown, t: number, side: number): number {
  const { beforeMs, afterMs, graceMs } = n.windows;
  const wm = exec.watermark;
  const at = t + (side === 0 ? afterMs : beforeMs) + graceMs;
  if (at >= wm) return at;
  exec.late(n.late, n.name, k, v, t, `its join window closed: ${side === 0 ? "left" : "right"} record at ${t}, window end + grace ${at} < watermark ${wm}`);
  return NaN;
}

class StreamJoinProc extends Proc implements Stateful, ObjectState {
  private readonly buffers: [Map<unknown, JoinRec[]>, Map<unknown, JoinRec[]>] = [new Map(), new Map()];
  private heap = new MinHeap<JoinRec>();
  private buffered = 0;
  private seq = 0;
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "stream-stream-join" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number, port: number): void {
    if (k === null || k === undefined || v === null || v === undefined) return;
    const side = port === 0 ? 0 : 1;
    const at = joinCloseAt(this.exec, this.n, k, v, t, side);
    if (Number.isNaN(at)) return;
    const { beforeMs, afterMs } = this.n.windows;
    const nk = keyOf(k);
    const rec: JoinRec = { key: k, v, t, side, matched: false, live: true, at, seq: this.seq++ };
    const others = this.buffers[1 - side]!.get(nk);
    if (others) {
      const lo = side === 0 ? t - beforeMs : t - afterMs;
      const hi = side === 0 ? t + afterMs : t + beforeMs;
      for (const o of others) {
        if (o.t < lo || o.t > hi) continue;
        o.matched = true;
        rec.matched = true;
        const out = side === 0 ? this.n.joiner(v, o.v) : this.n.joiner(o.v, v);
        this.forward(k, out, Math.max(t, o.t));
      }
    }
    this.exec.checkBound(this.n.store, this.buffered);
    const own = this.buffers[side]!;
    const list = own.get(nk);
    if (list) list.push(rec);
    else own.set(nk, [rec]);
    this.buffered++;
    this.heap.push(rec);
  }
  advance(wm: number): void {
    const join = this.n.join;
    for (let top = this.heap.peek(); top && top.at < wm; top = this.heap.peek()) {
      this.heap.pop();
      const nk = keyOf(top.key);
      const own = this.buffers[top.side]!;
      const list = own.get(nk)!;
      const i = list.indexOf(top);
      list.splice(i, 1);
      if (list.length === 0) own.delete(nk);
      this.buffered--;
      if (top.matched) continue;
      if (join === "outer" || (join === "left" && top.side === 0)) {
        this.forwardClosed(top.key, () => (top.side === 0 ? this.n.joiner(top.v, null) : this.n.joiner(null, top.v)), top.t);
      }
    }
  }
  report(): StoreReport {
    // Per record: its object, boxed times, value, slots in its key's list and the heap (and an
    // object key beside its JSON); per key and side: the Map's entry, the map key and the list.
    const [l, r] = this.buffers;
    const recs = flatten([l, r], (side) => flatten(side.values(), (list) => list));
    const bytes = sampledBytes(recs, this.buffered, (x) => objectBytes(8) + numberBytes(x.t) + numberBytes(x.at) + numberBytes(x.seq) + 16 +
      heapBytes(x.v) + (typeof x.key === "object" ? heapBytes(x.key) : 0)) +
      sampledBytes(flatten([l, r], (side) => side.keys()), l.size + r.size, (nk) => MAP_ENTRY_BYTES + heapBytes(nk) + ARRAY_BYTES);
    return { name: this.n.store, kind: "join", entries: this.buffered, retained: 0, bytes, typed: false };
  }
  /** { seq, recs: [key, value, t, side, matched (0/1), close at, seq]… } in arrival order (both sides). */
  saveState(): unknown {
    const all: JoinRec[] = [];
    for (const side of this.buffers) for (const list of side.values()) for (const r of list) all.push(r);
    all.sort((a, b) => a.seq - b.seq);
    const recs: unknown[] = [];
    for (const r of all) recs.push(r.key, r.v, r.t, r.side, r.matched ? 1 : 0, r.at, r.seq);
    return { seq: this.seq, recs };
  }
  loadState(state: { seq: number; recs: unknown[] }): void {
    this.buffers[0].clear();
    this.buffers[1].clear();
    this.heap = new MinHeap<JoinRec>();
    this.buffered = 0;
    this.seq = state.seq;
    const a = state.recs;
    for (let i = 0; i < a.length; i += 7) {
      const rec: JoinRec = { key: a[i], v: a[i + 1], t: a[i + 2] as number, side: a[i + 3] === 0 ? 0 : 1, matched: a[i + 4] === 1, live: true,
        at: a[i + 5] as number, seq: a[i + 6] as number };
      const nk = keyOf(rec.key);
      const own = this.buffers[rec.side];
      const list = own.get(nk);
      if (list) list.push(rec);
      else own.set(nk, [rec]);
      this.heap.push(rec);
      this.buffered++;
    }
  }
}

/** Session windows with a built-in numeric aggregate, on the typed session store (session-store.ts); SessionProc's semantics. */
/**
 * Whether a record may enter its key's sessions on a session store (TypedSessionStore: the typed
 * and off-heap session procs); if not it goes to the late output with why: a session it would
 * open or extend would close at or before the watermark, or it falls within the gap of a closed
 * session still kept.
 */
function admitToSession(exec: TopologyExecutor, n: AggNode, w: SessionWindows, st: TypedSessionStore, k: unknown, v: unknown, t: number): boolean {
  const { inactivityGapMs: gap, graceMs } = w;
  const wm = exec.watermark;
  if (t + gap + graceMs <= wm) {
    exec.late(n.late, n.name, k, v, t, `a session ending at ${t} would close at ${t + gap + graceMs} (end + gap + grace) ≤ watermark ${wm}`);
    return false;
  }
  if (st.admitOpen(k, t) === SESSION_LATE_GAP) {
    exec.late(n.late, n.name, k, v, t, `it falls within the gap of session [${st.lateStart}, ${st.lateEnd}], closed at watermark ${wm}`);
    return false;
  }
  return true;
}

class TypedSessionProc extends Proc implements Stateful, TypedState {
  private readonly store: TypedSessionStore;
  private readonly w: SessionWindows;
  private readonly field: ((v: any) => number) | undefined;
  /** The key of the record being added (merged-away sessions' tombstones carry it). */
  private current: unknown = undefined;
  constructor(exec: TopologyExecutor, readonly n: AggNode) {
    super(exec, n);
    this.w = n.windows as SessionWindows;
    this.field = n.builtin!.field;
    this.store = new TypedSessionStore(n.builtin!.op, this.w.inactivityGapMs, this.w.graceMs, n.retentionMs, exec.maxStoreEntries, n.store);
    if (n.emit === "update") {
      this.store.onMerged = (start, end) => this.forward(new Windowed(this.current, { start, end }), null, end);
    } else {
      this.store.onClose = (key, s) => {
        const value = this.store.value(s);
        const end = this.store.endOf(s);
        this.forwardClosed(new Windowed(key, { start: this.store.startOf(s), end }), () => value, end);
      };
    }
  }
  process(k: unknown, v: unknown, t: number): void {
    if (k === null || k === undefined || v === null || v === undefined) return;
    const st = this.store;
    if (!admitToSession(this.exec, this.n, this.w, st, k, v, t)) return;
    const x = this.field ? this.field(v) : (v as number);
    this.current = k;
    const s = st.add(x, t);
    if (this.n.emit === "update") this.forward(new Windowed(k, { start: st.startOf(s), end: st.endOf(s) }), st.value(s), st.endOf(s));
  }
  advance(wm: number): void {
    this.store.advance(wm);
  }
  report(): StoreReport {
    return { name: this.n.store, kind: "session", entries: this.store.live, retained: this.store.retained, bytes: this.store.bytes, typed: true };
  }
  exportState(into: Float64Array, at: number, encodeKey: (k: unknown) => number): number {
    return this.store.exportTo(into, at, encodeKey);
  }
  importState(from: Float64Array, at: number, decodeKey: (x: number) => unknown): number {
    return this.store.importFrom(from, at, decodeKey);
  }
}

/**
 * Session windows with a user aggregate (aggregate with a merger): SessionProc's semantics on the
 * typed session store (session-store.ts; its sessions' times and order, with a count nobody reads)
 * and each open session's aggregate as bytes beside it (value-slots.ts, by the store's slot; one
 * the codec cannot write kept as an object). A session's value is freed when it closes (a closed
 * session kept for its gap or retention holds no aggregate) or is merged away.
 */
class OffHeapSessionProc extends Proc implements Stateful, TypedState {
  private readonly store: TypedSessionStore;
  private readonly values: SlotValues;
  private readonly w: SessionWindows;
  private readonly render: (a: any) => unknown;
  /** The key of the record being added (merged-away sessions' tombstones carry it). */
  private current: unknown = undefined;
  constructor(exec: TopologyExecutor, readonly n: AggNode) {
    super(exec, n);
    this.w = n.windows as SessionWindows;
    this.render = renderer(n);
    const st = new TypedSessionStore("count", this.w.inactivityGapMs, this.w.graceMs, n.retentionMs, exec.maxStoreEntries, n.store);
    const values = new SlotValues(st.capacity);
    this.store = st;
    this.values = values;
    const update = n.emit === "update";
    st.onMerged = (start, end, s) => {
      values.drop(s);
      if (update) this.forward(new Windowed(this.current, { start, end }), null, end);
    };
    st.onClose = (key, s) => {
      const value = values.get(s);
      values.drop(s);
      if (update) return;
      const end = st.endOf(s);
      this.forwardClosed(new Windowed(key, { start: st.startOf(s), end }), () => this.render(value), end);
    };
  }
  process(k: unknown, v: unknown, t: number): void {
    if (k === null || k === undefined || v === null || v === undefined) return;
    const st = this.store;
    if (!admitToSession(this.exec, this.n, this.w, st, k, v, t)) return;
    const gap = this.w.inactivityGapMs;
    // The user's merger and adder run before anything changes: one that throws leaves the store as it was.
    let agg = this.n.init();
    for (let s = st.firstOpen(st.keys.find(k)); s !== -1; s = st.nextOpen(s)) {
      if (st.endOf(s) >= t - gap && st.startOf(s) <= t + gap) agg = this.n.merger!(k, agg, this.values.get(s));
    }
    agg = this.n.adder(k, v, agg);
    this.current = k;
    const s = st.add(NaN, t);
    this.values.grow(st.capacity);
    this.values.set(s, agg);
    if (this.n.emit === "update") this.forward(new Windowed(k, { start: st.startOf(s), end: st.endOf(s) }), this.render(agg), st.endOf(s));
  }
  advance(wm: number): void {
    this.store.advance(wm);
  }
  report(): StoreReport {
    return { name: this.n.store, kind: "session", entries: this.store.live, retained: this.store.retained, bytes: this.store.bytes + this.values.bytes, typed: true };
  }
  /** The session store's block, then the values' names and each open session's value in the store's order (openSlots()). */
  exportState(into: Float64Array, at: number, encodeKey: (k: unknown) => number): number {
    const w = this.store.exportTo(into, at, encodeKey);
    if (w < 0) return -1;
    let o = at + w;
    const nw = this.values.exportNames(into, o);
    if (nw < 0) return -1;
    o += nw;
    for (const s of this.store.openSlots()) {
      const vw = this.values.exportValue(s, into, o);
      if (vw < 0) return -1;
      o += vw;
    }
    return o - at;
  }
  importState(from: Float64Array, at: number, decodeKey: (x: number) => unknown): number {
    let o = at + this.store.importFrom(from, at, decodeKey);
    o += this.values.importNames(from, o);
    this.values.grow(this.store.capacity);
    for (const s of this.store.openSlots()) o += this.values.importValue(s, from, o);
    return o - at;
  }
}

/** Stream-stream windowed join on the off-heap buffer (join-store.ts); StreamJoinProc's semantics. */
class OffHeapJoinProc extends Proc implements Stateful, TypedState {
  private readonly store: OffHeapJoinStore;
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "stream-stream-join" }>) {
    super(exec, n);
    const { beforeMs, afterMs, graceMs } = n.windows;
    this.store = new OffHeapJoinStore(exec.maxStoreEntries, n.store, [n.join !== "inner", n.join === "outer"], [afterMs + graceMs, beforeMs + graceMs]);
    this.store.onExpire = (key, s) => {
      const st = this.store;
      const left = st.sideOfSlot(s) === 0;
      this.forwardClosed(key, () => (left ? this.n.joiner(st.value(s), null) : this.n.joiner(null, st.value(s))), st.timeOf(s));
    };
  }
  process(k: unknown, v: unknown, t: number, port: number): void {
    if (k === null || k === undefined || v === null || v === undefined) return;
    const side = port === 0 ? 0 : 1;
    const at = joinCloseAt(this.exec, this.n, k, v, t, side);
    if (Number.isNaN(at)) return;
    const { beforeMs, afterMs } = this.n.windows;
    const st = this.store;
    const lo = side === 0 ? t - beforeMs : t - afterMs;
    const hi = side === 0 ? t + afterMs : t + beforeMs;
    let matched = false;
    const id = st.keys.find(k);
    for (let o = st.first(id, 1 - side); o !== -1; o = st.nextOf(o)) {
      const ot = st.timeOf(o);
      if (ot < lo || ot > hi) continue;
      st.setMatched(o);
      matched = true;
      const out = side === 0 ? this.n.joiner(v, st.value(o)) : this.n.joiner(st.value(o), v);
      this.forward(k, out, Math.max(t, ot));
    }
    st.insert(k, v, t, side, matched, id);
  }
  advance(wm: number): void {
    this.store.advance(wm);
  }
  report(): StoreReport {
    return { name: this.n.store, kind: "join", entries: this.store.buffered, retained: 0, bytes: this.store.bytes, typed: true };
  }
  exportState(into: Float64Array, at: number, encodeKey: (k: unknown) => number): number {
    return this.store.exportTo(into, at, encodeKey);
  }
  importState(from: Float64Array, at: number, decodeKey: (x: number) => unknown): number {
    return this.store.importFrom(from, at, decodeKey);
  }
}

/** processValues without a store: the processor flags records or lets them flow on. */
class ProcessValuesProc extends Proc {
  protected readonly ctx: ProcessorContext = { key: undefined, timestamp: 0, watermark: -Infinity };
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "processValues" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number): void {
    this.run(k, v, t, NO_STATE);
  }
  protected run(k: unknown, v: unknown, t: number, state: KeyState<string>): void {
    const ctx = this.ctx;
    ctx.key = k;
    ctx.timestamp = t;
    ctx.watermark = this.exec.watermark;
    const r = this.n.fn(v, state, ctx);
    if (typeof r === "string") this.exec.emit(this.n.flagged, k, flaggedRecord(r, v), t);
    else this.forward(k, v, t);
  }
}

/** processValues with a per-key store (per-key-store.ts): keys get slots from StoreKeys (never released). */
class PerKeyProcessProc extends ProcessValuesProc implements Stateful, TypedState {
  private readonly keys = new StoreKeys();
  private readonly table: PerKeyTable;
  constructor(exec: TopologyExecutor, n: Extract<PlanNode, { kind: "processValues" }>) {
    super(exec, n);
    this.table = new PerKeyTable(n.store!, exec.maxStoreEntries, 64);
  }
  override process(k: unknown, v: unknown, t: number): void {
    // No key, no state: the processor sees none (a write to it throws: the record goes to the error topic).
    if (k === null || k === undefined) {
      this.run(k, v, t, NO_STATE);
      return;
    }
    const table = this.table;
    let id = this.keys.find(k);
    if (id < 0) {
      this.exec.checkBound(this.n.store!.name, this.keys.size);
      id = this.keys.intern(k);
    }
    table.at(id);
    this.run(k, v, t, table.view);
  }
  advance(): void {}
  report(): StoreReport {
    return { name: this.n.store!.name, kind: "per-key", entries: this.table.live, retained: 0, bytes: this.table.bytes, typed: true };
  }
  /** [key block of the live slots' keys] [n] [n × (index into the key block, fields…)]. */
  exportState(into: Float64Array, at: number, encodeKey: (k: unknown) => number): number {
    const slots = this.table.liveSlots();
    const kw = writeKeyBlock(into, at, slots.map((s) => this.keys.list[s]), encodeKey);
    if (kw < 0) return -1;
    const w = this.table.exportTo(into, at + kw, slots, (_s, i) => i);
    return w < 0 ? -1 : kw + w;
  }
  importState(from: Float64Array, at: number, decodeKey: (x: number) => unknown): number {
    const { keys, words } = readKeyBlock(from, at, decodeKey);
    this.keys.clear();
    const ids = keys.map((k) => this.keys.intern(k));
    return words + this.table.importFrom(from, at + words, (i) => ids[i]!);
  }
}

/** Stream-table join: a stream record looks up the table's current value; table updates emit nothing. */
class TableJoinProc extends Proc {
  table!: Lookup;
  constructor(exec: TopologyExecutor, readonly n: Extract<PlanNode, { kind: "stream-table-join" }>) { super(exec, n); }
  process(k: unknown, v: unknown, t: number, port: number): void {
    if (port !== 0) return;
    if (k === null || k === undefined || v === null || v === undefined) return;
    // A GlobalKTable is looked up by the key the selector computes (none: no match).
    const lk = this.n.keySelector ? this.n.keySelector(k, v) : k;
    const tv = lk === null || lk === undefined ? undefined : this.table.lookup(lk);
    if (tv === undefined) {
      if (this.n.left) this.forward(k, this.n.joiner(v, null), t);
      return;
    }
    this.forward(k, this.n.joiner(v, tv), t);
  }
}

export class TopologyExecutor {
  /** The shard's watermark: the largest one seen (records and advance()). */
  watermark = -Infinity;
  readonly maxStoreEntries: number;
  /** @internal See ExecutorOptions.partials. */
  readonly partials: PartialSink | undefined;
  /** See ExecutorOptions.objectStores. */
  readonly objectStores: boolean;
  /** See ExecutorOptions.windowCacheEntries. */
  readonly windowCacheEntries: number;
  private readonly procs: Proc[] = [];
  private readonly stateful: (Proc & Stateful)[] = [];
  private readonly sources = new Map<string, { proc: Proc; node: Extract<PlanNode, { kind: "source" }> | undefined }>();
  private readonly windowProcs = new Map<string, WindowFetch>();
  /** The repartition edges cut on this engine (empty without ExecutorOptions.repartition). */
  readonly repartitionEdges: readonly RepartitionEdge[];

  constructor(readonly topology: Topology, readonly emit: Emit, options: ExecutorOptions = {}) {
    this.maxStoreEntries = options.maxStoreEntries ?? 1_000_000;
    this.partials = options.partials;
    this.objectStores = options.objectStores ?? false;
    this.windowCacheEntries = options.windowCacheEntries ?? DEFAULT_WINDOW_CACHE_ENTRIES;
    if (!Number.isInteger(this.windowCacheEntries) || this.windowCacheEntries < 0) {
      throw new OptionRangeError("windowCacheEntries", `windowCacheEntries must be an integer ≥ 0, got ${options.windowCacheEntries}`);
    }
    /** Global tables another executor owns (ExecutorOptions.globalTables): not ours to checkpoint or wire. */
    const borrowed = new Set<Proc>();
    for (const n of topology.nodes) {
      let p: Proc;
      const shared = n.kind === "table-source" && n.global === true ? options.globalTables : undefined;
      if (shared?.has(n.id)) {
        p = shared.get(n.id) as Proc;
        borrowed.add(p);
      } else {
        p = this.create(n);
        shared?.set(n.id, p);
      }
      this.procs.push(p);
      if (isStateful(p) && !borrowed.has(p)) this.stateful.push(p);
      if (n.kind === "source") for (const t of n.topics) this.addSource(t, p, n);
      if (n.kind === "table-source") this.addSource(n.topic, p, undefined);
    }
    const edges = options.repartition ? repartitionEdges(topology) : [];
    this.repartitionEdges = edges;
    for (const n of topology.nodes) {
      const p = this.procs[n.id]!;
      n.parents.forEach((parent, port) => {
        const pp = this.procs[parent]!;
        if (borrowed.has(pp)) return; // its owner forwards its updates (a global table's go nowhere but joins' lookups)
        const edge = edges.find((e) => e.node === n.id && e.port === port);
        const to = edge ? new RepartitionProc(this, n, edge.name) : p;
        if (pp instanceof SplitProc) pp.branches[(n as Extract<PlanNode, { kind: "branch" }>).index] = to;
        else pp.children.push({ proc: to, port: edge ? 0 : port });
      });
      if (n.kind === "stream-table-join") {
        const t = this.procs[n.table] as unknown as Partial<Lookup>;
        if (typeof t.lookup !== "function") throw new TopologyError(`${n.name}: the joined KTable must come from builder.table() or a non-windowed aggregation`);
        (p as TableJoinProc).table = t as Lookup;
      }
    }
  }

  private addSource(topic: string, proc: Proc, node: Extract<PlanNode, { kind: "source" }> | undefined): void {
    if (this.sources.has(topic)) throw new TopologyError(`topic ${topic} is read by two sources; read it once and branch`);
    this.sources.set(topic, { proc, node });
  }

  private create(n: PlanNode): Proc {
    switch (n.kind) {
      case "source": case "branch": case "merge": case "toStream": return new PassThrough(this, n);
      case "table-source": return this.objectStores ? new TableSourceProc(this, n) : new OffHeapTableProc(this, n);
      case "filter": return new FilterProc(this, n);
      case "map": return new MapProc(this, n);
      case "mapValues": return new MapValuesProc(this, n);
      case "flatMap": return new FlatMapProc(this, n);
      case "flatMapValues": return new FlatMapValuesProc(this, n);
      case "peek": return new PeekProc(this, n);
      case "processValues": return n.store ? new PerKeyProcessProc(this, n) : new ProcessValuesProc(this, n);
      case "selectKey": return new SelectKeyProc(this, n);
      case "split": return new SplitProc(this, n);
      case "sink": return new SinkProc(this, n);
      case "stream-table-join": return new TableJoinProc(this, n);
      case "stream-stream-join": return this.objectStores ? new StreamJoinProc(this, n) : new OffHeapJoinProc(this, n);
      case "aggregate": {
        if (n.windows === undefined) return this.objectStores ? new KvAggregateProc(this, n) : new OffHeapKvAggregateProc(this, n);
        if (n.windows instanceof SessionWindows) return this.objectStores ? new SessionProc(this, n) : n.builtin ? new TypedSessionProc(this, n) : new OffHeapSessionProc(this, n);
        if (n.windows instanceof SlidingWindows) return new SlidingProc(this, n);
        if (n.builtin && n.retentionMs === 0) return new NumericWindowProc(this, n);
        const p = this.objectStores ? new TimeWindowProc(this, n) : new OffHeapWindowProc(this, n);
        this.windowProcs.set(n.store, p);
        return p;
      }
    }
  }

  /** True when the topic is read as a table (its records do not move event time). */
  isTableTopic(topic: string): boolean {
    return this.sources.get(topic)?.node === undefined && this.sources.has(topic);
  }

  /** True when the topology reads the topic. */
  reads(topic: string): boolean {
    return this.sources.has(topic);
  }

  /**
   * Event time of a record of a stream topic: the source's timestamp extractor, else the record's
   * own timestamp. NaN (or any value that is not a finite number ≥ 0) means invalid.
   */
  eventTime(topic: string, key: unknown, value: unknown, recordTs: number): number {
    const s = this.sources.get(topic);
    const ex = s?.node?.timestamp;
    let t: number;
    try {
      t = ex ? ex(value, key) : recordTs;
    } catch {
      return NaN;
    }
    return typeof t === "number" && t >= 0 && t - t === 0 ? t : NaN;
  }

  /** The key a stream source gives a record (its own key unless the source has a key function). */
  sourceKey(topic: string, key: unknown, value: unknown): unknown {
    const f = this.sources.get(topic)?.node?.key;
    return f ? f(value) : key;
  }

  /**
   * One record of `topic` with event time t; `watermark` is the shard's watermark including it.
   * `keyed`: `key` is already the source's key (the engine reads it from the key column).
   * Windows the watermark closes are emitted first. A user function that throws sends the record
   * to the error topic with the reason; processing goes on.
   */
  process(topic: string, key: unknown, value: unknown, t: number, watermark: number, keyed = false): void {
    if (watermark > this.watermark) this.advance(watermark);
    const s = this.sources.get(topic);
    if (!s) return;
    try {
      const k = s.node?.key && !keyed ? s.node.key(value) : key;
      const c = s.proc.children;
      if (c.length === 1 && s.node !== undefined) c[0]!.proc.process(k, value, t, c[0]!.port); // a source only passes records on
      else s.proc.process(k, value, t, 0);
    } catch (err) {
      if (err instanceof StateStoreFullError) throw err;
      this.emit(ERROR_TOPIC, key, { topic, key, value, timestamp: t, error: String((err as Error)?.message ?? err) }, t);
    }
  }

  /**
   * A record that crossed repartition edge `edge` (an index into repartitionEdges) to this shard,
   * with the key it was given upstream: it enters the edge's operator. Errors as in process().
   */
  inject(edge: number, key: unknown, value: unknown, t: number): void {
    const e = this.repartitionEdges[edge]!;
    try {
      this.procs[e.node]!.process(key, value, t, e.port);
    } catch (err) {
      if (err instanceof StateStoreFullError) throw err;
      this.emit(ERROR_TOPIC, key, { operator: this.topology.nodes[e.node]!.name, key, value, timestamp: t, error: String((err as Error)?.message ?? err) }, t);
    }
  }

  /** A record without a valid event time: to the invalid topic with the reason. */
  invalid(topic: string, key: unknown, value: unknown, recordTs: number): void {
    this.emit(INVALID_TOPIC, key, { topic, key, value, timestamp: recordTs, reason: "no valid event time (a finite number ≥ 0 from the timestamp extractor or the record)" }, recordTs);
  }

  /** Moves the watermark: closes windows and sessions, emits unmatched join records. */
  advance(watermark: number): void {
    if (watermark <= this.watermark && watermark !== Infinity) return;
    this.watermark = watermark;
    const st = this.stateful;
    for (let i = 0; i < st.length; i++) {
      try {
        st[i]!.advance(watermark);
      } catch (err) {
        if (err instanceof StateStoreFullError) throw err;
        // Results of closing windows are guarded one by one (Proc.forwardClosed); this is the last resort.
        this.emit(ERROR_TOPIC, null, { operator: st[i]!.node.name, watermark, error: String((err as Error)?.message ?? err) }, watermark);
      }
    }
  }

  /** End of a bounded input: every open window closes. */
  flush(): void {
    this.advance(Infinity);
  }

  /** @internal */
  late(topic: string, operator: string, key: unknown, value: unknown, t: number, reason: string): void {
    const wm = this.watermark;
    const late: LateRecord = { operator, key, value, timestamp: t, watermark: wm, latenessMs: wm - t, reason: `late: ${reason}` };
    this.emit(topic, key, late, t);
  }

  /** @internal Fails when a store is about to exceed its bound. */
  checkBound(store: string, entries: number): void {
    if (entries >= this.maxStoreEntries) throw new StateStoreFullError(store, this.maxStoreEntries);
  }

  /** Why the last snapshot() returned -1 (undefined after one that succeeded). */
  snapshotError: string | undefined;

  /**
   * Writes the shard's whole state (the watermark and every store, see the file header) into `into`
   * for a checkpoint; returns the words written, or -1 when it does not fit (or a store holds a
   * value a checkpoint cannot write), with the reason in `snapshotError`. `encodeKey` gives the
   * typed window stores a number per key (NaN: none; those keys are then written as JSON).
   */
  snapshot(into: Float64Array, encodeKey: (k: unknown) => number = () => NaN): number {
    this.snapshotError = undefined;
    const refuse = (why: string): number => {
      this.snapshotError = why;
      return -1;
    };
    if (into.length < 2) return refuse(`the checkpoint area (${into.length} words) is too small`);
    into[0] = this.watermark;
    into[1] = this.stateful.length;
    let at = 2;
    for (const p of this.stateful) {
      let w: number;
      try {
        w = isTypedState(p) ? p.exportState(into, at, encodeKey) : writeText(into, at, encodeState((p as unknown as ObjectState).saveState()));
      } catch (err) {
        return refuse(`${p.node.name}: ${String((err as Error)?.message ?? err)}`);
      }
      if (w < 0) return refuse(`${p.node.name}: the state does not fit in the checkpoint area (${into.length} words, ${at} used before this store)`);
      at += w;
    }
    return at;
  }

  /** Replaces the state with one written by snapshot() (of the same topology). */
  restore(from: Float64Array, decodeKey: (x: number) => unknown = () => undefined): void {
    if (from[1] !== this.stateful.length) {
      throw new TopologyError(`the checkpoint holds ${from[1]} state stores, this topology has ${this.stateful.length}: it was written by another topology`);
    }
    this.watermark = from[0]!;
    let at = 2;
    for (const p of this.stateful) {
      if (isTypedState(p)) {
        at += p.importState(from, at, decodeKey);
      } else {
        const { text, words } = readText(from, at);
        (p as unknown as ObjectState).loadState(decodeState(text));
        at += words;
      }
    }
  }

  /** Every state store with its size and memory. */
  stores(): StoreReport[] {
    return this.stateful.map((p) => p.report());
  }

  /** Windows of a key in a time-window store (open, and closed ones kept by retentionMs). */
  fetchWindows(store: string, key: unknown, from = -Infinity, to = Infinity): { start: number; end: number; value: unknown }[] {
    const p = this.windowProcs.get(store);
    if (!p) throw new TopologyError(`no time-window store named ${store} (built-in aggregates without retentionMs use the typed store, which is not queryable)`);
    return p.fetch(key, from, to);
  }
}
