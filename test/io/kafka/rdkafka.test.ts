// Integration tests of the node-rdkafka client against a REAL broker (127.0.0.1:9092 unless
// RIPTIDE_KAFKA_PORT says otherwise). `node scripts/kafka.mjs up` starts one if none answers.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  DeliveryReport,
  KafkaAdminClient,
  KafkaConsumerClient,
  KafkaError,
  KafkaMessage,
  KafkaProducerClient,
  TopicPartition,
} from "../../../src/io/kafka/client.js";
import {
  KafkaClientLoadError, PACKED_ERROR, PACKED_KEY_LENGTH, PACKED_KEY_START, PACKED_OFFSET, PACKED_PARTITION, PACKED_STRIDE, PACKED_TIMESTAMP,
  PACKED_VALUE_LENGTH, PACKED_VALUE_START,
} from "../../../src/io/kafka/client.js";
import { rdkafkaClientFactory as factory, loadTakeAddon } from "../../../src/io/kafka/rdkafka.js";
import { RecordBatch } from "../../../src/io/kafka/record-batch.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const KAFKA_SCRIPT = path.join(ROOT, "scripts", "kafka.mjs");
const BROKERS = `127.0.0.1:${process.env.RIPTIDE_KAFKA_PORT || "9092"}`;

const RUN = `${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
const TOPIC = `riptide-test-rdkafka-${RUN}`;
const GROUP = `riptide-test-group-${RUN}`;
const PARTITIONS = 3;
const N = 3000;
/**
 * Bound on consume rounds in a wait loop (a round waits at most ~200 ms for data), so that a
 * missing record fails an assertion instead of hanging until the test timeout.
 */
const MAX_ROUNDS = 300;

const clients: { disconnect(): Promise<void> }[] = [];
function track<T extends { disconnect(): Promise<void> }>(c: T): T {
  clients.push(c);
  return c;
}

function newConsumer(groupId: string): KafkaConsumerClient {
  return track(factory.createConsumer({ brokers: BROKERS, groupId, clientId: "riptide-test", consumeTimeoutMs: 200 }));
}

/** Consumes until `done(all)` holds or MAX_ROUNDS rounds passed; returns everything read. */
async function consumeUntil(
  c: KafkaConsumerClient,
  done: (all: KafkaMessage[]) => boolean,
  maxRounds = MAX_ROUNDS,
): Promise<KafkaMessage[]> {
  const all: KafkaMessage[] = [];
  for (let round = 0; round < maxRounds && !done(all); round++) {
    all.push(...(await c.consume(500)));
  }
  return all;
}

const key = (p: TopicPartition) => `${p.topic}/${p.partition}`;

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), the Java default partitioner's hash. */
function murmur2(b: Buffer): number {
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ b.length) | 0;
  const n4 = b.length >> 2;
  for (let i = 0; i < n4; i++) {
    const o = i * 4;
    let k = b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const t = b.length & ~3;
  const rest = b.length & 3;
  if (rest >= 3) h ^= b[t + 2]! << 16;
  if (rest >= 2) h ^= b[t + 1]! << 8;
  if (rest >= 1) {
    h ^= b[t]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h;
}
/** The partition a Java producer picks for `key` (toPositive(murmur2(key)) % n). */
const javaPartition = (k: string, n: number) => (murmur2(Buffer.from(k)) & 0x7fffffff) % n;

describe("node-rdkafka client against a real broker", () => {
  let admin: KafkaAdminClient;
  let producer: KafkaProducerClient;
  const reports = new Map<number, { err: KafkaError | null; report: DeliveryReport }>();
  /** End offset (next offset to read) of each partition after the first 3000 messages. */
  const endAfterFirst = new Map<number, number>();

  beforeAll(async () => {
    const status = spawnSync(process.execPath, [KAFKA_SCRIPT, "status"], { encoding: "utf8" });
    if (status.status !== 0) {
      const up = spawnSync(process.execPath, [KAFKA_SCRIPT, "up"], { encoding: "utf8", timeout: 170_000 });
      if (up.status !== 0) throw new Error(`node scripts/kafka.mjs up failed:\n${up.stdout}\n${up.stderr}`);
    }
    admin = track(factory.createAdmin({ brokers: BROKERS }));
    await admin.connect();
    producer = track(
      factory.createProducer({
        brokers: BROKERS,
        onDelivery: (err, report) => {
          const i = report.opaque as number;
          expect(reports.has(i), `two delivery reports for record ${i}`).toBe(false);
          reports.set(i, { err, report });
        },
      }),
    );
    await producer.connect();
  });

  afterAll(async () => {
    for (const c of clients.reverse()) await c.disconnect().catch(() => undefined);
    if (admin) {
      const cleanup = track(factory.createAdmin({ brokers: BROKERS }));
      await cleanup.connect();
      await cleanup.deleteTopic(TOPIC).catch(() => undefined);
      await cleanup.disconnect();
    }
  });

  it("names its implementation and loads node-rdkafka", () => {
    expect(factory.name).toMatch(/^node-rdkafka \S+ \(librdkafka \d+\.\d+\.\d+\)$/);
    expect(new KafkaClientLoadError("x").code).toBe("ERR_KAFKA_CLIENT");
  });

  it("admin creates a 3-partition topic, tolerates creating it again, and lists it", async () => {
    expect(await admin.createTopic(TOPIC, PARTITIONS)).toBe(true);
    expect(await admin.createTopic(TOPIC, PARTITIONS)).toBe(false);
    const md = await admin.metadata(TOPIC);
    expect(md.brokers.length).toBeGreaterThanOrEqual(1);
    expect(md.topics.map((t) => t.name)).toEqual([TOPIC]);
    expect(md.topics[0]!.partitions).toBe(PARTITIONS);
    expect(md.topics[0]!.partitionDetails.map((p) => p.id)).toEqual([0, 1, 2]);
    expect(await admin.listTopics()).toContain(TOPIC);
    expect(await admin.listTopics()).not.toContain("__consumer_offsets");
    expect(await admin.deleteTopic(`riptide-test-never-created-${RUN}`)).toBe(false);
  });

  it("produces 3000 keyed records, every delivery report succeeds", async () => {
    for (let i = 0; i < N; i++) {
      const value = Buffer.from(`v${i}`);
      const k = `k${i % 97}`;
      while (!producer.produce(TOPIC, null, value, k, i % 10 === 0 ? [{ key: "i", value: Buffer.from(String(i)) }] : undefined, i)) {
        await producer.flush(10_000); // queue full: back off until it drains
      }
    }
    await producer.flush(30_000);
    expect(producer.inFlight).toBe(0);
    expect(reports.size).toBe(N);
    const partitionOfKey = new Map<string, number>();
    const perPartition = new Map<number, number[]>();
    for (let i = 0; i < N; i++) {
      const r = reports.get(i)!;
      expect(r.err).toBeNull();
      expect(r.report.topic).toBe(TOPIC);
      expect(r.report.offset).toBeGreaterThanOrEqual(0);
      // one key, one partition: the one a Java producer would pick
      const k = `k${i % 97}`;
      const p = partitionOfKey.get(k) ?? r.report.partition;
      expect(r.report.partition).toBe(p);
      expect(r.report.partition).toBe(javaPartition(k, PARTITIONS));
      partitionOfKey.set(k, p);
      (perPartition.get(p) ?? perPartition.set(p, []).get(p)!).push(r.report.offset);
    }
    expect([...perPartition.keys()].sort()).toEqual([0, 1, 2]); // 97 keys spread over all 3
    for (const [p, offsets] of perPartition) {
      offsets.sort((a, b) => a - b);
      expect(offsets).toEqual(offsets.map((_, j) => j)); // 0..n-1, no gap, no duplicate
      endAfterFirst.set(p, offsets.length);
    }
  });

  it("deliveryReports 'errors' reports the failed deliveries only, and flush still waits for all", async () => {
    const topic = `${TOPIC}-errors-only`;
    const missing = `riptide-test-never-created-${RUN}-errors-only`;
    await admin.createTopic(topic, 1);
    const failed: Array<{ err: KafkaError | null; opaque: unknown }> = [];
    const p = track(factory.createProducer({
      brokers: BROKERS, deliveryReports: "errors",
      extra: { "allow.auto.create.topics": false, "message.timeout.ms": 3000 },
      onDelivery: (err, report) => failed.push({ err, opaque: report.opaque }),
    }));
    await p.connect();
    for (let i = 0; i < 50; i++) expect(p.produce(topic, 0, Buffer.from(`ok${i}`), null, undefined, i)).toBe(true);
    for (let i = 0; i < 3; i++) expect(p.produce(missing, null, Buffer.from(`lost${i}`), null, undefined, 1000 + i)).toBe(true);
    await p.flush(30_000);
    for (let i = 0; i < 50 && failed.length < 3; i++) {
      p.poll();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(p.inFlight).toBe(0);
    expect(failed.map((f) => f.opaque).sort()).toEqual([1000, 1001, 1002]);
    for (const f of failed) expect(f.err).not.toBeNull();
    const c = newConsumer(`${GROUP}-errors-only`);
    await c.connect();
    c.subscribe([topic]);
    const got = await consumeUntil(c, (all) => all.length >= 50);
    expect(got.map((m) => m.value!.toString())).toEqual(Array.from({ length: 50 }, (_, i) => `ok${i}`));
    await admin.deleteTopic(topic).catch(() => undefined);
  });

  it("a group consumer reads every record exactly once, commits, and the commit is stored", async () => {
    const c = newConsumer(GROUP);
    await c.connect();
    const assigned: TopicPartition[][] = [];
    c.subscribe([TOPIC], { onAssign: (ps) => void assigned.push(ps) });
    const msgs = await consumeUntil(c, (all) => all.length >= N);
    // A few more rounds: nothing else may arrive.
    msgs.push(...(await consumeUntil(c, () => false, 5)));
    expect(msgs.length).toBe(N);
    expect(assigned.flat().map(key).sort()).toEqual([0, 1, 2].map((partition) => key({ topic: TOPIC, partition })));
    expect(c.assignment().length).toBe(PARTITIONS);

    const lastOffset = new Map<number, number>();
    const seen = new Set<number>();
    for (const m of msgs) {
      expect(m.topic).toBe(TOPIC);
      const i = Number(m.value!.toString().slice(1));
      expect(seen.has(i), `record ${i} read twice`).toBe(false);
      seen.add(i);
      const r = reports.get(i)!.report;
      expect(m.partition).toBe(r.partition);
      expect(m.offset).toBe(r.offset);
      expect(m.key!.toString()).toBe(`k${i % 97}`);
      expect(m.timestamp).toBeGreaterThan(0);
      if (i % 10 === 0) expect(m.headers).toEqual([{ key: "i", value: Buffer.from(String(i)) }]);
      else expect(m.headers ?? []).toEqual([]);
      // offsets increase within a partition, in arrival order
      expect(m.offset).toBeGreaterThan(lastOffset.get(m.partition) ?? -1);
      lastOffset.set(m.partition, m.offset);
    }
    expect(seen.size).toBe(N);

    const commit = [...lastOffset].map(([partition, o]) => ({ topic: TOPIC, partition, offset: o + 1 }));
    for (const o of commit) expect(o.offset).toBe(endAfterFirst.get(o.partition));
    // commitAsync returns at once; the broker has the offsets shortly after.
    const byPartition = (a: { partition: number }, b: { partition: number }) => a.partition - b.partition;
    const early = commit.map((o) => ({ ...o, offset: o.offset - 1 })).sort(byPartition);
    c.commitAsync!(early);
    let stored: { partition: number; offset: number | null }[] = [];
    for (let round = 0; round < MAX_ROUNDS; round++) {
      stored = (await c.committed()).map(({ partition, offset }) => ({ partition, offset })).sort(byPartition);
      if (stored.every((o, j) => o.offset === early[j]!.offset)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(stored).toEqual(early.map(({ partition, offset }) => ({ partition, offset })));
    await c.commit(commit);
    const committed = await c.committed();
    expect(committed.sort((a, b) => a.partition - b.partition)).toEqual(commit.sort((a, b) => a.partition - b.partition));
    await c.disconnect();
  });

  it("takeNow() alone joins the group and reads every record once, packed, with what consume() gives", async () => {
    // Values and keys of every kind: null, empty, short, 200 kB; on 2 partitions.
    const topic = `${TOPIC}-packed`;
    await admin.createTopic(topic, 2, 1);
    const big = randomBytes(200_000);
    const sent: Array<{ key: Buffer | null; value: Buffer | null }> = [];
    for (let i = 0; i < 400; i++) {
      const value = i % 50 === 7 ? null : i % 50 === 8 ? Buffer.alloc(0) : i % 100 === 9 ? big : Buffer.from(`{"i":${i}}`);
      const k = i % 3 === 0 ? null : i % 3 === 1 ? Buffer.alloc(0) : Buffer.from(`key-${i}`);
      sent.push({ key: k, value });
      while (!producer.produce(topic, i % 2, value, k, undefined, -1 - i)) await producer.flush(10_000);
    }
    await producer.flush(30_000);

    const fields = (m: KafkaMessage) => [m.partition, m.offset, m.timestamp, m.key?.toString("hex") ?? null, m.value?.toString("hex") ?? null];
    const reference = newConsumer(`${GROUP}-packed-ref`);
    await reference.connect();
    reference.subscribe([topic]);
    const want = (await consumeUntil(reference, (all) => all.length >= sent.length)).map(fields);
    expect(want.length).toBe(sent.length);

    const c = newConsumer(`${GROUP}-packed`);
    await c.connect();
    const assigned: number[] = [];
    c.subscribe([topic], { onAssign: (ps) => void assigned.push(...ps.map((p) => p.partition)) });
    expect(loadTakeAddon(), "native-bindings/kafka is built (scripts/build-native.mjs)").not.toBeNull();
    const got: unknown[][] = [];
    for (let round = 0; round < 2000 && got.length < sent.length; round++) {
      const t = c.takeNow!(64);
      expect(t, "a take while connected").not.toBeNull();
      for (let i = 0; i < t!.count; i++) {
        const r = 1 + i * PACKED_STRIDE;
        const part = (at: number, len: number) => (len < 0 ? null : t!.data.subarray(at, at + len).toString("hex"));
        expect(t!.meta[r + PACKED_ERROR]).toBe(0);
        got.push([t!.meta[r + PACKED_PARTITION], t!.meta[r + PACKED_OFFSET], t!.meta[r + PACKED_TIMESTAMP],
          part(t!.meta[r + PACKED_KEY_START]!, t!.meta[r + PACKED_KEY_LENGTH]!), part(t!.meta[r + PACKED_VALUE_START]!, t!.meta[r + PACKED_VALUE_LENGTH]!)]);
      }
      if (t!.count === 0) await new Promise((r) => setTimeout(r, 10));
    }
    // The group's callbacks ran within the takes: assigned, and nothing else read.
    expect(assigned.sort()).toEqual([0, 1]);
    const order = (a: unknown[], b: unknown[]) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number);
    expect(got.sort(order)).toEqual(want.sort(order));
    expect(c.takeNow!(64)!.count).toBe(0);
    await c.disconnect();
    expect(c.takeNow!(64), "no take once disconnected").toBeNull();
  }, 60_000);

  it("produceMany() enqueues a packed batch in order, keyed as produce() is, and stops at a full queue to go on from there", async () => {
    const topic = `${TOPIC}-many`;
    await admin.createTopic(topic, PARTITIONS, 1);
    let delivered = 0;
    let failed = 0;
    // Room for 64 records in the client's queue: a batch of 500 cannot go in at once.
    const small = track(factory.createProducer({ brokers: BROKERS, maxQueuedMessages: 64, onDelivery: (err) => (err ? failed++ : delivered++) }));
    expect(small.produceMany, "native-bindings/kafka is built (scripts/build-native.mjs)").toBeDefined();
    await expect(async () => small.produceMany!(topic, null, Buffer.alloc(0), new Float64Array(0), 0, 0)).rejects.toThrow(/not connected/);
    await small.connect();
    const batch = new RecordBatch(8, 16); // both grow
    const sent: Array<{ key: string | null; value: string }> = [];
    for (let i = 0; i < 500; i++) {
      const value = `{"i":${i},"s":"é✓ ${"x".repeat(i % 7)}"}`; // multi-byte UTF-8
      const k = i % 5 === 0 ? null : `k${i % 97}`;
      sent.push({ key: k, value });
      batch.add(value, k);
    }
    const calls: number[] = [];
    for (let done = 0; done < batch.count;) {
      const n = batch.produce(small, topic, null, done);
      calls.push(n);
      done += n;
      if (done < batch.count) await small.flush(10_000);
    }
    expect(calls.length, "the full queue stopped a call").toBeGreaterThan(1);
    expect(calls[0]).toBeLessThan(500);
    await small.flush(30_000);
    expect([delivered, failed]).toEqual([500, 0]);
    expect(() => batch.produce(small, topic, null, 501)).toThrow(RangeError);

    const c = newConsumer(`${GROUP}-many`);
    await c.connect();
    c.subscribe([topic]);
    const got = await consumeUntil(c, (all) => all.length >= sent.length);
    expect(got.length).toBe(sent.length);
    const byValue = new Map(sent.map((s, i) => [s.value, { ...s, i }]));
    const lastInPartition = new Map<number, number>();
    for (const m of got) {
      const s = byValue.get(m.value!.toString("utf8"));
      expect(s, `an unknown value ${m.value}`).toBeDefined();
      expect(m.key === null ? null : m.key.toString()).toBe(s!.key);
      if (s!.key !== null) expect(m.partition).toBe(javaPartition(s!.key, PARTITIONS));
      // In the batch's order within each partition.
      expect(s!.i).toBeGreaterThan(lastInPartition.get(m.partition) ?? -1);
      lastInPartition.set(m.partition, s!.i);
      byValue.delete(m.value!.toString("utf8"));
    }
    expect(byValue.size).toBe(0);
  }, 60_000);

  it("a member that only takes stays in its group past max.poll.interval.ms (a take is a poll)", async () => {
    const topic = `${TOPIC}-poll`;
    await admin.createTopic(topic, 1, 1);
    const c = track(factory.createConsumer({ brokers: BROKERS, groupId: `${GROUP}-poll`, sessionTimeoutMs: 6000, extra: { "max.poll.interval.ms": 6000 } }));
    await c.connect();
    let revoked = 0;
    let assigned = 0;
    c.subscribe([topic], { onAssign: () => void assigned++, onRevoke: () => void revoked++ });
    let read = 0;
    const until = Date.now() + 9000; // 1.5 × max.poll.interval.ms
    for (let i = 0; Date.now() < until; i++) {
      if (i % 20 === 0) producer.produce(topic, 0, Buffer.from(`p${i}`), null, undefined, -100_000 - i);
      producer.poll();
      read += c.takeNow!(100)?.count ?? 0;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(assigned).toBe(1);
    expect(revoked).toBe(0);
    expect(read).toBeGreaterThan(0);
    await c.disconnect();
  }, 30_000);

  let second: KafkaConsumerClient;

  it("a new consumer in the same group starts at the committed offsets (nothing is re-read)", async () => {
    second = newConsumer(GROUP);
    await second.connect();
    const revoked: TopicPartition[] = [];
    second.subscribe([TOPIC], { onRevoke: (ps) => void revoked.push(...ps) });
    // Wait for the assignment, reading whatever comes (there must be nothing).
    const before = await consumeUntil(second, () => second.assignment().length === PARTITIONS);
    before.push(...(await consumeUntil(second, () => false, 5)));
    expect(second.assignment().length).toBe(PARTITIONS);
    expect(before.map((m) => `${m.partition}@${m.offset}`)).toEqual([]);
    const committed = await second.committed();
    for (const o of committed) expect(o.offset).toBe(endAfterFirst.get(o.partition));

    // New records are read, and only they.
    const fresh = new Map<string, { partition: number; offset: number }>();
    producer.onDelivery((err, r) => {
      expect(err).toBeNull();
      fresh.set(r.opaque as string, { partition: r.partition, offset: r.offset });
    });
    for (let p = 0; p < PARTITIONS; p++) {
      for (let j = 0; j < 10; j++) expect(producer.produce(TOPIC, p, Buffer.from(`new-${p}-${j}`), `n${j}`, undefined, `new-${p}-${j}`)).toBe(true);
    }
    await producer.flush(30_000);
    expect(fresh.size).toBe(30);
    const after = await consumeUntil(second, (all) => all.length >= 30);
    after.push(...(await consumeUntil(second, () => false, 5)));
    expect(after.map((m) => m.value!.toString()).sort()).toEqual([...fresh.keys()].sort());
    for (const m of after) {
      const f = fresh.get(m.value!.toString())!;
      expect(m.partition).toBe(f.partition);
      expect(m.offset).toBe(f.offset);
      expect(m.offset).toBeGreaterThanOrEqual(endAfterFirst.get(m.partition)!);
    }
    expect(revoked).toEqual([]);
  });

  it("pause stops a partition; seek then resume re-reads it from the seek point", async () => {
    const c = second;
    const p0 = { topic: TOPIC, partition: 0 };
    const end0 = endAfterFirst.get(0)! + 10; // after the 10 new records of the previous test
    expect(end0).toBeGreaterThan(60);
    c.pause([p0]);

    const fresh = new Map<string, { partition: number; offset: number }>();
    producer.onDelivery((err, r) => {
      expect(err).toBeNull();
      fresh.set(r.opaque as string, { partition: r.partition, offset: r.offset });
    });
    for (const p of [0, 1]) {
      for (let j = 0; j < 5; j++) producer.produce(TOPIC, p, Buffer.from(`paused-${p}-${j}`), null, undefined, `paused-${p}-${j}`);
    }
    await producer.flush(30_000);
    expect(fresh.size).toBe(10);

    // Partition 1 flows, partition 0 is paused.
    const whilePaused = await consumeUntil(c, (all) => all.length >= 5);
    whilePaused.push(...(await consumeUntil(c, () => false, 5)));
    expect(whilePaused.map((m) => m.partition)).toEqual([1, 1, 1, 1, 1]);
    expect(whilePaused.map((m) => m.value!.toString())).toEqual([0, 1, 2, 3, 4].map((j) => `paused-1-${j}`));

    // Rewind partition 0 by 50 records and resume it.
    const from = end0 - 50;
    await c.seek(TOPIC, 0, from);
    c.resume([p0]);
    const last0 = end0 + 5 - 1; // the 5 records produced while paused
    const reread = await consumeUntil(c, (all) => all.some((m) => m.partition === 0 && m.offset >= last0));
    reread.push(...(await consumeUntil(c, () => false, 5)));
    expect(reread.every((m) => m.partition === 0)).toBe(true);
    const offsets = reread.map((m) => m.offset);
    expect(offsets).toEqual(Array.from({ length: last0 - from + 1 }, (_, j) => from + j));
    expect(reread.slice(-5).map((m) => m.value!.toString())).toEqual([0, 1, 2, 3, 4].map((j) => `paused-0-${j}`));

    // The committed offsets did not move (nothing was committed since).
    const committed = await c.committed([p0]);
    expect(committed).toEqual([{ topic: TOPIC, partition: 0, offset: endAfterFirst.get(0) }]);
  });

  it("a partition paused when it was revoked is read again when it is assigned back (librdkafka keeps the pause flag)", async () => {
    // Both of A's partitions paused; B joins (every partition revoked and assigned again, eagerly),
    // then leaves: A has both back and must read what is produced to them, as a Kafka consumer
    // (whose pause state a revoke ends) would. librdkafka alone left them paused for good.
    const topic = `${TOPIC}-repause`;
    const group = `${GROUP}-repause`;
    await admin.createTopic(topic, 2, 1);
    const a = newConsumer(group);
    await a.connect();
    let assignedA: number[] = [];
    a.subscribe([topic], { onAssign: (ps) => { assignedA = ps.map((p) => p.partition); }, onRevoke: () => { assignedA = []; } });
    for (let round = 0; round < MAX_ROUNDS && assignedA.length < 2; round++) await a.consume(10);
    expect(assignedA.sort()).toEqual([0, 1]);
    a.pause([0, 1].map((partition) => ({ topic, partition })));

    const b = newConsumer(group);
    await b.connect();
    let assignedB = 0;
    b.subscribe([topic], { onAssign: (ps) => { assignedB = ps.length; } });
    for (let round = 0; round < MAX_ROUNDS && (assignedB === 0 || assignedA.length !== 1); round++) await Promise.all([a.consume(10), b.consume(10)]);
    expect([assignedA.length, assignedB]).toEqual([1, 1]);
    await b.disconnect();
    for (let round = 0; round < MAX_ROUNDS && assignedA.length < 2; round++) await a.consume(10);
    expect(assignedA.sort()).toEqual([0, 1]);

    for (const p of [0, 1]) for (let j = 0; j < 3; j++) producer.produce(topic, p, Buffer.from(`back-${p}-${j}`), null);
    await producer.flush(30_000);
    const got = await consumeUntil(a, (all) => all.length >= 6, 50);
    expect(got.map((m) => m.value!.toString()).sort()).toEqual(["back-0-0", "back-0-1", "back-0-2", "back-1-0", "back-1-1", "back-1-2"]);
    await a.disconnect();
    await admin.deleteTopic(topic).catch(() => undefined);
  });

  it("start offsets returned by onAssign override the committed ones; onRevoke can commit on disconnect", async () => {
    const group = `${GROUP}-starts`;
    const c = newConsumer(group);
    await c.connect();
    const end = new Map<number, number>();
    for (const [p, n] of endAfterFirst) end.set(p, n + 10 + (p <= 1 ? 5 : 0)); // records of the tests above
    const revoked: TopicPartition[] = [];
    c.subscribe([TOPIC], {
      onAssign: (ps) => ps.map((p) => ({ ...p, offset: end.get(p.partition)! - 3 })),
      onRevoke: async (ps) => {
        revoked.push(...ps);
        await c.commit(ps.map((p) => ({ ...p, offset: end.get(p.partition)! - 1 })));
      },
    });
    const msgs = await consumeUntil(c, (all) => all.length >= 9);
    msgs.push(...(await consumeUntil(c, () => false, 5)));
    const got = msgs.map((m) => `${m.partition}@${m.offset}`).sort();
    const want = [...end].flatMap(([p, e]) => [e - 3, e - 2, e - 1].map((o) => `${p}@${o}`)).sort();
    expect(got).toEqual(want);
    await c.disconnect();
    expect(revoked.map(key).sort()).toEqual([0, 1, 2].map((partition) => key({ topic: TOPIC, partition })));
    await expect(c.consume(1)).rejects.toMatchObject({ code: "ERR_KAFKA" });

    // What onRevoke committed is what the group has now.
    const probe = newConsumer(group);
    await probe.connect();
    const committed = await probe.committed([0, 1, 2].map((partition) => ({ topic: TOPIC, partition })));
    expect(committed).toEqual([0, 1, 2].map((partition) => ({ topic: TOPIC, partition, offset: end.get(partition)! - 1 })));
    await probe.disconnect();
  });

  it("consume() refuses to overlap and rejects bad sizes", async () => {
    const c = second;
    const a = c.consume(10, 50);
    await expect(c.consume(10, 50)).rejects.toMatchObject({ code: "ERR_KAFKA" });
    await a;
    await expect(c.consume(0)).rejects.toMatchObject({ code: "ERR_KAFKA" });
  });

  it("readPartition reads a partition to its end, and names a topic or partition that does not exist instead of waiting for an end", async () => {
    const all = await factory.readPartition!({ brokers: BROKERS }, TOPIC, 0);
    expect(all.length).toBeGreaterThan(0);
    expect(all.every((m) => m.topic === TOPIC && m.partition === 0)).toBe(true);
    const missing = `riptide-missing-${randomBytes(4).toString("hex")}`;
    await expect(factory.readPartition!({ brokers: BROKERS }, missing, 0)).rejects.toThrow(new RegExp(`${missing}\\[0\\]: no such topic`));
    await expect(factory.readPartition!({ brokers: BROKERS }, TOPIC, 99)).rejects.toThrow(/has no partition 99 \(it has 3\)/);
    expect(await admin.listTopics()).not.toContain(missing); // asking did not create it
  }, 30_000);
});
