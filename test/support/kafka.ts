/** Helpers for integration tests against the real broker (started by `npm test`, or here if needed). */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { KafkaMessage } from "../../src/io/kafka/client.js";
import { rdkafkaClientFactory as factory } from "../../src/io/kafka/rdkafka.js";
import { shebangFlags } from "../../src/cli/node-flags.js";
import { afterAll } from "vitest";

export const ROOT = join(__dirname, "..", "..");
export const BROKERS = `127.0.0.1:${process.env.RIPTIDE_KAFKA_PORT || "9092"}`;
export const BIN = join(ROOT, "bin", "riptide.js");

export function ensureBroker(): void {
  const r = spawnSync(process.execPath, [join(ROOT, "scripts", "kafka.mjs"), "up"], { encoding: "utf8", timeout: 240_000 });
  if (r.status !== 0) throw new Error(`the Kafka broker did not start: ${r.stderr}`);
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
}

export async function createTopic(topic: string, partitions: number): Promise<void> {
  const admin = factory.createAdmin({ brokers: BROKERS });
  await admin.connect();
  try {
    await admin.createTopic(topic, partitions, 1);
  } finally {
    await admin.disconnect();
  }
}

/** Produces values (to a partition, or keyed) and waits for every delivery report. */
export async function produceAll(topic: string, messages: Array<{ value: Buffer | string; key?: string | null; partition?: number }>): Promise<void> {
  const producer = factory.createProducer({ brokers: BROKERS, lingerMs: 5 });
  let delivered = 0;
  let failed: Error | undefined;
  producer.onDelivery((err) => { if (err) failed = err; else delivered++; });
  await producer.connect();
  try {
    for (const m of messages) {
      const value = typeof m.value === "string" ? Buffer.from(m.value) : m.value;
      while (!producer.produce(topic, m.partition ?? null, value, m.key ?? null)) {
        producer.poll();
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    const deadline = Date.now() + 60_000;
    while (delivered < messages.length && !failed && Date.now() < deadline) {
      producer.poll();
      await new Promise((r) => setTimeout(r, 5));
    }
    if (failed) throw failed;
    if (delivered < messages.length) throw new Error(`only ${delivered} of ${messages.length} messages were delivered`);
  } finally {
    await producer.disconnect();
  }
}

/**
 * Every message of the topics (as written, `read_uncommitted`), each partition read from its
 * beginning to its end offset without joining a group, partition by partition in offset order.
 * For topics whose writers have finished (a run that exited, a producer that flushed): a topic is
 * read again while its end offsets still move (until `limitMs`: then the last reading), and one
 * that does not exist is waited for up to `idleMs` (it may still be created), then has no messages.
 */
export async function readAll(topics: string[], idleMs = 4000, limitMs = 120_000): Promise<KafkaMessage[]> {
  const deadline = Date.now() + limitMs;
  const admin = factory.createAdmin({ brokers: BROKERS });
  const watcher = factory.createConsumer({ brokers: BROKERS, groupId: uniqueName("reader-ends") });
  await Promise.all([admin.connect(), watcher.connect()]);
  const out: KafkaMessage[] = [];
  try {
    const ends = async (topic: string, partitions: number): Promise<number[]> => {
      for (;;) {
        try {
          return await Promise.all(Array.from({ length: partitions }, async (_, p) => (await watcher.queryWatermarks!(topic, p, 10_000)).high));
        } catch (err) {
          // A topic being created by a running writer: its partitions' leaders may not be known yet.
          if (!(err as { retriable?: boolean }).retriable || Date.now() >= deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    const waitUntil = Date.now() + idleMs;
    for (const topic of [...new Set(topics)]) {
      let partitions = 0;
      for (;;) {
        const t = (await admin.metadata(topic)).topics.find((x) => x.name === topic);
        partitions = t && t.partitionDetails.every((p) => p.leader >= 0) ? t.partitions : 0;
        if (partitions > 0 || Date.now() >= waitUntil) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (partitions === 0) continue;
      let read: KafkaMessage[][] = [];
      for (let before = await ends(topic, partitions); ;) {
        read = await Promise.all(Array.from({ length: partitions }, (_, p) =>
          factory.readPartition!({ brokers: BROKERS, extra: { "isolation.level": "read_uncommitted" } }, topic, p, Math.max(5_000, deadline - Date.now()))));
        const after = await ends(topic, partitions);
        if (after.every((h, p) => h === before[p]) || Date.now() >= deadline) break;
        before = after;
      }
      for (const msgs of read) for (const m of msgs) out.push(m);
    }
  } finally {
    await Promise.all([admin.disconnect(), watcher.disconnect()]);
  }
  return out;
}

export interface Proc {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

/**
 * Consumer sessions of the test runs: a SIGKILLed process's partitions move once its session
 * times out, 10 s by default (the development broker allows from 1 s: scripts/kafka.mjs).
 */
export const TEST_SESSION_CONFIG = "consumer.session.timeout.ms=4000,consumer.heartbeat.interval.ms=1000";

/**
 * Children still running. A test that times out leaves its runs behind, still reading the broker
 * and taking CPU from the tests after it: they are killed once the test file's tests are done.
 */
const live = new Set<ChildProcess>();
afterAll(() => {
  for (const c of live) c.kill("SIGKILL");
  live.clear();
});

/** `riptide ARGS` as a child process; a run on the broker gets TEST_SESSION_CONFIG unless it names --kafka-config itself. */
export function riptide(args: string[]): Proc {
  const session = args[0] === "run" && args.includes("--brokers") && !args.includes("--kafka-config") ? ["--kafka-config", TEST_SESSION_CONFIG] : [];
  // The V8 flags of bin/riptide.js's shebang, as a user's `riptide` runs.
  const child = spawn(process.execPath, [...shebangFlags(BIN), BIN, ...args, ...session], { stdio: ["ignore", "pipe", "pipe"] });
  const p: Proc = { child, stdout: "", stderr: "", exited: undefined as unknown as Promise<number | null> };
  child.stdout!.on("data", (d) => { p.stdout += d; });
  child.stderr!.on("data", (d) => { p.stderr += d; });
  live.add(child);
  p.exited = new Promise((resolve) => child.on("exit", (code) => {
    live.delete(child);
    resolve(code);
  }));
  return p;
}

/** Every committed record (read_committed) of partitions 0 … partitions−1 of the topics, values parsed as JSON. */
export async function readCommitted(topics: string | string[], partitions = 1): Promise<Array<Record<string, unknown>>> {
  // The partitions are read at the same time (each reader's connection and end-of-partition wait
  // cost ~0.65 s, one after the other), their records kept in topic, then partition order.
  const read = await Promise.all((typeof topics === "string" ? [topics] : topics).flatMap((t) =>
    Array.from({ length: partitions }, (_, p) => factory.readPartition!({ brokers: BROKERS }, t, p))));
  const out: Array<Record<string, unknown>> = [];
  for (const msgs of read) for (const m of msgs) out.push(JSON.parse(m.value!.toString()) as Record<string, unknown>);
  return out;
}

/** Resolves once the process logged a partition assignment (its restored state is in place by then). */
export function assigned(p: Proc, limitMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = setInterval(() => {
      if (/"event":"assign"/.test(p.stderr)) { clearInterval(tick); resolve(); }
      else if (Date.now() - start > limitMs || p.child.exitCode !== null) { clearInterval(tick); reject(new Error(`no assignment: ${p.stderr.slice(-800)}`)); }
    }, 20);
  });
}

/**
 * Topics for a refusal test: `small` (1 partition, max.message.bytes 2000: a larger record is
 * refused by the broker) and `<input>.retry` / `<input>.dlq` for the retry topic behind it.
 */
export async function refusingTopics(input: string, small: string): Promise<void> {
  const admin = factory.createAdmin({ brokers: BROKERS });
  await admin.connect();
  await admin.createTopic(small, 1, 1, { "max.message.bytes": "2000" });
  await admin.createTopic(`${input}.retry`, 1, 1);
  await admin.createTopic(`${input}.dlq`, 1, 1);
  await admin.disconnect();
}
