/**
 * driver-tracking written entirely in the DSL (bench/dsl/driver-tracking-job-topology.ts:
 * validation, the per-driver anomaly check on a per-key store, late records, per-region windows)
 * gives the hand-written job's outputs on the same events, with 1 and 2 workers: the same invalid
 * fixes (the lat/lon ones with the same reason), the same anomalies with the same reason, the same
 * late fixes, the same windows (count and mean speed). The TopologyTestDriver runs the same plan to
 * the same outputs; processValues' store is checkpointed, bounded and reported. Workers run the
 * built JavaScript (`npx tsc -p .`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runTopology, loadTopology } from "../../src/dsl/engine.js";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { geohashIntToString } from "../../src/kernels/geohash.js";
import { Interner } from "../../src/schema/interner.js";
import { compileJsonDecoder } from "../../src/sources/json.js";
import { JsonLinesFileSource } from "../../src/sources/file-source.js";
import { MemorySink, type Output } from "../../src/sinks/sink.js";
import { StateStoreFullError, Stores, StreamsBuilder, TopologyExecutor, TopologyTestDriver } from "../../src/index.js";
import { compileBatchPlan } from "../../src/dsl/batch-plan.js";
import { dslPipeline, engineShape } from "../../src/dsl/engine.js";
import { createDslProcessor } from "../../src/dsl/engine-shard.js";
import { createStringTable, SharedInterner } from "../../src/dsl/shared-strings.js";
import { mulberry32 } from "../support/random.js";
import { checkpointRun, shardBatches } from "../support/output-log.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-dsl-job-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The DSL job on string driver ids, as built (workers import the JavaScript). */
const MODULE = resolve("dist/bench/dsl/driver-tracking-job-topology.js");
/** The same job with the anomaly check as a user function (processValues' general path). */
const FUNCTION_MODULE = resolve("dist/bench/dsl/driver-tracking-job-function-topology.js");
/** The same job with a second sink, so that it runs in the engine's general form (what --instance-id runs). */
const GENERAL_MODULE = resolve("test/dsl/fixtures/driver-tracking-job-general.js");

/**
 * Driver fixes: 40 drivers whose positions move slowly with time, out of order by up to 5 s, some
 * 30 s late; one fix in 200 jumps a degree of latitude (an anomaly, and the next fix back is one
 * too); 4 sparse drivers whose fixes are all 80 s behind (late) and far apart (had a late fix
 * become the driver's last, the next would be an anomaly); some invalid (null island, latitude or
 * longitude out of range, no time, no driver), some without a speed.
 */
function writeFixes(seed: number, n: number, late = true): { path: string; events: Record<string, unknown>[] } {
  const next = mulberry32(seed);
  const events: Record<string, unknown>[] = [];
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < n; i++) {
    const sparse = next() % 40 === 0 && late;
    const d = sparse ? 40 + (next() % 4) : next() % 40;
    let ts: unknown = t0 + i * 60 - (next() % 5_000);
    if (sparse) ts = (ts as number) - 80_000;
    else if (next() % 250 === 0 && late) ts = (ts as number) - 30_000;
    let lat = 37.7 + (d % 10) * 0.05 + ((ts as number) - t0) * 1e-8;
    let lon = -122.4 + Math.floor(d / 10) * 0.05;
    if (sparse) lat += (next() % 9) * 0.5;
    else if (next() % 200 === 0) lat += 1;
    const bad = next() % 150;
    if (bad === 0) { lat = 0; lon = 0; }
    if (bad === 1) lat = 95;
    if (bad === 2) lon = -200;
    if (bad === 3) ts = "soon";
    const e: Record<string, unknown> = { driverId: bad === 4 ? "" : `driver-${d}`, lat, lon, ts };
    if (next() % 30 !== 0) e["speedKmh"] = (next() % 800) / 10;
    events.push(e);
  }
  const path = join(dir, `fixes-${seed}.jsonl`);
  writeFileSync(path, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
  return { path, events };
}

async function handWritten(path: string, workers: number) {
  const sink = new MemorySink();
  let c: Coordinator | undefined;
  const source = new JsonLinesFileSource(path, compileJsonDecoder(driverTracking.schema, new Interner()), (p, o, raw, reason) => c!.reject(p, o, raw, reason));
  c = new Coordinator({ pipeline: driverTracking, source, sink, workers, batchSize: 256 });
  const summary = await c.run();
  return { summary, outputs: sink.outputs };
}

async function dsl(path: string, workers: number, batch = true, module = MODULE) {
  const sink = new MemorySink();
  const summary = await runTopology(module, { input: path, sink, workers, batchSize: 256, batch });
  return { summary, outputs: sink.outputs };
}

