/**
 * The batch plan's fused record loop in native code (src/dsl/batch-native.ts, the addon's
 * dslFusedBatch) gives the JS loop's outputs, call for call (windows, invalid, late, flagged
 * records with their reasons, in the same order), and the same state (the checkpoint's words:
 * window table, insertion numbers, per-key store), on seeded random batches that make it stop and
 * resume everywhere it can: window closes inside a batch, the window table and the per-key store
 * growing, invalid records, late records, fixes flagged too fast or invalid, filters.
 */
import { describe, expect, it } from "vitest";
import { BatchShardProcessor, compileBatchPlan } from "../../src/dsl/batch-plan.js";
import { loadDslFusedBatch } from "../../src/dsl/batch-native.js";
import { dslPipeline, engineShape } from "../../src/dsl/engine.js";
import { createStringTable, SharedInterner } from "../../src/dsl/shared-strings.js";
import { Fields, Stores, StreamsBuilder, TimeWindows, defineSchema } from "../../src/index.js";
import type { Topology } from "../../src/dsl/plan.js";
import { OUT_INVALID, OUT_LATE } from "../../src/ring/output.js";
import { mulberry32 } from "../support/random.js";
import { outputLog, shardBatches } from "../support/output-log.js";

const schema = defineSchema("fix", { driverId: "string", lat: "f64", lon: "f64", ts: "f64", speedKmh: "f64" });
interface Fix { driverId: string; lat: number; lon: number; ts: number; speedKmh: number }
const windows = TimeWindows.ofSizeAndGrace(10_000, 2_000);

const fixes = (b: StreamsBuilder) => b.stream<Fix>("fixes", { schema, key: "driverId", timestamp: "ts" });
/** A topology: the chain on the fixes stream. */
const shape = (chain: (s: ReturnType<typeof fixes>) => void) => (): Topology => {
  const b = new StreamsBuilder();
  chain(fixes(b));
  return b.build();
};

/** Topologies of every shape the native loop takes: steps in several orders, source or geohash key, each aggregate. */
const shapes: Record<string, () => Topology> = {
  "the driver-tracking job: checkLatLon, speedLimit on a per-key store, geohash key, mean": shape((s) => s
    .processValues(undefined, Fields.checkLatLon("lat", "lon"), { flagged: "invalid-fixes" })
    .processValues(Stores.perKey("last", { ts: "f64", lon: "f64", lat: "f64" }), Fields.speedLimit(250, windows), { flagged: "too-fast" })
    .groupBy(Fields.geohashCode("lat", "lon", 5)).windowedBy(windows).mean("speedKmh", { late: "late" }).toStream().to("out")),
  "speedLimit before a validLatLon filter, geohash key at precision 3, sum": shape((s) => s
    .processValues(Stores.perKey("last", { lat: "f64", lon: "f64", ts: "f64", spare: "f64" }), Fields.speedLimit(120, windows), { flagged: "too-fast" })
    .filter(Fields.validLatLon("lat", "lon"))
    .groupBy(Fields.geohashCode("lat", "lon", 3)).windowedBy(windows).sum("speedKmh").toStream().to("out")),
  "a validLatLon filter, the source key, count": shape((s) => s
    .filter(Fields.validLatLon("lat", "lon"))
    .groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(5_000)).count().toStream().to("out")),
  "checkLatLon then a validLatLon filter, the source key, max": shape((s) => s
    .processValues(undefined, Fields.checkLatLon("lat", "lon"), { flagged: "invalid-fixes" })
    .filter(Fields.validLatLon("lat", "lon"))
    .groupByKey().windowedBy(windows).max("speedKmh").toStream().to("out")),
  "filterNot(validLatLon), the source key, max": shape((s) => s
    .filterNot(Fields.validLatLon("lat", "lon"))
    .groupByKey().windowedBy(windows).max("speedKmh").toStream().to("out")),
  "no steps, the source key, min": shape((s) => s.groupByKey().windowedBy(windows).min("speedKmh").toStream().to("out")),
};

const N = 700;
type Cols = ReturnType<typeof columns>;
const columns = () => ({ driverId: new Uint32Array(N), lat: new Float64Array(N), lon: new Float64Array(N), ts: new Float64Array(N),
  speedKmh: new Float64Array(N), _off: new Float64Array(N), _wm: new Float64Array(N), _reason: new Uint8Array(N) });

/**
 * 3 000 drivers (past the per-key store's first 1 024 rows) spread over a few degrees (thousands of
 * regions: the window table grows), times out of order by up to 3 s, some 15 s behind (late), one
 * fix in 60 jumping a degree (too fast), one in 4 moving at speeds around the limit, some invalid
 * fixes (null island, out of range, NaN) and some valid ones on the bounds (±90, ±180), some
 * without a speed, some records the edge marked invalid; times that land on window edges.
 */
