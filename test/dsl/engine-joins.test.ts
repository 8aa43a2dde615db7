/**
 * Joins on the worker engine (real worker threads, several input files side by side, outputs as
 * JSON through the output rings' byte areas), against a plain reference computed here, with 1
 * and 2 workers. Inputs are generated so that no record is late (disorder well under the join
 * window): then the join's result does not depend on how the inputs interleave.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runTopology, topologyShape } from "../../src/dsl/engine.js";
import { loadTopology } from "../../src/dsl/engine-common.js";
import { MemorySink } from "../../src/sinks/sink.js";
import { mulberry32 } from "../support/random.js";
import { canonical } from "./sharded.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-dsl-joins-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeLines(name: string, rows: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n") + "\n");
  return path;
}

const T0 = 1_700_000_000_000;

describe("stream-stream join on the engine (ride requests × driver locations within 1 minute)", () => {
  const next = mulberry32(11);
  const regions = Array.from({ length: 12 }, (_, i) => `gh${i}`);
  const requests: { requestId: string; region: string; ts: number }[] = [];
  const locations: { driverId: string; region: string; ts: number }[] = [];
  // 10 minutes of traffic; each record's time is its slot ± 5 s (the window is 60 s).
  for (let i = 0; i < 1_500; i++) {
    const at = T0 + i * 400;
    requests.push({ requestId: `r${i}`, region: regions[next() % regions.length]!, ts: at + (next() % 10_001) - 5_000 });
    locations.push({ driverId: `d${next() % 300}`, region: regions[next() % regions.length]!, ts: at + (next() % 10_001) - 5_000 });
  }
  const files = { "ride-requests": writeLines("requests.jsonl", [...requests, "{not json", { requestId: "bad", region: "gh1", ts: "soon" }]), "driver-locations": writeLines("locations.jsonl", locations) };

  /** Left join by hand: every pair of the same region within 60 s; a request with none, once, with null. */
  function reference(): unknown[] {
    const out: unknown[] = [];
    for (const r of requests) {
      const hits = locations.filter((l) => l.region === r.region && Math.abs(l.ts - r.ts) <= 60_000);
      if (hits.length === 0) out.push([r.region, r.requestId, null]);
      for (const l of hits) out.push([r.region, r.requestId, l.driverId]);
    }
    return canonical(out);
  }

  it("runs in the general form (several inputs, object outputs)", async () => {
    const shape = topologyShape(await loadTopology(resolve("test/dsl/fixtures/ride-join.js")));
    expect("mode" in shape && shape.inputs.map((i) => i.topic)).toEqual(["ride-requests", "driver-locations"]);
  });

  for (const workers of [1, 2]) {
    it(`${workers} worker(s): the same matches as the reference; bad records reported as invalid`, async () => {
      const sink = new MemorySink();
      const summary = await runTopology(resolve("test/dsl/fixtures/ride-join.js"), { input: files, sink, workers, batchSize: 128 });
      const matches = sink.outputs.filter((o) => o.type === "ride-matches");
      const got = canonical(matches.map((o) => {
        const v = o["value"] as { requestId: string; driverId: string | null };
        return [o["key"], v.requestId, v.driverId];
      }));
      const expected = reference();
      expect(expected.length).toBeGreaterThan(2_000);
      expect(got).toEqual(expected);
      expect(summary.outputs["ride-matches"]).toBe(expected.length);
      expect(summary.outputs["riptide-late"] ?? 0).toBe(0);
      // The unparseable line and the one without a valid event time.
      expect(summary.outputs["invalid"]).toBe(2);
      const reasons = sink.outputs.filter((o) => o.type === "invalid").map((o) => String(o["reason"]));
      expect(reasons).toEqual(expect.arrayContaining([expect.stringMatching(/not valid JSON/), expect.stringMatching(/no valid event time/)]));
    });
  }
});

