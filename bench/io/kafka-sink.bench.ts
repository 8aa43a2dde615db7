/**
 * The Kafka sink's cost on the main thread per output, through the real broker: window results
 * and side outputs (JSON, keyed by driver) written to KafkaSink as the coordinator's loop does
 * (a slice of writes, service(), a turn of the event loop for delivery reports), until every one
 * is acknowledged. Three ways in the same run: one node-rdkafka produce() per output (the path
 * without native-bindings/kafka, the baseline); outputs staged per topic, enqueued by one
 * produceMany() per topic and service() into node-rdkafka's producer (reports as objects); the same
 * into the packed producer (native-bindings/kafka, reports as numbers: what `riptide run` uses for
 * at-least-once outputs).
 *
 * eventsPerSec = outputs / CPU seconds of the main thread (utime + stime of its /proc task, so
 * librdkafka's own threads are not counted): what the sink leaves of the engine's coordinator.
 * The note gives the wall-clock rate to the last acknowledgement as well. Linux only.
 *
 * Needs the broker (`npm run kafka:up`; started here when it does not answer).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createPackedProducer, rdkafkaClientFactory } from "../../src/io/kafka/rdkafka.js";
import { KafkaSink } from "../../src/sinks/kafka-sink.js";
import type { Output } from "../../src/sinks/sink.js";
import { formatTable, machine, machineLine, type BenchRow } from "../harness.js";

const GROUP = "Kafka sink (main thread per output)";
export const groups: readonly string[] = [GROUP];
export const needsBroker = true;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const BROKERS = "127.0.0.1:9092";
const SLICE = 500;

/** CPU seconds of this process's main thread so far. */
function mainThreadCpu(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // clock ticks (USER_HZ 100)
}

function output(i: number): Output {
  const driverId = `drv-${String(i % 10_000).padStart(6, "0")}`;
  return i % 20 === 19
    ? { type: "invalid", driverId, reason: "lat out of range", lat: 91.5, lon: 13.4, ts: 1_700_000_000_000 + i }
    : { type: "window", driverId, windowStart: 1_700_000_000_000, windowEnd: 1_700_000_060_000, fixes: 12, distanceKm: 1.234, avgSpeedKmh: 41.7, geohash: "u33dc0" };
}

type Mode = "one" | "many" | "packed";

async function measure(mode: Mode, n: number, stamp: string): Promise<{ cpu: number; wall: number }> {
  const topic = `bench-sink-${mode}-${stamp}`;
  const admin = rdkafkaClientFactory.createAdmin({ brokers: BROKERS });
  await admin.connect();
  await admin.createTopic(topic, 4, 1);
  await admin.createTopic(`${topic}.invalid`, 4, 1);
  const producer = rdkafkaClientFactory.createProducer({ brokers: BROKERS });
  await producer.connect();
  if (mode === "one") (producer as { produceMany?: unknown }).produceMany = undefined;
  else if (!producer.produceMany) throw new Error("native-bindings/kafka is not built: no produceMany");
  const outputs = mode === "packed" ? createPackedProducer({ brokers: BROKERS }) : null;
  if (mode === "packed" && !outputs) throw new Error("native-bindings/kafka is not built: no packed producer");
  const sink = new KafkaSink({ producer, topic, key: (o) => o["driverId"] as string, ...(outputs && { outputs }) });
  const cpu0 = mainThreadCpu();
  const t0 = performance.now();
  for (let i = 0; i < n; ) {
    for (const end = Math.min(n, i + SLICE); i < end; i++) sink.write(output(i));
    sink.service();
    await new Promise((r) => setImmediate(r));
  }
  await sink.flush();
  const wall = (performance.now() - t0) / 1000;
  const cpu = mainThreadCpu() - cpu0;
  if (sink.acknowledged !== n) throw new Error(`kafka sink bench: ${sink.acknowledged} of ${n} acknowledged`);
  await outputs?.close(10_000);
  await producer.disconnect(10_000);
  for (const t of [topic, `${topic}.invalid`]) await admin.deleteTopic(t);
  await admin.disconnect();
  return { cpu, wall };
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const up = spawnSync(process.execPath, [join(ROOT, "scripts", "kafka.mjs"), "up"], { encoding: "utf8" });
  if (up.status !== 0) throw new Error(`no Kafka broker: ${up.stderr}`);
  const n = opts.quick ? 50_000 : 200_000;
  const stamp = Date.now().toString(36);
  // Interleaved, twice each; the better of each pair (the machine's noise is one-sided).
  const one: Array<{ cpu: number; wall: number }> = [];
  const many: Array<{ cpu: number; wall: number }> = [];
  const packed: Array<{ cpu: number; wall: number }> = [];
  for (let r = 0; r < 2; r++) {
    one.push(await measure("one", n, `${stamp}-${r}`));
    many.push(await measure("many", n, `${stamp}-${r}`));
    packed.push(await measure("packed", n, `${stamp}-${r}`));
  }
  const best = (xs: Array<{ cpu: number; wall: number }>) => xs.reduce((a, b) => (b.cpu < a.cpu ? b : a));
  const row = (name: string, baseline: boolean, xs: Array<{ cpu: number; wall: number }>): BenchRow => {
    const b = best(xs);
    return {
      group: GROUP, name, baseline, eventsPerSec: n / b.cpu,
      note: `${n} outputs (1 in 20 a side output), 4 partitions; main thread ${(b.cpu * 1e6 / n).toFixed(2)} µs per output ` +
        `(runs: ${xs.map((x) => (x.cpu * 1e6 / n).toFixed(2)).join(", ")}); ${Math.round(n / b.wall)} outputs/s to the last acknowledgement`,
    };
  };
  return [
    row("one produce() per output", true, one),
    row("staged per topic, one produceMany() per topic and service()", false, many),
    row("staged, through the packed producer (reports as numbers)", false, packed),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const rows = await run({ quick: process.argv.includes("--quick") });
  console.log(machineLine(machine()));
  console.log(formatTable(rows));
  process.exit(0);
}
