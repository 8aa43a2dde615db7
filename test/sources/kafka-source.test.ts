/**
 * The Kafka source's edge on any input.
 *
 * Property-based (fast-check, fixed seed): any sequence of messages — events, broken JSON, random
 * bytes, empty and null values, oversized JSON, good and corrupted frames — read with any batch
 * size never throws; every message is either all its records, in order with its offset, or one
 * dead letter with a reason; the position ends past the last message. The consumer here is a
 * scripted stand-in for the client interface (this part tests the source's bookkeeping, not Kafka).
 *
 * Then the real thing: `riptide run --brokers …` on a topic holding every kind of bad input;
 * undecodable messages land in `<input>.dlq` with their reasons, decodable-but-invalid events in
 * `<output>.invalid`, and the good events still make their windows.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { DecodeError } from "../../src/errors.js";
import { encodeFrame } from "../../src/io/frame.js";
import { PACKED_STRIDE, type KafkaConsumerClient, type KafkaHeader, type KafkaMessage, type PackedMessages, type RebalanceListener } from "../../src/io/kafka/client.js";
import { rdkafkaClientFactory as factory } from "../../src/io/kafka/rdkafka.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { DRIVER_LOCATION } from "../../src/pipelines/driver-tracking/spec.js";
import { Interner } from "../../src/schema/interner.js";
import { bindColumns } from "../../src/schema/schema.js";
import { decodeFrameInto } from "../../src/io/frame.js";
import { ENTRY_RUNS } from "../../src/metrics/entry-runs.js";
import { KafkaSource } from "../../src/sources/kafka-source.js";
import { MultiSource } from "../../src/sources/multi-source.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readAll, riptide, uniqueName } from "../support/kafka.js";

const FUZZ = { seed: 0x6a_f4a5, numRuns: 120 } as const;
const MAX_JSON = 300;

/**
 * Packs messages as the native take does (src/io/kafka/client.ts PackedMessages): each message's
 * value then its key, back to back in one buffer, after `lead` bytes of something else.
 */
export function pack(messages: KafkaMessage[], lead: Buffer = Buffer.alloc(0)): PackedMessages {
  const meta = new Float64Array(1 + messages.length * PACKED_STRIDE);
  const parts: Buffer[] = [lead];
  let at = lead.length;
  messages.forEach((m, i) => {
    const r = 1 + i * PACKED_STRIDE;
    meta.set([m.partition, m.offset, m.timestamp, at, m.value ? m.value.length : -1], r);
    if (m.value) { parts.push(m.value); at += m.value.length; }
    meta.set([at, m.key ? m.key.length : -1, 0], r + 5);
    if (m.key) { parts.push(m.key); at += m.key.length; }
  });
  meta[0] = messages.length;
  return { count: messages.length, data: Buffer.concat(parts), meta };
}

/**
 * Hands out a fixed list of messages, assigning every partition on the first read; with `packed`,
 * through takeNow() (messages packed in one buffer, as node-rdkafka with native-bindings/kafka),
 * else through consume().
 */
class ScriptedConsumer implements KafkaConsumerClient {
  private listener: RebalanceListener | undefined;
  private assigned = false;
  takeNow?: (max: number) => PackedMessages | null;
  constructor(private readonly topic: string, private readonly partitions: number, private messages: KafkaMessage[], packed = false, lead: Buffer = Buffer.alloc(0)) {
    if (packed) {
      this.takeNow = (max) => {
        if (!this.assigned) {
          this.assigned = true;
          void this.listener?.onAssign?.(this.assignment());
        }
        const out = this.messages.slice(0, max);
        this.messages = this.messages.slice(max);
        return pack(out, lead);
      };
    }
  }
  async connect(): Promise<void> {}
  subscribe(_topics: string[], listener?: RebalanceListener): void { this.listener = listener; }
  assignment() { return Array.from({ length: this.partitions }, (_, partition) => ({ topic: this.topic, partition })); }
  async consume(max: number): Promise<KafkaMessage[]> {
    if (!this.assigned) {
      this.assigned = true;
      await this.listener?.onAssign?.(this.assignment());
    }
    await new Promise((r) => setImmediate(r));
    const out = this.messages.slice(0, max);
    this.messages = this.messages.slice(max);
    return out;
  }
  get drained(): boolean { return this.assigned && this.messages.length === 0; }
  /** A message arriving later (the next consume() or take returns it). */
  push(m: KafkaMessage): void { this.messages.push(m); }
  pause(): void {}
  resume(): void {}
  async seek(): Promise<void> {}
  async commit(): Promise<void> {}
  async committed() { return []; }
  async disconnect(): Promise<void> {}
}

