/**
 * Several sources as one: their partitions side by side (source k's partition q is partition
 * base(k) + q), so a pipeline with two input streams (driver locations and ride requests) reads
 * both through one coordinator, in its fixed round-robin order. Positions, commits, revocations and
 * side-output events are passed to the source that owns the partition.
 */
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import type { Source, SourceHooks } from "./source.js";

export class MultiSource implements Source {
  readonly partitions: number;
  /** The least of the sources' bounds, asked each time (a KafkaSource's may change). */
  get maxInFlight(): number {
    let min = Infinity;
    for (const s of this.sources) if (s.maxInFlight < min) min = s.maxInFlight;
    return min;
  }
  private readonly base: number[] = [];
  private readonly owner: Int32Array;
  position?: (p: number) => number;
  commit?: (positions: ReadonlyArray<readonly [number, number]>) => Promise<void>;
  enteredAt?: (p: number) => number;
  enteredRuns?: Source["enteredRuns"];
  assigned?: (p: number) => boolean;
  caughtUp?: (p: number) => boolean | undefined;

  constructor(readonly sources: readonly Source[]) {
    let n = 0;
    for (const s of sources) {
      this.base.push(n);
      n += s.partitions;
    }
    this.partitions = n;
    this.owner = new Int32Array(n);
    sources.forEach((s, k) => this.owner.fill(k, this.base[k]!, this.base[k]! + s.partitions));
    if (sources.every((s) => s.position)) this.position = (p) => this.src(p).position!(this.local(p));
    if (sources.every((s) => s.commit)) {
      this.commit = async (positions) => {
        await Promise.all(this.sources.map((s, k) => {
          const mine = positions.filter(([p]) => this.owner[p] === k).map(([p, o]) => [p - this.base[k]!, o] as const);
          return mine.length > 0 ? s.commit!(mine) : undefined;
        }));
      };
    }
    if (sources.some((s) => s.enteredAt)) this.enteredAt = (p) => this.src(p).enteredAt?.(this.local(p)) ?? 0;
    if (sources.some((s) => s.enteredRuns)) this.enteredRuns = (p, ts, count, at, max) => this.src(p).enteredRuns?.(this.local(p), ts, count, at, max) ?? 0;
    if (sources.some((s) => s.assigned)) this.assigned = (p) => this.src(p).assigned?.(this.local(p)) !== false;
    if (sources.some((s) => s.caughtUp)) this.caughtUp = (p) => this.src(p).caughtUp?.(this.local(p));
  }

  /** Partition q of every source goes to the same shard (co-partitioned topics, joined by key). */
  copartition(p: number): number {
    return this.local(p);
  }

  private src(p: number): Source {
    return this.sources[this.owner[p]!]!;
  }

  private local(p: number): number {
    return p - this.base[this.owner[p]!]!;
  }

  fill(p: number, columns: Record<string, ColumnArray>, max: number): number {
    return this.src(p).fill(this.local(p), columns, max);
  }

  exhausted(): boolean {
    return this.sources.every((s) => s.exhausted());
  }

  event(out: OutputColumns, i: number): unknown {
    // The owner reads the partition from the output record: give it its own numbering meanwhile.
    const p = out.part[i]!;
    out.part[i] = this.local(p);
    try {
      return this.src(p).event(out, i);
    } finally {
      out.part[i] = p;
    }
  }

  /**
   * Names an interned id: ride pipelines read driver locations from the first source and ride
   * requests from the second, each with its own string table (`interner`, as KafkaSource has).
   */
  idName(field: string, id: number): string {
    const s = this.sources[field === "requestId" ? Math.min(1, this.sources.length - 1) : 0]!;
    if (s.idName) return s.idName(field, id);
    const interner = (s as { interner?: { name(id: number): string } }).interner;
    return interner ? interner.name(id) : String(id);
  }

  attach(hooks: SourceHooks): void {
    this.sources.forEach((s, k) => s.attach?.({
      drainPartitions: (ps) => hooks.drainPartitions(ps.map((q) => q + this.base[k]!)),
      rejected: (q, count) => hooks.rejected(q + this.base[k]!, count),
      ...(hooks.assignPartitions && {
        assignPartitions: (ps: readonly number[], ready: (q: number) => void) => hooks.assignPartitions!(ps.map((q) => q + this.base[k]!), (p) => ready(p - this.base[k]!)),
      }),
    }));
  }

  async close(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.close()));
  }
}
