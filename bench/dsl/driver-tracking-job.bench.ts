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
 * The note gives the outputs, so that the jobs are seen to do the same work (anomalies, late, invalid),
 * and (Linux) the CPU per event of the run's threads: the main thread, the busiest other one (the
 * shard worker, with 1 worker) and the rest (V8's compiler and GC threads, libuv's), from
 * /proc/self/task. A second group times the shards alone on one thread (shardGroup).
 *
 *   node dist/bench/dsl/driver-tracking-job.bench.js [--quick] [--shards | --engine] [--case "<part of a case's name>[|<another>…]"] [--events N]
 *
 * `--events N` sets the end-to-end runs' length (default 10 M, 2 M with --quick): the CPU per event of
 * two lengths tells a per-event cost from a fixed one (startup, compilation).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { runEngineCases, type EngineCase } from "./engine-runs.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { NullSink } from "../../src/sinks/sink.js";
import { DriverGenerator } from "../../src/sources/driver-generator.js";
import { GeneratorSource } from "../../src/sources/generator-source.js";
import { dslPipeline, engineShape, loadTopology, runTopology } from "../../src/dsl/engine.js";
import { createDslProcessor } from "../../src/dsl/engine-shard.js";
import { createStringTable, SharedInterner } from "../../src/dsl/shared-strings.js";
import type { ProcessorConfig, ShardProcessor } from "../../src/pipelines/processor.js";
import { DriverTrackingShard } from "../../src/pipelines/driver-tracking/shard.js";
import type { PipelineDefinition } from "../../src/pipelines/pipeline.js";
import type { OutputWriter } from "../../src/ring/output.js";
import { formatTable, machineLine, machine, type BenchRow } from "../harness.js";

export const groups = ["driver-tracking: hand-written vs the DSL job (end to end, 1 worker)", "driver-tracking: hand-written vs the DSL job (one shard, one thread)"] as const;

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  return [...(await engineGroup(opts)), ...(await shardGroup(opts))];
}

/**
 * The shards alone, on one thread: the same generator batches (4096 events, seed 42, partitions in
 * turn), each prepared by its job's edge kernel (hand-written: validateFixes; DSL: event time and
 * key), then process() + advance() per batch for the whole input; each row is the pass with the
 * least CPU time of `rounds` (other processes share the 2 cores: the least disturbed).
 */
async function shardGroup(opts: { quick: boolean }): Promise<BenchRow[]> {
  const group = groups[1];
  const N = 4096;
  const batches = opts.quick ? 128 : 512;
  const rounds = opts.quick ? 3 : 7;
  const here = dirname(fileURLToPath(import.meta.url));
  const gen = new DriverGenerator({ seed: 42 });
  const source = new GeneratorSource(gen, Infinity);
  const interner = new SharedInterner(createStringTable());
  for (let id = 1; id <= gen.drivers; id++) interner.intern(gen.driverName(id));
  const modules = {
    job: join(here, "driver-tracking-job-topology.js"),
    fn: join(here, "driver-tracking-job-function-topology.js"),
    before: join(here, "driver-tracking-topology.js"),
  };
  const configs: Record<string, ProcessorConfig> = {};
  const pipelines: Record<string, PipelineDefinition> = {};
  for (const [k, m] of Object.entries(modules)) {
    const shape = engineShape(await loadTopology(m));
    pipelines[k] = dslPipeline(m, shape, interner);
    configs[k] = pipelines[k]!.processorConfig;
  }
  const columns = () => ({ driverId: new Uint32Array(N), lat: new Float64Array(N), lon: new Float64Array(N), ts: new Float64Array(N),
    speedKmh: new Float64Array(N), _off: new Float64Array(N), _wm: new Float64Array(N), _reason: new Uint8Array(N) });
  type Cols = ReturnType<typeof columns>;
  // Per batch: the generator's events, prepared by each edge (u32 and string-id DSL jobs share the DSL edge's result).
  const hand: Cols[] = [];
  const dsl: Cols[] = [];
  const P = gen.partitions;
  const stHand = new Float64Array(P).fill(-Infinity);
  const stDsl = new Float64Array(P).fill(-Infinity);
  const others = (st: Float64Array, p: number) => { let m = Infinity; for (let q = 0; q < P; q++) if (q !== p && st[q]! < m) m = st[q]!; return m; };
  for (let b = 0; b < batches; b++) {
    const p = b % P;
    const h = columns();
    source.fill(p, h as never, N);
    const d = columns();
    for (const k of Object.keys(h) as (keyof Cols)[]) (d[k] as Float64Array).set(h[k] as Float64Array);
    stHand[p] = driverTracking.prepare(h as never, N, stHand[p]!, others(stHand, p));
    stDsl[p] = pipelines["job"]!.prepare(d as never, N, stDsl[p]!, others(stDsl, p));
    hand.push(h);
    dsl.push(d);
  }
  const out = { window() {}, side() {}, object() { return true; }, marker() {}, flush() {} } as unknown as OutputWriter;
  const cases: { name: string; baseline: boolean; make: () => Promise<ShardProcessor>; input: Cols[] }[] = [
    { name: "hand-written shard, native kernels", baseline: true, make: async () => new DriverTrackingShard({}), input: hand },
    { name: "hand-written shard, JS loop", baseline: false, make: async () => new DriverTrackingShard({ kernels: "js" }), input: hand },
    { name: "DSL job shard (batch plan, Fields.speedLimit)", baseline: false, make: () => createDslProcessor(configs["job"]!), input: dsl },
    { name: "DSL job shard, anomaly check as a user function", baseline: false, make: () => createDslProcessor(configs["fn"]!), input: dsl },
    { name: "DSL without the anomaly step (before), u32 ids", baseline: false, make: () => createDslProcessor(configs["before"]!), input: dsl },
  ];
  pickCases(cases);
  const best = cases.map(() => Infinity);
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of cases.entries()) {
      const proc = await c.make();
      // CPU time of the process (this thread does all the work): other processes taking the cores
      // lengthen the wall time of a pass, much less its CPU time.
      const t0 = process.cpuUsage();
      for (const cols of c.input) {
        proc.process(cols as never, N, 0, out);
        proc.advance(cols._wm[N - 1]!, out);
      }
      const used = process.cpuUsage(t0);
      best[i] = Math.min(best[i]!, (used.user + used.system) / 1000);
    }
  }
  const events = N * batches;
  return cases.map((c, i) => ({
    group, name: c.name, baseline: c.baseline, eventsPerSec: events / (best[i]! / 1000),
    note: `${events} events in ${batches} batches, least CPU of ${rounds} passes: ${((best[i]! * 1e6) / events).toFixed(1)} ns/event`,
  }));
}

