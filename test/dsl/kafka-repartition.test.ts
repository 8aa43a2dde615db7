/**
 * Repartitioning on Kafka: `riptide run --topology … --brokers …` as a real process against the
 * real broker. Page views keyed by user on 2 partitions are grouped by page on 2 workers, so
 * records of a page come from both partitions and move between the shards; every output topic
 * equals the reference. A process killed with SIGKILL and restarted loses no window: offsets are
 * committed once the windows holding their records have closed everywhere (and a topology with a
 * KTable aggregate re-reads its input instead). A second process in the group stops with the reason.
 * With --wall-clock-close the windows of a stream that went quiet close while the process runs.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { assigned, BROKERS, createTopic, ensureBroker, produceAll, readAll, riptide, uniqueName } from "../support/kafka.js";
import { hashKey } from "./sharded.js";
import { makeViews, reference, resultsOf } from "./page-stats-reference.js";

describe("repartitioning on Kafka", () => {
  beforeAll(() => ensureBroker(), 240_000);
  afterEach(() => { delete process.env["RIPTIDE_TEST_PREFIX"]; });

  it("page views keyed by user, grouped by page: windows, sessions and totals equal the reference", async () => {
    const prefix = `${uniqueName("repart")}-`;
    await createTopic(`${prefix}page-views`, 2);
    const { views, late } = makeViews(23, 12_000, 8);
    const message = (v: (typeof views)[number]) => ({ key: v.user, value: JSON.stringify(v), partition: hashKey(v.user, 2) });
    // The late views come in a second part, once windows have closed: which partition a consumer
    // reads first is up to the broker, and a partition not read yet holds the watermark back.
    const split = views.indexOf(late[0]!);
    await produceAll(`${prefix}page-views`, [...views.slice(0, split).map(message), { key: "u1", value: "{broken", partition: hashKey("u1", 2) }]);
    process.env["RIPTIDE_TEST_PREFIX"] = prefix;
    const p = riptide(["run", "--topology", "test/dsl/fixtures/page-stats.js", "--brokers", BROKERS, "--workers", "2", "--stop-when-idle", "10", "--json", "--quiet"]);
    const until = Date.now() + 60_000;
    while (Date.now() < until && (await readAll([`${prefix}page-stats`], 300, 3_000)).length === 0) { /* polling */ }
    await produceAll(`${prefix}page-views`, views.slice(split).map(message));
    const code = await p.exited;
    expect(p.stderr).toBe("");
    expect(code).toBe(0);
    const summary = JSON.parse(p.stdout.trim().split("\n").at(-1)!);
    const counted = views.filter((v) => v.ms > 0).length;
    expect(summary.repartitioned).toBe(3 * counted);
    const messages = await readAll([`${prefix}page-stats`, `${prefix}page-sessions`, `${prefix}country-totals`, `${prefix}late-views`]);
    const outputs = messages.map((m) => {
      const o = JSON.parse(m.value!.toString()) as Record<string, unknown>;
      // Keyed by the new key (the page, the country), as Kafka Streams writes an aggregation's results.
      if (o["type"] !== `${prefix}late-views`) expect(m.key?.toString()).toBe(String(o["key"]));
      return o;
    });
    const expected = reference(views, late);
    const got = resultsOf(outputs, prefix);
    expect(expected.stats.length).toBeGreaterThan(1_000);
    expect(got.stats).toEqual(expected.stats);
    expect(got.sessions).toEqual(expected.sessions);
    expect(got.totals).toEqual(expected.totals);
    expect(got.late).toBe(2 * expected.late);
    const dlq = await readAll([`${prefix}page-views.dlq`], 2_000);
    expect(dlq.map((m) => m.value!.toString())).toEqual(["{broken"]);
  });

  for (const [fixture, output] of [["page-windows.js", "page-windows"], ["page-stats.js", "page-stats"]] as const) {
    it(`${fixture}: SIGKILL after the first half, restart: every window at its full count (duplicates reported)`, async () => {
      const prefix = `${uniqueName("repart-kill")}-`;
      const group = uniqueName("g");
      await createTopic(`${prefix}page-views`, 2);
      // No late views: then no restart can legitimately lower a window's count.
      const { views } = makeViews(29, 40_000, 0);
      const half = views.length / 2;
      const produce = (vs: typeof views) => produceAll(`${prefix}page-views`, vs.map((v) => ({ key: v.user, value: JSON.stringify(v), partition: hashKey(v.user, 2) })));
      await produce(views.slice(0, half));
      process.env["RIPTIDE_TEST_PREFIX"] = prefix;
      const args = ["run", "--topology", `test/dsl/fixtures/${fixture}`, "--brokers", BROKERS, "--workers", "2", "--group", group, "--idle-timeout", "600000", "--quiet"];
      const first = riptide(args);
      const until = Date.now() + 60_000;
      while (Date.now() < until && (await readAll([`${prefix}${output}`], 500, 5_000)).length < 300) { /* polling */ }
      first.child.kill("SIGKILL");
      await first.exited;
      await produce(views.slice(half));
      const second = riptide([...args, "--stop-when-idle", "3"]);
      expect(await second.exited, second.stderr).toBe(0);

      const expected = reference(views, []).stats as [string, number, number, number][];
      const best = new Map<string, number>();
      let results = 0;
      for (const m of await readAll([`${prefix}${output}`])) {
        const o = JSON.parse(m.value!.toString()) as { key: string; windowStart: number; value: { views: number } };
        const k = `${o.key}|${o.windowStart}`;
        results++;
        best.set(k, Math.max(best.get(k) ?? 0, o.value.views));
      }
      const lower = expected.filter(([page, start, count]) => (best.get(`${page}|${start}`) ?? 0) < count);
      const higher = expected.filter(([page, start, count]) => (best.get(`${page}|${start}`) ?? 0) > count);
      console.log(`${fixture} kill/restart: ${results} window results for ${expected.length} windows (${results - best.size} duplicates)`);
      expect(best.size).toBe(expected.length);
      expect(lower).toEqual([]);
      expect(higher).toEqual([]);
    });
  }

  it("a second process in the group of a repartitioning topology: both stop with the reason instead of counting parts", async () => {
    const prefix = `${uniqueName("repart-two")}-`;
    await createTopic(`${prefix}page-views`, 2);
    process.env["RIPTIDE_TEST_PREFIX"] = prefix;
    const args = ["run", "--topology", "test/dsl/fixtures/page-windows.js", "--brokers", BROKERS, "--workers", "1", "--group", `${prefix}app`, "--stop-when-idle", "60"];
    const a = riptide(args);
    await assigned(a); // it holds both partitions: then the second joins
    const b = riptide(args);
    const [ca, cb] = await Promise.all([a.exited, b.exited]);
    expect([ca, cb]).toEqual([1, 1]);
    // One of the two partitions each, or none while the group rebalances again at the moment the
    // 15 s limit is checked (the count is the one at that moment).
    for (const p of [a, b]) expect(p.stderr).toMatch(/holds [01] of its 2 partitions .*groups by a new key runs as one process per group/);
  }, 120_000);

  it("--wall-clock-close: once the input goes quiet, its last windows close on the wall clock while the process runs", async () => {
    const prefix = `${uniqueName("repart-wall")}-`;
    await createTopic(`${prefix}page-views`, 2);
    const { views } = makeViews(31, 6_000, 0);
    await produceAll(`${prefix}page-views`, views.map((v) => ({ key: v.user, value: JSON.stringify(v), partition: hashKey(v.user, 2) })));
    process.env["RIPTIDE_TEST_PREFIX"] = prefix;
    const run = riptide(["run", "--topology", "test/dsl/fixtures/page-windows.js", "--brokers", BROKERS, "--workers", "2", "--group", uniqueName("g"),
      "--idle-timeout", "1000", "--wall-clock-close", "--quiet"]);
    const expected = reference(views, []).stats as [string, number, number, number][];
    // The last windows end within 12 s (size + grace) of the largest view time: without the wall
    // clock they would wait for more input (or the end of the run) to close.
    const lastStart = Math.max(...expected.map((w) => w[1]));
    let got: Array<{ key: string; windowStart: number; value: { views: number } }> = [];
    const until = Date.now() + 90_000;
    while (Date.now() < until && run.child.exitCode === null) {
      got = (await readAll([`${prefix}page-windows`], 1_000, 10_000)).map((m) => JSON.parse(m.value!.toString()));
      if (got.length >= expected.length) break;
    }
    const stillRunning = run.child.exitCode === null;
    run.child.kill("SIGTERM");
    await run.exited;
    expect(stillRunning, run.stderr).toBe(true);
    expect(got.some((o) => o.windowStart === lastStart)).toBe(true);
    expect(got.map((o) => [o.key, o.windowStart, o.value.views]).sort()).toEqual(expected.map((w) => [w[0], w[1], w[2]]).sort());
  }, 150_000);
});
