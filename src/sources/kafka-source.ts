/**
 * A Kafka topic as a source (main thread only: node-rdkafka is not safe in worker threads).
 *
 *   consumer.takeNow() / consume() ──► per-partition queues of messages ──fill(p)──► ring slot columns
 *        ▲  takes only what the queues have room for (the client's prefetch holds the rest);
 *        │  pauses p when it falls far behind the others, when the queues stay full (a slow
 *        │  sink), or when they hold queuedBytes and another partition with records on their way
 *        │  has next to none (shareBytes); resumes it (seeking to the first message not yet
 *        │  queued, since librdkafka drops what it prefetched for a paused partition) below the
 *        │  low mark
 *
 * Two wire formats, told apart per message: JSON (one event per message, `{` first) and the packed
 * binary frame (`src/io/frame.ts`, many events per message). A message that decodes as neither goes
 * to the dead-letter topic `<topic>.dlq` with headers naming its topic, partition, offset, error and
 * timestamp, and never reaches a ring.
 *
 * Positions: after fill(p), position(p) is the offset to commit once everything filled so far is
 * emitted — the next message's offset, or the current one while a frame is only partly read.
 */
import {
  PACKED_ERROR, PACKED_OFFSET, PACKED_PARTITION, PACKED_STRIDE, PACKED_VALUE_LENGTH, PACKED_VALUE_START,
  type KafkaConsumerClient, type KafkaHeader, type KafkaMessage, type PackedMessages, type TopicPartition,
} from "../io/kafka/client.js";
import { decodeFrameInto, FRAME_MAGIC, internFrameStrings } from "../io/frame.js";
import { DEAD_LETTER_MAX_BYTES } from "../io/retry.js";
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import type { OutputColumns } from "../ring/output.js";
import { Interner, loadTransientState, transientState } from "../schema/interner.js";
import type { ColumnArray } from "../schema/schema.js";
import { compileJsonBytesDecoder, compileJsonDecoder, type JsonBytesDecoder, type JsonDecoder } from "./json.js";
import { EntryRuns } from "../metrics/entry-runs.js";
import { MessageQueue } from "./message-queue.js";
import type { Source, SourceHooks } from "./source.js";

export interface KafkaSourceOptions {
  consumer: KafkaConsumerClient;
  topic: string;
  /** Partitions of the topic (from metadata). */
  partitions: number;
  pipeline: PipelineDefinition;
  /** Where dead letters go (the Kafka sink's send). */
  deadLetter: (topic: string, value: Buffer, key: string | null, headers: KafkaHeader[]) => void;
  /** End the run after this long without input (ms). @default Infinity */
  stopWhenIdleMs?: number;
  /**
   * The source takes from the client only while its assigned partitions hold fewer records than
   * this many each on average (the client's prefetch holds the rest, and keeps fetching): a take
   * is sized to the room left, so the queues never overshoot by a whole take. @default 200000
   */
  queuedPerPartition?: number;
  /**
   * … and while its queues hold fewer message bytes than this, all partitions together: records
   * alone bounded 200 000 JSON messages of 600 bytes per partition, ~1 GB for 8 partitions of
   * message-delivery's backlog. Frames (~46 bytes per record) stay under it at the record bound.
   * @default 64 MiB
   */
  queuedBytes?: number;
  /**
   * Queued records above which a partition is paused while another is short of records (it has
   * fallen far behind the others: its shard is slower). Pausing costs the partition's prefetch
   * (librdkafka drops it and fetches it again on resume), so it is kept for such imbalance and
   * for queues full for a while (a slow sink).
   * @default 2 × queuedPerPartition
   */
  highWater?: number;
  /** … and below which it is resumed. @default 50000 */
  lowWater?: number;
  /** Most messages per consume() call. @default 5000 */
  consumeBatch?: number;
  /**
   * The queues full this long (nothing filled from them) pause every partition above the low mark,
   * and a consume() call is made even so, which serves the client's rebalance and commit callbacks.
   * @default 200
   */
  fullPauseMs?: number;
  /**
   * How long one consume() call waits for a first message when the client has none prefetched,
   * ms. A wait ends on the first message; what is prefetched is then taken without waiting, so
   * this bounds only idle polling (and how soon close() returns), never adds latency.
   * @default 50
   */
  consumeWaitMs?: number;
  /**
   * Periodic offset commits do not wait for the broker (the consumer's commitAsync, when it has
   * one): a synchronous commit blocks the main thread for a round trip to the group coordinator,
   * 2–4 ms, and 30–130 ms when the broker is short of CPU, delaying every batch in flight. Commits
   * on revoke and the last one (close()) are always synchronous. @default true
   */
  asyncCommits?: boolean;
  /** Largest JSON message taken as one event; a larger one goes to the DLQ. @default 1 MiB (Kafka's default message limit) */
  maxJsonBytes?: number;
  /** Called with lifecycle events (assign, revoke, pause, resume, dlq). */
  onLog?: (event: string, detail: Record<string, unknown>) => void;
  /** The string table to intern into (several topics of one DSL topology share one). @default its own */
  interner?: Interner;
  /**
   * Messages that are not events of the schema (a DSL topology's repartition topic): each parsed
   * JSON message (and its bytes) is written into record `n` of the columns by this instead of the
   * schema's decoder. False: no room left in this batch (the message is read again by the next fill).
   */
  decode?: MessageDecoder;
}

