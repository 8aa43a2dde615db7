/**
 * AlignedStreams (src/sources/aligned-streams.ts) over two in-memory sides that stand for
 * KafkaSources: what they hand on, in what order, and when a side waits for the other. The real
 * thing against the broker: test/kafka/aligned-topics.test.ts.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { PipelineDefinition } from "../../src/pipelines/pipeline.js";
import { rideInputLayout } from "../../src/pipelines/rides/spec.js";
import type { ColumnArray } from "../../src/schema/schema.js";
import { ENTRY_RUNS } from "../../src/metrics/entry-runs.js";
import { AlignedStreams, StreamSource } from "../../src/sources/aligned-streams.js";
import type { KafkaSource } from "../../src/sources/kafka-source.js";

/** One topic: per partition, the ts of its records (offset = index); what has "arrived" so far. */
class FakeSide {
  readonly next: number[];
  readonly arrived: number[];
  /** What fetchState() answers per partition. */
  readonly state: Array<"caught-up" | "behind" | "unknown">;
  done = false;
  constructor(readonly ts: number[][], chunk = Infinity) {
    this.next = ts.map(() => 0);
    this.arrived = ts.map((t) => Math.min(t.length, chunk));
    this.state = ts.map(() => "caught-up");
  }
  get partitions(): number { return this.ts.length; }
  assigned(): boolean { return true; }
  exhausted(): boolean { return this.done; }
  fetchState(q: number): string { return this.state[q]!; }
  position(q: number): number { return this.next[q]!; }
  /** The Kafka timestamp of record `offset` of partition q (as KafkaSource.enteredRuns reports them). */
  kafkaTs(q: number, offset: number): number { return 1_700_000_000_000 + q * 1000 + offset * 7; }
  private readonly lastFill: Array<[number, number]> = [];
  fill(q: number, columns: Record<string, ColumnArray>, max: number): number {
    const from = this.next[q]!;
    const n = Math.min(max, this.arrived[q]! - from);
    for (let i = 0; i < n; i++) {
      (columns["ts"] as Float64Array)[i] = this.ts[q]![from + i]!;
      (columns["_off"] as Float64Array)[i] = from + i;
    }
    this.next[q] = from + n;
    this.lastFill[q] = [from, n];
    return n;
  }
  enteredAt(q: number): number { return this.kafkaTs(q, this.lastFill[q]![0]); }
  /** One run per record while they fit (distinct timestamps), as EntryRuns would give them. */
  enteredRuns(q: number, ts: Float64Array, count: Float64Array, at: number, max: number): number {
    const [from, n] = this.lastFill[q]!;
    if (n > max) return 0;
    for (let i = 0; i < n; i++) { ts[at + i] = this.kafkaTs(q, from + i); count[at + i] = 1; }
    return n;
  }
}

const pipeline = { inputLayout: rideInputLayout } as unknown as PipelineDefinition;

function aligned(a: FakeSide, b: FakeSide, partners: "all" | "copartitioned" = "all"): AlignedStreams {
  return new AlignedStreams([a as unknown as KafkaSource, b as unknown as KafkaSource], pipeline, partners);
}

/** Round-robin over side 0's partitions then side 1's, `max` at a time, as the coordinator feeds: [side, ts] in hand-out order. */
function drain(s: AlignedStreams, sides: FakeSide[], max: number, turns = 10_000): Array<[number, number]> {
  const cols = rideInputLayout(4096).columns.reduce<Record<string, ColumnArray>>((o, c) => ({ ...o, [c.name]: new Float64Array(4096) }), {});
  const out: Array<[number, number]> = [];
  for (let turn = 0; turn < turns; turn++) {
    let any = false;
    for (let side = 0; side < 2; side++) {
      for (let q = 0; q < sides[side]!.partitions; q++) {
        const n = s.take(side, q, cols, max, undefined);
        for (let i = 0; i < n; i++) out.push([side, (cols["ts"] as Float64Array)[i]!]);
        if (n > 0) any = true;
      }
    }
    if (!any) break;
  }
  return out;
}