const event = fc.record({
  driverId: fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 }), lat: fc.double({ min: -90, max: 90, noNaN: true }),
  lon: fc.double({ min: -180, max: 180, noNaN: true }), ts: fc.integer({ min: 0, max: 2e12 }), speedKmh: fc.double(),
});
const frame = fc.array(event, { maxLength: 30 }).map((recs) => encodeFrame(DRIVER_LOCATION, recs));
const corruptFrame = fc.tuple(frame, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 3 }), fc.option(fc.nat()))
  .map(([f, flips, cut]) => {
    const g = Buffer.from(f);
    for (const [at, v] of flips) if (g.length > 4) g[4 + (at % (g.length - 4))] = v; // the magic stays: it is a frame
    return cut === null ? g : g.subarray(0, Math.max(4, cut % (g.length + 1)));
  });
const value: fc.Arbitrary<Buffer | null> = fc.oneof(
  event.map((e) => Buffer.from(JSON.stringify(e))),
  fc.json({ maxDepth: 1 }).map((t) => Buffer.from(t)),
  fc.string({ unit: "binary", maxLength: 40 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
  fc.constant(Buffer.alloc(0)), fc.constant(null),
  fc.string({ unit: "grapheme-ascii", minLength: MAX_JSON, maxLength: MAX_JSON + 40 }).map((s) => Buffer.from(JSON.stringify({ driverId: s }))),
  frame, corruptFrame,
);

/** The reference: how many records a message holds, or null when it must become a dead letter. */
function recordsOf(v: Buffer | null): number | null {
  if (v && v.length >= 4 && v.readUInt32LE(0) === 0x31465452) {
    const n = 1 << 12;
    const cols = { driverId: new Uint32Array(n), lat: new Float64Array(n), lon: new Float64Array(n), ts: new Float64Array(n), speedKmh: new Float64Array(n) };
    try {
      return decodeFrameInto(DRIVER_LOCATION, v, 0, n, cols, 0, new Interner(), []);
    } catch (err) {
      expect(err).toBeInstanceOf(DecodeError);
      return null;
    }
  }
  if (!v || v.length === 0 || v.length > MAX_JSON) return null;
  try { JSON.parse(v.toString("utf8")); return 1; } catch { return null; }
}

/** What a source made of the messages: every record's columns in order, by partition, and its dead letters. */
interface Read {
  records: number[][][];
  dead: Array<{ partition: number; offset: number; error: string; value: string; key: string | null }>;
}

describe("Kafka source, property-based", () => {
  const key = fc.option(fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)));
  const lead = fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b));
  for (const packed of [false, true]) {
    it(`every message is all its records or one dead letter; nothing crashes, nothing is read twice (${packed ? "packed takes" : "consume()"})`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(fc.tuple(value, fc.nat({ max: 1 }), key, fc.nat({ max: 40 })), { maxLength: 30 }), fc.integer({ min: 1, max: 40 }), lead, async (msgs, batch, before) => {
        const topic = "t";
        const next = [0, 0];
        const messages: KafkaMessage[] = msgs.map(([v, partition, k, dt]) => ({ topic, partition, offset: next[partition]!++, key: k, value: v, timestamp: 1_700_000_000_000 + dt }));
        const read = await readThrough(messages, batch, packed, before);
        // The same as through consume(), field by field: a packed take's neighbours never leak in.
        if (packed) expect(read).toEqual(await readThrough(messages, batch, false));
        const { records, dead } = read;
        const offsets = records.map((rs) => rs.map((r) => r[0]!));
        for (let p = 0; p < 2; p++) {
          const mine = messages.filter((m) => m.partition === p);
          const want: number[] = [];
          const wantDead: number[] = [];
          for (const m of mine) {
            const n = recordsOf(m.value);
            if (n === null) wantDead.push(m.offset);
            else for (let i = 0; i < n; i++) want.push(m.offset);
          }
          expect(offsets[p]).toEqual(want);
          expect(dead.filter((d) => d.partition === p).map((d) => d.offset)).toEqual(wantDead);
          for (const d of dead.filter((x) => x.partition === p)) {
            const m = mine.find((x) => x.offset === d.offset)!;
            expect(d.value).toBe((m.value ?? Buffer.alloc(0)).toString("hex"));
            expect(d.key).toBe(m.key ? m.key.toString() : null);
          }
        }
        expect(dead.every((d) => d.error.length > 0)).toBe(true);
        // Each record's entry time (enteredRuns, for its latency) is its message's Kafka timestamp:
        // a batch here spans fewer distinct timestamps than EntryRuns holds, so exactly.
        for (let p = 0; p < 2; p++) {
          const ts = new Map(messages.filter((m) => m.partition === p).map((m) => [m.offset, m.timestamp]));
          expect(records[p]!.map((r) => r.at(-1))).toEqual(records[p]!.map((r) => ts.get(r[0]!)));
        }
      }), FUZZ);
    }, 60_000);
  }
});

