/** The CLI as a user runs it: a real child process of bin/riptide.js (built JS). */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const BIN = join(__dirname, "..", "..", "bin", "riptide.js");

function riptide(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("riptide CLI", () => {
  it.each([
    [["run", "--workers", "0"], /--workers must be at least 1, got 0/],
    [["run", "--workers", "two"], /--workers must be a number, got "two"/],
    [["run", "--bogus"], /unknown option --bogus/],
    [["run", "--rate", "-5"], /--rate must be at least 1, got -5/],
    [["run", "--events", "1.5"], /--events must be an integer, got 1.5/],
    [["run", "--ring-slots", "12"], /--ring-slots must be a power of two, got 12/],
    [["run", "--sink", "kafka"], /--sink must be null, console or file, got "kafka"/],
    [["run", "--sink", "file"], /--sink file needs --output FILE/],
    [["run", "--input", "/nonexistent/file.jsonl"], /--input \/nonexistent\/file.jsonl: no such file/],
    [["run", "no-such-pipeline"], /unknown pipeline "no-such-pipeline"/],
    [["run", "--events"], /option --events needs a value/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["run", "payments", "--brokers", "127.0.0.1:1", "--input-topic", "t", "--output-topic", "o", "--guarantee", "exactly-once", "--instance-id", "a b"], /--instance-id must be 1-64 letters, digits/],
    [["run", "payments", "--brokers", "127.0.0.1:1", "--input-topic", "t", "--output-topic", "o", "--instance-id", "a"], /--instance-id needs --guarantee exactly-once/],
    [["run", "payments", "--instance-id", "a", "--guarantee", "exactly-once"], /--instance-id needs --brokers|--guarantee needs --brokers/],
    [["run", "--topology", "test/dsl/fixtures/fix-tasks.js", "--brokers", "127.0.0.1:1", "--guarantee", "exactly-once", "--instance-id", "x".repeat(65)], /--instance-id must be 1-64 letters/],
  ])("rejects %j with exit code 2 and a message naming it", (args, message) => {
    const r = riptide(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("--help lists every run option", () => {
    const r = riptide("run", "--help");
    expect(r.code).toBe(0);
    for (const opt of ["--input", "--output", "--workers", "--rate", "--events", "--duration", "--json", "--sink", "--quiet"]) {
      expect(r.stdout).toContain(opt);
    }
  });

  it("lists the pipelines", () => {
    const r = riptide("pipelines");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^driver-tracking\s+\S/m);
  });

  it("--json ends a generator run with one summary line of the documented shape", () => {
    const r = riptide("run", "--events", "300000", "--workers", "2", "--json", "--quiet");
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]!);
    expect(Object.keys(s).slice(0, 8)).toEqual(["pipeline", "events", "seconds", "eventsPerSec", "workers", "outputs", "latencyMs", "workerRestarts"]);
    expect(s.pipeline).toBe("driver-tracking");
    expect(s.events).toBe(300000);
    expect(s.workers).toBe(2);
    expect(Object.keys(s.outputs)).toEqual(["window", "invalid", "anomaly", "late"]);
    expect(s.outputs.window).toBeGreaterThan(0);
    expect(s.latencyMs.p99).toBeGreaterThanOrEqual(s.latencyMs.p50);
    expect(s.eventsPerSec).toBeGreaterThan(0);
  });

  it("--input/--output: a file in, every output out as JSON lines, counted in the summary", () => {
    const dir = mkdtempSync(join(tmpdir(), "riptide-cli-"));
    const input = join(dir, "in.jsonl");
    const output = join(dir, "out.jsonl");
    const t0 = 1_700_000_000_000;
    const lines = [
      { driverId: "d1", lat: 37.77, lon: -122.42, ts: t0, speedKmh: 30 },
      { driverId: "d1", lat: 37.771, lon: -122.421, ts: t0 + 5000, speedKmh: 40 },
      { driverId: "d2", lat: 37.77, lon: -122.42, ts: t0 + 6000 },
      { driverId: "d1", lat: 48.85, lon: 2.35, ts: t0 + 10_000, speedKmh: 40 }, // SF → Paris in 5 s
      { driverId: "", lat: 1, lon: 1, ts: t0 + 11_000 },
      { driverId: "d3", lat: 37.7, lon: -122.4, ts: t0 + 200_000 },
      { driverId: "d2", lat: 37.77, lon: -122.42, ts: t0 + 7000 }, // window [t0.., +60 s) closed at 200 s
    ].map((e) => JSON.stringify(e));
    writeFileSync(input, [...lines, "{oops"].join("\n"));
    const r = riptide("run", "--input", input, "--output", output, "--json", "--quiet");
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout.trim());
    expect(s.events).toBe(8);
    expect(s.outputs).toEqual({ window: 2, invalid: 2, anomaly: 1, late: 1 });
    const out = readFileSync(output, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(out).toHaveLength(6);
    const w0 = Math.floor(t0 / 60_000) * 60_000;
    expect(out).toContainEqual({ type: "window", key: "9q8yy", windowStart: w0, windowEnd: w0 + 60_000, count: 3, avgSpeedKmh: 35 });
    expect(out.find((o) => o.type === "anomaly").event).toEqual(JSON.parse(lines[3]!));
    expect(out.find((o) => o.type === "late").event).toEqual(JSON.parse(lines[6]!));
    const reasons = out.filter((o) => o.type === "invalid").map((o) => o.reason as string).sort();
    expect(reasons[0]).toBe("driverId must be a non-empty string");
    expect(reasons[1]).toMatch(/^not valid JSON/);
  });
});
