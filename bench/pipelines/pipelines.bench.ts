/**
 * Every pipeline `riptide pipelines` lists, two figures each (issue 5 item 10):
 *
 *   in-process   riptide run <name> --events N --json (embedded generator, null sink), against
 *                driver-tracking measured in the same run
 *   Kafka        riptide loadgen --kind … → fresh topics → riptide run <name> --brokers …
 *                --stop-when-idle 3 --json, against a plain node-rdkafka consume-and-count of the
 *                same input topics (bench/io/consume-count.ts) measured in the same run
 *
 * Each figure is one run of a separate process and is the run's --json summary's eventsPerSec
 * (first event → last output acknowledged, idle wait excluded). Kafka rows in full runs only, and
 * only when a broker answers (as bench/pipelines/scaling.bench.ts); --quick: in-process only, ÷40
 * events (a smoke run: start-up and the end-of-input flush dominate its figures).
 * Standalone: `node dist/bench/pipelines/pipelines.bench.js [--quick] [--no-kafka] [--only NAME,…]`.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BenchRow } from "../harness.js";
import { consumeAndCount } from "../io/consume-count.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const BIN = join(ROOT, "bin", "riptide.js");
const BROKERS = "127.0.0.1:9092";
const PARTITIONS = 4;
const WORKERS = 2;

interface Kafka {
  /** loadgen arguments (after --brokers) and the input topics it fills, for topics named from `base`. */
  load(base: string): { args: string[]; topics: string[] };
  /** riptide run arguments after the pipeline name and --brokers. */
  run(base: string, inputs: string[]): string[];
}

interface Pipeline { name: string; inProcess: number; kafkaEvents: number; kafka: Kafka }

/** A loadgen kind writing the topics named (in its --topic order), read by run --input-topic in the same order. */
const named = (kind: string, names: string[], runExtra: string[] = []): Kafka => ({
  load: (base) => ({ args: ["--kind", kind, "--topic", names.map((n) => `${base}-${n}`).join(",")], topics: names.map((n) => `${base}-${n}`) }),
  run: (base, inputs) => ["--input-topic", inputs.join(","), "--output-topic", `${base}-out`, "--group", `${base}-g`, ...runExtra],
});

const dsl = (kind: string): Kafka => ({
  // Topic names from the topology with the prefix in front; the loadgen summary lists them.
  load: (base) => ({ args: ["--kind", kind, "--topic-prefix", `${base}-`], topics: [] }),
  run: (base) => ["--topic-prefix", `${base}-`, "--group", `${base}-g`],
});

// Event counts: 5–15 s per in-process run on 2 loaded cores (a run has ~1–3 s of fixed cost — start,
// the end-of-input flush — so driver-tracking at 2 M events showed a third of its 10 M-event rate),
// and a few seconds to ~15 s per Kafka run.
const PIPELINES: readonly Pipeline[] = [
  {
    name: "driver-tracking", inProcess: 20_000_000, kafkaEvents: 300_000,
    kafka: {
      load: (base) => ({ args: ["--topic", `${base}-locations`, "--format", "json"], topics: [`${base}-locations`] }),
      run: (base, inputs) => ["--input-topic", inputs[0]!, "--output-topic", `${base}-out`, "--group", `${base}-g`],
    },
  },
  { name: "surge-pricing", inProcess: 4_000_000, kafkaEvents: 200_000, kafka: named("rides", ["locations", "requests"]) },
  { name: "driver-eta", inProcess: 1_000_000, kafkaEvents: 200_000, kafka: named("rides", ["locations", "requests"]) },
  {
    name: "payments", inProcess: 10_000_000, kafkaEvents: 200_000,
    kafka: {
      load: (base) => ({ args: ["--kind", "payments", "--topic", `${base}-payment-events`], topics: [`${base}-payment-events`] }),
      run: (base, inputs) => ["--input-topic", inputs[0]!, "--output-topic", `${base}-out`, "--group", `${base}-g`],
    },
  },
  { name: "engagement-analytics", inProcess: 4_000_000, kafkaEvents: 200_000, kafka: named("engagement", ["views", "content-metadata", "interactions"]) },
  {
    name: "message-delivery", inProcess: 300_000, kafkaEvents: 60_000,
    kafka: named("messages", ["messages", "presence"], ["--encryption-key", randomBytes(32).toString("hex")]),
  },
  { name: "ride-matching", inProcess: 200_000, kafkaEvents: 40_000, kafka: dsl("ride-matching") },
  { name: "message-enrichment", inProcess: 300_000, kafkaEvents: 60_000, kafka: dsl("message-enrichment") },
  { name: "payments-dsl", inProcess: 200_000, kafkaEvents: 40_000, kafka: dsl("payments-dsl") },
];

export const IN_PROCESS = "every pipeline, in-process (generator, null sink)";
export const kafkaGroup = (name: string): string => `every pipeline through Kafka: ${name}`;
export const groups = [IN_PROCESS, ...PIPELINES.map((p) => kafkaGroup(p.name))];

const log = (s: string): void => void process.stderr.write(`pipelines: ${new Date().toISOString().slice(11, 19)} load ${loadavg()[0]!.toFixed(2)}: ${s}\n`);
const mps = (r: number): string => (r >= 1e6 ? `${(r / 1e6).toFixed(2)} M` : `${(r / 1e3).toFixed(1)} k`);