function batches(seed: number, interner: SharedInterner): Cols[] {
  const next = mulberry32(seed);
  const ids: number[] = [];
  for (let d = 0; d < 3_000; d++) ids.push(interner.intern(`driver-${d}`));
  const t0 = 1_700_000_000_000;
  return shardBatches(40, N, columns, (c, b, i) => {
    const d = next() % 3_000;
    let t = t0 + (b * N + i) * 7 - (next() % 3_000);
    if (next() % 80 === 0) t -= 15_000;
    if (next() % 25 === 0) t = Math.floor(t / 10_000) * 10_000 + (next() % 3) - 1;
    c.driverId[i] = ids[d]!;
    // Some fixes move a few hundred metres: about 250 km/h since the driver's last (about 20 s before).
    c.lat[i] = 40 + (d % 60) * 0.05 + (t - t0) * 1e-9 + (next() % 60 === 0 ? 1 : 0) + (next() % 4 === 0 ? (next() % 40) * 0.0005 : 0);
    c.lon[i] = -74 + Math.floor(d / 60) * 0.05;
    const bad = next() % 120;
    if (bad === 0) { c.lat[i] = 0; c.lon[i] = 0; }
    if (bad === 1) c.lat[i] = 91;
    if (bad === 2) c.lon[i] = NaN;
    // Valid, on the bounds.
    if (bad === 3) c.lat[i] = 90;
    if (bad === 4) c.lon[i] = -180;
    if (bad === 5) { c.lat[i] = -90; c.lon[i] = 180; }
    c.ts[i] = t;
    c.speedKmh[i] = next() % 20 === 0 ? NaN : (next() % 1_000) / 7;
    c._reason[i] = next() % 200 === 0 ? 1 : 0;
    return c._reason[i] !== 0 ? -Infinity : t;
  });
}

/** A batch-plan shard of the topology; `kernels: "js"` keeps the JS loop. */
function shard(topology: Topology, interner: SharedInterner, js: boolean): BatchShardProcessor {
  const plan = compileBatchPlan(topology);
  if (typeof plan === "string") throw new Error(plan);
  const config = dslPipeline("in-memory", engineShape(topology), interner).processorConfig;
  return new BatchShardProcessor(plan, topology, js ? { ...config, kernels: "js" } : config);
}

/** The shard's outputs over the batches (advance after each, flush at the end), its checkpoint, and the batches the native loop took. */
function run(p: BatchShardProcessor, input: Cols[]) {
  const { log, out } = outputLog();
  let nativeCalls = 0;
  const fields = p as unknown as { nativeFused?: (...a: unknown[]) => void };
  const fn = fields.nativeFused;
  if (fn !== undefined) fields.nativeFused = (...a: unknown[]) => { nativeCalls++; fn(...a); };
  input.forEach((c, b) => {
    // Every other batch advances only at the next one's records: closes inside the batch.
    p.process(c as never, N, b % 3, out);
    if (b % 2 === 0) p.advance(c._wm[N - 1]!, out);
  });
  p.advance(Infinity, out);
  const area = new Float64Array(1 << 20);
  const words = p.snapshot(area);
  return { log, checkpoint: [...area.subarray(0, words)], entries: p.stateEntries(), bytes: p.stateBytes(), nativeCalls };
}

const native = loadDslFusedBatch();

describe.skipIf(native === undefined)("the batch plan's fused loop in native code (dslFusedBatch)", () => {
  for (const [name, make] of Object.entries(shapes)) {
    it(`gives the JS loop's outputs and state: ${name}`, () => {
      const interner = new SharedInterner(createStringTable());
      const input = batches(name.length, interner);
      const topology = make();
      const js = shard(topology, interner, true);
      const nat = shard(topology, interner, false);
      expect(js.usesNative).toBe(false);
      expect(nat.usesNative).toBe(true);
      const want = run(js, input);
      const got = run(nat, input);
      // More calls than batches: it stopped for closes and growth, and resumed.
      expect(got.nativeCalls).toBeGreaterThan(input.length);
      expect(want.nativeCalls).toBe(0);
      expect(got.log.length).toBe(want.log.length);
      expect(got.log).toEqual(want.log);
      expect(got.checkpoint).toEqual(want.checkpoint);
      expect(got.entries).toBe(want.entries);
      expect(got.bytes).toBe(want.bytes);
      // The input reaches the outputs: windows, invalid and late records.
      expect(want.log.filter((l) => l.startsWith("w ")).length).toBeGreaterThan(100);
      expect(want.log.filter((l) => l.startsWith(`s ${OUT_INVALID} `)).length).toBeGreaterThan(20);
      expect(want.log.filter((l) => l.startsWith(`s ${OUT_LATE} `)).length).toBeGreaterThan(5);
    });
  }

  it("flags what the JS loop flags, with the reasons (the job's shape)", () => {
    const interner = new SharedInterner(createStringTable());
    const topology = shapes["the driver-tracking job: checkLatLon, speedLimit on a per-key store, geohash key, mean"]!();
    const input = batches(7, interner);
    const got = run(shard(topology, interner, false), input).log;
    const objects = got.filter((l) => l.startsWith("o "));
    // Output codes: 1 invalid-fixes, 2 too-fast (engineShape's sideTopics order).
    expect(objects.filter((l) => l.startsWith("o 1 ")).length).toBeGreaterThan(50);
    expect(objects.filter((l) => l.startsWith("o 2 ")).length).toBeGreaterThan(50);
    expect(objects.some((l) => l.includes("km/h since the driver's last fix"))).toBe(true);
    expect(got.filter((l) => l.startsWith(`s ${OUT_LATE} `)).length).toBeGreaterThan(50);
  });

  it("a batch whose columns are not the types it reads runs the JS loop", () => {
    const interner = new SharedInterner(createStringTable());
    const topology = shapes["no steps, the source key, min"]!();
    // Deliberately the wrong column type: f32 times where the plan reads f64.
    const input = batches(3, interner).slice(0, 4).map((c) => ({ ...c, ts: Float32Array.from(c.ts) as unknown as Float64Array<ArrayBuffer> }));
    const nat = run(shard(topology, interner, false), input);
    expect(nat.nativeCalls).toBe(0);
    expect(nat.log).toEqual(run(shard(topology, interner, true), input).log);
  });
});
