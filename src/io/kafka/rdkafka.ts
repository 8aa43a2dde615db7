/**
 * The node-rdkafka (librdkafka) implementation of the Kafka client interface in `./client.ts`.
 *
 * node-rdkafka is a native module: it is loaded lazily, on the first client created, so that the
 * rest of the engine (generator and file sources) works where it is not built. It must only be
 * loaded on the main thread (see DESIGN.md); loading it in a worker thread is refused.
 */
import { createRequire } from "node:module";
import { isMainThread } from "node:worker_threads";
import type * as RdKafka from "node-rdkafka";
import {
  defaultBrokers,
  KafkaClientLoadError,
  KafkaError,
  type ClusterMetadata,
  type CommittedOffset,
  type DeliveryReport,
  type KafkaAdminClient,
  type KafkaAdminOptions,
  type KafkaClientFactory,
  type KafkaClientOptions,
  type KafkaConsumerClient,
  type KafkaConsumerOptions,
  type KafkaHeader,
  type KafkaMessage,
  type KafkaProducerClient,
  type KafkaProducerOptions,
  PACKED_STRIDE,
  PRODUCE_STRIDE,
  REPORT_STRIDE,
  type PackedMessages,
  type PackedProducerClient,
  type RebalanceListener,
  type TopicPartition,
  type TopicPartitionOffset,
  type WatermarkOffsets,
} from "./client.js";
import { deleteRecords } from "./delete-records.js";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

type RdKafkaModule = typeof RdKafka;
type RdConfig = Record<string, string | number | boolean | ((...args: never[]) => unknown)>;

// librdkafka error codes used here (rd_kafka_resp_err_t).
const ERR_REVOKE_PARTITIONS = -174;
const ERR_ASSIGN_PARTITIONS = -175;
const ERR_QUEUE_FULL = -184;
const ERR_TIMED_OUT = -185;
const ERR_UNKNOWN_TOPIC_OR_PART = 3;
const ERR_TOPIC_ALREADY_EXISTS = 36;
/** Codes after which the same call may succeed. */
const RETRIABLE = new Set([
  -195 /* transport */, -187 /* all brokers down */, -185 /* timed out */, -184 /* queue full */,
  -180 /* wait coordinator */, -178 /* in progress */, 3 /* unknown topic or partition */,
  5 /* leader not available */, 6 /* not leader */, 7 /* request timed out */, 14 /* coordinator loading */,
  15 /* coordinator not available */, 16 /* not coordinator */, 27 /* rebalance in progress */,
  // A commit during a rebalance fails with these; the partitions' new owner re-reads from the
  // last successful commit, so retrying (or skipping) this commit is safe.
  22 /* illegal generation */, 25 /* unknown member id */,
]);

let loaded: RdKafkaModule | undefined;

/**
 * Loads node-rdkafka once. Throws {@link KafkaClientLoadError} (code `ERR_KAFKA_CLIENT`) when it
 * is missing, its native build is absent or broken, or this is not the main thread.
 */
export function loadRdKafka(): RdKafkaModule {
  if (loaded) return loaded;
  if (!isMainThread) {
    throw new KafkaClientLoadError(
      "node-rdkafka must not be loaded in a worker thread (it is not thread-safe there); keep Kafka I/O on the main thread",
    );
  }
  try {
    const require = createRequire(import.meta.url);
    loaded = require("node-rdkafka") as RdKafkaModule;
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new KafkaClientLoadError(
      `cannot load node-rdkafka (${why}). It is a native module built at install time: run \`npm install\` ` +
        "(needs a C/C++ toolchain, make and python3), or `npm rebuild node-rdkafka` after changing Node versions. " +
        "Without it, Kafka sources and sinks are unavailable.",
      e,
    );
  }
  return loaded;
}

/** native-bindings/kafka (src/take.cc): a take of the consumer's prefetched messages, packed. */
interface TakeAddon {
  take(client: unknown, max: number, meta: Float64Array): Buffer | undefined;
  META_STRIDE: number;
  /** src/produce.cc: records from..from+count of `data`, enqueued; -1 when not connected. */
  produce?(client: unknown, topic: string, partition: number, data: Buffer, meta: Float64Array, from: number, count: number): number;
  PRODUCE_STRIDE?: number;
  /** src/packed-producer.cc: a producer whose delivery reports are numbers. */
  PackedProducer?: new (conf: string[]) => NativePackedProducer;
  REPORT_STRIDE?: number;
  errString?(code: number): string;
}

interface NativePackedProducer {
  produce(topic: string, partition: number, data: Buffer, meta: Float64Array, from: number, count: number): number;
  poll(out: Float64Array): number;
  pending(): number;
  /** [code, message, fatal, …] */
  errors(): Array<number | string | boolean>;
  close(timeoutMs: number): void;
}

let takeAddon: TakeAddon | null | undefined;

/**
 * The packed take, when `native-bindings/kafka` is built (scripts/build-native.mjs, after
 * node-rdkafka) and `RIPTIDE_KAFKA_TAKE` is not `0`; null otherwise (consume() is used).
 */
export function loadTakeAddon(): TakeAddon | null {
  if (takeAddon !== undefined) return takeAddon;
  takeAddon = null;
  if (process.env.RIPTIDE_KAFKA_TAKE === "0") return null;
  try {
    let dir = dirname(fileURLToPath(import.meta.url));
    for (let i = 0; i < 6 && dir !== dirname(dir); i++, dir = dirname(dir)) {
      const file = join(dir, "native-bindings", "kafka", "build", "Release", "riptide_kafka.node");
      if (!existsSync(join(dir, "package.json")) || !existsSync(file)) continue;
      const addon = createRequire(import.meta.url)(file) as TakeAddon;
      if (addon.META_STRIDE === PACKED_STRIDE) takeAddon = addon;
      break;
    }
  } catch {
    takeAddon = null; // built for another node-rdkafka or Node: consume() it is
  }
  return takeAddon;
}

