/**
 * How the Kafka source takes from the client (no broker: a stand-in for the client that hands out
 * what it "prefetched" for partitions not paused, and records every call).
 *
 *   - takes are sized to the room the queues have left: the source never holds much more than
 *     `queuedPerPartition` records per assigned partition, nor much more than `queuedBytes` of
 *     message values, and pauses nothing while it is read;
 *   - queues left full (a slow sink) pause the partitions holding records, the client is still
 *     polled (its callbacks run only within consume()) without more being taken than one message
 *     per poll, and a partition read below the low mark resumes at the first offset not yet
 *     queued: every record once, in order;
 *   - at the byte bound, a partition short of bytes with records on their way gets them even when
 *     the client delivers them after the others': those holding the bytes pause until read.
 */
import { describe, expect, it } from "vitest";
import { encodeFrame } from "../../src/io/frame.js";
import type { KafkaConsumerClient, KafkaMessage, RebalanceListener, TopicPartition } from "../../src/io/kafka/client.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { DRIVER_LOCATION } from "../../src/pipelines/driver-tracking/spec.js";
import { bindColumns } from "../../src/schema/schema.js";
import { KafkaSource } from "../../src/sources/kafka-source.js";

const TOPIC = "flow";
const PARTITIONS = 4;
const FRAMES = 100;
const PER_FRAME = 100;

/** Every partition holds FRAMES frames of PER_FRAME records; consume() hands them out round-robin. */
class PrefetchingConsumer implements KafkaConsumerClient {
  private listener: RebalanceListener | undefined;
  private assigned = false;
  readonly next = new Array<number>(PARTITIONS).fill(0);
  readonly paused = new Set<number>();
  readonly asked: number[] = [];
  readonly seeks: Array<[number, number]> = [];
  pauses = 0;
  handedOut = 0;
  get frameBytes(): number { return this.frame.length; }
  private turn = 0;
  private readonly frame: Buffer;
  constructor() {
    const recs = Array.from({ length: PER_FRAME }, (_, i) => ({ driverId: `d${i % 7}`, lat: 1, lon: 2, ts: 1_700_000_000_000 + i, speedKmh: 30 }));
    this.frame = encodeFrame(DRIVER_LOCATION, recs);
  }
  async connect(): Promise<void> {}
  subscribe(_topics: string[], listener?: RebalanceListener): void { this.listener = listener; }
  assignment(): TopicPartition[] { return Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: TOPIC, partition })); }
  async consume(max: number): Promise<KafkaMessage[]> {
    if (!this.assigned) {
      this.assigned = true;
      await this.listener?.onAssign?.(this.assignment());
    }
    this.asked.push(max);
    await new Promise((r) => setImmediate(r));
    const out: KafkaMessage[] = [];
    for (let more = true; more && out.length < max;) {
      more = false;
      for (let k = 0; k < PARTITIONS && out.length < max; k++) {
        const p = this.turn++ % PARTITIONS;
        if (this.paused.has(p) || this.next[p]! >= FRAMES) continue;
        out.push({ topic: TOPIC, partition: p, offset: this.next[p]!++, key: null, value: this.frame, timestamp: 1_700_000_000_000 });
        more = true;
      }
    }
    this.handedOut += out.length;
    return out;
  }
  pause(ps: TopicPartition[]): void { for (const tp of ps) { this.paused.add(tp.partition); this.pauses++; } }
  resume(ps: TopicPartition[]): void { for (const tp of ps) this.paused.delete(tp.partition); }
  async seek(_topic: string, partition: number, offset: number): Promise<void> {
    this.seeks.push([partition, offset]);
    this.next[partition] = offset;
  }
  async commit(): Promise<void> {}
  async committed() { return []; }
  async disconnect(): Promise<void> {}
}

/**
 * The client's prefetch holds partitions 0–2 ahead of partition 3 (as librdkafka's queue fills with
 * the partitions fetched first): it hands out partition 3's messages only once 0–2 are paused or read
 * to their end. Every partition still has records on their way (cachedWatermarks).
 */
class BacklogFirstConsumer extends PrefetchingConsumer {
  override async consume(max: number): Promise<KafkaMessage[]> {
    const others = [0, 1, 2].some((p) => !this.paused.has(p) && this.next[p]! < FRAMES);
    if (!others) return super.consume(max);
    const saved = this.paused.has(3);
    this.paused.add(3);
    try {
      return await super.consume(max);
    } finally {
      if (!saved) this.paused.delete(3);
    }
  }
  cachedWatermarks(): { low: number; high: number } { return { low: 0, high: FRAMES }; }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  if (!cond()) throw new Error(`never: ${what}`);
}

