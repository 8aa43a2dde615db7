/**
 * Helpers of the exactly-once kill-and-restart tests against the real broker (test/kafka/eos-*.test.ts):
 * a group's committed offsets, a topic's end offsets, and a run SIGKILLed mid-stream and restarted.
 */
import { expect } from "vitest";
import { rdkafkaClientFactory as factory } from "../../src/io/kafka/rdkafka.js";
import { BROKERS, assigned, readCommitted, riptide, uniqueName, type Proc } from "./kafka.js";

/** The group's committed offsets of a topic's partitions (null: none). */
export async function committed(group: string, topic: string, partitions: number): Promise<Array<number | null>> {
  const c = factory.createConsumer({ brokers: BROKERS, groupId: group });
  await c.connect();
  try {
    const got = await c.committed(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
    return Array.from({ length: partitions }, (_, p) => got.find((o) => o.partition === p)?.offset ?? null);
  } finally {
    await c.disconnect();
  }
}

/** The end offsets of a topic's partitions. */
export async function ends(topic: string, partitions: number): Promise<number[]> {
  const c = factory.createConsumer({ brokers: BROKERS, groupId: uniqueName("eos-multi-ends") });
  await c.connect();
  try {
    const out: number[] = [];
    for (let p = 0; p < partitions; p++) out.push((await c.queryWatermarks!(topic, p, 10_000)).high);
    return out;
  } finally {
    await c.disconnect();
  }
}

/**
 * Runs `args` `kills` times, each killed (SIGKILL) once the watched topics have grown by `step`
 * records since the last kill (committed or not), then once more to the end (--stop-when-idle).
 * Returns the last run, the committed records of the watched topics before it, and the seconds
 * from each restart to its assignment (recovery).
 */
export async function killAndRestart(args: string[], watch: string[], partitions: number, step: number, kills: number, beforeFirstKill?: () => Promise<void>): Promise<{ last: Proc; midway: number; recoverySeconds: number[] }> {
  const watcher = factory.createConsumer({ brokers: BROKERS, groupId: uniqueName("eos-multi-watch") });
  await watcher.connect();
  const recoverySeconds: number[] = [];
  let high = 0;
  const size = async (): Promise<number> => {
    let n = 0;
    for (const t of watch) for (let p = 0; p < partitions; p++) n += (await watcher.queryWatermarks!(t, p, 10_000)).high;
    return n;
  };
  try {
    for (let k = 0; k < kills; k++) {
      const t0 = Date.now();
      const run = riptide(args);
      try {
        await assigned(run);
        if (k > 0) recoverySeconds.push((Date.now() - t0) / 1000);
        if (k === 0) await beforeFirstKill?.();
        const target = high + step;
        const deadline = Date.now() + 120_000;
        while (Date.now() < deadline && run.child.exitCode === null) {
          high = await size().catch(() => high);
          if (high >= target) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(run.child.exitCode, run.stderr.slice(-800)).toBe(null);
      } finally {
        // Killed here also when the test fails: no run outlives it.
        run.child.kill("SIGKILL");
        await run.exited;
      }
    }
  } finally {
    await watcher.disconnect();
  }
  const midway = (await readCommitted(watch, partitions)).length;
  const t0 = Date.now();
  const last = riptide([...args, "--stop-when-idle", "3"]);
  await assigned(last).catch((err: unknown) => { last.child.kill("SIGKILL"); throw err; });
  recoverySeconds.push((Date.now() - t0) / 1000);
  return { last, midway, recoverySeconds };
}