const EMPTY = Buffer.alloc(0);

/** Room for this many messages per take (its metadata array is allocated once per consumer). */
const TAKE_MAX = 5000;

/** node-rdkafka's errors are plain objects or Errors carrying a numeric `code`. */
interface RdError {
  message?: string;
  code?: number;
  isFatal?: boolean;
  isRetriable?: boolean;
}

function toKafkaError(e: unknown, what: string, context: KafkaError["context"] = {}): KafkaError {
  if (e instanceof KafkaError) return e;
  const re = (typeof e === "object" && e !== null ? e : {}) as RdError;
  const code = typeof re.code === "number" ? re.code : undefined;
  const msg = re.message ?? String(e);
  return new KafkaError(`${what}: ${msg}${code !== undefined ? ` (librdkafka code ${code})` : ""}`, {
    kafkaCode: code,
    retriable: re.isRetriable === true || (code !== undefined && RETRIABLE.has(code)),
    fatal: re.isFatal === true,
    context,
    cause: e,
  });
}

function errorCode(e: unknown): number | undefined {
  const c = (e as RdError | null | undefined)?.code;
  return typeof c === "number" ? c : undefined;
}

/**
 * librdkafka properties the user set for the whole process (`--kafka-config`, like Kafka Streams'
 * consumer/producer configs): `common` for every client, `consumer` and `producer` for those only.
 * Applied after Riptide's own settings, so they win; the properties Riptide's guarantees rest on
 * are refused where they are parsed (src/cli/kafka-config.ts).
 */
export interface UserKafkaConfig {
  common: Record<string, string>;
  consumer: Record<string, string>;
  producer: Record<string, string>;
}

let userConfig: UserKafkaConfig = { common: {}, consumer: {}, producer: {} };

/** Sets the process's user librdkafka properties (main thread, before clients are created). */
export function setUserKafkaConfig(c: UserKafkaConfig): void {
  userConfig = c;
}

/**
 * Checks the properties against librdkafka itself (a client object is built and dropped; nothing
 * connects): returns librdkafka's message for the first it refuses, else undefined.
 */
export function checkUserKafkaConfig(c: UserKafkaConfig): string | undefined {
  const lib = loadRdKafka();
  try {
    for (const [kind, own] of [["consumer", c.consumer], ["producer", c.producer]] as const) {
      const { global, topic } = splitConfig({ "bootstrap.servers": "127.0.0.1:1", ...(kind === "consumer" && { "group.id": "riptide-config-check" }), ...c.common, ...own });
      if (kind === "consumer") new lib.KafkaConsumer(global as RdKafka.ConsumerGlobalConfig, topic as RdKafka.ConsumerTopicConfig);
      else new lib.Producer(global as RdKafka.ProducerGlobalConfig, topic as RdKafka.ProducerTopicConfig);
    }
  } catch (e) {
    return String((e as Error)?.message ?? e);
  }
  return undefined;
}

function commonConfig(opts: KafkaClientOptions): RdConfig {
  return {
    "bootstrap.servers": opts.brokers ?? defaultBrokers(),
    "client.id": opts.clientId ?? "riptide",
    "socket.nagle.disable": true,
    // Surface librdkafka's error events ('event.error').
    event_cb: true,
  };
}

/**
 * librdkafka topic-level properties. node-rdkafka always installs its own default topic
 * configuration, which replaces topic-level properties given in the global one: these must go
 * into the topic configuration or they are silently ignored (e.g. `auto.offset.reset`).
 */
const TOPIC_LEVEL = new Set([
  "request.required.acks", "acks", "request.timeout.ms", "message.timeout.ms", "delivery.timeout.ms",
  "queuing.strategy", "produce.offset.report", "partitioner", "partitioner_cb", "msg_order_cmp",
  "compression.type", "compression.level", "auto.commit.enable", "auto.commit.interval.ms",
  "auto.offset.reset", "offset.store.path", "offset.store.sync.interval.ms", "offset.store.method",
  "consume.callback.max.messages",
]);

/** Splits one property map into librdkafka's global and default-topic configurations. */
function splitConfig(all: RdConfig): { global: RdConfig; topic: RdConfig } {
  const global: RdConfig = {};
  const topic: RdConfig = {};
  for (const [k, v] of Object.entries(all)) {
    if (v === undefined) continue;
    (TOPIC_LEVEL.has(k) ? topic : global)[k] = v;
  }
  return { global, topic };
}

function tp(p: TopicPartition): TopicPartition {
  return { topic: p.topic, partition: p.partition };
}

