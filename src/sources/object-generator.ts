/**
 * A bounded, seeded source of plain events (one partition), written through a JSON decoder: the
 * embedded generator of the DSL pipelines (their topology modules read objects anyway). Event i
 * of the partition is `make(i)`; the offset of a record is its index, so a side output names its
 * event by rebuilding it.
 */
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import type { JsonDecoder } from "./json.js";
import type { Source } from "./source.js";

export class ObjectGeneratorSource implements Source {
  readonly partitions = 1;
  readonly maxInFlight = Infinity;
  private next = 0;

  constructor(private readonly decoder: JsonDecoder, private readonly total: number, private readonly make: (i: number) => unknown) {}

  fill(_p: number, columns: Record<string, ColumnArray>, max: number): number {
    const n = Math.min(max, this.total - this.next);
    const off = columns["_off"] as Float64Array;
    for (let k = 0; k < n; k++) {
      const i = this.next + k;
      this.decoder(this.make(i), columns, k);
      off[k] = i;
    }
    this.next += n;
    return n;
  }

  exhausted(): boolean {
    return this.next >= this.total;
  }

  event(out: OutputColumns, i: number): unknown {
    return this.make(out.off[i]!);
  }

  async close(): Promise<void> {}
}
