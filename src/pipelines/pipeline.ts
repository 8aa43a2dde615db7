/**
 * What the coordinator (main thread) needs to know about a pipeline: its input layout, the edge
 * kernel that runs on each batch as it enters (validation, stream time, watermark), its windows,
 * and how outputs become objects at the sink edge. The worker half is a ShardProcessor.
 */
import type { OutputColumns } from "../ring/output.js";
import type { Interner } from "../schema/interner.js";
import type { ColumnArray, RecordLayout, Schema } from "../schema/schema.js";
import type { Output } from "../sinks/sink.js";
import type { ProcessorConfig } from "./processor.js";

export interface PipelineDefinition {
  readonly name: string;
  /** One line for `riptide pipelines`. */
  readonly description: string;
  /** The input event's schema (JSON field names). */
  readonly schema: Schema;
  /** Window size and grace of the pipeline's windowed aggregation (used to merge shard partials). */
  readonly window: { readonly sizeMs: number; readonly graceMs: number };
  /** Output names counted in the run summary, in order. */
  readonly outputs: readonly string[];
  readonly processorConfig: ProcessorConfig;
  /**
   * A u32 column whose value decides the shard when a source has fewer partitions than there are
   * workers (a file): records are spread by key, keeping per-key order. Per-key state (e.g. a
   * driver's last fix) must be keyed by it.
   */
  readonly shardKey?: string;
  inputLayout(capacity: number): RecordLayout;
  /**
   * Edge kernel: runs on the main thread right after `n` records of one partition were written to
   * a ring slot. Writes each record's watermark (and anything else the shards need) and returns
   * the partition's new stream time.
   */
  prepare(columns: Record<string, ColumnArray>, n: number, streamTime: number, otherMin: number): number;
  /** A merged window result as the output object. */
  renderWindow(key: number, start: number, count: number, sum: number, n: number, min: number, max: number): Output;
  /** A side output (invalid, anomaly, late) at index i of an output batch, carrying the original event. */
  renderSide(out: OutputColumns, i: number, event: unknown): Output;
  /**
   * The event a side output at index i refers to, rebuilt from the fields it carries (for sources
   * that do not keep raw input, like binary frames). `name` maps interned ids back to strings.
   */
  eventFromRecord(out: OutputColumns, i: number, name: (id: number) => string): unknown;
  /** The Kafka message key of an output object (null for none). */
  outputKey(output: Output): string | null;
  /** The output name of a side output kind (OUT_*). */
  sideName(kind: number): string;
  /** Output name of a pipeline-specific record kind (≥ OUT_PIPELINE_BASE), for the counts. */
  recordName?(kind: number): string;
  /**
   * A pipeline-specific record (kind ≥ OUT_PIPELINE_BASE) at index i as its output object;
   * `name(field, id)` gives the string of an interned id of an input field (e.g. "driverId").
   */
  renderRecord?(out: OutputColumns, i: number, name: (field: string, id: number) => string): Output;
  /**
   * Kafka topics of outputs that do not go to `<output-topic>.<name>`, given --output-topic
   * (driver-eta: eta → the output topic, availability → driver-availability-updates).
   */
  outputTopics?(outputTopic: string): Readonly<Record<string, string>>;
  /**
   * State per input partition (`--guarantee exactly-once --instance-id`, several processes of a
   * group): how one partition's state, as its shard processor's snapshot() wrote it, is written to
   * the changelog and read back, possibly by another process. Interned ids belong to the process
   * that made them, so the state leaves with its strings and gets this process's ids on arrival.
   * Absent: the pipeline's state is not per partition (per-region windows over every driver, a
   * table every partition reads), and under exactly-once it runs as one process per group.
   */
  readonly taskState?: TaskStateCodec;
  /**
   * State that outlives the windows at-least-once commits trail (src/coordinator/commit-tracker.ts)
   * and that no changelog keeps at-least-once: what a crash loses, so a restarted run's outputs
   * may differ from a run without it beyond duplicates, and what keeps it (exactly-once, where the
   * pipeline's snapshot holds it). Logged (`alo-state`, warn) when a run on Kafka starts
   * at-least-once. Kafka Streams would restore such state from a changelog under at-least-once
   * too; a DSL topology re-reads its inputs instead (src/dsl/engine-objects.ts, `reread`).
   */
  readonly volatileState?: string;
  /**
   * Keyed state an at-least-once run on Kafka keeps in a compacted changelog topic
   * (src/io/kafka/state-log.ts), as Kafka Streams logs its stores whatever the guarantee: state
   * beyond the windows the commits trail, read from the shards' checkpoints and given back to the
   * shards of a restarted run. Each entry has a version (a later one replaces an earlier one).
   */
  readonly loggedState?: LoggedStateCodec;
  /** At most this many shard workers (a pipeline whose state must see every record: 1). */
  readonly maxWorkers?: number;
  /**
   * Bytes of the byte area of each output ring slot, for OUT_OBJECT records (outputs that are user
   * values, as JSON). @default 0 (none)
   */
  readonly objectBytes?: number;
  /** An OUT_OBJECT record: `text` is its JSON; `code` says which output. Counted under `objectName(code)`. */
  renderObject?(code: number, text: string, out: OutputColumns, i: number): Output;
  objectName?(code: number): string;
  /**
   * Spread records by `shardKey` even when the source has as many partitions as workers (when it
   * has no positions to commit): several input streams joined by key must meet on one shard.
   */
  readonly keyRouted?: boolean;
  /**
   * Partitions read first: the others wait until these have caught up (a joined table is loaded
   * before the streams that look it up, as Kafka Streams bootstraps a global table).
   */
  bootstrapPartition?(p: number): boolean;
  /** Partitions whose every batch goes to every shard (a global table each shard holds whole). */
  broadcastPartition?(p: number): boolean;
  /**
   * The text fields of the input layout in layout order, when the layout holds several schemas side
   * by side (a decoder of `schema` must put its text values where the layout has them).
   */
  readonly textFields?: readonly string[];
  /**
   * The event time by which all state holding records up to `streamTime` has been emitted (their
   * offsets may be committed once every shard's watermark passed it); Infinity: only at the end of
   * input. @default the tumbling `window`'s end + grace
   */
  closeAt?(streamTime: number): number;
  /** False for a partition whose records do not move event time (a table's topic): it never holds the watermark. */
  eventTimePartition?(p: number): boolean;
  /**
   * Records that move between shards (a DSL topology that groups by a new key, src/dsl/repartition.ts).
   * A shard emits each as an OUT_OBJECT of code `codeBase + edge` whose JSON is `{k, v}`, with the
   * hash of its key's JSON in the `d` column; the coordinator writes it into the input ring of shard
   * hash mod W: `_src` = `tagBase + edge`, `_ts`, and its JSON at `_rpo`/`_rpl` in the slot's byte
   * area from `byteBase`. Shards then see a second watermark in the batch header (H_AUX0): the
   * smallest watermark every shard has passed, which no record still on its way can be behind.
   */
  readonly repartition?: {
    readonly codeBase: number; readonly edges: number; readonly tagBase: number; readonly byteBase: (capacity: number) => number; readonly bytes: number;
    /** Some edge is downstream of another (a shard's peer batches then emit through an edge): moved through the coordinator only. */
    readonly chained?: boolean;
  };
}

