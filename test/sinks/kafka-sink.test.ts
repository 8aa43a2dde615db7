/**
 * KafkaSink's outputs on the real broker: staged per topic and enqueued many per call
 * (produceMany, native-bindings/kafka) with their sequence numbers as the delivery reports'
 * opaque — through node-rdkafka's producer or through the packed producer, whose reports are
 * numbers — against the same outputs produced one by one (the path without the addon).
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { KafkaMessage, KafkaProducerClient, PackedProducerClient } from "../../src/io/kafka/client.js";
import { createPackedProducer, rdkafkaClientFactory as factory } from "../../src/io/kafka/rdkafka.js";
import { RetryTopic } from "../../src/io/retry.js";
import { KafkaSink } from "../../src/sinks/kafka-sink.js";
import type { Output } from "../../src/sinks/sink.js";
import { BROKERS, createTopic, ensureBroker, readAll, readCommitted, refusingTopics, uniqueName } from "../support/kafka.js";

const PARTITIONS = 3;

/** n outputs: windows (to the topic) and side outputs (to `<topic>.invalid`), keyed by driver, some keyless. */
function outputs(n: number): Output[] {
  const out: Output[] = [];
  for (let i = 0; i < n; i++) {
    const driverId = i % 11 === 0 ? "" : `drv-${i % 37}-é`;
    out.push(i % 4 === 3
      ? { type: "invalid", driverId, reason: "lat out of range", i }
      : { type: "window", driverId, cell: "u4pru", count: i, i, note: "✓".repeat(i % 5) });
  }
  return out;
}

/** The produceMany calls a producer gets, counted (undefined: none, the one-by-one path). */
function counting(producer: KafkaProducerClient, batched: boolean): { calls: number } {
  const seen = { calls: 0 };
  const many = producer.produceMany?.bind(producer);
  if (!batched || !many) {
    (producer as { produceMany?: unknown }).produceMany = undefined;
    return seen;
  }
  producer.produceMany = (...args) => {
    seen.calls++;
    return many(...args);
  };
  return seen;
}

type Mode = "one" | "many" | "packed";

/** The packed producer, counted like `counting` does. */
function countingPacked(outputs: PackedProducerClient): { calls: number } {
  const seen = { calls: 0 };
  const many = outputs.produceMany.bind(outputs);
  outputs.produceMany = (...args) => {
    seen.calls++;
    return many(...args);
  };
  return seen;
}

/** Writes the outputs through a sink (service() every 100, as the coordinator's loop would), flushes, reads both topics. */
async function roundTrip(mode: Mode, queued: number, n: number): Promise<{ got: KafkaMessage[]; calls: number; acknowledged: number; perTopic: Map<string, number> }> {
  const topic = uniqueName(`sink-${mode}`);
  await createTopic(topic, PARTITIONS);
  await createTopic(`${topic}.invalid`, PARTITIONS);
  const producer = factory.createProducer({ brokers: BROKERS, maxQueuedMessages: queued });
  await producer.connect();
  const packed = mode === "packed" ? createPackedProducer({ brokers: BROKERS, maxQueuedMessages: queued }) : null;
  if (mode === "packed") expect(packed, "native-bindings/kafka is built (scripts/build-native.mjs)").not.toBeNull();
  const seen = packed ? countingPacked(packed) : counting(producer, mode === "many");
  if (mode === "many") expect(producer.produceMany, "native-bindings/kafka is built (scripts/build-native.mjs)").toBeDefined();
  const sink = new KafkaSink({ producer, topic, key: (o) => (o["driverId"] as string) || null, ...(packed && { outputs: packed }) });
  try {
    const all = outputs(n);
    for (let i = 0; i < all.length; i++) {
      sink.write(all[i]!);
      if (i % 100 === 99) sink.service();
    }
    await sink.flush();
    expect(sink.written).toBe(n);
    if (packed) expect(packed.pending).toBe(0);
    const got = await readAll([topic, `${topic}.invalid`], 2000);
    return { got, calls: seen.calls, acknowledged: sink.acknowledged, perTopic: sink.perTopic };
  } finally {
    await packed?.close(5000);
    await producer.disconnect(5000);
  }
}

