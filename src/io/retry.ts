/**
 * Non-blocking retries through a retry topic (Spring Kafka's `@RetryableTopic`, Uber's retry
 * topics; seed §8), beside the dead-letter topic.
 *
 *   a stage fails on a record ──► classify(err)
 *        │ retryable, attempt < maxRetries          │ not retryable, or retries used up
 *        ▼                                          ▼
 *   <input>.retry  (copy + riptide.retry.* headers)   <input>.dlq  (copy + riptide.* headers, reason)
 *        │
 *        └─► RetryTopic (own consumer, main thread): a partition whose head record is not due yet is
 *            paused; one timer wakes at the earliest due time; then the head is handed to the
 *            handler of its stage — success, or back to the retry topic (attempt + 1, exponential
 *            backoff), or to the DLQ.
 *
 * Nothing blocks the main input: retries live on their own topic and consumer. There is no timer
 * or promise per record waiting: a partition waits on its head record only (records behind it are
 * due no earlier, since they were scheduled later with a backoff no shorter for the same attempt;
 * a later attempt with a longer backoff may wait a little longer than its due time, never less).
 *
 * At-least-once: the offset of a failed record is committed only once its copy is acknowledged
 * by the retry or dead-letter topic (the Kafka sink routes copies under its delivery accounting,
 * see `KafkaSink.fail`); a retry-topic offset is committed only once its attempt succeeded or its
 * next copy was acknowledged.
 *
 * Stages: `deliver` (an output message that Kafka refused with a retriable error is produced to
 * its target topic again) is built in; `process` and others are handlers the caller registers
 * (a user function that threw).
 */
import { DecodeError, OptionRangeError, OptionTypeError, RiptideError, SchemaError } from "../errors.js";
import { KafkaError, type KafkaConsumerClient, type KafkaHeader, type KafkaMessage, type KafkaProducerClient } from "./kafka/client.js";

// ---------------------------------------------------------------------------------------------
// Policy and classification
// ---------------------------------------------------------------------------------------------

export interface RetryPolicy {
  /** Retries after the first failure; 0 sends a retryable failure straight to the DLQ. @default 3 */
  maxRetries: number;
  /** Wait before the first retry, ms; each later retry waits twice as long as the one before. @default 1000 */
  backoffMs: number;
  /** Longest wait between two attempts, ms. @default max(30000, backoffMs) */
  maxBackoffMs: number;
}

/**
 * Largest message on the dead-letter topic (its `max.message.bytes` when riptide creates it, and
 * the producer's limit): dead letters are input messages as they came. A larger one is cut to this
 * size with a `riptide.truncated-from` header; the whole message stays in the input topic.
 */
export const DEAD_LETTER_MAX_BYTES = 8 << 20;

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 3, backoffMs: 1000, maxBackoffMs: 30_000 };

/** Checks a policy at the API boundary (messages name the option). */
export function retryPolicy(p: Partial<RetryPolicy> = {}): RetryPolicy {
  const maxRetries = p.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries;
  const backoffMs = p.backoffMs ?? DEFAULT_RETRY_POLICY.backoffMs;
  if (typeof maxRetries !== "number") throw new OptionTypeError("maxRetries", `maxRetries must be a number, got ${typeof maxRetries}`);
  if (!Number.isInteger(maxRetries) || maxRetries < 0 || maxRetries > 100) throw new OptionRangeError("maxRetries", `maxRetries must be an integer from 0 to 100, got ${maxRetries}`);
  if (typeof backoffMs !== "number") throw new OptionTypeError("backoffMs", `backoffMs must be a number, got ${typeof backoffMs}`);
  if (!Number.isFinite(backoffMs) || backoffMs < 1 || backoffMs > 86_400_000) throw new OptionRangeError("backoffMs", `backoffMs must be from 1 to 86400000 ms, got ${backoffMs}`);
  const maxBackoffMs = p.maxBackoffMs ?? Math.max(DEFAULT_RETRY_POLICY.maxBackoffMs, backoffMs);
  if (!(maxBackoffMs >= backoffMs)) throw new OptionRangeError("maxBackoffMs", `maxBackoffMs must be at least backoffMs (${backoffMs}), got ${maxBackoffMs}`);
  return { maxRetries, backoffMs, maxBackoffMs };
}

