/**
 * The cost of exactly-once: the same topic through `riptide run` at-least-once (the baseline) and
 * with `--guarantee exactly-once` at two commit intervals, each run its own consumer group; then
 * the restore rate: a run stopped with SIGKILL right after a commit, and the restart's
 * `state-restore` log line (snapshot bytes / time to read the changelog).
 *
 * Needs the broker (started here if it does not answer). Plain timed runs of separate processes.
 */
import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BenchRow } from "../harness.js";

export const groups = ["Kafka exactly-once (frames, 4 partitions)"];
/** The runner skips this module in --quick unless asked for with --only. */
export const needsBroker = true;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const BIN = join(ROOT, "bin", "riptide.js");
const BROKERS = "127.0.0.1:9092";

function lastJson(text: string): Record<string, unknown> {
  const line = text.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (!line) throw new Error(`no JSON summary in: ${text.slice(-500)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

function runRiptide(topic: string, group: string, extra: string[]): Promise<{ summary: Record<string, unknown>; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "run", "--brokers", BROKERS, "--input-topic", topic, "--output-topic", `${topic}.${group}.out`,
      "--group", group, "--json", "--quiet", "--workers", "2", ...extra], { cwd: ROOT });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    child.on("exit", (code) => (code === 0 ? resolve({ summary: lastJson(out), stderr: err }) : reject(new Error(`riptide run failed (${code}): ${err.slice(-1000)}`))));
  });
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const up = spawnSync(process.execPath, [join(ROOT, "scripts", "kafka.mjs"), "up"], { encoding: "utf8" });
  if (up.status !== 0) throw new Error(`no Kafka broker: ${up.stderr}`);
  const group = groups[0]!;
  const events = opts.quick ? 3_000_000 : 10_000_000;
  const stamp = Date.now().toString(36);
  const topic = `bench-eos-${stamp}`;
  const lg = spawnSync(process.execPath, [BIN, "loadgen", "--brokers", BROKERS, "--topic", topic, "--format", "frame", "--events", String(events),
    "--rate", "50000000", "--partitions", "4", "--json", "--quiet"], { cwd: ROOT, encoding: "utf8", timeout: 600_000 });
  if (lg.status !== 0) throw new Error(`loadgen failed: ${lg.stderr}`);
  const rows: BenchRow[] = [];
  const alos = await runRiptide(topic, `alos-${stamp}`, ["--stop-when-idle", "3"]);
  rows.push({ group, name: "at-least-once (baseline)", eventsPerSec: alos.summary["eventsPerSec"] as number, baseline: true, note: `${events} events` });
  for (const interval of [100, 1000]) {
    const eos = await runRiptide(topic, `eos${interval}-${stamp}`, ["--stop-when-idle", "3", "--guarantee", "exactly-once", "--commit-interval", String(interval)]);
    rows.push({ group, name: `exactly-once, commit every ${interval} ms`, eventsPerSec: eos.summary["eventsPerSec"] as number, baseline: false,
      note: "transactions + full state snapshot per commit" });
  }
  // Restore rate: kill a run mid-stream, restart, read its state-restore line.
  const g = `eos-restore-${stamp}`;
  const killed = spawn(process.execPath, [BIN, "run", "--brokers", BROKERS, "--input-topic", topic, "--output-topic", `${topic}.restore.out`,
    "--group", g, "--json", "--quiet", "--workers", "2", "--guarantee", "exactly-once", "--commit-interval", "100"], { cwd: ROOT });
  let err = "";
  killed.stderr.on("data", (d) => { err += d; });
  const start = Date.now();
  while (!/"event":"assign"/.test(err) && Date.now() - start < 60_000) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 1500));
  killed.kill("SIGKILL");
  await new Promise((r) => killed.on("exit", r));
  const again = await runRiptide(topic, g, ["--stop-when-idle", "3", "--guarantee", "exactly-once"]);
  const line = again.stderr.split("\n").find((l) => l.includes('"event":"state-restore"'));
  if (line) {
    const r = JSON.parse(line) as { bytes?: number; ms?: number; found?: boolean };
    if (r.found && r.bytes && r.ms) {
      rows.push({ group, name: "restore: changelog read and decoded (bytes/s)", eventsPerSec: (r.bytes / r.ms) * 1000, baseline: false,
        note: `snapshot ${(r.bytes / 1e6).toFixed(2)} MB in ${r.ms} ms (includes the reader's connect)` });
    }
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const rows = await run({ quick: process.argv.includes("--quick") });
  for (const r of rows) console.log(`${r.group} | ${r.name} | ${(r.eventsPerSec / 1e6).toFixed(3)} M/s | ${r.note ?? ""}`);
  process.exit(0);
}
