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
import { rdkafkaClientFactory as factory } from "../../src/io/kafka/rdkafka.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readCommitted, riptide, uniqueName } from "../support/kafka.js";
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

/**
 * Window counts per `region|start` of the fixes. `chained` (region-chain-tasks.js): each fix is
 * counted at its car's KTable time, the newest time of its driver's fixes so far (in the order
 * they were sent: one driver's fixes are in one partition of each topic they cross).
 */
function reference(fixes: Fix[], chained = false): Map<string, number> {
  const counts = new Map<string, number>();
  const newest = new Map<string, number>();
  for (const f of fixes) {
    const t = chained ? Math.max(f.ts, newest.get(f.driverId) ?? -Infinity) : f.ts;
    newest.set(f.driverId, t);
    const k = `${f.region}|${Math.floor(t / WINDOW_MS) * WINDOW_MS}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

/**
 * Checks the committed windows and late records against the reference: no window twice, and
 * per window its count plus its late records equal to the reference's count. Returns how many
 * records were late.
 */
async function expectEveryWindowOnce(prefix: string, fixes: Fix[], chained = false): Promise<{ windows: number; late: number }> {
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
  expect(diff(got, reference(fixes, chained))).toEqual([]);
  return { windows: windows.length, late: late.length };
}

/** Each partition's low and high watermark (the first offset still held, the end). */
async function watermarks(topic: string): Promise<Array<{ low: number; high: number }>> {
  const c = factory.createConsumer({ brokers: BROKERS, groupId: uniqueName("hC-wm") });
  await c.connect();
  try {
    return await Promise.all(Array.from({ length: TASK_PARTITIONS }, (_, p) => c.queryWatermarks!(topic, p)));
  } finally {
    await c.disconnect();
  }
}

/** `riptide run` of a topology under exactly-once with state per partition, its repartition topics purged every 200 ms. */
const purgedArgs = (fixture: string, group: string, id: string) => [...tasksArgs(fixture, group, id), "--purge-interval", "200"];

/** The topologies: one repartition (region-tasks.js), and a chain of two (region-chain-tasks.js). */
const TOPOLOGIES = [
  { what: "a repartition", fixture: "test/dsl/fixtures/region-tasks.js", edges: 1, chained: false, tag: "rp" },
  { what: "a chain of two repartitions", fixture: "test/kafka/fixtures/region-chain-tasks.js", edges: 2, chained: true, tag: "rc" },
];

describe.each(TOPOLOGIES)("exactly-once with state per partition across $what (--instance-id)", ({ fixture, edges, chained, tag }) => {
  beforeAll(() => ensureBroker());

  it("one process: the records cross every repartition topic (created with the input's partition count) and every window is counted once", async () => {
    const prefix = `${uniqueName(`hC-${tag}1`)}-`;
    const group = uniqueName(`hC-${tag}1-g`);
    await createTopic(`${prefix}rfixes`, TASK_PARTITIONS);
    const fixes = generate(6000, 1)[0]!;
    await produceAll(`${prefix}rfixes`, fixes.map((f) => ({ value: JSON.stringify(f), key: f.driverId, partition: Number(f.driverId.slice(7)) % TASK_PARTITIONS })));
    await withProcesses(prefix, async () => {
      const args = purgedArgs(fixture, group, "a");
      args[args.indexOf("--stop-when-idle") + 1] = "6";
      const p = riptide(args);
      expect(await p.exited, p.stderr.slice(-3000)).toBe(0);
      const outputs = summaryOutputs(p);
      // Every fix went through each repartition topic (a chain: the KTable's update of each), and came back from it.
      const topics = Object.keys(outputs).filter((k) => k.endsWith("-repartition"));
      expect(topics.length).toBe(edges);
      for (const topic of topics) {
        expect(topic).toMatch(new RegExp(`^${group}-.*-repartition$`));
        expect(outputs[topic]).toBe(fixes.length);
        // Consumed and committed, so purged (deleteRecords up to the committed offsets): what is
        // left to read starts at each partition's low watermark.
        const marks = await watermarks(topic);
        const left = await readCommitted(topic, TASK_PARTITIONS);
        expect(marks.every((m) => m.low > 0)).toBe(true);
        expect(left.length).toBeLessThan(fixes.length);
      }
      const { windows, late } = await expectEveryWindowOnce(prefix, fixes, chained);
      expect(windows).toBeGreaterThanOrEqual(REGIONS);
      expect(late).toBe(0);

      // Internal topics: no dead-letter topic of their own, and a record the engine did not write
      // fails the run (as Kafka Streams fails the task) instead of going to one.
      const admin = factory.createAdmin({ brokers: BROKERS });
      await admin.connect();
      const listed = await admin.listTopics().finally(() => admin.disconnect());
      expect(listed.filter((t) => t.startsWith(group) && t.endsWith(".dlq"))).toEqual([]);
      await produceAll(topics[0]!, [{ value: "not a record of the engine", partition: 1 }]);
      const again = riptide(args);
      expect(await again.exited).not.toBe(0);
      expect(again.stderr).toMatch(new RegExp(`repartition topic ${topics[0]} partition 1 offset \\d+ holds a record the engine did not write \\(not valid JSON`));
    });
  }, 120_000);

  it("two processes: a join, a SIGKILL and restart, and a SIGKILL for good; every region window exactly once, equal to the reference", async () => {
    const prefix = `${uniqueName(`hC-${tag}`)}-`;
    const group = uniqueName(`hC-${tag}-g`);
    await createTopic(`${prefix}rfixes`, TASK_PARTITIONS);
    const phases = generate(40_000, 3);
    const send = (ph: number) => produceAll(`${prefix}rfixes`, phases[ph]!.map((f) => ({ value: JSON.stringify(f), key: f.driverId, partition: Number(f.driverId.slice(7)) % TASK_PARTITIONS })));
    await withProcesses(prefix, async (procs) => {
      // Both kills while the processes are busy with a phase (a's 0.6 s after phase 1 starts to be
      // sent, b's 0.6 s after phase 2): what they wrote to the repartition topics since their last
      // commit is aborted, and read again from the topic before by the process that takes their tasks.
      const { b, a2 } = await twoProcesses((id) => purgedArgs(fixture, group, id), send, procs, { phase0BeforeStart: true, killWorkerOfB: false, killAfterMs: 600, midStream: true });
      // b took tasks a had committed; a2 ended holding every task.
      expect(b.stderr).toMatch(/"event":"task-restore"[^\n]*"restored":\[\d/);
      // a2 ended holding every task, some loaded from what b committed.
      const restores = a2.stderr.split("\n").filter((l) => l.includes('"event":"task-restore"')).map((l) => JSON.parse(l) as { restored: number[] });
      expect(new Set(restores.flatMap((r) => r.restored)).size).toBe(TASK_PARTITIONS);
      const { windows, late } = await expectEveryWindowOnce(prefix, phases.flat(), chained);
      // Every phase's windows (24 regions, 1-2 windows each). One repartition: none short of a
      // record (no task runs two phases ahead of another, so nothing is late). A chain: a record
      // crosses two topics, and on a loaded machine, while tasks move between processes, some may
      // still be on their way when the task counting them has read two phases further: they arrive
      // late downstream, as in Kafka Streams (seen once at load ~15: 694 of phase 0's records late at
      // a phase-2 watermark). How many depends on timing, so only their sum with the windows is
      // checked (expectEveryWindowOnce), which exactly-once must keep.
      expect(windows).toBeGreaterThanOrEqual(REGIONS * 3);
      if (!chained) expect(late).toBe(0);
      expect(summaryOutputs(a2)["invalid"]).toBe(0);
      // Purged as the processes committed, kills and all: what each partition still holds starts past its beginning.
      const topics = Object.keys(summaryOutputs(a2)).filter((k) => k.endsWith("-repartition"));
      expect(topics.length).toBe(edges);
      for (const topic of topics) expect((await watermarks(topic)).every((m) => m.low > 0)).toBe(true);
    });
  }, 300_000);
});
