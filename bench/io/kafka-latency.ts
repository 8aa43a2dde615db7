/**
 * A latency probe, not part of `npm run bench`: loadgen → Kafka → riptide at asked rates, and
 * the steady state's end-to-end latency (the same measure as kafka.bench.ts's "latency at half
 * rate"), its stage "source", and the CPU each of the three processes used per second of the
 * window (from /proc: user + system time of the process and all its threads), so that a tail can
 * be put beside who had the cores.
 *
 *   node dist/bench/io/kafka-latency.js --format frame|json --rate N[,N…] [--seconds S] [--warm S]
 *        [--loadgen ARG,ARG…] [--riptide ARG,ARG…] [--runs N] [--bare only|both]
 *
 * Each rate in turn, `--runs` times. `--bare only`: node-rdkafka alone in riptide's place
 * (consume-latency.ts), the latency baseline: the Kafka timestamp → the message in JavaScript, no
 * engine; `--bare both`: riptide, then the bare client, at each rate.
 * `--loadgen` / `--riptide` pass extra options through (comma-separated), e.g.
 * `--loadgen=--kafka-config,linger.ms=1`. Needs the broker (`npm run kafka:up`).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { bareConsumer, createTopic, deleteTopics, freePort, loadgenAsync, runRiptide, scrapeLatency, windowLatency } from "./kafka.bench.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const TICK = 100; // USER_HZ: /proc's clock ticks per second on Linux

/** User + system CPU seconds of a process (all its threads), or NaN when it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICK; // utime, stime (fields 14 and 15)
  } catch {
    return NaN;
  }
}

/** Idle share of the machine between two reads of /proc/stat's cpu line. */
function cpuTimes(): { idle: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: line[3]! + line[4]!, total: line.reduce((a, b) => a + b, 0) };
}

const { values } = parseArgs({
  options: {
    format: { type: "string", default: "frame" }, rate: { type: "string" }, seconds: { type: "string", default: "15" },
    warm: { type: "string", default: "5" }, loadgen: { type: "string", default: "" }, riptide: { type: "string", default: "" },
    runs: { type: "string", default: "1" }, bare: { type: "string" },
  },
});
const format = values.format!;
if (format !== "frame" && format !== "json") throw new Error("--format frame|json");
const rates = (values.rate ?? "").split(",").map(Number);
if (!rates.every((r) => r > 0)) throw new Error("--rate N[,N…] (events per second)");
const seconds = Number(values.seconds);
const warm = Number(values.warm);
const split = (s: string): string[] => (s === "" ? [] : s.split(","));
const brokerPid = Number(readFileSync(join(ROOT, ".riptide", "kafka", "kafka.pid"), "utf8").trim());
const stamp = Date.now().toString(36);

if (values.bare !== undefined && values.bare !== "only" && values.bare !== "both") throw new Error("--bare only|both");
const engines = values.bare === undefined ? [false] : values.bare === "both" ? [false, true] : [true];
let run = 0;
for (const rate of rates) for (let r = 0; r < Number(values.runs); r++) for (const bareEngine of engines) {
  const topic = `bench-probe-${format}-${stamp}-${run++}`;
  await createTopic(topic, 4);
  const port = await freePort();
  let enginePid = 0;
  let loadgenPid = 0;
  const bare = bareEngine ? bareConsumer(topic, format, warm * 1000, (seconds - 1) * 1000, (pid) => { enginePid = pid; }) : undefined;
  const engine = bare ?? runRiptide(topic, ["--workers", "2", "--stop-when-idle", "8", "--http", `127.0.0.1:${port}`, ...split(values.riptide!)], (pid) => { enginePid = pid; });
  await new Promise((r) => setTimeout(r, 4000)); // the group assignment
  const generating = loadgenAsync(topic, format, Math.round(rate * (warm + seconds)), rate, split(values.loadgen!), (pid) => { loadgenPid = pid; });
  await new Promise((r) => setTimeout(r, warm * 1000));
  const scrape = (stage?: string): Promise<Map<number, number>> => (bare ? Promise.resolve(new Map()) : scrapeLatency(port, stage));
  const before = await scrape();
  const beforeSource = await scrape("source");
  const cpu0 = [enginePid, loadgenPid, brokerPid].map(cpuSeconds);
  const m0 = cpuTimes();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, (seconds - 1) * 1000)); // scrape before the generator ends
  const after = await scrape();
  const afterSource = await scrape("source");
  const dt = (performance.now() - t0) / 1000;
  const cpu1 = [enginePid, loadgenPid, brokerPid].map(cpuSeconds);
  const m1 = cpuTimes();
  const live = await generating;
  const ended = (await engine) as Record<string, number>;
  const e2e = bare ? { p50: ended["p50"]!, p99: ended["p99"]!, within25: ended["within25"]!, records: ended["records"]! } : windowLatency(before, after);
  const source = bare ? e2e : windowLatency(beforeSource, afterSource);
  const share = cpu1.map((c, i) => ((c - cpu0[i]!) / dt).toFixed(2));
  const idle = (m1.idle - m0.idle) / (m1.total - m0.total);
  console.log(JSON.stringify({
    format, engine: bare ? "node-rdkafka alone" : "riptide", asked: rate, made: live["eventsPerSec"], records: e2e.records,
    p50: +e2e.p50.toFixed(1), p99: +e2e.p99.toFixed(1), within25: +(e2e.within25 * 100).toFixed(2),
    sourceP50: +source.p50.toFixed(1), sourceP99: +source.p99.toFixed(1),
    cores: { consumer: +share[0]!, loadgen: +share[1]!, broker: +share[2]! }, idle: +(idle * 100).toFixed(1),
  }));
}
await deleteTopics(`-${stamp}-`);
process.exit(0);
