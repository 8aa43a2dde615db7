import { describe, expect, it } from "vitest";
import { ENTRY_RUNS, EntryRuns } from "../../src/metrics/entry-runs.js";

/** Each record's time as the runs give it back, in the order the records were added. */
function expand(r: EntryRuns): number[] {
  const out: number[] = [];
  for (let i = 0; i < r.length; i++) for (let k = 0; k < r.count[i]!; k++) out.push(r.ts[i]!);
  return out;
}

describe("EntryRuns", () => {
  it("keeps one run per distinct millisecond, exactly, while they fit", () => {
    const r = new EntryRuns();
    r.add(1000, 3);
    r.add(1000, 2);
    r.add(1001, 1);
    r.add(1005, 4);
    expect(r.length).toBe(3);
    expect([...r.ts.subarray(0, 3)]).toEqual([1000, 1001, 1005]);
    expect([...r.count.subarray(0, 3)]).toEqual([5, 1, 4]);
    for (let t = 0; t < ENTRY_RUNS - 3; t++) r.add(2000 + t, 1);
    expect(r.length).toBe(ENTRY_RUNS);
    r.reset();
    expect(r.length).toBe(0);
    r.add(7, 1);
    expect([r.length, r.ts[0], r.count[0]]).toEqual([1, 7, 1]);
    r.add(5, 2); // older than the last run (another producer's clock): a run of its own, exact
    expect([r.length, r.ts[1], r.count[1]]).toEqual([2, 5, 2]);
  });

  it("merges beyond ENTRY_RUNS times into wider runs that never make a record younger than it is", () => {
    // A batch spanning 1 000 distinct milliseconds, some out of order, several records each.
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const r = new EntryRuns();
    const real: number[] = [];
    let t = 1_700_000_000_000;
    for (let i = 0; i < 1000; i++) {
      t += 1;
      const ts = rnd() < 0.1 ? t - Math.floor(rnd() * 5) : t;
      const n = 1 + Math.floor(rnd() * 3);
      r.add(ts, n);
      for (let k = 0; k < n; k++) real.push(ts);
    }
    expect(r.length).toBeLessThanOrEqual(ENTRY_RUNS);
    const given = expand(r);
    expect(given.length).toBe(real.length);
    // Upper bound on the latency: a record's run time is at or before its own time...
    for (let i = 0; i < real.length; i++) expect(given[i]).toBeLessThanOrEqual(real[i]!);
    // ...and not far: 1 000 ms in 32 runs of width 64 at most (plus the out-of-order step back).
    for (let i = 0; i < real.length; i++) expect(real[i]! - given[i]!).toBeLessThan(64 + 5);
  });

  it("copies its runs out at an index, or none when they do not fit", () => {
    const r = new EntryRuns();
    r.add(10, 1);
    r.add(20, 2);
    const ts = new Float64Array(8).fill(-1);
    const count = new Float64Array(8).fill(-1);
    expect(r.copyTo(ts, count, 4, 4)).toBe(2);
    expect([...ts]).toEqual([-1, -1, -1, -1, 10, 20, -1, -1]);
    expect([...count]).toEqual([-1, -1, -1, -1, 1, 2, -1, -1]);
    expect(r.copyTo(ts, count, 0, 1)).toBe(0);
  });
});
