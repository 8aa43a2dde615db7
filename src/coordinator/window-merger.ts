/**
 * Merges per-shard window partials into final results. A shard emits its partial of a window when
 * its watermark passes the window's end + grace and then acknowledges that watermark; a window is
 * final once every shard has acknowledged a watermark past its close. Count, sum, min and max merge
 * exactly (sums are integers where order must not matter), so the result is the same for any
 * number of shards. Objects here are per window result, not per event.
 */
export interface MergedWindow {
  key: number;
  start: number;
  count: number;
  sum: number;
  n: number;
  min: number;
  max: number;
}

export type WindowEmitter = (w: MergedWindow) => void;

export class WindowMerger {
  /** start → key → partial sums. */
  private readonly open = new Map<number, Map<number, MergedWindow>>();
  private readonly closed: Float64Array;
  /** Windows emitted so far. */
  emitted = 0;

  constructor(shards: number, private readonly sizeMs: number, private readonly graceMs: number, private readonly emit: WindowEmitter) {
    this.closed = new Float64Array(shards).fill(-Infinity);
  }

  add(key: number, start: number, count: number, sum: number, n: number, min: number, max: number): void {
    let byKey = this.open.get(start);
    if (byKey === undefined) {
      byKey = new Map();
      this.open.set(start, byKey);
    }
    const w = byKey.get(key);
    if (w === undefined) {
      byKey.set(key, { key, start, count, sum, n, min, max });
    } else {
      w.count += count;
      w.sum += sum;
      w.n += n;
      if (min < w.min) w.min = min;
      if (max > w.max) w.max = max;
    }
  }

  /** Shard `shard` has emitted every window closing at or before `watermark`. */
  closedThrough(shard: number, watermark: number): void {
    if (watermark <= this.closed[shard]!) return;
    this.closed[shard] = watermark;
    let all = Infinity;
    for (let s = 0; s < this.closed.length; s++) if (this.closed[s]! < all) all = this.closed[s]!;
    if (all === -Infinity || this.open.size === 0) return;
    const closeBefore = all - this.sizeMs - this.graceMs;
    for (const [start, byKey] of this.open) {
      if (start > closeBefore) continue;
      for (const w of byKey.values()) {
        this.emit(w);
        this.emitted++;
      }
      this.open.delete(start);
    }
  }

  /** The watermark every shard has passed: windows closing at or before it are emitted. */
  get closedAll(): number {
    let all = Infinity;
    for (let s = 0; s < this.closed.length; s++) if (this.closed[s]! < all) all = this.closed[s]!;
    return all;
  }

  /** The state to snapshot: per shard, its closed-through watermark; the open partials, flat 7-tuples. */
  exportState(): { closed: number[]; open: number[] } {
    const open: number[] = [];
    for (const byKey of this.open.values()) {
      for (const w of byKey.values()) open.push(w.key, w.start, w.count, w.sum, w.n, w.min, w.max);
    }
    return { closed: Array.from(this.closed), open };
  }

  /** Replaces the state with one from exportState() (same number of shards). */
  importState(closed: readonly number[], open: readonly number[]): void {
    if (closed.length !== this.closed.length) throw new Error(`window merger state is for ${closed.length} shards, this run has ${this.closed.length}`);
    this.closed.set(closed);
    this.open.clear();
    for (let i = 0; i + 6 < open.length; i += 7) {
      this.add(open[i]!, open[i + 1]!, open[i + 2]!, open[i + 3]!, open[i + 4]!, open[i + 5]!, open[i + 6]!);
    }
  }

  /** Windows waiting for some shard's watermark. */
  get pending(): number {
    let n = 0;
    for (const byKey of this.open.values()) n += byKey.size;
    return n;
  }
}