describe("AlignedStreams", () => {
  afterEach(() => vi.useRealTimers());

  it("hands two one-partition topics on merged by ts (side 0 first on equal ts), whatever the batch size", () => {
    const a = [1, 2, 2, 5, 8, 9, 9, 13, 20, 21];
    const b = [0, 2, 3, 9, 10, 30];
    const expected: Array<[number, number]> = [[1, 0], [0, 1], [0, 2], [0, 2], [1, 2], [1, 3], [0, 5], [0, 8], [0, 9], [0, 9], [1, 9], [1, 10], [0, 13], [0, 20], [0, 21], [1, 30]];
    for (const max of [1, 2, 3, 7, 100]) {
      const sides = [new FakeSide([a]), new FakeSide([b])];
      sides[0]!.done = sides[1]!.done = true; // nothing more will come: the end does not wait
      expect(drain(aligned(sides[0]!, sides[1]!), sides, max), `max ${max}`).toEqual(expected);
    }
  });

  it("hands each take's records' own entry times on (latency per record), not the staged read's oldest", () => {
    const a = new FakeSide([[1, 2, 3, 4, 5, 6, 7, 8], [1.5, 2.5, 3.5]]);
    const b = new FakeSide([[2, 4, 6, 9], [3, 5]]);
    const s = aligned(a, b);
    const streams = [new StreamSource(s, 0), new StreamSource(s, 1)];
    const sides = [a, b];
    const cols = rideInputLayout(4096).columns.reduce<Record<string, ColumnArray>>((o, c) => ({ ...o, [c.name]: new Float64Array(4096) }), {});
    const ts = new Float64Array(ENTRY_RUNS);
    const count = new Float64Array(ENTRY_RUNS);
    let records = 0;
    for (let turn = 0; turn < 50; turn++) {
      for (let side = 0; side < 2; side++) {
        for (let q = 0; q < 2; q++) {
          const n = streams[side]!.fill(q, cols, 2);
          if (n === 0) continue;
          records += n;
          const want = Array.from({ length: n }, (_, i) => sides[side]!.kafkaTs(q, (cols["_off"] as Float64Array)[i]!));
          const k = streams[side]!.enteredRuns!(q, ts, count, 0, ENTRY_RUNS);
          const got: number[] = [];
          for (let r = 0; r < k; r++) for (let c = 0; c < count[r]!; c++) got.push(ts[r]!);
          expect(got).toEqual(want);
          expect(streams[side]!.enteredAt!(q)).toBe(Math.min(...want));
        }
      }
    }
    expect(records).toBe(8 + 3 + 4 + 2);
  });

  it("'all': a side waits for the smallest head of every partition of the other; 'copartitioned': only for its own partition's", () => {
    const sides = () => [new FakeSide([[5, 6], [7]]), new FakeSide([[1, 10], [100]])];
    let s = sides();
    s.forEach((x) => { x.done = true; });
    let got = drain(aligned(s[0]!, s[1]!, "all"), s, 10);
    expect(got).toEqual([[1, 1], [0, 5], [0, 6], [0, 7], [1, 10], [1, 100]]);
    s = sides();
    s.forEach((x) => { x.done = true; });
    got = drain(aligned(s[0]!, s[1]!, "copartitioned"), s, 10);
    // Side 0's partition 1 (ts 7) only waits for side 1's partition 1 (ts 100): it goes first, and
    // side 1's partition 1 then has no partner left.
    expect(got).toEqual([[0, 7], [1, 1], [1, 100], [0, 5], [0, 6], [1, 10]]);
  });

  it("a record without a ts at the other side's head holds a side until it is handed on", () => {
    const sides = [new FakeSide([[1, 2, 3]]), new FakeSide([[NaN, 2.5]])];
    sides.forEach((x) => { x.done = true; });
    const got = drain(aligned(sides[0]!, sides[1]!), sides, 10);
    expect(got.map(([side, t]) => `${side}:${t}`)).toEqual(["1:NaN", "0:1", "0:2", "1:2.5", "0:3"]);
  });

  it("does not wait for a partner that is caught up; waits, bounded, for one with records on their way", () => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
    // Side 1 has delivered nothing yet; its first records are on their way.
    const a = new FakeSide([[1, 2, 3]]);
    const b = new FakeSide([[0.5, 4]], 0);
    const s = aligned(a, b);
    const cols = rideInputLayout(16).columns.reduce<Record<string, ColumnArray>>((o, c) => ({ ...o, [c.name]: new Float64Array(16) }), {});
    b.state[0] = "caught-up";
    // Caught up (nothing pending): side 0 goes on at once.
    expect(s.take(0, 0, cols, 1, undefined)).toBe(1);
    b.state[0] = "behind";
    expect(s.take(0, 0, cols, 10, undefined)).toBe(0);
    vi.setSystemTime(1_000_000 + 2_900);
    expect(s.take(0, 0, cols, 10, undefined)).toBe(0); // before its first records: up to 3 s
    // They arrive within the wait: the merge goes on by ts.
    b.arrived[0] = 2;
    expect(s.take(0, 0, cols, 10, undefined)).toBe(0); // side 1's 0.5 first
    expect(s.take(1, 0, cols, 10, undefined)).toBe(1);
    expect(s.take(0, 0, cols, 10, undefined)).toBe(2); // 2 and 3 ≤ side 1's next, 4
    // Side 1 has delivered before: a gap waits up to 2 s, then side 0 goes on.
    const a2 = new FakeSide([[5, 6]]);
    const b2 = new FakeSide([[1, 9]], 1);
    const s2 = aligned(a2, b2);
    expect(s2.take(1, 0, cols, 10, undefined)).toBe(1);
    b2.state[0] = "behind";
    expect(s2.take(0, 0, cols, 10, undefined)).toBe(0);
    vi.setSystemTime(1_000_000 + 2_900 + 1_999);
    expect(s2.take(0, 0, cols, 10, undefined)).toBe(0);
    vi.setSystemTime(1_000_000 + 2_900 + 2_000);
    expect(s2.take(0, 0, cols, 10, undefined)).toBe(2);
  });

  it("waits up to 30 s for a partner whose consumer has had no fetch response for it yet, then goes on", () => {
    vi.useFakeTimers();
    vi.setSystemTime(2_000_000);
    const a = new FakeSide([[1, 2]]);
    const b = new FakeSide([[0.5]], 0);
    b.state[0] = "unknown";
    const s = aligned(a, b);
    const cols = rideInputLayout(16).columns.reduce<Record<string, ColumnArray>>((o, c) => ({ ...o, [c.name]: new Float64Array(16) }), {});
    expect(s.take(0, 0, cols, 10, undefined)).toBe(0);
    vi.setSystemTime(2_000_000 + 29_999);
    expect(s.take(0, 0, cols, 10, undefined)).toBe(0); // longer than the 3 s for a partner known to be behind
    vi.setSystemTime(2_000_000 + 30_000);
    expect(s.take(0, 0, cols, 10, undefined)).toBe(2);
  });
});
