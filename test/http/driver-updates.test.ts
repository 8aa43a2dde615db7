/**
 * driver-eta's WebSocket /driver-updates with real clients against `riptide run driver-eta --http`
 * as a real process: clients subscribed by region (at connect and by message) receive exactly
 * availability updates of their regions, each one an output the run also wrote to its file.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";
import { describe, expect, it } from "vitest";
import { riptide } from "../support/kafka.js";

function collect(ws: WebSocket): Array<Record<string, unknown>> {
  const got: Array<Record<string, unknown>> = [];
  ws.on("message", (d) => got.push(JSON.parse(d.toString()) as Record<string, unknown>));
  return got;
}

async function waitFor(f: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("WebSocket /driver-updates", () => {
  it("streams availability updates to clients subscribed by region", async () => {
    const dir = mkdtempSync(join(tmpdir(), "riptide-du-"));
    const file = join(dir, "out.jsonl");
    const run = riptide(["run", "driver-eta", "--events", "240000", "--rate", "30000", "--drivers", "400", "--http", "127.0.0.1:0",
      "--output", file, "--json", "--quiet"]);
    await waitFor(() => /"http-listening"/.test(run.stderr), 20_000);
    const url = (/"url":"(http:[^"]+)"/.exec(run.stderr)![1]!).replace("http:", "ws:");

    // A bad subscription is refused at connect.
    const refused = await new Promise<string>((resolve) => {
      const bad = new WebSocket(`${url}/driver-updates?regions=9q8y!`);
      bad.on("error", (err) => resolve(err.message));
      bad.on("open", () => resolve("opened"));
    });
    expect(refused).toMatch(/400/);

    const ny = new WebSocket(`${url}/driver-updates?regions=dr5`);
    const nyGot = collect(ny);
    const london = new WebSocket(`${url}/driver-updates`);
    const londonGot = collect(london);
    await Promise.all([ny, london].map((ws) => new Promise((r) => ws.on("open", r))));
    london.send(JSON.stringify({ subscribe: ["gcp", "u10"] }));
    london.send("not json");
    const code = await run.exited;
    expect(code, run.stderr).toBe(0);
    await waitFor(() => ny.readyState === WebSocket.CLOSED && london.readyState === WebSocket.CLOSED, 5000);

    const written = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((o) => o["type"] === "availability").map((o) => JSON.stringify(o));
    const writtenSet = new Set(written);
    expect(nyGot[0]).toEqual({ type: "subscribed", regions: ["dr5"] });
    const nyUpdates = nyGot.filter((m) => m["type"] === "availability");
    expect(nyUpdates.length).toBeGreaterThan(5);
    for (const m of nyUpdates) {
      expect(m["region"] as string).toMatch(/^dr5/);
      expect(writtenSet.has(JSON.stringify(m))).toBe(true);
    }
    expect(londonGot.find((m) => m["type"] === "subscribed" && (m["regions"] as string[]).length === 2)).toBeDefined();
    expect(londonGot.find((m) => m["type"] === "error")?.["error"]).toMatch(/must be JSON/);
    const londonUpdates = londonGot.filter((m) => m["type"] === "availability");
    expect(londonUpdates.length).toBeGreaterThan(5);
    for (const m of londonUpdates) {
      expect(m["region"] as string).toMatch(/^(gcp|u10)/);
      expect(writtenSet.has(JSON.stringify(m))).toBe(true);
    }
    // Matches carry the request and its ETA.
    const match = [...nyUpdates, ...londonUpdates].find((m) => m["available"] === false);
    expect(match?.["requestId"]).toMatch(/^req-/);
    expect(match?.["etaMinutes"] as number).toBeLessThanOrEqual(5);
  }, 120_000);
});
