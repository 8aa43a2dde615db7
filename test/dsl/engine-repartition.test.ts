/**
 * Repartitioning on the worker engine (real worker threads): a stream keyed by one field is
 * grouped by another, so its records move between shards through the coordinator. Every result
 * is checked against a plain reference computed here, with 1, 2 and 3 workers; records far behind
 * the watermark go to the late output, records within grace are counted; a worker that dies
 * mid-stream loses and repeats nothing. Records of each page arrive from every shard.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runTopology, topologyShape } from "../../src/dsl/engine.js";
import { loadTopology } from "../../src/dsl/engine-common.js";
import { repartitionEdges } from "../../src/dsl/repartition.js";
import { StreamsBuilder, TimeWindows, JoinWindows } from "../../src/index.js";
import { MemorySink } from "../../src/sinks/sink.js";
import { mulberry32 } from "../support/random.js";
import { canonical } from "./sharded.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-dsl-repartition-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = 1_700_000_000_000;
const FIXTURE = resolve("test/dsl/fixtures/page-stats.js");

interface View { user: string; page: string; country: string; ms: number; ts: number }

/** 10 minutes of views, each at most 900 ms out of order (grace is 2 s), and `lateCount` views 5 minutes behind. */
function makeViews(seed: number, n: number, lateCount: number): { views: View[]; late: View[] } {
  const next = mulberry32(seed);
  const views: View[] = [];
  for (let i = 0; i < n; i++) {
    views.push({ user: `u${next() % 500}`, page: `p${next() % 40}`, country: ["de", "fr", "in", "br", "us"][next() % 5]!, ms: next() % 5 === 0 ? 0 : 1 + (next() % 9_000), ts: T0 + Math.floor((i * 600_000) / n) + (next() % 900) });
  }
  const late: View[] = [];
  for (let j = 0; j < lateCount; j++) late.push({ user: `late${j}`, page: `p${j % 40}`, country: "de", ms: 100, ts: T0 + 3_000 + j });
  // The late views come after 7 of the 10 minutes: every shard has passed 5 minutes by then.
  const at = Math.floor(n * 0.7);
  return { views: [...views.slice(0, at), ...late, ...views.slice(at)], late };
}

function reference(all: View[], late: View[]) {
  const lateSet = new Set(late);
  const counted = all.filter((v) => v.ms > 0);
  const onTime = counted.filter((v) => !lateSet.has(v));
  const windows = new Map<string, { views: number; ms: number }>();
  for (const v of onTime) {
    const start = Math.floor(v.ts / 10_000) * 10_000;
    const k = `${v.page}|${start}`;
    const w = windows.get(k) ?? { views: 0, ms: 0 };
    w.views++;
    w.ms += v.ms;
    windows.set(k, w);
  }
  const stats = [...windows].map(([k, w]) => {
    const [page, start] = k.split("|");
    return [page, Number(start), w.views, w.ms];
  });
  // Sessions: per page, maximal runs of views (by time) less than or equal to 5 s apart.
  const byPage = new Map<string, number[]>();
  for (const v of onTime) byPage.set(v.page, [...(byPage.get(v.page) ?? []), v.ts]);
  const sessions: unknown[] = [];
  for (const [page, ts] of byPage) {
    ts.sort((a, b) => a - b);
    let start = ts[0]!;
    let end = ts[0]!;
    let count = 1;
    for (const t of ts.slice(1)) {
      if (t - end <= 5_000) { end = t; count++; continue; }
      sessions.push([page, start, end, count]);
      start = end = t;
      count = 1;
    }
    sessions.push([page, start, end, count]);
  }
  // A KTable has no lateness: every counted view, late or not.
  const totals = new Map<string, number>();
  for (const v of counted) totals.set(v.country, (totals.get(v.country) ?? 0) + 1);
  return { stats: canonical(stats), sessions: canonical(sessions), totals: Object.fromEntries([...totals].sort()), late: late.length };
}

function writeLines(name: string, rows: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return path;
}

function results(sink: MemorySink) {
  const of = (type: string) => sink.outputs.filter((o) => o.type === type);
  const stats = canonical(of("page-stats").map((o) => {
    const v = o["value"] as { views: number; ms: number };
    return [o["key"], o["windowStart"], v.views, v.ms];
  }));
  const sessions = canonical(of("page-sessions").map((o) => [o["key"], o["windowStart"], o["windowEnd"], o["value"]]));
  // The last update per country is its total.
  const totals: Record<string, number> = {};
  for (const o of of("country-totals")) totals[o["key"] as string] = o["value"] as number;
  return { stats, sessions, totals: Object.fromEntries(Object.entries(totals).sort()), late: of("late-views").length };
}

