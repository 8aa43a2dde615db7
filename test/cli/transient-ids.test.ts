/**
 * Per-event ids (a schema's transient fields) keep their string for the latest --transient-ids of
 * them only. An output naming an older one carries "" — never silently: the run logs a warning
 * and its summary counts them. driver-eta keeps open requests for minutes, so its ETA outputs can
 * name a request whose id was handed out long before.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { riptide } from "../support/kafka.js";

const T0 = 1_700_000_000_000;
/** Three ride requests at one pickup point, then two drivers close by: each driver gets an ETA for every open request. */
const EVENTS = [
  { requestId: "req-a", lat: 37.7749, lon: -122.4194, ts: T0 },
  { requestId: "req-b", lat: 37.7750, lon: -122.4195, ts: T0 + 1000 },
  { requestId: "req-c", lat: 37.7751, lon: -122.4196, ts: T0 + 2000 },
  { driverId: "drv-1", lat: 37.7760, lon: -122.4180, ts: T0 + 3000, speedKmh: 30 },
  { driverId: "drv-2", lat: 37.7770, lon: -122.4170, ts: T0 + 4000, speedKmh: 30 },
];

async function run(extra: string[]): Promise<{ summary: Record<string, unknown>; outputs: Array<Record<string, unknown>>; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), "riptide-transient-"));
  const input = join(dir, "rides.jsonl");
  const output = join(dir, "out.jsonl");
  writeFileSync(input, EVENTS.map((e) => JSON.stringify(e)).join("\n") + "\n");
  const p = riptide(["run", "driver-eta", "--input", input, "--output", output, "--json", "--quiet", ...extra]);
  expect(await p.exited).toBe(0);
  const outputs = readFileSync(output, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  return { summary: JSON.parse(p.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>, outputs, stderr: p.stderr };
}

const etaIds = (outputs: Array<Record<string, unknown>>): unknown[] => outputs.filter((o) => o["type"] === "eta").map((o) => o["requestId"]);

describe("riptide run --transient-ids", () => {
  it("names every request with the default capacity, and reports no miss", async () => {
    const { summary, outputs, stderr } = await run([]);
    expect(etaIds(outputs).length).toBeGreaterThanOrEqual(3);
    for (const id of etaIds(outputs)) expect(id).toMatch(/^req-[abc]$/);
    expect(summary["transientMisses"]).toBeUndefined();
    expect(stderr).not.toContain("transient-miss");
  });

  it("with room for one id, outputs naming older requests carry \"\" and are counted and logged", async () => {
    const { summary, outputs, stderr } = await run(["--transient-ids", "1"]);
    const ids = etaIds(outputs);
    const blank = outputs.filter((o) => o["requestId"] === "").length;
    // The latest request keeps its name; the older ones do not.
    expect(ids).toContain("req-c");
    expect(ids).not.toContain("req-a");
    expect(blank).toBeGreaterThan(0);
    expect(summary["transientMisses"]).toBe(blank);
    const warning = stderr.split("\n").filter((l) => l.includes("\"event\":\"transient-miss\"")).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warning.length).toBeGreaterThan(0);
    expect(warning.at(-1)!["total"]).toBe(blank);
    expect(warning[0]!["level"]).toBe("warn");
    expect(String(warning[0]!["msg"])).toContain("--transient-ids");
  });

  it.each([
    [["--transient-ids", "0"], /--transient-ids/],
    [["--transient-ids", "1.5"], /--transient-ids/],
    [["--transient-ids", String(2 ** 26 + 1)], /--transient-ids/],
  ])("rejects %j", async (args, message) => {
    const p = riptide(["run", "driver-eta", "--input", "/dev/null", ...args]);
    expect(await p.exited).toBe(2);
    expect(p.stderr).toMatch(message);
  });

  it("is refused on the generator, which names its ids itself", async () => {
    const p = riptide(["run", "payments", "--events", "10", "--transient-ids", "100"]);
    expect(await p.exited).toBe(2);
    expect(p.stderr).toMatch(/--transient-ids applies to JSON input/);
  });
});
