/** `riptide run --topology`: the built CLI, as a user runs it (a real process, real worker threads). */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "riptide-dsl-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("riptide run --topology", () => {
  it("runs a topology module over a JSON-lines file on 2 workers and writes windows, invalid records and a summary", () => {
    const input = join(dir, "in.jsonl");
    const lines: string[] = [];
    for (let i = 0; i < 1_200; i++) lines.push(JSON.stringify({ driverId: `d${i % 3}`, speedKmh: 20, ts: 1_700_000_000_000 + i * 100 }));
    lines.push("{broken", JSON.stringify({ driverId: "d0", speedKmh: 1, ts: null }));
    writeFileSync(input, lines.join("\n") + "\n");
    const output = join(dir, "out.jsonl");
    const stdout = execFileSync(process.execPath, ["bin/riptide.js", "run", "--topology", "test/dsl/fixtures/driver-counts.js", "--input", input,
      "--output", output, "--workers", "2", "--json"], { encoding: "utf8" });
    const summary = JSON.parse(stdout.trim().split("\n").at(-1)!);
    expect(summary).toMatchObject({ events: 1_202, workers: 2, outputs: { invalid: 2, late: 0 } });
    const outs = readFileSync(output, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    // 120 s of fixes, 3 drivers, hopping 60 s / 20 s windows: every window start from 60 s before the first fix.
    const d0 = outs.filter((o) => o.type === "window" && o.key === "d0");
    expect(d0.map((o) => o.windowStart - 1_700_000_000_000)).toEqual([-40_000, -20_000, 0, 20_000, 40_000, 60_000, 80_000, 100_000]);
    expect(d0.find((o) => o.windowStart === 1_700_000_000_000).value).toBe(200); // 600 records of 60 s at 100 ms, every third
    expect(outs.filter((o) => o.type === "invalid").map((o) => o.reason)).toEqual([expect.stringMatching(/not valid JSON/), expect.stringMatching(/no valid event time/)]);
  });

  it("rejects options of the built-in pipelines and a missing module, naming them (exit code 2)", () => {
    const a = spawnSync(process.execPath, ["bin/riptide.js", "run", "--topology", "test/dsl/fixtures/driver-counts.js", "--input", "x.jsonl", "--rate", "5"], { encoding: "utf8" });
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/--rate cannot be combined with --topology/);
    const b = spawnSync(process.execPath, ["bin/riptide.js", "run", "--topology", "nope.js", "--input", "x.jsonl"], { encoding: "utf8" });
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/--topology nope.js: no such file/);
    // The repartition topics' purge interval: with --instance-id only, a whole number of ms (checked before any connection).
    const chain = ["bin/riptide.js", "run", "--topology", "test/kafka/fixtures/region-chain-tasks.js", "--brokers", "127.0.0.1:9", "--guarantee", "exactly-once"];
    const c = spawnSync(process.execPath, [...chain, "--purge-interval", "500"], { encoding: "utf8" });
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/--purge-interval needs --instance-id/);
    const d = spawnSync(process.execPath, [...chain, "--instance-id", "a", "--purge-interval", "-1"], { encoding: "utf8" });
    expect(d.status).toBe(2);
    expect(d.stderr).toMatch(/--purge-interval/);
    const e = spawnSync(process.execPath, ["bin/riptide.js", "run", "--topology", "test/dsl/fixtures/driver-counts.js", "--input", "x.jsonl", "--purge-interval", "5"], { encoding: "utf8" });
    expect(e.status).toBe(2);
    expect(e.stderr).toMatch(/--purge-interval needs --brokers/);
  });

  it("logs a start and a stop line as the built-in pipelines do; --log-level filters them, --quiet alone silences them", () => {
    const input = join(dir, "log.jsonl");
    writeFileSync(input, Array.from({ length: 200 }, (_, i) => JSON.stringify({ driverId: `d${i % 3}`, speedKmh: 20, ts: 1_700_000_000_000 + i * 100 })).join("\n") + "\n");
    const run = (...extra: string[]) => spawnSync(process.execPath, ["bin/riptide.js", "run", "--topology", "test/dsl/fixtures/driver-counts.js", "--input", input,
      "--sink", "null", "--workers", "1", "--json", ...extra], { encoding: "utf8" });
    const events = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    const plain = run();
    expect(plain.status, plain.stderr).toBe(0);
    const lines = events(plain.stderr);
    expect(lines.map((l) => l["event"])).toEqual(["start", "stop"]);
    expect(lines[0]).toMatchObject({ level: "info", pipeline: "dsl:test/dsl/fixtures/driver-counts.js", source: "file", logLevel: "info" });
    expect(lines[1]).toMatchObject({ status: "done", events: 200 });
    expect(events(run("--log-level", "warn").stderr)).toEqual([]);
    expect(events(run("--quiet").stderr)).toEqual([]);
    expect(events(run("--quiet", "--log-level", "debug").stderr).map((l) => l["event"])).toEqual(["start", "stop"]);
    const bad = run("--log-level", "loud");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--log-level must be one of/);
    const lag = run("--alert-lag", "5", "--alert-command", "true");
    expect(lag.status).toBe(2);
    expect(lag.stderr).toMatch(/--alert-lag needs --brokers/);
  });
});
