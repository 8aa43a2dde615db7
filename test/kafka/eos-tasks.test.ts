/**
 * Exactly-once with state per input partition (`--instance-id`), against the real broker: two
 * processes of one group split a 4-partition topic; partitions move with their state when the
 * second process joins (the first commits and drops them, the second loads them from the
 * changelog), and a process SIGKILLed mid-stream and restarted with its instance id loads its
 * partitions' last committed state. Read `read_committed`, every windowed count and every session
 * of a reference computed here appears exactly once.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { diff } from "../support/driver-reference.js";
import { BROKERS, createTopic, ensureBroker, produceAll, riptide, uniqueName, readCommitted, type Proc } from "../support/kafka.js";
import { mulberry32 } from "../support/random.js";
import { expectNothingLateOrInvalid, multiset, TASK_PARTITIONS as PARTITIONS, tasksArgs, twoProcesses, withProcesses } from "../support/task-processes.js";

const DRIVERS = 200;
const GAP_MS = 30_000;

interface Fix { driverId: string; speedKmh: number; ts: number }

/** Three phases of fixes; each ends with a 60 s jump of event time (so sessions end there). */
function generate(perPhase: number, phases: number): Fix[][] {
  const next = mulberry32(61);
  const t0 = 1_700_000_000_000;
  const out: Fix[][] = [];
  let i = 0;
  for (let ph = 0; ph < phases; ph++) {
    const phase: Fix[] = [];
    for (let j = 0; j < perPhase; j++, i++) {
      const d = next() % DRIVERS;
      phase.push({ driverId: `driver-${d}`, speedKmh: next() % 120, ts: t0 + i * 10 + ph * 60_000 - (next() % 2_000) });
    }
    out.push(phase);
  }
  return out;
}

function reference(fixes: Fix[]): { counts: string[]; sessions: string[] } {
  const counts = new Map<string, number>();
  const byDriver = new Map<string, Fix[]>();
  for (const f of fixes) {
    const start = Math.floor(f.ts / 60_000) * 60_000;
    counts.set(`${f.driverId}|${start}`, (counts.get(`${f.driverId}|${start}`) ?? 0) + 1);
    (byDriver.get(f.driverId) ?? byDriver.set(f.driverId, []).get(f.driverId)!).push(f);
  }
  const sessions: string[] = [];
  for (const [d, fs] of byDriver) {
    fs.sort((a, b) => a.ts - b.ts);
    let start = fs[0]!.ts, last = start, n = 0, max = 0;
    for (const f of fs) {
      if (f.ts - last > GAP_MS) {
        sessions.push(`${d}|${start}|${n}|${max}`);
        start = f.ts; n = 0; max = 0;
      }
      last = f.ts; n++; max = Math.max(max, f.speedKmh);
    }
    sessions.push(`${d}|${start}|${n}|${max}`);
  }
  return { counts: [...counts].map(([k, n]) => `${k}|${n}`), sessions };
}

