/** `riptide run … --brokers`: the Kafka source and sink around a coordinator, and `riptide loadgen`. */
import type { Interner } from "../schema/interner.js";
import { createPackedProducer, rdkafkaClientFactory } from "../io/kafka/rdkafka.js";
import type { KafkaAdminClient, KafkaConsumerClient } from "../io/kafka/client.js";
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import { backoffFor, DEAD_LETTER_MAX_BYTES, RetryTopic, type RetryPolicy } from "../io/retry.js";
import { KafkaSink } from "../sinks/kafka-sink.js";
import { changelogTopicFor, KafkaTransactions } from "../io/kafka/transactions.js";
import { KafkaStateLog, STATE_LOG_CONFIG, stateLogTopicFor } from "../io/kafka/state-log.js";
import type { RunSnapshot } from "../coordinator/snapshot.js";
import { KafkaSource } from "../sources/kafka-source.js";
import { SharedConsumer } from "../io/kafka/shared-consumer.js";
import { UsageError } from "./args.js";
import { REPARTITION_TOPIC_CONFIG } from "../dsl/repartition.js";

export interface KafkaRunSetup {
  source: KafkaSource;
  sink: KafkaSink;
  /** The source's consumer (main thread), e.g. for lag measurement (src/metrics/lag.ts). */
  consumer: KafkaConsumerClient;
  /** `<input-topic>.retry` and its consumer (refused outputs are delivered again from there). */
  retry: RetryTopic;
  /** Waits (bounded) until every retry this process scheduled has succeeded or reached the DLQ. */
  settleRetries(): Promise<boolean>;
  /** Exactly-once: the transaction hooks for the coordinator, and the state to start from. */
  transactions?: KafkaTransactions;
  restore?: RunSnapshot;
  /** At-least-once with PipelineDefinition.loggedState: the state log (the coordinator's StateLogHooks). */
  stateLog?: KafkaStateLog;
  /** The consumer every input topic is read with (KafkaRunSetup's `inputTopics`). */
  shared?: SharedConsumer;
  close(): Promise<void>;
}

/**
 * How often an at-least-once run saves its logged state (KafkaStateLog), ms: its commits advance
 * in steps of about this.
 */
const STATE_LOG_INTERVAL_MS = 1000;

