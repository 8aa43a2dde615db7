/**
 * `riptide run pipelines/<name>.yaml`: the file's options merged under the command line's, and the
 * built CLI on the embedded generator (no services) giving what the same pipeline gives by name;
 * refused files exit 2 naming file:line:col; --redis turns the file's Redis sink on.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/cli/args.js";
import { parsePipelineConfig } from "../../src/config/pipeline-config.js";
import { pipelineFileArgs, runValues } from "../../src/config/run-options.js";
import { ROOT, riptide } from "../support/kafka.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-yaml-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string): string => join("pipelines", name);

describe("runValues", () => {
  const config = parsePipelineConfig(readFileSync(join(ROOT, "pipelines", "driver-eta.yaml"), "utf8"), "pipelines/driver-eta.yaml");

  it("on Kafka the file fills topics, partitions and the group (its name); the command line wins", () => {
    expect(runValues(config, { brokers: "b:9092" })).toEqual({
      brokers: "b:9092", "input-topic": "driver-locations,ride-requests", "output-topic": "eta-updates", partitions: "64", group: "driver-eta",
    });
    expect(runValues(config, { brokers: "b:9092", "input-topic": "a,b", partitions: "2", group: "g", json: true })).toEqual({
      brokers: "b:9092", "input-topic": "a,b", "output-topic": "eta-updates", partitions: "2", group: "g", json: true,
    });
  });

  it("without --brokers nothing of Kafka is set (the generator runs)", () => {
    expect(runValues(config, { events: "10" })).toEqual({ events: "10" });
  });

  it("--redis needs an enabled Redis sink in the file", () => {
    expect(() => runValues(config, { redis: "redis://127.0.0.1:6379" })).toThrow(UsageError);
    expect(() => runValues(config, { redis: "redis://127.0.0.1:6379" })).toThrow("--redis: pipelines/driver-eta.yaml has no enabled Redis sink (driver-eta writes nothing to Redis)");
  });

  it("one file, and not with --topology", () => {
    expect(() => pipelineFileArgs({ values: {}, positionals: ["a.yaml", "b.yaml"] })).toThrow("run takes one pipeline name or file, got a.yaml b.yaml");
    expect(() => pipelineFileArgs({ values: { topology: "t.js" }, positionals: ["a.yaml"] })).toThrow("--topology runs a DSL module; a.yaml is a pipeline file");
  });
});

interface Summary { pipeline: string; events: number; outputs: Record<string, number> }

async function run(args: string[]): Promise<Summary> {
  const p = riptide(["run", ...args, "--json", "--quiet"]);
  const code = await p.exited;
  expect(code, p.stderr).toBe(0);
  return JSON.parse(p.stdout.trim().split("\n").pop()!) as Summary;
}

function sortedLines(path: string): string[] {
  return readFileSync(path, "utf8").trim().split("\n").sort();
}

describe("riptide run pipelines/<name>.yaml on the embedded generator", () => {
  const common = ["--events", "20000", "--seed", "11", "--drivers", "800", "--workers", "2"];
  const cases: Array<[string, string, string[]]> = [
    ["engagement-analytics.yaml", "engagement-analytics", ["window", "session", "invalid", "late"]],
    ["driver-location-tracking.yaml", "driver-tracking", ["window", "invalid", "anomaly", "late"]],
    ["driver-eta.yaml", "driver-eta", ["eta", "availability", "invalid"]],
    ["message-delivery.yaml", "message-delivery", ["status", "delivery", "push", "stored", "forward", "session", "invalid"]],
  ];
  for (const [name, pipeline, outputs] of cases) {
    it(`${name} runs ${pipeline}: the same outputs as \`riptide run ${pipeline}\``, async () => {
      const fromFile = await run([file(name), ...common, "--output", join(dir, `${name}.jsonl`)]);
      const byName = await run([pipeline, ...common, "--output", join(dir, `${pipeline}.jsonl`)]);
      expect(fromFile.pipeline).toBe(pipeline);
      expect(fromFile.events).toBe(20_000);
      expect(Object.keys(fromFile.outputs)).toEqual(outputs);
      expect(fromFile.outputs[outputs[0]!]).toBeGreaterThan(0);
      expect(fromFile.outputs).toEqual(byName.outputs);
      // message-delivery encrypts with a fresh IV per message: its records differ run to run.
      if (pipeline !== "message-delivery") expect(sortedLines(join(dir, `${name}.jsonl`))).toEqual(sortedLines(join(dir, `${pipeline}.jsonl`)));
    }, 120_000);
  }

  it("a refused file exits 2 with file:line:col, the YAML path and the reason", async () => {
    const text = readFileSync(join(ROOT, "pipelines", "engagement-analytics.yaml"), "utf8").replace("- sum_watch_duration", "- sum_watch_lightyears");
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, text);
    const p = riptide(["run", bad, "--events", "100"]);
    expect(await p.exited).toBe(2);
    const line = text.slice(0, text.indexOf("sum_watch_lightyears")).split("\n").length;
    expect(p.stderr).toContain(`riptide: ${bad}:${line}:11 stream_pipeline.processors[0].operations[1]: unknown operation "sum_watch_lightyears" (known: count_by_content_id,`);
    expect(p.stdout).toBe("");
  });

  it("--redis with a file that has no Redis sink exits 2; --brokers takes the file's topics (--input-topic not needed)", async () => {
    const p = riptide(["run", file("driver-eta.yaml"), "--redis", "redis://127.0.0.1:6379", "--events", "100"]);
    expect(await p.exited).toBe(2);
    expect(p.stderr).toContain("riptide: --redis: pipelines/driver-eta.yaml has no enabled Redis sink");
    // The file's topics satisfy "--brokers needs --input-topic/--output-topic"; --events is still refused with --brokers.
    const k = riptide(["run", file("driver-eta.yaml"), "--brokers", "127.0.0.1:9092", "--events", "100"]);
    expect(await k.exited).toBe(2);
    expect(k.stderr).toContain("riptide: --events cannot be combined with --brokers");
  });

  it("--redis turns on the file's Redis sink: engagement-analytics.yaml writes rec:<userId>", async () => {
    const prefix = `riptide-yaml-${randomBytes(4).toString("hex")}:`;
    const redis = new Redis("redis://127.0.0.1:6379");
    try {
      const s = await run([file("engagement-analytics.yaml"), ...common, "--redis", "redis://127.0.0.1:6379", "--redis-prefix", prefix]);
      expect(s.outputs["session"]).toBeGreaterThan(0);
      const keys = await redis.keys(`${prefix}rec:*`);
      expect(keys.length).toBeGreaterThan(0);
      expect(JSON.parse((await redis.get(keys[0]!))!)).toBeInstanceOf(Array);
      expect(await redis.ttl(keys[0]!)).toBeGreaterThan(7000);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  }, 120_000);
});