/** The wait before retry number `attempt` (1-based): backoff · 2^(attempt−1), capped. */
export function backoffFor(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.max(0, attempt - 1));
}

/** Thrown by a stage (a user function) to ask for a retry explicitly. Code `ERR_RETRYABLE`. */
export class RetryableError extends RiptideError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_RETRYABLE", message, {}, options);
  }
}

/** Thrown by a stage to send a record straight to the DLQ (retrying cannot help). Code `ERR_NOT_RETRYABLE`. */
export class NonRetryableError extends RiptideError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_NOT_RETRYABLE", message, {}, options);
  }
}

/**
 * librdkafka / broker error codes after which producing the same record again may succeed (Java's
 * `RetriableException` family): unknown topic or partition, leader not available, not leader,
 * request timed out, network, not enough replicas (before/after append), storage error, and the
 * local message timeout, transport, all-brokers-down, unknown topic and queue-full codes. Also
 * "message too large" from the broker (10): librdkafka refuses the whole batch, so the records
 * batched with an oversized one are refused with it; retried one per request (the retry producer
 * sends batches of one), those succeed and only the oversized one runs out of retries.
 */
const RETRIABLE_CODES = new Set([3, 5, 6, 7, 10, 13, 19, 20, 56, -192, -195, -187, -188, -185, -184]);
/** node-rdkafka reports some delivery failures with code -1 and only a text: these texts mean the same codes. */
const RETRIABLE_TEXT = /timed out|unknown topic|not enough replicas|leader not available|not leader|broker transport|all broker connections are down|message size too large/i;

/**
 * Is a failure worth retrying? Decoding and schema errors are not (the bytes will not change),
 * nor a {@link NonRetryableError}; Kafka errors are when the client or broker says the same call
 * may succeed later; any other error thrown by a processing stage (a user function) is.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof DecodeError || err instanceof SchemaError || err instanceof NonRetryableError) return false;
  if (err instanceof KafkaError) {
    if (err.fatal) return false;
    if (err.retriable || (err.kafkaCode !== undefined && RETRIABLE_CODES.has(err.kafkaCode))) return true;
    return (err.kafkaCode === undefined || err.kafkaCode === -1) && RETRIABLE_TEXT.test(err.message);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------------

/** Headers of a copy on the retry topic. */
export const RETRY_HEADER = {
  /** Which retry this copy is for: 1 for the first retry. */
  attempt: "riptide.retry.attempt",
  /** Where the record came from: its topic, partition and offset (-1 when it was never written, e.g. an output). */
  topic: "riptide.retry.topic",
  partition: "riptide.retry.partition",
  offset: "riptide.retry.offset",
  /** The last error. */
  error: "riptide.retry.error",
  /** When the attempt is due, epoch ms. */
  due: "riptide.retry.due",
  /** What to do again: `deliver` (produce to `target`) or a registered stage. */
  stage: "riptide.retry.stage",
  target: "riptide.retry.target",
  /** When the record first failed, epoch ms. */
  firstFailedAt: "riptide.retry.first-failed-at",
} as const;

/** Headers of a dead letter (the same as for undecodable input, plus attempts and stage). */
export const DLQ_HEADER = {
  topic: "riptide.topic",
  partition: "riptide.partition",
  offset: "riptide.offset",
  error: "riptide.error",
  timestamp: "riptide.timestamp",
  /** Processing attempts made (1 + retries). */
  attempts: "riptide.attempts",
  stage: "riptide.stage",
  target: "riptide.target",
} as const;

const OURS = /^riptide\.(retry\.|topic$|partition$|offset$|error$|timestamp$|attempts$|stage$|target$)/;

/** Where a failed record came from. */
export interface RecordOrigin {
  topic: string;
  partition: number;
  offset: number;
}

/** A record that failed at a stage. */
export interface FailedRecord {
  value: Buffer | null;
  key: Buffer | string | null;
  /** The record's own headers (riptide's are stripped before a handler sees them). */
  headers?: KafkaHeader[] | undefined;
  origin: RecordOrigin;
  /** `deliver` or a registered stage. */
  stage: string;
  /** For `deliver`: the topic the record was meant for. */
  target?: string | undefined;
  /** Retries already made (0 when the first processing failed). */
  attempt: number;
  /** When it first failed (epoch ms); now when absent. */
  firstFailedAt?: number;
}

