/**
 * What a pipeline runs inside a shard worker. The worker loop (workers/shard.ts) owns the rings;
 * a processor sees typed-array batches and writes to the output ring. Processors are monomorphic
 * per pipeline and allocate nothing per record.
 */
import type { OutputWriter } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";

export interface ShardProcessor {
  /** Processes `n` records of one input batch, all from `partition`. */
  process(columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void;
  /** Emits every window that closes at or before `watermark` (Infinity flushes everything). */
  advance(watermark: number, out: OutputWriter): void;
  /**
   * The processor runs its operators at the batch header's second watermark (H_AUX0, see
   * PipelineDefinition.repartition): the shard loop calls advance() with it before process().
   */
  readonly auxWatermark?: boolean;
  /** Bytes held by the processor's state stores. */
  stateBytes(): number;
  /** Entries in the processor's state stores (e.g. open window-table entries), for metrics. */
  stateEntries?(): number;
  /**
   * Writes the whole state into `into` (f64 words); returns the words written, or -1 when it does
   * not fit (the shard then runs without a restorable checkpoint).
   */
  snapshot(into: Float64Array): number;
  /** Replaces the state with one written by snapshot(). */
  restore(from: Float64Array, words: number): void;
  /**
   * Takes in logged state (PipelineDefinition.loggedState: snapshot words holding logged entries
   * only), keeping the newer version of each entry it has too.
   */
  mergeState?(words: Float64Array): void;
}

/** Structured-cloneable settings a processor is built from (per pipeline); a SharedArrayBuffer is shared, not copied. */
export type ProcessorConfig = Record<string, number | string | boolean | SharedArrayBuffer>;