const sorted = (xs: string[]) => [...xs].sort();
const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? String(x) : "-");
const ev = (o: Output) => (o["event"] ?? {}) as Record<string, unknown>;
const fix = (o: Output) => `${String(ev(o)["driverId"])}|${num(ev(o)["ts"])}`;
const windowKey = (region: string, start: unknown) => `${region}|${String(start)}`;

/** The hand-written job's outputs, by kind, in comparable form. */
function handView(outputs: Output[]) {
  return {
    windows: outputs.filter((o) => o.type === "window").map((o) => ({ key: windowKey(o["key"] as string, o["windowStart"]), end: o["windowEnd"], count: o["count"], mean: o["avgSpeedKmh"] as number | null })),
    invalid: sorted(outputs.filter((o) => o.type === "invalid").map(fix)),
    // Reasons of the fixes the DSL's validation step flags (lat/lon); records without a time or a driver are the engine's.
    latLonReasons: sorted(outputs.filter((o) => o.type === "invalid" && /^l(at|on)/.test(String(o["reason"]))).map((o) => `${fix(o)}|${String(o["reason"])}`)),
    anomalies: sorted(outputs.filter((o) => o.type === "anomaly").map((o) => `${fix(o)}|${String(o["reason"])}`)),
    late: sorted(outputs.filter((o) => o.type === "late").map(fix)),
  };
}

function dslView(outputs: Output[]) {
  return {
    windows: outputs.filter((o) => o.type === "window").map((o) => ({ key: windowKey(geohashIntToString(o["key"] as number, 5), o["windowStart"]), end: o["windowEnd"], count: o["count"], mean: o["value"] as number | null })),
    invalid: sorted([...outputs.filter((o) => o.type === "invalid"), ...outputs.filter((o) => o.type === "driver-invalid")].map(fix)),
    latLonReasons: sorted(outputs.filter((o) => o.type === "driver-invalid").map((o) => `${fix(o)}|${String(o["reason"])}`)),
    anomalies: sorted(outputs.filter((o) => o.type === "driver-anomalies").map((o) => `${fix(o)}|${String(o["reason"])}`)),
    late: sorted(outputs.filter((o) => o.type === "late").map(fix)),
  };
}

/** The general form's outputs (engine-objects.ts: each value as the executor emits it) in dslView's shape; its windows carry the mean, not the count. */
function generalView(outputs: Output[]) {
  const val = (o: Output) => (o["value"] ?? {}) as Record<string, any>;
  const flagged = (o: Output) => `${String(val(o)["event"]?.["driverId"])}|${num(val(o)["event"]?.["ts"])}`;
  return {
    windows: outputs.filter((o) => o.type === "driver-regions").map((o) => ({ key: windowKey(geohashIntToString(o["key"] as number, 5), o["windowStart"]), end: o["windowEnd"], count: undefined, mean: o["value"] as number | null })),
    invalid: sorted([...outputs.filter((o) => o.type === "invalid").map(fix), ...outputs.filter((o) => o.type === "driver-invalid").map(flagged)]),
    latLonReasons: sorted(outputs.filter((o) => o.type === "driver-invalid").map((o) => `${flagged(o)}|${String(val(o)["reason"])}`)),
    anomalies: sorted(outputs.filter((o) => o.type === "driver-anomalies").map((o) => `${flagged(o)}|${String(val(o)["reason"])}`)),
    late: sorted(outputs.filter((o) => o.type === "driver-late").map((o) => `${String(val(o)["value"]?.["driverId"])}|${num(val(o)["timestamp"])}`)),
  };
}

function expectSame(got: ReturnType<typeof dslView> | ReturnType<typeof generalView>, want: ReturnType<typeof handView>): void {
  expect(got.invalid).toEqual(want.invalid);
  expect(got.latLonReasons).toEqual(want.latLonReasons);
  expect(got.anomalies).toEqual(want.anomalies);
  expect(got.late).toEqual(want.late);
  expect(got.windows.length).toBe(want.windows.length);
  const byKey = new Map(want.windows.map((w) => [w.key, w]));
  for (const w of got.windows) {
    const h = byKey.get(w.key);
    expect(h, w.key).toBeDefined();
    expect(w.end).toBe(h!.end);
    if (w.count !== undefined) expect(w.count).toBe(h!.count);
    if (h!.mean === null) expect(w.mean).toBeNull();
    else expect(Math.abs(w.mean! - h!.mean)).toBeLessThan(1e-9);
  }
}

