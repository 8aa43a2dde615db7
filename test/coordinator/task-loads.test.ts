/**
 * State per partition (CoordinatorOptions.taskState): on an assignment the coordinator reads each
 * task's state on its own, so a partition whose state is back processes while another's is still
 * being read (e.g. waiting for a dead process's transaction on its changelog partition to be
 * aborted). The transactions here are a stand-in (the Kafka ones are tested against the broker in
 * test/kafka/eos-*.test.ts): task 1's state arrives only once partition 0 has been let read.
 */
import { describe, expect, it } from "vitest";
import { Coordinator, type SavedTask, type TransactionHooks } from "../../src/coordinator/coordinator.js";
import { payments } from "../../src/pipelines/payments/edge.js";
import { NullSink } from "../../src/sinks/sink.js";
import type { Source, SourceHooks } from "../../src/sources/source.js";

/** Two assigned partitions with nothing in them; records which were let read, in order. */
class AssignedSource implements Source {
  readonly partitions = 2;
  readonly maxInFlight = Infinity;
  readonly readyOrder: number[] = [];
  private readonly open = [false, false];
  constructor(private readonly onReady: (p: number) => void) {}
  attach(hooks: SourceHooks): void {
    setTimeout(() => void hooks.assignPartitions!([0, 1], (p) => {
      this.open[p] = true;
      this.readyOrder.push(p);
      this.onReady(p);
    }), 0);
  }
  fill(): number { return 0; }
  exhausted(): boolean { return this.open.every(Boolean); }
  event(): unknown { return undefined; }
  async close(): Promise<void> {}
  position(): number { return 0; }
  assigned(): boolean { return true; }
}

describe("state per partition: task loads", () => {
  it("a partition is let read as soon as its own state is back, not when every assigned one's is", async () => {
    let zeroReady!: () => void;
    const zero = new Promise<void>((r) => { zeroReady = r; });
    const asked: number[][] = [];
    const transactions: TransactionHooks = {
      intervalMs: 50,
      async commit() {},
      async loadTasks(tasks: readonly number[]): Promise<Map<number, SavedTask>> {
        asked.push([...tasks]);
        // Task 1's changelog answers only after partition 0 is reading (10 s at most: a stall fails the run).
        if (tasks.includes(1)) {
          await Promise.race([zero, new Promise((_r, reject) => setTimeout(() => reject(new Error("task 1's load waited for partition 0, which waited for task 1")), 10_000))]);
        }
        return new Map();
      },
    };
    const source = new AssignedSource((p) => { if (p === 0) zeroReady(); });
    const c = new Coordinator({
      pipeline: { ...payments, processorConfig: { ...payments.processorConfig, tasked: true } }, source, sink: new NullSink(), workers: 1,
      transactions, taskState: true, checkpointBytes: 1 << 20,
    });
    await c.run();
    expect(source.readyOrder).toEqual([0, 1]);
    expect(asked).toEqual([[0], [1]]);
  }, 60_000);
});
