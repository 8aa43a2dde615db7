/**
 * Worker-recovery runs of a DSL topology on the engine (test/dsl/engine-recovery.test.ts,
 * test/dsl/table-store-recovery.test.ts): a clean run, one where workers 0 and 1 die mid-stream
 * (by output count, not by the clock) and are replaced from their checkpoints, and the same crashes
 * with checkpoint areas too small for the state (no restorable state), which must lose or repeat
 * something — else the crashes hit no state and prove nothing. A crash comes at most 3 batches
 * (ringSlots 8: a checkpoint every 4) after a shard's last checkpoint; the inputs must keep state
 * open longer than that in event time (windows, join buffers, tables), or the replay from the last
 * released batch rebuilds what the replacement lost and that last check fails now and then.
 */
import { resolve } from "node:path";
import { expect } from "vitest";
import { runTopology } from "../../src/dsl/engine.js";
import type { Coordinator } from "../../src/coordinator/coordinator.js";
import { MemorySink, type Output } from "../../src/sinks/sink.js";

/** Crashes worker 0, then worker 1, once the sink has seen the given numbers of outputs (mid-stream, whatever the machine's speed). */
class CrashingSink extends MemorySink {
  coordinator: Coordinator | undefined;
  constructor(private readonly at: [number, number]) {
    super();
  }
  override write(output: Output): void {
    super.write(output);
    const n = this.outputs.length;
    if (n === this.at[0]) this.coordinator!.crashWorker(0);
    if (n === this.at[1]) this.coordinator!.crashWorker(1);
  }
}

/**
 * The fixture `module` (test/dsl/fixtures) on 2 workers over `input` (topic → JSON-lines file):
 * clean; with the workers dying after a quarter and after three fifths of the outputs; and the
 * same crashes with 1 KiB checkpoint areas. Outputs as sorted JSON lines.
 */
export async function cleanAndCrashed(module: string, input: Record<string, string>) {
  const run = async (sink: MemorySink, checkpointBytes?: number) => {
    const summary = await runTopology(resolve(`test/dsl/fixtures/${module}`), {
      input, sink, workers: 2, batchSize: 512, ringSlots: 8, rate: 100_000, ...(checkpointBytes !== undefined && { checkpointBytes }),
      onCoordinator: (c) => {
        if (sink instanceof CrashingSink) sink.coordinator = c;
      },
    });
    return { summary, outputs: sink.outputs.map((o) => JSON.stringify(o)).sort() };
  };
  const clean = await run(new MemorySink());
  const at: [number, number] = [Math.floor(clean.outputs.length / 4), Math.floor((clean.outputs.length * 3) / 5)];
  const failed = await run(new CrashingSink(at));
  const unrestorable = await run(new CrashingSink(at), 1024);
  return { clean, failed, unrestorable };
}

/** The crashed run restarted both workers and gave the clean run's outputs; the unrestorable one did not. */
export function expectRecovered({ clean, failed, unrestorable }: Awaited<ReturnType<typeof cleanAndCrashed>>): void {
  expect(failed.summary.workerRestarts).toBe(2);
  expect(failed.summary.outputs).toEqual(clean.summary.outputs);
  expect(failed.outputs.length).toBe(clean.outputs.length);
  expect(failed.outputs).toEqual(clean.outputs);
  expect(unrestorable.summary.workerRestarts).toBe(2);
  expect(unrestorable.outputs).not.toEqual(clean.outputs);
}