/** KafkaSourceOptions.decode. */
export type MessageDecoder = (value: unknown, raw: Buffer, columns: Record<string, ColumnArray>, n: number) => boolean;

interface PartitionQueue {
  /** Messages queued and not yet read (with each frame's string ids, interned when it was queued). */
  msgs: MessageQueue;
  /** Records already read from the head message (a frame may span several fills). */
  within: number;
  /** Per-frame cache of interned string ids. */
  ids: number[];
  queuedRecords: number;
  paused: boolean;
  /** Offset of the next message not yet queued (where to seek on resume). */
  nextOffset: number;
  assigned: boolean;
  position: number;
  /** Kafka timestamp of the first message read by the last fill(). */
  enteredAt: number;
  /** The Kafka timestamps of the records of the last fill(). */
  runs: EntryRuns;
  /**
   * Restored state (exactly-once): the frame at this offset was read up to `resumeWithin` records
   * when the state was committed; reading resumes there instead of at its first record.
   */
  resumeOffset?: number;
  resumeWithin?: number;
  /** Being revoked: no more fills; still assigned until what was filled is committed. */
  revoking?: boolean;
  /** State per partition: its state is being loaded (fetched records wait in the queue). */
  loading?: boolean;
  /**
   * caughtUp(): the partition's end offset when it was assigned (-1: being asked, -2: unknown), and
   * whether nothing was left to read then (empty, or its committed offset at the end: a restarted
   * run's table, which gets no message at all); when its last message was queued.
   */
  end: number;
  emptyAtAssign: boolean;
  lastQueuedAt: number;
}

/** caughtUp(): a partition whose reads stopped short of its end offset this long is taken as caught up (the end was a transaction marker). */
const MARKER_QUIET_MS = 2_000;

const RETAIN = 1 << 16; // raw JSON messages kept per partition for side outputs
/**
 * Records in flight while only frames were read: none of them is kept raw (a frame's side outputs
 * are rebuilt from its fields), so RETAIN does not bound them; the input rings do.
 */
const FRAMES_IN_FLIGHT = 1 << 22;
/** Value bytes of a dead letter at most (room left for key and headers). */
const DEAD_LETTER_VALUE_BYTES = DEAD_LETTER_MAX_BYTES - (64 << 10);

export class KafkaSource implements Source {
  readonly partitions: number;
  readonly arrivalOrder = true;
  /** A message other than a frame was queued: its raw bytes are kept (RETAIN per partition) for side outputs. */
  private keepsRaw = false;
  readonly interner: Interner;
  private readonly decodeJson: JsonDecoder;
  private readonly decodeJsonBytes: JsonBytesDecoder;
  private readonly queues: PartitionQueue[] = [];
  /** JSON messages kept for side outputs (event()): the buffer holding each, where in it, and its offset. */
  private readonly raw: Array<Array<Buffer | undefined>> = [];
  private readonly rawStart: Uint32Array[] = [];
  private readonly rawLength: Uint32Array[] = [];
  private readonly rawOffset: Float64Array[] = [];
  /**
   * Per partition, the offset from which kept messages may still be referenced (-1: none kept
   * yet): a commit lets go of those before its position (releaseRaw), so that what is kept is what
   * is in flight, not the last RETAIN offsets — each kept message holds the whole packed take it
   * came in (megabytes, every partition's messages).
   */
  private readonly rawFrom: number[] = [];
  private hooks: SourceHooks | undefined;
  private consuming: Promise<void> | undefined;
  private closed = false;
  private lastMessageAt = Date.now();
  /** The coordinator's idle wait (whenData), woken by the next records queued. */
  private dataWaiter: (() => void) | undefined;
  private everAssigned = false;
  private readonly queuedPerPartition: number;
  private readonly queuedBytes: number;
  private readonly highWater: number;
  private readonly lowWater: number;
  /**
   * Records per message assumed when sizing a take: the most seen in one message of the last
   * take, so a take overshoots the room by at most the one message of a kind not seen before.
   */
  private recordsPerMessage = 1 << 16;
  /** Value bytes per message assumed when sizing a take against queuedBytes: the largest of the last take. */
  private bytesPerMessage = 64 << 10;
  private readonly maxJsonBytes: number;
  /** Messages that went to the dead-letter topic. */
  deadLetters = 0;
  /** Records (events) read so far. */
  records = 0;
  /** Positions committed asynchronously and not yet confirmed by a synchronous commit, by partition. */
  private readonly unconfirmed = new Map<number, number>();