describe("Kafka source, the coordinator's idle wait", () => {
  for (const packed of [false, true]) {
    it(`whenData() ends when records are queued, at its timeout, or at close (${packed ? "packed takes" : "consume()"})`, async () => {
      const consumer = new ScriptedConsumer("t", 1, [], packed);
      const source = new KafkaSource({ consumer, topic: "t", partitions: 1, pipeline: driverTracking, maxJsonBytes: MAX_JSON, deadLetter: () => undefined });
      source.start();
      await source.whenData(5); // nothing arrives: its timeout ends it
      let ended = false;
      const waiting = source.whenData(600_000).then(() => { ended = true; });
      await new Promise((r) => setTimeout(r, 20));
      expect(ended).toBe(false); // nothing queued, the timeout far away
      const fix = { driverId: "d1", lat: 52.5, lon: 13.4, ts: 1_700_000_000_000, speedKmh: 30 };
      consumer.push({ topic: "t", partition: 0, offset: 0, key: null, value: Buffer.from(JSON.stringify(fix)), timestamp: Date.now() });
      await waiting; // the record queued ends it (else this test would time out)
      const layout = driverTracking.inputLayout(16);
      expect(source.fill(0, bindColumns(new ArrayBuffer(layout.bytesPerSlot), 0, layout), 16)).toBe(1);
      const atClose = source.whenData(600_000);
      await source.close();
      await atClose;
    });
  }
});

describe("Kafka source, records in flight", () => {
  it("bounds them by the raw messages it keeps: not while only frames came, from the first other message queued, before it is filled", async () => {
    const fix = (i: number) => ({ driverId: `d${i % 7}`, lat: 52.5, lon: 13.4, ts: 1_700_000_000_000 + i, speedKmh: 30 });
    const frameOf = (from: number) => encodeFrame(DRIVER_LOCATION, Array.from({ length: 100 }, (_, i) => fix(from + i)));
    const message = (offset: number, value: Buffer) => ({ topic: "t", partition: 0, offset, key: null, value, timestamp: Date.now() });
    const consumer = new ScriptedConsumer("t", 1, [message(0, frameOf(0)), message(1, frameOf(100))], true);
    const source = new KafkaSource({ consumer, topic: "t", partitions: 1, pipeline: driverTracking, deadLetter: () => undefined });
    // What wraps a Kafka source asks it each time (a DSL topology's inputs, the merged streams).
    const multi = new MultiSource([source]);
    // Everything handed out is queued (the source's consume loop runs between these turns).
    const queuedAll = async () => {
      while (!consumer.drained) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    };
    expect(source.maxInFlight).toBeGreaterThanOrEqual(1 << 20);
    source.start();
    await queuedAll();
    const layout = driverTracking.inputLayout(256);
    const cols = bindColumns(new ArrayBuffer(layout.bytesPerSlot), 0, layout);
    expect(source.fill(0, cols, 256)).toBe(200);
    expect(source.maxInFlight).toBeGreaterThanOrEqual(1 << 20); // frames only: none kept raw
    consumer.push(message(2, Buffer.from(JSON.stringify(fix(200)))));
    await queuedAll();
    expect(source.maxInFlight).toBe(1 << 16); // queued, not yet filled: already the raw bound
    expect(multi.maxInFlight).toBe(1 << 16);
    expect(source.fill(0, cols, 256)).toBe(1);
    consumer.push(message(3, frameOf(201)));
    await queuedAll();
    expect(source.maxInFlight).toBe(1 << 16); // it keeps that message: the bound stays
    await source.close();
  });
});

