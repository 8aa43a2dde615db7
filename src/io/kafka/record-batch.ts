/**
 * Records packed for KafkaProducerClient.produceMany: values and keys written back to back into
 * one reused Buffer, their places in a reused Float64Array. A producer of many small records (the
 * load generator) then pays one call per batch instead of one per record, and allocates nothing
 * per record.
 */
import { PRODUCE_STRIDE, type KafkaProducerClient } from "./client.js";

export class RecordBatch {
  private data: Buffer;
  private meta: Float64Array;
  private at = 0;
  /** Records in the batch. */
  count = 0;

  constructor(records = 256, bytes = 64 * 1024) {
    this.data = Buffer.allocUnsafe(bytes);
    this.meta = new Float64Array(records * PRODUCE_STRIDE);
  }

  reset(): void {
    this.at = 0;
    this.count = 0;
  }

  /** Appends a record: its value as UTF-8, its key (null: none), its delivery report's opaque (-1: none). */
  add(value: string, key: string | null, opaque = -1): void {
    if ((this.count + 1) * PRODUCE_STRIDE > this.meta.length) {
      const meta = new Float64Array(this.meta.length * 2);
      meta.set(this.meta);
      this.meta = meta;
    }
    const r = this.count * PRODUCE_STRIDE;
    this.meta[r] = this.at;
    this.meta[r + 1] = this.put(value);
    this.meta[r + 2] = this.at;
    this.meta[r + 3] = key === null ? -1 : this.put(key);
    this.meta[r + 4] = opaque;
    this.count++;
  }

  private put(s: string): number {
    // At most 3 bytes per UTF-16 unit.
    if (this.at + s.length * 3 > this.data.length) {
      const data = Buffer.allocUnsafe(Math.max(this.data.length * 2, this.at + s.length * 3));
      this.data.copy(data, 0, 0, this.at);
      this.data = data;
    }
    const n = this.data.write(s, this.at, "utf8");
    this.at += n;
    return n;
  }

  /** Record i's value bytes (a copy). */
  value(i: number): Buffer {
    const r = i * PRODUCE_STRIDE;
    return Buffer.from(this.data.subarray(this.meta[r]!, this.meta[r]! + this.meta[r + 1]!));
  }

  /** Record i's opaque (-1: none). */
  opaque(i: number): number {
    return this.meta[i * PRODUCE_STRIDE + 4]!;
  }

  /** Record i's key (null: none). */
  key(i: number): string | null {
    const r = i * PRODUCE_STRIDE;
    return this.meta[r + 3]! < 0 ? null : this.data.toString("utf8", this.meta[r + 2]!, this.meta[r + 2]! + this.meta[r + 3]!);
  }

  /**
   * Enqueues records from..count (all by default) to topic/partition (null: by key) through
   * produceMany; returns how many it enqueued (fewer when the client's queue is full).
   */
  produce(producer: Pick<KafkaProducerClient, "produceMany">, topic: string, partition: number | null, from = 0): number {
    return producer.produceMany!(topic, partition, this.data, this.meta, from, this.count - from);
  }
}