/** The partition count of a topic, creating it with `partitions` when it is missing. */
export async function ensureTopic(admin: KafkaAdminClient, topic: string, partitions: number, config?: Record<string, string>): Promise<number> {
  const md = await admin.metadata(topic).catch(() => undefined);
  const found = md?.topics.find((t) => t.name === topic);
  if (found && found.partitions > 0) return found.partitions;
  await admin.createTopic(topic, partitions, 1, config);
  for (let i = 0; i < 50; i++) {
    const m = await admin.metadata(topic).catch(() => undefined);
    const t = m?.topics.find((x) => x.name === topic);
    if (t && t.partitions > 0) return t.partitions;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new UsageError(`topic ${topic} was not created (check the broker at --brokers)`);
}

export async function setupKafkaRun(opts: {
  brokers: string; inputTopic: string; outputTopic: string; group: string; partitions: number | undefined;
  stopWhenIdleMs: number | undefined; pipeline: PipelineDefinition;
  onLog: (event: string, detail: Record<string, unknown>) => void;
  /** --max-retries / --retry-backoff. */
  retry?: Partial<RetryPolicy>;
  /** --delivery-timeout: how long librdkafka may try to deliver a message before reporting it failed (ms). */
  deliveryTimeoutMs?: number | undefined;
  /** --guarantee exactly-once: transactions (see src/io/kafka/transactions.ts), committed every commitIntervalMs. */
  exactlyOnce?: { commitIntervalMs: number } | undefined;
  /** The string table the source interns into (DSL topologies reading several topics share one). */
  interner?: Interner;
  /**
   * Exactly-once with state per partition (--instance-id): this process's own transactional id and
   * static group membership, so several processes of the group split the partitions.
   */
  instanceId?: string | undefined;
  /**
   * With `instanceId`, every input topic of the run (the first is `inputTopic`): one consumer reads
   * them all (src/io/kafka/shared-consumer.ts), so a task spanning them moves as one; the other
   * topics' sources take their views of it from `shared` (kafka-rides.ts addInputTopic).
   */
  inputTopics?: readonly string[];
  /**
   * With `instanceId`: the topology's repartition topics (among `inputTopics`), created here with
   * the input topic's partition count (partition q of each is task q's), before anything subscribes.
   */
  repartitionTopics?: readonly string[];
}): Promise<KafkaRunSetup> {
  const member = opts.instanceId === undefined ? `riptide-${opts.group}` : `riptide-${opts.group}-${opts.instanceId}`;
  const admin = rdkafkaClientFactory.createAdmin({ brokers: opts.brokers });
  await admin.connect();
  const partitions = await ensureTopic(admin, opts.inputTopic, opts.partitions ?? 1);
  for (const t of opts.repartitionTopics ?? []) {
    const n = await ensureTopic(admin, t, partitions, { ...REPARTITION_TOPIC_CONFIG });
    if (n !== partitions) throw new UsageError(`repartition topic ${t} has ${n} partitions, ${opts.inputTopic} ${partitions}: they must match (delete it, or use another --group)`);
  }
  const outPartitions = opts.partitions ?? partitions;
  const topics = opts.pipeline.outputTopics?.(opts.outputTopic);
  for (const t of [opts.outputTopic, ...opts.pipeline.outputs.filter((o) => o !== "window").map((o) => topics?.[o] ?? `${opts.outputTopic}.${o}`), `${opts.inputTopic}.dlq`, `${opts.inputTopic}.retry`]) {
    // Dead letters are input messages as they came, which may be larger than the broker's default limit.
    await ensureTopic(admin, t, outPartitions, t.endsWith(".dlq") ? { "max.message.bytes": String(DEAD_LETTER_MAX_BYTES) } : undefined);
  }
  // Every topic written to exists now: a topic that disappears is a (retriable) delivery failure,
  // not a silent re-creation with broker defaults.
  const producerExtra = {
    // Per instance: a killed process's open transaction holds the changelog's readers back until
    // the broker aborts it (or the instance restarts), so not the default minute.
    ...(opts.instanceId !== undefined && { "transaction.timeout.ms": 10_000 }),
    "allow.auto.create.topics": false, "message.max.bytes": DEAD_LETTER_MAX_BYTES + (64 << 10), ...(opts.deliveryTimeoutMs !== undefined && { "message.timeout.ms": opts.deliveryTimeoutMs }) };
  const producer = rdkafkaClientFactory.createProducer({
    brokers: opts.brokers, lingerMs: 5, extra: producerExtra,
    onError: (err) => opts.onLog("kafka-error", { error: err.message, client: "producer", ...(err.fatal && { fatal: true }) }),
    // One transactional id per group (per instance with --instance-id): a restarted process fences its zombie.
    // Exactly-once: failed deliveries only are reported (the sink needs no success report, see
    // KafkaSinkOptions.transactional).
    ...(opts.exactlyOnce && { transactionalId: member, deliveryReports: "errors" as const }),
  });
  await producer.connect();
  // One record per request: a batch refused as a whole (e.g. one record too large) does not take
  // its neighbours' retries down with it.
  const retryProducer = rdkafkaClientFactory.createProducer({ brokers: opts.brokers, lingerMs: 0, extra: { ...producerExtra, "batch.num.messages": 1 } });
  await retryProducer.connect();
  const retryConsumer = rdkafkaClientFactory.createConsumer({
    brokers: opts.brokers, groupId: `${opts.group}.retry`, autoOffsetReset: "earliest",
    onError: (err) => opts.onLog("kafka-error", { error: err.message, consumer: "retry" }),
  });
  await retryConsumer.connect();
  const retry = new RetryTopic({ inputTopic: opts.inputTopic, policy: opts.retry ?? {}, consumer: retryConsumer, producer: retryProducer, onLog: opts.onLog });
  retry.start();
  const consumer = rdkafkaClientFactory.createConsumer({
    brokers: opts.brokers, groupId: opts.group, autoOffsetReset: "earliest", maxPrefetchKBytes: 256 << 10,
    onError: (err) => opts.onLog("kafka-error", { error: err.message }),
    // Exactly-once: static membership (one process per group, so one instance id): a restarted
    // process takes its partitions back at once instead of waiting for the dead one's session.
    ...(opts.exactlyOnce && { isolationLevel: "read_committed" as const, extra: { "group.instance.id": member } }),
  });
  await consumer.connect();
  const shared = opts.instanceId !== undefined && opts.inputTopics && opts.inputTopics.length > 1 ? new SharedConsumer(consumer, opts.inputTopics) : undefined;
  const own = shared ? shared.view(opts.inputTopic) : consumer;
  let transactions: KafkaTransactions | undefined;
  let restore: RunSnapshot | undefined;
  if (opts.exactlyOnce) {
    transactions = new KafkaTransactions({
      factory: rdkafkaClientFactory, client: { brokers: opts.brokers }, producer, admin,
      changelogTopic: changelogTopicFor(opts.group), intervalMs: opts.exactlyOnce.commitIntervalMs, onLog: opts.onLog,
      ...(opts.instanceId !== undefined && { taskMode: true, changelogPartitions: partitions, ...(opts.pipeline.taskState && { taskCodec: opts.pipeline.taskState }) }),
    });
    restore = await transactions.start();
  }
  // Exactly-once: a refused output fails the transaction, and the run restarts from the last
  // commit; copying it to the retry topic outside the transaction would break the guarantee.
  // At-least-once: outputs through a producer whose delivery reports are numbers, not objects
  // (native-bindings/kafka; node-rdkafka's producer above keeps dead letters and copies). Its
  // records cannot join node-rdkafka's transactions, so not with exactly-once.
  const outputs = opts.exactlyOnce ? null : createPackedProducer({
    brokers: opts.brokers, lingerMs: 5, extra: producerExtra,
    onError: (err) => opts.onLog("kafka-error", { error: err.message, client: "output producer", ...(err.fatal && { fatal: true }) }),
  });
  const sink = new KafkaSink({
    producer, topic: opts.outputTopic, key: (o) => opts.pipeline.outputKey(o), ...(!opts.exactlyOnce && { retry }), ...(topics && { topics }),
    ...(opts.exactlyOnce && { transactional: true }),
    ...(outputs && { outputs }),
  });
  const source = new KafkaSource({
    consumer: own, topic: opts.inputTopic, partitions, pipeline: opts.pipeline, ...(opts.interner && { interner: opts.interner }),
    deadLetter: (topic, value, key, headers) => sink.send(topic, value, key, headers),
    ...(opts.stopWhenIdleMs !== undefined && { stopWhenIdleMs: opts.stopWhenIdleMs }),
    onLog: opts.onLog,
  });
  // At-least-once: the pipeline's state beyond its windows in a log, read back on each assignment
  // (exactly-once has it in the transactions' snapshot).
  let stateLog: KafkaStateLog | undefined;
  let stateProducer: ReturnType<typeof rdkafkaClientFactory.createProducer> | undefined;
  if (!opts.exactlyOnce && opts.pipeline.loggedState) {
    stateProducer = rdkafkaClientFactory.createProducer({
      brokers: opts.brokers, lingerMs: 5, deliveryReports: "errors", extra: producerExtra,
      onError: (err) => opts.onLog("kafka-error", { error: err.message, client: "state log producer", ...(err.fatal && { fatal: true }) }),
    });
    await stateProducer.connect();
    const topic = stateLogTopicFor(opts.group, opts.pipeline.loggedState);
    await ensureTopic(admin, topic, 1, STATE_LOG_CONFIG);
    stateLog = new KafkaStateLog({
      factory: rdkafkaClientFactory, client: { brokers: opts.brokers }, producer: stateProducer, topic, codec: opts.pipeline.loggedState, interner: source.interner,
      intervalMs: STATE_LOG_INTERVAL_MS, onLog: opts.onLog,
    });
  }
  // The first input of the transactions; its part of the restored state (string table, frames
  // read in part) goes in before the source decodes anything; the coordinator restores the rest.
  // More input topics are added in the combined source's order (kafka-rides.ts addInputTopic).
  transactions?.addInput({ topic: opts.inputTopic, partitions, consumer, source });
  source.start();
  return {
    source, sink, consumer, retry,
    ...(transactions && { transactions }),
    ...(shared && { shared }),
    ...(restore && { restore }),
    ...(stateLog && { stateLog }),
    async settleRetries() {
      // Bounded by the whole schedule: every backoff plus one delivery timeout per attempt, and a margin.
      const p = retry.policy;
      let ms = 30_000;
      for (let a = 1; a <= p.maxRetries; a++) ms += backoffFor(p, a) + (opts.deliveryTimeoutMs ?? 300_000);
      const settled = await retry.settle(ms);
      if (!settled) opts.onLog("retry-pending", { topic: retry.topic, note: "retries not finished; the next run (or another group member) takes them from the retry topic" });
      return settled;
    },
    async close() {
      await retry.close();
      await retryConsumer.disconnect().catch(() => undefined);
      await retryProducer.disconnect(10_000).catch(() => undefined);
      await own.disconnect().catch(() => undefined);
      await outputs?.close(10_000).catch(() => undefined);
      await stateProducer?.disconnect(10_000).catch(() => undefined);
      await producer.disconnect(10_000).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    },
  };
}
