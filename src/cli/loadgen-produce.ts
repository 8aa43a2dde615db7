/**
 * A load generator's records on their way to Kafka: staged per topic and partition while a batch
 * of events is made, then enqueued many per call (KafkaProducerClient.produceMany, with
 * native-bindings/kafka) or, without it, one produce() each. A full client queue is waited out
 * (poll, 1 ms at a time) either way. Order is kept within each topic and partition.
 */
import type { KafkaProducerClient } from "../io/kafka/client.js";
import { RecordBatch } from "../io/kafka/record-batch.js";

interface Staged {
  topic: string;
  /** null: the partitioner picks from the key. */
  partition: number | null;
  batch: RecordBatch;
}

export class StagedRecords {
  /** By topic, then partition (no string made per record to look one up). */
  private readonly staged = new Map<string, Map<number | null, Staged>>();
  /** Records enqueued so far. */
  sent = 0;

  constructor(private readonly producer: KafkaProducerClient) {}

  /** Stages one record (value as UTF-8 JSON text, key or null). */
  add(topic: string, partition: number | null, value: string, key: string | null): void {
    let byPartition = this.staged.get(topic);
    if (byPartition === undefined) this.staged.set(topic, (byPartition = new Map()));
    let s = byPartition.get(partition);
    if (s === undefined) byPartition.set(partition, (s = { topic, partition, batch: new RecordBatch() }));
    s.batch.add(value, key);
  }

  /** Enqueues everything staged. */
  async send(): Promise<void> {
    const producer = this.producer;
    for (const byPartition of this.staged.values()) for (const { topic, partition, batch } of byPartition.values()) {
      const n = batch.count;
      if (n === 0) continue;
      if (producer.produceMany) {
        for (let done = batch.produce(producer, topic, partition); done < n; done += batch.produce(producer, topic, partition, done)) await backOff(producer);
      } else {
        for (let i = 0; i < n; i++) {
          const value = batch.value(i), key = batch.key(i);
          while (!tryProduce(producer, topic, partition, value, key)) await backOff(producer);
        }
      }
      this.sent += n;
      batch.reset();
    }
  }
}

/** Produces one message, waiting (polling the producer, 1 ms at a time) while the client's queue is full or refuses it. */
export async function produceWithBackoff(producer: KafkaProducerClient, topic: string, partition: number | null, value: Buffer, key: string | null): Promise<void> {
  while (!tryProduce(producer, topic, partition, value, key)) await backOff(producer);
}

/** One produce() call: false when the client's queue is full or it refused (retry later). */
export function tryProduce(producer: KafkaProducerClient, topic: string, partition: number | null, value: Buffer, key: string | null): boolean {
  try {
    return producer.produce(topic, partition, value, key);
  } catch {
    return false;
  }
}

/**
 * Waits until every record enqueued is delivered or failed (the client's queue empty), then gives
 * failures still on their way to JavaScript a few polls; a flush that runs out of time counts as
 * an error. For a producer created with `deliveryReports: "errors"`.
 */
export async function drain(producer: KafkaProducerClient, onError: (message: string) => void): Promise<void> {
  await producer.flush(60_000).catch((err: unknown) => onError(String((err as Error)?.message ?? err)));
  for (let i = 0; i < 5; i++) {
    producer.poll();
    await new Promise((r) => setTimeout(r, 5));
  }
}

function backOff(producer: KafkaProducerClient): Promise<void> {
  producer.poll();
  return new Promise((r) => setTimeout(r, 1));
}
