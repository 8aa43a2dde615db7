/**
 * End to end through a real broker: loadgen → Kafka → riptide → Kafka, for JSON (one event per
 * message) and frames (many per message), beside a plain node-rdkafka consume-and-count of the same
 * topic measured in the same run. Then latency at half the measured maximum rate, with loadgen and
 * riptide running at the same time.
 *
 * Latency is Kafka Streams' record-e2e-latency at the terminal node: the record's Kafka timestamp
 * (CreateTime, set by the load generator's produce() call, so its linger counts) → the record
 * processed by its shard and the shard's acknowledgement read by the coordinator. Per record (to the
 * millisecond of its timestamp; a batch spanning more than 32 distinct milliseconds merges them
 * into wider runs that keep the older time, an upper bound: src/metrics/entry-runs.ts). Before
 * 2026-11-28 08:00 UTC the batch's oldest timestamp stood for all its records. It does not include writing the outputs to Kafka. The maximum is measured with riptide
 * alone; at "half" of it the load generator and the broker take their share of the same 2 cores.
 * Two figures: the whole run's (the run's --json summary: it includes the first second, while V8
 * compiles the hot path and the first batches queue behind it), and the steady state's, over the
 * WINDOW_S seconds after the first WARM_S of load: the difference of two scrapes of the run's
 * Prometheus histogram (`/metrics`, stream_processing_latency_seconds), as a user's dashboard sees
 * it. Its quantiles are interpolated between the histogram's bounds (Prometheus'
 * histogram_quantile); the share of records within 25 ms is read off the 0.025 s bound itself.
 * Beside it, the steady state's stage "source" (stream_processing_stage_latency_seconds: the Kafka
 * timestamp → the batch handed to a shard, as Kafka Streams' record-e2e-latency at the source
 * node), the part of the latency spent before the engine's rings.
 *
 * Needs the broker: `npm run kafka:up` (started here if it does not answer). Plain timed runs, not
 * tinybench: each figure is one run of a separate process.
 */
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { shebangFlags } from "../../src/cli/node-flags.js";
import { rdkafkaClientFactory } from "../../src/io/kafka/rdkafka.js";
import type { BenchRow } from "../harness.js";

export const groups = ["Kafka end to end (JSON)", "Kafka end to end (frames)"];
/** The runner skips this module in --quick unless asked for with --only. */
export const needsBroker = true;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const BIN = join(ROOT, "bin", "riptide.js");
const BROKERS = "127.0.0.1:9092";

function sh(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", timeout: 600_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lastJson(text: string): Record<string, unknown> {
  const line = text.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (!line) throw new Error(`no JSON summary in: ${text.slice(-500)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

/** Load generation for the steady-state window: WARM_S seconds first, then WINDOW_S measured. */
const WARM_S = 5;

function loadgen(topic: string, format: string, events: number, rate: number): Record<string, unknown> {
  const r = sh([...shebangFlags(BIN), BIN, "loadgen", "--brokers", BROKERS, "--topic", topic, "--format", format, "--events", String(events),
    "--rate", String(rate), "--partitions", "4", "--json", "--quiet"]);
  if (r.code !== 0) throw new Error(`loadgen failed: ${r.stderr}`);
  return lastJson(r.stdout);
}

export async function createTopic(topic: string, partitions: number): Promise<void> {
  const Kafka = createRequire(import.meta.url)("node-rdkafka") as typeof import("node-rdkafka");
  const admin = Kafka.AdminClient.create({ "metadata.broker.list": BROKERS });
  await new Promise<void>((res, rej) => admin.createTopic({ topic, num_partitions: partitions, replication_factor: 1 }, (e) => (e ? rej(e) : res())));
  admin.disconnect();
}

/** loadgen as a child process (the bench scrapes the engine meanwhile). */
export function loadgenAsync(topic: string, format: string, events: number, rate: number, extra: string[] = [],
  onSpawn?: (pid: number) => void): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...shebangFlags(BIN), BIN, "loadgen", "--brokers", BROKERS, "--topic", topic, "--format", format, "--events", String(events),
      "--rate", String(rate), "--partitions", "4", "--json", "--quiet", ...extra], { cwd: ROOT });
    if (child.pid !== undefined) onSpawn?.(child.pid);
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    child.on("exit", (code) => (code === 0 ? resolve(lastJson(out)) : reject(new Error(`loadgen failed (${code}): ${err.slice(-1000)}`))));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Cumulative counts by bucket bound (s), from /metrics: of stream_processing_latency_seconds, or
 * with `stage` of stream_processing_stage_latency_seconds for that stage.
 */
export async function scrapeLatency(port: number, stage?: string): Promise<Map<number, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const re = stage === undefined
    ? /^stream_processing_latency_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\S+)$/
    : new RegExp(`^stream_processing_stage_latency_seconds_bucket\\{[^}]*stage="${stage}"[^}]*le="([^"]+)"[^}]*\\} (\\S+)$`);
  const buckets = new Map<number, number>();
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (m) buckets.set(m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2]));
  }
  return buckets;
}