/** Messages as comparable rows: topic suffix, partition (keyed ones: keyless go to a random one), key, value. */
function rows(got: KafkaMessage[]): string[] {
  return got.map((m) => `${m.topic.endsWith(".invalid") ? "invalid" : "window"}|${m.key === null ? "any" : m.partition}|${m.key?.toString() ?? "<null>"}|${m.value!.toString()}`);
}

describe("Kafka sink on the real broker", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("outputs staged and enqueued many per call arrive as one-by-one produce() delivers them: each once, keyed, in order per partition", async () => {
    const n = 3000;
    const one = await roundTrip("one", 1_000_000, n);
    expect(one.calls).toBe(0);
    expect(one.acknowledged).toBe(n);
    for (const mode of ["many", "packed"] as const) {
      const many = await roundTrip(mode, 1_000_000, n);
      expect(many.calls, `${mode}: produceMany carried the outputs`).toBeGreaterThan(0);
      expect(many.calls, `${mode}: one call per topic per service()`).toBeLessThanOrEqual(2 * (n / 100));
      expect(many.acknowledged).toBe(n);
      expect(many.got).toHaveLength(n);
      expect(rows(many.got).sort()).toEqual(rows(one.got).sort());
      expect([...many.perTopic.values()]).toEqual([...one.perTopic.values()]);
      // Per partition in write order (the i field), and every value the output's JSON.
      const byPartition = new Map<string, number>();
      const all = outputs(n);
      for (const m of many.got) {
        const o = JSON.parse(m.value!.toString()) as Output;
        expect(o).toEqual(all[o["i"] as number]);
        const at = `${m.topic}|${m.partition}`;
        expect(o["i"] as number).toBeGreaterThan(byPartition.get(at) ?? -1);
        byPartition.set(at, o["i"] as number);
      }
    }
  }, 120_000);

  it("a full client queue holds the rest for the next service(); nothing lost, nothing twice", async () => {
    const n = 2000;
    for (const mode of ["many", "packed"] as const) {
      const r = await roundTrip(mode, 64, n);
      expect(r.calls, `${mode}: the 64-message queue stopped calls short`).toBeGreaterThan(n / 64);
      expect(r.acknowledged).toBe(n);
      expect(r.got).toHaveLength(n);
      expect(new Set(r.got.map((m) => JSON.parse(m.value!.toString())["i"])).size).toBe(n);
    }
  }, 120_000);

  it("an output the client refuses on the spot fails the sink at service(), not the caller; the outputs beside it are delivered", async () => {
    const input = uniqueName("sink-refuse-in");
    const topic = uniqueName("sink-refuse");
    await createTopic(topic, 1);
    await createTopic(`${input}.retry`, 1);
    await createTopic(`${input}.dlq`, 1);
    const producer = factory.createProducer({ brokers: BROKERS, extra: { "message.max.bytes": 100_000 } });
    const retryProducer = factory.createProducer({ brokers: BROKERS, lingerMs: 0 });
    const consumer = factory.createConsumer({ brokers: BROKERS, groupId: uniqueName("g-sink-refuse"), autoOffsetReset: "earliest" });
    await Promise.all([producer.connect(), retryProducer.connect(), consumer.connect()]);
    const seen = counting(producer, true);
    const retry = new RetryTopic({ inputTopic: input, policy: { maxRetries: 1, backoffMs: 10 }, consumer, producer: retryProducer });
    const sink = new KafkaSink({ producer, topic, key: () => "k", retry });
    try {
      sink.write({ type: "window", i: 0 });
      sink.write({ type: "window", i: 1, blob: "x".repeat(200_000) }); // over the client's message.max.bytes
      sink.write({ type: "window", i: 2 });
      // Its copy goes to the retry topic through the same client, which refuses it again: the run fails.
      expect(() => sink.service()).toThrow(/refused by the client/);
      expect(seen.calls).toBeGreaterThan(0);
      await producer.flush(10_000);
      const got = await readAll([topic], 2000);
      expect(got.map((m) => JSON.parse(m.value!.toString())["i"])).toEqual([0, 2]);
    } finally {
      await retry.close();
      await Promise.all([consumer.disconnect(), producer.disconnect(2000), retryProducer.disconnect(2000)]);
    }
  }, 60_000);

  it("packed producer: an output the broker refuses comes back as a report with its error code, goes through the retry topic and, out of retries, to the DLQ", async () => {
    const input = uniqueName("sink-packed-in");
    const small = uniqueName("sink-packed-small");
    await refusingTopics(input, small);
    const producer = factory.createProducer({ brokers: BROKERS });
    const retryProducer = factory.createProducer({ brokers: BROKERS, lingerMs: 0, extra: { "batch.num.messages": 1 } });
    const consumer = factory.createConsumer({ brokers: BROKERS, groupId: uniqueName("g-sink-packed"), autoOffsetReset: "earliest" });
    await Promise.all([producer.connect(), retryProducer.connect(), consumer.connect()]);
    const packed = createPackedProducer({ brokers: BROKERS });
    expect(packed, "native-bindings/kafka is built (scripts/build-native.mjs)").not.toBeNull();
    const retry = new RetryTopic({ inputTopic: input, policy: { maxRetries: 1, backoffMs: 20 }, consumer, producer: retryProducer });
    const sink = new KafkaSink({ producer, topic: small, key: () => "k", retry, outputs: packed! });
    try {
      retry.start();
      sink.write({ type: "window", i: 0 });
      sink.write({ type: "window", i: 1, blob: "x".repeat(5000) }); // over the topic's max.message.bytes
      sink.write({ type: "window", i: 2 });
      await sink.flush(); // acknowledged once delivered or, the refused ones, once copied to the retry topic
      expect(sink.acknowledged).toBe(3);
      expect(await retry.settle(30_000)).toBe(true);
      const delivered = await readAll([small], 2000);
      expect(delivered.map((m) => JSON.parse(m.value!.toString())["i"]).sort()).toEqual([0, 2]);
      const dlq = await readAll([`${input}.dlq`], 2000);
      expect(dlq.map((m) => JSON.parse(m.value!.toString())["i"])).toEqual([1]);
      const h = Object.fromEntries((dlq[0]!.headers ?? []).map((x) => [x.key, x.value.toString()]));
      expect(h["riptide.error"]).toMatch(/too large/i);
    } finally {
      await retry.close();
      await packed!.close(5000);
      await Promise.all([consumer.disconnect(), producer.disconnect(2000), retryProducer.disconnect(2000)]);
    }
  }, 60_000);

  it("transactional (exactly-once): no report per delivery; flush() counts the outputs acknowledged once the producer's queue is empty; a refused one keeps its transaction from committing", async () => {
    const topic = uniqueName("sink-txn");
    const small = uniqueName("sink-txn-small");
    await createTopic(topic, PARTITIONS);
    await refusingTopics(uniqueName("sink-txn-in"), small);
    const producer = factory.createProducer({ brokers: BROKERS, transactionalId: uniqueName("sink-txn-id"), deliveryReports: "errors" });
    await producer.connect();
    try {
      await producer.initTransactions!();
      // 3000 outputs in one transaction: all acknowledged by flush(), all committed.
      await producer.beginTransaction!();
      const sink = new KafkaSink({ producer, topic, key: (o) => `k${(o["i"] as number) % 17}`, transactional: true });
      const n = 3000;
      for (let i = 0; i < n; i++) {
        sink.write({ type: "window", i });
        if (i % 100 === 99) sink.service();
        if (i === 1500) expect(sink.acknowledged, "nothing is acknowledged before flush()").toBe(0);
      }
      await sink.flush();
      expect(sink.acknowledged).toBe(n);
      expect(sink.pending).toBe(0);
      await producer.commitTransaction!();
      const got = await readCommitted(topic, PARTITIONS);
      expect(got.map((o) => o["i"] as number).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));

      // A record the broker refuses (over the topic's max.message.bytes): the failed delivery is
      // reported, so flush() or the commit fails; read_committed sees none of the transaction.
      await producer.beginTransaction!();
      const refused = new KafkaSink({ producer, topic: small, key: () => "k", transactional: true });
      refused.write({ type: "window", i: 0 });
      refused.write({ type: "window", i: 1, blob: "x".repeat(5000) });
      refused.write({ type: "window", i: 2 });
      let failed = false;
      try {
        await refused.flush();
        await producer.commitTransaction!();
      } catch {
        failed = true;
        await producer.abortTransaction!().catch(() => undefined);
      }
      expect(failed, "the transaction with a refused record did not commit").toBe(true);
      expect(refused.acknowledged).toBeLessThan(3);
      expect(await readCommitted(small, 1)).toEqual([]);
    } finally {
      await producer.disconnect(5000);
    }
  }, 90_000);
});
