// Shared benchmark types. Stub created by the kernels work so that bench/kernels/*.bench.ts compile;
// the lead extends this file (runner, table printing, machine record).

/** One measured row of a benchmark group. `eventsPerSec` is events (not calls) per second. */
export interface BenchRow {
  group: string;
  name: string;
  eventsPerSec: number;
  baseline: boolean;
  note?: string;
}