/** Runs `fn(cb)` and rejects if its callback does not come within `ms`. */
function withTimeout<T>(ms: number, what: string, fn: (done: (err: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      reject(new KafkaError(`${what}: no answer within ${ms} ms`, { kafkaCode: ERR_TIMED_OUT, retriable: true }));
    }, ms);
    fn((err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(toKafkaError(err, what));
      else resolve(value as T);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Consumer
// ---------------------------------------------------------------------------------------------

/** A group consumer on node-rdkafka (eager rebalancing with the range/roundrobin assignors). */
export class RdKafkaConsumer implements KafkaConsumerClient {
  private readonly c: RdKafka.KafkaConsumer;
  private readonly opts: KafkaConsumerOptions;
  private listener: RebalanceListener = {};
  private assigned: TopicPartition[] = [];
  private inflight: Promise<unknown> | null = null;
  /** Rebalance events are handled one after another, in order. */
  private rebalanceChain: Promise<void> = Promise.resolve();
  private fatal: KafkaError | null = null;
  /** disconnect() was called: no new consume(); commits (from onRevoke) still allowed. */
  private closing = false;
  /** takeNow()'s metadata, reused by every take. */
  private takeMeta: Float64Array | undefined;
  private closed = false;

  constructor(lib: RdKafkaModule, opts: KafkaConsumerOptions) {
    if (!opts.groupId) throw new KafkaError("consumer: groupId is required", { context: { option: "groupId" } });
    this.opts = opts;
    const session = opts.sessionTimeoutMs ?? 10_000;
    const conf: RdConfig = {
      ...commonConfig(opts),
      "group.id": opts.groupId,
      // Offsets are committed explicitly, only once outputs are acknowledged.
      "enable.auto.commit": false,
      "enable.auto.offset.store": false,
      "auto.offset.reset": opts.autoOffsetReset ?? "earliest",
      // Eager protocol: a rebalance revokes everything, then assigns. Simple and correct with
      // per-partition state handed between workers.
      "partition.assignment.strategy": "range,roundrobin",
      "session.timeout.ms": session,
      "heartbeat.interval.ms": Math.max(100, Math.min(3000, Math.floor(session / 3))),
      "enable.partition.eof": false,
      // Fetch: answered as soon as there is data (fetch.min.bytes 1024 held 100 events/s ~45 ms),
      // else after 100 ms; what is prefetched is bounded below.
      "fetch.min.bytes": opts.fetchMinBytes ?? 1,
      "fetch.wait.max.ms": opts.fetchMaxWaitMs ?? 100,
      // queued.min.messages stays at its default (100000): 20000 cut consumption to a third here.
      // Large fetches: 1 M small JSON messages consumed at 100 k/s with the defaults, 168 k/s with these.
      "fetch.message.max.bytes": 8 << 20,
      "fetch.max.bytes": 50 << 20,
      "queued.max.messages.kbytes": opts.maxPrefetchKBytes ?? 32_768,
      // Once the prefetch queue is over either bound, librdkafka stops fetching a partition for
      // this long (default 1000 ms) even if the application empties the queue meanwhile: reading
      // a backlog, the queue ran dry for 0.6–0.75 s at a time, several times per 20 M frame records.
      "fetch.queue.backoff.ms": opts.fetchQueueBackoffMs ?? 10,
      "isolation.level": opts.isolationLevel ?? "read_uncommitted",
      ...opts.extra,
      ...userConfig.common, ...userConfig.consumer,
      // Ours, always: the rebalance protocol runs through `onRebalance`.
      rebalance_cb: (err: RdError, assignment: TopicPartition[]) => this.onRebalance(err, assignment),
    };
    const { global, topic } = splitConfig(conf);
    this.c = new lib.KafkaConsumer(global as RdKafka.ConsumerGlobalConfig, topic as RdKafka.ConsumerTopicConfig);
    this.c.on("event.error", (e: RdKafka.LibrdKafkaError) => this.reportError(toKafkaError(e, "consumer")));
  }

  private reportError(err: KafkaError): void {
    if (err.fatal && !this.fatal) this.fatal = err;
    this.opts.onError?.(err);
  }

  private check(what: string, whileClosing = false): void {
    if (this.fatal) throw this.fatal;
    if (this.closed || (this.closing && !whileClosing)) throw new KafkaError(`${what}: the consumer is disconnected`);
  }

  private onRebalance(err: RdError, assignment: TopicPartition[]): void {
    const code = errorCode(err);
    const parts = (assignment ?? []).map(tp);
    this.rebalanceChain = this.rebalanceChain.then(async () => {
      if (code === ERR_ASSIGN_PARTITIONS) {
        let starts: TopicPartitionOffset[] | void = undefined;
        try {
          starts = await this.listener.onAssign?.(parts);
        } catch (e) {
          this.reportError(toKafkaError(e, "onAssign listener"));
        }
        const at = new Map<string, number>();
        if (Array.isArray(starts)) for (const s of starts) at.set(`${s.topic}\u0000${s.partition}`, s.offset);
        try {
          this.c.assign(parts.map((p) => ({ ...p, offset: at.get(`${p.topic}\u0000${p.partition}`) })) as RdKafka.Assignment[]);
          this.assigned = parts;
          // librdkafka keeps a partition's pause flag through a revoke: one paused when it was
          // revoked and assigned back would never be fetched again (a Kafka consumer starts every
          // newly assigned partition unpaused; its listeners expect that).
          if (parts.length > 0) this.c.resume(parts.map(tp));
        } catch (e) {
          if (!this.closed) this.reportError(toKafkaError(e, "assign"));
        }
      } else {
        // Revoke (or a rebalance error, after which librdkafka expects an unassign too).
        if (code !== ERR_REVOKE_PARTITIONS) this.reportError(toKafkaError(err, "rebalance"));
        try {
          const revoked = parts.length > 0 ? parts : this.assigned.slice();
          if (revoked.length > 0) await this.listener.onRevoke?.(revoked);
        } catch (e) {
          this.reportError(toKafkaError(e, "onRevoke listener"));
        }
        this.assigned = [];
        try {
          this.c.unassign();
        } catch (e) {
          if (!this.closed) this.reportError(toKafkaError(e, "unassign"));
        }
      }
    }).catch((e: unknown) => this.reportError(toKafkaError(e, "rebalance")));
  }

  connect(): Promise<void> {
    const timeout = this.opts.connectTimeoutMs ?? 30_000;
    return withTimeout<void>(timeout + 1000, "consumer connect", (done) => {
      this.c.connect({ allTopics: false, timeout }, (err) => done(err));
    });
  }

  subscribe(topics: string[], listener: RebalanceListener = {}): void {
    this.check("subscribe");
    this.listener = listener;
    try {
      if (this.c.subscription().length > 0) this.c.unsubscribe();
      this.c.subscribe(topics);
    } catch (e) {
      throw toKafkaError(e, `subscribe ${topics.join(",")}`);
    }
  }

  assignment(): TopicPartition[] {
    return this.assigned.slice();
  }

  /** The node-rdkafka consumer (for sendOffsetsToTransaction's group metadata). */
  get native(): RdKafka.KafkaConsumer {
    return this.c;
  }

  consume(maxMessages: number, timeoutMs?: number): Promise<KafkaMessage[]> {
    try {
      this.check("consume");
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.inflight) return Promise.reject(new KafkaError("consume: the previous consume() has not finished"));
    if (!(maxMessages >= 1)) return Promise.reject(new KafkaError(`consume: maxMessages must be >= 1, got ${maxMessages}`));
    this.c.setDefaultConsumeTimeout(timeoutMs ?? this.opts.consumeTimeoutMs ?? 100);
    const p = new Promise<KafkaMessage[]>((resolve, reject) => {
      this.c.consume(Math.floor(maxMessages), (err, messages) => {
        this.inflight = null;
        if (err) {
          reject(toKafkaError(err, "consume"));
          return;
        }
        // The native objects already have the shape of KafkaMessage (plus `size`); only
        // headers ([{ key: value }]) are rewritten. No copy on the hot path.
        for (const m of messages) {
          if (m.headers) (m as unknown as KafkaMessage).headers = convertHeadersIn(m.headers);
        }
        resolve(messages as unknown as KafkaMessage[]);
      });
    });
    this.inflight = p.catch(() => undefined);
    return p;
  }

  takeNow(maxMessages: number): PackedMessages | null {
    if (this.closed || this.closing || this.inflight || this.fatal) return null;
    const addon = loadTakeAddon();
    if (addon === null) return null;
    const meta = (this.takeMeta ??= new Float64Array(1 + TAKE_MAX * PACKED_STRIDE));
    const data = addon.take(this.c.getClient(), Math.min(Math.floor(maxMessages), TAKE_MAX), meta);
    const count = meta[0]!;
    if (count < 0) return null; // not connected (yet, or any more)
    return { count, data: data ?? EMPTY, meta };
  }

  pause(partitions: TopicPartition[]): void {
    this.check("pause");
    try {
      this.c.pause(partitions.map(tp));
    } catch (e) {
      throw toKafkaError(e, "pause");
    }
  }

  resume(partitions: TopicPartition[]): void {
    this.check("resume");
    try {
      this.c.resume(partitions.map(tp));
    } catch (e) {
      throw toKafkaError(e, "resume");
    }
  }

  seek(topic: string, partition: number, offset: number): Promise<void> {
    try {
      this.check("seek");
    } catch (e) {
      return Promise.reject(e);
    }
    const timeout = 10_000;
    return withTimeout<void>(timeout + 1000, `seek ${topic}[${partition}] to ${offset}`, (done) => {
      this.c.seek({ topic, partition, offset }, timeout, (err) => done(err));
    });
  }

  /**
   * Commits synchronously (librdkafka `commitSync`): the main thread waits one round trip to
   * the group coordinator (about 1 ms on loopback). Commit per batch or interval, not per record.
   *
   * Not async on purpose: node-rdkafka runs `offset_commit_cb` only while a `consume()` (or the
   * final close) is serving librdkafka's queue, so an async commit awaited with no consume in
   * flight (a sequential consume→process→commit loop, a commit in onRevoke during disconnect,
   * the last commit at shutdown) would never resolve.
   */
  commit(offsets: TopicPartitionOffset[]): Promise<void> {
    try {
      this.check("commit", true);
      if (offsets.length === 0) return Promise.resolve();
      this.c.commitSync(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })));
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(toKafkaError(e, "commit"));
    }
  }

  /** librdkafka's asynchronous commit: the request is queued; its result is not waited for. */
  commitAsync(offsets: TopicPartitionOffset[]): void {
    this.check("commit", true);
    if (offsets.length === 0) return;
    try {
      this.c.commit(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })));
    } catch (e) {
      throw toKafkaError(e, "commit");
    }
  }

  committed(partitions?: TopicPartition[], timeoutMs = 10_000): Promise<CommittedOffset[]> {
    try {
      this.check("committed", true);
    } catch (e) {
      return Promise.reject(e);
    }
    const list = (partitions ?? this.assigned).map(tp);
    if (list.length === 0) return Promise.resolve([]);
    return withTimeout<RdKafka.TopicPartitionOffset[]>(timeoutMs + 1000, "committed", (done) => {
      this.c.committed(list, timeoutMs, (err, tps) => done(err, tps));
    }).then((tps) =>
      tps.map((t) => {
        if (t instanceof Error) throw toKafkaError(t, "committed");
        return { topic: t.topic, partition: t.partition, offset: typeof t.offset === "number" && t.offset >= 0 ? t.offset : null };
      }),
    );
  }

  queryWatermarks(topic: string, partition: number, timeoutMs = 5_000): Promise<WatermarkOffsets> {
    try {
      this.check("queryWatermarks");
    } catch (e) {
      return Promise.reject(e);
    }
    return withTimeout<RdKafka.WatermarkOffsets>(timeoutMs + 1000, `watermarks of ${topic}[${partition}]`, (done) => {
      this.c.queryWatermarkOffsets(topic, partition, timeoutMs, (err, offsets) => done(err, offsets));
    }).then((o) => ({ low: o.lowOffset, high: o.highOffset }));
  }

  cachedWatermarks(topic: string, partition: number): WatermarkOffsets | null {
    if (this.closing || !this.c.isConnected()) return null;
    try {
      const o = this.c.getWatermarkOffsets(topic, partition);
      return o.highOffset >= 0 ? { low: o.lowOffset, high: o.highOffset } : null;
    } catch {
      return null; // not fetched yet (librdkafka answers with an error code)
    }
  }

  async disconnect(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.inflight) await this.inflight;
    if (this.c.isConnected()) {
      if (this.assigned.length > 0) {
        // Revoke while still connected, so that onRevoke can commit (node-rdkafka refuses
        // commits once closing has begun): unsubscribe, then serve the revoke, which arrives
        // through consume. Records read meanwhile are dropped: they were not processed, so
        // not committed, and the partitions' next owner reads them.
        try {
          this.c.unsubscribe();
          const deadline = Date.now() + 30_000;
          while (this.assigned.length > 0 && Date.now() < deadline) {
            await new Promise<void>((resolve) => {
              this.c.setDefaultConsumeTimeout(100);
              this.c.consume(1000, () => resolve());
            });
            await this.rebalanceChain;
          }
        } catch (e) {
          this.reportError(toKafkaError(e, "revoke before disconnect"));
        }
      }
      // Closing leaves the group (a revoke still pending runs through onRebalance).
      await withTimeout<void>(60_000, "consumer disconnect", (done) => {
        this.c.disconnect((err) => done(err));
      });
    }
    await this.rebalanceChain;
    this.closed = true;
  }
}

