/**
 * driver-tracking, the whole job, hand-written against written in the DSL (issue 4 item 10):
 * end to end on the engine, 1 worker, Coordinator + GeneratorSource (seed 42) + NullSink.
 *
 *   hand-written, native kernels   src/pipelines/driver-tracking (the default: one native call per batch)
 *   hand-written, JS loop          the same with config kernels: "js"
 *   DSL job, batch plan            bench/dsl/driver-tracking-job-topology.ts (string driver ids, as the
 *                                  hand-written job reads them): Fields.checkLatLon,
 *                                  processValues(Stores.perKey, Fields.speedLimit) for the anomaly check, groupBy
 *                                  Fields.geohashCode, mean speed + count, late (batch-plan.ts)
 *   DSL job, user function         the same with the anomaly check written as a user function
 *                                  (driver-tracking-job-function-topology.ts), batch plan
 *   DSL job, record at a time      the built-in topology on the executor per record (`batch: false`)
 *   DSL without the anomaly step   bench/dsl/driver-tracking-topology.ts (the figure before), batch plan
 *
 * The cases run one after the other, the whole sequence `rounds` times; each row is the median.
 * The note gives the outputs, so that the jobs are seen to do the same work (anomalies, late, invalid).
 *
 *   node dist/bench/dsl/driver-tracking-job.bench.js [--quick]
 */
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Coordinator, type RunSummary } from "../../src/coordinator/coordinator.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { NullSink } from "../../src/sinks/sink.js";
import { DriverGenerator } from "../../src/sources/driver-generator.js";
import { GeneratorSource } from "../../src/sources/generator-source.js";
import { runTopology } from "../../src/dsl/engine.js";
import type { SharedInterner } from "../../src/dsl/shared-strings.js";
import { formatTable, machineLine, machine, type BenchRow } from "../harness.js";

export const groups = ["driver-tracking: hand-written vs the DSL job (end to end, 1 worker)"] as const;

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const group = groups[0];
  const events = opts.quick ? 2_000_000 : 10_000_000;
  const rounds = opts.quick ? 1 : 3;
  const here = dirname(fileURLToPath(import.meta.url));
  const source = () => new GeneratorSource(new DriverGenerator({ seed: 42 }), events);
  // The DSL job reads driverId as a string field (id 0: no driver, the engine's invalid output, as in
  // the hand-written job): the generator's ids 1..drivers are interned first, in order, so that the
  // shared string table gives each id its driver's name.
  const namedSource = (_decoder: unknown, interner: SharedInterner) => {
    const g = new DriverGenerator({ seed: 42 });
    for (let id = 1; id <= g.drivers; id++) {
      if (interner.intern(g.driverName(id)) !== id) throw new Error("the shared string table was not empty");
    }
    return new GeneratorSource(g, events);
  };
  const cases: { name: string; baseline: boolean; run: () => Promise<RunSummary> }[] = [
    { name: "hand-written driver-tracking, native kernels", baseline: true,
      run: () => new Coordinator({ pipeline: driverTracking, source: source(), sink: new NullSink(), workers: 1 }).run() },
    { name: "hand-written driver-tracking, JS loop", baseline: false,
      run: () => new Coordinator({ pipeline: { ...driverTracking, processorConfig: { kernels: "js" } }, source: source(), sink: new NullSink(), workers: 1 }).run() },
    { name: "DSL driver-tracking job (validate, processValues anomaly, late, windows), batch plan", baseline: false,
      run: () => runTopology(join(here, "driver-tracking-job-topology.js"), { source: namedSource, workers: 1 }) },
    { name: "DSL driver-tracking job, anomaly check as a user function (speedCheck), batch plan", baseline: false,
      run: () => runTopology(join(here, "driver-tracking-job-function-topology.js"), { source: namedSource, workers: 1 }) },
    { name: "DSL driver-tracking job, record at a time", baseline: false,
      run: () => runTopology(join(here, "driver-tracking-job-topology.js"), { source: namedSource, workers: 1, batch: false }) },
    { name: "DSL driver-tracking without the anomaly step (before), batch plan", baseline: false,
      run: () => runTopology(join(here, "driver-tracking-topology.js"), { source, workers: 1 }) },
  ];
  const rates: number[][] = cases.map(() => []);
  const cpu: number[][] = cases.map(() => []);
  const outputs: string[] = cases.map(() => "");
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of cases.entries()) {
      const before = process.cpuUsage();
      const summary = await c.run();
      const used = process.cpuUsage(before);
      rates[i]!.push(summary.eventsPerSec);
      cpu[i]!.push(((used.user + used.system) * 1000) / events);
      outputs[i] = Object.entries(summary.outputs).map(([k, v]) => `${k} ${String(v)}`).join(", ");
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  return cases.map((c, i) => {
    const sorted = [...rates[i]!].sort((x, y) => x - y);
    const spread = rounds > 1 ? `median of ${rounds} runs (${(sorted[0]! / 1e6).toFixed(2)}–${(sorted[sorted.length - 1]! / 1e6).toFixed(2)} M/s)` : "one run";
    return {
      group, name: c.name, baseline: c.baseline, eventsPerSec: median(rates[i]!),
      note: `${events} events, ${spread}, CPU ${median(cpu[i]!).toFixed(0)} ns/event (median); outputs: ${outputs[i]}`,
    };
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const quick = process.argv.includes("--quick");
  console.log(machineLine(machine()));
  const rows = await run({ quick });
  console.log(formatTable(rows));
  for (const r of rows) console.log(`${r.name}: ${r.note}`);
}
