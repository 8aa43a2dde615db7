/**
 * surge-pricing against a plain reference implementation (test/support/surge-reference.ts): the
 * embedded ride generator with 1, 2 and 4 workers, and a one-partition file with bad lines spread
 * over 3 workers. Every figure is an integer (or a multiplier computed from integers), so the
 * comparison is exact.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { surgePricing } from "../../src/pipelines/surge-pricing/edge.js";
import { Interner } from "../../src/schema/interner.js";
import { MemorySink } from "../../src/sinks/sink.js";
import type { Source } from "../../src/sources/source.js";
import { JsonLinesFileSource } from "../../src/sources/file-source.js";
import { compileJsonDecoder } from "../../src/sources/json.js";
import { RideGenerator, type RideGeneratorOptions } from "../../src/sources/ride-generator.js";
import { RideGeneratorSource } from "../../src/sources/ride-generator-source.js";
import { diff, type SourcedEvent } from "../support/driver-reference.js";
import { rideSourceOrder } from "../support/ride-events.js";
import { referenceSurgePricing } from "../support/surge-reference.js";

const OPTIONS: Partial<RideGeneratorOptions> = {
  drivers: 1500, requestShare: 0.01, outOfOrderShare: 0.03, lateShare: 0.002, invalidShare: 0.002, teleportShare: 0.001,
};

function canonical(o: Record<string, unknown>): string {
  if (o["type"] === "window") {
    return `window|${o["key"]}|${o["windowStart"]}|${o["windowEnd"]}|${o["requests"]}|${o["drivers"]}|${o["surgeMultiplier"]}`;
  }
  return `${o["type"]}|${o["type"] === "invalid" ? o["reason"] : ""}|${JSON.stringify(o["event"])}`;
}

function multiset(outputs: Array<Record<string, unknown>>): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of outputs) m.set(canonical(o), (m.get(canonical(o)) ?? 0) + 1);
  return m;
}

async function runEngine(source: Source, workers: number, batchSize: number) {
  const sink = new MemorySink();
  const c = new Coordinator({ pipeline: surgePricing, source, sink, workers, batchSize, idleTimeoutMs: 1e9 });
  return { summary: await c.run(), outputs: sink.outputs, coordinator: c };
}

describe("surge-pricing", () => {
  it("gives the reference's windows and side outputs, the same with 1, 2 and 4 workers", async () => {
    const options = { ...OPTIONS, seed: 21, partitions: 8 };
    const total = 300_000;
    const batch = 800;
    const events = rideSourceOrder(options, total, batch);
    const reference = referenceSurgePricing(events, 8) as unknown as Array<Record<string, unknown>>;
    const expected = multiset(reference);
    const windows = reference.filter((o) => o["type"] === "window");
    // The data is what the test claims: requests, surge in hotspots, 1.0 elsewhere, late and invalid records.
    const requests = events.filter((e) => typeof (e.event as Record<string, unknown>)["requestId"] === "string").length;
    expect(requests).toBeGreaterThan(total * 0.005);
    expect(windows.length).toBeGreaterThan(1000);
    expect(windows.filter((w) => (w["surgeMultiplier"] as number) > 1).length).toBeGreaterThan(20);
    expect(windows.filter((w) => w["surgeMultiplier"] === 3).length).toBeGreaterThan(0);
    expect(windows.filter((w) => w["surgeMultiplier"] === 1).length).toBeGreaterThan(windows.length / 4);
    expect(reference.filter((o) => o["type"] === "late").length).toBeGreaterThan(10); // 75–600 s behind: most still fall in an open 10-minute window
    expect(reference.filter((o) => o["type"] === "invalid").length).toBeGreaterThan(50);
    let first: string[] | undefined;
    for (const workers of [1, 2, 4]) {
      const { summary, outputs } = await runEngine(new RideGeneratorSource(new RideGenerator(options), total), workers, batch);
      expect(summary.events).toBe(total);
      expect(diff(multiset(outputs), expected), `workers=${workers}`).toEqual([]);
      expect(summary.outputs).toEqual({
        window: windows.length,
        invalid: reference.filter((o) => o["type"] === "invalid").length,
        late: reference.filter((o) => o["type"] === "late").length,
      });
      const exact = outputs.map((o) => JSON.stringify(o)).sort();
      if (first === undefined) first = exact;
      else expect(exact, `workers=${workers}`).toEqual(first);
    }
    const w = first!.map((s) => JSON.parse(s) as Record<string, unknown>).find((o) => o["type"] === "window")!;
    expect(Object.keys(w)).toEqual(["type", "key", "windowStart", "windowEnd", "requests", "drivers", "surgeMultiplier"]);
  }, 240_000);

  it("a worker that dies restarts from its checkpoint (windows, seen drivers): outputs unchanged", async () => {
    const options = { ...OPTIONS, seed: 31, partitions: 4 };
    const total = 300_000;
    const reference = referenceSurgePricing(rideSourceOrder(options, total, 1000), 4) as unknown as Array<Record<string, unknown>>;
    const sink = new MemorySink();
    const c = new Coordinator({
      pipeline: surgePricing, source: new RideGeneratorSource(new RideGenerator(options), total), sink, workers: 2, batchSize: 1000,
      ringSlots: 8, rate: 150_000, idleTimeoutMs: 1e9,
    });
    const timers = [setTimeout(() => c.crashWorker(0), 500), setTimeout(() => c.crashWorker(1), 1100)];
    const summary = await c.run();
    timers.forEach(clearTimeout);
    expect(summary.workerRestarts).toBe(2);
    expect(diff(multiset(sink.outputs), multiset(reference))).toEqual([]);
  }, 120_000);

  it("matches the reference on a one-partition file with bad lines, spread over 3 workers", async () => {
    const events = rideSourceOrder({ ...OPTIONS, seed: 4, partitions: 1 }, 120_000, 1000);
    const junk = [
      "not json at all",
      '{"requestId": "", "lat": 40.7, "lon": -74.0, "ts": 1700000100000}',
      '{"requestId": "req-x", "lat": 91, "lon": -74.0, "ts": 1700000100000}',
      '{"requestId": "req-y", "lat": 40.7, "lon": -74.0}',
      '{"driverId": "drv-z", "lat": 0, "lon": 0, "ts": 1700000100000}',
    ];
    const lines: string[] = [];
    const sourced: SourcedEvent[] = [];
    events.forEach((e, i) => {
      if (i % 20_000 === 10_000 && junk.length > 0) {
        const text = junk.shift()!;
        lines.push(text);
        let parsed: unknown;
        try { parsed = JSON.parse(text); } catch { parsed = undefined; }
        sourced.push(parsed === undefined ? { partition: 0, event: text, notJson: true } : { partition: 0, event: parsed });
      }
      lines.push(JSON.stringify(e.event));
      sourced.push(e);
    });
    const dir = mkdtempSync(join(tmpdir(), "riptide-surge-"));
    const file = join(dir, "rides.jsonl");
    writeFileSync(file, lines.join("\n") + "\n");
    const reference = referenceSurgePricing(sourced, 1) as unknown as Array<Record<string, unknown>>;
    let coordinator: Coordinator | undefined;
    const source = new JsonLinesFileSource(file, compileJsonDecoder(surgePricing.schema, new Interner()),
      (p, off, raw, reason) => coordinator!.reject(p, off, raw, reason));
    const sink = new MemorySink();
    coordinator = new Coordinator({ pipeline: surgePricing, source, sink, workers: 3, batchSize: 500, idleTimeoutMs: 1e9 });
    await coordinator.run();
    expect(coordinator.progress().processedByWorker.filter((x) => x > 0)).toHaveLength(3);
    expect(diff(multiset(sink.outputs), multiset(reference))).toEqual([]);
    expect(sink.outputs.filter((o) => o.type === "invalid").length).toBeGreaterThanOrEqual(5);
  }, 120_000);
});