/**
 * See PipelineDefinition.loggedState. Entries are keyed by interned id (named by their string in
 * the log) and versioned: restoring a newer entry than the committed offsets reflect is safe for
 * the pipeline (its replay from those offsets then behaves as the run it replaces), an older one
 * is not, so a run commits an offset only once a log covering its batch is written.
 */
export interface LoggedStateCodec {
  /** The state's name: its changelog topic is `<group>-<name>-changelog`. */
  readonly name: string;
  /** Bytes of one entry's value in the log. */
  readonly valueBytes: number;
  /** Calls visit(id, version) for each entry of a shard's snapshot words. */
  scan(words: Float64Array, visit: (id: number, version: number) => void): void;
  /** Entry `id` of a shard's snapshot words as valueBytes bytes at `into[at]`. */
  encode(words: Float64Array, id: number, into: Buffer, at: number): void;
  /** The version of an entry's value as encode() wrote it. */
  versionOf(value: Buffer): number;
  /** Shard snapshot words holding these entries only (`values`: valueBytes each, in `ids` order), the shard's other state empty. */
  seed(ids: readonly number[], values: Buffer): Float64Array;
}

/** See PipelineDefinition.taskState. */
export interface TaskStateCodec {
  /** One task's snapshot words as bytes that name strings by their text. */
  encode(words: Float64Array, names: Interner): Buffer;
  /** The bytes encode() made, as snapshot words with this process's ids (new strings interned). */
  decode(bytes: Buffer, names: Interner): Float64Array;
}
