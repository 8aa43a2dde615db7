/** The status line's terminal handling, on a stand-in stream that records what is written. */
import { describe, expect, it } from "vitest";
import { StatusLine, statusText } from "../../src/cli/status.js";
import type { Progress } from "../../src/coordinator/coordinator.js";

function stream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, out: { isTTY, write: (s: string) => { writes.push(s); return true; } } as unknown as NodeJS.WriteStream };
}

const progress: Progress = {
  events: 1_500_000, processed: 1_450_000, elapsedSeconds: 10, eventsPerSec: 145_000, latencyMs: { p50: 1.5, p99: 12.25 },
  ringFill: 0.25, outputs: { window: 10, late: 2, invalid: 3, anomaly: 1 }, workerRestarts: 0, watermark: 0,
  processedByWorker: [725_000, 725_000], ringFillByWorker: [0.2, 0.3], deadLetters: 0, assignedPartitions: 4,
  stateEntriesByWorker: [5, 6], stateBytesByWorker: [1024, 2048],
};

describe("StatusLine", () => {
  it("on a terminal: rewrites one line; a log line erases it, is printed, and the line is redrawn under it", () => {
    const { writes, out } = stream(true);
    const s = new StatusLine(out);
    s.above("{\"event\":\"start\"}\n"); // nothing shown yet: printed as is
    s.show("A");
    s.show("B");
    s.above("{\"event\":\"assign\"}\n");
    s.done();
    s.above("{\"event\":\"stop\"}\n");
    expect(writes).toEqual([
      "{\"event\":\"start\"}\n", "\r\x1b[2KA", "\r\x1b[2KB", "\r\x1b[2K{\"event\":\"assign\"}\nB", "\n", "{\"event\":\"stop\"}\n",
    ]);
  });

  it("on a terminal: a line wider than the terminal is cut to fit (a wrapped line could not be rewritten)", () => {
    const { writes, out } = stream(true);
    (out as { columns?: number }).columns = 10;
    const s = new StatusLine(out);
    s.show("0123456789abcdef");
    s.show("short");
    expect(writes).toEqual(["\r\x1b[2K01234567…", "\r\x1b[2Kshort"]);
  });

  it("off a terminal: plain lines, no control characters", () => {
    const { writes, out } = stream(false);
    const s = new StatusLine(out);
    s.show("A");
    s.above("{\"x\":1}\n");
    s.show("B");
    s.done();
    expect(writes).toEqual(["A\n", "{\"x\":1}\n", "B\n"]);
  });
});

describe("statusText", () => {
  it("shows lag, dead letters and restarts only when there are some", () => {
    expect(statusText(progress, 145_000)).toBe(
      "145.0 kevents/s | 1.4 M events | latency p50 1.50 ms p99 12.25 ms | ring 25% | windows 10 late 2 invalid 3 anomaly 1",
    );
    expect(statusText({ ...progress, deadLetters: 7, workerRestarts: 1 }, 2_500_000, { lag: () => 123_456 })).toBe(
      "2.50 Mevents/s | 1.4 M events | latency p50 1.50 ms p99 12.25 ms | ring 25% | windows 10 late 2 invalid 3 anomaly 1 | lag 123 k | dlq 7 | restarts 1",
    );
  });
});
