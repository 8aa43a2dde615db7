/**
 * Two `riptide run --topology … --instance-id` processes of one group through a join, a SIGKILL
 * and restart, and a SIGKILL for good (exactly-once with state per partition): the life the
 * multi-process tests of test/kafka/eos-*.test.ts run, and what they check of it.
 */
import { expect } from "vitest";
import { BROKERS, assigned, riptide, type Proc } from "./kafka.js";

export const TASK_PARTITIONS = 4;

export function multiset(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

export async function until(what: string, ok: () => boolean, limitMs = 90_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const restored = (p: Proc) => /"event":"task-restore"/.test(p.stderr);

/** `riptide run --topology T` under exactly-once with state per partition, as instance `id`. */
export function tasksArgs(topology: string, group: string, id: string, partitions = TASK_PARTITIONS): string[] {
  return ["run", "--topology", topology, "--brokers", BROKERS, "--group", group, "--guarantee", "exactly-once",
    "--commit-interval", "50", "--instance-id", id, "--workers", "2", "--batch-size", "256", "--stop-when-idle", "8", "--partitions", String(partitions), "--json"];
}

/**
 * The life of two processes the multi-process tests run, sending three phases of input: `a`
 * alone (phase 0 sent before it starts, or `afterStart` once it loaded its partitions), then `b`
 * joins (tasks move); optionally a worker thread of `b` dies; phase 1; `a` SIGKILLed and restarted
 * with its id (`a2`); `b` SIGKILLed for good (its partitions move to `a2` once its session times
 * out); phase 2; `a2` runs to --stop-when-idle.
 *
 * `killAfterMs` (default 1500): how long after a phase is sent a process is killed. `midStream`:
 * `a` is killed `killAfterMs` after phase 1 starts to be sent, and `b` after phase 2 starts (sent
 * before it is killed), so that both die while they read and write, not after they committed all.
 */
export async function twoProcesses(args: (id: string) => string[], send: (phase: number) => Promise<unknown>, procs: Proc[],
  opts: { phase0BeforeStart: boolean; killWorkerOfB: boolean; killAfterMs?: number; midStream?: boolean }): Promise<{ a: Proc; b: Proc; a2: Proc }> {
  const killAfterMs = opts.killAfterMs ?? 1500;
  const start = (id: string) => { const p = riptide(args(id)); procs.push(p); return p; };
  if (opts.phase0BeforeStart) await send(0);
  const a = start("a");
  await assigned(a);
  // The first process holds every partition; once it has processed (and committed) the first
  // phase, a second joins.
  await until("a's partitions loaded", () => restored(a));
  await sleep(2500);
  if (!opts.phase0BeforeStart) {
    await send(0);
    await sleep(2500);
  }
  const b = start("b");
  await until("b's task restore", () => restored(b));
  // A worker thread of the second dies at its next batch (fault hook): its shard restores its
  // checkpoint and replays, a partition load it had not checkpointed yet included.
  if (opts.killWorkerOfB) b.child.kill("SIGUSR2");
  // Mid-stream: killed while the phase is still being sent (and so read).
  const sending = send(1);
  if (opts.midStream !== true) await sending;
  await sleep(killAfterMs);
  // The first is killed and restarted with its id: it takes its partitions back at once
  // (static membership) and loads their state.
  a.child.kill("SIGKILL");
  await a.exited;
  const a2 = start("a");
  await sending;
  await until("a2's task restore", () => restored(a2));
  // The second is killed for good: after its session times out its partitions move to the
  // restarted first, which waits until the broker aborts the dead one's open transaction and
  // loads their last committed state.
  const sending2 = opts.midStream === true ? send(2) : undefined;
  if (sending2) await sleep(killAfterMs);
  b.child.kill("SIGKILL");
  await b.exited;
  await (sending2 ?? send(2));
  expect(await a2.exited, a2.stderr.slice(-3000)).toBe(0);
  return { a, b, a2 };
}

/**
 * Runs `body` with topic names under `prefix` and a list for the processes it starts; at the end,
 * those still running are killed and the prefix cleared.
 */
export async function withProcesses(prefix: string, body: (procs: Proc[]) => Promise<void>): Promise<void> {
  process.env["RIPTIDE_TEST_PREFIX"] = prefix;
  const procs: Proc[] = [];
  try {
    await body(procs);
  } finally {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    delete process.env["RIPTIDE_TEST_PREFIX"];
  }
}

/** A run's --json summary's output counts. */
export function summaryOutputs(p: Proc): Record<string, number> {
  return (JSON.parse(p.stdout.trim().split("\n").pop()!) as { outputs: Record<string, number> }).outputs;
}

/** A run's --json summary counts nothing late and nothing invalid. */
export function expectNothingLateOrInvalid(p: Proc): void {
  const outputs = summaryOutputs(p);
  expect(outputs["riptide-late"]).toBe(0);
  expect(outputs["invalid"]).toBe(0);
}
