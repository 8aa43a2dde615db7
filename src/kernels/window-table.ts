/**
 * A window aggregation table on typed arrays: open addressing (linear probing) keyed by
 * (group key, window start), with count, sum, n (how many values were summed), min and max per
 * entry. No allocation per update; the arrays grow by doubling when half full.
 *
 * Windows close by event time: `closeUpTo(W, sink)` emits every entry whose window end + grace is
 * ≤ W and removes it. Closing is rare (once per window advance), so it scans the table and then
 * re-places the survivors in place (no allocation); updates stay a probe or two.
 *
 * Sums are plain f64 additions. Callers that need order-independent sums (the same result from
 * any number of workers) add integers (e.g. values in fixed point), which f64 adds exactly below 2^53.
 */
export interface WindowSink {
  window(key: number, windowStart: number, count: number, sum: number, n: number, min: number, max: number): void;
}

export interface WindowTableOptions {
  /** Window size in ms. */
  sizeMs: number;
  /** Time a window stays open after its end, in ms. @default 0 */
  graceMs?: number;
  /** Initial slots (rounded up to a power of two). @default 1024 */
  initialCapacity?: number;
}

/**
 * A WindowTable's arrays, for batch kernels that update the table in place (the native ones,
 * src/kernels/native.ts). Replaced (a new object) whenever the table grows or is imported.
 */
export interface WindowTableArrays {
  readonly used: Uint8Array;
  readonly keys: Uint32Array;
  readonly starts: Float64Array;
  readonly count: Float64Array;
  readonly sum: Float64Array;
  readonly n: Float64Array;
  readonly min: Float64Array;
  readonly max: Float64Array;
}

export class WindowTable {
  readonly sizeMs: number;
  readonly graceMs: number;
  private cap = 0;
  private mask = 0;
  private used!: Uint8Array;
  private keys!: Uint32Array;
  private starts!: Float64Array;
  private count!: Float64Array;
  private sum!: Float64Array;
  private n!: Float64Array;
  private min!: Float64Array;
  private max!: Float64Array;
  /** Entries in the table. */
  size = 0;
  /** Smallest window start present (Infinity when empty): nothing closes before it. */
  private minStart = Infinity;
  private view!: WindowTableArrays;

  constructor(options: WindowTableOptions) {
    this.sizeMs = options.sizeMs;
    this.graceMs = options.graceMs ?? 0;
    let cap = 16;
    while (cap < (options.initialCapacity ?? 1024)) cap *= 2;
    this.allocate(cap);
  }

  /** Bytes held by the table's arrays. */
  get bytes(): number {
    return this.cap * (1 + 4 + 8 * 6);
  }

  /** The event time at which the oldest open window closes (Infinity when none is open). */
  get nextCloseAt(): number {
    return this.minStart + this.sizeMs + this.graceMs;
  }

  private slotOf(key: number, start: number): number {
    // Window index fits in 32 bits for any realistic epoch-ms start and size ≥ 1 ms.
    let s = this.home(key, start);
    while (this.used[s] !== 0 && (this.keys[s] !== key || this.starts[s] !== start)) s = (s + 1) & this.mask;
    return s;
  }

  /** Adds one record to (key, window start). `value` NaN counts the record but adds no value. */
  add(key: number, start: number, value: number): void {
    const s = this.slotOf(key, start);
    if (this.used[s] === 0) {
      this.insert(s, key, start, value);
      return;
    }
    // The common path stays small so that V8 inlines it into the caller's loop (an out-of-line
    // call would box `start` and `value` on every record).
    this.count[s]++;
    if (value === value) {
      this.sum[s] += value;
      this.n[s]++;
      if (value < this.min[s]!) this.min[s] = value;
      if (value > this.max[s]!) this.max[s] = value;
    }
  }

  /**
   * `add(keys[i], starts[i], values[i])` for `i < n`: the reference of the native batch kernel
   * (`windowAddBatchFast` in native.ts).
   */
  addBatch(keys: Uint32Array, starts: Float64Array, values: Float64Array, n: number): void {
    for (let i = 0; i < n; i++) this.add(keys[i]!, starts[i]!, values[i]!);
  }

