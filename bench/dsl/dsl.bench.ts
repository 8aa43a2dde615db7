/**
 * The topology DSL against hand-written code.
 *
 *   group "DSL windowed count (one thread)": per-key count in 60 s tumbling windows (10 s grace),
 *     2000 keys, ~0.6 ms of event time per event with 5 s of jitter; one call = a batch of 4096
 *     events, then the windows the batch's watermark closes.
 *       baseline  Map<`${key}|${start}`, {count}> and an object per event (the obvious way)
 *       kernel    WindowTable.add / closeUpTo (driver-tracking's hand-written window kernel)
 *       DSL       TopologyExecutor.process on groupByKey().windowedBy(…).count() (typed store, one
 *                 reused row object) with string keys and with u32 key ids (what a shard worker
 *                 did when no user function sees the key), on aggregate() with a user function,
 *                 and the same count compiled to the batch plan (BatchShardProcessor.process per batch)
 *   group "DSL on the engine (end to end, 1 worker)": Coordinator + GeneratorSource (seed 42) +
 *     NullSink; the baseline is driver-tracking (validate, geohash-5, anomaly, window kernel), the
 *     DSL rows count fixes per driver with runTopology() (the generator's u32 driver id as key), and
 *     count valid fixes per geohash-5 region (filter + groupBy(Geo.geohashCode) + count: per-worker
 *     partials; driver-tracking's window counts without its anomaly check and mean speed), and
 *     driver-tracking in the DSL with the Fields built-ins (valid fixes per geohash-5 region, count
 *     and mean speed; no anomaly check) — each record at a time (`batch: false`, the executor per
 *     record) and compiled to the batch plan (src/dsl/batch-plan.ts).
 *     They do different work: the ratio says what the DSL's path costs next to the hand-written
 *     chain, not which job is faster.
 */
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { Bench } from "tinybench";
import { WindowTable } from "../../src/kernels/window-table.js";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { runEngineCases, type EngineCase } from "./engine-runs.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { NullSink } from "../../src/sinks/sink.js";
import { DriverGenerator } from "../../src/sources/driver-generator.js";
import { GeneratorSource } from "../../src/sources/generator-source.js";
import { runTopology } from "../../src/dsl/engine.js";
import { StreamsBuilder, TimeWindows, TopologyExecutor, defineSchema, type Topology } from "../../src/index.js";
import { BatchShardProcessor, compileBatchPlan } from "../../src/dsl/batch-plan.js";
import type { OutputWriter } from "../../src/ring/output.js";
import { tinybenchEventsPerSec, tinybenchNote, tinybenchOptions, type BenchRow } from "../harness.js";

export const groups = ["DSL windowed count (one thread)", "DSL on the engine (end to end, 1 worker)"] as const;

const EVENTS = 1 << 20;
const BATCH = 4096;
const KEYS = 2000;
const SIZE_MS = 60_000;
const GRACE_MS = 10_000;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Data { key: Uint32Array; names: string[]; ts: Float64Array; span: number }

function makeData(): Data {
  const r = rng(42);
  const key = new Uint32Array(EVENTS);
  const ts = new Float64Array(EVENTS);
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < EVENTS; i++) {
    key[i] = Math.floor(r() * KEYS);
    ts[i] = Math.floor(t0 + i * 0.6 - r() * 5000);
  }
  return { key, ts, names: Array.from({ length: KEYS }, (_, i) => `driver-${i}`), span: Math.ceil(EVENTS * 0.6 + 5000) };
}

/** One runner per contender: its own cursor over the shared data and its own watermark. */
function runner(data: Data, add: (key: number, name: string, t: number, wm: number) => void, close: (wm: number) => void) {
  let at = 0;
  let shift = 0;
  let wm = -Infinity;
  return {
    call(): void {
      const { key, ts, names } = data;
      for (let i = at; i < at + BATCH; i++) {
        const t = ts[i]! + shift;
        if (t > wm) wm = t;
        add(key[i]!, names[key[i]!]!, t, wm);
      }
      close(wm);
      at += BATCH;
    },
    rewind(): void {
      if (at + BATCH <= EVENTS) return;
      at = 0;
      shift += data.span;
    },
  };
}

function countTopology(builtin: boolean): Topology {
  const b = new StreamsBuilder();
  const w = b.stream("in").groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(SIZE_MS, GRACE_MS));
  (builtin ? w.count() : w.aggregate(() => 0, (_k, _v, a: number) => a + 1)).toStream().to("out");
  return b.build();
}