  /**
   * RETAIN records (a JSON message is one record) once a message other than a frame was queued —
   * messages are queued before they are filled, so the bound is lowered before the first such
   * record is fed; FRAMES_IN_FLIGHT before. With 65 536 records of frames in flight, the bound of
   * two shards' input rings, the coordinator waited for acknowledgements a third of the time.
   */
  get maxInFlight(): number {
    return this.keepsRaw ? RETAIN : FRAMES_IN_FLIGHT;
  }

  constructor(private readonly options: KafkaSourceOptions) {
    this.partitions = options.partitions;
    this.interner = options.interner ?? new Interner();
    this.decodeJson = compileJsonDecoder(options.pipeline.schema, this.interner, options.pipeline.textFields);
    this.decodeJsonBytes = compileJsonBytesDecoder(options.pipeline.schema, this.interner, options.pipeline.textFields);
    this.queuedPerPartition = options.queuedPerPartition ?? 200_000;
    this.queuedBytes = options.queuedBytes ?? 64 << 20;
    this.highWater = options.highWater ?? 2 * this.queuedPerPartition;
    this.lowWater = options.lowWater ?? 50_000;
    this.maxJsonBytes = options.maxJsonBytes ?? 1 << 20;
    for (let p = 0; p < this.partitions; p++) {
      this.queues.push({ msgs: new MessageQueue(), within: 0, ids: [], queuedRecords: 0, paused: false, nextOffset: -1, assigned: false, position: -1, enteredAt: 0, runs: new EntryRuns(), end: -2, emptyAtAssign: false, lastQueuedAt: 0 });
      this.raw.push(new Array<Buffer | undefined>(RETAIN));
      this.rawStart.push(new Uint32Array(RETAIN)); // a Buffer is at most 4 GiB (buffer.constants.MAX_LENGTH)
      this.rawLength.push(new Uint32Array(RETAIN));
      this.rawOffset.push(new Float64Array(RETAIN).fill(-1));
      this.rawFrom.push(-1);
    }
  }

  attach(hooks: SourceHooks): void {
    this.hooks = hooks;
    // Partitions assigned before the coordinator attached (a fast group join) load their state now.
    const early = this.queues.flatMap((q, p) => (q.assigned && !q.revoking ? [p] : []));
    if (early.length > 0) this.loadAssigned(early);
  }

  /** State per partition: each partition is read once its own state is loaded (a failed load fails the run). */
  private loadAssigned(ps: number[]): void {
    if (!this.hooks?.assignPartitions || this.closed) return;
    for (const p of ps) this.queues[p]!.loading = true;
    void this.hooks.assignPartitions(ps, (p) => {
      const q = this.queues[p];
      if (q) q.loading = false;
      this.lastMessageAt = Date.now();
    }).catch(() => undefined);
  }

  /** Subscribes and starts the background consume loop. */
  start(): void {
    const { consumer, topic } = this.options;
    consumer.subscribe([topic], {
      onAssign: (parts) => {
        for (const tp of parts) {
          const q = this.queues[tp.partition];
          if (!q) continue;
          q.assigned = true;
          q.paused = false;
        }
        // Idleness counts from the first assignment: joining the group is not "no input".
        this.everAssigned = true;
        this.lastMessageAt = Date.now();
        const ps = parts.map((tp) => tp.partition).filter((p) => this.queues[p]);
        this.options.onLog?.("assign", { partitions: ps });
        for (const p of ps) this.askEnd(p);
        // State per partition: fetching starts now, each partition is read once its own state is
        // loaded (a failed load fails the run; the partition is never read here).
        this.loadAssigned(ps);
        return undefined;
      },
      onRevoke: async (parts) => {
        const ps = parts.map((tp) => tp.partition).filter((p) => this.queues[p]);
        this.options.onLog?.("revoke", { partitions: ps });
        // Nothing more is read from them; what was read is processed and committed (with its
        // position, still known here) before they go.
        for (const p of ps) this.queues[p]!.revoking = true;
        try {
          if (!this.closed) await this.hooks?.drainPartitions(ps);
        } finally {
          for (const p of ps) {
            const q = this.queues[p]!;
            // Unread messages are dropped: the next owner reads them from the committed offset.
            q.msgs.clear(); q.within = 0; q.ids = []; q.queuedRecords = 0; q.nextOffset = -1;
            // Its position here is stale once another process has read on: none until it is read again.
            q.position = -1;
            q.assigned = false;
            q.revoking = false;
            q.loading = false;
          }
        }
      },
    });
    this.consuming = this.consumeLoop();
  }