function node(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", timeout: 600_000, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function lastJson(text: string): Record<string, unknown> {
  const line = text.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (!line) throw new Error(`no JSON summary in: ${text.slice(-800)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

function riptide(what: string, args: string[]): Record<string, unknown> {
  const r = node([BIN, ...args]);
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr.slice(-1500)}`);
  return lastJson(r.stdout);
}

const outputsText = (s: Record<string, unknown>): string =>
  Object.entries((s["outputs"] ?? {}) as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(", ");

function inProcess(p: Pipeline, events: number): { rate: number; note: string } {
  const s = riptide(`riptide run ${p.name}`, ["run", p.name, "--events", String(events), "--sink", "null", "--workers", String(WORKERS), "--json", "--quiet"]);
  const rate = s["eventsPerSec"] as number;
  log(`${p.name} in-process: ${s["events"]} events in ${s["seconds"]} s = ${mps(rate)} events/s`);
  return { rate, note: `${s["events"]} events in ${s["seconds"]} s, ${s["workers"]} worker(s); outputs ${outputsText(s)}` };
}

async function throughKafka(p: Pipeline, stamp: string, events: number): Promise<BenchRow[]> {
  const base = `pl-${stamp}-${p.name}`;
  const k = p.kafka;
  const { args, topics } = k.load(base);
  const lg = riptide(`riptide loadgen (${p.name})`, ["loadgen", "--brokers", BROKERS, ...args, "--events", String(events), "--rate", "1000000000",
    "--partitions", String(PARTITIONS), "--json", "--quiet"]);
  const inputs = topics.length > 0 ? topics : ((lg["topics"] ?? []) as Array<{ topic: string }>).map((t) => t.topic);
  if (inputs.length === 0) throw new Error(`loadgen (${p.name}) named no topics: ${JSON.stringify(lg)}`);
  const count = await consumeAndCount(BROKERS, inputs);
  log(`${p.name} Kafka baseline: ${count.messages} messages in ${count.seconds.toFixed(3)} s = ${mps(count.messagesPerSec)}/s`);
  const s = riptide(`riptide run ${p.name} --brokers`, ["run", p.name, "--brokers", BROKERS, ...k.run(base, inputs), "--workers", String(WORKERS),
    "--stop-when-idle", "3", "--json", "--quiet"]);
  const rate = s["eventsPerSec"] as number;
  log(`${p.name} Kafka: ${s["events"]} events in ${s["seconds"]} s = ${mps(rate)} events/s`);
  const group = kafkaGroup(p.name);
  return [
    {
      group, name: "node-rdkafka consume-and-count of the input topics", baseline: true, eventsPerSec: count.messagesPerSec,
      note: `${count.messages} messages (one event each) of ${inputs.length} topic(s) × ${PARTITIONS} partitions in ${count.seconds.toFixed(3)} s; ` +
        `loadgen wrote ${lg["events"]} events at ${lg["eventsPerSec"]} events/s`,
    },
    {
      group, name: `riptide run ${p.name}, ${s["workers"]} worker(s)`, baseline: false, eventsPerSec: rate,
      note: `${s["events"]} events in ${s["seconds"]} s (--json summary: first event → last output acknowledged, idle wait excluded); outputs ${outputsText(s)}` +
        (s["events"] !== count.messages ? `; riptide counted ${s["events"]} events of the ${count.messages} messages (a table topic's records are not counted as events)` : ""),
    },
  ];
}

export async function run(opts: { quick: boolean; kafka?: boolean; only?: readonly string[] }): Promise<BenchRow[]> {
  const chosen = PIPELINES.filter((p) => opts.only === undefined || p.name === "driver-tracking" || opts.only.includes(p.name));
  // --quick is a smoke run (~25 s): at ÷40 the fixed cost of a run dominates its figure.
  const scale = opts.quick ? 40 : 1;
  const rows: BenchRow[] = [];
  for (const p of chosen) {
    const events = Math.round(p.inProcess / scale);
    const r = inProcess(p, events);
    rows.push({ group: IN_PROCESS, name: p.name, baseline: p.name === "driver-tracking", eventsPerSec: r.rate, note: r.note });
  }
  // Through Kafka in full runs only, and only when a broker answers already.
  const kafka = (opts.kafka ?? !opts.quick) && spawnSync(process.execPath, [join(ROOT, "scripts", "kafka.mjs"), "status"], { cwd: ROOT }).status === 0;
  if (!kafka) {
    log(opts.quick ? "--quick: Kafka rows skipped (run without --quick)" : "no broker answers on 127.0.0.1:9092 (or --no-kafka): Kafka rows skipped");
    return rows;
  }
  const stamp = `${Date.now().toString(36)}-${process.pid}`;
  for (const p of chosen) {
    try {
      rows.push(...(await throughKafka(p, stamp, Math.round(p.kafkaEvents / scale))));
    } catch (err) {
      // One pipeline failing on the broker loses its rows, not the others'.
      log(`${p.name} through Kafka failed: ${String((err as Error)?.message ?? err).slice(0, 1500)}`);
      rows.push({ group: kafkaGroup(p.name), name: `riptide run ${p.name} FAILED`, baseline: true, eventsPerSec: 0, note: String((err as Error)?.message ?? err).split("\n")[0]!.slice(0, 300) });
    }
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const o = argv.indexOf("--only");
  const rows = await run({ quick: argv.includes("--quick"), kafka: !argv.includes("--no-kafka"), ...(o >= 0 && { only: argv[o + 1]!.split(",") }) });
  for (const r of rows) console.log(`${r.group} | ${r.name} | ${mps(r.eventsPerSec)} events/s | ${r.note ?? ""}`);
  process.exit(0);
}
