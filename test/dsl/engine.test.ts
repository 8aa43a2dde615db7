/**
 * DSL topologies on the worker engine (real worker threads over the SharedArrayBuffer rings, via
 * the Coordinator): the outputs equal those of the TopologyTestDriver on the same input, with 1 and
 * 2 workers. Workers run the built JavaScript (`npm run build` / `npx tsc -p .`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TopologyTestDriver } from "riptide";
import { engineShape, loadTopology, runTopology } from "../../src/dsl/engine.js";
import { MemorySink } from "../../src/sinks/sink.js";
import { mulberry32 } from "../support/random.js";
import { canonical } from "./sharded.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-dsl-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Seeded fixes: 40 drivers, out of order by up to ±15 s, some late, some invalid. */
function writeFixes(seed: number, n: number): { path: string; events: Record<string, unknown>[] } {
  const next = mulberry32(seed);
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const jitter = (next() % 30_001) - 15_000;
    let ts: unknown = 1_700_000_000_000 + i * 400 + jitter;
    if (next() % 200 === 0) ts = (ts as number) - 120_000; // late
    if (next() % 300 === 0) ts = "soon"; // invalid
    const id = next() % 40;
    events.push({ driverId: id === 39 ? "x-39" : `d${id}`, speedKmh: (next() % 1200) / 10 - 5, ts });
  }
  const path = join(dir, `fixes-${seed}.jsonl`);
  writeFileSync(path, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
  return { path, events };
}

async function viaDriver(module: string, topic: string, events: Record<string, unknown>[]) {
  const d = new TopologyTestDriver(await loadTopology(module));
  const input = d.createInputTopic(topic === "speeds" || topic === "fix-counts" ? "fixes" : topic);
  for (const e of events) input.pipeInput(e["driverId"], e, typeof e["ts"] === "number" ? (e["ts"] as number) : Number.NaN);
  d.flush();
  const windows = d.createOutputTopic(topic).readRecordsToList().map((r) => [r.key, r.windowStart, r.windowEnd, r.value, r.timestamp]);
  return { windows, late: d.createOutputTopic("riptide-late").getQueueSize(), invalid: d.createOutputTopic("riptide-invalid").getQueueSize() };
}

async function viaEngine(module: string, path: string, workers: number) {
  const sink = new MemorySink();
  const summary = await runTopology(module, { input: path, sink, workers, batchSize: 256 });
  const windows = sink.outputs.filter((o) => o.type === "window").map((o) => [o["key"], o["windowStart"], o["windowEnd"], o["value"], o["timestamp"]]);
  expect(sink.outputs.filter((o) => o.type === "window" && o["error"])).toEqual([]);
  return { windows, late: sink.outputs.filter((o) => o.type === "late").length, invalid: sink.outputs.filter((o) => o.type === "invalid").length, summary, sink };
}

