/**
 * The Kafka baseline of the pipeline benches: node-rdkafka and nothing else, subscribed to one or
 * more topics from the earliest offset, counting messages until it has every message the topics
 * held when it started (their high watermarks), as bench/io/kafka.bench.ts's consume-and-count does
 * for one topic. The rate is messages over first message received → last message counted.
 */
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import type { KafkaConsumer, Message, Metadata } from "node-rdkafka";

type Rdkafka = typeof import("node-rdkafka");

export interface CountResult { messages: number; seconds: number; messagesPerSec: number }

const call = <T>(f: (cb: (e: unknown, v: T) => void) => void): Promise<T> =>
  new Promise<T>((res, rej) => f((e, v) => (e ? rej(e) : res(v))));

/** Messages held by the topics now: the sum of their partitions' high watermarks (fresh topics: low = 0). */
async function highWatermarks(c: KafkaConsumer, topics: readonly string[]): Promise<number> {
  let total = 0;
  for (const topic of topics) {
    const md = await call<Metadata>((cb) => c.getMetadata({ topic, timeout: 30_000 }, cb));
    const parts = md.topics.find((t) => t.name === topic)?.partitions ?? [];
    if (parts.length === 0) throw new Error(`consume-and-count: topic ${topic} has no partitions`);
    for (const p of parts) {
      const w = await call<{ lowOffset: number; highOffset: number }>((cb) => c.queryWatermarkOffsets(topic, p.id, 30_000, cb));
      total += w.highOffset - w.lowOffset;
    }
  }
  return total;
}

export async function consumeAndCount(brokers: string, topics: readonly string[], timeoutMs = 300_000): Promise<CountResult> {
  const Kafka = createRequire(import.meta.url)("node-rdkafka") as Rdkafka;
  const c = new Kafka.KafkaConsumer({
    "metadata.broker.list": brokers, "group.id": `count-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    "enable.auto.commit": false, "fetch.message.max.bytes": 8 << 20, "fetch.max.bytes": 50 << 20,
  }, { "auto.offset.reset": "earliest" });
  await call<unknown>((cb) => c.connect({ timeout: 30_000 }, cb));
  try {
    const expected = await highWatermarks(c, topics);
    c.subscribe([...topics]);
    c.setDefaultConsumeTimeout(10);
    let n = 0;
    let t0 = 0;
    let t1 = 0;
    const deadline = Date.now() + timeoutMs;
    while (n < expected) {
      if (Date.now() > deadline) throw new Error(`consume-and-count: ${n} of ${expected} messages of ${topics.join(",")} in ${timeoutMs / 1000} s`);
      const msgs = await call<Message[]>((cb) => c.consume(5000, cb));
      if (msgs.length === 0) continue;
      if (t0 === 0) t0 = performance.now();
      n += msgs.length;
      t1 = performance.now();
    }
    const seconds = (t1 - t0) / 1000;
    return { messages: n, seconds, messagesPerSec: seconds > 0 ? n / seconds : 0 };
  } finally {
    await new Promise<void>((res) => c.disconnect(() => res()));
  }
}
