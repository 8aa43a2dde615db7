/**
 * Sources feed the coordinator. A source writes records of one partition straight into a ring
 * slot's columns (including each record's `_off`, its position in the partition); the coordinator
 * decides which partition to ask next, in a fixed order, so bounded runs are deterministic (a
 * source read in arrival order anyway, arrivalOrder, lets it skip a shard whose ring is full).
 */
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";

export interface Source {
  /** Partitions the source has (all of them feed the watermark). */
  readonly partitions: number;
  /**
   * Records that may be unacknowledged at once while `event()` can still answer for them
   * (Infinity when events are rebuilt from their fields). Read before each batch: it may go down
   * (a KafkaSource lowers it once it keeps raw messages), and a wrapper asks its inner source.
   */
  readonly maxInFlight: number;
  /**
   * The order in which partitions' records are read is already their arrival's (Kafka: what the
   * client has fetched when asked), not a fixed one: the coordinator may then read the partitions
   * of other shards while one shard's ring is full, and its rings are deeper by default (bursts of
   * fetched records; defaultRingSlots). Without it the coordinator keeps its fixed
   * round robin and waits for that ring, so that a generator's or a file's outputs (the watermark
   * each batch sees) do not depend on timing.
   */
  readonly arrivalOrder?: boolean;
  /** Writes up to `max` records of partition `p` at index 0 of `columns`; returns how many (0: none now). */
  fill(p: number, columns: Record<string, ColumnArray>, max: number): number;
  /** True when the source will produce nothing more. */
  exhausted(): boolean;
  /** The original event (as received) of the record a side output at index i of `out` refers to. */
  event(out: OutputColumns, i: number): unknown;
  close(): Promise<void>;
  /**
   * Where consumption of partition p stands after the last fill(): the offset to commit once every
   * record filled so far is fully emitted (sources without commits omit it).
   */
  position?(p: number): number;
  /** Commits positions returned by position() whose outputs are all acknowledged. */
  commit?(positions: ReadonlyArray<readonly [partition: number, position: number]>): Promise<void>;
  /** Called by the coordinator once so the source can ask it to drain partitions on revoke. */
  attach?(hooks: SourceHooks): void;
  /**
   * When the oldest record of the last fill() entered the system (e.g. its Kafka timestamp), in
   * epoch ms; latency is then measured from there instead of from the ring.
   */
  enteredAt?(p: number): number;
  /**
   * When each record of the last fill() of p entered the system, as runs in record order (see
   * EntryRuns): copies them to ts/count from index `at` and returns how many, at most `max`;
   * 0 when unknown (latency is then measured from enteredAt() for the whole batch).
   */
  enteredRuns?(p: number, ts: Float64Array, count: Float64Array, at: number, max: number): number;
  /** False for partitions not (or no longer) assigned to this process. */
  assigned?(p: number): boolean;
  /**
   * Resolves when records were queued after the call (so a fill() may find some), when the
   * source closes, or after `timeoutMs`: what the coordinator waits on when every partition came
   * back empty and nothing is in flight, instead of polling every millisecond.
   */
  whenData?(timeoutMs: number): Promise<void>;
  /** The string of an interned id of input field `field` (for outputs that name ids, not events). */
  idName?(field: string, id: number): string;
  /** The source's own state for a run snapshot (exactly-once), e.g. its string table; JSON-serialisable. */
  exportState?(): unknown;
  /** Restores state from exportState() before the first fill(). */
  importState?(state: unknown): void;
  /**
   * The partition number that decides p's shard under partition affinity (default p): several
   * co-partitioned topics side by side (MultiSource) give partition q of each topic the same shard.
   */
  copartition?(p: number): number;
  /**
   * Whether partition p has been read up to where it ended when it was assigned (its end offset
   * then): a table's partition is bootstrapped, as Kafka Streams restores a global store to its end
   * offsets before processing. False while that is not known yet; undefined when the source cannot
   * tell (the coordinator then guesses from an empty read).
   */
  caughtUp?(p: number): boolean | undefined;
}

export interface SourceHooks {
  /** Resolves once every record of these partitions is processed and what can be committed is. */
  drainPartitions(partitions: readonly number[]): Promise<void>;
  /**
   * State per partition (CoordinatorOptions.taskState): loads these newly assigned partitions'
   * state, calling `ready(p)` as each one's is in place; the source reads nothing of a partition
   * before its ready().
   */
  assignPartitions?(partitions: readonly number[], ready: (partition: number) => void): Promise<void>;
  /** Records that could not be decoded (they never enter a ring), for the counts. */
  rejected(partition: number, count: number): void;
}

/** A record the source could not decode at all (it never enters a ring): reported at the edge. */
export type RejectHandler = (partition: number, offset: number, raw: string, reason: string) => void;
