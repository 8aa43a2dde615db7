/**
 * What every bench module shares: the row it reports, the machine the figures came from, the
 * tinybench conversion, and the table / markdown rendering.
 *
 *   bench module run({quick}) ──► BenchRow[] ──► index.ts ──► formatTable (stdout)
 *                                                        └──► renderResults ──► bench/RESULTS.md
 *
 * Every group has one baseline row (`baseline: true`); ratios are to that row.
 */
import { availableParallelism, cpus, totalmem } from "node:os";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { TaskResult } from "tinybench";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

export interface BenchRow { group: string; name: string; eventsPerSec: number; baseline: boolean; note?: string }

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  date: string;
}

/** The machine the figures are measured on (habit 9: record it with the figures). */
export function machine(): Machine {
  const list = cpus();
  return {
    cpu: (list[0]?.model ?? "unknown CPU").trim().replace(/\s+/g, " "),
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
  };
}

export function machineLine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}, ${m.date}`;
}

/**
 * Events per second of a finished tinybench (v6) task whose every call processes `eventsPerCall`
 * events: `eventsPerCall / period`, where `period` = totalTime / runs, the mean latency of the
 * measured calls in ms (warm-up calls excluded). The mean, not the median, so that GC pauses and
 * other periodic costs count: it is total events over total time.
 * @throws Error if the task did not finish with statistics (the task's own error when it threw).
 */
export function tinybenchEventsPerSec(result: TaskResult, eventsPerCall: number): number {
  if (result.state === "errored") throw result.error;
  if (result.state !== "completed" && result.state !== "aborted-with-statistics") {
    throw new Error(`tinybench task has no statistics (state ${result.state})`);
  }
  if (!(result.period > 0)) throw new Error(`tinybench task measured a period of ${result.period} ms`);
  return (eventsPerCall * 1000) / result.period;
}

/** "tinybench, 812 calls of 2048 events, ±1.3%": how a tinybench figure was measured, for `note`. */
export function tinybenchNote(result: TaskResult, eventsPerCall: number): string {
  if (result.state !== "completed" && result.state !== "aborted-with-statistics") return `tinybench (${result.state})`;
  const calls = result.latency.samplesCount;
  return `tinybench mean of ${calls} calls × ${eventsPerCall} events, ±${result.latency.rme.toFixed(1)}%`;
}

/** Standard tinybench options: quick runs are short, full runs long enough to settle. */
export function tinybenchOptions(quick: boolean): { time: number; warmupTime: number; warmupIterations: number; iterations: number } {
  return quick
    ? { time: 300, warmupTime: 100, warmupIterations: 16, iterations: 16 }
    : { time: 2000, warmupTime: 500, warmupIterations: 64, iterations: 64 };
}

/** Millions of events per second with 3 significant digits (0.281, 2.20, 34.5, 258). */
export function formatMps(eventsPerSec: number): string {
  const m = eventsPerSec / 1e6;
  if (!Number.isFinite(m)) return String(m);
  if (m >= 100) return m.toFixed(0);
  if (m >= 10) return m.toFixed(1);
  if (m >= 1) return m.toFixed(2);
  return m.toFixed(3);
}

/** Ratio of each row to its group's baseline row ("1.00×" for the baseline, "—" without one). */
export function ratioText(row: BenchRow, rows: readonly BenchRow[]): string {
  const base = rows.find((r) => r.group === row.group && r.baseline);
  if (!base || !(base.eventsPerSec > 0)) return "—";
  const x = row.eventsPerSec / base.eventsPerSec;
  return `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`;
}

const HEADINGS = ["group", "name", "M events/s", "× baseline", "note"] as const;

function cells(rows: readonly BenchRow[]): string[][] {
  return rows.map((r) => [r.group, r.baseline ? `${r.name} (baseline)` : r.name, formatMps(r.eventsPerSec), ratioText(r, rows), r.note ?? ""]);
}

/** A plain-text table for the terminal. */
export function formatTable(rows: readonly BenchRow[]): string {
  const body = cells(rows);
  const widths = HEADINGS.map((h, c) => Math.max(h.length, ...body.map((line) => line[c]!.length)));
  const numeric = [false, false, true, true, false];
  const fmt = (line: readonly string[]): string =>
    line.map((s, c) => (numeric[c] ? s.padStart(widths[c]!) : s.padEnd(widths[c]!))).join("  ").trimEnd();
  const out = [fmt(HEADINGS), widths.map((w) => "─".repeat(w)).join("  ")];
  let group: string | undefined;
  for (let i = 0; i < body.length; i++) {
    if (group !== undefined && rows[i]!.group !== group) out.push("");
    group = rows[i]!.group;
    out.push(fmt(body[i]!));
  }
  return out.join("\n");
}

export interface RenderOptions {
  quick: boolean;
  /** Wall-clock seconds of the whole run. */
  seconds?: number;
  /** Modules that were skipped or failed, one line each. */
  problems?: readonly string[];
}

/** The generated markdown section of bench/RESULTS.md (without the markers). */
export function renderResults(rows: readonly BenchRow[], m: Machine, opts: RenderOptions): string {
  const esc = (s: string): string => s.replace(/\|/g, "\\|");
  const lines = [
    `Machine: ${machineLine(m)}.`,
    `Mode: ${opts.quick ? "`--quick` (short runs; indicative only)" : "full"}` +
      (opts.seconds !== undefined ? `; the suite took ${opts.seconds.toFixed(1)} s.` : "."),
    "",
    `| ${HEADINGS.join(" | ")} |`,
    "|---|---|--:|--:|---|",
    ...cells(rows).map((line) => `| ${line.map(esc).join(" | ")} |`),
  ];
  if (opts.problems && opts.problems.length > 0) {
    lines.push("", "Not measured:", ...opts.problems.map((p) => `- ${p}`));
  }
  return lines.join("\n");
}

export const RESULTS_START = "<!-- results:start -->";
export const RESULTS_END = "<!-- results:end -->";

const RESULTS_HEADER = `# Benchmark results