function reader(source: KafkaSource) {
  const layout = driverTracking.inputLayout(256);
  const cols = bindColumns(new ArrayBuffer(layout.bytesPerSlot), 0, layout);
  const offsets: number[][] = Array.from({ length: PARTITIONS }, () => []);
  return {
    offsets,
    /** Fills partition p once; the records' offsets are kept. */
    fill(p: number): number {
      const n = source.fill(p, cols, 256);
      for (let i = 0; i < n; i++) offsets[p]!.push(cols["_off"]![i]!);
      return n;
    },
  };
}

function source(consumer: PrefetchingConsumer, extra: Partial<ConstructorParameters<typeof KafkaSource>[0]> = {}): KafkaSource {
  return new KafkaSource({
    consumer, topic: TOPIC, partitions: PARTITIONS, pipeline: driverTracking, deadLetter: () => { throw new Error("no dead letters here"); },
    queuedPerPartition: 1000, lowWater: 200, ...extra,
  });
}

/** Each partition read whole, every record once and in order. */
function expectAllOnce(offsets: number[][]): void {
  const want = Array.from({ length: FRAMES }, (_, o) => new Array<number>(PER_FRAME).fill(o)).flat();
  for (let p = 0; p < PARTITIONS; p++) expect(offsets[p], `partition ${p}`).toEqual(want);
}

/** Reads every partition to its end while the source holds at most `frames` frames not read yet; nothing paused; every record once. */
async function readAllHolding(s: KafkaSource, consumer: PrefetchingConsumer, frames: number): Promise<void> {
  const r = reader(s);
  for (let guard = 0; guard < 100_000 && consumer.handedOut < PARTITIONS * FRAMES; guard++) {
    for (let p = 0; p < PARTITIONS; p++) r.fill(p);
    expect(consumer.handedOut - r.offsets.reduce((a, o) => a + o.length, 0) / PER_FRAME).toBeLessThanOrEqual(frames);
    await new Promise((res) => setImmediate(res));
  }
  for (let p = 0; p < PARTITIONS; p++) while (r.fill(p) > 0);
  await s.close();
  expect(consumer.pauses).toBe(0);
  expectAllOnce(r.offsets);
}