/** Reads every message through a KafkaSource in batches of `batch`, as a coordinator would. */
async function readThrough(messages: KafkaMessage[], batch: number, packed: boolean, lead?: Buffer): Promise<Read> {
  const topic = "t";
  const consumer = new ScriptedConsumer(topic, 2, messages, packed, lead);
  const dead: Read["dead"] = [];
  const source = new KafkaSource({
    consumer, topic, partitions: 2, pipeline: driverTracking, maxJsonBytes: MAX_JSON, consumeBatch: 7,
    deadLetter: (t: string, _v: Buffer, _k: string | null, headers: KafkaHeader[]) => {
      expect(t).toBe("t.dlq");
      const h = Object.fromEntries(headers.map((x) => [x.key, x.value.toString()]));
      dead.push({ partition: Number(h["riptide.partition"]), offset: Number(h["riptide.offset"]), error: h["riptide.error"]!, value: _v.toString("hex"), key: _k });
    },
  });
  source.start();
  while (!consumer.drained) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  const layout = driverTracking.inputLayout(batch);
  const cols = bindColumns(new ArrayBuffer(layout.bytesPerSlot), 0, layout);
  const names = ["_off", "driverId", "lat", "lon", "ts", "speedKmh"];
  const records: number[][][] = [[], []];
  const runTs = new Float64Array(ENTRY_RUNS);
  const runCount = new Float64Array(ENTRY_RUNS);
  for (let p = 0; p < 2; p++) {
    for (let guard = 0; guard < 10_000; guard++) {
      const n = source.fill(p, cols, batch);
      if (n === 0) break;
      // Each record's entry time, from the fill's runs (the last field of its row).
      const k = source.enteredRuns(p, runTs, runCount, 0, ENTRY_RUNS);
      const entered: number[] = [];
      for (let r = 0; r < k; r++) for (let c = 0; c < runCount[r]!; c++) entered.push(runTs[r]!);
      expect(entered.length).toBe(n);
      // Driver ids by name (each source has its own string table); NaN as null (toEqual).
      for (let i = 0; i < n; i++) {
        records[p]!.push([...names.map((f) => {
          const x = cols[f]![i]!;
          return f === "driverId" ? (source.idName(f, x) as unknown as number) : Number.isNaN(x) ? (null as unknown as number) : x;
        }), entered[i]!]);
      }
    }
    const mine = messages.filter((m) => m.partition === p);
    if (mine.length > 0) expect(source.position(p)).toBe(mine.at(-1)!.offset + 1);
  }
  await source.close();
  expect(source.deadLetters).toBe(dead.length);
  return { records, dead };
}

