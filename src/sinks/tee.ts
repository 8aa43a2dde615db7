/**
 * Several sinks as one (e.g. Kafka topics and the Redis GEO index). Objects go to the sinks that want
 * them, columnar records to the sinks that take them.
 *
 * Acknowledgement keeps the prefix property the coordinator's commits rely on ("the first
 * `acknowledged` of the `written` outputs are acknowledged"): every read of `written` records the
 * per-sink written counts behind that total, and `acknowledged` is the largest recorded total whose
 * every per-sink count is acknowledged by its sink. Reads happen at commit rate, so the list is short.
 */
import type { OutputColumns } from "../ring/output.js";
import type { Output, Sink } from "./sink.js";

export class TeeSink implements Sink {
  readonly wantsObjects: boolean;
  private readonly objectSinks: Sink[];
  private readonly recordSinks: Sink[];
  /** Recorded totals and the per-sink written counts behind each. */
  private readonly marks: Array<{ total: number; written: number[] }> = [];
  private ackedTotal = 0;

  constructor(readonly sinks: readonly Sink[]) {
    this.wantsObjects = sinks.some((s) => s.wantsObjects);
    this.objectSinks = sinks.filter((s) => s.wantsObjects);
    this.recordSinks = sinks.filter((s) => typeof s.writeRecord === "function");
  }

  write(output: Output): void {
    for (const s of this.objectSinks) s.write(output);
  }

  writeRecord(out: OutputColumns, i: number): void {
    for (const s of this.recordSinks) s.writeRecord!(out, i);
  }

  get written(): number {
    let total = 0;
    const per: number[] = [];
    for (const s of this.sinks) {
      const w = s.written ?? 0;
      per.push(w);
      total += w;
    }
    const last = this.marks[this.marks.length - 1];
    if (total > (last?.total ?? this.ackedTotal)) this.marks.push({ total, written: per });
    return total;
  }

  get acknowledged(): number {
    while (this.marks.length > 0) {
      const m = this.marks[0]!;
      if (!this.sinks.every((s, k) => (s.acknowledged ?? s.written ?? 0) >= m.written[k]!)) break;
      this.ackedTotal = m.total;
      this.marks.shift();
    }
    if (this.marks.length === 0) {
      // Caught up with every recorded mark: if every sink has acknowledged all it was given, so have we.
      let total = 0;
      let all = true;
      for (const s of this.sinks) {
        const w = s.written ?? 0;
        total += w;
        if ((s.acknowledged ?? w) < w) all = false;
      }
      if (all && total > this.ackedTotal) this.ackedTotal = total;
    }
    return this.ackedTotal;
  }

  get pending(): number {
    let n = 0;
    for (const s of this.sinks) n += s.pending ?? 0;
    return n;
  }

  service(): void {
    for (const s of this.sinks) s.service?.();
  }

  async flush(): Promise<void> {
    for (const s of this.sinks) await s.flush?.();
  }

  async close(): Promise<void> {
    let first: unknown;
    for (const s of this.sinks) {
      try {
        await s.close();
      } catch (err) {
        first ??= err;
      }
    }
    if (first) throw first;
  }
}
