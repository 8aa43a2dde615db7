import { describe, expect, it } from "vitest";
import { Coordinator, defaultRingSlots } from "../../src/coordinator/coordinator.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { MemorySink, NullSink } from "../../src/sinks/sink.js";
import { DriverGenerator } from "../../src/sources/driver-generator.js";
import { GeneratorSource } from "../../src/sources/generator-source.js";
import type { Source } from "../../src/sources/source.js";

describe("Coordinator", () => {
  it("validates its options with messages naming them", () => {
    const base = { pipeline: driverTracking, source: new GeneratorSource(new DriverGenerator(), 10), sink: new NullSink() };
    expect(() => new Coordinator({ ...base, workers: 0 })).toThrow(/workers must be an integer from 1 to 256, got 0/);
    expect(() => new Coordinator({ ...base, workers: "2" as unknown as number })).toThrow(TypeError);
    expect(() => new Coordinator({ ...base, ringSlots: 6 })).toThrow(/ringSlots must be a power of two, got 6/);
    expect(() => new Coordinator({ ...base, rate: 0 })).toThrow(/rate must be a positive number/);
    expect(() => new Coordinator({ ...base, batchSize: 0 })).toThrow(/batchSize must be an integer/);
    // A batch the source cannot keep in flight could never be fed: refused, not waited on forever.
    const bounded = new GeneratorSource(new DriverGenerator(), 10);
    Object.defineProperty(bounded, "maxInFlight", { value: 1024 });
    expect(() => new Coordinator({ ...base, source: bounded, batchSize: 2048 })).toThrow(/batchSize 2048 is larger than the 1024 records the source can keep unacknowledged/);
    expect(() => new Coordinator({ ...base, source: bounded, batchSize: 1024 })).not.toThrow();
  });

  it("rings are deeper by default only for a source read in arrival order, and only as far as 8 MiB", () => {
    const driverBatch = driverTracking.inputLayout(2048).bytesPerSlot;
    expect(defaultRingSlots(driverBatch, true)).toBe(64);
    expect(defaultRingSlots(driverBatch, false)).toBe(16);
    expect(defaultRingSlots(200 << 10, true)).toBe(32); // 32 batches of 200 KiB fit 8 MiB, 64 do not
    expect(defaultRingSlots(1 << 20, true)).toBe(16); // batches with text: never below 16
  });

  it.each([1, 3])("a worker thread that dies (%i times) is restarted from its checkpoint: outputs identical to a run without failure", async (crashes) => {
    const total = 3_000_000;
    const run = async (crash: boolean) => {
      const sink = new MemorySink();
      const source = new GeneratorSource(new DriverGenerator({ seed: 3 }), total);
      const c = new Coordinator({ pipeline: driverTracking, source, sink, workers: 2, batchSize: 1024, ringSlots: 8, rate: 2_000_000 });
      if (crash) {
        // Crash k is asked for once (k + 1) / (crashes + 2) of the input is read: by progress, not
        // by a timer (a timer on a busy machine could fire after the run, or two for one restart).
        const fill = source.fill.bind(source);
        let read = 0;
        let k = 0;
        source.fill = (p, columns, max) => {
          const n = fill(p, columns, max);
          read += n;
          if (k < crashes && read >= ((k + 1) * total) / (crashes + 2)) c.crashWorker(k++ % 2);
          return n;
        };
      }
      const summary = await c.run();
      return { summary, processed: c.progress().processed, outputs: sink.outputs.map((o) => JSON.stringify(o)).sort() };
    };
    const clean = await run(false);
    const failed = await run(true);
    expect(failed.summary.workerRestarts).toBe(crashes);
    expect(failed.summary.events).toBe(total);
    expect(failed.processed).toBe(total);
    expect(failed.summary.outputs).toEqual(clean.summary.outputs);
    expect(failed.outputs.length).toBe(clean.outputs.length);
    expect(failed.outputs).toEqual(clean.outputs);
  });

  it("without checkpoints a restarted worker still processes every accepted record", async () => {
    const total = 2_000_000;
    const source = new GeneratorSource(new DriverGenerator({ seed: 3 }), total);
    const c = new Coordinator({ pipeline: driverTracking, source, sink: new MemorySink(), workers: 2, batchSize: 1024, ringSlots: 8, rate: 2_000_000, checkpointBytes: 0 });
    const fill = source.fill.bind(source);
    let read = 0;
    source.fill = (p, columns, max) => {
      const n = fill(p, columns, max);
      if (read < total / 3 && (read += n) >= total / 3) c.crashWorker(1);
      return n;
    };
    const summary = await c.run();
    expect(summary.workerRestarts).toBe(1);
    expect(c.progress().processed).toBe(total);
  });

  it("stops producing when aborted and flushes what it accepted", async () => {
    const abort = new AbortController();
    const sink = new MemorySink();
    const c = new Coordinator({
      pipeline: driverTracking, source: new GeneratorSource(new DriverGenerator({ seed: 5 })), sink, workers: 2,
      rate: 500_000, signal: abort.signal,
    });
    setTimeout(() => abort.abort(), 400);
    const summary = await c.run();
    expect(summary.events).toBeGreaterThan(0);
    expect(c.progress().processed).toBe(summary.events);
    expect(sink.outputs.filter((o) => o.type === "window").length).toBe(summary.outputs["window"]);
    expect(summary.outputs["window"]).toBeGreaterThan(0);
  });

  it.each<[boolean, number]>([
    [true, 4], [false, 4],
    // One partition for two shards: each batch is spread over the shards by key (scatterBatch).
    [true, 1], [false, 1],
  ])("records each record's latency from its entry time when the source knows it (runs: %s, partitions: %i)", async (runs, partitions) => {
    // Each batch: its first half entered 2 s ago, its second half just now. Per record, half the
    // latencies are small; with only the batch's oldest entry time, every record counts 2 s.
    const source = new GeneratorSource(new DriverGenerator({ seed: 9, partitions }), 200_000);
    const fill = source.fill.bind(source);
    let entered = 0;
    let half = 0;
    let n = 0;
    source.fill = (p, columns, max) => {
      n = fill(p, columns, max);
      entered = Date.now();
      half = n >> 1;
      return n;
    };
    const src = source as unknown as Source;
    src.enteredAt = () => entered - 2000;
    if (runs) {
      src.enteredRuns = (_p, ts, count, at) => {
        ts[at] = entered - 2000;
        count[at] = half;
        ts[at + 1] = entered;
        count[at + 1] = n - half;
        return 2;
      };
    }
    const c = new Coordinator({ pipeline: driverTracking, source, sink: new NullSink(), workers: 2, batchSize: 1000, rate: 2_000_000 });
    await c.run();
    const h = c.latencyHistogram;
    expect(h.total).toBe(200_000);
    expect(h.quantile(0.99)).toBeGreaterThanOrEqual(2000);
    if (runs) expect(h.quantile(0.4)).toBeLessThan(1000);
    else expect(h.quantile(0.01)).toBeGreaterThanOrEqual(2000);
    // The stage "source" (entry → published into a ring) by the same entry times, at publication.
    const s = c.stageLatency.source;
    expect(s.total).toBe(200_000);
    expect(s.quantile(0.99)).toBeGreaterThanOrEqual(2000);
    if (runs) expect(s.quantile(0.4)).toBeLessThan(1000);
    else expect(s.quantile(0.01)).toBeGreaterThanOrEqual(2000);
  });

  it("leaves an idle wait at the end of the input out of the run's seconds, whether the end flush emits or not", async () => {
    // 200 k events, then 1.5 s with nothing before the source reports its end (as --stop-when-idle).
    const total = 200_000;
    const idleMs = 1500;
    const source = new GeneratorSource(new DriverGenerator({ seed: 4 }), total);
    const fill = source.fill.bind(source);
    let lastDataAt = 0;
    let read = 0;
    source.fill = (p, columns, max) => {
      const n = fill(p, columns, max);
      read += n;
      if (n > 0) lastDataAt = Date.now();
      return n;
    };
    source.exhausted = () => read >= total && lastDataAt > 0 && Date.now() - lastDataAt > idleMs;
    const started = Date.now();
    const c = new Coordinator({ pipeline: driverTracking, source, sink: new NullSink(), workers: 2, batchSize: 1000 });
    const summary = await c.run();
    const wall = (Date.now() - started) / 1000;
    expect(wall).toBeGreaterThan(idleMs / 1000);
    // Before the fix: the first event → the last ACK (before the wait) less the whole wait: 0 here.
    expect(summary.seconds).toBeGreaterThan(0);
    expect(summary.seconds).toBeLessThan(wall - idleMs / 1000 + 0.2);
    expect(Math.abs(summary.eventsPerSec / (total / summary.seconds) - 1)).toBeLessThan(0.01);
  });
});
