/**
 * The batch plan's window table closes windows in order of window start, then first insertion
 * (the record-at-a-time store's order, in which the engine emits them): collect() gives the slots
 * in that order, whether one start closes (placed by insertion number) or several (sorted).
 */
import { describe, expect, it } from "vitest";
import { BatchWindowTable } from "../../src/dsl/batch-plan.js";
import { mulberry32 } from "../support/random.js";

/** The (start, key) of the entries collect(maxStart) gives, in its order; removes them. */
function closed(t: BatchWindowTable, maxStart: number): [number, number][] {
  const m = t.collect(maxStart);
  const out: [number, number][] = [];
  for (let j = 0; j < m; j++) {
    const b = t.closingSlots[j]! * t.w;
    out.push([t.rows[b + 1]!, t.rows[b]!]);
  }
  t.remove(m);
  return out;
}

describe("BatchWindowTable.collect", () => {
  it("orders one closing start by first insertion, and several starts by start then insertion", () => {
    const next = mulberry32(7);
    const t = new BatchWindowTable(1_000_000, "w");
    // Keys inserted in a random order (their hash slots unrelated to it), into windows 0 and 60 000
    // interleaved, each key added again later (its first insertion counts).
    const order: [number, number][] = [];
    const seen = new Set<string>();
    for (let i = 0; i < 3_000; i++) {
      const key = next() % 1_500;
      const start = next() % 3 === 0 ? 60_000 : 0;
      t.add(key, start, 1, start + 1);
      if (!seen.has(`${start}/${key}`)) {
        seen.add(`${start}/${key}`);
        order.push([start, key]);
      }
    }
    const first = order.filter(([s]) => s === 0);
    expect(first.length).toBeGreaterThan(500);
    expect(closed(t, 0)).toEqual(first);
    // Several starts at once (0 is gone): 60 000 then 120 000, each by first insertion.
    for (let k = 0; k < 200; k++) t.add(1_000_000 + k, 120_000, 1, 120_001);
    const rest = [...order.filter(([s]) => s === 60_000), ...Array.from({ length: 200 }, (_, k) => [120_000, 1_000_000 + k] as [number, number])];
    expect(closed(t, 120_000)).toEqual(rest);
    expect(t.size).toBe(0);
  });

  it("orders one start whose insertion numbers are far apart (sorted, not placed)", () => {
    const t = new BatchWindowTable(1_000_000, "w");
    t.add(5, 0, 1, 1);
    for (let k = 0; k < 1_000; k++) t.add(100 + k, 60_000, 1, 60_001); // numbers in between, another window
    t.add(3, 0, 1, 2);
    t.add(9, 0, 1, 3);
    expect(closed(t, 0)).toEqual([[0, 5], [0, 3], [0, 9]]);
  });
});

describe("BatchWindowTable rows", () => {
  it("keep 7 words an entry without min and max (a count, sum or mean), the same count, sum, n, latest time and order as 9", () => {
    const narrow = new BatchWindowTable(1_000_000, "w", 1024, false);
    const wide = new BatchWindowTable(1_000_000, "w");
    expect([narrow.w, narrow.oMaxTs, narrow.oSeq, wide.w, wide.oMaxTs, wide.oSeq]).toEqual([7, 5, 6, 9, 7, 8]);
    const next = mulberry32(3);
    for (let i = 0; i < 2_000; i++) {
      const key = next() % 300;
      const start = (next() % 3) * 60_000;
      const x = next() % 7 === 0 ? NaN : (next() % 1_000) / 7;
      const t = start + (next() % 60_000);
      narrow.add(key, start, x, t);
      wide.add(key, start, x, t);
    }
    expect(narrow.size).toBe(wide.size);
    const a7 = new Float64Array(7 * narrow.size);
    const a9 = new Float64Array(9 * wide.size);
    expect(narrow.exportTo(a7, 0)).toBe(7 * narrow.size);
    expect(wide.exportTo(a9, 0)).toBe(9 * wide.size);
    expect(narrow.bytes).toBeLessThan(wide.bytes);
    // Entry by entry (the same hash, the same slots): key, start, count, sum, n, then maxTs and seq.
    for (let e = 0; e < narrow.size; e++) {
      const n7 = Array.from(a7.subarray(7 * e, 7 * e + 7));
      const w9 = Array.from(a9.subarray(9 * e, 9 * e + 9));
      expect(n7).toEqual([...w9.slice(0, 5), w9[7], w9[8]]);
    }
    // Restored from its checkpoint, a narrow table closes as the wide one.
    const back = new BatchWindowTable(1_000_000, "w", 1024, false);
    back.importFrom(a7, 0, narrow.size, narrow.nextSeq);
    expect(closed(back, 60_000)).toEqual(closed(wide, 60_000));
  });
});
