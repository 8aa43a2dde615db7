/**
 * When the records of one batch entered the system (their Kafka timestamps), as runs in the order
 * the records came: `count[i]` records entered at `ts[i]` (epoch ms). A batch of one partition usually spans
 * a few milliseconds of timestamps, so a few runs hold it exactly (Kafka timestamps are whole
 * milliseconds) and the latency of every record can be recorded, as Kafka Streams'
 * record-e2e-latency does, instead of the batch's oldest record standing for all of them.
 *
 * Fixed memory, no allocation per record. When a batch spans more than ENTRY_RUNS distinct
 * times, neighbouring runs merge and the width of a run doubles; a merged run keeps the older
 * time, so a record's latency can only be overstated (by less than the width, or by how far the
 * timestamps of neighbouring records go back), never understated. A timestamp older than the last
 * run's (several producers) starts a run of its own.
 */
export const ENTRY_RUNS = 32;

export class EntryRuns {
  readonly ts = new Float64Array(ENTRY_RUNS);
  readonly count = new Float64Array(ENTRY_RUNS);
  length = 0;
  /** Timestamps within this many ms of a run's start join it. */
  private width = 1;

  reset(): void {
    this.length = 0;
    this.width = 1;
  }

  /** `n` records entered at `ts`. */
  add(ts: number, n: number): void {
    for (;;) {
      const k = this.length;
      if (k > 0 && ts >= this.ts[k - 1]! && ts < this.ts[k - 1]! + this.width) {
        this.count[k - 1]! += n;
        return;
      }
      if (k < ENTRY_RUNS) {
        this.ts[k] = ts;
        this.count[k] = n;
        this.length = k + 1;
        return;
      }
      // Full: pairs of runs merge (the older time kept), the width doubles, then try again.
      for (let i = 0; i < ENTRY_RUNS / 2; i++) {
        this.ts[i] = Math.min(this.ts[2 * i]!, this.ts[2 * i + 1]!);
        this.count[i] = this.count[2 * i]! + this.count[2 * i + 1]!;
      }
      this.length = ENTRY_RUNS / 2;
      this.width *= 2;
    }
  }

  /** Copies the runs to ts/count from index `at`; returns how many (0 when more than `max`). */
  copyTo(ts: Float64Array, count: Float64Array, at: number, max: number): number {
    const k = this.length;
    if (k > max) return 0;
    for (let i = 0; i < k; i++) {
      ts[at + i] = this.ts[i]!;
      count[at + i] = this.count[i]!;
    }
    return k;
  }
}
