/**
 * LatencyHistogram's quantiles, over the whole run and over what was recorded since a copy of its
 * counts; RecentQuantiles, the dashboard's sliding window over them.
 */
import { describe, expect, it } from "vitest";
import { LatencyHistogram, RecentQuantiles } from "../../src/metrics/histogram.js";

/** Within the histogram's 2.3 % bucket width (a quantile is its bucket's upper bound). */
const near = (got: number | null, want: number) => {
  expect(got).not.toBeNull();
  expect(got!).toBeGreaterThanOrEqual(want * 0.999);
  expect(got!).toBeLessThanOrEqual(want * 1.024);
};

describe("latency histogram", () => {
  it("weighted records: quantiles are the upper bounds of their buckets, at most the max", () => {
    const h = new LatencyHistogram();
    expect(h.quantile(0.99)).toBe(0);
    h.record(2, 98);
    h.record(40, 2);
    near(h.quantile(0.5), 2);
    near(h.quantile(0.98), 2);
    expect(h.quantile(0.99)).toBe(40); // the bucket's bound is above the max: the max
    h.record(-1);
    h.record(NaN);
    expect(h.total).toBe(100);
  });

  it("shareAtMost: the weight in buckets up to a bound, over all", () => {
    const h = new LatencyHistogram();
    expect(h.shareAtMost(25)).toBeNaN();
    h.record(1, 3);
    h.record(100);
    expect(h.shareAtMost(25)).toBe(0.75);
    expect(h.shareAtMost(0.5)).toBe(0);
    expect(h.shareAtMost(1e6)).toBe(1);
  });

  it("quantileSince counts only what came after the copy", () => {
    const h = new LatencyHistogram();
    h.record(500, 1000); // a slow start
    const before = h.copyCounts();
    expect(h.quantileSince(before, 0.5)).toBeNaN(); // nothing since
    h.record(3, 990);
    h.record(20, 10);
    near(h.quantileSince(before, 0.5), 3);
    near(h.quantileSince(before, 0.99), 3);
    near(h.quantileSince(before, 0.995), 20);
    expect(h.quantile(0.9)).toBeGreaterThan(400); // the whole run still sees the slow start
    const into = new Float64Array(before.length);
    expect(h.copyCounts(into)).toBe(into);
    expect(h.quantileSince(into, 0.5)).toBeNaN();
  });

  it("RecentQuantiles: each read covers the intervals of its last `ticks` reads, then forgets them", () => {
    const h = new LatencyHistogram();
    const r = new RecentQuantiles(3);
    expect(r.tick(h)).toEqual({ p50: null, p99: null }); // read 1: nothing yet
    h.record(100, 10);
    near(r.tick(h).p99, 100); // read 2
    h.record(1, 10);
    near(r.tick(h).p99, 100); // read 3
    h.record(1, 10);
    near(r.tick(h).p99, 100); // read 4: the 3 intervals before it hold the slow records
    h.record(1, 10);
    near(r.tick(h).p99, 1); // read 5: out of the window
    near(h.quantile(0.99), 100); // the whole run still holds them
    near(r.tick(h).p50, 1); // read 6: nothing new, the last intervals' records still in
    near(r.tick(h).p50, 1); // read 7
    expect(r.tick(h)).toEqual({ p50: null, p99: null }); // read 8: nothing in its 3 intervals
  });

  it("rejects a window of no ticks", () => {
    expect(() => new RecentQuantiles(0)).toThrow(RangeError);
  });
});
