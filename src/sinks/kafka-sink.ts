/**
 * Outputs to Kafka topics: window results to the output topic, side outputs to `<topic>.<name>`
 * (`O.invalid`, `O.anomaly`, `O.late`), dead letters to `<input-topic>.dlq`. Each message value is
 * the same JSON object the file sink writes, keyed by the pipeline's output key.
 *
 * Acknowledgement: every produced message gets a sequence number; delivery reports (which may come
 * back out of order) mark it done, and `acknowledged` is the length of the delivered prefix — what
 * the coordinator's offset commits wait for. A message the client's queue refuses waits in an
 * overflow list and is retried from service(); a failed delivery is a fatal error of the run (the
 * offsets behind it are never committed, so nothing is lost: a restart reprocesses it) — unless a
 * retry topic is given: then a message Kafka refused is copied, under the same sequence number, to
 * the retry topic (retriable errors; `src/io/retry.ts` delivers it again after a backoff) or to the
 * DLQ, and counts as acknowledged only once that copy is. Only a refused copy fails the run.
 * Exactly-once (`transactional`): only failed deliveries are reported, and flush() — each commit —
 * counts everything written before it acknowledged once the client's queue is empty.
 *
 * With a client that enqueues many records per call (KafkaProducerClient.produceMany:
 * native-bindings/kafka), outputs are staged per topic as UTF-8 bytes in one reused buffer and
 * enqueued at the next service() (or once STAGE_LIMIT wait), their sequence numbers riding as the
 * delivery reports' opaque. bench/io/kafka-sink.bench.ts: 6.6 µs of the main thread per output
 * instead of 7.35 with one produce() each; most of what remains is node-rdkafka building a report
 * object per delivery. With `outputs` (a PackedProducerClient: reports as numbers) the staged
 * outputs go through that producer instead, and its reports are read at service(). Raw messages
 * (send(), fail(): dead letters, copies) go one by one through `producer`.
 */
import { KafkaError, REPORT_STRIDE, type KafkaHeader, type KafkaProducerClient, type PackedProducerClient } from "../io/kafka/client.js";
import { RecordBatch } from "../io/kafka/record-batch.js";
import { NonRetryableError, type FailedRecord, type RetryTopic } from "../io/retry.js";
import type { Output, Sink } from "./sink.js";

const WINDOW = 1 << 20; // delivered-flags ring: more than any producer queue holds
/** Outputs staged for one topic before they are enqueued without waiting for service(). */
const STAGE_LIMIT = 1024;

export interface KafkaSinkOptions {
  producer: KafkaProducerClient;
  /** Topic of the main output ("window" results). */
  topic: string;
  /** Key of an output (null: no key). */
  key: (output: Output) => string | null;
  /** Topic per output name where it is not `<topic>.<name>` (PipelineDefinition.outputTopics). */
  topics?: Readonly<Record<string, string>>;
  /** How long flush() waits for outstanding deliveries. @default 30000 */
  flushTimeoutMs?: number;
  /** Where refused messages and failed records go (retry topic or DLQ). @default none: a refused message fails the run */
  retry?: RetryTopic;
  /** A producer for the outputs whose delivery reports are numbers (createPackedProducer); the caller closes it after the sink. */
  outputs?: PackedProducerClient;
  /**
   * Exactly-once: `producer` is transactional and reports failed deliveries only
   * (`deliveryReports: "errors"`). Nothing needs a delivery's success before the transaction
   * commits (a transaction with a failed message does not commit), so flush() waits for the
   * producer's queue to empty and then counts every output written before it acknowledged: no
   * JavaScript callback per output (node-rdkafka builds an object for each report).
   */
  transactional?: boolean;
}

/** A message kept until Kafka acknowledges it, so that a refused one can be copied elsewhere. */
interface Held {
  topic: string;
  /** The bytes, or for a staged output its JSON text (made bytes again only if it must be copied). */
  value: Buffer | string;
  key: string | null;
  headers: KafkaHeader[] | undefined;
  /** Already a copy (to the retry topic or the DLQ): a refusal now fails the run. */
  copy: boolean;
  dead: boolean;
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
  /** In-flight messages by sequence number (only with a retry topic). */
  private readonly held: Array<Held | undefined> | undefined;
  /** Outputs not yet enqueued, per topic (only with produceMany); `sent` of them went in. */
  private readonly staging = new Map<string, { topic: string; batch: RecordBatch; sent: number }>();

  /** What staged outputs are enqueued through: `outputs`, else `producer` when it has produceMany. */
  private readonly stager: Pick<KafkaProducerClient, "produceMany"> | undefined;
  /** `outputs`' reports, read at service(). */
  private readonly reports: Float64Array | undefined;

