/**
 * Exactly-once on Kafka: consume-transform-produce in transactions, with the run's state in a
 * compacted changelog topic committed in the same transaction.
 *
 * Each commit (a barrier of the coordinator, about every `intervalMs`):
 *   1. the outputs produced since the last commit are already in the open transaction;
 *   2. the run's snapshot (src/coordinator/snapshot.ts) is written to the changelog topic as
 *      chunks keyed `chunk/<i>` followed by a `meta` record naming the epoch and the chunk count;
 *   3. the input positions go in with `sendOffsetsToTransaction` (with the consumer's group
 *      metadata: a member of an older group generation is fenced);
 *   4. `commitTransaction`, then `beginTransaction` for the next.
 * Consumers of the outputs read `read_committed`: a crash between two commits leaves an open
 * transaction that the restarted process aborts (`initTransactions` with the same transactional
 * id fences the old instance), and the restarted process resumes from the committed offsets with
 * the state committed with them. So every input record affects the committed outputs once.
 *
 * On start, `restore()` reads the changelog to its end (`read_committed`) and returns the last
 * complete snapshot, if any.
 *
 * Several input topics (driver-eta's locations and requests, a DSL topology's streams and tables,
 * engagement's views and interactions): one consumer per topic, each in its own group, and one
 * transactional producer. The coordinator's positions are numbered as the combined source's
 * partitions (each topic's partitions side by side, in the order the inputs were added: see
 * MultiSource), mapped back here to (topic, partition); at each commit every topic's offsets go to
 * the transaction with its own consumer's group metadata (one sendOffsetsToTransaction per group:
 * librdkafka allows several per transaction), so every output and every input position of every
 * group commits atomically or not at all. Each input's source state (its string table, a frame
 * read in part) is in the snapshot: `source` is that of the only input, or `{ topics, inputs }`
 * with one entry per input when there are several.
 *
 * The snapshot is the whole process's state, so this mode runs one process per consumer group (a
 * second one with the same transactional id fences the first: a takeover, not a split).
 *
 * Task mode (`taskMode`, `riptide run --topology … --instance-id ID`): state per input partition,
 * so several processes of a group split the partitions under exactly-once. Each process has its
 * own transactional id (and static group membership) from its instance id; its shards keep one
 * task per partition (TaskedProcessor). Each commit writes, per partition whose position it
 * commits, the task's words as chunks keyed `task/<p>/<i>` and then `task/<p>` naming writer,
 * epoch, chunk count and the partition's stream time, in the same transaction as that partition's
 * offset, to changelog partition p (the changelog has one partition per task; one created by an
 * older run may have fewer: task p then goes to partition p mod their count). On assignment
 * (loadTasks) a process reads the assigned tasks' changelog partitions and loads their last
 * committed tasks before it fetches their records; on revoke it commits them
 * first and drops them. A process killed with a transaction open leaves the changelog's last
 * stable offset behind its end until the broker aborts that transaction (transaction.timeout.ms,
 * 10 s here, or at once when the same instance id restarts): loadTasks waits for that, so a task
 * committed after the open transaction began is not missed. A topology reading several
 * co-partitioned topics keeps one task per co-partition index q (partition q of every topic, read
 * by one consumer: src/io/kafka/shared-consumer.ts): `task/<q>` carries the stream time of each of
 * its partitions, and is written when the commit carries a position of any of them. A global
 * table's topic (TransactionalInput.global) is no task's: each process reads it whole from its
 * beginning on a consumer of its own, and its offsets are not committed. A repartition topic
 * (TransactionalInput.purge) is one more co-partitioned input; after a commit, the records before
 * its committed positions are deleted (deleteRecords, at most every purgeIntervalMs), as Kafka
 * Streams purges its repartition topics.
 */
import type { SavedTask, TransactionHooks } from "../../coordinator/coordinator.js";
import { splitTasks } from "../../pipelines/tasked-processor.js";
import { decodeSnapshot, encodeSnapshot, type RunSnapshot } from "../../coordinator/snapshot.js";
import type { KafkaAdminClient, KafkaClientFactory, KafkaClientOptions, KafkaConsumerClient, KafkaProducerClient } from "./client.js";
import { KafkaError } from "./client.js";
import { loadTransientState, type Interner } from "../../schema/interner.js";
import type { TaskStateCodec } from "../../pipelines/pipeline.js";

