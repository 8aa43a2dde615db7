/**
 * A bounded, seeded source of plain events (one partition), written through a JSON decoder: the
 * embedded generator of the DSL pipelines (their topology modules read objects anyway). Event i
 * of the partition is `make(i)`; the offset of a record is its index, so a side output names its
 * event by rebuilding it — or, for a generator that can only go forward (`sequential`: make is
 * called for 0, 1, 2, … once each), by the copy kept of the last RETAIN events.
 */
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import type { JsonDecoder } from "./json.js";
import type { Source } from "./source.js";

const RETAIN = 1 << 16;

export class ObjectGeneratorSource implements Source {
  readonly partitions = 1;
  readonly maxInFlight: number;
  private next = 0;
  private readonly kept: unknown[] | undefined;

  constructor(private readonly decoder: JsonDecoder, private readonly total: number, private readonly make: (i: number) => unknown, sequential = false) {
    this.maxInFlight = sequential ? RETAIN : Infinity;
    this.kept = sequential ? new Array<unknown>(RETAIN) : undefined;
  }

  fill(_p: number, columns: Record<string, ColumnArray>, max: number): number {
    const n = Math.min(max, this.total - this.next);
    const off = columns["_off"] as Float64Array;
    for (let k = 0; k < n; k++) {
      const i = this.next + k;
      const e = this.make(i);
      if (this.kept) this.kept[i % RETAIN] = e;
      this.decoder(e, columns, k);
      off[k] = i;
    }
    this.next += n;
    return n;
  }

  exhausted(): boolean {
    return this.next >= this.total;
  }

  event(out: OutputColumns, i: number): unknown {
    return this.kept ? this.kept[out.off[i]! % RETAIN] : this.make(out.off[i]!);
  }

  async close(): Promise<void> {}
}
