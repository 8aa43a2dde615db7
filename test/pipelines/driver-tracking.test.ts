/**
 * The main job against a plain reference implementation: a seeded file with out-of-order, late,
 * invalid and teleporting fixes plus undecodable lines, and the embedded generator with 1, 2 and 4
 * workers (same multiset of outputs every time).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { Interner } from "../../src/schema/interner.js";
import { MemorySink } from "../../src/sinks/sink.js";
import { DriverGenerator, type DriverColumns, type DriverGeneratorOptions } from "../../src/sources/driver-generator.js";
import { JsonLinesFileSource } from "../../src/sources/file-source.js";
import { GeneratorSource } from "../../src/sources/generator-source.js";
import { compileJsonDecoder } from "../../src/sources/json.js";
import { diff, meanMismatches, multiset, referenceDriverTracking, type SourcedEvent } from "../support/driver-reference.js";

const NOISY: Partial<DriverGeneratorOptions> = {
  drivers: 400, outOfOrderShare: 0.05, lateShare: 0.01, invalidShare: 0.01, teleportShare: 0.005, speedMissingShare: 0.1,
};

/** The generator's events in the order the coordinator reads them: round-robin, `batch` per partition. */
function sourceOrder(options: Partial<DriverGeneratorOptions>, total: number, batch: number): SourcedEvent[] {
  const gen = new DriverGenerator(options);
  const cols: DriverColumns = {
    driver: new Uint32Array(batch), lat: new Float64Array(batch), lon: new Float64Array(batch),
    ts: new Float64Array(batch), speed: new Float64Array(batch),
  };
  const out: SourcedEvent[] = [];
  let remaining = total;
  for (let p = 0; remaining > 0; p = (p + 1) % gen.partitions) {
    const n = Math.min(batch, remaining);
    gen.fill(p, cols, 0, n);
    for (let i = 0; i < n; i++) out.push({ partition: p, event: DriverGenerator.toEvent(cols, i, (id) => gen.driverName(id)) });
    remaining -= n;
  }
  return out;
}

async function runEngine(source: GeneratorSource | JsonLinesFileSource, workers: number, batchSize: number, sink = new MemorySink()) {
  const c = new Coordinator({ pipeline: driverTracking, source, sink, workers, batchSize, idleTimeoutMs: 1e9 });
  return { coordinator: c, summary: await c.run(), outputs: sink.outputs };
}

