/**
 * What the shard workers publish in their control blocks: state store sizes in the coordinator's
 * snapshots, and the restore log line of a replacement worker (through the real pino logger).
 */
import { describe, expect, it } from "vitest";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { createRunLogger } from "../../src/log/logger.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { NullSink } from "../../src/sinks/sink.js";
import { DriverGenerator } from "../../src/sources/driver-generator.js";
import { GeneratorSource } from "../../src/sources/generator-source.js";

describe("worker state in snapshots and logs", () => {
  it("a worker that dies logs worker-restart, then restore from its checkpoint; state sizes are published per worker", async () => {
    const lines: string[] = [];
    const logs = createRunLogger({ write: (l) => lines.push(l) });
    const total = 2_000_000;
    const c = new Coordinator({
      pipeline: driverTracking, source: new GeneratorSource(new DriverGenerator({ seed: 9 }), total),
      sink: new NullSink(), workers: 2, batchSize: 1024, ringSlots: 8, rate: 2_000_000, onLog: logs.log,
    });
    const sizes: Array<{ entries: number[]; bytes: number[] }> = [];
    let crashed = false;
    const sampler = setInterval(() => {
      const p = c.progress();
      sizes.push({ entries: p.stateEntriesByWorker, bytes: p.stateBytesByWorker });
      // Crash worker 1 once it has checkpointed some work (a loaded machine may start it late).
      if (!crashed && p.processedByWorker[1]! > 200_000) {
        crashed = true;
        c.crashWorker(1);
      }
    }, 20);
    const summary = await c.run();
    clearInterval(sampler);
    logs.close();
    expect(summary.workerRestarts).toBe(1);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const restart = parsed.find((l) => l["event"] === "worker-restart");
    const restore = parsed.find((l) => l["event"] === "restore");
    expect(restart).toMatchObject({ level: "warn", worker: 1 });
    expect(restore).toMatchObject({ level: "warn", worker: 1, start: 2, restoredFrom: "checkpoint" });
    expect(restore!["checkpointSeq"]).toBeGreaterThanOrEqual(0);
    expect(restore!["pendingBatches"]).toBeGreaterThanOrEqual(0);
    expect(parsed.indexOf(restore!)).toBeGreaterThan(parsed.indexOf(restart!));
    // Both workers held open windows at some point, with their table's bytes.
    for (const w of [0, 1]) {
      expect(sizes.some((s) => s.entries[w]! > 0), `worker ${w} entries`).toBe(true);
      expect(sizes.some((s) => s.bytes[w]! > 0), `worker ${w} bytes`).toBe(true);
    }
  });
});