describe("a topology module on the worker engine", () => {
  const counts = resolve("test/dsl/fixtures/driver-counts.js");
  const speeds = resolve("test/dsl/fixtures/driver-speeds.js");

  for (const workers of [1, 2]) {
    it(`hopping count (typed path): the same windows, late and invalid records as the TopologyTestDriver, ${workers} worker(s)`, async () => {
      const { path, events } = writeFixes(7, 6_000);
      const expected = await viaDriver(counts, "fix-counts", events);
      const got = await viaEngine(counts, path, workers);
      expect(expected.windows.length).toBeGreaterThan(500);
      expect(expected.late).toBeGreaterThan(5);
      expect(expected.invalid).toBeGreaterThan(5);
      expect(canonical(got.windows)).toEqual(canonical(expected.windows));
      expect(got.late).toBe(expected.late);
      expect(got.invalid).toBe(expected.invalid);
      expect(got.summary.events).toBe(6_000);
      const late = got.sink.outputs.find((o) => o.type === "late")!;
      expect(late["latenessMs"]).toBeGreaterThan(0);
      expect((late["event"] as Record<string, unknown>)["driverId"]).toBe(late["key"]);
    });

    it(`user functions (filter, mapValues) and session windows in the workers, ${workers} worker(s)`, async () => {
      const { path, events } = writeFixes(11, 4_000);
      const expected = await viaDriver(speeds, "speeds", events);
      const got = await viaEngine(speeds, path, workers);
      expect(expected.windows.length).toBeGreaterThan(40);
      expect(expected.windows.some((w) => w[0] === "x-39")).toBe(false); // filtered out
      expect(canonical(got.windows)).toEqual(canonical(expected.windows));
      expect(got.late).toBe(expected.late);
    });
  }

  for (const op of ["counts", "mean", "max", "min", "sum"]) {
    it(`groupBy(region) ${op}: per-worker partials merged at window close equal the TopologyTestDriver, 1 and 2 workers`, async () => {
      const module = resolve(`test/dsl/fixtures/region-${op}.js`);
      const next = mulberry32(op.length * 31);
      const events: Record<string, unknown>[] = [];
      for (let i = 0; i < 5_000; i++) {
        const ts = 1_700_000_000_000 + i * 50 - (next() % 4_000) - (next() % 150 === 0 ? 20_000 : 0);
        events.push({ driverId: `d${next() % 50}`, region: `r${next() % 6}`, fare: next() % 100, ts });
      }
      const path = join(dir, `rides-${op}.jsonl`);
      writeFileSync(path, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
      const d = new TopologyTestDriver(await loadTopology(module));
      const input = d.createInputTopic("rides");
      for (const e of events) input.pipeInput(e["driverId"], e, e["ts"] as number);
      d.flush();
      const expected = d.createOutputTopic("per-region").readRecordsToList().map((r) => [r.key, r.windowStart, r.windowEnd, r.value, r.timestamp]);
      const late = d.createOutputTopic("riptide-late").getQueueSize();
      expect(expected.length).toBeGreaterThan(30);
      expect(late).toBeGreaterThan(3);
      for (const workers of [1, 2]) {
        const got = await viaEngine(module, path, workers);
        expect(canonical(got.windows)).toEqual(canonical(expected));
        expect(got.late).toBe(late);
      }
    });
  }

  it("driver-tracking's window counts, written in the DSL (filter, groupBy geohash-5, count), equal the hand-written pipeline's", async () => {
    const next = mulberry32(99);
    const lines: string[] = [];
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 8_000; i++) {
      const d = next() % 40;
      let ts = t0 + i * 60 - (next() % 5_000);
      if (next() % 250 === 0) ts -= 30_000; // late
      // A driver's position is a function of time (about 4 km/h): no fix looks like a > 250 km/h jump.
      const lat = 37.7 + (d % 10) * 0.05 + (ts - t0) * 1e-8;
      const lon = -122.4 + Math.floor(d / 10) * 0.05;
      const bad = next() % 200 === 0;
      lines.push(JSON.stringify({ driverId: `driver-${d}`, lat: bad ? 0 : lat, lon: bad ? 0 : lon, ts: bad ? ts - 60_000 : ts, speedKmh: 4 }));
    }
    const path = join(dir, "driver-fixes.jsonl");
    writeFileSync(path, lines.join("\n") + "\n");

    const { Coordinator } = await import("../../src/coordinator/coordinator.js");
    const { driverTracking } = await import("../../src/pipelines/driver-tracking/edge.js");
    const { Interner } = await import("../../src/schema/interner.js");
    const { compileJsonDecoder } = await import("../../src/sources/json.js");
    const { JsonLinesFileSource } = await import("../../src/sources/file-source.js");
    const { geohashIntToString } = await import("../../src/kernels/geohash.js");
    const handSink = new MemorySink();
    let c: InstanceType<typeof Coordinator> | undefined;
    const source = new JsonLinesFileSource(path, compileJsonDecoder(driverTracking.schema, new Interner()), (p, o, raw, reason) => c!.reject(p, o, raw, reason));
    c = new Coordinator({ pipeline: driverTracking, source, sink: handSink, workers: 2, batchSize: 256 });
    const hand = await c.run();
    expect(hand.outputs["anomaly"]).toBe(0);
    expect(hand.outputs["late"]).toBeGreaterThan(5);
    const handWindows = handSink.outputs.filter((o) => o.type === "window").map((o) => [o["key"], o["windowStart"], o["count"]]);

    const got = await viaEngine(resolve("test/dsl/fixtures/region-fixes.js"), path, 2);
    expect(got.windows.length).toBeGreaterThan(100);
    expect(canonical(got.windows.map((w) => [geohashIntToString(w[0] as number, 5), w[1], w[3]]))).toEqual(canonical(handWindows));
    expect(got.late).toBe(hand.outputs["late"]);
  });

  for (const [name, module] of [["count per driver (u32 key ids)", "driver-counts.js"], ["groupBy region count (string keys, partials)", "region-counts.js"]]) {
    it(`${name}: workers that die are replaced from their checkpoints, and the outputs equal a run without failure`, async () => {
      const next = mulberry32(5);
      const lines: string[] = [];
      for (let i = 0; i < 300_000; i++) {
        const ts = 1_700_000_000_000 + i * 20 - (next() % 3_000);
        lines.push(JSON.stringify({ driverId: `d${next() % 500}`, region: `r${next() % 20}`, fare: 1, speedKmh: 10, ts }));
      }
      const path = join(dir, `crash-${module}`);
      writeFileSync(path, lines.join("\n") + "\n");
      const run = async (crash: boolean) => {
        const sink = new MemorySink();
        const timers: NodeJS.Timeout[] = [];
        const summary = await runTopology(resolve(`test/dsl/fixtures/${module}`), {
          input: path, sink, workers: 2, batchSize: 1024, ringSlots: 8, rate: 150_000,
          onCoordinator: (c) => {
            if (crash) timers.push(setTimeout(() => c.crashWorker(0), 500), setTimeout(() => c.crashWorker(1), 1_100));
          },
        });
        timers.forEach(clearTimeout);
        return { summary, outputs: sink.outputs.map((o) => JSON.stringify(o)).sort() };
      };
      const clean = await run(false);
      const failed = await run(true);
      expect(failed.summary.workerRestarts).toBe(2);
      expect(clean.outputs.length).toBeGreaterThan(100);
      expect(failed.summary.outputs).toEqual(clean.summary.outputs);
      expect(failed.outputs).toEqual(clean.outputs);
    });
  }

  it("refuses, with the reason, what does not run on the engine yet", async () => {
    expect(() => engineShape({ nodes: [] } as never)).toThrow(/exactly one stream source/);
    await expect(runTopology(resolve("test/dsl/fixtures/rekeyed-table-join.js"), { input: join(dir, "none.jsonl") }))
      .rejects.toThrow(/with-region joins a re-keyed stream with a KTable/);
    // State per partition (exactly-once across processes) needs partitions that can move whole.
    // A repartition then goes through a Kafka topic (repartitionTopic), one downstream of another too.
    await expect(runTopology(resolve("test/dsl/fixtures/page-windows.js"), { input: join(dir, "none.jsonl"), taskState: true }))
      .rejects.toThrow(/state per partition for a topology that groups by a new key needs a source and repartitionTopic/);
    await expect(runTopology(resolve("test/dsl/fixtures/rekeyed-twice.js"), { input: join(dir, "none.jsonl"), taskState: true }))
      .rejects.toThrow(/state per partition for a topology that groups by a new key needs a source and repartitionTopic/);
  });
});
