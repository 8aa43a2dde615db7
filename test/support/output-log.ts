/**
 * An OutputWriter stand-in for shard tests that call a ShardProcessor directly: every window,
 * side and object output as one line of its arguments, in call order (`w …`, `s …`, `o …`).
 */
import type { ShardProcessor } from "../../src/pipelines/processor.js";
import type { OutputWriter } from "../../src/ring/output.js";

export function outputLog(): { log: string[]; out: OutputWriter } {
  const log: string[] = [];
  const out = {
    window: (...a: number[]) => { log.push(`w ${a.join(" ")}`); },
    side: (...a: number[]) => { log.push(`s ${a.join(" ")}`); },
    object: (...a: unknown[]) => { log.push(`o ${a.join(" ")}`); return true; },
  };
  return { log, out: out as unknown as OutputWriter };
}

type Columns = Record<string, Float64Array | Uint32Array | Uint8Array> & { _off: Float64Array; _wm: Float64Array; _reason: Uint8Array };

/**
 * `count` input batches of n records for a shard: `columns()` makes a batch's columns, `fill(c, b, i)`
 * writes record i of batch b and returns its time; the offset and the watermark (the largest time
 * so far) are set here.
 */
export function shardBatches<C extends Columns>(count: number, n: number, columns: () => C, fill: (c: C, b: number, i: number) => number): C[] {
  const batches: C[] = [];
  let wm = -Infinity;
  for (let b = 0; b < count; b++) {
    const c = columns();
    for (let i = 0; i < n; i++) {
      const t = fill(c, b, i);
      c._off[i] = b * n + i;
      if (t > wm) wm = t;
      c._wm[i] = wm;
    }
    batches.push(c);
  }
  return batches;
}

/**
 * The batches through one shard (`whole`), and through a shard checkpointed after `cut` batches
 * whose checkpoint a new shard restores and finishes from (`restored`); `first` is the shard that
 * took the checkpoint, `area`/`words` the checkpoint, for further checks.
 */
export async function checkpointRun(make: () => Promise<ShardProcessor>, batches: Columns[], n: number, cut: number) {
  const whole = outputLog();
  const a = await make();
  for (const c of batches) a.process(c, n, 0, whole.out);
  a.advance(Infinity, whole.out);
  const split = outputLog();
  const first = await make();
  for (const c of batches.slice(0, cut)) first.process(c, n, 0, split.out);
  const area = new Float64Array(1 << 16);
  const words = first.snapshot!(area);
  const second = await make();
  if (words > 0) second.restore!(area.slice(0, words), words);
  for (const c of batches.slice(cut)) second.process(c, n, 0, split.out);
  second.advance(Infinity, split.out);
  return { whole: whole.log, restored: split.log, first, second, area, words };
}
