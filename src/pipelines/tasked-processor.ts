/**
 * State per input partition (a "task", as Kafka Streams calls the unit of state that moves with a
 * partition): one inner processor per partition a shard has seen, so that a partition's state can
 * be written out, dropped and loaded on its own when the partition moves to another process
 * (exactly-once runs of several processes per group; src/io/kafka/transactions.ts task mode).
 *
 * Watermarks are per task: after a data batch of partition p, advance() moves p's task only (the
 * batch carries p's own stream time, as Kafka Streams' stream time per task); a watermark batch
 * (idle punctuation, wall-clock close, the end) moves every task.
 *
 * A topology reading several co-partitioned topics (a join, a table) keeps one task per
 * co-partition index: partition q of every topic (the combined source numbers topic k's partition
 * q as k * copartitions + q) feeds task q, so the records a join pairs meet in one task, and the
 * task moves with all its partitions (the range assignor gives partition q of each topic to one
 * member). Task ids are those indices; load() and drop() take them.
 *
 * Inputs every task reads whole (a GlobalKTable, broadcast to every shard) come after the
 * co-partitioned ones (`sharedFrom`: their first partition): their batches go to one more inner
 * processor, the shard's shared part, built first, which owns those stores (the tasks' processors
 * look them up: engine-shard.ts, ExecutorOptions.globalTables). It is no task: it never moves, is
 * never dropped, and its state is not a task's (the worker's checkpoint carries it as task -1, for a
 * restarted worker thread; a changelog commit writes tasks only, and a process that starts reads
 * the global topics again from their beginning).
 *
 * Checkpoint words: [T] then per task [task id, W, W words of the inner processor's snapshot].
 */
import type { OutputWriter } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import type { ShardProcessor } from "./processor.js";

export class TaskedProcessor implements ShardProcessor {
  private readonly tasks = new Map<number, ShardProcessor>();
  /** Task of the data batch just processed (it alone takes the batch's watermark), else -1; -2: the shared part's (none takes it). */
  private current = -1;
  /** The shared part (inputs every task reads whole), when there are such inputs. */
  private readonly shared: ShardProcessor | undefined;

  /**
   * @param copartitions partitions of each co-partitioned input topic (0: one topic, task id =
   *   partition)
   * @param sharedFrom the first partition of the inputs every task reads whole (none: undefined)
   */
  constructor(private readonly make: () => ShardProcessor, private readonly copartitions = 0, private readonly sharedFrom?: number) {
    if (sharedFrom !== undefined) this.shared = make();
  }

  /** The task a partition's records go to (SHARED: the shared part's). */
  taskOf(p: number): number {
    if (this.sharedFrom !== undefined && p >= this.sharedFrom) return SHARED;
    return this.copartitions > 0 ? p % this.copartitions : p;
  }

  private task(p: number): ShardProcessor {
    let t = this.tasks.get(p);
    if (t === undefined) {
      t = this.make();
      this.tasks.set(p, t);
    }
    return t;
  }

  process(columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void {
    const t = this.taskOf(partition);
    this.current = t === SHARED ? -2 : t;
    (t === SHARED ? this.shared! : this.task(t)).process(columns, n, partition, out);
  }

  advance(watermark: number, out: OutputWriter): void {
    const p = this.current;
    this.current = -1;
    if (p === -2) return; // a global table's batch moves no task's time
    if (p >= 0) {
      this.tasks.get(p)?.advance(watermark, out);
      return;
    }
    for (const t of this.tasks.values()) t.advance(watermark, out);
  }

  stateBytes(): number {
    let b = this.shared?.stateBytes() ?? 0;
    for (const t of this.tasks.values()) b += t.stateBytes();
    return b;
  }

  stateEntries(): number {
    let e = this.shared?.stateEntries?.() ?? 0;
    for (const t of this.tasks.values()) e += t.stateEntries?.() ?? 0;
    return e;
  }

  snapshot(into: Float64Array): number {
    if (into.length < 1) return -1;
    into[0] = this.tasks.size + (this.shared ? 1 : 0);
    let at = 1;
    const all: Iterable<[number, ShardProcessor]> = this.shared ? [[SHARED, this.shared], ...this.tasks] : this.tasks;
    for (const [p, t] of all) {
      if (at + 2 > into.length) return -1;
      const w = t.snapshot(into.subarray(at + 2));
      if (w < 0) return -1;
      into[at] = p;
      into[at + 1] = w;
      at += 2 + w;
    }
    return at;
  }

  restore(from: Float64Array, words: number): void {
    this.tasks.clear();
    for (const [p, state] of splitTasks(from.subarray(0, words))) this.load(p, state);
  }

  /** Replaces task p's state with `state` (a task's words as snapshot() wrote them; empty: fresh). */
  load(p: number, state: Float64Array): void {
    if (p === SHARED) {
      // In place: the tasks' processors hold its stores.
      if (state.length > 0) this.shared?.restore(state, state.length);
      return;
    }
    const t = this.make();
    if (state.length > 0) t.restore(state, state.length);
    this.tasks.set(p, t);
  }

  /** Forgets task p's state (its partitions moved to another process). */
  drop(p: number): void {
    this.tasks.delete(p);
  }

  /** Tasks with state here. */
  partitions(): number[] {
    return [...this.tasks.keys()];
  }
}

/** The shared part's id in checkpoint words and taskOf() (the inputs every task reads whole). */
export const SHARED = -1;

/** A processor config's `taskedShared` setting: the first partition of the inputs every task reads whole. */
export function taskedSharedFrom(config: Record<string, unknown>): number | undefined {
  const s = config["taskedShared"];
  return typeof s === "number" ? s : undefined;
}

/**
 * A processor config's `tasked` setting: undefined without state per partition; else the
 * TaskedProcessor's `copartitions` (`true`: one input topic, 0).
 */
export function taskedConfig(config: Record<string, unknown>): number | undefined {
  const t = config["tasked"];
  return t === true ? 0 : typeof t === "number" ? t : undefined;
}

/** The tasks of a TaskedProcessor's checkpoint words: task id → its state words (views, not copies). */
export function splitTasks(words: Float64Array): Map<number, Float64Array> {
  const out = new Map<number, Float64Array>();
  if (words.length === 0) return out;
  const T = words[0]!;
  let at = 1;
  for (let i = 0; i < T; i++) {
    const p = words[at]!;
    const w = words[at + 1]!;
    if (!(w >= 0) || at + 2 + w > words.length) throw new Error(`task state of partition ${p} runs past the checkpoint (${words.length} words)`);
    out.set(p, words.subarray(at + 2, at + 2 + w));
    at += 2 + w;
  }
  return out;
}
