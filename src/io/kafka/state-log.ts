/**
 * At-least-once state log: a pipeline's keyed state beyond its windows (PipelineDefinition.
 * loggedState: driver-tracking's last fix per driver) in a compacted changelog topic, as Kafka
 * Streams logs a store under either guarantee.
 *
 * The coordinator (StateLogHooks) hands over the shards' current checkpoints at most every
 * `intervalMs`, at a commit; the entries whose version moved since the last save are produced,
 * keyed by their string (the interned id means nothing to another process), and the save resolves
 * once the broker has them all. Only then are the offsets those checkpoints cover committed, so
 * the log always holds a state at least as new as the committed offsets: what the pipeline's
 * codec needs to replay from them as the crashed run did.
 *
 * When partitions are assigned (at a run's start, and when the group moves partitions), the
 * coordinator reads the topic to its end (`load`): the latest entry of each key, interned into
 * the source's string table, as shard snapshot words it merges into the shards that own the
 * partitions before their first record is read, each entry keeping the newer of the shard's and
 * the log's version. A key lives in one partition, so one shard uses it; the copies elsewhere
 * are never read, and the save keeps the newest version of each key over all shards, so a stale
 * copy is never written back. The previous owner of a partition wrote its state before it
 * committed the partition's offsets (a revoke commits last), so the new owner starts from a state
 * at least as new as the offsets it resumes from.
 *
 * One partition: each load reads the whole log, whichever partitions were assigned.
 *
 * A save that fails (a delivery error, a flush timeout) commits nothing and leaves what it sent to
 * be written again by the next save. If the keys' partition moved to another process meanwhile,
 * that write may land after the new owner's newer entry: a load keeps each key's newest version,
 * but once the log cleaner has compacted the newer entry away the older one is what is left (a
 * narrow window: a failed save, a revoke and a compaction in between).
 */
import type { StateLogHooks } from "../../coordinator/coordinator.js";
import type { LoggedStateCodec } from "../../pipelines/pipeline.js";
import type { Interner } from "../../schema/interner.js";
import { TRANSIENT_BASE } from "../../schema/interner.js";
import type { KafkaClientFactory, KafkaClientOptions, KafkaProducerClient } from "./client.js";
import { KafkaError } from "./client.js";

export function stateLogTopicFor(group: string, codec: LoggedStateCodec): string {
  return `${group}-${codec.name}-changelog`;
}

/** The log's topic settings: compacted (the latest entry per key), as the exactly-once changelog. */
export { CHANGELOG_CONFIG as STATE_LOG_CONFIG } from "./transactions.js";

export interface KafkaStateLogOptions {
  factory: KafkaClientFactory;
  client: KafkaClientOptions;
  /** A producer of its own (its delivery callback is the log's). */
  producer: KafkaProducerClient;
  topic: string;
  codec: LoggedStateCodec;
  /** The source's string table (keys are interned there on load, named from it on save). */
  interner: Interner;
  intervalMs: number;
  /** How long a save may wait for the broker, ms. @default 30 000 */
  flushTimeoutMs?: number;
  onLog?: (event: string, detail: Record<string, unknown>) => void;
}

export class KafkaStateLog implements StateLogHooks {
  readonly intervalMs: number;
  /** Per interned id, the version last written (NaN: none). */
  private saved = new Float64Array(1024).fill(NaN);
  /** Per interned id, the newest version over the shards at this save, and which shard has it. */
  private newest = new Float64Array(1024).fill(NaN);
  private newestIn = new Int32Array(1024);
  private failed: KafkaError | null = null;
  /** Ids written since the last save that ended with the broker holding everything it sent. */
  private readonly unconfirmed: number[] = [];

  constructor(private readonly o: KafkaStateLogOptions) {
    this.intervalMs = o.intervalMs;
    if (!o.factory.readPartition) throw new KafkaError(`a state log needs readPartition on ${o.factory.name}`);
    o.producer.onDelivery((err) => {
      if (err) this.failed ??= err;
    });
  }

