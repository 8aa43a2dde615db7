/**
 * Per-key state for `KStream.processValues` (Kafka Streams' processValues/transformValues with a
 * key-value state store): a store of numeric fields per record key, on typed arrays.
 *
 *   const lastFix = Stores.perKey("last-fix", { lat: "f64", lon: "f64", ts: "f64" });
 *   stream.processValues(lastFix, (fix, last, ctx) => {
 *     if (fix.ts > last.ts && tooFast(last, fix)) return `… km/h since the last fix`;  // flagged
 *     last.ts = fix.ts; …                                                             // state kept
 *   }, { flagged: "driver-anomalies" });
 *
 * The processor gets the record's value, the key's state and a context (key, timestamp, the
 * shard's watermark). A field of a key that never wrote it reads NaN; `exists` says whether the key
 * has state. Returning a string flags the record: it goes to the `flagged` topic as
 * `{ reason, event }` (a {@link FlaggedRecord}) instead of flowing on; any other result passes the
 * record on unchanged.
 *
 * The state is one object per store (a view over the current key's row, moved before each call;
 * its class, made once per field list, has an accessor per field): no object per record. The store
 * is row-major (a key's existence flag and fields side by side in one Float64Array). Slots: the key's id in the shared string table (or its u32 value) on the
 * batch plan (batch-plan.ts), ids from StoreKeys on the record-at-a-time executor (executor.ts).
 * Bounded by the executor's maxStoreEntries (a slot beyond it fails with ERR_STATE_FULL); keys keep
 * their state until the processor deletes it. Checkpoints write the live slots and their fields.
 */
import { StateStoreFullError } from "./errors.js";
import { OptionTypeError } from "../errors.js";

/** Field types of a per-key store (numbers). */
export type PerKeyFieldType = "f64";

/** A per-key store's definition: its name and fields (`Stores.perKey`). */
export class PerKeyStoreSpec<F extends string = string> {
  /** @internal */ declare readonly _fields?: F;
  constructor(readonly name: string, readonly fields: readonly F[]) {}
}

/** Kafka Streams' `Stores`: definitions of state stores for processValues. */
export const Stores = {
  /** A store of numeric fields per record key, on typed arrays (no object per key or per record). */
  perKey<F extends string>(name: string, fields: Readonly<Record<F, PerKeyFieldType>>): PerKeyStoreSpec<F> {
    if (typeof name !== "string" || name.length === 0) throw new OptionTypeError("name", `a store needs a non-empty name, got ${JSON.stringify(name)}`);
    const names = Object.keys(fields) as F[];
    if (names.length === 0) throw new OptionTypeError("fields", "a per-key store needs at least one field");
    for (const f of names) {
      if (fields[f] !== "f64") throw new OptionTypeError("fields", `field ${f} of store ${name}: the type must be "f64", got ${JSON.stringify(fields[f])}`);
      if (f === "exists" || f === "delete") throw new OptionTypeError("fields", `field ${f} of store ${name}: the name is taken by the state view`);
    }
    return new PerKeyStoreSpec<F>(name, names);
  },
};

/** The state of the current key: its fields (NaN until written), whether it has any, and delete(). */
export type KeyState<F extends string> = { [P in F]: number } & {
  /** True once the key wrote a field (and until delete()). */
  readonly exists: boolean;
  /** Forgets the key's state (its fields read NaN again). */
  delete(): void;
};

/** What the processor sees besides the value: reused, valid during the call only. */
export interface ProcessorContext<K = unknown> {
  key: K;
  /** The record's event time. */
  timestamp: number;
  /** The shard's watermark (the one windows close at and late checks use), this record included. */
  watermark: number;
}

/** The processor of processValues: a string result flags the record with that reason. */
export type ValueProcessor<K, V, F extends string> = (value: V, state: KeyState<F>, context: ProcessorContext<K>) => string | void | undefined;

/** A flagged record as it reaches the `flagged` topic (key: the record's key, timestamp: its event time). */
export interface FlaggedRecord<V = unknown> {
  reason: string;
  event: V;
}

