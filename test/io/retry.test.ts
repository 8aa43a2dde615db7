/**
 * The retry topic: classification, backoff and headers (no broker), then the whole loop against the
 * real broker — failed records copied under the sink's acknowledgement accounting, read back from
 * `<input>.retry` once due, retried by a stage handler, and either recovered or dead-lettered after
 * N attempts with their headers; nothing lost.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { DecodeError, OptionRangeError } from "../../src/errors.js";
import { KafkaError, type KafkaHeader } from "../../src/io/kafka/client.js";
import { rdkafkaClientFactory as factory } from "../../src/io/kafka/rdkafka.js";
import {
  backoffFor, DLQ_HEADER, isRetryable, NonRetryableError, RETRY_HEADER, RetryableError, retryPolicy, RetryTopic, type RetryRecord,
} from "../../src/io/retry.js";
import { KafkaSink } from "../../src/sinks/kafka-sink.js";
import { BROKERS, createTopic, ensureBroker, readAll, refusingTopics, riptide, uniqueName } from "../support/kafka.js";

function headersOf(hs: KafkaHeader[] | undefined): Record<string, string> {
  return Object.fromEntries((hs ?? []).map((x) => [x.key, x.value.toString()]));
}

describe("retry policy and classification", () => {
  it("backs off exponentially from --retry-backoff, capped", () => {
    const p = retryPolicy({ backoffMs: 100, maxRetries: 5, maxBackoffMs: 350 });
    expect([1, 2, 3, 4].map((a) => backoffFor(p, a))).toEqual([100, 200, 350, 350]);
    expect(retryPolicy()).toEqual({ maxRetries: 3, backoffMs: 1000, maxBackoffMs: 30_000 });
  });

  it.each([
    [{ maxRetries: -1 }, /maxRetries must be an integer from 0 to 100, got -1/],
    [{ maxRetries: 1.5 }, /maxRetries must be an integer/],
    [{ backoffMs: 0 }, /backoffMs must be from 1/],
    [{ backoffMs: 500, maxBackoffMs: 100 }, /maxBackoffMs must be at least backoffMs/],
  ])("rejects %j naming the option", (opts, message) => {
    expect(() => retryPolicy(opts)).toThrow(OptionRangeError);
    expect(() => retryPolicy(opts)).toThrow(message);
  });

  it("retries what may succeed later, never what cannot", () => {
    expect(isRetryable(new DecodeError("bad frame"))).toBe(false);
    expect(isRetryable(new NonRetryableError("no"))).toBe(false);
    expect(isRetryable(new RetryableError("later"))).toBe(true);
    expect(isRetryable(new Error("a user function threw"))).toBe(true);
    expect(isRetryable(new KafkaError("x", { kafkaCode: 19 }))).toBe(true); // not enough replicas
    expect(isRetryable(new KafkaError("x", { kafkaCode: 10 }))).toBe(true); // message too large: refuses its whole batch
    expect(isRetryable(new KafkaError("x", { kafkaCode: 87 }))).toBe(false); // invalid record
    expect(isRetryable(new KafkaError("x", { kafkaCode: 87, retriable: true }))).toBe(true);
    expect(isRetryable(new KafkaError("x", { kafkaCode: 3, fatal: true }))).toBe(false);
    // node-rdkafka reports a delivery timeout with code -1 and only its text.
    expect(isRetryable(new KafkaError("delivery to t[0]: message timed out (librdkafka code -1)", { kafkaCode: -1 }))).toBe(true);
    expect(isRetryable(new KafkaError("delivery to t[0]: broker: invalid record (librdkafka code -1)", { kafkaCode: -1 }))).toBe(false);
  });

  it("routes to the retry topic with its headers, then to the DLQ with the reason and attempt count", () => {
    const r = new RetryTopic({ inputTopic: "in", policy: { maxRetries: 2, backoffMs: 50 } });
    const base = {
      value: Buffer.from("v"), key: "k", headers: [{ key: "app", value: Buffer.from("1") }, { key: RETRY_HEADER.attempt, value: Buffer.from("9") }],
      origin: { topic: "in", partition: 3, offset: 41 }, stage: "process",
    };
    const first = r.route({ ...base, attempt: 0 }, new Error("boom"), 1_000);
    expect(first.topic).toBe("in.retry");
    expect(first.dead).toBe(false);
    const h1 = headersOf(first.headers);
    expect(h1).toMatchObject({
      app: "1", [RETRY_HEADER.attempt]: "1", [RETRY_HEADER.topic]: "in", [RETRY_HEADER.partition]: "3", [RETRY_HEADER.offset]: "41",
      [RETRY_HEADER.error]: "boom", [RETRY_HEADER.due]: "1050", [RETRY_HEADER.stage]: "process", [RETRY_HEADER.firstFailedAt]: "1000",
    });
    expect(first.headers.filter((x) => x.key === RETRY_HEADER.attempt)).toHaveLength(1); // the stale one is replaced
    expect(headersOf(r.route({ ...base, attempt: 1 }, new Error("boom"), 2_000).headers)[RETRY_HEADER.due]).toBe("2100");
    const last = r.route({ ...base, attempt: 2 }, new Error("still"), 3_000);
    expect(last.topic).toBe("in.dlq");
    expect(last.dead).toBe(true);
    const h3 = headersOf(last.headers);
    expect(h3).toMatchObject({ app: "1", [DLQ_HEADER.topic]: "in", [DLQ_HEADER.partition]: "3", [DLQ_HEADER.offset]: "41", [DLQ_HEADER.attempts]: "3", [DLQ_HEADER.stage]: "process" });
    expect(h3[DLQ_HEADER.error]).toMatch(/gave up after 3 attempts .*: still/);
    const dead = r.route({ ...base, attempt: 0 }, new DecodeError("garbage"), 3_000);
    expect(dead.topic).toBe("in.dlq");
    expect(headersOf(dead.headers)[DLQ_HEADER.error]).toBe("not retryable: garbage");
    expect(r.counts).toEqual({ scheduled: 2, succeeded: 0, failed: 0, deadLettered: 2 });
  });
});

describe("riptide run: retry options", () => {
  it.each([
    [["--max-retries", "-1"], /--max-retries must be at least 0, got -1/],
    [["--max-retries", "1.5"], /--max-retries must be an integer, got 1.5/],
    [["--max-retries", "101"], /--max-retries must be at most 100, got 101/],
    [["--retry-backoff", "0"], /--retry-backoff must be at least 1, got 0/],
    [["--retry-backoff", "soon"], /--retry-backoff must be a number, got "soon"/],
    [["--delivery-timeout", "2.5"], /--delivery-timeout must be an integer, got 2.5/],
  ])("rejects %j with exit code 2 and a message naming the option", async (args, message) => {
    // Checked before any connection: the broker address is never dialled.
    const run = riptide(["run", "--brokers", "127.0.0.1:1", "--input-topic", "i", "--output-topic", "o", ...args]);
    expect(await run.exited).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it("needs --brokers", async () => {
    const run = riptide(["run", "--events", "10", "--max-retries", "2"]);
    expect(await run.exited).toBe(2);
    expect(run.stderr).toMatch(/--max-retries needs --brokers/);
  });
});

describe("retry topic on the real broker", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("retries after the backoff until a record succeeds or, out of retries, lands in the DLQ; nothing lost", async () => {
    const input = uniqueName("retry-in");
    await createTopic(input, 2);
    await createTopic(`${input}.retry`, 2);
    await createTopic(`${input}.dlq`, 1);
    const maxRetries = 3;
    const backoffMs = 150;
    const seen: Array<{ key: string; attempt: number; at: number; due: number }> = [];
    const failUntil: Record<string, number> = {}; // key → attempts that still fail
    const handler = (r: RetryRecord, done: (err?: unknown) => void): void => {
      const key = r.key!.toString();
      seen.push({ key, attempt: r.attempt, at: Date.now(), due: r.dueAt });
      expect(headersOf(r.headers)["app-header"]).toBeDefined(); // the record's own headers, riptide's stripped
      expect(Object.keys(headersOf(r.headers)).filter((k) => k.startsWith("riptide."))).toEqual([]);
      if (key.startsWith("fatal")) return done(new NonRetryableError("the record can never pass"));
      if (r.attempt <= (failUntil[key] ?? Infinity)) return done(new Error(`attempt ${r.attempt} of ${key} failed`));
      done();
    };
    const logs: Array<{ event: string; detail: Record<string, unknown> }> = [];
    const producer = factory.createProducer({ brokers: BROKERS });
    const retryProducer = factory.createProducer({ brokers: BROKERS });
    const consumer = factory.createConsumer({ brokers: BROKERS, groupId: uniqueName("g-retry"), autoOffsetReset: "earliest" });
    await Promise.all([producer.connect(), retryProducer.connect(), consumer.connect()]);
    const retry = new RetryTopic({
      inputTopic: input, policy: { maxRetries, backoffMs }, consumer, producer: retryProducer,
      handlers: { process: handler }, onLog: (event, detail) => logs.push({ event, detail }),
    });
    const sink = new KafkaSink({ producer, topic: uniqueName("unused-out"), key: () => null, retry });
    try {
      retry.start();
      // 30 first failures: 10 recover at their 1st retry, 10 at their 2nd, 6 never, 4 are not retryable.
      const keys: string[] = [];
      for (let i = 0; i < 30; i++) {
        const key = i < 10 ? `flaky1-${i}` : i < 20 ? `flaky2-${i}` : i < 26 ? `poison-${i}` : `fatal-${i}`;
        if (i < 10) failUntil[key] = 0;
        else if (i < 20) failUntil[key] = 1;
        keys.push(key);
        const err = key.startsWith("fatal") ? new RetryableError("first try") : new Error("first try");
        sink.fail({ value: Buffer.from(`value-${i}`), key, headers: [{ key: "app-header", value: Buffer.from(String(i)) }], origin: { topic: input, partition: i % 2, offset: 100 + i }, stage: "process" }, err);
      }
      await sink.flush(); // the copies are acknowledged: the input offsets behind them could be committed now
      expect(sink.acknowledged).toBe(30);
      expect(await retry.settle(60_000)).toBe(true);

      const dlq = await readAll([`${input}.dlq`], 2000);
      const dead = new Map(dlq.map((m) => [m.key!.toString(), m]));
      // Nothing lost: every record either recovered or is in the DLQ, exactly once.
      const recovered = new Set(seen.filter((s) => !s.key.startsWith("poison") && !s.key.startsWith("fatal")).map((s) => s.key));
      expect([...recovered, ...dead.keys()].sort()).toEqual([...keys].sort());
      expect(dlq).toHaveLength(10);
      for (const [key, m] of dead) {
        const h = headersOf(m.headers);
        const i = Number(key.split("-")[1]);
        expect(m.value!.toString()).toBe(`value-${i}`);
        expect(h["app-header"]).toBe(String(i));
        expect(h[DLQ_HEADER.topic]).toBe(input);
        expect(h[DLQ_HEADER.partition]).toBe(String(i % 2));
        expect(h[DLQ_HEADER.offset]).toBe(String(100 + i));
        expect(Number(h[DLQ_HEADER.timestamp])).toBeGreaterThan(1_700_000_000_000);
        if (key.startsWith("poison")) {
          expect(h[DLQ_HEADER.attempts]).toBe(String(maxRetries + 1));
          expect(h[DLQ_HEADER.error]).toMatch(new RegExp(`gave up after ${maxRetries + 1} attempts.*attempt ${maxRetries} of ${key} failed`));
        } else {
          expect(h[DLQ_HEADER.attempts]).toBe("2"); // the first try and one retry, which said "never"
          expect(h[DLQ_HEADER.error]).toBe("not retryable: the record can never pass");
        }
      }
      // Each record was attempted once per retry it was due, in order, and never before its due time.
      const attempts = (key: string) => seen.filter((s) => s.key === key).map((s) => s.attempt);
      expect(attempts("flaky1-0")).toEqual([1]);
      expect(attempts("flaky2-10")).toEqual([1, 2]);
      expect(attempts("poison-20")).toEqual([1, 2, 3]);
      expect(attempts("fatal-26")).toEqual([1]);
      // A partition waits for its head record's due time (5 ms: timer vs. wall-clock rounding).
      expect(seen.filter((s) => s.at < s.due - 5)).toEqual([]);
      expect(retry.counts).toEqual({ scheduled: 10 + 20 + 6 * 3 + 4, succeeded: 20, failed: 10 + 6 * 3 + 4, deadLettered: 10 });
      expect(logs.filter((l) => l.event === "retry-dlq")).toHaveLength(10);
      expect(logs.filter((l) => l.event === "retry-ok")).toHaveLength(20);
    } finally {
      await retry.close();
      await Promise.all([consumer.disconnect(), producer.disconnect(), retryProducer.disconnect()]);
    }
  }, 120_000);

  it("a record too large for its topic runs out of retries into the DLQ; its batch-mates, refused with it, are delivered by the retry; one the client refuses on the spot fails the sink, not the caller", async () => {
    const input = uniqueName("refuse-in");
    const small = uniqueName("refuse-small");
    await refusingTopics(input, small);
    const producer = factory.createProducer({ brokers: BROKERS, extra: { "message.max.bytes": 100_000 } });
    // As riptide run makes it: one record per request.
    const retryProducer = factory.createProducer({ brokers: BROKERS, lingerMs: 0, extra: { "batch.num.messages": 1 } });
    const consumer = factory.createConsumer({ brokers: BROKERS, groupId: uniqueName("g-refuse"), autoOffsetReset: "earliest" });
    await Promise.all([producer.connect(), retryProducer.connect(), consumer.connect()]);
    const retry = new RetryTopic({ inputTopic: input, policy: { maxRetries: 2, backoffMs: 20 }, consumer, producer: retryProducer });
    const sink = new KafkaSink({ producer, topic: small, key: () => null, retry });
    try {
      retry.start();
      // One batch: the broker refuses all of it (MESSAGE_TOO_LARGE) because of the first record.
      sink.send(small, Buffer.alloc(5000, 0x61), "big");
      sink.send(small, Buffer.from("fits"), "small");
      await sink.flush();
      expect(sink.acknowledged).toBe(2);
      expect(await retry.settle(30_000)).toBe(true);
      expect(retry.counts).toEqual({ scheduled: 2 + 1, succeeded: 1, failed: 2, deadLettered: 1 });
      const delivered = await readAll([small], 2000);
      expect(delivered.map((m) => m.value!.toString())).toEqual(["fits"]);
      const dlq = await readAll([`${input}.dlq`], 2000);
      expect(dlq).toHaveLength(1);
      const h = headersOf(dlq[0]!.headers);
      expect(dlq[0]!.key!.toString()).toBe("big");
      expect(dlq[0]!.value!.length).toBe(5000);
      expect(h[DLQ_HEADER.target]).toBe(small);
      expect(h[DLQ_HEADER.stage]).toBe("deliver");
      expect(h[DLQ_HEADER.attempts]).toBe("3");
      expect(h[DLQ_HEADER.error]).toMatch(/^gave up after 3 attempts .*message size too large/);
      // Larger than the client's own limit: refused inside produce(), not retryable; its DLQ copy is
      // refused too, so the sink fails — at its next service(), not with an exception out of send().
      expect(() => sink.send(small, Buffer.alloc(200_000), "k")).not.toThrow();
      expect(() => sink.service()).toThrow(/refused by the client/);
    } finally {
      await retry.close();
      await Promise.all([consumer.disconnect(), producer.disconnect(2000), retryProducer.disconnect(2000)]);
    }
  }, 60_000);
});
