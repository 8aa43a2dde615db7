/**
 * engagement-analytics on Kafka: `--input-topic VIEWS,METADATA[,INTERACTIONS]`.
 *
 * The interactions topic (optional third) is read like the second topic of the ride pipelines
 * (kafka-rides.ts): its own consumer (group `<group>.interactions`) interning into the views
 * source's string table (the same ids for the same users and contents), and one MultiSource over
 * both, each side tagging its records with its stream (`_src`, spec.ts) so a record's kind is its
 * topic's. The two topics must be co-partitioned (same partition count, keyed by userId): partition
 * q of both goes to one shard, and the two are read aligned on event time (src/sources/aligned-streams.ts).
 * Before the run, both consumers wait (bounded) for their assignment, so neither topic is left out
 * of the watermark while the other runs ahead.
 *
 * The content-metadata topic is read as a table, the way a Kafka
 * Streams GlobalKTable is read: a consumer of its own (group `<group>.content-metadata`, never
 * committing, so every start reads the compacted topic from its beginning) fills the ContentTable
 * up to the topic's end before the run starts, then keeps applying updates and tombstones while
 * the run goes on. Messages that are not {contentId, title, genre} JSON or a keyed tombstone are
 * logged (`content-metadata-invalid`) and change nothing.
 */
import { rdkafkaClientFactory } from "../io/kafka/rdkafka.js";
import { ContentTable } from "../pipelines/engagement/content-table.js";
import { KIND_INTERACTION, KIND_VIEW } from "../pipelines/engagement/spec.js";
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import { alignedTopics } from "../sources/aligned-streams.js";
import type { MultiSource } from "../sources/multi-source.js";
import { addInputTopic } from "./kafka-rides.js";
import { ensureTopic, type KafkaRunSetup } from "./kafka.js";

export interface ContentTableReader {
  readonly table: ContentTable;
  /** Messages applied and refused so far. */
  readonly counts: { applied: number; invalid: number };
  close(): Promise<void>;
}

export async function startContentTable(opts: {
  brokers: string; topic: string; group: string; partitions: number | undefined;
  onLog: (event: string, detail: Record<string, unknown>) => void;
  /** How long the initial read to the topic's end may take. @default 60000 */
  bootstrapTimeoutMs?: number;
}): Promise<ContentTableReader> {
  const admin = rdkafkaClientFactory.createAdmin({ brokers: opts.brokers });
  await admin.connect();
  let partitions: number;
  try {
    partitions = await ensureTopic(admin, opts.topic, opts.partitions ?? 1, { "cleanup.policy": "compact" });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const consumer = rdkafkaClientFactory.createConsumer({
    brokers: opts.brokers, groupId: `${opts.group}.content-metadata`, autoOffsetReset: "earliest",
    onError: (err) => opts.onLog("kafka-error", { error: err.message, consumer: "content-metadata" }),
  });
  await consumer.connect();
  consumer.subscribe([opts.topic]);
  const table = new ContentTable();
  const counts = { applied: 0, invalid: 0 };
  const next = new Float64Array(partitions);
  const apply = (msgs: Awaited<ReturnType<typeof consumer.consume>>): void => {
    for (const m of msgs) {
      next[m.partition] = m.offset + 1;
      const err = table.apply(m.key ? m.key.toString() : null, m.value === null ? null : m.value.toString());
      if (err === undefined) counts.applied++;
      else {
        counts.invalid++;
        opts.onLog("content-metadata-invalid", { topic: m.topic, partition: m.partition, offset: m.offset, error: err });
      }
    }
  };
  // A topic just created may still answer "unknown topic or partition" for a moment: read again.
  const read = async (max: number): Promise<void> => {
    try {
      apply(await consumer.consume(max, 200));
    } catch (err) {
      if ((err as { kafkaCode?: number }).kafkaCode !== 3) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  // Bootstrap: read to the end offsets as they were when the run started.
  const limit = opts.bootstrapTimeoutMs ?? 60_000;
  const deadline = Date.now() + limit;
  const high: number[] = [];
  for (let p = 0; p < partitions; p++) high.push((await consumer.queryWatermarks!(opts.topic, p)).high);
  while (high.some((h, p) => next[p]! < h)) {
    if (Date.now() > deadline) {
      await consumer.disconnect().catch(() => undefined);
      throw new Error(`the content-metadata table ${opts.topic} was not read to its end within ${limit} ms`);
    }
    await read(1000);
  }
  opts.onLog("content-metadata-loaded", { topic: opts.topic, contents: table.size, messages: counts.applied + counts.invalid });
  let closed = false;
  // Following the table: an error is logged and reading goes on (the table only lags meanwhile).
  const loop = (async () => {
    while (!closed) {
      try {
        await read(500);
      } catch (err) {
        if (closed) break;
        opts.onLog("kafka-error", { error: String((err as Error)?.message ?? err), consumer: "content-metadata" });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  return {
    table, counts,
    async close() {
      closed = true;
      await loop;
      await consumer.disconnect().catch(() => undefined);
    },
  };
}

/**
 * The interactions topic beside the views of `kafka` (the ordinary run setup): returns the source
 * over both (views partitions first). Refuses an interactions topic that is not co-partitioned.
 */
export async function addInteractionsTopic(kafka: KafkaRunSetup, opts: {
  brokers: string; topic: string; group: string; stopWhenIdleMs: number | undefined;
  pipeline: PipelineDefinition; onLog: (event: string, detail: Record<string, unknown>) => void;
}): Promise<{ source: MultiSource; close(): Promise<void> }> {
  const views = kafka.source;
  const second = await addInputTopic(kafka.sink, {
    ...opts, partitions: views.partitions, interner: views.interner, groupSuffix: "interactions", transactions: kafka.transactions,
  });
  if (second.source.partitions !== views.partitions) {
    await second.close();
    throw new Error(`the interactions topic ${opts.topic} has ${second.source.partitions} partitions and the views topic ${views.partitions}: `
      + "engagement-analytics joins them by user on one shard, they must be co-partitioned (the same partition count, keyed by userId)");
  }
  const source = await alignedTopics([views, second.source], opts.pipeline, "copartitioned", kafka.transactions, [KIND_VIEW, KIND_INTERACTION]);
  return { source, close: second.close };
}
