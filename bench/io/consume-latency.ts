/**
 * The latency baseline of kafka-latency.ts (`--bare`): node-rdkafka and nothing else, consuming
 * one topic with the fetch settings riptide's consumer uses, and per event the time from its
 * message's Kafka timestamp to the message in JavaScript's hands (a frame's events share their
 * message's). Records after the first `warm` ms of traffic, for `window` ms; then prints one JSON
 * line (p50, p99, share within 25 ms, events) and exits once the topic has been idle 3 s.
 * (fetch-latency-probe.ts measures broker append → consume() return through riptide's client
 * wrapper, fed by a producer of its own into a LogAppendTime topic; this one is fed by `riptide
 * loadgen` and timed from the Kafka timestamp its produce() sets, as riptide's latency is.)
 *
 *   node dist/bench/io/consume-latency.js BROKERS TOPIC WARM_MS WINDOW_MS frame|json
 */
import { createRequire } from "node:module";
import type { Message } from "node-rdkafka";
import { LatencyHistogram } from "../../src/metrics/histogram.js";

const [brokers, topic, warmArg, windowArg, format] = process.argv.slice(2);
const warmMs = Number(warmArg);
const windowMs = Number(windowArg);
const Kafka = createRequire(import.meta.url)("node-rdkafka") as typeof import("node-rdkafka");
const c = new Kafka.KafkaConsumer({
  "metadata.broker.list": brokers!, "group.id": `latency-${process.pid}-${Date.now()}`, "enable.auto.commit": false,
  // As src/io/kafka/rdkafka.ts configures riptide's consumer.
  "fetch.min.bytes": 1, "fetch.wait.max.ms": 100, "fetch.queue.backoff.ms": 10,
  "fetch.message.max.bytes": 8 << 20, "fetch.max.bytes": 50 << 20,
}, { "auto.offset.reset": "earliest" });
await new Promise<void>((res, rej) => c.connect({ timeout: 30_000 }, (e) => (e ? rej(e) : res())));
c.subscribe([topic!]);
c.setDefaultConsumeTimeout(1);
const h = new LatencyHistogram();
let first = 0;
let last = Date.now();
while (Date.now() - last < 3000 || first === 0) {
  const msgs = await new Promise<Message[]>((res, rej) => c.consume(5000, (e, m) => (e ? rej(e) : res(m))));
  if (msgs.length === 0) continue;
  const now = Date.now();
  last = now;
  if (first === 0) first = now;
  if (now < first + warmMs || now > first + warmMs + windowMs) continue;
  for (const m of msgs) h.record(now - (m.timestamp ?? now), format === "frame" && m.value ? m.value.readUInt32LE(8) : 1);
}
await new Promise<void>((res) => c.disconnect(() => res()));
console.log(JSON.stringify({ p50: h.quantile(0.5), p99: h.quantile(0.99), within25: h.shareAtMost(25), records: h.total }));
process.exit(0);