/** Where the copy of a failed record goes, and with which headers. */
export interface Route {
  topic: string;
  headers: KafkaHeader[];
  /** True for the DLQ. */
  dead: boolean;
}

/** A record read back from the retry topic, as a handler sees it. */
export interface RetryRecord extends FailedRecord {
  /** The error of the previous attempt. */
  error: string;
  /** When this attempt was due (epoch ms). */
  dueAt: number;
  /** Where this copy sits on the retry topic. */
  retryPartition: number;
  retryOffset: number;
}

/** Runs a stage again on a record; calls `done()` on success or `done(err)` on failure (once). */
export type RetryHandler = (record: RetryRecord, done: (err?: unknown) => void) => void;

function h(key: string, value: string | number): KafkaHeader {
  return { key, value: Buffer.from(String(value)) };
}

function own(headers: KafkaHeader[] | undefined): KafkaHeader[] {
  return headers ? headers.filter((x) => !OURS.test(x.key)) : [];
}

function errorText(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.length > 2000 ? `${m.slice(0, 2000)}…` : m;
}

export interface RetryCounts {
  /** Copies sent to the retry topic (one per retry scheduled). */
  scheduled: number;
  /** Retry attempts that succeeded. */
  succeeded: number;
  /** Retry attempts that failed (and were scheduled again or dead-lettered). */
  failed: number;
  /** Records the retry path sent to the DLQ: not retryable, or out of retries. */
  deadLettered: number;
}

// ---------------------------------------------------------------------------------------------
// The retry topic
// ---------------------------------------------------------------------------------------------

export interface RetryTopicOptions {
  /** The input topic: copies go to `<inputTopic>.retry`, dead letters to `<inputTopic>.dlq`. */
  inputTopic: string;
  policy?: Partial<RetryPolicy>;
  /** Reads the retry topic (its own group, e.g. `<group>.retry`). Needed for start(). */
  consumer?: KafkaConsumerClient;
  /** Re-delivers (`deliver` stage) and produces next copies and dead letters. Needed for start(). */
  producer?: KafkaProducerClient;
  /** Stages besides `deliver`. */
  handlers?: Record<string, RetryHandler>;
  onLog?: (event: string, detail: Record<string, unknown>) => void;
  /** Messages per consume() call. @default 500 */
  consumeBatch?: number;
}

interface InFlight {
  offset: number;
  done: boolean;
}

interface PartitionState {
  /** The head record, not due yet (the partition is paused until it is). */
  waiting: KafkaMessage | undefined;
  dueAt: number;
  /** Next offset to accept (skips prefetched duplicates after a seek). */
  next: number;
  inFlight: InFlight[];
  /** Offset up to which (exclusive) every record is finished. */
  finished: number;
  committed: number;
  /** Highest offset of a copy this process scheduled here (acknowledged), -1 for none. */
  scheduledMax: number;
}

/** Copies (produce), a delivery callback by opaque, and one pending queue for a full producer. */
type Produced = (err: KafkaError | null, partition: number, offset: number) => void;

export class RetryTopic {
  readonly topic: string;
  readonly dlqTopic: string;
  readonly policy: RetryPolicy;
  readonly counts: RetryCounts = { scheduled: 0, succeeded: 0, failed: 0, deadLettered: 0 };
  private readonly parts = new Map<number, PartitionState>();
  /** Retry-topic partitions this process's retry consumer owns now. */
  private readonly owned = new Set<number>();
  private readonly handlers: Record<string, RetryHandler>;
  private readonly backlog: Array<{ topic: string; value: Buffer | null; key: Buffer | string | null; headers: KafkaHeader[]; cb: Produced }> = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private loop: Promise<void> | undefined;
  private closed = false;
  private committing = false;
  /** A copy the retry topic itself refused: the run cannot keep its promise; nothing is committed past it. */
  failure: Error | undefined;

  constructor(private readonly options: RetryTopicOptions) {
    this.topic = `${options.inputTopic}.retry`;
    this.dlqTopic = `${options.inputTopic}.dlq`;
    this.policy = retryPolicy(options.policy);
    this.handlers = { deliver: (r, done) => this.redeliver(r, done), ...options.handlers };
  }

