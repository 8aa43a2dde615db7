/**
 * The batch plan (src/dsl/batch-plan.ts): typed topologies compiled to a columnar pass per ring
 * batch give exactly the outputs of the record-at-a-time executor (window results, partials, late,
 * invalid and user-error records) with 1 and 2 workers; driver-tracking written in the DSL gives
 * the hand-written pipeline's windows. Workers run the built JavaScript (`npx tsc -p .`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BatchShardProcessor, compileBatchPlan } from "../../src/dsl/batch-plan.js";
import { dslPipeline, engineShape, loadTopology, runTopology } from "../../src/dsl/engine.js";
import { createDslProcessor, DslShardProcessor } from "../../src/dsl/engine-shard.js";
import { createStringTable, SharedInterner } from "../../src/dsl/shared-strings.js";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { geohashIntToString } from "../../src/kernels/geohash.js";
import { Interner } from "../../src/schema/interner.js";
import { compileJsonDecoder } from "../../src/sources/json.js";
import { JsonLinesFileSource } from "../../src/sources/file-source.js";
import { MemorySink, type Output } from "../../src/sinks/sink.js";
import { mulberry32 } from "../support/random.js";
import { checkpointRun, shardBatches } from "../support/output-log.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-dsl-batch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fixture = (name: string) => resolve(`test/dsl/fixtures/${name}`);

/** Rides: 50 drivers in 6 regions, out of order by up to 4 s, some 20 s late, some without a valid time or driver. */
function writeRides(seed: number, n: number): string {
  const next = mulberry32(seed);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    let ts: unknown = 1_700_000_000_000 + i * 50 - (next() % 4_000) - (next() % 150 === 0 ? 20_000 : 0);
    // Some on round 5 s marks: watermarks that land exactly on a window's end + grace.
    if (next() % 20 === 0) ts = Math.ceil((ts as number) / 5_000) * 5_000;
    if (next() % 400 === 0) ts = "soon";
    const driverId = next() % 500 === 0 ? "" : `d${next() % 50}`;
    lines.push(JSON.stringify({ driverId, region: `r${next() % 6}`, fare: next() % 100, speedKmh: (next() % 1200) / 10, ts }));
  }
  const path = join(dir, `rides-${seed}.jsonl`);
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

/**
 * Driver fixes: 40 drivers whose positions are a function of time (no > 250 km/h jump, so the
 * hand-written anomaly check never fires), out of order by up to 5 s, some 30 s late, some invalid
 * (null island, latitude out of range, no time, no driver), some without a speed.
 */
function writeFixes(seed: number, n: number): string {
  const next = mulberry32(seed);
  const lines: string[] = [];
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < n; i++) {
    const d = next() % 40;
    let ts: unknown = t0 + i * 60 - (next() % 5_000);
    if (next() % 250 === 0) ts = (ts as number) - 30_000;
    let lat = 37.7 + (d % 10) * 0.05 + ((ts as number) - t0) * 1e-8;
    let lon = -122.4 + Math.floor(d / 10) * 0.05;
    const bad = next() % 150;
    if (bad === 0) { lat = 0; lon = 0; }
    if (bad === 1) lat = 95;
    if (bad === 2) ts = "soon";
    const e: Record<string, unknown> = { driverId: bad === 3 ? "" : `driver-${d}`, lat, lon, ts };
    if (next() % 30 !== 0) e["speedKmh"] = (next() % 800) / 10;
    lines.push(JSON.stringify(e));
  }
  const path = join(dir, `fixes-${seed}.jsonl`);
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

async function run(module: string, path: string, workers: number, batch: boolean) {
  const sink = new MemorySink();
  const summary = await runTopology(module, { input: path, sink, workers, batchSize: 256, batch });
  return { summary, outputs: sink.outputs, lines: sink.outputs.map((o) => JSON.stringify(o)).sort() };
}

const byType = (outputs: Output[], type: string) => outputs.filter((o) => o.type === type).length;