/**
 * One input topic of an exactly-once run: its consumer (the offsets go to the transaction with
 * this consumer's group metadata) and the state of the source reading it.
 */
export interface TransactionalInput {
  topic: string;
  /** Partitions of the topic: its span of the combined source's partition numbers. */
  partitions: number;
  consumer: KafkaConsumerClient;
  /** The source's string table and state (KafkaSource, or a source staging its records). */
  source: { readonly interner: Interner; exportState(): unknown; importState(state: unknown): void };
  /**
   * Task mode: a topic every process reads whole (a GlobalKTable's), on its own consumer from the
   * beginning at every start: its offsets are never committed and it belongs to no task.
   */
  global?: boolean;
  /**
   * A repartition topic (internal: written and read by the run itself): once a transaction has
   * committed a position in one of its partitions, the records before it are deleted (see
   * KafkaTransactionsOptions.purgeIntervalMs), as Kafka Streams purges its repartition topics.
   */
  purge?: boolean;
}

/** A KafkaSource's exportState(): its string table, its transient ids' strings and the frames read in part. */
interface SourceState { names?: unknown; transient?: unknown; partial?: unknown }

/** Changelog chunk size: under the broker's default 1 MB message limit. */
const CHUNK_BYTES = 512 * 1024;

/** The changelog topic's configuration (see start()). */
export const CHANGELOG_CONFIG: Record<string, string> = { "cleanup.policy": "compact", "segment.ms": "60000", "min.cleanable.dirty.ratio": "0.1" };

export interface KafkaTransactionsOptions {
  factory: KafkaClientFactory;
  client: KafkaClientOptions;
  producer: KafkaProducerClient;
  admin: KafkaAdminClient;
  /** Compacted topic holding the state (one partition; task mode: see changelogPartitions). */
  changelogTopic: string;
  /** State per partition (see the top of this file). */
  taskMode?: boolean;
  /**
   * Task mode: partitions of a changelog created here, one per task (the input topics' partition
   * count), so that an assignment reads only its tasks' partitions. An existing changelog keeps its
   * count (task q in its partition q mod count). @default 1
   */
  changelogPartitions?: number;
  /**
   * Task mode: how a task's words are written and read (a built-in pipeline's state names its
   * strings by the first input's string table: PipelineDefinition.taskState). Absent: the words as
   * they are (a DSL topology's tasks hold their strings themselves).
   */
  taskCodec?: TaskStateCodec;
  intervalMs: number;
  /**
   * Least time between two purges of the repartition topics (TransactionalInput.purge): each
   * deletes, with the admin client's deleteRecords, the records before the last committed position
   * of every partition of theirs that moved since (Kafka Streams' repartition.purge.interval.ms).
   * @default 30000
   */
  purgeIntervalMs?: number;
  onLog?: (event: string, detail: Record<string, unknown>) => void;
}

/** The changelog topic of a consumer group's state (Kafka Streams names theirs `<app>-<store>-changelog`). */
export function changelogTopicFor(group: string): string {
  return `${group}-state-changelog`;
}

export class KafkaTransactions implements TransactionHooks {
  readonly intervalMs: number;
  private epoch = 0;
  /** Transactions committed by this process. */
  commits = 0;
  /** Task mode: partitions of the changelog (task q's records go to partition q mod this). */
  private changelogParts = 1;
  /** Task mode: this process's mark on the task chunks it writes (a chunk is only read with its own meta record). */
  private readonly writer = (Math.random() * 0x100000000) >>> 0;
  /** Bytes of the last snapshot. */
  lastSnapshotBytes = 0;
  /** The input topics, in the combined source's partition order (addInput). */
  private readonly inputs: TransactionalInput[] = [];
  /** Where each input's partitions start among the combined source's. */
  private readonly bases: number[] = [];
  /** The restored snapshot's source state (undefined: fresh). */
  private restoredSource: unknown;
  /** Each input's part of it (undefined: none). */
  private readonly restoredInputs: Array<SourceState | undefined> = [];
  /** Repartition topics' partitions (`topic/partition`): the last committed position, and the position purged to. */
  private readonly purgeable = new Map<string, { topic: string; partition: number; committed: number; purged: number }>();
  private lastPurge = 0;
  private purging: Promise<void> | undefined;
  /** Purges done (deleteRecords calls that succeeded). */
  purges = 0;
  /** KafkaTransactionsOptions.purgeIntervalMs. */
  purgeIntervalMs: number;

