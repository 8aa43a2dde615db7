/**
 * Interleaved measurement for comparing kernels on a machine shared with other work: the cases
 * of a group take turns in short slices (round 1: A, B, C; round 2: A, B, C; …), and each case's
 * figure is the median of its per-slice rates. A burst of contention then hits every case alike
 * instead of whichever one tinybench happened to be running, so the ratios within a group hold
 * even when the absolute figures drift. Warm-up: every case runs alone first.
 *
 *   rounds ──► [A slice][B slice][C slice] [A slice][B slice][C slice] … ──► median per case
 */
import { performance } from "node:perf_hooks";

export interface InterleavedCase {
  name: string;
  /** One call: one batch. */
  fn: () => void;
  /** Called before each call, outside the timing (e.g. rewinding replayed data). */
  before?: () => void;
  /** Units (events, or bytes for a copy) one call processes. */
  unitsPerCall: number;
}

export interface InterleavedResult {
  name: string;
  /** Median over the rounds of units per second. */
  perSec: number;
  min: number;
  max: number;
  rounds: number;
  calls: number;
}

export interface InterleaveOptions {
  rounds: number;
  sliceMs: number;
  warmupMs: number;
}

export function interleaveOptions(quick: boolean): InterleaveOptions {
  return quick ? { rounds: 9, sliceMs: 15, warmupMs: 100 } : { rounds: 41, sliceMs: 40, warmupMs: 500 };
}

function slice(c: InterleavedCase, ms: number): { seconds: number; calls: number } {
  let spent = 0;
  let calls = 0;
  while (spent < ms) {
    c.before?.();
    const t0 = performance.now();
    c.fn();
    spent += performance.now() - t0;
    calls++;
  }
  return { seconds: spent / 1000, calls };
}

/** Runs the cases interleaved (see the module comment); results in the cases' order. */
export function measureInterleaved(cases: readonly InterleavedCase[], opts: InterleaveOptions): InterleavedResult[] {
  for (const c of cases) slice(c, opts.warmupMs);
  const rates = cases.map(() => [] as number[]);
  const calls = cases.map(() => 0);
  for (let r = 0; r < opts.rounds; r++) {
    // Alternate the order each round so no case always follows the same neighbour.
    for (let k = 0; k < cases.length; k++) {
      const i = r % 2 === 0 ? k : cases.length - 1 - k;
      const s = slice(cases[i]!, opts.sliceMs);
      rates[i]!.push((s.calls * cases[i]!.unitsPerCall) / s.seconds);
      calls[i]! += s.calls;
    }
  }
  return cases.map((c, i) => {
    const sorted = rates[i]!.sort((a, b) => a - b);
    return {
      name: c.name, perSec: sorted[sorted.length >> 1]!, min: sorted[0]!, max: sorted[sorted.length - 1]!,
      rounds: sorted.length, calls: calls[i]!,
    };
  });
}
