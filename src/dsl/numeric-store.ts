/**
 * A window store for the built-in numeric aggregates (count, sum, min, max, mean): one open-
 * addressing hash table over typed arrays, keyed by (key id, window start). Adding a value
 * allocates nothing; closing a window start emits its entries in first-insertion order and
 * rehashes the survivors (window rate, not event rate).
 */
import type { BuiltinOp } from "./plan.js";
import { StateStoreFullError } from "./errors.js";

const EMPTY = -1;

export class NumericWindowStore {
  private cap: number;
  private keyId: Int32Array;
  private start: Float64Array;
  private count: Float64Array;
  private sum: Float64Array;
  private n: Float64Array;
  private min: Float64Array;
  private max: Float64Array;
  private maxTs: Float64Array;
  private seq: Float64Array;
  private nextSeq = 0;
  /** Smallest window start held (Infinity when empty). */
  minStart = Infinity;
  size = 0;

  constructor(readonly op: BuiltinOp, private readonly limit: number, private readonly name: string, initialCapacity = 1024) {
    this.cap = initialCapacity;
    this.keyId = new Int32Array(this.cap).fill(EMPTY);
    this.start = new Float64Array(this.cap);
    this.count = new Float64Array(this.cap);
    this.sum = new Float64Array(this.cap);
    this.n = new Float64Array(this.cap);
    this.min = new Float64Array(this.cap);
    this.max = new Float64Array(this.cap);
    this.maxTs = new Float64Array(this.cap);
    this.seq = new Float64Array(this.cap);
  }

  get bytes(): number {
    return this.cap * (4 + 8 * 8);
  }

  private slotOf(key: number, start: number): number {
    const mask = this.cap - 1;
    let h = Math.imul(key, 0x9e3779b1) ^ Math.imul(start >>> 0, 0x85ebca6b) ^ ((start / 4294967296) >>> 0);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    let i = h & mask;
    for (;;) {
      const k = this.keyId[i]!;
      if (k === EMPTY || (k === key && this.start[i] === start)) return i;
      i = (i + 1) & mask;
    }
  }

  /** Adds value x (count only counts; the others skip a non-finite x) with timestamp t; returns the slot. */
  add(key: number, start: number, x: number, t: number): number {
    let i = this.slotOf(key, start);
    if (this.keyId[i] === EMPTY) {
      if (this.size >= this.limit) throw new StateStoreFullError(this.name, this.limit);
      if ((this.size + 1) * 2 > this.cap) {
        this.rehash(this.cap * 2, -Infinity); // grow: keep every window
        i = this.slotOf(key, start);
      }
      this.keyId[i] = key;
      this.start[i] = start;
      this.count[i] = 0;
      this.sum[i] = 0;
      this.n[i] = 0;
      this.min[i] = Infinity;
      this.max[i] = -Infinity;
      this.maxTs[i] = t;
      this.seq[i] = this.nextSeq++;
      this.size++;
      if (start < this.minStart) this.minStart = start;
    }
    this.count[i]++;
    if (x - x === 0) {
      this.sum[i] += x;
      this.n[i]++;
      if (x < this.min[i]!) this.min[i] = x;
      if (x > this.max[i]!) this.max[i] = x;
    }
    if (t > this.maxTs[i]!) this.maxTs[i] = t;
    return i;
  }

  value(i: number): number | null {
    switch (this.op) {
      case "count": return this.count[i]!;
      case "sum": return this.sum[i]!;
      case "min": return this.n[i]! > 0 ? this.min[i]! : null;
      case "max": return this.n[i]! > 0 ? this.max[i]! : null;
      case "mean": return this.n[i]! > 0 ? this.sum[i]! / this.n[i]! : null;
    }
  }

  ts(i: number): number {
    return this.maxTs[i]!;
  }

  /** Emits and removes every window with start ≤ maxStart, ordered by start then first insertion. */
  closeThrough(maxStart: number, emit: (key: number, start: number, value: number | null, ts: number) => void): void {
    if (this.minStart > maxStart) return;
    for (const i of this.closing(maxStart)) emit(this.keyId[i]!, this.start[i]!, this.value(i), this.maxTs[i]!);
    this.rehash(this.cap, maxStart);
  }