describe("repartitioning between workers (groupBy a new key)", () => {
  it("plans the edges as Kafka Streams places repartition topics", async () => {
    const topology = await loadTopology(FIXTURE);
    const names = repartitionEdges(topology).map((e) => topology.nodes[e.node]!.kind);
    expect(names).toEqual(["aggregate", "aggregate", "aggregate"]);
    const shape = topologyShape(topology);
    expect("mode" in shape && shape.repartitions.length).toBe(3);
    // A re-keyed stream written to a topic needs no repartition; nor does an aggregation on the source's key.
    const b = new StreamsBuilder();
    const s = b.stream("a");
    s.selectKey((_k, v: { x: string }) => v.x).to("b");
    s.groupByKey().count().toStream().to("c");
    expect(repartitionEdges(b.build())).toEqual([]);
  });

  it("moves both sides of a stream-stream join when one of them is re-keyed", () => {
    const b = new StreamsBuilder();
    const left = b.stream("l").selectKey((_k, v: { r: string }) => v.r);
    const right = b.stream("r");
    left.join(right, (x, y) => [x, y], JoinWindows.ofTimeDifferenceWithNoGrace(1_000)).to("out");
    expect(repartitionEdges(b.build()).map((e) => e.port)).toEqual([0, 1]);
  });

  it("refuses what it cannot move, naming the operator", () => {
    const b = new StreamsBuilder();
    const table = b.table("t");
    b.stream("s").selectKey((_k, v: { r: string }) => v.r).join(table, (x, y) => [x, y], "enrich").to("out");
    expect(() => repartitionEdges(b.build())).toThrow(/enrich joins a re-keyed stream with a KTable.*GlobalKTable/);
    const c = new StreamsBuilder();
    c.stream("s").groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(1_000)).count({ name: "per-minute" }).toStream()
      .selectKey((k) => String(k)).groupByKey().count().toStream().to("out");
    expect(() => repartitionEdges(c.build())).toThrow(/downstream of per-minute/);
  });

  const { views, late } = makeViews(21, 24_000, 12);
  const input = writeLines("views.jsonl", [...views, { user: "u1", page: "p1", country: "de", ms: 5, ts: "later" }]);
  const expected = reference(views, late);

  for (const workers of [1, 2, 3]) {
    it(`${workers} worker(s): windows, sessions and table totals of the re-keyed stream equal the reference`, async () => {
      const sink = new MemorySink();
      const summary = await runTopology(FIXTURE, { input, sink, workers, batchSize: 256 });
      const got = results(sink);
      expect(expected.stats.length).toBeGreaterThan(2_000);
      expect(expected.sessions.length).toBeGreaterThan(100);
      expect(got.stats).toEqual(expected.stats);
      expect(got.sessions).toEqual(expected.sessions);
      expect(got.totals).toEqual(expected.totals);
      // Each late view is late for both windowed aggregations.
      expect(got.late).toBe(2 * expected.late);
      expect(summary.outputs["invalid"]).toBe(1);
      // Every counted view crossed each of the three edges once.
      expect(summary.repartitioned).toBe(3 * views.filter((v) => v.ms > 0).length);
    });
  }

  it("a worker that dies mid-stream is replaced from its checkpoint: the same results, nothing repeated", async () => {
    const sink = new MemorySink();
    const timers: NodeJS.Timeout[] = [];
    let crashed = 0;
    const summary = await runTopology(FIXTURE, {
      input, sink, workers: 2, batchSize: 256, ringSlots: 8, rate: 40_000,
      onCoordinator: (c) => {
        timers.push(setTimeout(() => { c.crashWorker(0); crashed++; }, 200), setTimeout(() => { c.crashWorker(1); crashed++; }, 400));
      },
    });
    timers.forEach(clearTimeout);
    expect(crashed).toBe(2);
    expect(summary.workerRestarts).toBe(2);
    const got = results(sink);
    expect(got.stats).toEqual(expected.stats);
    expect(got.sessions).toEqual(expected.sessions);
    expect(got.totals).toEqual(expected.totals);
    expect(got.late).toBe(2 * expected.late);
  });
});
