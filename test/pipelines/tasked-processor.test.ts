/** TaskedProcessor: one inner processor per partition; its checkpoint words split per partition. */
import { describe, expect, it } from "vitest";
import { splitTasks, TaskedProcessor } from "../../src/pipelines/tasked-processor.js";
import type { ShardProcessor } from "../../src/pipelines/processor.js";
import type { OutputWriter } from "../../src/ring/output.js";
import type { ColumnArray } from "../../src/schema/schema.js";

/** Counts records and remembers the last watermark it was advanced to. */
class Counter implements ShardProcessor {
  records = 0;
  watermark = -Infinity;
  process(_c: Record<string, ColumnArray>, n: number): void { this.records += n; }
  advance(w: number): void { this.watermark = w; }
  stateBytes(): number { return 16; }
  snapshot(into: Float64Array): number {
    if (into.length < 2) return -1;
    into[0] = this.records;
    into[1] = this.watermark;
    return 2;
  }
  restore(from: Float64Array): void {
    this.records = from[0]!;
    this.watermark = from[1]!;
  }
}

const out = {} as OutputWriter;
const cols = {} as Record<string, ColumnArray>;

describe("TaskedProcessor", () => {
  it("keeps each partition's state apart and advances only the batch's partition after a data batch", () => {
    const made: Counter[] = [];
    const t = new TaskedProcessor(() => { const c = new Counter(); made.push(c); return c; });
    t.process(cols, 5, 3, out);
    t.advance(100, out);
    t.process(cols, 2, 7, out);
    t.advance(50, out);
    t.process(cols, 1, 3, out);
    t.advance(120, out);
    expect(made.map((c) => [c.records, c.watermark])).toEqual([[6, 120], [2, 50]]);
    // A watermark batch (no data before it) moves every task.
    t.advance(200, out);
    expect(made.map((c) => c.watermark)).toEqual([200, 200]);
    expect(t.stateBytes()).toBe(32);
  });

  it("writes [T, (partition, W, words)…], splits it back per partition, restores, loads and drops tasks", () => {
    const t = new TaskedProcessor(() => new Counter());
    t.process(cols, 5, 3, out);
    t.process(cols, 2, 7, out);
    const words = new Float64Array(64);
    const n = t.snapshot(words);
    expect(n).toBe(1 + 2 * (2 + 2));
    const tasks = splitTasks(words.subarray(0, n));
    expect([...tasks.keys()]).toEqual([3, 7]);
    expect(Array.from(tasks.get(3)!)).toEqual([5, -Infinity]);
    const r = new TaskedProcessor(() => new Counter());
    r.restore(words, n);
    expect(r.partitions()).toEqual([3, 7]);
    r.drop(3);
    r.load(9, new Float64Array([4, 10]));
    r.load(7, new Float64Array(0)); // no saved state: a fresh task replaces the old one
    const again = new Float64Array(64);
    const m = r.snapshot(again);
    const back = splitTasks(again.subarray(0, m));
    expect([...back].map(([p, w]) => [p, Array.from(w)])).toEqual([[7, [0, -Infinity]], [9, [4, 10]]]);
    // Too small an area: -1 (the shard then runs without a restorable checkpoint).
    expect(r.snapshot(new Float64Array(4))).toBe(-1);
    expect(() => splitTasks(new Float64Array([1, 2, 50]))).toThrow(/runs past/);
  });

  it("with co-partitioned topics, partition q of every topic feeds task q (topic k's partition q is k * copartitions + q)", () => {
    const made: Counter[] = [];
    const t = new TaskedProcessor(() => { const c = new Counter(); made.push(c); return c; }, 4);
    t.process(cols, 5, 1, out); // topic 0, partition 1
    t.advance(100, out);
    t.process(cols, 2, 5, out); // topic 1, partition 1: the same task
    t.advance(90, out);
    t.process(cols, 3, 10, out); // topic 2, partition 2
    t.advance(70, out);
    expect(t.partitions()).toEqual([1, 2]);
    expect(made.map((c) => [c.records, c.watermark])).toEqual([[7, 90], [3, 70]]);
    t.drop(1);
    t.process(cols, 1, 9, out); // topic 2, partition 1: a fresh task 1
    expect(made.length).toBe(3);
    expect(t.taskOf(13)).toBe(1);
  });

  it("inputs every task reads whole (a global table, from sharedFrom on) go to a shared part: built first, no task, moves no task's time, checkpointed as task -1 and restored in place", () => {
    const made: Counter[] = [];
    const t = new TaskedProcessor(() => { const c = new Counter(); made.push(c); return c; }, 2, 4);
    expect(made.length).toBe(1); // the shared part
    const shared = made[0]!;
    t.process(cols, 5, 0, out); // topic 0, partition 0: task 0
    t.advance(100, out);
    t.process(cols, 3, 4, out); // the global topic's partition 0
    t.advance(500, out);
    t.process(cols, 2, 6, out); // the global topic's partition 2
    t.advance(600, out);
    expect(t.taskOf(5)).toBe(-1);
    expect(t.partitions()).toEqual([0]);
    expect([shared.records, made[1]!.records, made[1]!.watermark]).toEqual([5, 5, 100]);
    // The end (a watermark batch after the shared part's batch) moves every task.
    t.advance(Infinity, out);
    expect(made[1]!.watermark).toBe(Infinity);
    const words = new Float64Array(64);
    const n = t.snapshot(words);
    expect([...splitTasks(words.subarray(0, n)).keys()]).toEqual([-1, 0]);
    // A restarted worker: the shared part keeps its object (the tasks' processors hold its stores).
    const again: Counter[] = [];
    const r = new TaskedProcessor(() => { const c = new Counter(); again.push(c); return c; }, 2, 4);
    const first = again[0]!;
    r.restore(words, n);
    expect(first.records).toBe(5);
    expect(r.partitions()).toEqual([0]);
    expect(r.stateBytes()).toBe(32);
    r.drop(0);
    expect(r.partitions()).toEqual([]);
    expect(first.records).toBe(5);
  });
});