describe("driver-tracking", () => {
  it("matches the reference on a file with out-of-order, late, invalid, teleporting and undecodable lines", async () => {
    const events = sourceOrder({ ...NOISY, partitions: 1, seed: 7 }, 60_000, 1000);
    const lines = events.map((e) => JSON.stringify(e.event));
    // Hand-made bad input at seeded places: not JSON, wrong types, Infinity, non-objects.
    const junk: Array<[string, boolean]> = [
      ["this is not json", true],
      ['{"driverId": 17, "lat": 37.7, "lon": -122.4, "ts": 1700000100000}', false],
      ['{"driverId": "drv-x", "lat": "37.7", "lon": -122.4, "ts": 1700000100000}', false],
      ['{"driverId": "drv-x", "lat": 1e999, "lon": -122.4, "ts": 1700000100000}', false],
      ['{"driverId": "drv-x", "lat": 37.7, "lon": -122.4}', false],
      ["[1, 2, 3]", false],
      ["null", false],
      ['{"driverId": "drv-x", "lat": 37.7, "lon": 181, "ts": 1700000100000}', false],
      ['{"driverId": "drv-x", "lat": 0, "lon": 0, "ts": 1700000100000}', false],
      ['{"driverId": "", "lat": 37.7, "lon": -122.4, "ts": 1700000100000}', false],
      ['{"driverId": "drv-y", "lat": 37.7', true],
    ];
    const sourced: SourcedEvent[] = [];
    const fileLines: string[] = [];
    let j = 0;
    for (let i = 0; i < lines.length; i++) {
      if (i % 5000 === 2500 && j < junk.length) {
        const [text, notJson] = junk[j++]!;
        fileLines.push(text);
        sourced.push(notJson ? { partition: 0, event: text, notJson } : { partition: 0, event: JSON.parse(text) });
      }
      fileLines.push(lines[i]!);
      sourced.push(events[i]!);
    }
    fileLines.push("", "   "); // blank lines are skipped, not events
    const dir = mkdtempSync(join(tmpdir(), "riptide-dt-"));
    const file = join(dir, "fixes.jsonl");
    writeFileSync(file, fileLines.join("\n") + "\n");

    const reference = referenceDriverTracking(sourced, 1);
    let coordinator: Coordinator | undefined;
    const source = new JsonLinesFileSource(file, compileJsonDecoder(driverTracking.schema, new Interner()),
      (p, off, raw, reason) => coordinator!.reject(p, off, raw, reason));
    const sink = new MemorySink();
    coordinator = new Coordinator({ pipeline: driverTracking, source, sink, workers: 2, batchSize: 512, idleTimeoutMs: 1e9 });
    const summary = await coordinator.run();
    // One partition, two workers: records were spread by driver, both workers took a share.
    const perWorker = coordinator.progress().processedByWorker;
    expect(perWorker).toHaveLength(2);
    expect(Math.min(...perWorker)).toBeGreaterThan(10_000);

    const engine = sink.outputs;
    const a = multiset(engine, true);
    const b = multiset(reference, true);
    expect(diff(a, b)).toEqual([]);
    expect(meanMismatches(engine, reference)).toEqual([]);
    expect(summary.events).toBe(sourced.length);
    const byType = (t: string) => reference.filter((o) => o.type === t).length;
    expect(summary.outputs).toEqual({ window: byType("window"), invalid: byType("invalid"), anomaly: byType("anomaly"), late: byType("late") });
    // The mix is what the test claims it is.
    expect(byType("late")).toBeGreaterThan(100);
    expect(byType("anomaly")).toBeGreaterThan(50);
    expect(byType("invalid")).toBeGreaterThan(300);
    // Side outputs say why, and carry the event as received.
    const notJson = engine.find((o) => o.type === "invalid" && o["event"] === "this is not json");
    expect(notJson?.["reason"]).toMatch(/^not valid JSON/);
    const late = engine.find((o) => o.type === "late")!;
    expect(late["reason"]).toMatch(/^window \[\d+, \d+\) closed at watermark \d+ .* ms behind the watermark$/);
    const anomaly = engine.find((o) => o.type === "anomaly")!;
    expect(anomaly["reason"]).toMatch(/ km\/h since the driver's last fix at \d+ exceeds 250 km\/h$/);
    const w = engine.find((o) => o.type === "window")!;
    expect(Object.keys(w)).toEqual(["type", "key", "windowStart", "windowEnd", "count", "avgSpeedKmh"]);
  });

  it("spreads a one-partition file by key: the same outputs with 1, 3 and 4 workers", async () => {
    const events = sourceOrder({ ...NOISY, partitions: 1, seed: 13 }, 40_000, 1000);
    const dir = mkdtempSync(join(tmpdir(), "riptide-dt-"));
    const file = join(dir, "fixes.jsonl");
    writeFileSync(file, events.map((e) => JSON.stringify(e.event)).join("\n"));
    const reference = referenceDriverTracking(events, 1);
    let first: string[] | undefined;
    for (const workers of [1, 3, 4]) {
      const source = new JsonLinesFileSource(file, compileJsonDecoder(driverTracking.schema, new Interner()), () => undefined);
      const { outputs, coordinator } = await runEngine(source as unknown as GeneratorSource, workers, 1000);
      expect(diff(multiset(outputs, true), multiset(reference, true)), `workers=${workers}`).toEqual([]);
      expect(coordinator.progress().processedByWorker.filter((x) => x > 0)).toHaveLength(workers);
      const exact = outputs.map((o) => JSON.stringify(o)).sort();
      if (first === undefined) first = exact;
      else expect(exact, `workers=${workers}`).toEqual(first);
    }
  });

  it("gives the reference's outputs, the same with 1, 2 and 4 workers, on the generator's 16 partitions", async () => {
    const options = { ...NOISY, seed: 11, partitions: 16 };
    const total = 150_000;
    const batch = 700;
    const referenceOutputs = referenceDriverTracking(sourceOrder(options, total, batch), 16);
    const reference = multiset(referenceOutputs, true);
    let first: string[] | undefined;
    for (const workers of [1, 2, 4]) {
      const { summary, outputs } = await runEngine(new GeneratorSource(new DriverGenerator(options), total), workers, batch);
      expect(summary.events).toBe(total);
      expect(summary.workers).toBe(workers);
      expect(diff(multiset(outputs, true), reference), `workers=${workers}`).toEqual([]);
      expect(meanMismatches(outputs, referenceOutputs), `workers=${workers}`).toEqual([]);
      // Identical, not merely close, across worker counts: means included, to the last bit.
      const exact = outputs.map((o) => JSON.stringify(o)).sort();
      if (first === undefined) first = exact;
      else expect(exact, `workers=${workers}`).toEqual(first);
    }
  });
});