  /**
   * Reads from the client's prefetch queue. node-rdkafka's consume(n, timeout) returns only once
   * it has n messages or none arrived for `timeout` ms, so a steady stream (a new fetch response
   * every few ms) held each message until n had accumulated: 125 ms for 5000 JSON messages at
   * 40 k/s, seconds for frames. Instead, two kinds of call:
   *   - take:  what is prefetched now, up to the room the queues have left (room()), without
   *            waiting: takeNow(room) when the client has it (node-rdkafka with
   *            native-bindings/kafka: on this thread, packed, no object per message), else
   *            consume(room, 0);
   *   - wait:  consume(1, consumeWaitMs), only after a take found nothing: returns on the first
   *            message to arrive (then take again).
   * With no room, nothing is taken: fill() makes room within milliseconds while the engine keeps
   * up, and the client's prefetch waits for it (a paused partition would lose it). Taking all
   * that was prefetched (up to 5000 frames, 230 MB) and pausing each partition over its mark
   * made the partitions pause and resume 40–50 times per 20 M frame records, each time fetching
   * again what had been dropped while the engine ran out of input.
   */
  private async consumeLoop(): Promise<void> {
    const batch = this.options.consumeBatch ?? 5000;
    const waitMs = this.options.consumeWaitMs ?? 50;
    const fullPauseMs = this.options.fullPauseMs ?? 200;
    let waiting = false;
    let fullSince = 0;
    while (!this.closed) {
      let room = this.room(batch);
      if (room === 0 && this.shareBytes()) room = this.room(batch);
      if (room === 0) {
        const now = Date.now();
        if (fullSince === 0) fullSince = now;
        if (now - fullSince < fullPauseMs) {
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        // Full for a while (a slow sink, a stuck shard): pause the partitions holding records,
        // and poll: the client serves rebalances and commit callbacks only within consume().
        fullSince = now;
        this.pauseQueued();
        room = 1;
        waiting = true;
      } else {
        fullSince = 0;
      }
      // A take without waiting, packed, when the client can (no object per message, no trip
      // through the thread pool); else consume().
      const packed: PackedMessages | null = waiting ? null : this.options.consumer.takeNow?.(room) ?? null;
      if (packed !== null) {
        this.queuePacked(packed);
        waiting = packed.count === 0;
        if (!waiting) await new Promise(setImmediate); // the coordinator's turn
        continue;
      }
      let messages: KafkaMessage[];
      try {
        messages = await (waiting ? this.options.consumer.consume(1, waitMs) : this.options.consumer.consume(room, 0));
      } catch (err) {
        this.options.onLog?.("consume-error", { error: String((err as Error).message) });
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const now = Date.now();
      if (messages.length > 0) this.lastMessageAt = now;
      let most = 0;
      let largest = 0;
      for (const m of messages) {
        if (m.value && m.value.length > largest) largest = m.value.length;
        const q = this.queues[m.partition];
        if (!q || !q.assigned) continue;
        if (q.nextOffset >= 0 && m.offset < q.nextOffset) continue; // already queued (after a seek)
        q.msgs.pushMessage(m);
        const records = this.queued(q, m.partition, m.offset, now);
        if (records > most) most = records;
      }
      if (largest > 0) this.bytesPerMessage = largest;
      if (most > 0) this.recordsPerMessage = most;
      if (messages.length > 0) this.wakeData();
      waiting = messages.length === 0;
    }
  }

  /** Queues the records of a packed take (KafkaConsumerClient.takeNow). */
  private queuePacked(t: PackedMessages): void {
    const { data, meta, count } = t;
    if (count === 0) return;
    const now = Date.now();
    this.lastMessageAt = now;
    let most = 0;
    let largest = 0;
    for (let i = 0; i < count; i++) {
      const m = 1 + i * PACKED_STRIDE;
      if (meta[m + PACKED_VALUE_LENGTH]! > largest) largest = meta[m + PACKED_VALUE_LENGTH]!;
      if (meta[m + PACKED_ERROR] !== 0) {
        this.options.onLog?.("consume-error", { partition: meta[m + PACKED_PARTITION], code: meta[m + PACKED_ERROR] });
        continue;
      }
      const p = meta[m + PACKED_PARTITION]!;
      const offset = meta[m + PACKED_OFFSET]!;
      const q = this.queues[p];
      if (!q || !q.assigned) continue;
      if (q.nextOffset >= 0 && offset < q.nextOffset) continue; // already queued (after a seek)
      q.msgs.pushPacked(data, meta, i);
      const records = this.queued(q, p, offset, now);
      if (records > most) most = records;
    }
    if (most > 0) this.recordsPerMessage = most;
    if (largest > 0) this.bytesPerMessage = largest;
    this.wakeData();
  }

  whenData(timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wakeData(), timeoutMs);
      this.wakeData(); // one waiter at a time: an earlier one goes now
      this.dataWaiter = () => { clearTimeout(timer); resolve(); };
    });
  }

  private wakeData(): void {
    const w = this.dataWaiter;
    this.dataWaiter = undefined;
    w?.();
  }

  /** The message just queued at the tail of p's queue: its frame's strings interned, counted; its records. */
  private queued(q: PartitionQueue, p: number, offset: number, now: number): number {
    const msgs = q.msgs;
    const i = msgs.tail - 1;
    const buf = msgs.buffer(i);
    const start = msgs.valueStart(i);
    const len = msgs.valueLength(i);
    const frame = len >= 12 && buf.readUInt32LE(start) === FRAME_MAGIC;
    if (!frame) this.keepsRaw = true;
    msgs.setIds(frame ? this.internStrings(msgs.value(i)!) : undefined, this.interner.generation);
    q.nextOffset = offset + 1;
    q.lastQueuedAt = now;
    const records = frame ? buf.readUInt32LE(start + 8) : 1;
    q.queuedRecords += records;
    if (q.queuedRecords > this.highWater && this.starving(p)) this.pause(p);
    return records;
  }

  /**
   * Messages to take now: the records the assigned partitions may still queue (queuedPerPartition
   * each on average) over the records per message expected, at most `batch`; 0 when full, of
   * records or of bytes (queuedBytes).
   */
  private room(batch: number): number {
    let queued = 0;
    let assigned = 0;
    let bytes = 0;
    for (const q of this.queues) {
      bytes += q.msgs.bytes;
      if (!q.assigned || q.revoking) continue;
      assigned++;
      queued += q.queuedRecords;
    }
    let freeBytes = this.queuedBytes - bytes;
    if (freeBytes <= 0) {
      // The bound is reached. Once the partitions holding half their share or more are paused
      // (shareBytes), the others may still fill up to half of theirs: the client then delivers
      // only theirs.
      const half = this.queuedBytes / Math.max(1, assigned) / 2;
      freeBytes = 0;
      for (const q of this.queues) {
        if (!q.assigned || q.revoking || q.paused) continue;
        if (q.msgs.bytes >= half) return 0;
        freeBytes += half - q.msgs.bytes;
      }
      if (freeBytes <= 0) return 0;
    }
    const free = Math.max(1, assigned) * this.queuedPerPartition - queued;
    if (free <= 0) return 0;
    return Math.min(batch, Math.ceil(free / this.recordsPerMessage), Math.ceil(freeBytes / this.bytesPerMessage));
  }

  private pause(p: number): void {
    const q = this.queues[p]!;
    if (q.paused) return;
    q.paused = true;
    this.options.consumer.pause([{ topic: this.options.topic, partition: p }]);
    this.options.onLog?.("pause", { partition: p, queued: q.queuedRecords, bytes: q.msgs.bytes });
  }

  /** queuedBytes over the partitions assigned. */
  private byteShare(): number {
    let assigned = 0;
    for (const q of this.queues) if (q.assigned && !q.revoking) assigned++;
    return this.queuedBytes / Math.max(1, assigned);
  }

  /**
   * Whether another assigned partition is short of records while it still gets messages (within
   * the last second): partition p, far above its share, then holds room the other could use. A
   * partition with no more input (or the end of a backlog on some partitions only) is not short.
   */
  private starving(p: number): boolean {
    const now = Date.now();
    for (let o = 0; o < this.queues.length; o++) {
      const q = this.queues[o]!;
      if (o !== p && q.assigned && !q.revoking && !q.paused && q.queuedRecords < this.lowWater && now - q.lastQueuedAt < 1000) return true;
    }
    return false;
  }

  /**
   * With queuedBytes reached: if an assigned partition short of bytes (under a quarter of its
   * share) has records on their way, pauses every partition holding half its share or more and
   * returns true. Otherwise the bytes held by partitions the engine cannot read on (a merge on event
   * time waits for the short one) leave no room, and the short partition, whose messages the
   * client delivers after theirs, never gets any: nothing moves (as Kafka Streams pauses the
   * partitions with buffered records when its input.buffer.max.bytes is reached). They resume
   * below a quarter of their share (fill()).
   */
  private shareBytes(): boolean {
    let bytes = 0;
    let assigned = 0;
    for (const q of this.queues) {
      bytes += q.msgs.bytes;
      if (q.assigned && !q.revoking) assigned++;
    }
    if (bytes < this.queuedBytes) return false;
    const share = this.queuedBytes / Math.max(1, assigned);
    const now = Date.now();
    let short = false;
    for (let p = 0; p < this.queues.length && !short; p++) {
      const q = this.queues[p]!;
      if (!q.assigned || q.revoking || q.paused || q.loading || q.msgs.bytes >= share / 4) continue;
      const state = this.fetchState(p);
      short = state === "behind" || (state === undefined && now - q.lastQueuedAt < 1000);
    }
    if (!short) return false;
    let paused = false;
    for (let p = 0; p < this.queues.length; p++) {
      const q = this.queues[p]!;
      if (q.assigned && !q.revoking && !q.paused && q.msgs.bytes >= share / 2) {
        this.pause(p);
        paused = true;
      }
    }
    return paused;
  }

  /** Pauses every assigned partition holding more than the low mark (they are resumed below it). */
  private pauseQueued(): void {
    for (let p = 0; p < this.queues.length; p++) {
      const q = this.queues[p]!;
      if (q.assigned && !q.revoking && q.queuedRecords >= this.lowWater) this.pause(p);
    }
  }

  /** Asks the broker where partition p ends now (caughtUp). */
  private askEnd(p: number): void {
    const q = this.queues[p]!;
    const consumer = this.options.consumer;
    if (!consumer.queryWatermarks) return;
    q.end = -1;
    // Where its reading starts: the group's committed offset (a table's, under exactly-once: it is
    // committed in the transactions), else, or when the log no longer reaches back to it, the start.
    const topic = this.options.topic;
    const committed = consumer.committed([{ topic, partition: p }]).then((c) => c.find((o) => o.partition === p)?.offset ?? null);
    Promise.all([consumer.queryWatermarks(topic, p), committed]).then(([w, offset]) => {
      q.end = w.high;
      q.emptyAtAssign = Math.max(offset ?? w.low, w.low) >= w.high;
    }, (err: unknown) => {
      q.end = -2;
      this.options.onLog?.("end-offset-error", { partition: p, error: String((err as Error)?.message ?? err) });
    });
  }

  caughtUp(p: number): boolean | undefined {
    const q = this.queues[p];
    if (!q || q.end === -2 || !q.assigned) return undefined;
    if (q.end === -1) return false;
    if (q.emptyAtAssign) return true;
    if (!q.msgs.empty) return false;
    // Read and processed up to the end it had; or nothing more came for a while after the last
    // message (read_committed: the end may be a transaction's marker, which is never delivered).
    return q.nextOffset >= q.end || (q.nextOffset >= 0 && Date.now() - q.lastQueuedAt > MARKER_QUIET_MS);
  }

  /**
   * Where partition p stands against what the broker holds, as far as the client's last fetch
   * response tells (ConsumerClient.cachedWatermarks): "caught-up" (nothing it holds is still to
   * reach the queue), "behind" (records on their way), "unknown" (no fetch response yet, or where
   * reading starts not known yet); undefined when the client cannot tell. Not asked while p has
   * queued messages.
   */
  fetchState(p: number): "caught-up" | "behind" | "unknown" | undefined {
    const q = this.queues[p];
    const consumer = this.options.consumer;
    if (!q || !q.assigned || !consumer.cachedWatermarks) return undefined;
    const w = consumer.cachedWatermarks(this.options.topic, p);
    if (!w) return "unknown";
    // Where reading stands: after the last message queued; before any, where it started if the
    // partition had nothing left to read at assignment (askEnd), else somewhere before the end.
    if (q.nextOffset >= 0) return q.nextOffset < w.high ? "behind" : "caught-up";
    if (q.end === -1) return "unknown"; // askEnd not answered yet
    if (q.emptyAtAssign) return q.end < w.high ? "behind" : "caught-up";
    return "behind";
  }

  /** A frame's string ids (internFrameStrings), or undefined: not a frame, or one decoding will refuse. */
  private internStrings(v: Buffer): number[] | undefined {
    const ids: number[] = [];
    try {
      internFrameStrings(this.options.pipeline.schema, v, this.interner, ids);
    } catch {
      return undefined;
    }
    return ids;
  }


  private async resume(p: number): Promise<void> {
    const q = this.queues[p]!;
    q.paused = false;
    this.lastMessageAt = Date.now(); // a paused partition was not idle: restart the idle clock
    const tp: TopicPartition = { topic: this.options.topic, partition: p };
    if (q.nextOffset >= 0) await this.options.consumer.seek(this.options.topic, p, q.nextOffset).catch(() => undefined);
    this.options.consumer.resume([tp]);
    this.options.onLog?.("resume", { partition: p, at: q.nextOffset });
  }

  private deadLetter(m: KafkaMessage, error: string): void {
    this.deadLetters++;
    this.hooks?.rejected(m.partition, 1);
    this.options.onLog?.("dlq", { partition: m.partition, offset: m.offset, error });
    const value = m.value ?? Buffer.alloc(0);
    // Larger than a dead letter may be: its head, the original size in a header (the whole message
    // stays in the input topic at the offset the headers give).
    const cut = value.length > DEAD_LETTER_VALUE_BYTES;
    this.options.deadLetter(`${this.options.topic}.dlq`, cut ? value.subarray(0, DEAD_LETTER_VALUE_BYTES) : value, m.key ? m.key.toString() : null, [
      ...(cut ? [{ key: "riptide.truncated-from", value: Buffer.from(String(value.length)) }] : []),
      { key: "riptide.topic", value: Buffer.from(m.topic) },
      { key: "riptide.partition", value: Buffer.from(String(m.partition)) },
      { key: "riptide.offset", value: Buffer.from(String(m.offset)) },
      { key: "riptide.error", value: Buffer.from(error) },
      { key: "riptide.timestamp", value: Buffer.from(String(Date.now())) },
    ]);
  }

  fill(p: number, columns: Record<string, ColumnArray>, max: number): number {
    const q = this.queues[p]!;
    if (!q.assigned || q.revoking || q.loading) return 0;
    const off = columns["_off"]!;
    const schema = this.options.pipeline.schema;
    const msgs = q.msgs;
    let n = 0;
    q.enteredAt = msgs.empty ? 0 : msgs.timestamp(msgs.head);
    q.runs.reset();
    while (n < max && !msgs.empty) {
      const h = msgs.head;
      const offset = msgs.offset(h);
      const buf = msgs.buffer(h);
      const start = msgs.valueStart(h);
      const len = msgs.valueLength(h);
      if (q.resumeOffset !== undefined) {
        if (offset === q.resumeOffset && q.within === 0) {
          q.within = q.resumeWithin!;
          q.queuedRecords -= q.resumeWithin!;
        }
        q.resumeOffset = undefined;
      }
      if (len >= 4 && buf.readUInt32LE(start) === FRAME_MAGIC) {
        const v = msgs.value(h)!;
        if (q.ids.length === 0) q.ids = msgs.idsOf(h, this.interner.generation) ?? q.ids;
        let got: number;
        try {
          got = decodeFrameInto(schema, v, q.within, max - n, columns, n, this.interner, q.ids);
        } catch (err) {
          this.deadLetter(msgs.message(h, this.options.topic, p), (err as Error).message);
          q.queuedRecords -= Math.max(0, (len >= 12 ? v.readUInt32LE(8) : 1) - q.within);
          this.nextMessage(q);
          continue;
        }
        for (let i = 0; i < got; i++) off[n + i] = offset;
        if (got > 0) q.runs.add(msgs.timestamp(h), got);
        n += got;
        q.within += got;
        q.queuedRecords -= got;
        this.records += got;
        if (q.within >= v.readUInt32LE(8)) this.nextMessage(q);
      } else {
        const decode = this.options.decode;
        // A flat event straight from its bytes; anything else (and invalid JSON) the general way.
        const direct = decode === undefined && len > 0 && len <= this.maxJsonBytes && this.decodeJsonBytes(buf, columns, n, start, start + len);
        let value: unknown;
        if (!direct) {
          try {
            if (len <= 0) throw new Error("empty message");
            if (len > this.maxJsonBytes) throw new Error(`message of ${len} bytes is larger than the ${this.maxJsonBytes}-byte limit for one JSON event`);
            value = JSON.parse(buf.toString("utf8", start, start + len));
          } catch (err) {
            this.deadLetter(msgs.message(h, this.options.topic, p), `not valid JSON or a Riptide frame: ${(err as Error).message}`);
            q.queuedRecords--;
            this.nextMessage(q);
            continue;
          }
          if (decode !== undefined && !decode(value, msgs.value(h)!, columns, n)) {
            if (n > 0) break;
            this.deadLetter(msgs.message(h, this.options.topic, p), "the message does not fit an empty batch");
            q.queuedRecords--;
            this.nextMessage(q);
            continue;
          }
        }
        const k = offset % RETAIN;
        if (this.rawFrom[p]! < 0) this.rawFrom[p] = offset;
        this.raw[p]![k] = buf;
        this.rawStart[p]![k] = start;
        this.rawLength[p]![k] = len;
        this.rawOffset[p]![k] = offset;
        if (!direct && decode === undefined) this.decodeJson(value, columns, n);
        off[n] = offset;
        q.runs.add(msgs.timestamp(h), 1);
        n++;
        q.queuedRecords--;
        this.records++;
        this.nextMessage(q);
      }
    }
    q.position = msgs.empty ? q.nextOffset : msgs.offset(msgs.head);
    if (q.paused && q.queuedRecords < this.lowWater && q.msgs.bytes <= this.byteShare() / 4) void this.resume(p);
    return n;
  }

  private nextMessage(q: PartitionQueue): void {
    q.msgs.shift();
    q.within = 0;
    // A frame's decoding fills an empty `ids`; a JSON message leaves it empty, to be used again
    // (a new array per message was an allocation per JSON event).
    if (q.ids.length !== 0) q.ids = [];
  }

  enteredAt(p: number): number {
    return this.queues[p]!.enteredAt;
  }

  enteredRuns(p: number, ts: Float64Array, count: Float64Array, at: number, max: number): number {
    return this.queues[p]!.runs.copyTo(ts, count, at, max);
  }

  position(p: number): number {
    return this.queues[p]!.position;
  }

  assigned(p: number): boolean {
    return this.queues[p]?.assigned === true;
  }

  /** The string of an interned id (one string table for every string field of the schema). */
  idName(_field: string, id: number): string {
    return this.interner.name(id);
  }

  /** The string table: restored ids must name the same drivers as the restored shard state. */
  exportState(): unknown {
    // A frame read in part: its offset is the committed position, so the records of it already
    // processed must be skipped when it is read again.
    const partial: number[][] = [];
    for (let p = 0; p < this.queues.length; p++) {
      const q = this.queues[p]!;
      if (q.assigned && q.within > 0 && !q.msgs.empty) partial.push([p, q.msgs.offset(q.msgs.head), q.within]);
      else if (q.resumeOffset !== undefined) partial.push([p, q.resumeOffset, q.resumeWithin!]); // restored, not read yet
    }
    return { names: this.interner.exportNames(), ...transientState(this.interner, this.options.pipeline.schema), partial };
  }

  importState(state: unknown): void {
    const st = state as { names?: unknown; partial?: unknown } | null;
    if (Array.isArray(st?.names)) this.interner.loadNames(st.names.map(String));
    loadTransientState(this.interner, st);
    if (Array.isArray(st?.partial)) {
      for (const [p, offset, within] of st.partial as number[][]) {
        const q = this.queues[p!];
        if (q) { q.resumeOffset = offset; q.resumeWithin = within; }
      }
    }
  }

  async commit(positions: ReadonlyArray<readonly [number, number]>): Promise<void> {
    const offsets = positions.filter(([, o]) => o >= 0).map(([partition, offset]) => ({ topic: this.options.topic, partition, offset }));
    if (offsets.length === 0) return;
    // Every output of the records before a committed position was acknowledged: none renders
    // their event again.
    for (const o of offsets) this.releaseRaw(o.partition, o.offset);
    const consumer = this.options.consumer;
    if (consumer.commitAsync && this.options.asyncCommits !== false && !this.closed && !this.queues.some((q) => q.revoking)) {
      consumer.commitAsync(offsets);
      for (const o of offsets) this.unconfirmed.set(o.partition, o.offset);
      return;
    }
    await consumer.commit(offsets);
    for (const o of offsets) if (this.unconfirmed.get(o.partition)! <= o.offset) this.unconfirmed.delete(o.partition);
  }

  /** Drops the kept messages of partition p before offset `upTo` (event() then rebuilds such an event from its fields). */
  private releaseRaw(p: number, upTo: number): void {
    const raw = this.raw[p];
    const from = this.rawFrom[p];
    if (raw === undefined || from === undefined || from < 0 || upTo <= from) return;
    const at = this.rawOffset[p]!;
    for (let o = Math.max(from, upTo - RETAIN); o < upTo; o++) {
      const k = o % RETAIN;
      if (at[k] === o) raw[k] = undefined;
    }
    this.rawFrom[p] = upTo;
  }

  exhausted(): boolean {
    if (this.options.stopWhenIdleMs === undefined) return this.closed;
    if (!this.everAssigned) return false;
    if (Date.now() - this.lastMessageAt < this.options.stopWhenIdleMs) return false;
    // A partition whose state is still loading (exactly-once: waiting for a dead member's open
    // transaction to be aborted) has input to come.
    return this.queues.every((q) => q.msgs.empty && !q.paused && !q.loading);
  }

  event(out: OutputColumns, i: number): unknown {
    const p = out.part[i]!;
    const off = out.off[i]!;
    const k = off % RETAIN;
    const raw = this.raw[p]?.[k];
    if (raw !== undefined && this.rawOffset[p]![k] === off) {
      try {
        const start = this.rawStart[p]![k]!;
        const v = JSON.parse(raw.toString("utf8", start, start + this.rawLength[p]![k]!)) as Record<string, unknown>;
        return v;
      } catch {
        // fall through: rebuilt from fields
      }
    }
    return this.options.pipeline.eventFromRecord(out, i, (id) => this.interner.name(id));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeData();
    await this.consuming;
    // The last asynchronous commits again, synchronously: stored before the consumer goes.
    const last = [...this.unconfirmed].filter(([p]) => this.queues[p]?.assigned).map(([partition, offset]) => ({ topic: this.options.topic, partition, offset }));
    this.unconfirmed.clear();
    if (last.length > 0) await this.options.consumer.commit(last).catch((err: unknown) => this.options.onLog?.("commit-error", { error: String((err as Error).message) }));
  }
}