  /**
   * Reads the topic to its end: the latest entry of each key as shard snapshot words, its keys
   * interned into the source's string table (undefined: nothing logged yet).
   */
  async load(): Promise<Float64Array | undefined> {
    const t0 = Date.now();
    const records = await this.o.factory.readPartition!(this.o.client, this.o.topic, 0);
    const bytes = this.o.codec.valueBytes;
    const latest = new Map<string, Buffer>();
    for (const r of records) {
      if (r.key === null) continue;
      const key = r.key.toString("utf8");
      if (r.value === null) latest.delete(key);
      else if (r.value.length === bytes) {
        // The newest version, not the last written: a process that failed a save writes its
        // entries again, possibly after the key's partition moved and its new owner wrote newer.
        const had = latest.get(key);
        if (had === undefined || !(this.o.codec.versionOf(had) > this.o.codec.versionOf(r.value))) latest.set(key, r.value);
      }
    }
    this.o.onLog?.("state-restore", { topic: this.o.topic, records: records.length, entries: latest.size, ms: Date.now() - t0 });
    if (latest.size === 0) return undefined;
    const ids: number[] = [];
    const values = Buffer.alloc(latest.size * bytes);
    let k = 0;
    for (const [key, v] of latest) {
      const id = this.o.interner.intern(key);
      ids.push(id);
      v.copy(values, k * bytes);
      k++;
    }
    const words = this.o.codec.seed(ids, values);
    // What is in the log need not be written again until it changes.
    this.o.codec.scan(words, (id, version) => {
      this.hold(id);
      this.saved[id] = version;
    });
    return words;
  }

  async save(shards: readonly Float64Array[]): Promise<void> {
    const codec = this.o.codec;
    const touched: number[] = [];
    for (let w = 0; w < shards.length; w++) {
      const words = shards[w]!;
      if (words.length === 0) continue;
      codec.scan(words, (id, version) => {
        if (id >= TRANSIENT_BASE) return;
        this.hold(id);
        const best = this.newest[id]!;
        if (best === best && best >= version) return;
        if (best !== best) touched.push(id);
        this.newest[id] = version;
        this.newestIn[id] = w;
      });
    }
    const p = this.o.producer;
    const timeout = this.o.flushTimeoutMs ?? 30_000;
    try {
      for (const id of touched) {
        const version = this.newest[id]!;
        const was = this.saved[id]!;
        if (was === was && was >= version) continue;
        const key = this.o.interner.name(id);
        if (key === "") continue;
        const value = Buffer.allocUnsafe(codec.valueBytes);
        codec.encode(shards[this.newestIn[id]!]!, id, value, 0);
        // A full local queue: let it drain, then the same record again.
        while (!p.produce(this.o.topic, 0, value, key)) await p.flush(timeout);
        this.saved[id] = version;
        this.unconfirmed.push(id);
      }
      if (this.unconfirmed.length > 0) await p.flush(timeout);
      if (this.failed) throw new KafkaError(`state log ${this.o.topic}: ${this.failed.message}`, { cause: this.failed });
      this.unconfirmed.length = 0;
    } catch (err) {
      // What this save and any failed one before it sent is written again by the next. Only these:
      // a key whose partition another process owns now holds an older copy here (merged in from
      // the log), which must never overwrite that process's newer entry.
      for (const id of this.unconfirmed) this.saved[id] = NaN;
      this.unconfirmed.length = 0;
      this.failed = null;
      throw err;
    } finally {
      for (const id of touched) this.newest[id] = NaN;
    }
  }

  /** Grows the per-id arrays to hold `id`. */
  private hold(id: number): void {
    if (id < this.saved.length) return;
    let cap = this.saved.length;
    while (cap <= id) cap *= 2;
    const saved = new Float64Array(cap).fill(NaN);
    saved.set(this.saved);
    const newest = new Float64Array(cap).fill(NaN);
    newest.set(this.newest);
    const newestIn = new Int32Array(cap);
    newestIn.set(this.newestIn);
    this.saved = saved;
    this.newest = newest;
    this.newestIn = newestIn;
  }
}