  constructor(private readonly options: KafkaSinkOptions) {
    if (options.retry) this.held = new Array<Held | undefined>(WINDOW);
    this.stager = options.outputs ?? (options.producer.produceMany ? options.producer : undefined);
    if (options.outputs) this.reports = new Float64Array(1024 * REPORT_STRIDE);
    options.producer.onDelivery((err, report) => {
      const seq = report.opaque as number;
      if (typeof seq !== "number") return;
      this.reported(seq, err, report.topic, report.partition, report.offset);
    });
  }

  /** Message `seq` delivered (err null) or refused by Kafka. */
  private reported(seq: number, err: KafkaError | null, topic: string, partition: number, offset: number): void {
    if (err) {
      if (!this.copyRefused(seq, err)) this.failure ??= new KafkaError(`delivery to ${topic} failed: ${err.message}`, { cause: err });
      return;
    }
    if (this.held) {
      const h = this.held[seq % WINDOW];
      if (h?.copy && !h.dead) this.options.retry!.noteScheduled(partition, offset);
      this.held[seq % WINDOW] = undefined;
    }
    this.delivered[seq % WINDOW] = 1;
    while (this.acknowledged < this.written && this.delivered[this.acknowledged % WINDOW] === 1) {
      this.delivered[this.acknowledged % WINDOW] = 0;
      this.acknowledged++;
    }
  }

  /** Reads the packed producer's delivery reports. */
  private readReports(): void {
    const outputs = this.options.outputs!, out = this.reports!;
    const room = out.length / REPORT_STRIDE;
    for (let n = outputs.poll(out); n > 0; n = n === room ? outputs.poll(out) : 0) {
      for (let i = 0; i < n; i++) {
        const r = i * REPORT_STRIDE;
        const seq = out[r]!, code = out[r + 1]!, partition = out[r + 2]!;
        const topic = this.held?.[seq % WINDOW]?.topic ?? this.options.topic;
        this.reported(seq, code === 0 ? null : outputs.error(code, topic, partition), topic, partition, out[r + 3]!);
      }
    }
  }

  get pending(): number {
    return this.written - this.acknowledged;
  }

  /** The topic an output goes to. */
  topicOf(output: Output): string {
    const named = this.options.topics?.[output.type];
    if (named !== undefined) return named;
    return output.type === "window" ? this.options.topic : `${this.options.topic}.${output.type}`;
  }

  write(output: Output): void {
    const topic = this.topicOf(output);
    const key = this.options.key(output);
    const json = JSON.stringify(output);
    if (!this.stager) {
      this.send(topic, Buffer.from(json), key);
      return;
    }
    const seq = this.written++;
    if (this.held) this.held[seq % WINDOW] = { topic, value: json, key, headers: undefined, copy: false, dead: false };
    this.perTopic.set(topic, (this.perTopic.get(topic) ?? 0) + 1);
    let st = this.staging.get(topic);
    if (st === undefined) this.staging.set(topic, (st = { topic, batch: new RecordBatch(), sent: 0 }));
    st.batch.add(json, key, seq);
    if (st.batch.count - st.sent >= STAGE_LIMIT) this.enqueueStaged(st);
  }

  /**
   * Enqueues a topic's staged outputs, one produceMany() call for as many as the client's queue
   * takes (the rest wait for the next service()). One refused on the spot is handled as produceAs
   * does: copied to the retry topic or the DLQ, else the run's failure.
   */
  private enqueueStaged(st: { topic: string; batch: RecordBatch; sent: number }): void {
    const batch = st.batch;
    while (st.sent < batch.count) {
      try {
        const n = batch.produce(this.stager!, st.topic, null, st.sent);
        st.sent += n;
        if (st.sent < batch.count) return; // the queue is full
      } catch (err) {
        const k = err instanceof KafkaError ? err : undefined;
        if (k?.enqueued === undefined) {
          this.failure ??= k ?? new KafkaError(`produce to ${st.topic} failed: ${String((err as Error)?.message ?? err)}`, { cause: err });
          return;
        }
        st.sent += k.enqueued;
        if (k.retriable) return; // as a full queue: again at the next service()
        const seq = batch.opaque(st.sent++);
        const e = new NonRetryableError(`refused by the client: ${k.message}`, { cause: err });
        if (!this.copyRefused(seq, e)) this.failure ??= new KafkaError(`produce to ${st.topic} failed: ${e.message}`, { cause: err });
      }
    }
    batch.reset();
    st.sent = 0;
  }

