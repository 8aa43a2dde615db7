/**
 * Outputs of a shard's current batch, held by the coordinator until the batch's ACK arrives: then
 * they count (or, for a batch replayed after a worker crash, they are dropped). Window partials and
 * side outputs are a small share of the records, so this copy is cheap; it grows by doubling.
 */
import type { OutputColumns } from "../ring/output.js";

export class StagedOutputs {
  count = 0;
  cols: OutputColumns;
  /** JSON texts of OUT_OBJECT records (their `a` is the index here), read out of the ring's byte area. */
  readonly texts: string[] = [];
  private cap: number;

  constructor(initial = 256) {
    this.cap = initial;
    this.cols = StagedOutputs.columns(initial);
  }

  private static columns(n: number): OutputColumns {
    return {
      kind: new Uint32Array(n), code: new Uint32Array(n), key: new Uint32Array(n), part: new Uint32Array(n),
      off: new Float64Array(n), a: new Float64Array(n), b: new Float64Array(n), c: new Float64Array(n),
      d: new Float64Array(n), e: new Float64Array(n), f: new Float64Array(n),
    };
  }

  push(o: OutputColumns, i: number): void {
    if (this.count === this.cap) {
      const next = StagedOutputs.columns(this.cap * 2);
      for (const k of Object.keys(next) as Array<keyof OutputColumns>) (next[k] as Float64Array).set(this.cols[k] as Float64Array);
      this.cols = next;
      this.cap *= 2;
    }
    const c = this.cols;
    const j = this.count++;
    c.kind[j] = o.kind[i]!; c.code[j] = o.code[i]!; c.key[j] = o.key[i]!; c.part[j] = o.part[i]!; c.off[j] = o.off[i]!;
    c.a[j] = o.a[i]!; c.b[j] = o.b[i]!; c.c[j] = o.c[i]!; c.d[j] = o.d[i]!; c.e[j] = o.e[i]!; c.f[j] = o.f[i]!;
  }

  /** An OUT_OBJECT record with its text (the ring slot's byte area is reused once released). */
  pushObject(o: OutputColumns, i: number, text: string): void {
    this.push(o, i);
    this.cols.a[this.count - 1] = this.texts.length;
    this.texts.push(text);
  }

  clear(): void {
    this.count = 0;
    this.texts.length = 0;
  }
}