  /**
   * Where the copy of a record that failed goes: the retry topic (attempt + 1, due after the
   * backoff) or the DLQ (not retryable, or out of retries), with its headers. Counts and logs it.
   * The caller produces the copy and must not commit the record's offset before it is acknowledged.
   */
  route(record: FailedRecord, err: unknown, now = Date.now()): Route {
    const error = errorText(err);
    const base = own(record.headers);
    const o = record.origin;
    const retryable = isRetryable(err);
    if (retryable && record.attempt < this.policy.maxRetries) {
      const attempt = record.attempt + 1;
      const due = now + backoffFor(this.policy, attempt);
      this.counts.scheduled++;
      this.options.onLog?.("retry", { stage: record.stage, ...(record.target && { target: record.target }), topic: o.topic, partition: o.partition, offset: o.offset, attempt, dueInMs: due - now, error });
      return {
        topic: this.topic, dead: false,
        headers: [...base,
          h(RETRY_HEADER.attempt, attempt), h(RETRY_HEADER.topic, o.topic), h(RETRY_HEADER.partition, o.partition), h(RETRY_HEADER.offset, o.offset),
          h(RETRY_HEADER.error, error), h(RETRY_HEADER.due, due), h(RETRY_HEADER.stage, record.stage),
          ...(record.target ? [h(RETRY_HEADER.target, record.target)] : []),
          h(RETRY_HEADER.firstFailedAt, record.firstFailedAt ?? now),
        ],
      };
    }
    const attempts = record.attempt + 1;
    const reason = retryable
      ? `gave up after ${attempts} attempts (1 + ${record.attempt} retries, --max-retries ${this.policy.maxRetries}): ${error}`
      : `not retryable: ${error}`;
    this.counts.deadLettered++;
    this.options.onLog?.("retry-dlq", { stage: record.stage, ...(record.target && { target: record.target }), topic: o.topic, partition: o.partition, offset: o.offset, attempts, error: reason });
    return {
      topic: this.dlqTopic, dead: true,
      headers: [...base,
        h(DLQ_HEADER.topic, o.topic), h(DLQ_HEADER.partition, o.partition), h(DLQ_HEADER.offset, o.offset),
        h(DLQ_HEADER.error, reason), h(DLQ_HEADER.timestamp, now), h(DLQ_HEADER.attempts, attempts), h(DLQ_HEADER.stage, record.stage),
        ...(record.target ? [h(DLQ_HEADER.target, record.target)] : []),
      ],
    };
  }

  /** A copy on the retry topic was acknowledged at (partition, offset): settle() waits for it. */
  noteScheduled(partition: number, offset: number): void {
    const st = this.state(partition);
    if (offset > st.scheduledMax) st.scheduledMax = offset;
  }

  /** Starts reading the retry topic. */
  start(): void {
    const { consumer, producer } = this.options;
    if (!consumer || !producer) throw new OptionTypeError("consumer", "RetryTopic.start() needs a consumer and a producer");
    producer.onDelivery((err, report) => {
      const cb = report.opaque as Produced | undefined;
      if (typeof cb === "function") cb(err, report.partition, report.offset);
    });
    consumer.subscribe([this.topic], {
      onAssign: (tps) => {
        // A partition paused before a revoke comes back unpaused (the client's contract: pause()).
        for (const tp of tps) { this.reset(tp.partition); this.owned.add(tp.partition); }
        this.options.onLog?.("retry-assign", { topic: this.topic, partitions: tps.map((tp) => tp.partition) });
      },
      onRevoke: (tps) => {
        // What is not committed is read again by the next owner (at-least-once).
        for (const tp of tps) { this.reset(tp.partition); this.owned.delete(tp.partition); }
      },
    });
    this.loop = this.consumeLoop();
  }

  private state(p: number): PartitionState {
    let st = this.parts.get(p);
    if (!st) {
      st = { waiting: undefined, dueAt: 0, next: -1, inFlight: [], finished: -1, committed: -1, scheduledMax: -1 };
      this.parts.set(p, st);
    }
    return st;
  }

  private reset(p: number): void {
    const st = this.state(p);
    st.waiting = undefined; st.dueAt = 0; st.next = -1; st.inFlight = []; st.finished = -1; st.committed = -1;
  }

