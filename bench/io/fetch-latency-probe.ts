/**
 * Probe: broker append → consume() return, for the consumer as riptide configures it.
 * A LogAppendTime topic; a producer at a fixed rate in a child process; our consumer loop (take /
 * wait as KafkaSource). Usage: node dist/bench/io/fetch-latency-probe.js RATE SECONDS PARTITIONS '{consumer extra}'
 */
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { rdkafkaClientFactory } from "../../src/io/kafka/rdkafka.js";
import { shebangFlags } from "../../src/cli/node-flags.js";

const rate = Number(process.argv[2] ?? 40000);
const seconds = Number(process.argv[3] ?? 15);
const parts = Number(process.argv[4] ?? 4);
const extraC = JSON.parse(process.argv[5] ?? "{}") as Record<string, string | number | boolean>;
const brokers = "127.0.0.1:9092";

async function produce(topic: string): Promise<void> {
  const producer = rdkafkaClientFactory.createProducer({ brokers, deliveryReports: "errors" } as never);
  await producer.connect();
  const value = Buffer.from(JSON.stringify({ driverId: "driver-00001", lat: 37.7, lon: -122.4, ts: 0, speed: 10 }));
  const t0 = Date.now();
  let sent = 0;
  while (Date.now() - t0 < seconds * 1000) {
    const due = Math.floor(((Date.now() - t0) / 1000) * rate);
    while (sent < due) { producer.produce(topic, sent % parts, value, null); sent++; }
    producer.poll();
    await new Promise((r) => setTimeout(r, 1));
  }
  await producer.flush(10000);
  await producer.disconnect();
}

async function main(): Promise<void> {
  if (process.env["PROBE_TOPIC"]) return produce(process.env["PROBE_TOPIC"]);
  const topic = `probe-${Date.now()}-${Math.random().toString(36).slice(2, 7)}`;
  const admin = rdkafkaClientFactory.createAdmin({ brokers });
  await admin.connect();
  await admin.createTopic(topic, parts, 1, { "message.timestamp.type": "LogAppendTime" });
  const consumer = rdkafkaClientFactory.createConsumer({ brokers, groupId: `g-${topic}`, extra: extraC });
  await consumer.connect();
  let assigned = false;
  consumer.subscribe([topic], { onAssign: () => { assigned = true; } });
  const lat: number[] = [];
  let n = 0;
  let stop = false;
  let maxGap = 0;
  let lastTurn = performance.now();
  let waiting = false;
  const loop = (async () => {
    while (!stop) {
      const msgs: { timestamp: number }[] = await (waiting ? consumer.consume(1, 50) : consumer.consume(5000, 0));
      const now = Date.now();
      const t = performance.now();
      if (assigned) maxGap = Math.max(maxGap, t - lastTurn);
      lastTurn = t;
      for (const m of msgs) if (n++ % 10 === 0) lat.push(now - m.timestamp);
      waiting = msgs.length === 0;
    }
  })();
  while (!assigned) await new Promise((r) => setTimeout(r, 20));
  const child = spawn(process.execPath, [...shebangFlags(), process.argv[1]!], { env: { ...process.env, PROBE_TOPIC: topic }, stdio: "inherit" });
  await new Promise((r) => child.on("exit", r));
  await new Promise((r) => setTimeout(r, 1000));
  stop = true;
  await loop;
  lat.sort((a, b) => a - b);
  const q = (x: number): number => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))]!;
  console.log(JSON.stringify({ rate, received: n, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: lat[lat.length - 1], maxLoopGapMs: Math.round(maxGap), extraC }));
  await consumer.disconnect();
  await admin.deleteTopic(topic);
  await admin.disconnect();
}
await main();
process.exit(0);