describe("Kafka source: what it takes from the client", () => {
  it("takes only what the queues have room for, and pauses nothing while it is read", async () => {
    const consumer = new PrefetchingConsumer();
    const s = source(consumer, { fullPauseMs: 60_000 });
    s.start();
    // Room for 4 × 1000 records: 40 frames of 100, one more at most (the first take assumes large messages).
    await until(() => consumer.handedOut >= 40, "the queues filled");
    await new Promise((r) => setTimeout(r, 50)); // the loop keeps running: nothing more is taken
    expect(consumer.handedOut).toBeLessThanOrEqual(41);
    await readAllHolding(s, consumer, 41);
  });

  it("holds about queuedBytes of message values, however many records that leaves room for, and reads every record once", async () => {
    const consumer = new PrefetchingConsumer();
    const s = source(consumer, { fullPauseMs: 60_000, queuedPerPartition: 1_000_000, queuedBytes: 10 * consumer.frameBytes });
    s.start();
    // The first take assumes 64 KiB messages: one frame; then the largest seen sizes the next.
    await until(() => consumer.handedOut >= 10, "the queues filled to the byte bound");
    await new Promise((r) => setTimeout(r, 50));
    expect(consumer.handedOut).toBe(10);
    await readAllHolding(s, consumer, 10);
  });

  it("queues left full pause their partitions and keep polling; read below the low mark, each resumes where its queue ends", async () => {
    const consumer = new PrefetchingConsumer();
    const s = source(consumer, { fullPauseMs: 20, consumeWaitMs: 1 });
    s.start();
    await until(() => consumer.paused.size === PARTITIONS, "every partition paused");
    const held = consumer.handedOut;
    const polls = consumer.asked.length;
    await until(() => consumer.asked.length > polls + 3, "the client polled while paused");
    expect(consumer.asked.slice(polls).every((n) => n === 1)).toBe(true);
    expect(consumer.handedOut).toBe(held); // every partition paused: nothing more came
    expect(held).toBeLessThanOrEqual(41);
    const r = reader(s);
    for (let guard = 0; guard < 100_000 && r.offsets.some((o) => o.length < FRAMES * PER_FRAME); guard++) {
      for (let p = 0; p < PARTITIONS; p++) r.fill(p);
      await new Promise((res) => setImmediate(res));
    }
    await s.close();
    expectAllOnce(r.offsets);
    expect(consumer.seeks.length).toBeGreaterThanOrEqual(PARTITIONS); // each resume sought to where its queue ended
  });

  it("a partition far behind the others is paused while they are short of records, and resumed once read", async () => {
    const consumer = new PrefetchingConsumer();
    const s = source(consumer, { fullPauseMs: 60_000 });
    s.start();
    const r = reader(s);
    // Partition 0 is not read (its shard is slow): it takes the room until it is paused above
    // highWater (2 × 1000 records), and the others are read to their end.
    for (let guard = 0; guard < 100_000 && [1, 2, 3].some((p) => r.offsets[p]!.length < FRAMES * PER_FRAME); guard++) {
      for (let p = 1; p < PARTITIONS; p++) r.fill(p);
      await new Promise((res) => setImmediate(res));
    }
    expect(consumer.paused.has(0)).toBe(true);
    expect(consumer.next[0]!).toBeLessThanOrEqual(2000 / PER_FRAME + 40 + 1);
    for (let guard = 0; guard < 100_000 && r.offsets[0]!.length < FRAMES * PER_FRAME; guard++) {
      r.fill(0);
      await new Promise((res) => setImmediate(res));
    }
    await s.close();
    expect(consumer.paused.size).toBe(0);
    expectAllOnce(r.offsets);
  });

  it("at the byte bound, a partition with records on their way that the client delivers last gets them: the partitions holding the bytes pause until read", async () => {
    const consumer = new BacklogFirstConsumer();
    // Records never bound here (JSON-like: few records per byte); 12 frames of bytes do.
    const s = source(consumer, { fullPauseMs: 60_000, queuedPerPartition: 1_000_000, lowWater: 1_000_000, queuedBytes: 12 * consumer.frameBytes });
    s.start();
    const r = reader(s);
    // What reads on waits for partition 3 (a merge on event time): only it is read, until its end.
    for (let guard = 0; guard < 20_000 && r.offsets[3]!.length < FRAMES * PER_FRAME; guard++) {
      r.fill(3);
      // Held: 12 frames, and what the partitions short of bytes may add (half a share each, 1.5 frames).
      expect(consumer.handedOut - r.offsets.reduce((a, o) => a + o.length, 0) / PER_FRAME).toBeLessThanOrEqual(14);
      await new Promise((res) => setImmediate(res));
    }
    expect(r.offsets[3]!.length).toBe(FRAMES * PER_FRAME);
    expect(consumer.pauses).toBeGreaterThan(0);
    for (let guard = 0; guard < 100_000 && r.offsets.some((o) => o.length < FRAMES * PER_FRAME); guard++) {
      for (let p = 0; p < PARTITIONS; p++) r.fill(p);
      await new Promise((res) => setImmediate(res));
    }
    await s.close();
    expect(consumer.paused.size).toBe(0);
    expectAllOnce(r.offsets);
  });

  it("frames interned as they arrive are interned again after a restored string table replaced the one they used", async () => {
    const consumer = new PrefetchingConsumer();
    const s = source(consumer, { fullPauseMs: 60_000 });
    s.start();
    await until(() => consumer.handedOut >= 40, "frames queued (their strings interned: d0 is 1, … d6 is 7)");
    // A restore (exactly-once) loads the snapshot's table: the same strings under other ids.
    s.importState({ names: ["d6", "d5", "d4", "d3", "d2", "d1", "d0"], partial: [] });
    const layout = driverTracking.inputLayout(PER_FRAME);
    const cols = bindColumns(new ArrayBuffer(layout.bytesPerSlot), 0, layout);
    for (let p = 0; p < PARTITIONS; p++) {
      expect(s.fill(p, cols, PER_FRAME)).toBe(PER_FRAME);
      const names = Array.from({ length: PER_FRAME }, (_, i) => s.idName("driverId", cols["driverId"]![i]!));
      expect(names).toEqual(Array.from({ length: PER_FRAME }, (_, i) => `d${i % 7}`));
    }
    await s.close();
  });
});