  private async consumeLoop(): Promise<void> {
    const consumer = this.options.consumer!;
    const batch = this.options.consumeBatch ?? 500;
    while (!this.closed) {
      this.serviceBacklog();
      let messages: KafkaMessage[];
      try {
        messages = await consumer.consume(batch, 50);
      } catch (err) {
        // The retry topic may not exist yet on a fresh broker ("unknown topic"): keep going.
        if (!(err instanceof KafkaError && (err.retriable || err.kafkaCode === 3))) this.options.onLog?.("retry-consume-error", { error: errorText(err) });
        await sleep(100);
        continue;
      }
      const now = Date.now();
      for (const m of messages) {
        const st = this.state(m.partition);
        if (st.waiting !== undefined) continue; // paused behind its head; read again after the seek
        if (st.next >= 0 && m.offset < st.next) continue;
        st.next = m.offset + 1;
        if (st.finished < 0) st.finished = m.offset;
        const due = Number(header(m, RETRY_HEADER.due) ?? 0);
        if (due > now) {
          st.waiting = m;
          st.dueAt = due;
          consumer.pause([{ topic: this.topic, partition: m.partition }]);
          this.wakeAt(due);
          continue;
        }
        this.attempt(m);
      }
      if (messages.length === 0) await sleep(5);
    }
  }

  /** One timer for the earliest due head of all paused partitions. */
  private wakeAt(due: number): void {
    if (due >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = due;
    this.timer = setTimeout(() => this.wake(), Math.max(0, due - Date.now()));
    this.timer.unref?.();
  }

  private wake(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.closed) return;
    const now = Date.now();
    let next = Infinity;
    for (const [p, st] of this.parts) {
      const m = st.waiting;
      if (m === undefined) continue;
      if (st.dueAt > now) { next = Math.min(next, st.dueAt); continue; }
      st.waiting = undefined;
      // librdkafka dropped what it prefetched for the paused partition: read on after the head.
      void this.options.consumer!.seek(this.topic, p, m.offset + 1).catch(() => undefined)
        .finally(() => this.options.consumer!.resume([{ topic: this.topic, partition: p }]));
      this.attempt(m);
    }
    if (next < Infinity) this.wakeAt(next);
  }