/**
 * The latency of the records acknowledged between two scrapes: p50 and p99 interpolated within
 * the histogram's buckets (as Prometheus' histogram_quantile), and the share within 25 ms.
 */
export function windowLatency(before: Map<number, number>, after: Map<number, number>): { p50: number; p99: number; within25: number; records: number } {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((b) => (after.get(b) ?? 0) - (before.get(b) ?? 0));
  const total = counts.at(-1) ?? 0;
  const quantile = (q: number): number => {
    const rank = q * total;
    for (let i = 0; i < bounds.length; i++) {
      if (counts[i]! >= rank) {
        if (bounds[i] === Infinity) return bounds[i - 1]! * 1000; // beyond the last bound: at least it
        const lo = i === 0 ? 0 : bounds[i - 1]!;
        const below = i === 0 ? 0 : counts[i - 1]!;
        const inBucket = counts[i]! - below;
        return (lo + (bounds[i]! - lo) * (inBucket > 0 ? (rank - below) / inBucket : 1)) * 1000;
      }
    }
    return NaN;
  };
  const i25 = bounds.indexOf(0.025);
  return { p50: quantile(0.5), p99: quantile(0.99), within25: total > 0 && i25 >= 0 ? counts[i25]! / total : NaN, records: total };
}

/**
 * bench/io/consume-latency.ts as a child (node-rdkafka alone, consuming `topic`): its JSON line
 * (p50, p99, within25, records) once the topic has been idle 3 s.
 */
export function bareConsumer(topic: string, format: string, warmMs: number, windowMs: number, onSpawn?: (pid: number) => void): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "dist", "bench", "io", "consume-latency.js"), BROKERS, topic, String(warmMs), String(windowMs), format],
      { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    if (child.pid !== undefined) onSpawn?.(child.pid);
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.on("exit", (code) => (code === 0 ? resolve(lastJson(out) as Record<string, number>) : reject(new Error(`consume-latency failed (${code})`))));
  });
}

export function runRiptide(topic: string, extra: string[] = [], onSpawn?: (pid: number) => void): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    // The V8 flags of bin/riptide.js's shebang: measure what `riptide` runs.
    const child = spawn(process.execPath, [...shebangFlags(BIN), BIN, "run", "--brokers", BROKERS, "--input-topic", topic, "--output-topic", `${topic}.out`,
      "--group", `bench-${Date.now()}`, "--json", "--quiet", ...extra], { cwd: ROOT });
    if (child.pid !== undefined) onSpawn?.(child.pid);
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    child.on("exit", (code) => (code === 0 ? resolve(lastJson(out)) : reject(new Error(`riptide run failed (${code}): ${err.slice(-1000)}`))));
  });
}