describe("exactly-once with state per partition (--instance-id)", () => {
  beforeAll(() => ensureBroker());

  it("refuses --instance-id without exactly-once, and for a built-in pipeline whose state spans partitions, naming the option", async () => {
    const noEos = riptide(["run", "--topology", "test/dsl/fixtures/fix-tasks.js", "--brokers", BROKERS, "--instance-id", "a"]);
    expect(await noEos.exited).toBe(2);
    expect(noEos.stderr).toMatch(/--instance-id needs --guarantee exactly-once/);
    // (A topology that repartitions, once or in a chain, runs: eos-repartition.test.ts.)
    const builtIn = riptide(["run", "driver-tracking", "--brokers", BROKERS, "--input-topic", "x", "--output-topic", "y", "--guarantee", "exactly-once", "--instance-id", "a"]);
    expect(await builtIn.exited).toBe(2);
    expect(builtIn.stderr).toMatch(/--instance-id: driver-tracking's state is not per input partition/);
  }, 60_000);

  it("two processes split the partitions; partitions move with their state on a join, a SIGKILL and restart, a worker thread's death, and a SIGKILL for good: every window and session exactly once", async () => {
    const prefix = `${uniqueName("tasks")}-`;
    const input = `${prefix}fixes`;
    const group = uniqueName("tasks-g");
    await createTopic(input, PARTITIONS);
    const phases = generate(40_000, 3);
    const send = (ph: number) => produceAll(input, phases[ph]!.map((f) => ({ value: JSON.stringify(f), key: f.driverId, partition: Number(f.driverId.slice(7)) % PARTITIONS })));
    await withProcesses(prefix, async (procs) => {
      const { b, a2 } = await twoProcesses((id) => tasksArgs("test/dsl/fixtures/fix-tasks.js", group, id), send, procs, { phase0BeforeStart: true, killWorkerOfB: true });
      // The join moved partitions with state: b loaded some that a had committed; a2 loaded its
      // own, then b's.
      expect(b.stderr).toMatch(/"event":"task-restore"[^\n]*"restored":\[\d/);
      expect(b.stderr).toMatch(/"event":"worker-restart"/);
      // The changelog has a partition per task: a restore reads only those of its tasks.
      const reads = [b, a2].flatMap((p) => p.stderr.split("\n").filter((l) => l.includes('"event":"state-restore"')).map((l) => JSON.parse(l) as { tasks: number[]; changelogPartitions: number[] }));
      expect(reads.length).toBeGreaterThanOrEqual(3);
      for (const r of reads) expect([...r.changelogPartitions].sort()).toEqual([...r.tasks].sort());
      const restores = a2.stderr.split("\n").filter((l) => l.includes('"event":"task-restore"')).map((l) => JSON.parse(l) as { restored: number[] });
      expect(restores.length).toBeGreaterThanOrEqual(2);
      expect(new Set(restores.flatMap((r) => r.restored)).size).toBe(PARTITIONS);
      const want = reference(phases.flat());
      const counts = await readCommitted(`${prefix}fix-counts`, PARTITIONS);
      const sessions = await readCommitted(`${prefix}fix-sessions`, PARTITIONS);
      expect(diff(multiset(counts.map((o) => `${o["key"]}|${o["windowStart"]}|${o["value"]}`)), multiset(want.counts))).toEqual([]);
      const v = (o: Record<string, unknown>) => o["value"] as { n: number; max: number };
      expect(diff(multiset(sessions.map((o) => `${o["key"]}|${o["windowStart"]}|${v(o).n}|${v(o).max}`)), multiset(want.sessions))).toEqual([]);
      // Nothing late or invalid (each partition's fixes are within the grace of its own stream time).
      expectNothingLateOrInvalid(a2);
    });
  }, 300_000);

  it("a join of co-partitioned topics (a table and two streams) splits by task: partition q of every topic moves with the state they share, and every join result appears exactly once", async () => {
    const prefix = `${uniqueName("jtasks")}-`;
    const group = uniqueName("jtasks-g");
    for (const t of ["jt-profiles", "jt-fixes", "jt-requests"]) await createTopic(`${prefix}${t}`, PARTITIONS);
    const next = mulberry32(67);
    const t0 = 1_700_000_000_000;
    const part = (d: number) => d % PARTITIONS;
    const phases = [0, 1, 2].map((k) => ({
      fixes: Array.from({ length: 6000 }, (_, i) => ({ d: next() % DRIVERS, ts: t0 + k * 400_000 + i * 50 - (next() % 2000) })),
      requests: Array.from({ length: 1500 }, (_, j) => ({ d: next() % DRIVERS, id: `r${k}-${j}`, ts: t0 + k * 400_000 + j * 200 - (next() % 2000) })),
    }));
    const send = (k: number) => Promise.all([
      produceAll(`${prefix}jt-fixes`, phases[k]!.fixes.map((f) => ({ value: JSON.stringify({ driverId: `driver-${f.d}`, ts: f.ts }), key: `driver-${f.d}`, partition: part(f.d) }))),
      produceAll(`${prefix}jt-requests`, phases[k]!.requests.map((r) => ({ value: JSON.stringify({ requestId: r.id, driverId: `driver-${r.d}`, ts: r.ts }), key: `driver-${r.d}`, partition: part(r.d) }))),
    ]);
    const city = (d: number) => `city-${d % 7}`;
    // The profiles first: each process reads a task's table before its streams' first records.
    await produceAll(`${prefix}jt-profiles`, Array.from({ length: DRIVERS }, (_, d) => ({ value: JSON.stringify({ driverId: `driver-${d}`, city: city(d) }), key: `driver-${d}`, partition: part(d) })));
    await withProcesses(prefix, async (procs) => {
      const { b, a2 } = await twoProcesses((id) => tasksArgs("test/dsl/fixtures/join-tasks.js", group, id), send, procs, { phase0BeforeStart: false, killWorkerOfB: false });
      // b took tasks a had committed (each task once, whatever number of topics it spans).
      const restoredBy = (p: Proc) => p.stderr.split("\n").filter((l) => l.includes('"event":"task-restore"')).map((l) => JSON.parse(l) as { tasks: number[]; restored: number[] });
      expect(restoredBy(b).flatMap((r) => r.restored).length).toBeGreaterThan(0);
      for (const r of [...restoredBy(b), ...restoredBy(a2)]) expect(new Set(r.tasks).size).toBe(r.tasks.length);
      expect(new Set(restoredBy(a2).flatMap((r) => r.restored)).size).toBe(PARTITIONS);
      const fixes = phases.flatMap((ph) => ph.fixes);
      const wantEnriched = fixes.map((f) => `driver-${f.d}|${f.ts}|${city(f.d)}`);
      const wantPairs: string[] = [];
      for (const r of phases.flatMap((ph) => ph.requests)) {
        for (const f of fixes) if (f.d === r.d && Math.abs(f.ts - r.ts) <= 60_000) wantPairs.push(`driver-${r.d}|${r.id}|${f.ts}`);
      }
      const enriched = await readCommitted(`${prefix}jt-enriched`, PARTITIONS);
      const pairs = await readCommitted(`${prefix}jt-pairs`, PARTITIONS);
      const v = (o: Record<string, unknown>) => o["value"] as Record<string, unknown>;
      expect(diff(multiset(enriched.map((o) => `${o["key"]}|${v(o)["ts"]}|${v(o)["city"]}`)), multiset(wantEnriched))).toEqual([]);
      expect(diff(multiset(pairs.map((o) => `${o["key"]}|${v(o)["requestId"]}|${v(o)["fixTs"]}`)), multiset(wantPairs))).toEqual([]);
      expectNothingLateOrInvalid(a2);
    });
  }, 300_000);

  it("a global table is read whole by every process, outside its tasks: after a join, a worker thread's death, a SIGKILL and restart and a SIGKILL for good, every fix is enriched and counted exactly once", async () => {
    const prefix = `${uniqueName("gtasks")}-`;
    const group = uniqueName("gtasks-g");
    const ZONES = 40;
    // The zones' topic has a partition count of its own: it is not co-partitioned with the fixes.
    await createTopic(`${prefix}gt-zones`, 3);
    await createTopic(`${prefix}gt-fixes`, PARTITIONS);
    const next = mulberry32(71);
    const t0 = 1_700_000_000_000;
    const phases = [0, 1, 2].map((k) => Array.from({ length: 8000 }, (_, i) => ({ d: next() % DRIVERS, z: next() % ZONES, ts: t0 + k * 400_000 + i * 40 - (next() % 2000) })));
    const send = (k: number) => produceAll(`${prefix}gt-fixes`, phases[k]!.map((f) => ({ value: JSON.stringify({ driverId: `driver-${f.d}`, zoneId: `zone-${f.z}`, ts: f.ts }), key: `driver-${f.d}`, partition: f.d % PARTITIONS })));
    const zoneName = (z: number) => `Zone ${z} (${["north", "south", "east", "west"][z % 4]})`;
    await produceAll(`${prefix}gt-zones`, Array.from({ length: ZONES }, (_, z) => ({ value: JSON.stringify({ zoneId: `zone-${z}`, name: zoneName(z) }), key: `zone-${z}`, partition: z % 3 })));
    await withProcesses(prefix, async (procs) => {
      const { b, a2 } = await twoProcesses((id) => tasksArgs("test/dsl/fixtures/global-tasks.js", group, id), send, procs, { phase0BeforeStart: false, killWorkerOfB: true });
      expect(b.stderr).toMatch(/"event":"worker-restart"/);
      // Tasks are the fixes' partitions only (the zones' are no task's).
      const restores = [b, a2].flatMap((p) => p.stderr.split("\n").filter((l) => l.includes('"event":"task-restore"')).map((l) => JSON.parse(l) as { tasks: number[] }));
      for (const r of restores) for (const t of r.tasks) expect(t).toBeLessThan(PARTITIONS);
      const fixes = phases.flat();
      const counts = new Map<string, number>();
      for (const f of fixes) {
        const k = `driver-${f.d}|${Math.floor(f.ts / 60_000) * 60_000}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      const enriched = await readCommitted(`${prefix}gt-enriched`, PARTITIONS);
      const windows = await readCommitted(`${prefix}gt-counts`, PARTITIONS);
      const v = (o: Record<string, unknown>) => o["value"] as Record<string, unknown>;
      expect(diff(multiset(enriched.map((o) => `${o["key"]}|${v(o)["ts"]}|${v(o)["zone"]}`)), multiset(fixes.map((f) => `driver-${f.d}|${f.ts}|${zoneName(f.z)}`)))).toEqual([]);
      expect(diff(multiset(windows.map((o) => `${o["key"]}|${o["windowStart"]}|${o["value"]}`)), multiset([...counts].map(([k, n]) => `${k}|${n}`)))).toEqual([]);
      expectNothingLateOrInvalid(a2);
    });
  }, 300_000);
});
