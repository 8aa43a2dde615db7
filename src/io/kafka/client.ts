/**
 * The Kafka client interface the engine talks to. The engine never imports a Kafka library
 * directly: it receives a {@link KafkaClientFactory} (node-rdkafka's is in `./rdkafka.ts`), so
 * another client (KafkaJS, a pure-JS one, a test double) can replace it.
 *
 * Threading: every client here lives on the main thread (node-rdkafka is not safe in worker
 * threads). Offsets are JavaScript numbers (exact up to 2^53).
 */
import { RiptideError, type ErrorContext } from "../../errors.js";

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/** One partition of one topic. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/**
 * A partition with an offset. In {@link KafkaConsumerClient.commit} and
 * {@link KafkaConsumerClient.seek} the offset is, as everywhere in Kafka, the **next offset to
 * read**: after processing the message at offset 41, commit 42.
 */
export interface TopicPartitionOffset extends TopicPartition {
  offset: number;
}

/** A committed offset; `offset` is null when the group has none for the partition. */
export interface CommittedOffset extends TopicPartition {
  offset: number | null;
}

/** The oldest offset still in a partition and the offset its next record will get. */
export interface WatermarkOffsets {
  low: number;
  high: number;
}

/** A record header. Kafka allows repeated keys, so headers are a list, not a map. */
export interface KafkaHeader {
  key: string;
  value: Buffer;
}

/** A consumed record. */
export interface KafkaMessage {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  /** Record timestamp in ms since the epoch (producer create time or broker log-append time); -1 if none. */
  timestamp: number;
  headers?: KafkaHeader[];
}

/** Fields of {@link PackedMessages.meta}, per message. */
export const PACKED_PARTITION = 0, PACKED_OFFSET = 1, PACKED_TIMESTAMP = 2, PACKED_VALUE_START = 3, PACKED_VALUE_LENGTH = 4,
  PACKED_KEY_START = 5, PACKED_KEY_LENGTH = 6, PACKED_ERROR = 7;
/** Numbers per message in {@link PackedMessages.meta}. */
export const PACKED_STRIDE = 8;
/** Numbers per record of KafkaProducerClient.produceMany's `meta`. */
export const PRODUCE_STRIDE = 5;
/** Numbers per delivery report of PackedProducerClient.poll: sequence number, error code (0: delivered), partition, offset. */
export const REPORT_STRIDE = 4;

/**
 * A producer whose delivery reports are numbers, not objects (native-bindings/kafka's
 * PackedProducer): for a sink's outputs, where one JS object per report cost more of the main
 * thread than everything else about an output. Records go in packed as for
 * {@link KafkaProducerClient.produceMany}, each record's opaque being its sequence number.
 */