function convertHeadersIn(hs: RdKafka.MessageHeader[]): KafkaHeader[] {
  const out: KafkaHeader[] = [];
  for (const h of hs) {
    for (const k of Object.keys(h)) {
      const v = h[k];
      out.push({ key: k, value: Buffer.isBuffer(v) ? v : Buffer.from(String(v)) });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Producer
// ---------------------------------------------------------------------------------------------

/** The addon's produce() refused a record: a KafkaError telling how many before it went in (`done`). */
function produceManyError(e: unknown, topic: string, partition: number | null): KafkaError {
  const done = (e as { done?: unknown }).done;
  const k = toKafkaError(e, `produce to ${topic}`, partition === null ? {} : { partition });
  return new KafkaError(k.message, { kafkaCode: k.kafkaCode, retriable: k.retriable, fatal: k.fatal, context: k.context, cause: e, enqueued: typeof done === "number" ? done : 0 });
}

/** librdkafka properties of a producer made from its options (and the user's --kafka-config). */
function producerConfig(opts: KafkaProducerOptions): RdConfig {
  return {
    "linger.ms": opts.lingerMs ?? 5,
    "batch.num.messages": 10_000,
    "batch.size": 1_000_000,
    "queue.buffering.max.messages": opts.maxQueuedMessages ?? 1_000_000,
    "queue.buffering.max.kbytes": opts.maxQueuedKBytes ?? 262_144,
    "compression.codec": opts.compression ?? "none",
    "enable.idempotence": opts.idempotent ?? true,
    // Java's partitioner: keyed records land on the partitions Java clients pick.
    partitioner: "murmur2_random",
    ...(opts.transactionalId ? { "transactional.id": opts.transactionalId } : {}),
    ...opts.extra,
    ...userConfig.common, ...userConfig.producer,
  };
}

/**
 * A {@link PackedProducerClient} on native-bindings/kafka's PackedProducer, configured as
 * {@link RdKafkaProducer} would be for the same options (not transactional: its records are
 * outside node-rdkafka's transactions). Null when the addon is not built, or with
 * `RIPTIDE_KAFKA_PACKED_PRODUCER=0`.
 */
export function createPackedProducer(opts: KafkaProducerOptions = {}): PackedProducerClient | null {
  if (process.env.RIPTIDE_KAFKA_PACKED_PRODUCER === "0" || opts.transactionalId) return null;
  const addon = loadTakeAddon();
  if (!addon?.PackedProducer || addon.REPORT_STRIDE !== REPORT_STRIDE || addon.PRODUCE_STRIDE !== PRODUCE_STRIDE) return null;
  const { event_cb: _events, ...common } = commonConfig(opts);
  const pairs: string[] = [];
  for (const [k, v] of Object.entries({ ...common, ...producerConfig(opts) })) if (v !== undefined) pairs.push(k, String(v));
  let native: NativePackedProducer;
  try {
    native = new addon.PackedProducer(pairs);
  } catch (e) {
    throw new KafkaError(`packed producer: ${String((e as Error)?.message ?? e)}`, { cause: e });
  }
  const errString = addon.errString ?? ((code: number) => `librdkafka error ${code}`);
  let fatal: KafkaError | undefined;
  let closed = false;
  const serveErrors = (): void => {
    const list = native.errors();
    for (let i = 0; i + 2 < list.length; i += 3) {
      const code = list[i] as number, message = list[i + 1] as string, isFatal = list[i + 2] as boolean;
      const err = new KafkaError(`producer: ${message} (librdkafka code ${code})`, { kafkaCode: code, retriable: RETRIABLE.has(code), fatal: isFatal });
      if (isFatal) fatal ??= err;
      opts.onError?.(err);
    }
  };
  return {
    produceMany(topic, partition, data, meta, from, count) {
      if (fatal) throw fatal;
      if (closed) throw new KafkaError(`produce to ${topic}: the producer is closed`);
      try {
        return native.produce(topic, partition ?? -1, data, meta, from, count);
      } catch (e) {
        if (e instanceof RangeError || e instanceof TypeError) throw e; // the caller's batch, not Kafka
        throw produceManyError(e, topic, partition);
      }
    },
    poll(out) {
      if (closed) return 0;
      const n = native.poll(out);
      serveErrors();
      if (fatal) throw fatal;
      return n;
    },
    error(code, topic, partition) {
      return new KafkaError(`delivery to ${topic}[${partition}]: ${errString(code)} (librdkafka code ${code})`, {
        kafkaCode: code, retriable: RETRIABLE.has(code), context: { partition },
      });
    },
    get pending() {
      return closed ? 0 : native.pending();
    },
    async close(timeoutMs = 10_000) {
      if (closed) return;
      // Served without blocking the event loop first: close() itself waits for what is left.
      const deadline = Date.now() + timeoutMs;
      const scratch = new Float64Array(64 * REPORT_STRIDE);
      while (native.pending() > 0 && Date.now() < deadline) {
        native.poll(scratch);
        await new Promise((r) => setTimeout(r, 5));
      }
      closed = true;
      native.close(Math.max(0, deadline - Date.now()));
    },
  };
}

/** A producer on node-rdkafka. */
export class RdKafkaProducer implements KafkaProducerClient {
  private readonly p: RdKafka.Producer;
  private readonly opts: KafkaProducerOptions;
  private deliveryCb: ((err: KafkaError | null, report: DeliveryReport) => void) | undefined;
  private pending = 0;
  /** Only failed deliveries are reported: `pending` is not counted. */
  private readonly errorsOnly: boolean;
  private fatal: KafkaError | null = null;
  private closed = false;
  produceMany?: (topic: string, partition: number | null, data: Buffer, meta: Float64Array, from: number, count: number) => number;

  constructor(lib: RdKafkaModule, opts: KafkaProducerOptions = {}) {
    this.opts = opts;
    this.errorsOnly = opts.deliveryReports === "errors";
    this.deliveryCb = opts.onDelivery;
    const conf: RdConfig = {
      ...commonConfig(opts),
      dr_cb: true, // delivery reports without a copy of the payload
      "delivery.report.only.error": this.errorsOnly,
      ...producerConfig(opts),
    };
    const { global, topic } = splitConfig(conf);
    this.p = new lib.Producer(global as RdKafka.ProducerGlobalConfig, topic as RdKafka.ProducerTopicConfig);
    this.p.on("event.error", (e: RdKafka.LibrdKafkaError) => {
      const err = toKafkaError(e, "producer");
      if (err.fatal && !this.fatal) this.fatal = err;
      this.opts.onError?.(err);
    });
    const addon = loadTakeAddon();
    if (addon?.produce && addon.PRODUCE_STRIDE === PRODUCE_STRIDE) {
      const produce = addon.produce;
      this.produceMany = (topic, partition, data, meta, from, count) => {
        if (this.fatal) throw this.fatal;
        let n: number;
        try {
          n = produce(this.p.getClient(), topic, partition ?? -1, data, meta, from, count);
        } catch (e) {
          if (e instanceof RangeError || e instanceof TypeError) throw e; // the caller's batch, not Kafka
          const err = produceManyError(e, topic, partition);
          if (!this.errorsOnly) this.pending += err.enqueued!;
          throw err;
        }
        if (n < 0) throw new KafkaError(`produce to ${topic}: the producer is not connected`);
        if (!this.errorsOnly) this.pending += n;
        return n;
      };
    }
    this.p.on("delivery-report", (err: RdKafka.LibrdKafkaError | null, r: RdKafka.DeliveryReport) => {
      if (!this.errorsOnly) this.pending--;
      const cb = this.deliveryCb;
      if (!cb) return;
      const report: DeliveryReport = { topic: r.topic, partition: r.partition, offset: r.offset, opaque: r.opaque };
      cb(err ? toKafkaError(err, `delivery to ${r.topic}[${r.partition}]`, { partition: r.partition }) : null, report);
    });
  }

  get inFlight(): number {
    return this.pending;
  }

  connect(): Promise<void> {
    const timeout = this.opts.connectTimeoutMs ?? 30_000;
    return withTimeout<void>(timeout + 1000, "producer connect", (done) => {
      this.p.connect({ allTopics: false, timeout }, (err) => done(err));
    }).then(() => {
      const every = this.opts.pollIntervalMs ?? 20;
      if (every > 0) this.p.setPollInterval(every);
    });
  }

  onDelivery(cb: (err: KafkaError | null, report: DeliveryReport) => void): void {
    this.deliveryCb = cb;
  }

  produce(
    topic: string,
    partition: number | null,
    value: Buffer | null,
    key: Buffer | string | null,
    headers?: KafkaHeader[],
    opaque?: unknown,
  ): boolean {
    if (this.fatal) throw this.fatal;
    try {
      this.p.produce(
        topic,
        partition ?? -1,
        value,
        key ?? null,
        null,
        opaque,
        headers && headers.length > 0 ? headers.map((h) => ({ [h.key]: h.value })) : undefined,
      );
    } catch (e) {
      if (errorCode(e) === ERR_QUEUE_FULL) return false;
      throw toKafkaError(e, `produce to ${topic}`, partition === null ? {} : { partition });
    }
    if (!this.errorsOnly) this.pending++;
    return true;
  }

  poll(): void {
    if (this.closed) return;
    try {
      this.p.poll();
    } catch (e) {
      throw toKafkaError(e, "poll");
    }
  }

  async flush(timeoutMs: number): Promise<void> {
    if (this.fatal) throw this.fatal;
    const deadline = Date.now() + timeoutMs;
    await withTimeout<void>(timeoutMs + 1000, "flush", (done) => {
      this.p.flush(timeoutMs, (err) => done(err));
    });
    // Reports reach JavaScript asynchronously after librdkafka served them: wait for them.
    while (this.pending > 0 && Date.now() < deadline) {
      this.p.poll();
      await new Promise((r) => setTimeout(r, 1));
    }
    if (this.pending > 0) {
      throw new KafkaError(`flush: ${this.pending} delivery reports still outstanding after ${timeoutMs} ms`, {
        kafkaCode: ERR_TIMED_OUT,
        retriable: true,
      });
    }
  }

  // ── Transactions ──────────────────────────────────────────────────────────────────────────
  // librdkafka serves these calls on its own threads; node-rdkafka runs them off the event loop.

  initTransactions(timeoutMs = 30_000): Promise<void> {
    return withTimeout<void>(timeoutMs + 5000, "initTransactions", (done) => {
      this.p.initTransactions(timeoutMs, (err) => done(err));
    });
  }

  beginTransaction(timeoutMs = 30_000): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    return withTimeout<void>(timeoutMs, "beginTransaction", (done) => {
      this.p.beginTransaction((err) => done(err));
    });
  }

  sendOffsetsToTransaction(offsets: TopicPartitionOffset[], consumer: KafkaConsumerClient, timeoutMs = 30_000): Promise<void> {
    if (!(consumer instanceof RdKafkaConsumer)) {
      return Promise.reject(new KafkaError("sendOffsetsToTransaction: the consumer is not a node-rdkafka consumer"));
    }
    return withTimeout<void>(timeoutMs + 5000, "sendOffsetsToTransaction", (done) => {
      this.p.sendOffsetsToTransaction(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })), consumer.native, timeoutMs, (err) => done(err));
    });
  }

  commitTransaction(timeoutMs = 30_000): Promise<void> {
    return withTimeout<void>(timeoutMs + 5000, "commitTransaction", (done) => {
      this.p.commitTransaction(timeoutMs, (err) => done(err));
    }).then(async () => {
      // Delivery reports of the committed records reach JavaScript shortly after.
      const deadline = Date.now() + timeoutMs;
      while (this.pending > 0 && Date.now() < deadline) {
        this.p.poll();
        await new Promise((r) => setTimeout(r, 1));
      }
    });
  }

  abortTransaction(timeoutMs = 30_000): Promise<void> {
    return withTimeout<void>(timeoutMs + 5000, "abortTransaction", (done) => {
      this.p.abortTransaction(timeoutMs, (err) => done(err));
    });
  }

  async disconnect(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.p.isConnected()) return;
    try {
      await this.flush(timeoutMs);
    } catch {
      // Disconnect anyway; undelivered records are reported as failed by librdkafka.
    }
    this.p.setPollInterval(0);
    await withTimeout<void>(timeoutMs + 30_000, "producer disconnect", (done) => {
      this.p.disconnect(timeoutMs, (err) => done(err));
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------------------------

/** Topic administration on node-rdkafka (its AdminClient, plus a producer handle for metadata). */
export class RdKafkaAdmin implements KafkaAdminClient {
  private readonly lib: RdKafkaModule;
  private readonly opts: KafkaAdminOptions;
  private admin: RdKafka.IAdminClient | null = null;
  private meta: RdKafka.Producer | null = null;

  constructor(lib: RdKafkaModule, opts: KafkaAdminOptions = {}) {
    this.lib = lib;
    this.opts = opts;
  }

  private get timeout(): number {
    return this.opts.connectTimeoutMs ?? 30_000;
  }

  async connect(): Promise<void> {
    if (this.admin) return;
    const base = splitConfig({ ...commonConfig(this.opts), ...this.opts.extra }).global;
    delete base.event_cb;
    try {
      this.admin = this.lib.AdminClient.create(base as RdKafka.GlobalConfig);
    } catch (e) {
      throw toKafkaError(e, "admin connect");
    }
    // Metadata goes through a producer handle that never creates topics by asking about them.
    const meta = new this.lib.Producer({ ...base, "allow.auto.create.topics": false } as RdKafka.ProducerGlobalConfig, {});
    await withTimeout<void>(this.timeout + 1000, "admin connect", (done) => {
      meta.connect({ allTopics: false, timeout: this.timeout }, (err) => done(err));
    });
    this.meta = meta;
  }

  private need(): { admin: RdKafka.IAdminClient; meta: RdKafka.Producer } {
    if (!this.admin || !this.meta) throw new KafkaError("admin: call connect() first");
    return { admin: this.admin, meta: this.meta };
  }

  async createTopic(name: string, partitions: number, replication = 1, config?: Record<string, string>): Promise<boolean> {
    const { admin } = this.need();
    let created = true;
    try {
      await withTimeout<void>(this.timeout + 1000, `create topic ${name}`, (done) => {
        admin.createTopic(
          { topic: name, num_partitions: partitions, replication_factor: replication, config: config ?? {} },
          this.timeout,
          (err) => done(err),
        );
      });
    } catch (e) {
      if ((e as KafkaError).kafkaCode !== ERR_TOPIC_ALREADY_EXISTS) throw e;
      created = false;
    }
    // The controller has it; wait until metadata shows every partition with a leader.
    const deadline = Date.now() + this.timeout;
    for (;;) {
      const md = await this.metadata(name).catch(() => null);
      const t = md?.topics.find((x) => x.name === name);
      if (t && t.partitions > 0 && (!created || t.partitions === partitions) && t.partitionDetails.every((p) => p.leader >= 0)) {
        return created;
      }
      if (Date.now() > deadline) {
        throw new KafkaError(`create topic ${name}: its partitions have no leader after ${this.timeout} ms`, { retriable: true });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async deleteTopic(name: string): Promise<boolean> {
    const { admin } = this.need();
    try {
      await withTimeout<void>(this.timeout + 1000, `delete topic ${name}`, (done) => {
        admin.deleteTopic(name, this.timeout, (err) => done(err));
      });
      return true;
    } catch (e) {
      if ((e as KafkaError).kafkaCode === ERR_UNKNOWN_TOPIC_OR_PART) return false;
      throw e;
    }
  }

  async listTopics(opts: { includeInternal?: boolean } = {}): Promise<string[]> {
    const md = await this.metadata();
    return md.topics.map((t) => t.name).filter((n) => opts.includeInternal || !n.startsWith("__"));
  }

  async metadata(topic?: string): Promise<ClusterMetadata> {
    const { meta } = this.need();
    // Always all topics: asking for one unknown topic could create it on brokers that
    // auto-create; filtering here does not.
    const md = await withTimeout<RdKafka.Metadata>(this.timeout + 1000, "metadata", (done) => {
      meta.getMetadata({ allTopics: true, timeout: this.timeout }, (err, data) => done(err, data));
    });
    return {
      brokers: md.brokers.map((b) => ({ id: b.id, host: b.host, port: b.port })),
      topics: md.topics
        .filter((t) => t.partitions.length > 0 && (topic === undefined || t.name === topic))
        .map((t) => ({
          name: t.name,
          partitions: t.partitions.length,
          partitionDetails: t.partitions
            .map((p) => ({ id: p.id, leader: p.leader, replicas: p.replicas.slice(), isrs: p.isrs.slice() }))
            .sort((a, b) => a.id - b.id),
        })),
    };
  }

  /** Over a plain connection to each leader (delete-records.ts): node-rdkafka's AdminClient has no deleteRecords. */
  async deleteRecords(offsets: TopicPartitionOffset[]): Promise<void> {
    const protocol = String(this.opts.extra?.["security.protocol"] ?? "plaintext").toLowerCase();
    if (protocol !== "plaintext") throw new KafkaError(`deleteRecords speaks to plaintext listeners only (security.protocol is ${protocol})`);
    const md = await this.metadata();
    const leaders = new Map<string, number>();
    for (const t of md.topics) for (const p of t.partitionDetails) leaders.set(`${t.name}/${p.id}`, p.leader);
    const results = await deleteRecords(md.brokers, (topic, partition) => leaders.get(`${topic}/${partition}`) ?? -1, offsets, this.timeout);
    const failed = results.filter((r) => r.errorCode !== 0);
    if (failed.length > 0) throw new KafkaError(`deleteRecords: ${failed.map((r) => `${r.topic}[${r.partition}] error ${r.errorCode}`).join(", ")}`, { kafkaCode: failed[0]!.errorCode, retriable: true });
  }

  async disconnect(): Promise<void> {
    const admin = this.admin;
    const meta = this.meta;
    this.admin = null;
    this.meta = null;
    if (admin) {
      try {
        admin.disconnect();
      } catch {
        /* already gone */
      }
    }
    if (meta && meta.isConnected()) {
      await withTimeout<void>(30_000, "admin disconnect", (done) => {
        meta.disconnect(0, (err) => done(err));
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Factory
// ---------------------------------------------------------------------------------------------

/**
 * The node-rdkafka client factory. node-rdkafka is loaded on the first `create*` call (or by
 * reading `name`), which throws {@link KafkaClientLoadError} if it cannot be.
 */
export const rdkafkaClientFactory: KafkaClientFactory = {
  get name(): string {
    const lib = loadRdKafka();
    let version = "?";
    try {
      version = (createRequire(import.meta.url)("node-rdkafka/package.json") as { version: string }).version.replace(/^v/, "");
    } catch {
      /* keep "?" */
    }
    return `node-rdkafka ${version} (librdkafka ${lib.librdkafkaVersion})`;
  },
  createConsumer: (options) => new RdKafkaConsumer(loadRdKafka(), options),
  createProducer: (options = {}) => new RdKafkaProducer(loadRdKafka(), options),
  createAdmin: (options = {}) => new RdKafkaAdmin(loadRdKafka(), options),
  readPartition: (options, topic, partition, timeoutMs = 60_000) => readPartition(loadRdKafka(), options, topic, partition, timeoutMs),
};

/**
 * Reads a partition from its beginning to its end (`read_committed`, outside any group: nothing is
 * committed). The end is librdkafka's partition EOF, which for `read_committed` is the last stable
 * offset: control records and aborted transactions do not count.
 */
async function readPartition(lib: RdKafkaModule, opts: KafkaClientOptions, topic: string, partition: number, timeoutMs: number): Promise<KafkaMessage[]> {
  const conf: RdConfig = {
    ...commonConfig(opts),
    "group.id": `riptide-reader-${process.pid}-${Date.now()}`,
    "enable.auto.commit": false,
    "enable.auto.offset.store": false,
    "enable.partition.eof": true,
    "isolation.level": "read_committed",
    "fetch.message.max.bytes": 8 << 20,
    ...opts.extra,
  };
  const { global, topic: topicConf } = splitConfig(conf);
  const c = new lib.KafkaConsumer(global as RdKafka.ConsumerGlobalConfig, topicConf as RdKafka.ConsumerTopicConfig);
  const timeout = opts.connectTimeoutMs ?? 30_000;
  await withTimeout<void>(timeout + 1000, "reader connect", (done) => c.connect({ allTopics: false, timeout }, (err) => done(err)));
  const out: KafkaMessage[] = [];
  let eof = false;
  c.on("partition.eof", (e: { topic: string; partition: number }) => {
    if (e.topic === topic && e.partition === partition) eof = true;
  });
  try {
    // A partition that does not exist never reaches its end: say so at once instead of at the
    // deadline. All topics are asked for (asking for one unknown topic could create it).
    const md = await withTimeout<RdKafka.Metadata>(timeout + 1000, "reader metadata", (done) => {
      c.getMetadata({ allTopics: true, timeout }, (err, data) => done(err, data));
    });
    const found = md.topics.find((t) => t.name === topic);
    if (!found || !found.partitions.some((p) => p.id === partition)) {
      throw new KafkaError(`reading ${topic}[${partition}]: ${found ? `the topic has no partition ${partition} (it has ${found.partitions.length})` : "no such topic"}`);
    }
    c.assign([{ topic, partition, offset: -2 /* beginning */ }]);
    c.setDefaultConsumeTimeout(100);
    const deadline = Date.now() + timeoutMs;
    while (!eof) {
      if (Date.now() > deadline) throw new KafkaError(`reading ${topic}[${partition}]: no end of partition within ${timeoutMs} ms`, { kafkaCode: ERR_TIMED_OUT, retriable: true });
      const batch = await new Promise<RdKafka.Message[]>((resolve, reject) => {
        c.consume(10_000, (err, messages) => (err ? reject(toKafkaError(err, `read ${topic}`)) : resolve(messages)));
      });
      for (const m of batch) {
        if (m.headers) (m as unknown as KafkaMessage).headers = convertHeadersIn(m.headers);
        out.push(m as unknown as KafkaMessage);
      }
    }
  } finally {
    await withTimeout<void>(30_000, "reader disconnect", (done) => c.disconnect((err) => done(err))).catch(() => undefined);
  }
  return out;
}