  constructor(private readonly o: KafkaTransactionsOptions) {
    this.intervalMs = o.intervalMs;
    this.purgeIntervalMs = o.purgeIntervalMs ?? 30_000;
    for (const m of ["initTransactions", "beginTransaction", "sendOffsetsToTransaction", "commitTransaction"] as const) {
      if (typeof o.producer[m] !== "function") throw new KafkaError(`exactly-once needs a transactional producer (${m} is missing from ${o.factory.name})`);
    }
  }

  /**
   * Creates the changelog topic if missing, registers the transactional id (aborting and fencing a
   * previous instance's open transaction), reads the last committed snapshot and begins the first
   * transaction. Returns the snapshot to start from (undefined: fresh state).
   */
  async start(): Promise<RunSnapshot | undefined> {
    const { admin, producer } = this.o;
    // Compacted, with segments rolled every minute: the log cleaner only compacts closed segments,
    // and every commit writes its state again, so with the broker's default (7 days or 1 GiB) a
    // restore would read every commit since the topic's start.
    await admin.createTopic(this.o.changelogTopic, this.o.taskMode ? Math.max(1, this.o.changelogPartitions ?? 1) : 1, 1, CHANGELOG_CONFIG);
    if (this.o.taskMode) {
      const md = await admin.metadata(this.o.changelogTopic);
      this.changelogParts = Math.max(1, md.topics.find((t) => t.name === this.o.changelogTopic)?.partitions ?? 1);
    }
    await producer.initTransactions!();
    if (this.o.taskMode) {
      // Each partition's state is loaded when it is assigned (loadTasks).
      await producer.beginTransaction!();
      return undefined;
    }
    const restored = await this.restore();
    await producer.beginTransaction!();
    // Each input's source state is restored by addInput (before its source starts reading).
    return restored && { ...restored, source: null };
  }

  /**
   * Adds an input topic; call in the combined source's partition order, before its source reads
   * anything: the source's part of the restored state (string table, frames read in part) is
   * given to it here.
   */
  addInput(input: TransactionalInput): void {
    const k = this.inputs.length;
    this.bases.push(k === 0 ? 0 : this.bases[k - 1]! + this.inputs[k - 1]!.partitions);
    this.inputs.push(input);
    this.restoredInputs.push(undefined);
    const saved = this.restoredSource;
    if (saved === undefined || saved === null) return;
    let mine: SourceState | undefined;
    const multi = saved as { topics?: unknown; inputs?: unknown };
    if (Array.isArray(multi.inputs) && Array.isArray(multi.topics)) {
      if (multi.topics[k] !== input.topic) {
        throw new KafkaError(`changelog ${this.o.changelogTopic}: the saved state's input ${k + 1} is topic ${JSON.stringify(multi.topics[k] ?? null)}, this run reads ${input.topic} there (saved: ${multi.topics.join(", ")}); use another --group, or the same topics`);
      }
      mine = multi.inputs[k] as SourceState;
    } else if (k === 0) {
      mine = saved as SourceState;
    } else {
      throw new KafkaError(`changelog ${this.o.changelogTopic}: the saved state is of a run reading one input topic, this run reads more (${this.inputs.map((i) => i.topic).join(", ")}); use another --group`);
    }
    this.restoredInputs[k] = mine;
    if (Array.isArray(mine?.names)) restoreNames(input.source.interner, mine.names.map(String), input.topic);
    loadTransientState(input.source.interner, mine);
    input.source.importState({ partial: mine?.partial });
  }

