/**
 * Outputs to Kafka topics: window results to the output topic, side outputs to `<topic>.<name>`
 * (`O.invalid`, `O.anomaly`, `O.late`), dead letters to `<input-topic>.dlq`. Each message value is
 * the same JSON object the file sink writes, keyed by the pipeline's output key.
 *
 * Acknowledgement: every produced message gets a sequence number; delivery reports (which may come
 * back out of order) mark it done, and `acknowledged` is the length of the delivered prefix — what
 * the coordinator's offset commits wait for. A message the client's queue refuses waits in an
 * overflow list and is retried from service(); a failed delivery is a fatal error of the run (the
 * offsets behind it are never committed, so nothing is lost: a restart reprocesses it).
 */
import { KafkaError, type KafkaHeader, type KafkaProducerClient } from "../io/kafka/client.js";
import type { Output, Sink } from "./sink.js";

const WINDOW = 1 << 20; // delivered-flags ring: more than any producer queue holds

export interface KafkaSinkOptions {
  producer: KafkaProducerClient;
  /** Topic of the main output ("window" results). */
  topic: string;
  /** Key of an output (null: no key). */
  key: (output: Output) => string | null;
  /** How long flush() waits for outstanding deliveries. @default 30000 */
  flushTimeoutMs?: number;
}

export class KafkaSink implements Sink {
  readonly wantsObjects = true;
  written = 0;
  acknowledged = 0;
  private readonly delivered = new Uint8Array(WINDOW);
  private readonly overflow: Array<{ topic: string; value: Buffer; key: string | null; headers: KafkaHeader[] | undefined; seq: number }> = [];
  private failure: Error | undefined;
  /** Messages produced per topic. */
  readonly perTopic = new Map<string, number>();

  constructor(private readonly options: KafkaSinkOptions) {
    options.producer.onDelivery((err, report) => {
      const seq = report.opaque as number;
      if (typeof seq !== "number") return;
      if (err) {
        this.failure ??= new KafkaError(`delivery to ${report.topic} failed: ${err.message}`, { cause: err });
        return;
      }
      this.delivered[seq % WINDOW] = 1;
      while (this.acknowledged < this.written && this.delivered[this.acknowledged % WINDOW] === 1) {
        this.delivered[this.acknowledged % WINDOW] = 0;
        this.acknowledged++;
      }
    });
  }

  get pending(): number {
    return this.written - this.acknowledged;
  }

  /** The topic an output goes to. */
  topicOf(output: Output): string {
    return output.type === "window" ? this.options.topic : `${this.options.topic}.${output.type}`;
  }

  write(output: Output): void {
    this.send(this.topicOf(output), Buffer.from(JSON.stringify(output)), this.options.key(output));
  }

  /** Produces a raw message (dead letters) under the same acknowledgement accounting. */
  send(topic: string, value: Buffer, key: string | null, headers?: KafkaHeader[]): void {
    const seq = this.written++;
    this.perTopic.set(topic, (this.perTopic.get(topic) ?? 0) + 1);
    if (this.overflow.length > 0 || !this.tryProduce(topic, value, key, headers, seq)) {
      this.overflow.push({ topic, value, key, headers, seq });
    }
  }

  private tryProduce(topic: string, value: Buffer, key: string | null, headers: KafkaHeader[] | undefined, seq: number): boolean {
    try {
      return this.options.producer.produce(topic, null, value, key, headers, seq);
    } catch (err) {
      if (err instanceof KafkaError && err.retriable) return false;
      throw err;
    }
  }

  service(): void {
    if (this.failure) throw this.failure;
    this.options.producer.poll();
    while (this.overflow.length > 0) {
      const m = this.overflow[0]!;
      if (!this.tryProduce(m.topic, m.value, m.key, m.headers, m.seq)) break;
      this.overflow.shift();
    }
  }

  async flush(): Promise<void> {
    const deadline = Date.now() + (this.options.flushTimeoutMs ?? 30_000);
    while (this.acknowledged < this.written) {
      this.service();
      if (Date.now() > deadline) {
        throw new KafkaError(`${this.written - this.acknowledged} outputs were not acknowledged by Kafka within ${this.options.flushTimeoutMs ?? 30_000} ms`);
      }
      await this.options.producer.flush(200).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 2));
    }
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