  // --- for batch kernels that update the table in place (native.ts) ----------------------------
  // They read `arrays`, `size` and `smallestStart`, write entries as `add` would, hand the counters
  // back with `setCounters`, and call `growForInsert` where `insert` would grow: exactly then, so
  // that capacity, slot order and therefore close order stay those of the JS kernel.

  /** The arrays as they are now (a new object after growth or import). */
  get arrays(): WindowTableArrays {
    return this.view;
  }

  /** The smallest window start present (Infinity when empty). */
  get smallestStart(): number {
    return this.minStart;
  }

  /** Takes the entry count and smallest start after an in-place batch update. */
  setCounters(size: number, smallestStart: number): void {
    this.size = size;
    this.minStart = smallestStart;
  }

  /** Doubles the capacity, as `insert` does when one more entry would pass half full. */
  growForInsert(): void {
    this.grow();
  }

  /** A new (key, window) entry: once per key and window, not per record. */
  private insert(slot: number, key: number, start: number, value: number): void {
    let s = slot;
    if ((this.size + 1) * 2 > this.cap) {
      this.grow();
      s = this.slotOf(key, start);
    }
    this.used[s] = 1;
    this.keys[s] = key;
    this.starts[s] = start;
    this.count[s] = 1;
    const has = value === value;
    this.sum[s] = has ? value : 0;
    this.n[s] = has ? 1 : 0;
    this.min[s] = has ? value : Infinity;
    this.max[s] = has ? value : -Infinity;
    this.size++;
    if (start < this.minStart) this.minStart = start;
  }

  /** Emits and removes every window with end + grace ≤ watermark. Returns how many were emitted. */
  closeUpTo(watermark: number, sink: WindowSink): number {
    if (this.size === 0 || watermark < this.nextCloseAt) return 0;
    const closeBefore = watermark - this.sizeMs - this.graceMs; // start ≤ this ⇔ end + grace ≤ watermark
    let emitted = 0;
    let minStart = Infinity;
    for (let s = 0; s < this.cap; s++) {
      if (this.used[s] === 0) continue;
      const start = this.starts[s]!;
      if (start <= closeBefore) {
        sink.window(this.keys[s]!, start, this.count[s]!, this.sum[s]!, this.n[s]!, this.min[s]!, this.max[s]!);
        this.used[s] = 2; // tombstone until the sweep below
        emitted++;
      } else if (start < minStart) {
        minStart = start;
      }
    }
    this.size -= emitted;
    this.minStart = minStart;
    this.sweep();
    return emitted;
  }

  /**
   * Removes tombstones in place, keeping linear-probing chains intact: every live entry is moved
   * back to the first free slot on its probe path. No allocation (closing must not feed the GC).
   */
  private sweep(): void {
    const cap = this.cap;
    // Start just after a slot that was empty before the tombstones: no probe path crosses it, so
    // walking forward from there meets every chain from its beginning (the load stays ≤ 1/2, so
    // such a slot exists).
    let start = 0;
    while (start < cap && this.used[start] !== 0) start++;
    for (let s = 0; s < cap; s++) if (this.used[s] === 2) this.used[s] = 0;
    for (let k = 1; k <= cap; k++) {
      const s = (start + k) & this.mask;
      if (this.used[s] === 0) continue;
      const key = this.keys[s]!;
      const st = this.starts[s]!;
      let t = this.home(key, st);
      while (t !== s && this.used[t] !== 0) t = (t + 1) & this.mask;
      if (t === s) continue;
      this.used[t] = 1; this.keys[t] = key; this.starts[t] = st;
      this.count[t] = this.count[s]!; this.sum[t] = this.sum[s]!; this.n[t] = this.n[s]!;
      this.min[t] = this.min[s]!; this.max[t] = this.max[s]!;
      this.used[s] = 0;
    }
  }

  /** Cache of the last window start's hash term (one division per window change, not per record). */
  private lastStart = NaN;
  private lastTerm = 0;

