/**
 * The Kafka bench's steady-state latency (bench/io/kafka.bench.ts windowLatency): quantiles of
 * the records acknowledged between two scrapes of a cumulative Prometheus histogram.
 */
import { describe, expect, it } from "vitest";
import { windowLatency } from "../../bench/io/kafka.bench.js";

const at = (pairs: Array<[number, number]>) => new Map(pairs);

describe("steady-state latency from two histogram scrapes", () => {
  it("counts only what was recorded between the scrapes, interpolating within buckets", () => {
    // Before: 1000 slow records (the warm-up), all above 0.1 s.
    const before = at([[0.01, 0], [0.025, 0], [0.05, 0], [0.1, 0], [0.25, 1000], [Infinity, 1000]]);
    // After: + 9900 records in (0, 10 ms], + 100 in (25, 50 ms].
    const after = at([[0.01, 9900], [0.025, 9900], [0.05, 10_000], [0.1, 10_000], [0.25, 11_000], [Infinity, 11_000]]);
    const w = windowLatency(before, after);
    expect(w.records).toBe(10_000);
    expect(w.within25).toBeCloseTo(0.99, 10);
    expect(w.p50).toBeCloseTo((5000 / 9900) * 10, 6); // rank 5000 of 9900 in (0, 10 ms]
    expect(w.p99).toBeCloseTo(10, 6); // rank 9900: the top of the first bucket
    // Without the subtraction the warm-up's slow records would set the p99.
    expect(windowLatency(new Map(), after).p99).toBeGreaterThan(100);
  });

  it("says 'at least the last bound' past it, and nothing of an empty window", () => {
    const w = windowLatency(at([[0.5, 0], [Infinity, 0]]), at([[0.5, 10], [Infinity, 1000]]));
    expect(w.p99).toBe(500);
    expect(w.within25).toBeNaN(); // no 0.025 bound in this histogram
    expect(windowLatency(at([[0.025, 5], [Infinity, 5]]), at([[0.025, 5], [Infinity, 5]])).records).toBe(0);
  });
});
