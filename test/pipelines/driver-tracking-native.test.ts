/**
 * driver-tracking through the real engine (Coordinator, Piscina shard workers running dist/) with
 * the native kernels and with the JS kernels: both must give the reference implementation's
 * outputs (test/support/driver-reference.ts) and exactly the same outputs as each other, means to
 * the last bit. Each worker thread loads the addon itself; RIPTIDE_NATIVE=1 makes a worker that
 * could not load it fail, so the native run proves the workers used it. Skipped (reason in the
 * name) when the addon is not built.
 */
import { afterAll, describe, expect, it } from "vitest";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { NATIVE_ENV, loadNativeKernels, nativeStatus, resetNativeKernels } from "../../src/kernels/native.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { MemorySink } from "../../src/sinks/sink.js";
import { DriverGenerator, type DriverColumns, type DriverGeneratorOptions } from "../../src/sources/driver-generator.js";
import { GeneratorSource } from "../../src/sources/generator-source.js";
import { diff, meanMismatches, multiset, referenceDriverTracking, type SourcedEvent } from "../support/driver-reference.js";

const saved = process.env[NATIVE_ENV];
afterAll(() => {
  if (saved === undefined) delete process.env[NATIVE_ENV];
  else process.env[NATIVE_ENV] = saved;
  resetNativeKernels();
});
resetNativeKernels();
const native = saved === "0" ? undefined : loadNativeKernels();
const why = native === undefined ? ` (skipped: ${nativeStatus().reason ?? "addon unavailable"})` : "";

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

async function run(env: string, options: Partial<DriverGeneratorOptions>, total: number, batch: number) {
  process.env[NATIVE_ENV] = env; // the Piscina workers copy the environment when the run starts them
  const sink = new MemorySink();
  const c = new Coordinator({
    pipeline: driverTracking, source: new GeneratorSource(new DriverGenerator(options), total), sink, workers: 2, batchSize: batch,
    idleTimeoutMs: 1e9,
  });
  const summary = await c.run();
  return { summary, outputs: sink.outputs };
}

describe.skipIf(native === undefined)(`driver-tracking with native and JS kernels${why}`, () => {
  it("both give the reference's outputs, identical to the last bit, on noisy data (2 workers)", async () => {
    // A wide city as well: thousands of regions per window, so the shards' window tables grow.
    const options: Partial<DriverGeneratorOptions> = {
      seed: 21, partitions: 8, drivers: 6000, outOfOrderShare: 0.05, lateShare: 0.01, invalidShare: 0.01,
      teleportShare: 0.005, speedMissingShare: 0.1,
      cities: [
        { name: "wide", lat: 48, lon: 8, radiusKm: 300, weight: 0.5 },
        { name: "Tokyo", lat: 35.6762, lon: 139.6503, radiusKm: 30, weight: 0.5 },
      ],
    };
    const total = 200_000;
    const batch = 1000;
    const referenceOutputs = referenceDriverTracking(sourceOrder(options, total, batch), options.partitions!);
    const reference = multiset(referenceOutputs, true);
    const nat = await run("1", options, total, batch);
    const js = await run("0", options, total, batch);
    for (const [name, r] of [["native", nat], ["js", js]] as const) {
      expect(r.summary.events, name).toBe(total);
      expect(diff(multiset(r.outputs, true), reference), name).toEqual([]);
      expect(meanMismatches(r.outputs, referenceOutputs), name).toEqual([]);
    }
    const exact = (o: Array<Record<string, unknown>>) => o.map((x) => JSON.stringify(x)).sort();
    expect(exact(nat.outputs)).toEqual(exact(js.outputs));
    expect(nat.summary.outputs).toEqual(js.summary.outputs);
    // The mix is what the test claims it is.
    const byType = (t: string) => referenceOutputs.filter((o) => o.type === t).length;
    expect(byType("window")).toBeGreaterThan(5000);
    expect(byType("late")).toBeGreaterThan(100);
    expect(byType("anomaly")).toBeGreaterThan(50);
    expect(byType("invalid")).toBeGreaterThan(300);
  });
});