async function threadGroup(quick: boolean): Promise<BenchRow[]> {
  const data = makeData();
  const group = groups[0];
  let emitted = 0;

  const map = new Map<string, { count: number; start: number }>();
  let mapMin = Infinity;
  const naive = runner(data, (k, _n, t) => {
    const start = Math.floor(t / SIZE_MS) * SIZE_MS;
    const event = { key: k, ts: t }; // the object per event of the obvious way
    const id = `${event.key}|${start}`;
    let e = map.get(id);
    if (!e) { e = { count: 0, start }; map.set(id, e); if (start < mapMin) mapMin = start; }
    e.count++;
  }, (wm) => {
    if (wm < mapMin + SIZE_MS + GRACE_MS) return;
    let min = Infinity;
    for (const [id, e] of map) {
      if (e.start + SIZE_MS + GRACE_MS <= wm) { emitted += e.count; map.delete(id); } else if (e.start < min) min = e.start;
    }
    mapMin = min;
  });

  const table = new WindowTable({ sizeMs: SIZE_MS, graceMs: GRACE_MS, initialCapacity: 4096 });
  const sink = { window(_k: number, _s: number, count: number): void { emitted += count; } };
  const kernel = runner(data, (k, _n, t) => { table.add(k, Math.floor(t / SIZE_MS) * SIZE_MS, NaN); }, (wm) => table.closeUpTo(wm, sink as never));

  const emit = (_topic: string, _k: unknown, v: unknown) => { emitted += v as number; };
  const typed = new TopologyExecutor(countTopology(true), emit);
  const row = { key: "", ts: 0 };
  const dslTyped = runner(data, (_k, name, t, wm) => { row.key = name; row.ts = t; typed.process("in", name, row, t, wm); }, (wm) => typed.advance(wm));
  const ids = new TopologyExecutor(countTopology(true), emit);
  const dslIds = runner(data, (k, _name, t, wm) => { row.ts = t; ids.process("in", k, row, t, wm); }, (wm) => ids.advance(wm));
  const objects = new TopologyExecutor(countTopology(false), emit);
  const dslObjects = runner(data, (_k, name, t, wm) => objects.process("in", name, { key: name, ts: t }, t, wm), (wm) => objects.advance(wm));

  // The batch plan (src/dsl/batch-plan.ts) on the same count: one process() per batch of columns,
  // as a shard worker calls it (key ids, event time, watermark, reason code per record).
  const b = new StreamsBuilder();
  b.stream("in", { schema: defineSchema("keyed", { key: "u32", ts: "f64" }), key: "key", timestamp: "ts" })
    .groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(SIZE_MS, GRACE_MS)).count().toStream().to("out");
  const batchTopology = b.build();
  const plan = compileBatchPlan(batchTopology);
  if (typeof plan === "string") throw new Error(`the bench's count does not compile to a batch plan: ${plan}`);
  const proc = new BatchShardProcessor(plan, batchTopology, { keyField: "key", timestampField: "ts", keyIsString: false, partials: "" });
  const cols = { key: new Uint32Array(BATCH), ts: new Float64Array(BATCH), _wm: new Float64Array(BATCH), _off: new Float64Array(BATCH), _reason: new Uint8Array(BATCH) };
  const writer = { window(_k: number, _s: number, _c: number, value: number): void { emitted += value; }, side(): void {} } as unknown as OutputWriter;
  let bAt = 0;
  let bShift = 0;
  let bWm = -Infinity;
  const batchRunner = {
    call(): void {
      const { key, ts } = data;
      for (let j = 0; j < BATCH; j++) {
        const t = ts[bAt + j]! + bShift;
        if (t > bWm) bWm = t;
        cols.key[j] = key[bAt + j]!;
        cols.ts[j] = t;
        cols._wm[j] = bWm;
      }
      proc.process(cols, BATCH, 0, writer);
      bAt += BATCH;
    },
    rewind(): void {
      if (bAt + BATCH <= EVENTS) return;
      bAt = 0;
      bShift += data.span;
    },
  };

  const bench = new Bench({ ...tinybenchOptions(quick), name: group });
  const cases = [
    { name: "baseline: Map + object per event", r: naive, baseline: true },
    { name: "hand-written WindowTable kernel (driver-tracking's)", r: kernel, baseline: false },
    { name: "DSL count() on the executor (typed store)", r: dslTyped, baseline: false },
    { name: "DSL count() with u32 key ids (as the engine's shards run it)", r: dslIds, baseline: false },
    { name: "DSL aggregate() with a user function (object store)", r: dslObjects, baseline: false },
    { name: "DSL count() compiled to the batch plan (one process() per batch, as a shard runs it)", r: batchRunner, baseline: false },
  ];
  for (const c of cases) bench.add(c.name, () => c.r.call(), { beforeEach: () => c.r.rewind() });
  await bench.run();
  if (emitted === 0) throw new Error("no window closed: the bench measured nothing");
  return bench.tasks.map((task, i) => ({
    group, name: cases[i]!.name, baseline: cases[i]!.baseline,
    eventsPerSec: tinybenchEventsPerSec(task.result, BATCH), note: tinybenchNote(task.result, BATCH),
  }));
}

async function engineGroup(quick: boolean): Promise<BenchRow[]> {
  const group = groups[1];
  const events = quick ? 2_000_000 : 10_000_000;
  const rounds = quick ? 1 : 3;
  const here = dirname(fileURLToPath(import.meta.url));
  const source = () => new GeneratorSource(new DriverGenerator({ seed: 42 }), events);
  // Each DSL job twice, one after the other: record at a time (the executor per record, as before
  // the batch plan) and compiled to the batch plan (src/dsl/batch-plan.ts). The whole sequence
  // runs `rounds` times, so that every row's figure is a median of runs spread over the same time.
  const cases: EngineCase[] = [
    { name: "baseline: driver-tracking (hand-written kernel chain)", baseline: true,
      run: () => new Coordinator({ pipeline: driverTracking, source: source(), sink: new NullSink(), workers: 1 }).run() },
  ];
  const jobs = [
    ["driver-count-topology.js", "DSL count per driver, 60 s windows"],
    ["region-count-topology.js", "DSL filter valid, groupBy geohash-5, count — user functions (driver-tracking's counts)"],
    ["driver-tracking-topology.js", "DSL driver-tracking: Fields.validLatLon, groupBy Fields.geohashCode, mean speed + count"],
  ] as const;
  for (const [module, name] of jobs) {
    for (const batch of [false, true]) {
      cases.push({ name: `${name}${batch ? ", batch plan" : ", record at a time"}`, baseline: false,
        run: () => runTopology(join(here, module), { source, workers: 1, batch }) });
    }
  }
  return runEngineCases(group, cases, events, rounds, (summary) => `, ${String(summary.outputs["window"])} windows`);
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  return [...(await threadGroup(opts.quick)), ...(await engineGroup(opts.quick))];
}
