/**
 * driver-tracking written in the DSL (validation, the per-driver anomaly check on a processValues
 * store, mean speed per geohash-5 region and 60 s window) under exactly-once with state per input
 * partition (`--instance-id`), against the real broker: two processes split a 4-partition topic; a
 * partition's drivers' last fixes move with it through the changelog; the fixes cross a Kafka
 * repartition topic to the task of their region. A process SIGKILLed mid-stream and restarted,
 * another killed for good: read `read_committed`, the flagged fixes, the anomalies and every
 * region window are those of an uninterrupted run of the same topology in-process, once each.
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runTopology } from "../../src/dsl/engine.js";
import { MemorySink, type Output } from "../../src/sinks/sink.js";
import { diff } from "../support/driver-reference.js";
import { createTopic, ensureBroker, produceAll, readCommitted, uniqueName } from "../support/kafka.js";
import { mulberry32 } from "../support/random.js";
import { multiset, summaryOutputs, TASK_PARTITIONS as PARTITIONS, tasksArgs, twoProcesses, withProcesses } from "../support/task-processes.js";

const TOPOLOGY = "test/dsl/fixtures/driver-job-tasks.js";
const DRIVERS = 120;

interface Fix { driverId: string; lat: number; lon: number; ts: number; speedKmh?: number }

/** Three phases of fixes, 60 s of event time apart; drivers move slowly, some jump a degree (anomalies), some are off the map. */
function generate(perPhase: number): Fix[][] {
  const next = mulberry32(83);
  const t0 = 1_700_000_000_000;
  const out: Fix[][] = [];
  let i = 0;
  for (let ph = 0; ph < 3; ph++) {
    const phase: Fix[] = [];
    for (let j = 0; j < perPhase; j++, i++) {
      const d = next() % DRIVERS;
      const ts = t0 + i * 10 + ph * 60_000 - (next() % 2_000);
      let lat = 37.6 + (d % 12) * 0.03 + (ts - t0) * 1e-9;
      const lon = -122.5 + Math.floor(d / 12) * 0.03;
      if (next() % 150 === 0) lat += 1;
      if (next() % 200 === 0) lat = 95;
      const f: Fix = { driverId: `driver-${d}`, lat, lon, ts };
      if (next() % 25 !== 0) f.speedKmh = (next() % 900) / 10;
      phase.push(f);
    }
    out.push(phase);
  }
  return out;
}

const flaggedKey = (key: unknown, event: Record<string, unknown>, reason: unknown) => `${String(key)}|${String(event["ts"])}|${String(reason)}`;

describe("driver-tracking in the DSL under exactly-once with state per partition (--instance-id)", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("two processes, SIGKILLs mid-stream, a worker thread's death: flagged fixes, anomalies and region windows as an uninterrupted run, once each", async () => {
    const prefix = `${uniqueName("eos-job")}-`;
    const group = uniqueName("eos-job-g");
    const input = `${prefix}driver-locations`;
    await createTopic(input, PARTITIONS);
    const phases = generate(12_000);
    const send = (ph: number) => produceAll(input, phases[ph]!.map((f) => ({ value: JSON.stringify(f), key: f.driverId, partition: Number(f.driverId.slice(7)) % PARTITIONS })));
    await withProcesses(prefix, async (procs) => {
      // The reference: the same topology in-process on the same fixes, in the topic's per-driver order.
      const file = join(tmpdir(), `${prefix}fixes.jsonl`);
      writeFileSync(file, phases.flat().map((f) => JSON.stringify(f)).join("\n") + "\n");
      const sink = new MemorySink();
      await runTopology(TOPOLOGY, { input: file, sink, workers: 2 });
      const ref = sink.outputs;
      const refFlagged = (topic: string) => ref.filter((o) => o.type === topic).map((o) => flaggedKey(o["key"], o["event"] as Record<string, unknown>, o["reason"]));
      const refWindows = ref.filter((o) => o.type === "window");
      expect(refFlagged(`${prefix}driver-anomalies`).length).toBeGreaterThan(50);
      expect(refFlagged(`${prefix}driver-invalid`).length).toBeGreaterThan(50);
      expect(refWindows.length).toBeGreaterThan(100);

      const { b, a2 } = await twoProcesses((id) => tasksArgs(TOPOLOGY, group, id), send, procs, { phase0BeforeStart: false, killWorkerOfB: true, midStream: true });
      expect(b.stderr).toMatch(/"event":"task-restore"/);
      expect(a2.stderr).toMatch(/"event":"task-restore"/);
      // Nothing late (each fix within the grace of its task's stream time), nothing the engine's edge refused.
      expect(summaryOutputs(a2)).toMatchObject({ [`${prefix}driver-late`]: 0, invalid: 0 });

      const flagged = async (topic: string) => (await readCommitted(topic, PARTITIONS)).map((o) => {
        const v = o["value"] as { reason: unknown; event: Record<string, unknown> };
        return flaggedKey(o["key"], v.event, v.reason);
      });
      expect(diff(multiset(await flagged(`${prefix}driver-anomalies`)), multiset(refFlagged(`${prefix}driver-anomalies`)))).toEqual([]);
      expect(diff(multiset(await flagged(`${prefix}driver-invalid`)), multiset(refFlagged(`${prefix}driver-invalid`)))).toEqual([]);
      // Windows: each once; the mean as the reference's (a sum in another order: within 1e-9).
      const windows = await readCommitted(`${prefix}driver-regions`, PARTITIONS);
      const id = (o: Record<string, unknown> | Output) => `${String(o["key"])}|${String(o["windowStart"])}`;
      expect(diff(multiset(windows.map(id)), multiset(refWindows.map(id)))).toEqual([]);
      const want = new Map(refWindows.map((o) => [id(o), o["value"] as number | null]));
      for (const w of windows) {
        const m = want.get(id(w));
        if (m === null) expect(w["value"], id(w)).toBeNull(); // no fix of the window had a speed
        else expect(Math.abs((w["value"] as number) - m!), id(w)).toBeLessThan(1e-9);
      }
      expect(await readCommitted(`${prefix}driver-late`, PARTITIONS)).toEqual([]);
    });
  }, 300_000);
});