describe("riptide run --brokers on bad input", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("sends what cannot be decoded to the DLQ and what is invalid to O.invalid, each with its reason", async () => {
    const input = uniqueName("bad-in");
    const output = uniqueName("bad-out");
    // Larger messages than the broker's default, so that a too-large JSON message can reach riptide.
    const admin = factory.createAdmin({ brokers: BROKERS });
    await admin.connect();
    await admin.createTopic(input, 1, 1, { "max.message.bytes": "4000000" });
    await admin.disconnect();
    void createTopic;
    const good = (i: number) => ({ driverId: `d${i % 7}`, lat: 37.77 + i * 1e-5, lon: -122.42, ts: 1_700_000_000_000 + i * 500, speedKmh: 30 });
    const frameOf = (recs: Array<Record<string, unknown>>) => encodeFrame(DRIVER_LOCATION, recs);
    const badVersion = frameOf([good(0)]); badVersion.writeUInt16LE(2, 4);
    const badFields = frameOf([good(0)]); badFields.writeUInt16LE(9, 6);
    const badLength = frameOf([good(0), good(1)]).subarray(0, 40);
    const wrapped = frameOf([good(0), good(1)]); wrapped.writeUInt32LE(2 ** 30 + 2, 8);
    const badIndex = frameOf([good(0), good(1), good(2)]);
    badIndex.writeUInt32LE(77, ((20 + badIndex.readUInt32LE(16) + 7) & ~7) + 2 * 4);
    const dlqCases: Array<[Buffer, RegExp]> = [
      [Buffer.from("{not json"), /not valid JSON or a Riptide frame/],
      [Buffer.from('{"lat":NaN}'), /not valid JSON or a Riptide frame/],
      [Buffer.alloc(0), /empty message/],
      [Buffer.from(JSON.stringify({ driverId: "x".repeat(1_200_000), lat: 1, lon: 1, ts: 1 })), /larger than the 1048576-byte limit for one JSON event/],
      [badVersion, /unknown frame version 2/],
      [badFields, /frame has 9 fields/],
      [badLength, /does not match its header/],
      [wrapped, /does not match its header/],
      [badIndex, /frame record 2 refers to string 77/],
      [Buffer.from([0x52, 0x54, 0x46, 0x31, 1, 0]), /shorter than its 20-byte header/],
    ];
    const invalidCases: Array<[Buffer, RegExp]> = [
      [Buffer.from(JSON.stringify({ ...good(1), lat: "37.7" })), /^lat must be a finite number$/],
      [Buffer.from('{"driverId":"d1","lat":1e999,"lon":1,"ts":1700000000000}'), /^lat must be a finite number$/],
      [Buffer.from(JSON.stringify({ ...good(1), driverId: 5 })), /^driverId must be a non-empty string$/],
      [Buffer.from("[1,2]"), /^driverId must be a non-empty string$/],
      [frameOf([{ ...good(1), lat: NaN }]), /^lat must be a finite number$/],
      [frameOf([{ ...good(1), lon: Infinity }]), /^lon must be a finite number$/],
      [frameOf([{ ...good(1), ts: -Infinity }]), /^ts must be a finite number$/],
    ];
    const messages: Array<{ value: Buffer | string; partition: number }> = [];
    let goods = 0;
    const bad = [...dlqCases, ...invalidCases];
    for (let i = 0; i < 300; i++) {
      messages.push({ value: JSON.stringify(good(i)), partition: 0 });
      goods++;
      if (i % 17 === 3 && bad.length > 0) messages.push({ value: bad.shift()![0], partition: 0 });
    }
    for (const [v] of bad) messages.push({ value: v, partition: 0 });
    // A producer that may send messages up to the topic's limit.
    const producer = factory.createProducer({ brokers: BROKERS, extra: { "message.max.bytes": 4_000_000 } });
    let delivered = 0;
    const failures: string[] = [];
    producer.onDelivery((err) => { if (err) failures.push(err.message); else delivered++; });
    await producer.connect();
    for (const m of messages) producer.produce(input, 0, typeof m.value === "string" ? Buffer.from(m.value) : m.value, null);
    const deadline = Date.now() + 60_000;
    while (delivered + failures.length < messages.length && Date.now() < deadline) { producer.poll(); await new Promise((r) => setTimeout(r, 5)); }
    await producer.disconnect();
    expect(failures).toEqual([]);
    expect(delivered).toBe(messages.length);
    void produceAll;

    const run = riptide(["run", "--brokers", BROKERS, "--input-topic", input, "--output-topic", output, "--group", uniqueName("g"),
      "--workers", "1", "--stop-when-idle", "3", "--json", "--quiet"]);
    const killer = setTimeout(() => run.child.kill("SIGKILL"), 90_000);
    const code = await run.exited;
    clearTimeout(killer);
    expect(code, run.stderr.slice(-3000)).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(summary.deadLetters).toBe(dlqCases.length);
    expect(summary.outputs.invalid).toBe(invalidCases.length);

    const dlq = await readAll([`${input}.dlq`], 3000);
    expect(dlq).toHaveLength(dlqCases.length);
    const errors = dlq.map((m) => m.headers!.find((h) => h.key === "riptide.error")!.value.toString());
    for (const [, reason] of dlqCases) expect(errors.filter((e) => reason.test(e)).length, String(reason)).toBeGreaterThan(0);
    // The dead letter is the message as it was.
    const empty = dlq.find((m) => /empty message/.test(m.headers!.find((h) => h.key === "riptide.error")!.value.toString()))!;
    expect(empty.value?.length ?? 0).toBe(0);

    const invalid = (await readAll([`${output}.invalid`], 3000)).map((m) => JSON.parse(m.value!.toString()) as { reason: string });
    expect(invalid).toHaveLength(invalidCases.length);
    for (const [, reason] of invalidCases) expect(invalid.filter((o) => reason.test(o.reason)).length, String(reason)).toBeGreaterThan(0);
    const windows = (await readAll([output], 3000)).map((m) => JSON.parse(m.value!.toString()) as { count: number });
    expect(windows.reduce((a, w) => a + w.count, 0)).toBe(goods);
  }, 180_000);
});