  /**
   * Another view of an added input's state: a source that stages the input's records before
   * handing them out (engagement's time-aligned streams) knows which of them are in the state.
   * It gets the input's restored state (frames read in part) with importState, as addInput gave it.
   */
  replaceSource(added: TransactionalInput["source"], source: TransactionalInput["source"]): void {
    const k = this.inputs.findIndex((i) => i.source === added);
    if (k < 0) throw new KafkaError("exactly-once: replaceSource of a source that was not added (addInput)");
    this.inputs[k] = { ...this.inputs[k]!, source };
    source.importState({ partial: this.restoredInputs[k]?.partial });
  }

  private async restore(): Promise<RunSnapshot | undefined> {
    if (!this.o.factory.readPartition) throw new KafkaError(`exactly-once needs readPartition on ${this.o.factory.name}`);
    const t0 = Date.now();
    const records = await this.o.factory.readPartition(this.o.client, this.o.changelogTopic, 0);
    const chunks = new Map<number, Buffer>();
    let meta: { epoch: number; chunks: number; bytes: number } | undefined;
    for (const m of records) {
      const key = m.key?.toString("utf8") ?? "";
      if (!m.value) continue;
      if (key.startsWith("task/")) {
        throw new KafkaError(`changelog ${this.o.changelogTopic}: the state was saved per partition by a run with --instance-id; run with --instance-id, or use another --group`);
      }
      if (key === "meta") meta = JSON.parse(m.value.toString("utf8")) as typeof meta;
      else if (key.startsWith("chunk/")) chunks.set(Number(key.slice(6)), m.value);
    }
    if (!meta) {
      this.o.onLog?.("state-restore", { changelog: this.o.changelogTopic, found: false, records: records.length, ms: Date.now() - t0 });
      return undefined;
    }
    const parts: Buffer[] = [];
    for (let i = 0; i < meta.chunks; i++) {
      const c = chunks.get(i);
      if (!c || c.readUInt32LE(0) !== meta.epoch) {
        throw new KafkaError(`changelog ${this.o.changelogTopic}: chunk ${i} of epoch ${meta.epoch} is missing (found ${c ? `epoch ${c.readUInt32LE(0)}` : "none"})`);
      }
      parts.push(c.subarray(8));
    }
    const blob = Buffer.concat(parts);
    if (blob.length !== meta.bytes) throw new KafkaError(`changelog ${this.o.changelogTopic}: snapshot of epoch ${meta.epoch} has ${blob.length} bytes, expected ${meta.bytes}`);
    this.epoch = meta.epoch;
    const snapshot = decodeSnapshot(blob);
    this.restoredSource = snapshot.source;
    this.o.onLog?.("state-restore", {
      changelog: this.o.changelogTopic, found: true, epoch: meta.epoch, bytes: blob.length, records: records.length, ms: Date.now() - t0,
      rateBytesPerSec: Math.round(blob.length / Math.max(0.001, (Date.now() - t0) / 1000)),
    });
    return snapshot;
  }

  async commit(state: RunSnapshot, positions: Array<[number, number]>): Promise<void> {
    const { producer } = this.o;
    const epoch = ++this.epoch;
    if (this.inputs.length === 0) throw new KafkaError("exactly-once: no input topic was added to the transactions (addInput)");
    if (this.o.taskMode) {
      this.writeTasks(state, positions, epoch);
    } else {
      // The sources' state is each input's own (the combined source does not know it).
      const sources = this.inputs.map((i) => i.source.exportState());
      const blob = encodeSnapshot({ ...state, source: sources.length === 1 ? sources[0] : { topics: this.inputs.map((i) => i.topic), inputs: sources } });
      this.lastSnapshotBytes = blob.length;
      const n = this.produceChunks(blob, (i) => `chunk/${i}`, [epoch]);
      this.produce("meta", Buffer.from(JSON.stringify({ epoch, chunks: n, bytes: blob.length })));
    }
    await this.sendOffsets(positions);
    await producer.commitTransaction!();
    this.commits++;
    this.purgeCommitted(positions);
    await producer.beginTransaction!();
  }