describe("stream-table join on the engine (messages enriched with user profiles)", () => {
  const next = mulberry32(5);
  const profiles = Array.from({ length: 200 }, (_, i) => ({ userId: `u${i}`, name: `User ${i}`, tier: i % 3 }));
  const messages: { messageId: string; senderId: string; bytes: number; ts: number }[] = [];
  for (let i = 0; i < 4_000; i++) {
    // u200…u219 have no profile: an inner join drops their messages.
    messages.push({ messageId: `m${i}`, senderId: `u${next() % 220}`, bytes: next() % 50, ts: T0 + i * 100 });
  }
  // One message id longer than a text field holds (252 bytes of UTF-8): invalid, with the reason.
  const files = { messages: writeLines("messages.jsonl", [...messages, { messageId: "é".repeat(127), senderId: "u1", bytes: 5, ts: T0 }]), "user-profiles": writeLines("profiles.jsonl", profiles) };

  function reference(): unknown[] {
    const byId = new Map(profiles.map((p) => [p.userId, p]));
    return canonical(messages.filter((m) => m.bytes > 0 && byId.has(m.senderId)).map((m) => [m.senderId, m.messageId, byId.get(m.senderId)!.name, byId.get(m.senderId)!.tier]));
  }

  for (const workers of [1, 2]) {
    it(`${workers} worker(s): the table is loaded first, then every message meets its sender's profile`, async () => {
      const sink = new MemorySink();
      const summary = await runTopology(resolve("test/dsl/fixtures/profile-enrich.js"), { input: files, sink, workers, batchSize: 64 });
      const got = canonical(sink.outputs.filter((o) => o.type === "enriched-messages").map((o) => {
        const v = o["value"] as { messageId: string; sender: string; tier: number };
        return [o["key"], v.messageId, v.sender, v.tier];
      }));
      const expected = reference();
      expect(expected.length).toBeGreaterThan(3_000);
      expect(got).toEqual(expected);
      expect(summary.outputs["invalid"]).toBe(1);
      expect(sink.outputs.filter((o) => o.type === "invalid").map((o) => o["reason"])).toEqual(["a text field is longer than 252 bytes of UTF-8"]);
    });
  }

  it("refuses a file map that misses a topic, naming it", async () => {
    await expect(runTopology(resolve("test/dsl/fixtures/profile-enrich.js"), { input: { messages: files.messages } })).rejects.toThrow(/no input file for topic user-profiles/);
    await expect(runTopology(resolve("test/dsl/fixtures/profile-enrich.js"), { input: files.messages })).rejects.toThrow(/reads 2 topics \(user-profiles, messages\): give a file per topic/);
  });
});

describe("stream-global-table join on the engine (views × the content catalog, not co-partitioned)", () => {
  const next = mulberry32(9);
  const catalog = Array.from({ length: 300 }, (_, i) => ({ contentId: `c${i}`, title: `Title ${i}`, genre: ["drama", "comedy", "docs"][i % 3] }));
  const views = Array.from({ length: 5_000 }, (_, i) => ({ userId: `u${next() % 400}`, contentId: `c${next() % 330}`, watchSec: next() % 3_600, ts: T0 + i * 50 }));
  const files = { "user-views": writeLines("views.jsonl", views), "content-metadata": writeLines("catalog.jsonl", catalog) };

  for (const workers of [1, 2]) {
    it(`${workers} worker(s): every shard holds the whole catalog; each view gets its content's genre (null for unknown content)`, async () => {
      const sink = new MemorySink();
      const summary = await runTopology(resolve("test/dsl/fixtures/content-enrich.js"), { input: files, sink, workers, batchSize: 64 });
      const genre = new Map(catalog.map((c) => [c.contentId, c.genre]));
      const expected = canonical(views.map((v) => [v.userId, v.contentId, v.watchSec, genre.get(v.contentId) ?? null]));
      const got = canonical(sink.outputs.filter((o) => o.type === "enriched-views").map((o) => {
        const v = o["value"] as { contentId: string; watchSec: number; genre: string | null; title: string | null };
        expect(v.title).toBe(v.genre === null ? null : `Title ${v.contentId.slice(1)}`);
        return [o["key"], v.contentId, v.watchSec, v.genre];
      }));
      expect(got).toEqual(expected);
      expect(expected.filter((e) => (e as unknown[])[3] === null).length).toBeGreaterThan(100);
      // Catalog records are events once, however many shards hold them.
      expect(summary.events).toBe(views.length + catalog.length);
    });
  }
});