  /** Produces a raw message (dead letters) under the same acknowledgement accounting. */
  send(topic: string, value: Buffer, key: string | null, headers?: KafkaHeader[]): void {
    const seq = this.written++;
    if (this.held) this.held[seq % WINDOW] = { topic, value, key, headers, copy: false, dead: false };
    this.produceAs(seq, topic, value, key, headers);
  }

  private produceAs(seq: number, topic: string, value: Buffer, key: string | null, headers: KafkaHeader[] | undefined): void {
    this.perTopic.set(topic, (this.perTopic.get(topic) ?? 0) + 1);
    try {
      if (this.overflow.length > 0 || !this.tryProduce(topic, value, key, headers, seq)) {
        this.overflow.push({ topic, value, key, headers, seq });
      }
    } catch (err) {
      // Refused on the spot (e.g. larger than message.max.bytes): as a refused delivery, never an
      // exception out of write()/send() into the caller's loop.
      // The client's own checks are deterministic: producing it again would be refused again.
      const e = new NonRetryableError(`refused by the client: ${String((err as Error)?.message ?? err)}`, { cause: err });
      if (!this.copyRefused(seq, e)) this.failure ??= new KafkaError(`produce to ${topic} failed: ${e.message}`, { cause: err });
    }
  }

  /**
   * Kafka refused message `seq`: copy it to the retry topic or the DLQ under the same sequence
   * number (its acknowledgement, and so the input offsets behind it, wait for the copy). False when
   * there is no retry topic or the message was already a copy.
   */
  private copyRefused(seq: number, err: Error): boolean {
    const h = this.held?.[seq % WINDOW];
    if (!h || h.copy) return false;
    if (typeof h.value === "string") h.value = Buffer.from(h.value);
    const value = h.value;
    const route = this.options.retry!.route({
      value, key: h.key, headers: h.headers, origin: { topic: h.topic, partition: -1, offset: -1 },
      stage: "deliver", target: h.topic, attempt: 0,
    }, err);
    h.copy = true;
    h.dead = route.dead;
    this.produceAs(seq, route.topic, value, h.key, route.headers);
    return true;
  }

  /**
   * A record failed at a stage (a user function threw, …): its copy goes to the retry topic (when
   * the error is retryable; the stage's handler gets it back after the backoff) or to the DLQ, under
   * this sink's acknowledgement accounting — the record's offset is committed only once the copy is
   * acknowledged. Needs the `retry` option.
   */
  fail(record: Omit<FailedRecord, "attempt">, err: unknown): void {
    const retry = this.options.retry;
    if (!retry) throw new KafkaError("KafkaSink.fail needs the retry option (a RetryTopic)");
    const route = retry.route({ ...record, attempt: 0 }, err);
    const value = record.value ?? Buffer.alloc(0);
    const key = record.key === null ? null : record.key.toString();
    const seq = this.written++;
    this.held![seq % WINDOW] = { topic: route.topic, value, key, headers: route.headers, copy: true, dead: route.dead };
    this.produceAs(seq, route.topic, value, key, route.headers);
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
    if (this.options.outputs) this.readReports();
    for (const st of this.staging.values()) if (st.sent < st.batch.count) this.enqueueStaged(st);
    while (this.overflow.length > 0) {
      const m = this.overflow[0]!;
      if (!this.tryProduce(m.topic, m.value, m.key, m.headers, m.seq)) break;
      this.overflow.shift();
    }
    if (this.failure) throw this.failure;
  }

  async flush(): Promise<void> {
    const deadline = Date.now() + (this.options.flushTimeoutMs ?? 30_000);
    if (this.options.transactional) return this.flushQueue(deadline);
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

  /** flush() with the transactional producer: every output enqueued, the client's queue empty, none refused. */
  private async flushQueue(deadline: number): Promise<void> {
    const upTo = this.written;
    for (;;) {
      this.service();
      let queued = this.overflow.length > 0;
      for (const st of this.staging.values()) if (st.sent < st.batch.count) queued = true;
      const left = deadline - Date.now();
      if (left <= 0) throw new KafkaError(`${this.written - this.acknowledged} outputs were not delivered to Kafka within ${this.options.flushTimeoutMs ?? 30_000} ms`);
      try {
        await this.options.producer.flush(Math.min(left, 200));
        if (!queued) break;
      } catch (err) {
        if (err instanceof KafkaError && err.fatal) throw err;
        // Not empty yet (a timeout): again until the deadline.
      }
    }
    // A refused delivery's report reaches JavaScript just after librdkafka served it.
    this.options.producer.poll();
    await new Promise((r) => setTimeout(r, 1));
    this.service();
    if (this.failure) throw this.failure;
    if (this.acknowledged < upTo) this.acknowledged = upTo;
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
