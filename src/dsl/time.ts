/**
 * Event time at the edge of a shard: per-partition stream time and the watermark.
 *
 * Stream time of an input partition is the largest valid timestamp seen on it. The watermark is
 * the minimum stream time over the partitions feeding the shard that are not idle; a partition
 * without records for `idleTimeoutMs` of wall-clock time stops holding it back. With
 * `wallClockClose`, when every partition is idle the watermark moves on with the wall clock
 * (from the largest stream time), so windows of an idle stream still close. The watermark never
 * goes back.
 */
export interface TimeOptions {
  /** A partition without records for this long (wall clock) stops holding the watermark back. @default 30000 */
  idleTimeoutMs?: number;
  /** When every partition is idle, advance the watermark with the wall clock. @default false */
  wallClockClose?: boolean;
}

export class StreamTimeTracker {
  private readonly index = new Map<string, number>();
  private streamTime: number[] = [];
  private lastActive: number[] = [];
  private wm = -Infinity;
  private maxStreamTime = -Infinity;
  private lastRecordWall = 0;
  readonly idleTimeoutMs: number;
  readonly wallClockClose: boolean;

  constructor(options: TimeOptions = {}) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.wallClockClose = options.wallClockClose ?? false;
  }

  /** Index of a partition (registered on first sight). */
  partition(name: string): number {
    let p = this.index.get(name);
    if (p === undefined) {
      p = this.streamTime.length;
      this.index.set(name, p);
      this.streamTime.push(-Infinity);
      this.lastActive.push(0);
    }
    return p;
  }

  /** A valid record of partition p at event time t, seen at wall-clock `now`; returns the watermark. */
  observe(p: number, t: number, now: number): number {
    if (t > this.streamTime[p]!) this.streamTime[p] = t;
    if (t > this.maxStreamTime) this.maxStreamTime = t;
    this.lastActive[p] = now;
    this.lastRecordWall = now;
    return this.watermark(now);
  }

  /** The watermark at wall-clock `now`. */
  watermark(now: number): number {
    let min = Infinity;
    for (let q = 0; q < this.streamTime.length; q++) {
      if (now - this.lastActive[q]! <= this.idleTimeoutMs && this.streamTime[q]! < min) min = this.streamTime[q]!;
    }
    if (min === Infinity) {
      // Every partition is idle: hold, or follow the wall clock when asked to.
      min = this.wallClockClose && this.maxStreamTime > -Infinity ? this.maxStreamTime + (now - this.lastRecordWall) : -Infinity;
    }
    if (min > this.wm) this.wm = min;
    return this.wm;
  }

  /** Stream time of each partition, by name. */
  streamTimes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, p] of this.index) out[name] = this.streamTime[p]!;
    return out;
  }
}