export interface PackedProducerClient {
  /** As KafkaProducerClient.produceMany; a record's opaque (≥ 0) comes back as its report's sequence number. */
  produceMany(topic: string, partition: number | null, data: Buffer, meta: Float64Array, from: number, count: number): number;
  /**
   * Serves the client (its reports and errors) and copies up to `out.length / REPORT_STRIDE`
   * delivery reports into `out`; returns how many. Call again while it fills `out`.
   */
  poll(out: Float64Array): number;
  /** The error a report's code stands for. */
  error(code: number, topic: string, partition: number): KafkaError;
  /** Records enqueued whose report has not been handed out yet. */
  readonly pending: number;
  /** Waits up to `timeoutMs` for what is queued, then releases the client. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Records read in one take ({@link KafkaConsumerClient.takeNow}), without an object per record:
 * message i's fields are `meta[1 + i * PACKED_STRIDE + PACKED_…]`; its value is
 * `data[start, start + length)` (length -1: a null value), its key likewise; a non-zero error code
 * marks a consumer error in place of a record. `meta` is the client's and is overwritten by the
 * next take; `data` is this take's own.
 */
export interface PackedMessages {
  count: number;
  data: Buffer;
  meta: Float64Array;
}

/** What a producer learns when a record is acknowledged (or failed). */
export interface DeliveryReport {
  topic: string;
  partition: number;
  /** Offset the record was written at; meaningful only without error. */
  offset: number;
  /** The `opaque` given to {@link KafkaProducerClient.produce}, untouched. */
  opaque: unknown;
}

export interface PartitionMetadata {
  id: number;
  /** Broker id of the leader; -1 while there is none. */
  leader: number;
  replicas: number[];
  isrs: number[];
}

export interface TopicMetadata {
  name: string;
  /** Number of partitions (the length of `partitionDetails`). */
  partitions: number;
  partitionDetails: PartitionMetadata[];
}

export interface BrokerMetadata {
  id: number;
  host: string;
  port: number;
}

export interface ClusterMetadata {
  brokers: BrokerMetadata[];
  topics: TopicMetadata[];
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * The Kafka client library cannot be loaded (node-rdkafka missing or its native build absent or
 * built for another Node). Stable code `ERR_KAFKA_CLIENT`. Kafka sources and sinks are
 * unavailable; the generator and file sources still work.
 */
export class KafkaClientLoadError extends RiptideError {
  constructor(message: string, cause?: unknown) {
    super("ERR_KAFKA_CLIENT", message, {}, { cause });
  }
}

/**
 * A Kafka operation failed. Stable code `ERR_KAFKA`. `kafkaCode` is the client library's own
 * numeric code when it has one (for node-rdkafka: librdkafka's `rd_kafka_resp_err_t`, negative
 * for local errors, positive for broker errors).
 */
export class KafkaError extends RiptideError {
  /** The library's numeric error code, when known. */
  readonly kafkaCode: number | undefined;
  /** The operation may succeed if retried as is. */
  readonly retriable: boolean;
  /** The client instance is unusable from now on; create a new one. */
  readonly fatal: boolean;
  /** produceMany(): the records before the refused one that were enqueued. */
  readonly enqueued: number | undefined;
  constructor(
    message: string,
    opts: { kafkaCode?: number; retriable?: boolean; fatal?: boolean; context?: ErrorContext; cause?: unknown; enqueued?: number } = {},
  ) {
    super("ERR_KAFKA", message, opts.context ?? {}, { cause: opts.cause });
    this.kafkaCode = opts.kafkaCode;
    this.retriable = opts.retriable ?? false;
    this.fatal = opts.fatal ?? false;
    this.enqueued = opts.enqueued;
  }
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/** Settings every client takes. */
export interface KafkaClientOptions {
  /**
   * Bootstrap brokers, `host:port[,host:port...]`. Default: the `RIPTIDE_KAFKA_BROKERS`
   * environment variable, else `127.0.0.1:9092` (the broker of `npm run kafka:up`).
   */
  brokers?: string;
  /** Client id the broker sees in its logs and quotas. Default `riptide`. */
  clientId?: string;
  /** How long `connect()` may take before it rejects, ms. Default 30 000. */
  connectTimeoutMs?: number;
  /**
   * Library-specific settings passed through verbatim (for node-rdkafka: librdkafka global
   * properties such as `"security.protocol"`). They override the defaults chosen here.
   */
  extra?: Record<string, string | number | boolean>;
  /**
   * Called with errors that belong to no call: lost broker connections, fatal client errors.
   * The client retries transient ones itself. Default: ignored (fatal errors still make the
   * next call on the client throw).
   */
  onError?: (err: KafkaError) => void;
}

/** Settings of a group consumer. */
export interface KafkaConsumerOptions extends KafkaClientOptions {
  /** Consumer group id (required). Consumers with the same id split the partitions. */
  groupId: string;
  /** Where a partition without a committed offset starts. Default `"earliest"`. */
  autoOffsetReset?: "earliest" | "latest";
  /**
   * A member that sends no heartbeat for this long is removed from the group and its partitions
   * move, ms. Default 10 000 (must lie within the broker's group.min/max.session.timeout.ms).
   */
  sessionTimeoutMs?: number;
  /**
   * Default wait of {@link KafkaConsumerClient.consume}: it returns once `maxMessages` are read
   * or once no new message has arrived for this long, ms. Default 100.
   */
  consumeTimeoutMs?: number;
  /**
   * Upper bound on prefetched, not yet consumed data held by the client, KiB. Bounds memory
   * whatever the input rate. Default 32 768 (32 MiB).
   */
  maxPrefetchKBytes?: number;
  /**
   * How long the client stops fetching a partition once its prefetch is over `maxPrefetchKBytes`
   * (or librdkafka's `queued.min.messages`), ms (`fetch.queue.backoff.ms`). Default 10 (librdkafka's
   * own is 1000, which left the queue empty for most of that second once the application caught up).
   */
  fetchQueueBackoffMs?: number;
  /** `read_committed` hides records of aborted transactions (exactly-once mode). Default `read_uncommitted`. */
  isolationLevel?: "read_committed" | "read_uncommitted";
  /**
   * The broker answers a fetch once this much data is there (or after `fetchMaxWaitMs`), bytes
   * (`fetch.min.bytes`). Default 1: at once, as librdkafka and the Java client do. A larger value
   * saves fetch requests at low rates at the cost of latency: 1024 held 100 events/s about 45 ms.
   */
  fetchMinBytes?: number;
  /** Longest the broker holds a fetch waiting for `fetchMinBytes`, ms (`fetch.wait.max.ms`). Default 100. */
  fetchMaxWaitMs?: number;
}

/** Partition assignment callbacks. Both may be async; the client waits for them. */
export interface RebalanceListener {
  /**
   * Partitions were assigned to this member. Called before consumption of them starts, so a
   * `seek` inside it is not allowed. Each partition starts at its committed offset (or per
   * `autoOffsetReset`) unless the listener returns start offsets for it (e.g. from restored
   * state): `[{ topic, partition, offset }]`, offset = next offset to read.
   */
  onAssign?: (
    partitions: TopicPartition[],
  ) => void | TopicPartitionOffset[] | Promise<void | TopicPartitionOffset[]>;
  /**
   * Partitions are being taken away. Called before they are released: commit what is done now.
   * After it returns, no message of these partitions is delivered until they are assigned again.
   */
  onRevoke?: (partitions: TopicPartition[]) => void | Promise<void>;
}

/** Settings of a producer. */
export interface KafkaProducerOptions extends KafkaClientOptions {
  /**
   * Called once per produced record when the broker acknowledged it (`err` null) or the client
   * gave up on it. Reports arrive when the producer is polled (see `pollIntervalMs`, `poll()`,
   * `flush()`). Can also be set later with {@link KafkaProducerClient.onDelivery}.
   */
  onDelivery?: (err: KafkaError | null, report: DeliveryReport) => void;
  /** How long to wait to fill a batch before sending, ms. Default 5. */
  lingerMs?: number;
  /**
   * Idempotent producer: no duplicates or reordering on retries (acks=all). Default true.
   */
  idempotent?: boolean;
  /** Batch compression. Default `"none"` (CPU is scarcer than loopback bandwidth). */
  compression?: "none" | "gzip" | "snappy" | "lz4" | "zstd";
  /**
   * Most records the client buffers before `produce` reports a full queue. Default 1 000 000.
   */
  maxQueuedMessages?: number;
  /** Most data the client buffers before `produce` reports a full queue, KiB. Default 262 144 (256 MiB). */
  maxQueuedKBytes?: number;
  /**
   * Which deliveries are reported to `onDelivery`: `"all"`, or `"errors"` only
   * (`delivery.report.only.error`), which saves one JavaScript callback per record (a load
   * generator at 45 k JSON messages/s used ~30 % less CPU). With `"errors"`, `inFlight` stays 0
   * and `flush()` relies on the client's own queue. Default `"all"`.
   */
  deliveryReports?: "all" | "errors";
  /** The client polls for delivery reports every this many ms; 0 = only `poll()`/`flush()` do. Default 20. */
  pollIntervalMs?: number;
  /** `transactional.id`: enables transactions (exactly-once mode). Default none. */
  transactionalId?: string;
}

/** Settings of an admin client. */
export type KafkaAdminOptions = KafkaClientOptions;

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/**
 * A group consumer read in batches, without a flowing mode: the caller pulls with
 * {@link consume}, so it decides when to read (backpressure). Offsets are committed only
 * explicitly, with {@link commit}. Calls must not overlap: await each `consume` before the next.
 */
export interface KafkaConsumerClient {
  /** Connects to the cluster. Rejects with {@link KafkaError} if it cannot within `connectTimeoutMs`. */
  connect(): Promise<void>;
  /**
   * Joins the group for `topics` (replacing any previous subscription). Assignments arrive
   * while {@link consume} is being called, reported through `listener`.
   */
  subscribe(topics: string[], listener?: RebalanceListener): void;
  /** Partitions assigned to this member now. */
  assignment(): TopicPartition[];
  /**
   * Reads up to `maxMessages` records, in partition order within each partition. Resolves when
   * `maxMessages` are read or no new record arrived for `timeoutMs` (default `consumeTimeoutMs`),
   * possibly with an empty array. A batch being read while {@link pause} is called may still
   * contain records of the paused partitions.
   */
  consume(maxMessages: number, timeoutMs?: number): Promise<KafkaMessage[]>;
  /**
   * Optional: what is prefetched now, up to `maxMessages`, packed (no object per message) and
   * without waiting; headers are not read. Null when the client cannot take this way now (then
   * {@link consume}); never while a consume() is in flight.
   */
  takeNow?(maxMessages: number): PackedMessages | null;
  /**
   * Stops fetching the given assigned partitions. Records prefetched for them are dropped; to
   * continue where processing stopped, {@link seek} before {@link resume}. A revoke ends the pause:
   * a partition assigned (again) is fetched, as with Kafka's consumer.
   */
  pause(partitions: TopicPartition[]): void;
  /** Fetches the given partitions again, from their current position. */
  resume(partitions: TopicPartition[]): void;
  /**
   * Moves an assigned partition's position: the next record read from it is at `offset`.
   * Prefetched records of that partition are dropped.
   */
  seek(topic: string, partition: number, offset: number): Promise<void>;
  /**
   * Commits offsets for the group: each `offset` is the next offset to read (last processed + 1).
   * Resolves once the broker stored them.
   */
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  /**
   * Queues a commit and returns at once, without waiting for the broker; a failure is not
   * reported (a later commit of the same partitions covers it). For periodic commits on a thread
   * that must not block; use {@link commit} where the offsets must be stored before going on.
   */
  commitAsync?(offsets: TopicPartitionOffset[]): void;
  /** The group's committed offsets for `partitions` (default: the current assignment). */
  committed(partitions?: TopicPartition[], timeoutMs?: number): Promise<CommittedOffset[]>;
  /**
   * Asks the partition's leader for its low (oldest) and high (next to be written) offsets: the
   * consumer lag of a partition is `high - position`. Answered by the broker, not from a cache,
   * so it also moves while the partition is paused. Clients that cannot answer leave it out
   * (lag is then not reported).
   */
  queryWatermarks?(topic: string, partition: number, timeoutMs?: number): Promise<WatermarkOffsets>;
  /**
   * The partition's offsets as the client last learnt them from a fetch response (no request; the
   * high watermark, also under read_committed, where an open transaction's records and a
   * transaction marker then count as still to come); null while not known yet. Time
   * alignment of several topics (src/sources/aligned-streams.ts) asks it to tell a partition that
   * is caught up from one whose records are still on their way, as Kafka Streams' task idling does.
   */
  cachedWatermarks?(topic: string, partition: number): WatermarkOffsets | null;
  /** Leaves the group (revoking its partitions through the listener) and closes the connection. */
  disconnect(): Promise<void>;
}

/**
 * A producer. {@link produce} only enqueues; the outcome of each record comes later through the
 * delivery callback.
 */
export interface KafkaProducerClient {
  connect(): Promise<void>;
  /**
   * Enqueues one record. `partition` null lets the partitioner choose from the key (murmur2,
   * as Java clients, so keyed records land where Kafka Streams would put them).
   *
   * Returns true when enqueued, **false when the local queue is full**: the caller should back
   * off (poll, wait for delivery reports or `await flush(...)`) and produce the same record
   * again. Any other failure throws {@link KafkaError}.
   */
  produce(
    topic: string,
    partition: number | null,
    value: Buffer | null,
    key: Buffer | string | null,
    headers?: KafkaHeader[],
    opaque?: unknown,
  ): boolean;
  /**
   * Enqueues records `from`..`from + count` of a batch packed in one Buffer (`meta`: PRODUCE_STRIDE
   * numbers per record: value start, value length, key start, key length (a length of -1 is
   * null), and the opaque its delivery report carries (a number; -1: none)), in one call instead
   * of one per record; `data` may be reused as soon as it returns. Returns how many it enqueued, in
   * order, stopping at the first the local queue has no room for (back off and call again from
   * there). A record the client refuses otherwise (e.g. larger than message.max.bytes) throws a
   * KafkaError whose `enqueued` counts the records before it that went in. Only when the client
   * can (node-rdkafka with native-bindings/kafka).
   */
  produceMany?(topic: string, partition: number | null, data: Buffer, meta: Float64Array, from: number, count: number): number;
  /** Records enqueued whose delivery report has not been delivered yet. */
  readonly inFlight: number;
  /** Sets (replaces) the delivery callback. */
  onDelivery(cb: (err: KafkaError | null, report: DeliveryReport) => void): void;
  /** Serves pending delivery reports now (they are dispatched asynchronously, shortly after). */
  poll(): void;
  /**
   * Waits until every enqueued record is delivered or failed and its report dispatched, or
   * `timeoutMs` passed (then rejects with a retriable {@link KafkaError}).
   */
  flush(timeoutMs: number): Promise<void>;
  /** Flushes (bounded) and closes. */
  disconnect(timeoutMs?: number): Promise<void>;