export interface ProcessValuesOptions {
  /** Topic that receives the records the processor flags (a string result). @default "riptide-flagged" */
  flagged?: string;
  name?: string;
}

/** The view of a PerKeyTable: fields as accessors over the row at `base`. */
interface View {
  base: number;
  /** Re-reads the table's array (after it grew or was replaced). */
  bind(): void;
}

/**
 * One view class per field list, shared by every table of that list: a processor's property reads
 * then see one object shape (an accessor per field on the prototype) however many stores and
 * shards a thread holds, and V8 inlines them.
 */
const viewClasses = new Map<string, new (table: PerKeyTable) => View>();

function viewClass(fields: readonly string[]): new (table: PerKeyTable) => View {
  const sig = JSON.stringify(fields);
  let C = viewClasses.get(sig);
  if (C === undefined) {
    const acc = fields.map((f, j) => `
      get ${JSON.stringify(f)}() { return this.d[this.base + ${j + 1}]; }
      set ${JSON.stringify(f)}(x) { const b = this.base; if (this.d[b] !== 1) { this.d[b] = 1; this.table.live++; } this.d[b + ${j + 1}] = x; }`).join("");
    C = new Function(`return class PerKeyView {
      constructor(table) { this.table = table; this.base = 0; this.d = null; this.bind(); }
      bind() { this.d = this.table.data; }
      get exists() { return this.d[this.base] === 1; }
      delete() { this.table.clear(this.base / this.table.stride); }${acc}
    };`)() as new (table: PerKeyTable) => View;
    viewClasses.set(sig, C);
  }
  return C;
}

/**
 * The typed store, row-major: per slot a row of `stride` = 1 + F words in one Float64Array, the
 * first 1 when the slot has state (0 otherwise), then the fields (NaN until written), so that a
 * key's state is one cache line to load; grown by doubling up to `limit` slots. `view` reads and
 * writes the row at() chose.
 *
 * Only the first `inUse` slots are in use: at() raises it (by an eighth and more at a time, so that
 * keys arriving in increasing order, as interned string ids do, raise it rarely), writers without
 * at() (the batch plan's fused loops, native or not) stay below it, and the rows above it are
 * empty. A checkpoint (exportDense) copies those rows only: the array's capacity, a power of two,
 * is up to twice the keys' (16 384 rows for 10 000 drivers).
 */
export class PerKeyTable {
  data: Float64Array;
  readonly stride: number;
  /** Slots with state. */
  live = 0;
  /** Slots [0, inUse) may have state; the others are empty (see the class comment). */
  inUse = 0;
  private cap: number;
  private readonly v: View;