/** node-rdkafka, nothing else: consume every message of the topic and count events. */
async function consumeAndCount(topic: string, expected: number, frames: boolean): Promise<number> {
  const Kafka = createRequire(import.meta.url)("node-rdkafka") as typeof import("node-rdkafka");
  const c = new Kafka.KafkaConsumer({
    "metadata.broker.list": BROKERS, "group.id": `count-${Date.now()}`, "enable.auto.commit": false,
    "fetch.message.max.bytes": 8 << 20, "fetch.max.bytes": 50 << 20,
  }, { "auto.offset.reset": "earliest" });
  await new Promise<void>((res, rej) => c.connect({}, (e) => (e ? rej(e) : res())));
  c.subscribe([topic]);
  c.setDefaultConsumeTimeout(10);
  let n = 0;
  let t0 = 0;
  const deadline = Date.now() + 300_000;
  while (n < expected && Date.now() < deadline) {
    const msgs = await new Promise<import("node-rdkafka").Message[]>((res, rej) => c.consume(5000, (e, m) => (e ? rej(e) : res(m))));
    if (msgs.length > 0 && t0 === 0) t0 = performance.now();
    for (const m of msgs) n += frames && m.value ? m.value.readUInt32LE(8) : 1;
  }
  const secs = (performance.now() - t0) / 1000;
  await new Promise<void>((res) => c.disconnect(() => res()));
  return n / secs;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const up = sh([join(ROOT, "scripts", "kafka.mjs"), "up"]);
  if (up.code !== 0) throw new Error(`no Kafka broker: ${up.stderr}`);
  const rows: BenchRow[] = [];
  const stamp = Date.now().toString(36);
  for (const format of ["json", "frame"] as const) {
    const group = format === "json" ? groups[0]! : groups[1]!;
    const events = format === "json" ? (opts.quick ? 200_000 : 1_000_000) : (opts.quick ? 4_000_000 : 20_000_000);
    const topic = `bench-${format}-${stamp}`;
    const produced = loadgen(topic, format, events, 50_000_000);
    const baseline = await consumeAndCount(topic, events, format === "frame");
    rows.push({ group, name: "node-rdkafka consume-and-count (baseline)", eventsPerSec: baseline, baseline: true, note: `${events} events; loadgen wrote ${produced["eventsPerSec"]} events/s` });
    const s = await runRiptide(topic, ["--workers", "2", "--stop-when-idle", "3"]);
    rows.push({ group, name: "riptide run driver-tracking, 2 workers", eventsPerSec: s["eventsPerSec"] as number, baseline: false, note: "from the run's --json summary (first event → last output acknowledged, idle wait excluded)" });
    // Latency at half the measured maximum, producer and engine running together.
    const half = Math.max(1000, Math.floor((s["eventsPerSec"] as number) / 2));
    const seconds = opts.quick ? 5 : 15;
    const liveTopic = `bench-${format}-live-${stamp}`;
    await createTopic(liveTopic, 4); // empty, before the consumer subscribes
    // Idle only counts from the group assignment; loadgen starts after it has settled.
    const port = await freePort();
    const engine = runRiptide(liveTopic, ["--workers", "2", "--stop-when-idle", "8", "--http", `127.0.0.1:${port}`]);
    await new Promise((r) => setTimeout(r, 4000));
    const loadBefore = loadavg()[0]!;
    const generating = loadgenAsync(liveTopic, format, half * (WARM_S + seconds), half);
    await new Promise((r) => setTimeout(r, WARM_S * 1000));
    const warm = await scrapeLatency(port);
    const warmSource = await scrapeLatency(port, "source");
    const live = await generating;
    await new Promise((r) => setTimeout(r, 1000)); // the last records through the engine
    const steady = windowLatency(warm, await scrapeLatency(port));
    const source = windowLatency(warmSource, await scrapeLatency(port, "source"));
    const loadAfter = loadavg()[0]!;
    const ls = await engine;
    const lat = ls["latencyMs"] as { p50: number; p99: number };
    rows.push({ group, name: `latency at half rate (${half} events/s)`, eventsPerSec: live["eventsPerSec"] as number, baseline: false,
      note: `end-to-end (Kafka timestamp → processed), after the first ${WARM_S} s: p50 ${steady.p50.toFixed(1)} ms, p99 ${steady.p99.toFixed(1)} ms, ` +
        `${(steady.within25 * 100).toFixed(2)} % within 25 ms (${steady.records} records), of which Kafka timestamp → handed to the engine ` +
        `(stage source: generator, broker, client, decoding) p50 ${source.p50.toFixed(1)} ms, p99 ${source.p99.toFixed(1)} ms; whole run: p50 ${lat.p50} ms, p99 ${lat.p99} ms; ` +
        `load average ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}` });
    // The same rate into node-rdkafka alone: the generator's, the broker's and the client's share of
    // the latency, with no engine (and no engine's CPU beside them).
    const bareTopic = `bench-${format}-bare-${stamp}`;
    await createTopic(bareTopic, 4);
    const bare = bareConsumer(bareTopic, format, WARM_S * 1000, seconds * 1000);
    await new Promise((r) => setTimeout(r, 4000));
    const bareLive = await loadgenAsync(bareTopic, format, half * (WARM_S + seconds), half);
    const b = await bare;
    rows.push({ group, name: `node-rdkafka alone at half rate (${half} events/s), the latency without an engine`, eventsPerSec: bareLive["eventsPerSec"] as number, baseline: false,
      note: `Kafka timestamp → message in JavaScript (bench/io/consume-latency.ts, riptide's fetch settings), after the first ${WARM_S} s: ` +
        `p50 ${b["p50"]!.toFixed(1)} ms, p99 ${b["p99"]!.toFixed(1)} ms, ${(b["within25"]! * 100).toFixed(2)} % within 25 ms (${b["records"]} records)` });
  }
  await deleteTopics(`-${stamp}`);
  return rows;
}

/**
 * Deletes the run's topics (inputs, outputs, side outputs, DLQs: every name holding `mark`): the
 * development broker keeps an hour of each (log.retention.ms), and a frames run writes ~1 GB.
 */
export async function deleteTopics(mark: string): Promise<void> {
  const admin = rdkafkaClientFactory.createAdmin({ brokers: BROKERS });
  await admin.connect();
  try {
    for (const t of await admin.listTopics()) if (t.startsWith("bench-") && t.includes(mark)) await admin.deleteTopic(t);
  } finally {
    await admin.disconnect();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const rows = await run({ quick: process.argv.includes("--quick") });
  for (const r of rows) console.log(`${r.group} | ${r.name} | ${(r.eventsPerSec / 1e6).toFixed(3)} M/s | ${r.note ?? ""}`);
  process.exit(0);
}
