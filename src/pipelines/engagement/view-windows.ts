/**
 * View windows on typed arrays: open addressing (linear probing) keyed by (contentId, window start)
 * with views, watch ms and completions per entry (three sums: the generic WindowTable keeps one).
 * No allocation per update; the arrays double when half full. Closing (once per window advance)
 * emits the closed entries and re-places the survivors into a spare set of arrays of the same size,
 * which is then swapped in (no allocation when closing).
 */
import type { OutputWriter } from "../../ring/output.js";

interface Arrays {
  used: Uint8Array;
  keys: Uint32Array;
  starts: Float64Array;
  views: Float64Array;
  watch: Float64Array;
  done: Float64Array;
}

function arrays(cap: number): Arrays {
  return {
    used: new Uint8Array(cap), keys: new Uint32Array(cap), starts: new Float64Array(cap),
    views: new Float64Array(cap), watch: new Float64Array(cap), done: new Float64Array(cap),
  };
}

export class ViewWindows {
  private cap: number;
  private mask: number;
  private t: Arrays;
  private spare: Arrays | undefined;
  size = 0;
  /** Smallest window start present (Infinity when empty). */
  private minStart = Infinity;

  constructor(readonly sizeMs: number, readonly graceMs: number, initialCapacity = 4096) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.cap = cap;
    this.mask = cap - 1;
    this.t = arrays(cap);
  }

  get bytes(): number {
    return this.cap * (1 + 4 + 8 * 4) * (this.spare ? 2 : 1);
  }

  get nextCloseAt(): number {
    return this.minStart + this.sizeMs + this.graceMs;
  }

  private home(key: number, start: number): number {
    let h = Math.imul(key, 0x9e3779b1) ^ Math.imul((start / this.sizeMs) | 0, 0x85ebca6b);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    return h & this.mask;
  }

  add(key: number, start: number, watchMs: number, done: number): void {
    const t = this.t;
    let s = this.home(key, start);
    while (t.used[s] !== 0) {
      if (t.keys[s] === key && t.starts[s] === start) {
        t.views[s]++;
        t.watch[s] += watchMs;
        t.done[s] += done;
        return;
      }
      s = (s + 1) & this.mask;
    }
    if ((this.size + 1) * 2 > this.cap) {
      this.rehash(this.cap * 2, -Infinity, undefined);
      this.add(key, start, watchMs, done);
      return;
    }
    t.used[s] = 1; t.keys[s] = key; t.starts[s] = start;
    t.views[s] = 1; t.watch[s] = watchMs; t.done[s] = done;
    this.size++;
    if (start < this.minStart) this.minStart = start;
  }

  /** Emits (as window outputs: count = views, sum = watch ms, n = completions) and removes every window with end + grace ≤ watermark. */
  closeUpTo(watermark: number, out: OutputWriter | undefined): number {
    if (this.size === 0 || watermark < this.nextCloseAt) return 0;
    const closeBefore = watermark - this.sizeMs - this.graceMs;
    const before = this.size;
    this.rehash(this.cap, closeBefore, out);
    return before - this.size;
  }

  /** Re-places entries with start > dropUpTo into arrays of `cap` slots; the others go to `out`. */
  private rehash(cap: number, dropUpTo: number, out: OutputWriter | undefined): void {
    const old = this.t;
    const oldCap = this.cap;
    const fresh = cap === oldCap && this.spare !== undefined ? this.spare : arrays(cap);
    if (fresh === this.spare) fresh.used.fill(0);
    this.t = fresh;
    this.cap = cap;
    this.mask = cap - 1;
    this.size = 0;
    this.minStart = Infinity;
    for (let s = 0; s < oldCap; s++) {
      if (old.used[s] === 0) continue;
      const start = old.starts[s]!;
      if (start <= dropUpTo) {
        out?.window(old.keys[s]!, start, old.views[s]!, old.watch[s]!, old.done[s]!, 0, 0);
        continue;
      }
      this.place(old.keys[s]!, start, old.views[s]!, old.watch[s]!, old.done[s]!);
    }
    this.spare = oldCap === cap ? old : undefined;
  }

  private place(key: number, start: number, views: number, watch: number, done: number): void {
    const t = this.t;
    let s = this.home(key, start);
    while (t.used[s] !== 0) s = (s + 1) & this.mask;
    t.used[s] = 1; t.keys[s] = key; t.starts[s] = start;
    t.views[s] = views; t.watch[s] = watch; t.done[s] = done;
    this.size++;
    if (start < this.minStart) this.minStart = start;
  }

  /** Writes every entry as 5 f64 words (key, start, views, watch, done) at `at`; words written or -1. */
  exportTo(out: Float64Array, at: number): number {
    if (at + this.size * 5 > out.length) return -1;
    const t = this.t;
    let j = at;
    for (let s = 0; s < this.cap; s++) {
      if (t.used[s] === 0) continue;
      out[j++] = t.keys[s]!; out[j++] = t.starts[s]!; out[j++] = t.views[s]!; out[j++] = t.watch[s]!; out[j++] = t.done[s]!;
    }
    return j - at;
  }

  importFrom(from: Float64Array, at: number, entries: number): void {
    let cap = 16;
    while (cap < entries * 2 + 2) cap *= 2;
    cap = Math.max(cap, this.cap);
    this.t = arrays(cap);
    this.spare = undefined;
    this.cap = cap;
    this.mask = cap - 1;
    this.size = 0;
    this.minStart = Infinity;
    for (let e = 0, j = at; e < entries; e++, j += 5) this.place(from[j]!, from[j + 1]!, from[j + 2]!, from[j + 3]!, from[j + 4]!);
  }
}