  constructor(readonly spec: PerKeyStoreSpec, private readonly limit: number, initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity && cap < limit) cap *= 2;
    this.cap = cap;
    this.stride = 1 + spec.fields.length;
    this.data = PerKeyTable.rows(cap, this.stride);
    this.v = new (viewClass(spec.fields))(this);
  }

  /** `cap` empty rows: existence 0, fields NaN. */
  private static rows(cap: number, stride: number): Float64Array {
    const d = new Float64Array(cap * stride).fill(NaN);
    for (let s = 0; s < cap; s++) d[s * stride] = 0;
    return d;
  }

  /** The state of the slot at() chose, as the processor sees it. */
  get view(): KeyState<string> {
    return this.v as unknown as KeyState<string>;
  }

  get capacity(): number {
    return this.cap;
  }

  get bytes(): number {
    return this.data.byteLength;
  }

  /** Points the view at slot s, growing the array to hold it (ERR_STATE_FULL beyond the bound). */
  at(s: number): void {
    if (s >= this.inUse) this.use(s);
    this.v.base = s * this.stride;
  }

  /** Slot s and the slots below it in use (`inUse`), growing the array to hold them. */
  private use(s: number): void {
    if (s >= this.cap) this.grow(s);
    this.inUse = Math.min(this.cap, Math.max(s + 1, this.inUse + (this.inUse >> 3) + 16));
  }

  private grow(s: number): void {
    if (s >= this.limit) throw new StateStoreFullError(this.spec.name, this.limit);
    let cap = this.cap;
    while (cap <= s) cap *= 2;
    if (cap > this.limit) cap = this.limit;
    const d = PerKeyTable.rows(cap, this.stride);
    d.set(this.data);
    this.data = d;
    this.cap = cap;
    this.v.bind();
  }

  clear(s: number): void {
    const b = s * this.stride;
    if (this.data[b] === 1) this.live--;
    this.data.fill(NaN, b + 1, b + this.stride);
    this.data[b] = 0;
  }

  /** Every slot with state, in slot order. */
  liveSlots(): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.inUse; s++) if (this.data[s * this.stride] === 1) out.push(s);
    return out;
  }

  /** [n] then n × [slot, fields…]; -1 when it does not fit. Slots are the caller's (ids or indexes into a key block). */
  exportTo(into: Float64Array, at: number, slots: readonly number[], code: (slot: number, index: number) => number): number {
    const F = this.stride - 1;
    const words = 1 + slots.length * (1 + F);
    if (at + words > into.length) return -1;
    into[at] = slots.length;
    let w = at + 1;
    for (let i = 0; i < slots.length; i++) {
      const b = slots[i]! * this.stride;
      into[w++] = code(slots[i]!, i);
      for (let j = 1; j <= F; j++) into[w++] = this.data[b + j]!;
    }
    return words;
  }

  /** The store by slot (the batch plan's, whose slots are key ids): [R = inUse] [R rows]; one copy, no loop per key. -1 when it does not fit. */
  exportDense(into: Float64Array, at: number): number {
    const n = this.inUse * this.stride;
    if (at + 1 + n > into.length) return -1;
    into[at] = this.inUse;
    into.set(n === this.data.length ? this.data : this.data.subarray(0, n), at + 1);
    return 1 + n;
  }

  /** Replaces the state with what exportDense() wrote; returns the words read. */
  importDense(from: Float64Array, at: number): number {
    const C = from[at]!;
    if (C > this.cap) this.grow(C - 1);
    this.data = PerKeyTable.rows(this.cap, this.stride);
    this.data.set(from.subarray(at + 1, at + 1 + C * this.stride));
    this.inUse = C;
    this.v.bind();
    let live = 0;
    for (let s = 0; s < C; s++) if (this.data[s * this.stride] === 1) live++;
    this.live = live;
    return 1 + C * this.stride;
  }

  /** Replaces the state with what exportTo() wrote; `slotOf(code)` places each; returns the words read. */
  importFrom(from: Float64Array, at: number, slotOf: (code: number) => number): number {
    this.data = PerKeyTable.rows(this.cap, this.stride);
    this.v.bind();
    this.live = 0;
    this.inUse = 0;
    const F = this.stride - 1;
    const n = from[at]!;
    let r = at + 1;
    for (let i = 0; i < n; i++) {
      const s = slotOf(from[r++]!);
      if (s >= this.inUse) this.use(s);
      const b = s * this.stride;
      this.data[b] = 1;
      this.live++;
      for (let j = 1; j <= F; j++) this.data[b + j] = from[r++]!;
    }
    return 1 + n * (1 + F);
  }
}

/** The state a processValues processor without a store sees. */
export const NO_STATE = Object.freeze({ exists: false, delete: () => undefined }) as unknown as KeyState<string>;

/** The value of a flagged record as the engine's outputs and the test driver carry it. */
export function flaggedRecord(reason: string, event: unknown): FlaggedRecord {
  return { reason, event };
}

/** Checks a processValues call's arguments (builder.ts). */
export function checkProcessValues(store: unknown, processor: unknown): void {
  if (store !== undefined && !(store instanceof PerKeyStoreSpec) && !(typeof store === "object" && store !== null && Array.isArray((store as PerKeyStoreSpec).fields))) {
    throw new OptionTypeError("store", "processValues() takes a store from Stores.perKey(name, fields) (or undefined for none)");
  }
  if (typeof processor !== "function") throw new OptionTypeError("processor", `processValues() takes a function (value, state, context), got ${typeof processor}`);
}

