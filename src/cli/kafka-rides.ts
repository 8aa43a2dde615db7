/**
 * Pipelines with two input streams on Kafka (`--input-topic driver-locations,ride-requests`, or
 * `incoming-messages,presence`). The first goes through the ordinary Kafka run setup (./kafka.ts);
 * this adds the second: its own consumer (group `<group>.requests`), a KafkaSource whose dead
 * letters go to `<topic>.dlq` through the same sink, and one MultiSource over both, so offsets of
 * each topic are committed once their outputs are acknowledged. The two topics are read aligned on
 * event time, each side against every partition of the other (src/sources/aligned-streams.ts):
 * what a driver's location meets (the open requests) or a message meets (its recipient's
 * presence) does not depend on which consumer joined its group or fetched first. Before the run
 * both consumers wait (bounded) for their assignment.
 *
 * Exactly-once (`transactions`): the consumer reads `read_committed` with static membership, and
 * the topic joins the run's transactions (src/io/kafka/transactions.ts addInput) — its offsets are
 * sent to each transaction with this consumer's group metadata, and its source state is restored
 * from the snapshot before it reads anything (what each side handed out, not what its
 * KafkaSource read, as the staging of the alignment holds records back).
 */
import { rdkafkaClientFactory } from "../io/kafka/rdkafka.js";
import type { KafkaTransactions } from "../io/kafka/transactions.js";
import type { SharedConsumer } from "../io/kafka/shared-consumer.js";
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import type { KafkaSink } from "../sinks/kafka-sink.js";
import { KafkaSource, type MessageDecoder } from "../sources/kafka-source.js";
import { alignedTopics } from "../sources/aligned-streams.js";
import type { MultiSource } from "../sources/multi-source.js";
import type { Interner } from "../schema/interner.js";
import { ensureTopic } from "./kafka.js";
import { internalRecordFailed } from "../dsl/repartition.js";

export async function addSecondInputTopic(first: KafkaSource, sink: KafkaSink, opts: InputTopicOptions): Promise<{ source: MultiSource; close(): Promise<void> }> {
  const second = await addInputTopic(sink, { ...opts, groupSuffix: "requests" });
  return { source: await alignedTopics([first, second.source], opts.pipeline, "all", opts.transactions), close: second.close };
}

export interface InputTopicOptions {
  brokers: string; topic: string; group: string; partitions: number | undefined; stopWhenIdleMs: number | undefined;
  pipeline: PipelineDefinition; onLog: (event: string, detail: Record<string, unknown>) => void;
  /** The string table to intern into (default: the source's own). */
  interner?: Interner;
  /**
   * --guarantee exactly-once: the run's transactions; the topic is added to them (call in the
   * order of the combined source's partitions: after the topics before it).
   */
  transactions?: KafkaTransactions | undefined;
  /** The run's one consumer for every topic (state per partition): this topic is read through its view. */
  shared?: SharedConsumer | undefined;
  /**
   * State per partition: a GlobalKTable's topic, read whole by this process (give a groupSuffix of
   * its own per instance, no `shared`); its offsets are never committed (TransactionalInput.global).
   */
  global?: boolean;
  /** Messages that are not events of the pipeline's schema (KafkaSourceOptions.decode: a repartition topic). */
  decode?: MessageDecoder | undefined;
  /**
   * A topic the run writes itself (a repartition topic): no `<topic>.dlq` (a message that does not
   * decode fails the run: repartition.ts RepartitionRecordError), and under exactly-once its
   * records before each committed offset are deleted (TransactionalInput.purge).
   */
  internal?: boolean;
}

/**
 * Another input topic beside the one of the ordinary Kafka run setup: its own consumer (group
 * `<group>.<groupSuffix>`; or its view of the run's `shared` one) and a KafkaSource whose dead letters go to `<topic>.dlq` through the sink.
 */
export async function addInputTopic(sink: KafkaSink, opts: InputTopicOptions & { groupSuffix: string }): Promise<{ source: KafkaSource; close(): Promise<void> }> {
  const admin = rdkafkaClientFactory.createAdmin({ brokers: opts.brokers });
  await admin.connect();
  let partitions: number;
  try {
    partitions = await ensureTopic(admin, opts.topic, opts.partitions ?? 1);
    if (opts.internal !== true) await ensureTopic(admin, `${opts.topic}.dlq`, opts.partitions ?? partitions);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const consumer = opts.shared ? opts.shared.view(opts.topic) : rdkafkaClientFactory.createConsumer({
    brokers: opts.brokers, groupId: `${opts.group}.${opts.groupSuffix}`, autoOffsetReset: "earliest", maxPrefetchKBytes: 64 << 10,
    onError: (err) => opts.onLog("kafka-error", { error: err.message, consumer: opts.groupSuffix }),
    // Exactly-once: as the first topic's consumer (kafka.ts), static membership gives a restarted
    // process its partitions back at once.
    ...(opts.transactions && { isolationLevel: "read_committed" as const, extra: { "group.instance.id": `riptide-${opts.group}.${opts.groupSuffix}` } }),
  });
  await consumer.connect();
  const second = new KafkaSource({
    consumer, topic: opts.topic, partitions, pipeline: opts.pipeline, ...(opts.interner && { interner: opts.interner }), ...(opts.decode && { decode: opts.decode }),
    deadLetter: opts.internal === true ? internalRecordFailed : (topic, value, key, headers) => sink.send(topic, value, key, headers),
    ...(opts.stopWhenIdleMs !== undefined && { stopWhenIdleMs: opts.stopWhenIdleMs }),
    onLog: (event, detail) => opts.onLog(event, { ...detail, topic: opts.topic }),
  });
  try {
    opts.transactions?.addInput({ topic: opts.topic, partitions, consumer: opts.shared?.consumer ?? consumer, source: second, ...(opts.global && { global: true }), ...(opts.internal && { purge: true }) });
  } catch (err) {
    await consumer.disconnect().catch(() => undefined);
    throw err;
  }
  second.start();
  return {
    source: second,
    async close() {
      await consumer.disconnect().catch(() => undefined);
    },
  };
}