  /**
   * After a commit: notes the committed positions of the repartition topics' partitions, and at
   * most every purgeIntervalMs deletes the records before them (in the background, one purge at a
   * time; a failure is logged and the next purge tries again). Only committed positions are
   * purged to: a process that takes a task over reads its repartition partitions from there.
   */
  private purgeCommitted(positions: ReadonlyArray<readonly [number, number]>): void {
    for (let k = 0; k < this.inputs.length; k++) {
      const input = this.inputs[k]!;
      if (input.purge !== true) continue;
      const base = this.bases[k]!;
      for (const [p, offset] of positions) {
        if (p < base || p >= base + input.partitions) continue;
        const key = `${input.topic}/${p - base}`;
        const e = this.purgeable.get(key) ?? this.purgeable.set(key, { topic: input.topic, partition: p - base, committed: 0, purged: 0 }).get(key)!;
        if (offset > e.committed) e.committed = offset;
      }
    }
    const now = Date.now();
    if (this.purging || this.purgeable.size === 0 || now - this.lastPurge < this.purgeIntervalMs) return;
    const due = [...this.purgeable.values()].filter((e) => e.committed > e.purged);
    if (due.length === 0) return;
    this.lastPurge = now;
    if (!this.o.admin.deleteRecords) {
      this.o.onLog?.("repartition-purge-unavailable", { note: `${this.o.factory.name}'s admin client has no deleteRecords: repartition topics keep their records` });
      this.purgeIntervalMs = Infinity; // said once
      return;
    }
    const to = due.map((e) => ({ topic: e.topic, partition: e.partition, offset: e.committed }));
    this.purging = this.o.admin.deleteRecords(to).then(() => {
      for (const [i, e] of due.entries()) e.purged = Math.max(e.purged, to[i]!.offset);
      this.purges++;
    }, (err: Error) => {
      this.o.onLog?.("repartition-purge-failed", { error: err.message, partitions: to.length });
    }).finally(() => {
      this.purging = undefined;
    });
  }

  /**
   * Each topic's offsets with its consumer's group metadata: one call per consumer (per group;
   * task mode reads every topic with one consumer).
   */
  private async sendOffsets(positions: Array<[number, number]>): Promise<void> {
    const { producer } = this.o;
    const byConsumer = new Map<KafkaConsumerClient, Array<{ topic: string; partition: number; offset: number }>>();
    for (let k = 0; k < this.inputs.length; k++) {
      const input = this.inputs[k]!;
      if (input.global) continue;
      const base = this.bases[k]!;
      const offsets = byConsumer.get(input.consumer) ?? byConsumer.set(input.consumer, []).get(input.consumer)!;
      for (const [p, offset] of positions) {
        if (p >= base && p < base + input.partitions) offsets.push({ topic: input.topic, partition: p - base, offset });
      }
    }
    for (const [consumer, offsets] of byConsumer) if (offsets.length > 0) await producer.sendOffsetsToTransaction!(offsets, consumer);
  }

  /** Task mode: the task of partition p of the combined source (its partition number in its own topic; -1: a global topic's). */
  private taskOf(p: number): number {
    for (let k = this.inputs.length - 1; k >= 0; k--) if (p >= this.bases[k]!) return this.inputs[k]!.global ? -1 : p - this.bases[k]!;
    return p;
  }

