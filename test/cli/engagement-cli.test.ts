/**
 * engagement-analytics from the built CLI: the seeded generator with no services (outputs counted
 * by name, the same for 1 and 3 workers, windows enriched from the catalog, interactions counted in
 * sessions), a JSON-lines file of
 * views (no table: title and genre null; ids named), and bad options named.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EngagementGenerator, type ViewColumns } from "../../src/sources/engagement-generator.js";
import { riptide } from "../support/kafka.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-eng-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("riptide run engagement-analytics / loadgen --kind engagement", () => {
  it("runs on the seeded generator: enriched windows and sessions, the same counts for 1 and 3 workers", async () => {
    const summaries: Array<{ events: number; outputs: Record<string, number> }> = [];
    for (const workers of ["1", "3"]) {
      const out = join(dir, `gen-${workers}.jsonl`);
      const p = riptide(["run", "engagement-analytics", "--events", "40000", "--seed", "8", "--drivers", "500", "--workers", workers, "--json", "--quiet", "--output", out]);
      expect(await p.exited, p.stderr).toBe(0);
      summaries.push(JSON.parse(p.stdout.trim().split("\n").pop()!) as { events: number; outputs: Record<string, number> });
      const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      const w = lines.filter((o) => o["type"] === "window");
      expect(w.length).toBe(summaries.at(-1)!.outputs["window"]);
      expect(w.every((o) => typeof o["title"] === "string" && typeof o["genre"] === "string")).toBe(true);
      const s = lines.find((o) => o["type"] === "session" && (o["genres"] as string[]).length > 0)!;
      expect(s["userId"]).toMatch(/^user-\d+$/);
      // The generator interleaves user interactions; sessions count them.
      expect(lines.filter((o) => o["type"] === "session" && (o["interactions"] as number) > 0).length).toBeGreaterThan(100);
      expect(lines.some((o) => o["type"] === "invalid" && (o["event"] as Record<string, unknown>)["action"] === "dislike")).toBe(true);
    }
    const [a, b] = summaries;
    expect(a!.events).toBe(40_000);
    expect(Object.keys(a!.outputs)).toEqual(["window", "session", "invalid", "late"]);
    expect(a!.outputs["window"]).toBeGreaterThan(1000);
    expect(a!.outputs["session"]).toBeGreaterThan(100);
    expect(b!.outputs).toEqual(a!.outputs);
  }, 90_000);

  it("reads views from a JSON-lines file: ids named, no table (title and genre null)", async () => {
    const gen = new EngagementGenerator({ seed: 2, users: 50, contents: 20, partitions: 1, invalidShare: 0, lateShare: 0 });
    const cols: ViewColumns = { userId: new Uint32Array(2000), contentId: new Uint32Array(2000), watchSeconds: new Float64Array(2000), durationSeconds: new Float64Array(2000), ts: new Float64Array(2000) };
    gen.fill(0, cols, 0, 2000);
    const input = join(dir, "views.jsonl");
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) lines.push(JSON.stringify(gen.toEvent(cols, i)));
    writeFileSync(input, lines.join("\n") + "\n{\"userId\":\"u\",\"contentId\":\"c\",\"watchSeconds\":-1,\"durationSeconds\":10,\"ts\":1}\n");
    const out = join(dir, "file-out.jsonl");
    const p = riptide(["run", "engagement-analytics", "--input", input, "--output", out, "--workers", "2", "--json", "--quiet"]);
    expect(await p.exited, p.stderr).toBe(0);
    const outs = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const w = outs.find((o) => o["type"] === "window")!;
    expect(w["contentId"]).toMatch(/^content-\d+$/);
    expect(w["title"]).toBeNull();
    const s = outs.find((o) => o["type"] === "session")!;
    expect(s["userId"]).toMatch(/^user-\d+$/);
    expect(s["genres"]).toEqual([]);
    expect(outs.filter((o) => o["type"] === "invalid").map((o) => o["reason"])).toEqual(["watchSeconds must be within [0, 10000000]"]);
    expect(outs.filter((o) => o["type"] === "window").reduce((a, o) => a + (o["views"] as number), 0)).toBe(2000);
  }, 60_000);

  it.each([
    [["run", "engagement-analytics", "--brokers", "127.0.0.1:9092", "--input-topic", "views", "--output-topic", "o"], /engagement-analytics reads two topics, views and the content-metadata table/],
    [["run", "engagement-analytics", "--brokers", "127.0.0.1:9092", "--input-topic", "v,m,i,x", "--output-topic", "o"], /engagement-analytics reads two topics, views and the content-metadata table, and optionally a third, user interactions/],
    [["loadgen", "--brokers", "127.0.0.1:9092", "--topic", "a", "--rate", "10", "--events", "1", "--kind", "engagement"], /--kind engagement needs --topic VIEWS,METADATA/],
    [["loadgen", "--brokers", "127.0.0.1:9092", "--topic", "a,b,c,d", "--rate", "10", "--events", "1", "--kind", "engagement"], /or VIEWS,METADATA,INTERACTIONS/],
    [["loadgen", "--brokers", "127.0.0.1:9092", "--topic", "a,b", "--rate", "10", "--events", "1", "--kind", "engagement", "--format", "frame"], /--kind engagement produces JSON only/],
  ])("rejects %j", async (args, message) => {
    const p = riptide(args as string[]);
    expect(await p.exited).toBe(2);
    expect(p.stderr).toMatch(message as RegExp);
  });
});
