/**
 * Exactly-once with state per input partition (`--instance-id`) for a topology that groups by a
 * new key, against the real broker: fixes keyed and partitioned by driver are counted per region
 * in tumbling windows, so every record crosses the repartition edge through its Kafka topic
 * (`<group>-<node>-<port>-repartition`, as Kafka Streams' `-repartition` topics), written in the
 * transaction of the task that read it and read `read_committed` by the task of its region,
 * possibly in the other process. Two processes: one joins mid-stream, one is SIGKILLed and
 * restarted, one is killed for good. Every region window appears once, and its count plus the
 * records its window reported late equals the reference computed here.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { diff } from "../support/driver-reference.js";
import { createTopic, ensureBroker, produceAll, readCommitted, riptide, uniqueName } from "../support/kafka.js";
import { mulberry32 } from "../support/random.js";
import { multiset, summaryOutputs, TASK_PARTITIONS, tasksArgs, twoProcesses, withProcesses } from "../support/task-processes.js";

const DRIVERS = 300;
const REGIONS = 24;
const WINDOW_MS = 60_000;

interface Fix { driverId: string; region: string; ts: number }

/**
 * Phases of fixes 400 s of event time apart, each spanning 40 s (1 ms a fix, up to 2 s of
 * disorder). The windows' grace is 10 minutes: a task may run a whole phase ahead of another (as
 * when the other's process died and its tasks wait for the group to move them) and no fix is
 * late where its region is counted; phase 0's windows close once phase 2 arrives, the others' at
 * the end of input.
 */
function generate(perPhase: number, phases: number): Fix[][] {
  const next = mulberry32(83);
  const t0 = 1_700_000_000_000;
  const out: Fix[][] = [];
  for (let ph = 0; ph < phases; ph++) {
    const phase: Fix[] = [];
    for (let j = 0; j < perPhase; j++) phase.push({ driverId: `driver-${next() % DRIVERS}`, region: `region-${next() % REGIONS}`, ts: t0 + ph * 400_000 + j - (next() % 2_000) });
    out.push(phase);
  }
  return out;
}

/** Window counts per `region|start` of the fixes. */
function reference(fixes: Fix[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const f of fixes) {
    const k = `${f.region}|${Math.floor(f.ts / WINDOW_MS) * WINDOW_MS}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

/**
 * Checks the committed windows and late records against the reference: no window twice, and
 * per window its count plus its late records equal to the reference's count. Returns how many
 * records were late.
 */
async function expectEveryWindowOnce(prefix: string, fixes: Fix[]): Promise<{ windows: number; late: number }> {
  const windows = await readCommitted(`${prefix}region-counts`, TASK_PARTITIONS);
  const late = await readCommitted(`${prefix}region-late`, TASK_PARTITIONS);
  const emitted = multiset(windows.map((o) => `${o["key"]}|${o["windowStart"]}`));
  expect([...emitted].filter(([, n]) => n > 1)).toEqual([]);
  const got = new Map<string, number>();
  for (const o of windows) got.set(`${o["key"]}|${o["windowStart"]}`, o["value"] as number);
  for (const o of late) {
    const t = (o["value"] as { timestamp: number }).timestamp;
    const k = `${o["key"]}|${Math.floor(t / WINDOW_MS) * WINDOW_MS}`;
    got.set(k, (got.get(k) ?? 0) + 1);
  }
  expect(diff(got, reference(fixes))).toEqual([]);
  return { windows: windows.length, late: late.length };
}

describe("exactly-once with state per partition across a repartition (--instance-id)", () => {
  beforeAll(() => ensureBroker());

  it("one process: the records cross the repartition topic (created with the input's partition count) and every window is counted once", async () => {
    const prefix = `${uniqueName("h36-rp1")}-`;
    const group = uniqueName("h36-rp1-g");
    await createTopic(`${prefix}rfixes`, TASK_PARTITIONS);
    const fixes = generate(6000, 1)[0]!;
    await produceAll(`${prefix}rfixes`, fixes.map((f) => ({ value: JSON.stringify(f), key: f.driverId, partition: Number(f.driverId.slice(7)) % TASK_PARTITIONS })));
    await withProcesses(prefix, async () => {
      const args = tasksArgs("test/dsl/fixtures/region-tasks.js", group, "a");
      args[args.indexOf("--stop-when-idle") + 1] = "6";
      const p = riptide(args);
      expect(await p.exited, p.stderr.slice(-3000)).toBe(0);
      const outputs = summaryOutputs(p);
      // Every fix went through the repartition topic, and came back from it.
      const topic = Object.keys(outputs).find((k) => k.endsWith("-repartition"));
      expect(topic).toMatch(new RegExp(`^${group}-.*-repartition$`));
      expect(outputs[topic!]).toBe(fixes.length);
      const moved = await readCommitted(topic!, TASK_PARTITIONS);
      expect(moved.length).toBe(fixes.length);
      const { windows, late } = await expectEveryWindowOnce(prefix, fixes);
      expect(windows).toBeGreaterThanOrEqual(REGIONS);
      expect(late).toBe(0);
    });
  }, 120_000);

  it("two processes: a join, a SIGKILL and restart, and a SIGKILL for good; every region window exactly once, equal to the reference", async () => {
    const prefix = `${uniqueName("h36-rp")}-`;
    const group = uniqueName("h36-rp-g");
    await createTopic(`${prefix}rfixes`, TASK_PARTITIONS);
    const phases = generate(40_000, 3);
    const send = (ph: number) => produceAll(`${prefix}rfixes`, phases[ph]!.map((f) => ({ value: JSON.stringify(f), key: f.driverId, partition: Number(f.driverId.slice(7)) % TASK_PARTITIONS })));
    await withProcesses(prefix, async (procs) => {
      // Both kills while the processes are busy with a phase (a's 0.6 s after phase 1 starts to be
      // sent, b's 0.6 s after phase 2): what they wrote to the repartition topic since their last
      // commit is aborted, and read again from the input by the process that takes their tasks.
      const { b, a2 } = await twoProcesses((id) => tasksArgs("test/dsl/fixtures/region-tasks.js", group, id), send, procs, { phase0BeforeStart: true, killWorkerOfB: false, killAfterMs: 600, midStream: true });
      // b took tasks a had committed; a2 ended holding every task.
      expect(b.stderr).toMatch(/"event":"task-restore"[^\n]*"restored":\[\d/);
      // a2 ended holding every task, some loaded from what b committed.
      const restores = a2.stderr.split("\n").filter((l) => l.includes('"event":"task-restore"')).map((l) => JSON.parse(l) as { restored: number[] });
      expect(new Set(restores.flatMap((r) => r.restored)).size).toBe(TASK_PARTITIONS);
      const { windows, late } = await expectEveryWindowOnce(prefix, phases.flat());
      // Every phase's windows (24 regions, 1-2 windows each), and none short of a record (no
      // task runs two phases ahead of another, so nothing is late).
      expect(windows).toBeGreaterThanOrEqual(REGIONS * 3);
      expect(late).toBe(0);
      expect(summaryOutputs(a2)["invalid"]).toBe(0);
    });
  }, 300_000);
});
