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
import { makeViews, reference, resultsOf } from "./page-stats-reference.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-dsl-repartition-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIXTURE = resolve("test/dsl/fixtures/page-stats.js");

function writeLines(name: string, rows: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return path;
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

  for (const [workers, path] of [[1, "peer"], [2, "peer"], [3, "peer"], [2, "coordinator"], [3, "coordinator"]] as const) {
    it(`${workers} worker(s), moved ${path === "peer" ? "worker to worker" : "through the coordinator"}: windows, sessions and table totals of the re-keyed stream equal the reference`, async () => {
      const sink = new MemorySink();
      const summary = await runTopology(FIXTURE, { input, sink, workers, batchSize: 256, repartitionPath: path });
      expect(summary.repartitionPath).toBe(path);
      const got = resultsOf(sink.outputs);
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

  // Busy shards (each view's filter spins) checkpoint every few batches, not whenever they run dry:
  // a crash then leaves batches to replay, input and peer, and peer batches already sent.
  for (const [path, spinUs] of [["peer", 0], ["coordinator", 0], ["peer", 80], ["coordinator", 80]] as const) it(`a worker that dies mid-stream${spinUs > 0 ? " (busy shards)" : ""} is replaced from its checkpoint (moved ${path === "peer" ? "worker to worker" : "through the coordinator"}): the same results, nothing repeated`, async () => {
    const sink = new MemorySink();
    const timers: NodeJS.Timeout[] = [];
    let crashed = 0;
    process.env["RIPTIDE_TEST_SPIN_US"] = String(spinUs);
    const summary = await runTopology(FIXTURE, {
      input, sink, workers: 2, batchSize: 256, ringSlots: 8, rate: 40_000, repartitionPath: path,
      // Crashes by progress (outputs so far: a country total per view), so they land mid-stream.
      onCoordinator: (c) => {
        timers.push(setInterval(() => {
          const at = sink.outputs.length / views.length;
          if ((crashed === 0 && at > 0.25) || (crashed === 1 && at > 0.5)) c.crashWorker(crashed++);
        }, 5));
      },
    }).finally(() => { delete process.env["RIPTIDE_TEST_SPIN_US"]; });
    timers.forEach(clearInterval);
    expect(crashed).toBe(2);
    expect(summary.workerRestarts).toBe(2);
    expect(summary.repartitionPath).toBe(path);
    const got = resultsOf(sink.outputs);
    expect(got.stats).toEqual(expected.stats);
    expect(got.sessions).toEqual(expected.sessions);
    expect(got.totals).toEqual(expected.totals);
    expect(got.late).toBe(2 * expected.late);
  });

  // Updates of an order-sensitive aggregate show whether a replacement replays in the order its
  // predecessor processed input and peer batches: another order makes an update that does not
  // extend the one before (it fails now and then with the replay log ignored).
  it("emit-on-update through a repartition, workers dying: every update of a page extends its previous one", async () => {
    const rows = Array.from({ length: 16_000 }, (_, i) => ({ user: `u${i % 53}`, page: `p${i % 7}`, id: i, ts: 1_000 + i }));
    const lists = writeLines("lists.jsonl", rows);
    const sink = new MemorySink();
    let crashed = 0;
    let timer: NodeJS.Timeout | undefined;
    process.env["RIPTIDE_TEST_SPIN_US"] = "80";
    const summary = await runTopology(resolve("test/dsl/fixtures/page-lists.js"), {
      input: lists, sink, workers: 2, batchSize: 256, ringSlots: 8, rate: 40_000,
      onCoordinator: (c) => {
        timer = setInterval(() => {
          const at = sink.outputs.length / rows.length;
          if ((crashed === 0 && at > 0.25) || (crashed === 1 && at > 0.5) || (crashed === 2 && at > 0.7)) c.crashWorker(crashed++ % 2);
        }, 5);
      },
    }).finally(() => { delete process.env["RIPTIDE_TEST_SPIN_US"]; clearInterval(timer); });
    expect(summary.repartitionPath).toBe("peer");
    expect(summary.workerRestarts).toBe(3);
    const last = new Map<unknown, number[]>();
    let breaks = 0;
    for (const o of sink.outputs) {
      if (!Array.isArray(o.value)) continue;
      const ids = o.value as number[];
      const prev = last.get(o.key) ?? [];
      if (ids.length !== prev.length + 1 || prev.some((x, i) => ids[i] !== x)) breaks++;
      last.set(o.key, ids);
    }
    expect(breaks).toBe(0);
    expect([...last.values()].reduce((a, v) => a + v.length, 0)).toBe(rows.length);
  });
});