describe("driver-tracking in the DSL, the whole job", () => {
  it("compiles to the batch plan (the built-ins on the columns and the store's arrays) and runs on the typed engine form", async () => {
    const topology = await loadTopology(MODULE);
    const plan = compileBatchPlan(topology);
    if (typeof plan === "string") throw new Error(plan);
    expect(plan.filters.map((f) => [f.process?.fn === undefined, f.process?.speed?.maxKmh])).toEqual([[true, undefined], [true, 250]]);
    expect(plan.needsRow).toBe(false);
    expect(engineShape(topology).sideTopics).toEqual(["driver-invalid", "driver-anomalies"]);
    const withFunction = compileBatchPlan(await loadTopology(FUNCTION_MODULE));
    if (typeof withFunction === "string") throw new Error(withFunction);
    expect(typeof withFunction.filters[1]!.process!.fn).toBe("function");
  });

  for (const workers of [1, 2]) {
    it(`gives the hand-written job's invalid, anomaly, late and window outputs, ${workers} worker(s)`, async () => {
      const { path } = writeFixes(77 + workers, 12_000);
      const hand = await handWritten(path, workers);
      const want = handView(hand.outputs);
      // The input exercises every output.
      expect(want.anomalies.length).toBeGreaterThan(20);
      expect(want.late.length).toBeGreaterThan(50);
      expect(want.latLonReasons.length).toBeGreaterThan(50);
      expect(want.invalid.length).toBeGreaterThan(want.latLonReasons.length);
      expect(want.windows.length).toBeGreaterThan(50);
      const got = await dsl(path, workers);
      expectSame(dslView(got.outputs), want);
      expect(got.summary.outputs["driver-anomalies"]).toBe(hand.summary.outputs["anomaly"]);
      // The record-at-a-time path (the executor per record) gives the same, and so does the user-function form on both.
      expectSame(dslView((await dsl(path, workers, false)).outputs), want);
      expectSame(dslView((await dsl(path, workers, true, FUNCTION_MODULE)).outputs), want);
      expectSame(dslView((await dsl(path, workers, false, FUNCTION_MODULE)).outputs), want);
    });
  }

  for (const workers of [1, 2]) {
    it(`runs in the engine's general form (what --instance-id runs: processValues' store in an executor per shard, the groupBy moving records between workers) to the hand-written job's outputs on fixes never late, ${workers} worker(s)`, async () => {
      // Never late: downstream of a repartition the general form's operators run at a watermark
      // per batch (engine-objects-shard.ts), coarser than the hand-written job's per record, so a
      // record near the grace bound may go either way there.
      const { path } = writeFixes(31 + workers, 12_000, false);
      const want = handView((await handWritten(path, workers)).outputs);
      expect(want.anomalies.length).toBeGreaterThan(20);
      expect(want.latLonReasons.length).toBeGreaterThan(50);
      expect(want.late).toEqual([]);
      expect(want.windows.length).toBeGreaterThan(50);
      expectSame(generalView((await dsl(path, workers, true, GENERAL_MODULE)).outputs), want);
    });
  }

  it("the TopologyTestDriver runs the same plan to the same outputs as the engine with 1 worker", async () => {
    const { path, events } = writeFixes(5, 6_000);
    const engine = dslView((await dsl(path, 1)).outputs);
    const driver = new TopologyTestDriver(await loadTopology(MODULE));
    const input = driver.createInputTopic<string, Record<string, unknown>>("driver-locations");
    const tsOf = (e: Record<string, unknown>) => (typeof e["ts"] === "number" ? e["ts"] : NaN);
    for (const e of events) {
      // The engine's edge sends records without a time or a driver to its invalid output; the driver's records carry both.
      if (!(tsOf(e) >= 0) || e["driverId"] === "") continue;
      input.pipeInput(e["driverId"] as string, { speedKmh: NaN, ...e }, tsOf(e));
    }
    driver.flush();
    const stores = driver.getStateStores();
    // 40 drivers have a last fix; the 4 sparse ones, always late, have none.
    expect(stores.find((st) => st.name === "last-fix")).toMatchObject({ kind: "per-key", typed: true, entries: 40 });
    driver.close();
    const records = (topic: string) => driver.createOutputTopic<string, any>(topic).readRecordsToList();
    const anomalies = sorted(records("driver-anomalies").map((r) => `${r.key}|${num(r.value.event.ts)}|${r.value.reason}`));
    expect(anomalies.length).toBeGreaterThan(5);
    expect(anomalies).toEqual(engine.anomalies);
    expect(sorted(records("driver-invalid").map((r) => `${r.key}|${num(r.value.event.ts)}|${r.value.reason}`))).toEqual(engine.latLonReasons);
    // A late record's key is the region (the aggregate's key); its value carries the fix.
    expect(sorted(records("driver-late").map((r) => `${r.value.value.driverId}|${num(r.value.timestamp)}`))).toEqual(engine.late);
    const windows = records("driver-regions");
    expect(windows.length).toBe(engine.windows.length);
    const byKey = new Map(engine.windows.map((w) => [w.key, w.mean]));
    for (const w of windows) {
      const key = windowKey(geohashIntToString(w.key as unknown as number, 5), w.windowStart);
      expect(byKey.has(key), key).toBe(true);
      expect(w.value).toBe(byKey.get(key));
    }
  });

  it("a batch-plan shard's checkpoint taken mid-stream holds the drivers' last fixes: restored, it flags what the first would have", async () => {
    const topology = await loadTopology(MODULE);
    const interner = new SharedInterner(createStringTable());
    const config = dslPipeline(MODULE, engineShape(topology), interner).processorConfig;
    const next = mulberry32(23);
    const N = 512;
    const batches = shardBatches(12, N, () => ({ driverId: new Uint32Array(N), lat: new Float64Array(N), lon: new Float64Array(N), ts: new Float64Array(N),
      speedKmh: new Float64Array(N), _off: new Float64Array(N), _wm: new Float64Array(N), _reason: new Uint8Array(N) }), (c, b, i) => {
      // The first batch after the checkpoint opens with a jump of every driver: anomalies only if their last fixes were restored.
      const jump = b === 6 && i < 30;
      const d = jump ? i : next() % 30;
      const t = 1_700_000_000_000 + (b * N + i) * 40 - (next() % 3_000);
      c.driverId[i] = interner.intern(`driver-${d}`);
      c.lat[i] = 37.7 + d * 0.01 + (jump || next() % 100 === 0 ? 2 : 0);
      c.lon[i] = next() % 200 === 0 ? 300 : -122.4;
      c.ts[i] = t;
      c.speedKmh[i] = next() % 90;
      return t;
    });
    const run = await checkpointRun(() => createDslProcessor(config), batches, N, 6);
    expect(run.first.stateEntries!()).toBeGreaterThan(30); // open windows and 30 drivers' last fixes
    expect(run.words).toBeGreaterThan(5);
    // The restored shard holds what the first held at the checkpoint (before it processed more).
    const fresh = await createDslProcessor(config);
    fresh.restore!(run.area.slice(0, run.words), run.words);
    expect(fresh.stateEntries!()).toBe(run.first.stateEntries!());
    const whole = { log: run.whole };
    const split = { log: run.restored };
    const anomalies = (log: string[]) => log.filter((l) => l.startsWith("o 2 ")).length;
    expect(anomalies(whole.log)).toBeGreaterThan(30);
    expect(split.log).toEqual(whole.log);
  });

  it("checkpoints the per-key store (snapshot/restore) on the executor, bounded and reported", () => {
    const b = new StreamsBuilder();
    b.stream<{ x: number }>("in").processValues(Stores.perKey("last", { x: "f64" }), (v, s) => {
      const prev = s.x;
      s.x = v.x;
      return v.x < prev ? `went down from ${prev}` : undefined;
    }, { flagged: "down" }).to("out");
    const topology = b.build();
    const out: string[] = [];
    const a = new TopologyExecutor(topology, (topic, k, v) => out.push(`${topic}|${String(k)}|${JSON.stringify(v)}`), { maxStoreEntries: 3 });
    a.process("in", "p", { x: 5 }, 1, 1);
    a.process("in", "q", { x: 7 }, 2, 2);
    expect(a.stores()).toEqual([{ name: "last", kind: "per-key", entries: 2, retained: 0, bytes: expect.any(Number), typed: true }]);
    expect(a.stores()[0]!.bytes).toBeGreaterThan(0);
    const area = new Float64Array(1024);
    const words = a.snapshot(area, () => NaN);
    expect(words).toBeGreaterThan(0);
    const b2 = new TopologyExecutor(topology, (topic, k, v) => out.push(`${topic}|${String(k)}|${JSON.stringify(v)}`), { maxStoreEntries: 3 });
    b2.restore(area.subarray(0, words));
    out.length = 0;
    b2.process("in", "p", { x: 4 }, 3, 3);
    b2.process("in", "q", { x: 8 }, 4, 4);
    expect(out).toEqual([`down|p|${JSON.stringify({ reason: "went down from 5", event: { x: 4 } })}`, `out|q|${JSON.stringify({ x: 8 })}`]);
    b2.process("in", "r", { x: 1 }, 5, 5);
    // A fourth key is past the bound.
    expect(() => b2.process("in", "s", { x: 1 }, 6, 6)).toThrow(StateStoreFullError);
  });
});