/** `--case <text>[|<text>…]`: only the cases whose name contains one of the texts (for profiling, or A/B runs of a few). */
function pickCases<C extends { name: string }>(cases: C[]): void {
  const pick = process.argv.indexOf("--case");
  if (pick < 0) return;
  const parts = (process.argv[pick + 1] ?? "").split("|");
  cases.splice(0, cases.length, ...cases.filter((c) => parts.some((p) => c.name.includes(p))));
}

/**
 * CPU clock ticks (1/100 s) of each thread of this process so far, kept at their largest in `into`
 * (a worker thread's entry goes when it ends: sampled during the run). Nothing off Linux.
 */
function sampleThreads(into: Map<string, number>): void {
  let tids: string[];
  try {
    tids = readdirSync("/proc/self/task");
  } catch {
    return;
  }
  for (const t of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(f[11]) + Number(f[12]); // utime + stime
      if (ticks > (into.get(t) ?? 0)) into.set(t, ticks);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
}

/** Runs `run`, noting on its summary the CPU per event of the main thread, the busiest other and the rest (sampleThreads). */
async function withThreads<S extends object>(run: () => Promise<S>, events: number): Promise<S> {
  const before = new Map<string, number>();
  sampleThreads(before);
  const after = new Map(before);
  const timer = setInterval(() => sampleThreads(after), 20);
  try {
    const summary = await run();
    sampleThreads(after);
    if (after.size === 0) return summary;
    const ns = (t: string) => (((after.get(t) ?? 0) - (before.get(t) ?? 0)) * 1e7) / events;
    const main = String(process.pid);
    const others = [...after.keys()].filter((t) => t !== main).map(ns).sort((a, b) => b - a);
    const rest = others.slice(1).reduce((a, b) => a + b, 0);
    (summary as { threads?: string }).threads = `main ${ns(main).toFixed(0)}, busiest other ${(others[0] ?? 0).toFixed(0)}, the rest ${rest.toFixed(0)} ns/event`;
    return summary;
  } finally {
    clearInterval(timer);
  }
}

async function engineGroup(opts: { quick: boolean }): Promise<BenchRow[]> {
  const group = groups[0];
  const given = process.argv.indexOf("--events");
  const events = given >= 0 ? Number(process.argv[given + 1]) : opts.quick ? 2_000_000 : 10_000_000;
  if (!(Number.isInteger(events) && events > 0)) throw new Error(`--events takes a positive integer, got ${process.argv[given + 1]}`);
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
  const cases: EngineCase[] = [
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
  pickCases(cases);
  const timed = cases.map((c) => ({ ...c, run: () => withThreads(c.run, events) }));
  return runEngineCases(group, timed, events, rounds, (summary) => `; outputs: ${Object.entries(summary.outputs).map(([k, v]) => `${k} ${String(v)}`).join(", ")}` +
    ((summary as { threads?: string }).threads !== undefined ? `; CPU by thread (last run): ${(summary as { threads?: string }).threads}` : ""));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const quick = process.argv.includes("--quick");
  console.log(machineLine(machine()));
  const which = process.argv.includes("--shards") ? shardGroup : process.argv.includes("--engine") ? engineGroup : run;
  const rows = await which({ quick });
  console.log(formatTable(rows));
  for (const r of rows) console.log(`${r.name}: ${r.note}`);
}
