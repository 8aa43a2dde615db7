/** `riptide run … --brokers`: the Kafka source and sink around a coordinator, and `riptide loadgen`. */
import { rdkafkaClientFactory } from "../io/kafka/rdkafka.js";
import type { KafkaAdminClient, KafkaConsumerClient } from "../io/kafka/client.js";
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import { KafkaSink } from "../sinks/kafka-sink.js";
import { KafkaSource } from "../sources/kafka-source.js";
import { UsageError } from "./args.js";

export interface KafkaRunSetup {
  source: KafkaSource;
  sink: KafkaSink;
  /** The source's consumer (main thread), e.g. for lag measurement (src/metrics/lag.ts). */
  consumer: KafkaConsumerClient;
  close(): Promise<void>;
}

/** The partition count of a topic, creating it with `partitions` when it is missing. */
export async function ensureTopic(admin: KafkaAdminClient, topic: string, partitions: number): Promise<number> {
  const md = await admin.metadata(topic).catch(() => undefined);
  const found = md?.topics.find((t) => t.name === topic);
  if (found && found.partitions > 0) return found.partitions;
  await admin.createTopic(topic, partitions, 1);
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
}): Promise<KafkaRunSetup> {
  const admin = rdkafkaClientFactory.createAdmin({ brokers: opts.brokers });
  await admin.connect();
  const partitions = await ensureTopic(admin, opts.inputTopic, opts.partitions ?? 1);
  const outPartitions = opts.partitions ?? partitions;
  for (const t of [opts.outputTopic, ...opts.pipeline.outputs.filter((o) => o !== "window").map((o) => `${opts.outputTopic}.${o}`), `${opts.inputTopic}.dlq`]) {
    await ensureTopic(admin, t, outPartitions);
  }
  const producer = rdkafkaClientFactory.createProducer({ brokers: opts.brokers, lingerMs: 5 });
  await producer.connect();
  const consumer = rdkafkaClientFactory.createConsumer({
    brokers: opts.brokers, groupId: opts.group, autoOffsetReset: "earliest", maxPrefetchKBytes: 256 << 10,
    onError: (err) => opts.onLog("kafka-error", { error: err.message }),
  });
  await consumer.connect();
  const sink = new KafkaSink({ producer, topic: opts.outputTopic, key: (o) => opts.pipeline.outputKey(o) });
  const source = new KafkaSource({
    consumer, topic: opts.inputTopic, partitions, pipeline: opts.pipeline,
    deadLetter: (topic, value, key, headers) => sink.send(topic, value, key, headers),
    ...(opts.stopWhenIdleMs !== undefined && { stopWhenIdleMs: opts.stopWhenIdleMs }),
    onLog: opts.onLog,
  });
  source.start();
  return {
    source, sink, consumer,
    async close() {
      await consumer.disconnect().catch(() => undefined);
      await producer.disconnect(10_000).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    },
  };
}