describe("the batch plan", () => {
  it("compiles the recognisable typed topologies and says why it does not compile the others", async () => {
    for (const name of ["driver-counts.js", "region-counts.js", "region-mean.js", "region-min.js", "region-fixes.js", "batch-odd.js", "driver-tracking.js"]) {
      const topology = await loadTopology(fixture(name));
      expect(compileBatchPlan(topology), name).toBeTypeOf("object");
      // What a shard worker builds from the pipeline's config: the batch plan unless `batch: false`.
      const config = dslPipeline(fixture(name), engineShape(topology), new SharedInterner(createStringTable())).processorConfig;
      expect(await createDslProcessor(config)).toBeInstanceOf(BatchShardProcessor);
      expect(await createDslProcessor({ ...config, batch: false })).toBeInstanceOf(DslShardProcessor);
    }
    const tracking = compileBatchPlan(await loadTopology(fixture("driver-tracking.js")));
    expect(tracking).toMatchObject({ key: { kind: "geohash", precision: 5 }, value: { kind: "column", field: "speedKmh" }, op: "mean", needsRow: false });
    expect(compileBatchPlan(await loadTopology(fixture("region-fixes.js")))).toMatchObject({ key: { kind: "user" }, needsRow: true });
    expect(compileBatchPlan(await loadTopology(fixture("driver-speeds.js")))).toMatch(/windows are not TimeWindows|not a straight chain|no aggregate/);
  });

  it("a checkpoint taken mid-stream (open windows, unknown groupBy keys) restores into a new shard that then emits what the first would have", async () => {
    const topology = await loadTopology(fixture("batch-odd.js"));
    const interner = new SharedInterner(createStringTable());
    const config = dslPipeline(fixture("batch-odd.js"), engineShape(topology), interner).processorConfig;
    const next = mulberry32(17);
    const N = 512;
    const batches = shardBatches(12, N, () => ({ driverId: new Uint32Array(N), region: new Uint32Array(N), fare: new Float64Array(N), ts: new Float64Array(N),
      _off: new Float64Array(N), _wm: new Float64Array(N), _reason: new Uint8Array(N) }), (c, b, i) => {
      const t = 1_700_000_000_000 + (b * N + i) * 40 - (next() % 3_000) - (next() % 100 === 0 ? 30_000 : 0);
      c.driverId[i] = interner.intern(`d${next() % 20}`);
      c.region[i] = interner.intern(`r${next() % 5}`);
      c.fare[i] = next() % 100;
      c.ts[i] = t;
      return t;
    });
    const run = await checkpointRun(() => createDslProcessor(config), batches, N, 6);
    expect(run.first).toBeInstanceOf(BatchShardProcessor);
    expect(run.words).toBeGreaterThan(5);
    expect(run.area[4]).toBeGreaterThan(0); // unknown keys (1.5, -1, "nowhere") are in the checkpoint
    const whole = { log: run.whole };
    const split = { log: run.restored };
    expect(whole.log.filter((l) => l.startsWith("w")).length).toBeGreaterThan(20);
    expect(split.log).toEqual(whole.log);
  });

  for (const [module, input] of [
    ["driver-counts.js", "rides"], ["region-counts.js", "rides"], ["region-mean.js", "rides"], ["region-min.js", "rides"],
    ["region-max.js", "rides"], ["batch-odd.js", "rides"], ["region-fixes.js", "fixes"], ["driver-tracking.js", "fixes"],
  ] as const) {
    it(`${module}: the same outputs as the record-at-a-time executor, 1 and 2 workers`, async () => {
      const path = input === "rides" ? writeRides(module.length * 7, 6_000) : writeFixes(module.length * 5, 8_000);
      for (const workers of [1, 2]) {
        const record = await run(fixture(module), path, workers, false);
        const batch = await run(fixture(module), path, workers, true);
        expect(byType(record.outputs, "window")).toBeGreaterThan(20);
        expect(byType(record.outputs, "late")).toBeGreaterThan(3);
        expect(byType(record.outputs, "invalid")).toBeGreaterThan(3);
        expect(batch.lines).toEqual(record.lines);
        expect(batch.summary.outputs).toEqual(record.summary.outputs);
        if (module === "batch-odd.js") {
          const reasons = new Set(batch.outputs.filter((o) => o.type === "invalid").map((o) => o["reason"]));
          expect([...reasons].some((r) => /user function threw/.test(String(r)))).toBe(true);
          expect([...reasons].some((r) => /groupBy key/.test(String(r)))).toBe(true);
        }
      }
    });
  }

  for (const workers of [1, 2]) {
    it(`driver-tracking in the DSL gives the hand-written pipeline's windows (count and mean speed) and late records, ${workers} worker(s)`, async () => {
      const path = writeFixes(2026 + workers, 12_000);
      const handSink = new MemorySink();
      let c: Coordinator | undefined;
      const source = new JsonLinesFileSource(path, compileJsonDecoder(driverTracking.schema, new Interner()), (p, o, raw, reason) => c!.reject(p, o, raw, reason));
      c = new Coordinator({ pipeline: driverTracking, source, sink: handSink, workers, batchSize: 256 });
      const hand = await c.run();
      expect(hand.outputs["anomaly"]).toBe(0);
      expect(hand.outputs["late"]).toBeGreaterThan(5);
      expect(hand.outputs["invalid"]).toBeGreaterThan(5);
      const got = await run(fixture("driver-tracking.js"), path, workers, true);
      const handWindows = handSink.outputs.filter((o) => o.type === "window");
      const dslWindows = got.outputs.filter((o) => o.type === "window");
      expect(handWindows.length).toBeGreaterThan(50);
      const key = (region: unknown, start: unknown) => `${String(region)}|${String(start)}`;
      const want = new Map(handWindows.map((o) => [key(o["key"], o["windowStart"]), o]));
      expect(dslWindows.length).toBe(handWindows.length);
      for (const o of dslWindows) {
        const h = want.get(key(geohashIntToString(o["key"] as number, 5), o["windowStart"]));
        expect(h, JSON.stringify(o)).toBeDefined();
        expect(o["windowEnd"]).toBe(h!["windowEnd"]);
        expect(o["count"]).toBe(h!["count"]);
        if (h!["avgSpeedKmh"] === null) expect(o["value"]).toBeNull();
        else expect(Math.abs((o["value"] as number) - (h!["avgSpeedKmh"] as number))).toBeLessThan(1e-9);
      }
      expect(got.summary.outputs["late"]).toBe(hand.outputs["late"]);
      const lateKeys = (outputs: Output[]) => outputs.filter((o) => o.type === "late").map((o) => {
        const e = o["event"] as Record<string, unknown>;
        return `${String(e["driverId"])}|${String(e["ts"])}`;
      }).sort();
      expect(lateKeys(got.outputs)).toEqual(lateKeys(handSink.outputs));
    });
  }
});
