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
 * Limit: the snapshot is the whole process's state, so exactly-once mode runs one process per
 * consumer group (a second one with the same transactional id fences the first: a takeover, not
 * a split). Splitting partitions across processes under exactly-once needs state per input
 * partition, which the engine does not keep yet.
 */
import type { TransactionHooks } from "../../coordinator/coordinator.js";
import { decodeSnapshot, encodeSnapshot, type RunSnapshot } from "../../coordinator/snapshot.js";
import type { KafkaAdminClient, KafkaClientFactory, KafkaClientOptions, KafkaConsumerClient, KafkaProducerClient } from "./client.js";
import { KafkaError } from "./client.js";

/** Changelog chunk size: under the broker's default 1 MB message limit. */
const CHUNK_BYTES = 512 * 1024;

export interface KafkaTransactionsOptions {
  factory: KafkaClientFactory;
  client: KafkaClientOptions;
  producer: KafkaProducerClient;
  consumer: KafkaConsumerClient;
  admin: KafkaAdminClient;
  /** Input topic (the offsets committed). */
  inputTopic: string;
  /** Compacted topic holding the state, one partition. */
  changelogTopic: string;
  intervalMs: number;
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
  /** Bytes of the last snapshot. */
  lastSnapshotBytes = 0;

  constructor(private readonly o: KafkaTransactionsOptions) {
    this.intervalMs = o.intervalMs;
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
    await admin.createTopic(this.o.changelogTopic, 1, 1, { "cleanup.policy": "compact" });
    await producer.initTransactions!();
    const restored = await this.restore();
    await producer.beginTransaction!();
    return restored;
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
    this.o.onLog?.("state-restore", {
      changelog: this.o.changelogTopic, found: true, epoch: meta.epoch, bytes: blob.length, records: records.length, ms: Date.now() - t0,
      rateBytesPerSec: Math.round(blob.length / Math.max(0.001, (Date.now() - t0) / 1000)),
    });
    return snapshot;
  }

  async commit(state: RunSnapshot, positions: Array<[number, number]>): Promise<void> {
    const { producer, consumer } = this.o;
    const epoch = ++this.epoch;
    const blob = encodeSnapshot(state);
    this.lastSnapshotBytes = blob.length;
    const n = Math.max(1, Math.ceil(blob.length / CHUNK_BYTES));
    for (let i = 0; i < n; i++) {
      const head = Buffer.alloc(8);
      head.writeUInt32LE(epoch, 0);
      head.writeUInt32LE(i, 4);
      this.produce(`chunk/${i}`, Buffer.concat([head, blob.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES)]));
    }
    this.produce("meta", Buffer.from(JSON.stringify({ epoch, chunks: n, bytes: blob.length })));
    const offsets = positions.map(([partition, offset]) => ({ topic: this.o.inputTopic, partition, offset }));
    if (offsets.length > 0) await producer.sendOffsetsToTransaction!(offsets, consumer);
    await producer.commitTransaction!();
    this.commits++;
    await producer.beginTransaction!();
  }

  private produce(key: string, value: Buffer): void {
    // The producer's queue is flushed at every commit, so it has room; a full queue is an error here.
    if (!this.o.producer.produce(this.o.changelogTopic, 0, value, key)) {
      throw new KafkaError(`changelog ${this.o.changelogTopic}: the producer queue is full`, { retriable: true });
    }
  }

  /** Aborts the open transaction (on a failed run: nothing of it becomes visible). */
  async abort(): Promise<void> {
    await this.o.producer.abortTransaction?.().catch(() => undefined);
  }
}
