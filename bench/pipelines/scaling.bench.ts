/**
 * The scaling curve of the main job: events/s against the number of shard workers, W = 1 … max(4,
 * cores), with the speed-up over 1 worker, the efficiency (speed-up / W) and the gain of each added
 * worker ((rate(W) − rate(W−1)) / rate(1)). Workers beyond the cores are oversubscribed and shown
 * for information.
 *
 *   in-process   Coordinator + GeneratorSource (seed 42, 16 partitions) + NullSink: the coordinator
 *                and the generator share the main thread, so W workers means W + 1 busy threads
 *   Kafka        loadgen → one topic of 4 partitions (frames, and JSON) → `riptide run --workers W`,
 *                each W with its own consumer group over the same topic (partition p → worker p mod W)
 *
 * Rounds: every W once per round, the rounds repeated, best of the rounds per W, so a slow spell of
 * this VM (±40 %) does not land on one W only; ratios are within one run of the module.
 *
 * Registered in bench/index.ts; standalone, `node dist/bench/pipelines/scaling.bench.js [--quick]
 * [--rounds N] [--no-kafka] [--write]` (--quick: smaller runs, Kafka included when standalone) prints the table and (--write) replaces the scaling section of
 * bench/RESULTS.md (between the scaling markers).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { NullSink } from "../../src/sinks/sink.js";
import { DriverGenerator } from "../../src/sources/driver-generator.js";
import { GeneratorSource } from "../../src/sources/generator-source.js";
import { machine, machineLine, type BenchRow } from "../harness.js";

export const groups = ["scaling: in-process", "scaling: Kafka (frames)", "scaling: Kafka (JSON)"] as const;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const BIN = join(ROOT, "bin", "riptide.js");
const BROKERS = "127.0.0.1:9092";
const KAFKA_PARTITIONS = 4;

export interface Point { workers: number; all: number[]; best: number }
export interface Curve { group: string; events: number; points: Point[]; note: string }

const maxWorkers = (): number => Math.max(4, availableParallelism());
/** Events/s in M with 2 decimals, or in k below 0.1 M. */
const mps = (x: number): string => (x >= 1e5 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(1)} k`);

async function inProcess(workers: number, events: number): Promise<number> {
  const c = new Coordinator({
    pipeline: driverTracking,
    source: new GeneratorSource(new DriverGenerator({ seed: 42 }), events),
    sink: new NullSink(),
    workers,
  });
  const s = await c.run();
  if (s.events !== events) throw new Error(`scaling: in-process run produced ${s.events} of ${events} events`);
  return s.eventsPerSec;
}

function node(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", timeout: 900_000, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lastJson(text: string): Record<string, unknown> {
  const line = text.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (!line) throw new Error(`no JSON summary in: ${text.slice(-800)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

function throughKafka(topic: string, workers: number, events: number, tag: string): number {
  const r = node([BIN, "run", "driver-tracking", "--brokers", BROKERS, "--input-topic", topic, "--output-topic", `${topic}.out-${tag}`,
    "--group", `scaling-${tag}`, "--workers", String(workers), "--stop-when-idle", "3", "--json", "--quiet"]);
  if (r.code !== 0) throw new Error(`riptide run --workers ${workers} failed (${r.code}): ${r.stderr.slice(-1000)}`);
  const s = lastJson(r.stdout);
  if (s["events"] !== events) throw new Error(`riptide run --workers ${workers} read ${s["events"]} of ${events} events`);
  return s["eventsPerSec"] as number;
}

async function curve(group: string, events: number, rounds: number, measure: (w: number, round: number) => Promise<number> | number, note: string): Promise<Curve> {
  const W = maxWorkers();
  const points: Point[] = Array.from({ length: W }, (_, i) => ({ workers: i + 1, all: [], best: 0 }));
  let failures = 0;
  for (let r = 0; r < rounds; r++) {
    for (const p of points) {
      // One failed run (the shared broker restarted under it, say) loses that sample, not the curve.
      try {
        p.all.push(await measure(p.workers, r));
        process.stderr.write(`scaling: ${group}, ${p.workers} worker(s), round ${r + 1}: ${mps(p.all[p.all.length - 1]!)}/s\n`);
      } catch (err) {
        if (++failures > rounds) throw err;
        process.stderr.write(`scaling: ${group}, ${p.workers} worker(s), round ${r + 1} failed, sample dropped: ${String((err as Error).message).slice(0, 300)}\n`);
      }
    }
  }
  for (const p of points) {
    if (p.all.length === 0) throw new Error(`scaling: ${group}: every run with ${p.workers} workers failed`);
    p.best = Math.max(...p.all);
  }
  return { group, events, points, note };
}

export async function curves(opts: { quick: boolean; kafka: boolean; rounds?: number }): Promise<Curve[]> {
  const out: Curve[] = [];
  const rounds = opts.rounds ?? (opts.quick ? 1 : 3);
  const events = opts.quick ? 5_000_000 : 20_000_000;
  out.push(await curve(groups[0], events, rounds, (w) => inProcess(w, events),
    `Coordinator + generator (seed 42, 16 partitions) + null sink, ${events / 1e6} M events per run`));
  if (opts.kafka) {
    const up = node([join(ROOT, "scripts", "kafka.mjs"), "up"]);
    if (up.code !== 0) throw new Error(`no Kafka broker: ${up.stderr}`);
    const stamp = `${Date.now().toString(36)}-${process.pid}`;
    for (const [format, group, n] of [["frame", groups[1], opts.quick ? 2_000_000 : 10_000_000], ["json", groups[2], opts.quick ? 100_000 : 400_000]] as const) {
      const topic = `scaling-${format}-${stamp}`;
      const lg = node([BIN, "loadgen", "--brokers", BROKERS, "--topic", topic, "--format", format, "--events", String(n), "--rate", "1000000000",
        "--partitions", String(KAFKA_PARTITIONS), "--json", "--quiet"]);
      if (lg.code !== 0) throw new Error(`loadgen failed: ${lg.stderr}`);
      out.push(await curve(group, n, rounds, (w, r) => throughKafka(topic, w, n, `${format}-${w}-${r}-${stamp}`),
        `loadgen → ${KAFKA_PARTITIONS} partitions (${format === "frame" ? "frames of 1000 events" : "one JSON event per message"}) → riptide run --workers W, ` +
        `${n / 1e6} M events per run, each run a new consumer group (summary: first event → last output acknowledged)`));
    }
  }
  return out;
}

function efficiencyNote(c: Curve, p: Point): string {
  const base = c.points[0]!.best;
  const prev = c.points[p.workers - 2]?.best ?? 0;
  const cores = availableParallelism();
  const speedup = p.best / base;
  return `speed-up ${speedup.toFixed(2)}×, efficiency ${((speedup / p.workers) * 100).toFixed(0)} %` +
    (p.workers > 1 ? `, added worker +${(((p.best - prev) / base) * 100).toFixed(0)} % of 1 worker` : "") +
    (p.workers > cores ? ` (oversubscribed: ${p.workers} workers on ${cores} cores)` : "") +
    `; best of ${p.all.length} (${p.all.map(mps).join(", ")})`;
}

export function rowsOf(cs: readonly Curve[]): BenchRow[] {
  return cs.flatMap((c) => c.points.map((p) => ({
    group: c.group, name: `${p.workers} worker${p.workers === 1 ? "" : "s"}`, baseline: p.workers === 1, eventsPerSec: p.best,
    note: p.workers === 1 ? `${c.note}; best of ${p.all.length} (${p.all.map(mps).join(", ")})` : efficiencyNote(c, p),
  })));
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  // Through Kafka in full runs only (as the runner skips broker modules in --quick), and only when a
  // broker answers already.
  const kafka = !opts.quick && spawnSync(process.execPath, [join(ROOT, "scripts", "kafka.mjs"), "status"], { cwd: ROOT }).status === 0;
  return rowsOf(await curves({ quick: opts.quick, kafka }));
}

const START = "<!-- scaling:start -->";
const END = "<!-- scaling:end -->";

export function section(cs: readonly Curve[], loadBefore: number, loadAfter: number): string {
  const m = machine();
  const lines = [
    "## Scaling curve (bench/pipelines/scaling.bench.ts)",
    "",
    `Generated on ${machineLine(m)}. Load average (1 min) ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after` +
      (Math.max(loadBefore, loadAfter) > 1 ? ": other processes shared the cores during this run, so absolute figures are deflated; " +
        "the ratios (speed-up, efficiency) compare points measured in the same rounds." : "."),
    "Efficiency = speed-up / W; \"added worker\" = (rate(W) − rate(W−1)) / rate(1). Workers beyond the cores are oversubscribed (for information).",
    "",
  ];
  for (const c of cs) {
    // When the runs of one point spread more than the points differ, the curve says nothing.
    const spread = Math.max(...c.points.map((p) => Math.max(...p.all) / Math.min(...p.all)));
    const bests = c.points.map((p) => p.best);
    const range = Math.max(...bests) / Math.min(...bests);
    const verdict = spread > range
      ? ` **The runs of one point spread up to ${spread.toFixed(1)}× — more than the points differ (${range.toFixed(1)}×): this run cannot show how the job scales; measure on an idle machine.**`
      : ` Runs of one point spread up to ${spread.toFixed(1)}×.`;
    lines.push(`### ${c.group}`, "", `${c.note}.${verdict}`, "", "| workers | events/s | speed-up | efficiency | added worker |", "|---|---|---|---|---|");
    const base = c.points[0]!.best;
    for (const p of c.points) {
      const prev = c.points[p.workers - 2]?.best;
      const over = p.workers > availableParallelism() ? " (oversubscribed)" : "";
      lines.push(`| ${p.workers}${over} | ${mps(p.best)} (${p.all.map(mps).join(", ")}) | ${(p.best / base).toFixed(2)}× | ` +
        `${((p.best / base / p.workers) * 100).toFixed(0)} % | ${prev === undefined ? "–" : `${(((p.best - prev) / base) * 100).toFixed(0)} %`} |`);
    }
    lines.push("");
  }
  return lines.join("\n").trimEnd();
}

export function writeSection(file: string, text: string): void {
  const block = `${START}\n${text}\n${END}`;
  const old = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmark results\n";
  const s = old.indexOf(START), e = old.indexOf(END);
  writeFileSync(file, s >= 0 && e > s ? old.slice(0, s) + block + old.slice(e + END.length) : `${old.replace(/\n*$/, "")}\n\n${block}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const loadBefore = loadavg()[0]!;
  const r = argv.indexOf("--rounds");
  const rounds = r >= 0 ? Number(argv[r + 1]) : undefined;
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--rounds must be an integer ≥ 1, got ${argv[r + 1]}`);
  const cs = await curves({ quick: argv.includes("--quick"), kafka: !argv.includes("--no-kafka"), ...(rounds !== undefined && { rounds }) });
  const text = section(cs, loadBefore, loadavg()[0]!);
  process.stdout.write(`${text}\n`);
  if (argv.includes("--write")) writeSection(join(ROOT, "bench", "RESULTS.md"), text);
  process.exit(0);
}
