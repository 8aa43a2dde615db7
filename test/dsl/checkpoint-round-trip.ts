/** Test support: an executor's checkpoint restored into a fresh one, checked to lose nothing. */
import { expect } from "vitest";
import type { TopologyExecutor } from "../../src/dsl/executor.js";

/**
 * Snapshots `ex` into `words`, restores the words into `make()`, and checks that the restored
 * executor writes the same checkpoint and reports the same stores (a restore that loses or changes
 * anything fails here). Returns the restored executor and the checkpoint's words.
 */
export function roundTrip(ex: TopologyExecutor, make: () => TopologyExecutor, words: Float64Array): { next: TopologyExecutor; words: number } {
  const n = ex.snapshot(words);
  expect(n, ex.snapshotError).toBeGreaterThan(0);
  const copy = words.slice(0, n);
  const next = make();
  next.restore(copy);
  const again = new Float64Array(n + 16);
  expect(next.snapshot(again)).toBe(n);
  expect(again.subarray(0, n)).toEqual(copy);
  expect(next.stores()).toEqual(ex.stores());
  return { next, words: n };
}