  /**
   * Task mode: every task one of whose partitions this commit carries a position of, with the
   * stream time of each of its partitions (several topics: partition q of each is task q's).
   */
  private writeTasks(state: RunSnapshot, positions: Array<[number, number]>, epoch: number): void {
    const committing = new Set(positions.map(([p]) => this.taskOf(p)).filter((t) => t >= 0));
    const time = (st: number | undefined): number | string => (st !== undefined && Number.isFinite(st) ? st : String(st ?? -Infinity));
    let bytes = 0;
    for (const shard of state.shards) {
      for (const [t, words] of splitTasks(shard)) {
        if (!committing.has(t)) continue;
        const codec = this.o.taskCodec;
        const blob = codec ? codec.encode(words, this.inputs[0]!.source.interner) : Buffer.from(words.buffer, words.byteOffset, words.byteLength);
        const part = t % this.changelogParts;
        const n = this.produceChunks(blob, (i) => `task/${t}/${i}`, [this.writer, epoch], 16, part);
        const local = this.bases.filter((_b, k) => !this.inputs[k]!.global);
        const streamTimes = local.length > 1 ? { streamTimes: local.map((b) => [b + t, time(state.streamTime[b + t])]) } : {};
        this.produce(`task/${t}`, Buffer.from(JSON.stringify({ writer: this.writer, epoch, chunks: n, bytes: blob.length, streamTime: time(state.streamTime[t]), ...streamTimes })), part);
        bytes += blob.length;
      }
    }
    this.lastSnapshotBytes = bytes;
  }

  /**
   * Task mode: the last committed state of each of these tasks (a task's id is its partitions'
   * number in their own topics). Waits until no transaction is open on the changelog first.
   */
  async loadTasks(tasks: readonly number[]): Promise<Map<number, SavedTask>> {
    if (!this.o.factory.readPartition) throw new KafkaError(`exactly-once needs readPartition on ${this.o.factory.name}`);
    const t0 = Date.now();
    // Only the changelog partitions of these tasks (all of them share one with a 1-partition changelog).
    const logParts = [...new Set(tasks.map((t) => t % this.changelogParts))];
    await this.changelogSettled(logParts);
    const read = await Promise.all(logParts.map((q) => this.o.factory.readPartition!(this.o.client, this.o.changelogTopic, q)));
    const records = read.flat();
    const wanted = new Set(tasks);
    const metas = new Map<number, { writer: number; epoch: number; chunks: number; bytes: number; streamTime: number | string; streamTimes?: Array<[number, number | string]> }>();
    const chunks = new Map<string, Buffer>();
    for (const m of records) {
      const key = m.key?.toString("utf8") ?? "";
      if (!m.value) continue;
      if (key === "meta") {
        throw new KafkaError(`changelog ${this.o.changelogTopic}: the state was saved whole by a run without --instance-id; run without it, or use another --group`);
      }
      const parts = key.split("/");
      if (parts[0] !== "task" || !wanted.has(Number(parts[1]))) continue;
      if (parts.length === 2) metas.set(Number(parts[1]), JSON.parse(m.value.toString("utf8")) as never);
      else chunks.set(key, m.value);
    }
    const out = new Map<number, SavedTask>();
    let bytes = 0;
    for (const [p, meta] of metas) {
      const blob = Buffer.alloc(meta.bytes);
      let at = 0;
      for (let i = 0; i < meta.chunks; i++) {
        const c = chunks.get(`task/${p}/${i}`);
        if (!c || c.readUInt32LE(0) !== meta.writer || c.readUInt32LE(4) !== meta.epoch) {
          throw new KafkaError(`changelog ${this.o.changelogTopic}: chunk ${i} of task ${p}'s state (writer ${meta.writer}, epoch ${meta.epoch}) is missing`);
        }
        at += c.copy(blob, at, 16);
      }
      if (at !== meta.bytes) throw new KafkaError(`changelog ${this.o.changelogTopic}: task ${p}'s state has ${at} bytes, expected ${meta.bytes}`);
      const codec = this.o.taskCodec;
      const words = codec ? codec.decode(blob, this.inputs[0]!.source.interner) : new Float64Array(meta.bytes / 8);
      if (!codec) Buffer.from(words.buffer).set(blob);
      out.set(p, { streamTime: Number(meta.streamTime), words, ...(meta.streamTimes && { streamTimes: new Map(meta.streamTimes.map(([q, st]) => [q, Number(st)])) }) });
      bytes += meta.bytes;
    }
    this.o.onLog?.("state-restore", {
      changelog: this.o.changelogTopic, tasks: [...tasks], changelogPartitions: logParts, found: [...out.keys()], bytes, records: records.length, ms: Date.now() - t0,
      rateBytesPerSec: Math.round(bytes / Math.max(0.001, (Date.now() - t0) / 1000)),
    });
    return out;
  }