Produced by \`npm run bench\` (\`bench/index.ts\`); the section between the markers is rewritten on
every run, text outside it is kept. Each group is measured against its baseline row (ratio column).
`;

/**
 * Replaces the generated section of a results file (between the markers) with `section`, keeping
 * everything else; creates the file with a short header, or appends the section, when needed.
 */
export function writeResults(file: string, section: string): void {
  const block = `${RESULTS_START}\n${section}\n${RESULTS_END}`;
  const text = existsSync(file) ? readFileSync(file, "utf8") : RESULTS_HEADER;
  const start = text.indexOf(RESULTS_START);
  const end = start < 0 ? -1 : text.indexOf(RESULTS_END, start);
  const next = start >= 0 && end >= 0
    ? text.slice(0, start) + block + text.slice(end + RESULTS_END.length)
    : `${text.replace(/\n*$/, "")}\n\n${block}\n`;
  writeFileSync(file, next);
}

/** One row of a tinybench group where each call processes a whole batch of `eventsPerCall` events. */
export interface BatchCase {
  name: string;
  baseline: boolean;
  note?: string;
  fn: () => void;
}

/** Runs the cases of one group with tinybench (warm-up included) and turns them into rows. */
export async function measureBatches(group: string, cases: readonly BatchCase[], eventsPerCall: number, quick: boolean): Promise<BenchRow[]> {
  const { Bench } = await import("tinybench");
  const bench = new Bench({ name: group, ...tinybenchOptions(quick) });
  for (const c of cases) bench.add(c.name, c.fn, { async: false });
  await bench.run();
  return bench.tasks.map((task, i) => {
    const c = cases[i]!;
    const how = tinybenchNote(task.result, eventsPerCall);
    return {
      group,
      name: c.name,
      eventsPerSec: tinybenchEventsPerSec(task.result, eventsPerCall),
      baseline: c.baseline,
      note: c.note === undefined ? how : `${c.note}; ${how}`,
    };
  });
}

/** mulberry32: a small seeded 32-bit PRNG for bench data (unsigned 32-bit integers). */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

let gcFn: (() => void) | undefined;
/** Two full collections (for heap deltas of state stores), without needing node --expose-gc. */
export function forceGc(): void {
  if (!gcFn) {
    setFlagsFromString("--expose-gc");
    gcFn = runInNewContext("gc") as () => void;
  }
  gcFn();
  gcFn();
}