  // ── Transactions (exactly-once mode); only on a producer created with `transactionalId` ──
  /**
   * Registers the transactional id with the cluster: aborts a transaction a previous instance
   * with the same id left open and fences that instance (its next transactional call fails).
   */
  initTransactions?(timeoutMs?: number): Promise<void>;
  /** Starts a transaction: every record produced until commit or abort belongs to it. */
  beginTransaction?(timeoutMs?: number): Promise<void>;
  /**
   * Adds the consumer group's offsets to the transaction (next offset to read per partition),
   * with the consumer's group metadata, so that a zombie member of an older generation is fenced.
   */
  sendOffsetsToTransaction?(offsets: TopicPartitionOffset[], consumer: KafkaConsumerClient, timeoutMs?: number): Promise<void>;
  /** Flushes the transaction's records and commits them and its offsets atomically. */
  commitTransaction?(timeoutMs?: number): Promise<void>;
  /** Aborts the current transaction: its records are never seen by `read_committed` consumers. */
  abortTransaction?(timeoutMs?: number): Promise<void>;
}

/** Topic administration. */
export interface KafkaAdminClient {
  connect(): Promise<void>;
  /**
   * Creates a topic and waits until its partitions have leaders. Resolves true when created,
   * false when it already existed (whatever its partition count).
   *
   * @param replication replication factor, default 1
   * @param config topic configs, e.g. `{ "cleanup.policy": "compact" }`
   */
  createTopic(name: string, partitions: number, replication?: number, config?: Record<string, string>): Promise<boolean>;
  /** Deletes a topic. Resolves true when deleted, false when it did not exist. */
  deleteTopic(name: string): Promise<boolean>;
  /** Names of the topics, without internal ones (`__consumer_offsets`, ...) unless asked. */
  listTopics(opts?: { includeInternal?: boolean }): Promise<string[]>;
  /** Brokers and topics with their partitions; one topic if `topic` is given. */
  metadata(topic?: string): Promise<ClusterMetadata>;
  /**
   * Deletes each partition's records before its `offset` (Kafka's DeleteRecords: the partition's
   * low watermark moves there), as Kafka Streams purges consumed repartition records.
   */
  deleteRecords?(offsets: TopicPartitionOffset[]): Promise<void>;
  disconnect(): Promise<void>;
}

/** Creates clients of one implementation. The engine is handed one of these. */
export interface KafkaClientFactory {
  /** Name of the implementation, for logs and errors, e.g. `node-rdkafka 3.6.1 (librdkafka 2.12.0)`. */
  readonly name: string;
  createConsumer(options: KafkaConsumerOptions): KafkaConsumerClient;
  createProducer(options?: KafkaProducerOptions): KafkaProducerClient;
  createAdmin(options?: KafkaAdminOptions): KafkaAdminClient;
  /**
   * Reads one partition from its beginning to its end as a `read_committed` consumer outside any
   * group (records of aborted or open transactions are skipped), e.g. to restore state from a
   * compacted changelog topic. Resolves with the records in offset order.
   */
  readPartition?(options: KafkaClientOptions, topic: string, partition: number, timeoutMs?: number): Promise<KafkaMessage[]>;
}

/** The bootstrap brokers to use when none are given. */
export function defaultBrokers(): string {
  const env = process.env.RIPTIDE_KAFKA_BROKERS;
  if (env !== undefined && env.trim() !== "") return env.trim();
  const port = process.env.RIPTIDE_KAFKA_PORT;
  return `127.0.0.1:${port !== undefined && port.trim() !== "" ? port.trim() : "9092"}`;
}