  /** Hands a due retry record to its stage's handler. */
  private attempt(m: KafkaMessage): void {
    const st = this.state(m.partition);
    const slot: InFlight = { offset: m.offset, done: false };
    st.inFlight.push(slot);
    const record = this.parse(m);
    const handler = this.handlers[record.stage];
    let settled = false;
    const done = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      if (err === undefined) {
        this.counts.succeeded++;
        this.options.onLog?.("retry-ok", { stage: record.stage, ...(record.target && { target: record.target }), topic: record.origin.topic, partition: record.origin.partition, offset: record.origin.offset, attempt: record.attempt });
        this.finish(m.partition, slot);
        return;
      }
      this.counts.failed++;
      const route = this.route(record, err);
      this.produce(route.topic, record.value, record.key, route.headers, (e, partition, offset) => {
        if (e) {
          this.failure ??= new KafkaError(`retry: a copy for ${route.topic} was refused: ${e.message}`, { cause: e });
          this.options.onLog?.("retry-error", { error: this.failure.message });
          return; // never finished: its offset is not committed, a restart retries it
        }
        if (!route.dead) this.noteScheduled(partition, offset);
        this.finish(m.partition, slot);
      });
    };
    if (!handler) {
      done(new NonRetryableError(`no handler for retry stage ${JSON.stringify(record.stage)}`));
      return;
    }
    try {
      handler(record, done);
    } catch (err) {
      done(err);
    }
  }

  private parse(m: KafkaMessage): RetryRecord {
    const get = (k: string): string | undefined => header(m, k);
    const target = get(RETRY_HEADER.target);
    return {
      value: m.value, key: m.key, headers: own(m.headers),
      origin: { topic: get(RETRY_HEADER.topic) ?? this.options.inputTopic, partition: Number(get(RETRY_HEADER.partition) ?? -1), offset: Number(get(RETRY_HEADER.offset) ?? -1) },
      stage: get(RETRY_HEADER.stage) ?? "process",
      ...(target !== undefined && { target }),
      attempt: Number(get(RETRY_HEADER.attempt) ?? 1),
      firstFailedAt: Number(get(RETRY_HEADER.firstFailedAt) ?? Date.now()),
      error: get(RETRY_HEADER.error) ?? "",
      dueAt: Number(get(RETRY_HEADER.due) ?? 0),
      retryPartition: m.partition,
      retryOffset: m.offset,
    };
  }

  /** The built-in `deliver` stage: produce the record to its target topic again. */
  private redeliver(r: RetryRecord, done: (err?: unknown) => void): void {
    if (!r.target) {
      done(new NonRetryableError("a deliver retry without a target topic header"));
      return;
    }
    this.produce(r.target, r.value, r.key, r.headers ?? [], (err) => done(err ?? undefined));
  }

  private produce(topic: string, value: Buffer | null, key: Buffer | string | null, headers: KafkaHeader[], cb: Produced): void {
    if (this.backlog.length > 0 || !this.tryProduce(topic, value, key, headers, cb)) this.backlog.push({ topic, value, key, headers, cb });
  }

  private tryProduce(topic: string, value: Buffer | null, key: Buffer | string | null, headers: KafkaHeader[], cb: Produced): boolean {
    try {
      return this.options.producer!.produce(topic, null, value, key, headers, cb);
    } catch (err) {
      cb(err instanceof KafkaError ? err : new KafkaError(errorText(err), { cause: err }), -1, -1);
      return true;
    }
  }

  private serviceBacklog(): void {
    while (this.backlog.length > 0) {
      const b = this.backlog[0]!;
      if (!this.tryProduce(b.topic, b.value, b.key, b.headers, b.cb)) return;
      this.backlog.shift();
    }
  }

  /** A record of partition p is done: commit the finished prefix. */
  private finish(p: number, slot: InFlight): void {
    slot.done = true;
    const st = this.state(p);
    if (!st.inFlight.includes(slot)) return; // revoked meanwhile
    while (st.inFlight.length > 0 && st.inFlight[0]!.done) st.finished = st.inFlight.shift()!.offset + 1;
    this.commit();
  }

  private commit(): void {
    if (this.committing || this.closed) return;
    const offsets: Array<{ topic: string; partition: number; offset: number }> = [];
    for (const [p, st] of this.parts) {
      if (st.finished > st.committed) offsets.push({ topic: this.topic, partition: p, offset: st.finished });
    }
    if (offsets.length === 0) return;
    this.committing = true;
    void this.options.consumer!.commit(offsets)
      .then(() => { for (const o of offsets) { const st = this.parts.get(o.partition); if (st && o.offset > st.committed) st.committed = o.offset; } })
      .catch((err: unknown) => this.options.onLog?.("retry-commit-error", { error: errorText(err) }))
      .finally(() => { this.committing = false; if ([...this.parts.values()].some((s) => s.finished > s.committed)) setTimeout(() => this.commit(), 50).unref?.(); });
  }

  /** Copies scheduled by this process that are not finished yet. */
  get pending(): number {
    let n = this.backlog.length;
    for (const st of this.parts.values()) {
      n += st.inFlight.length;
      if (st.scheduledMax >= 0 && st.finished <= st.scheduledMax) n++;
    }
    return n;
  }

  /**
   * Waits until every copy this process put on the retry topic has been attempted to the end
   * (succeeded, or dead-lettered) and committed, or `timeoutMs` passed; resolves true when settled.
   * Copies on partitions another group member owns are that member's to finish.
   */
  async settle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.failure) throw this.failure;
      this.options.producer?.poll();
      // Copies on partitions another member owns are its to finish (before any assignment, all count).
      const busy = [...this.parts].some(([p, st]) =>
        (st.scheduledMax >= 0 && st.committed <= st.scheduledMax && (this.owned.size === 0 || this.owned.has(p))) || st.inFlight.length > 0);
      if (!busy && this.backlog.length === 0) return true;
      if (Date.now() > deadline) return false;
      this.commit();
      await sleep(20);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.loop;
    await this.options.producer?.flush(5000).catch(() => undefined);
  }
}

function header(m: KafkaMessage, key: string): string | undefined {
  const hs = m.headers;
  if (!hs) return undefined;
  for (let i = hs.length - 1; i >= 0; i--) if (hs[i]!.key === key) return hs[i]!.value.toString();
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
