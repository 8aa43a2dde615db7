/**
 * End-to-end bench cases on the engine, run as bench/dsl/*.bench.ts do: every case one after the
 * other, the whole sequence `rounds` times, so that each row's figure is a median of runs spread
 * over the same time; with the spread, and the CPU time of the whole process per event (main
 * thread and workers, startup included), which other processes distort less than the rate.
 */
import type { RunSummary } from "../../src/coordinator/coordinator.js";
import type { BenchRow } from "../harness.js";

export interface EngineCase {
  name: string;
  baseline: boolean;
  run: () => Promise<RunSummary>;
}

/** The rows of `cases`; `describe` adds to each row's note from the case's last summary. */
export async function runEngineCases(group: string, cases: readonly EngineCase[], events: number, rounds: number,
  describe: (summary: RunSummary) => string): Promise<BenchRow[]> {
  const rates: number[][] = cases.map(() => []);
  const cpu: number[][] = cases.map(() => []);
  const notes: string[] = cases.map(() => "");
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of cases.entries()) {
      const before = process.cpuUsage();
      const summary = await c.run();
      const used = process.cpuUsage(before);
      rates[i]!.push(summary.eventsPerSec);
      cpu[i]!.push(((used.user + used.system) * 1000) / events);
      notes[i] = describe(summary);
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  return cases.map((c, i) => {
    const sorted = [...rates[i]!].sort((x, y) => x - y);
    const spread = rounds > 1 ? `median of ${rounds} runs (${(sorted[0]! / 1e6).toFixed(2)}–${(sorted[sorted.length - 1]! / 1e6).toFixed(2)} M/s)` : "one run";
    return {
      group, name: c.name, baseline: c.baseline, eventsPerSec: median(rates[i]!),
      note: `${events} events, ${spread}, CPU ${median(cpu[i]!).toFixed(0)} ns/event (median)${notes[i]}`,
    };
  });
}
