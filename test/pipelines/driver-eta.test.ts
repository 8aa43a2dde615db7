/**
 * driver-eta against a plain reference implementation (test/support/eta-reference.ts) on the
 * seeded ride generator: every ETA update, every availability change and match, the invalid
 * records. Floating-point figures are compared to 9 significant digits (the engine's haversine
 * kernel and the reference's formula may differ in the last bit).
 */
import { describe, expect, it } from "vitest";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { driverEta } from "../../src/pipelines/driver-eta/edge.js";
import { MemorySink } from "../../src/sinks/sink.js";
import { RideGenerator } from "../../src/sources/ride-generator.js";
import { RideGeneratorSource } from "../../src/sources/ride-generator-source.js";
import { diff } from "../support/driver-reference.js";
import { etaKey, referenceDriverEta } from "../support/eta-reference.js";
import { rideSourceOrder } from "../support/ride-events.js";

function multiset(outputs: Array<Record<string, unknown>>): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of outputs) m.set(etaKey(o), (m.get(etaKey(o)) ?? 0) + 1);
  return m;
}

describe("driver-eta", () => {
  it("gives the reference's ETA updates, matches and availability changes (one shard holds the matching state)", async () => {
    const options = { drivers: 400, partitions: 8, seed: 17, requestShare: 0.004, invalidShare: 0.002 };
    const total = 120_000;
    const batch = 1000;
    const reference = referenceDriverEta(rideSourceOrder(options, total, batch), 8);
    const count = (t: string, f: (o: Record<string, unknown>) => boolean = () => true) => reference.filter((o) => o["type"] === t && f(o)).length;
    // The data exercises what the test claims: ETAs, matches, drivers released after a hold, invalid records.
    expect(count("eta")).toBeGreaterThan(10_000);
    expect(count("availability", (o) => o["available"] === false)).toBeGreaterThan(100);
    const released = reference.filter((o) => o["type"] === "availability" && o["available"] === true).length - 400;
    expect(released).toBeGreaterThan(20);
    expect(count("invalid")).toBeGreaterThan(100);
    // A request is matched once, a driver holds one match at a time.
    const matched = reference.filter((o) => o["available"] === false).map((o) => o["requestId"]);
    expect(new Set(matched).size).toBe(matched.length);

    const sink = new MemorySink();
    const coordinator = new Coordinator({
      pipeline: driverEta, source: new RideGeneratorSource(new RideGenerator(options), total), sink, workers: 4, batchSize: batch, idleTimeoutMs: 1e9,
    });
    const summary = await coordinator.run();
    expect(summary.workers).toBe(1); // maxWorkers: the matching state is global
    expect(summary.outputs).toEqual({ eta: count("eta"), availability: count("availability"), invalid: count("invalid") });
    expect(diff(multiset(sink.outputs), multiset(reference))).toEqual([]);
    const eta = sink.outputs.find((o) => o.type === "eta")!;
    expect(Object.keys(eta)).toEqual(["type", "driverId", "requestId", "etaMinutes", "distanceKm", "trafficMultiplier", "ts"]);
    expect(eta["requestId"]).toMatch(/^req-\d{9}$/);
  }, 180_000);

  it("a worker that dies restarts from its checkpoint (open requests, drivers, region speeds): outputs unchanged", async () => {
    const options = { drivers: 400, partitions: 8, seed: 23, requestShare: 0.004 };
    const total = 120_000;
    const reference = referenceDriverEta(rideSourceOrder(options, total, 500), 8);
    const sink = new MemorySink();
    const c = new Coordinator({
      pipeline: driverEta, source: new RideGeneratorSource(new RideGenerator(options), total), sink, batchSize: 500, ringSlots: 8,
      rate: 60_000, idleTimeoutMs: 1e9,
    });
    const timers = [setTimeout(() => c.crashWorker(0), 500), setTimeout(() => c.crashWorker(0), 1200)];
    const summary = await c.run();
    timers.forEach(clearTimeout);
    expect(summary.workerRestarts).toBe(2);
    expect(diff(multiset(sink.outputs), multiset(reference))).toEqual([]);
  }, 120_000);
});