  private home(key: number, start: number): number {
    if (start !== this.lastStart) {
      this.lastStart = start;
      this.lastTerm = Math.imul((start / this.sizeMs) | 0, 0x9e3779b1);
    }
    let h = Math.imul(key ^ this.lastTerm, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h & this.mask;
  }

  /** Writes every entry as 7 f64 words (key, start, count, sum, n, min, max) at `at`; returns the words written or -1 if `out` is too small. */
  exportTo(out: Float64Array, at: number): number {
    if (at + this.size * 7 > out.length) return -1;
    let j = at;
    for (let s = 0; s < this.cap; s++) {
      if (this.used[s] === 0) continue;
      out[j++] = this.keys[s]!; out[j++] = this.starts[s]!; out[j++] = this.count[s]!; out[j++] = this.sum[s]!;
      out[j++] = this.n[s]!; out[j++] = this.min[s]!; out[j++] = this.max[s]!;
    }
    return j - at;
  }

  /** Replaces the content with `entries` entries written by exportTo. */
  importFrom(from: Float64Array, at: number, entries: number): void {
    let cap = 16;
    while (cap < entries * 2 + 2) cap *= 2;
    this.allocate(Math.max(cap, this.cap));
    this.size = 0;
    this.minStart = Infinity;
    for (let e = 0, j = at; e < entries; e++, j += 7) {
      const s = this.slotOf(from[j]!, from[j + 1]!);
      this.used[s] = 1; this.keys[s] = from[j]!; this.starts[s] = from[j + 1]!; this.count[s] = from[j + 2]!;
      this.sum[s] = from[j + 3]!; this.n[s] = from[j + 4]!; this.min[s] = from[j + 5]!; this.max[s] = from[j + 6]!;
      this.size++;
      if (from[j + 1]! < this.minStart) this.minStart = from[j + 1]!;
    }
  }

  private grow(): void {
    this.rehash(this.cap * 2);
  }

  /** Fresh, empty arrays of `cap` slots (a power of two). */
  private allocate(cap: number): void {
    this.cap = cap;
    this.mask = cap - 1;
    this.used = new Uint8Array(cap);
    this.keys = new Uint32Array(cap);
    this.starts = new Float64Array(cap);
    this.count = new Float64Array(cap);
    this.sum = new Float64Array(cap);
    this.n = new Float64Array(cap);
    this.min = new Float64Array(cap);
    this.max = new Float64Array(cap);
    this.view = {
      used: this.used, keys: this.keys, starts: this.starts, count: this.count,
      sum: this.sum, n: this.n, min: this.min, max: this.max,
    };
  }

  /** Re-inserts every live entry into fresh arrays of `cap` slots (also removes probe-chain holes). */
  private rehash(cap: number): void {
    const { used, keys, starts, count, sum, n, min, max } = this;
    const old = this.cap;
    this.allocate(cap);
    this.minStart = Infinity;
    for (let s = 0; s < old; s++) {
      if (used[s] === 0) continue;
      const t = this.slotOf(keys[s]!, starts[s]!);
      this.used[t] = 1;
      this.keys[t] = keys[s]!;
      this.starts[t] = starts[s]!;
      this.count[t] = count[s]!;
      this.sum[t] = sum[s]!;
      this.n[t] = n[s]!;
      this.min[t] = min[s]!;
      this.max[t] = max[s]!;
      if (starts[s]! < this.minStart) this.minStart = starts[s]!;
    }
  }
}

/**
 * Window assignment for tumbling and hopping windows (tumbling = hopping with advance = size):
 * writes the start of every window [start, start + size) that contains `ts` into `out`, oldest
 * first, and returns how many (ceil(size / advance) at most). Starts are multiples of `advance`
 * (epoch-aligned, as in Kafka Streams).
 */
export function hoppingWindowStarts(ts: number, sizeMs: number, advanceMs: number, out: Float64Array): number {
  const last = Math.floor(ts / advanceMs) * advanceMs;
  let first = last - Math.ceil(sizeMs / advanceMs) * advanceMs + advanceMs;
  while (first + sizeMs <= ts) first += advanceMs;
  let n = 0;
  for (let s = first; s <= last; s += advanceMs) out[n++] = s;
  return n;
}