  /**
   * Waits until these partitions of the changelog have no open transaction (each one's last stable
   * offset, which a read_committed reader stops at, has reached its end): a task committed after a
   * transaction that a killed process left open is only readable once the broker has aborted that one.
   */
  private async changelogSettled(parts: readonly number[], limitMs = 60_000): Promise<void> {
    const make = (isolationLevel: "read_committed" | "read_uncommitted") => this.o.factory.createConsumer({
      ...this.o.client, groupId: `riptide-lso-${process.pid}-${Date.now()}-${isolationLevel}`, isolationLevel,
    });
    const stable = make("read_committed");
    const all = make("read_uncommitted");
    if (!stable.queryWatermarks || !all.queryWatermarks) return;
    await Promise.all([stable.connect(), all.connect()]);
    try {
      const t0 = Date.now();
      let logged = false;
      const open = new Set(parts);
      for (;;) {
        for (const q of [...open]) {
          const [lso, end] = await Promise.all([stable.queryWatermarks(this.o.changelogTopic, q), all.queryWatermarks(this.o.changelogTopic, q)]);
          if (lso.high >= end.high) { open.delete(q); continue; }
          if (!logged) this.o.onLog?.("state-restore-wait", { changelog: this.o.changelogTopic, partition: q, lastStableOffset: lso.high, end: end.high, note: "a transaction is open on the changelog" });
          logged = true;
          if (Date.now() - t0 > limitMs) throw new KafkaError(`changelog ${this.o.changelogTopic}: a transaction stayed open on partition ${q} for more than ${limitMs / 1000} s (last stable offset ${lso.high}, end ${end.high})`, { retriable: true });
        }
        if (open.size === 0) return;
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await Promise.all([stable.disconnect().catch(() => undefined), all.disconnect().catch(() => undefined)]);
    }
  }

  /**
   * `blob` as chunks of at most CHUNK_BYTES keyed `keyOf(i)`, each after a head of u32 words:
   * `marks` then the chunk's index (padded to `headBytes`). Returns the number of chunks.
   */
  private produceChunks(blob: Buffer, keyOf: (i: number) => string, marks: readonly number[], headBytes = 4 * (marks.length + 1), partition = 0): number {
    const n = Math.max(1, Math.ceil(blob.length / CHUNK_BYTES));
    for (let i = 0; i < n; i++) {
      const head = Buffer.alloc(headBytes);
      marks.forEach((m, k) => head.writeUInt32LE(m, 4 * k));
      head.writeUInt32LE(i, 4 * marks.length);
      this.produce(keyOf(i), Buffer.concat([head, blob.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES)]), partition);
    }
    return n;
  }

  private produce(key: string, value: Buffer, partition = 0): void {
    // The producer's queue is flushed at every commit, so it has room; a full queue is an error here.
    if (!this.o.producer.produce(this.o.changelogTopic, partition, value, key)) {
      throw new KafkaError(`changelog ${this.o.changelogTopic}: the producer queue is full`, { retriable: true });
    }
  }

  /** Aborts the open transaction (on a failed run: nothing of it becomes visible). */
  async abort(): Promise<void> {
    await this.o.producer.abortTransaction?.().catch(() => undefined);
  }
}

/**
 * Gives a string table the restored strings with their ids (1, 2, …), by interning them in order
 * (a SharedInterner also publishes them to the workers' table). Inputs sharing one table (a DSL
 * topology's topics) find it restored already by the first.
 */
function restoreNames(interner: Interner, names: readonly string[], topic: string): void {
  if (interner.size > 0) {
    let same = interner.size >= names.length;
    for (let i = 0; same && i < names.length; i++) same = interner.name(i + 1) === names[i];
    if (!same) throw new KafkaError(`exactly-once restore of ${topic}: its string table already holds ${interner.size} other strings`);
    return;
  }
  for (let i = 0; i < names.length; i++) {
    if (interner.intern(names[i]) !== i + 1) throw new KafkaError(`exactly-once restore of ${topic}: string ${i + 1} of the saved table is not a new non-empty string`);
  }
}