  /** As closeThrough, with the window's raw partial (to merge with other shards' partials). */
  closeThroughRaw(maxStart: number, emit: (key: number, start: number, count: number, sum: number, n: number, min: number, max: number, ts: number) => void): void {
    if (this.minStart > maxStart) return;
    for (const i of this.closing(maxStart)) {
      emit(this.keyId[i]!, this.start[i]!, this.count[i]!, this.sum[i]!, this.n[i]!, this.min[i]!, this.max[i]!, this.maxTs[i]!);
    }
    this.rehash(this.cap, maxStart);
  }

  private closing(maxStart: number): number[] {
    const closing: number[] = [];
    for (let i = 0; i < this.cap; i++) if (this.keyId[i] !== EMPTY && this.start[i]! <= maxStart) closing.push(i);
    closing.sort((a, b) => this.start[a]! - this.start[b]! || this.seq[a]! - this.seq[b]!);
    return closing;
  }

  /** Writes the live windows at `at` of `into` (9 words each, after 2 header words); returns the words, or -1 when they do not fit. */
  exportTo(into: Float64Array, at: number): number {
    const words = 2 + 9 * this.size;
    if (at + words > into.length) return -1;
    into[at] = this.size;
    into[at + 1] = this.nextSeq;
    let o = at + 2;
    for (let i = 0; i < this.cap; i++) {
      if (this.keyId[i] === EMPTY) continue;
      into[o++] = this.keyId[i]!; into[o++] = this.start[i]!; into[o++] = this.count[i]!; into[o++] = this.sum[i]!;
      into[o++] = this.n[i]!; into[o++] = this.min[i]!; into[o++] = this.max[i]!; into[o++] = this.maxTs[i]!; into[o++] = this.seq[i]!;
    }
    return words;
  }

  /** Replaces the contents with those written by exportTo(); returns the words read. */
  importFrom(from: Float64Array, at: number): number {
    const size = from[at]!;
    let cap = 1024;
    while (size * 2 > cap) cap *= 2;
    this.rehash(cap, Infinity); // empties the table (every start ≤ Infinity is dropped)
    this.nextSeq = from[at + 1]!;
    let o = at + 2;
    for (let e = 0; e < size; e++, o += 9) {
      const key = from[o]!;
      const start = from[o + 1]!;
      const i = this.slotOf(key, start);
      this.keyId[i] = key; this.start[i] = start; this.count[i] = from[o + 2]!; this.sum[i] = from[o + 3]!; this.n[i] = from[o + 4]!;
      this.min[i] = from[o + 5]!; this.max[i] = from[o + 6]!; this.maxTs[i] = from[o + 7]!; this.seq[i] = from[o + 8]!;
      this.size++;
      if (start < this.minStart) this.minStart = start;
    }
    return o - at;
  }

  /** Rebuilds the table at capacity `cap`, keeping only windows with start > dropThrough. */
  private rehash(cap: number, dropThrough: number): void {
    const old = { keyId: this.keyId, start: this.start, count: this.count, sum: this.sum, n: this.n, min: this.min, max: this.max, maxTs: this.maxTs, seq: this.seq };
    const oldCap = this.cap;
    this.cap = cap;
    this.keyId = new Int32Array(cap).fill(EMPTY);
    this.start = new Float64Array(cap);
    this.count = new Float64Array(cap);
    this.sum = new Float64Array(cap);
    this.n = new Float64Array(cap);
    this.min = new Float64Array(cap);
    this.max = new Float64Array(cap);
    this.maxTs = new Float64Array(cap);
    this.seq = new Float64Array(cap);
    this.size = 0;
    this.minStart = Infinity;
    for (let j = 0; j < oldCap; j++) {
      const k = old.keyId[j]!;
      if (k === EMPTY || old.start[j]! <= dropThrough) continue;
      const i = this.slotOf(k, old.start[j]!);
      this.keyId[i] = k;
      this.start[i] = old.start[j]!;
      this.count[i] = old.count[j]!;
      this.sum[i] = old.sum[j]!;
      this.n[i] = old.n[j]!;
      this.min[i] = old.min[j]!;
      this.max[i] = old.max[j]!;
      this.maxTs[i] = old.maxTs[j]!;
      this.seq[i] = old.seq[j]!;
      this.size++;
      if (old.start[j]! < this.minStart) this.minStart = old.start[j]!;
    }
  }
}
