/**
 * TopologyTestDriver, as in Kafka Streams: runs a compiled plan on the calling thread with no broker,
 * through the same executor the shard workers run (executor.ts) and the same event-time rules
 * (time.ts): per-partition stream time, watermark = minimum over the non-idle partitions of the
 * stream topics, idle partitions released after `idleTimeoutMs` of the driver's wall clock.
 *
 *   pipeInput ─► timestamp extractor ─► stream time / watermark ─► executor ─► output queues ◄─ read…
 */
import { OptionRangeError, OptionTypeError } from "../errors.js";
import { type ExecutorOptions, type StoreReport, TopologyExecutor } from "./executor.js";
import type { KeyValue, Topology } from "./plan.js";
import { StreamTimeTracker, type TimeOptions } from "./time.js";
import { Windowed } from "./windows.js";

export interface TestDriverOptions extends TimeOptions, ExecutorOptions {
  /** The driver's wall clock at start (ms). @default 0 */
  initialWallClockTimeMs?: number;
}

/** An output record. For windowed keys, `key` is the record key and the window is given apart. */
export interface TestRecord<K = unknown, V = unknown> {
  key: K;
  value: V;
  timestamp: number;
  /** Window start, for windowed keys. */
  windowStart?: number;
  /** Window end (exclusive for time windows, the last timestamp for sliding and session windows). */
  windowEnd?: number;
}

export class TopologyTestDriver {
  private readonly executor: TopologyExecutor;
  private readonly time: StreamTimeTracker;
  private readonly queues = new Map<string, { key: unknown; value: unknown; timestamp: number }[]>();
  private wall: number;
  private closed = false;

  constructor(readonly topology: Topology, options: TestDriverOptions = {}) {
    if (options.idleTimeoutMs !== undefined && !(options.idleTimeoutMs >= 0)) {
      throw new OptionRangeError("idleTimeoutMs", `idleTimeoutMs must be a number ≥ 0, got ${options.idleTimeoutMs}`);
    }
    this.time = new StreamTimeTracker(options);
    this.wall = options.initialWallClockTimeMs ?? 0;
    this.executor = new TopologyExecutor(topology, (topic, key, value, timestamp) => {
      let q = this.queues.get(topic);
      if (!q) this.queues.set(topic, (q = []));
      q.push({ key, value, timestamp });
    }, options);
  }

  createInputTopic<K = unknown, V = unknown>(name: string): TestInputTopic<K, V> {
    if (!this.executor.reads(name)) throw new OptionRangeError("topic", `the topology does not read topic ${JSON.stringify(name)} (it reads ${this.topology.sourceTopics.join(", ")})`);
    return new TestInputTopic<K, V>(this, name);
  }

  createOutputTopic<K = unknown, V = unknown>(name: string): TestOutputTopic<K, V> {
    if (typeof name !== "string" || name.length === 0) throw new OptionTypeError("topic", "createOutputTopic() takes a topic name");
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = []));
    return new TestOutputTopic<K, V>(q);
  }

  /** @internal */
  pipe(topic: string, partition: number, key: unknown, value: unknown, timestamp: number): void {
    if (this.closed) throw new OptionRangeError("driver", "this TopologyTestDriver is closed");
    const ex = this.executor;
    if (ex.isTableTopic(topic)) {
      ex.process(topic, key, value, timestamp, ex.watermark);
      return;
    }
    const t = ex.eventTime(topic, key, value, timestamp);
    if (Number.isNaN(t)) {
      ex.invalid(topic, key, value, timestamp);
      return;
    }
    const wm = this.time.observe(this.time.partition(`${topic}-${partition}`), t, this.wall);
    ex.process(topic, key, value, t, wm);
  }

  /** Moves the driver's wall clock: idle partitions stop holding the watermark (and, with wallClockClose, it follows the clock). */
  advanceWallClockTime(ms: number): void {
    if (typeof ms !== "number" || !(ms >= 0)) throw new OptionRangeError("ms", `advanceWallClockTime() takes milliseconds ≥ 0, got ${ms}`);
    this.wall += ms;
    this.executor.advance(this.time.watermark(this.wall));
  }

  /** End of a bounded input: every open window, session and join window closes and emits. */
  flush(): void {
    this.executor.flush();
  }

  /** The shard's watermark. */
  get watermark(): number {
    return this.executor.watermark;
  }

  /** Stream time of each input partition (`topic-partition`). */
  streamTimes(): Record<string, number> {
    return this.time.streamTimes();
  }

  /** Every state store with its entries and memory. */
  getStateStores(): StoreReport[] {
    return this.executor.stores();
  }

  /** Windows of a key in a time-window store (open ones, and closed ones kept by retentionMs). */
  fetchWindows(store: string, key: unknown, from?: number, to?: number): { start: number; end: number; value: unknown }[] {
    return this.executor.fetchWindows(store, key, from, to);
  }

  close(): void {
    this.closed = true;
  }
}

export class TestInputTopic<K, V> {
  private currentTime = 0;
  constructor(private readonly driver: TopologyTestDriver, readonly name: string) {}

  /** One record; the timestamp defaults to the topic's current time (the last one given). */
  pipeInput(key: K, value: V, timestampMs?: number, partition = 0): void {
    if (timestampMs !== undefined) this.currentTime = timestampMs;
    if (!Number.isInteger(partition) || partition < 0) throw new OptionRangeError("partition", `partition must be an integer ≥ 0, got ${partition}`);
    this.driver.pipe(this.name, partition, key, value, this.currentTime);
  }

  pipeKeyValueList(records: readonly KeyValue<K, V>[], startTimestampMs?: number, advanceMs = 0): void {
    if (startTimestampMs !== undefined) this.currentTime = startTimestampMs;
    for (const r of records) {
      this.pipeInput(r.key, r.value, this.currentTime);
      this.currentTime += advanceMs;
    }
  }
}

export class TestOutputTopic<K, V> {
  constructor(private readonly queue: { key: unknown; value: unknown; timestamp: number }[]) {}

  isEmpty(): boolean {
    return this.queue.length === 0;
  }

  getQueueSize(): number {
    return this.queue.length;
  }

  readRecord(): TestRecord<K, V> {
    const r = this.queue.shift();
    if (!r) throw new OptionRangeError("topic", "the output topic is empty");
    return toRecord(r);
  }

  /** Key-value pairs; a windowed key stays a `Windowed` ({ key, window: { start, end } }). */
  readKeyValuesToList(): KeyValue<K, V>[] {
    return this.queue.splice(0).map((r) => ({ key: r.key as K, value: r.value as V }));
  }

  readValuesToList(): V[] {
    return this.queue.splice(0).map((r) => r.value as V);
  }

  readRecordsToList(): TestRecord<K, V>[] {
    return this.queue.splice(0).map((r) => toRecord(r));
  }

  /** Latest value per key (windowed keys as `key@start/end` strings). */
  readKeyValuesToMap(): Map<unknown, V> {
    const m = new Map<unknown, V>();
    for (const r of this.queue.splice(0)) m.set(r.key instanceof Windowed ? r.key.toString() : r.key, r.value as V);
    return m;
  }
}

function toRecord<K, V>(r: { key: unknown; value: unknown; timestamp: number }): TestRecord<K, V> {
  if (r.key instanceof Windowed) {
    return { key: r.key.key as K, value: r.value as V, timestamp: r.timestamp, windowStart: r.key.window.start, windowEnd: r.key.window.end };
  }
  return { key: r.key as K, value: r.value as V, timestamp: r.timestamp };
}
