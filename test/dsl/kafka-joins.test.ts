/**
 * Joins on Kafka: `riptide run --topology … --brokers …` as a real process against the real broker,
 * reading the topics the topology names (two co-partitioned topics of 2 partitions each, keyed
 * alike) on 2 workers; the output topic equals a reference computed here.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { mulberry32 } from "../support/random.js";
import { assigned, BROKERS, createTopic, ensureBroker, produceAll, readAll, riptide, uniqueName } from "../support/kafka.js";
import { canonical, hashKey } from "./sharded.js";

const T0 = 1_700_000_000_000;

describe("joins on Kafka", () => {
  beforeAll(() => ensureBroker(), 240_000);
  afterEach(() => { delete process.env["RIPTIDE_TEST_PREFIX"]; });

  it("stream-table: messages enriched with user profiles from a co-partitioned table topic", async () => {
    const prefix = `${uniqueName("enrich")}-`;
    await createTopic(`${prefix}user-profiles`, 2);
    await createTopic(`${prefix}messages`, 2);
    const next = mulberry32(31);
    const profiles = Array.from({ length: 150 }, (_, i) => ({ userId: `u${i}`, name: `User ${i}`, tier: i % 4 }));
    const messages = Array.from({ length: 3_000 }, (_, i) => ({ messageId: `m${i}`, senderId: `u${next() % 170}`, bytes: next() % 40, ts: T0 + i * 50 }));
    await produceAll(`${prefix}user-profiles`, profiles.map((p) => ({ key: p.userId, value: JSON.stringify(p), partition: hashKey(p.userId, 2) })));
    await produceAll(`${prefix}messages`, [
      ...messages.map((m) => ({ key: m.senderId, value: JSON.stringify(m), partition: hashKey(m.senderId, 2) })),
      { key: "u1", value: "{broken", partition: hashKey("u1", 2) },
    ]);
    process.env["RIPTIDE_TEST_PREFIX"] = prefix;
    const p = riptide(["run", "--topology", "test/dsl/fixtures/profile-enrich.js", "--brokers", BROKERS, "--workers", "2", "--stop-when-idle", "3", "--json", "--quiet"]);
    const code = await p.exited;
    expect(p.stderr).toBe("");
    expect(code).toBe(0);
    const byId = new Map(profiles.map((x) => [x.userId, x]));
    const expected = canonical(messages.filter((m) => m.bytes > 0 && byId.has(m.senderId)).map((m) => [m.senderId, m.messageId, byId.get(m.senderId)!.name, byId.get(m.senderId)!.tier]));
    const summary = JSON.parse(p.stdout.trim().split("\n").at(-1)!);
    expect(summary.outputs[`${prefix}enriched-messages`]).toBe(expected.length);
    const got = (await readAll([`${prefix}enriched-messages`])).map((m) => {
      const o = JSON.parse(m.value!.toString()) as { key: string; value: { messageId: string; sender: string; tier: number } };
      expect(m.key?.toString()).toBe(o.key);
      return [o.key, o.value.messageId, o.value.sender, o.value.tier];
    });
    expect(canonical(got)).toEqual(expected);
    const dlq = await readAll([`${prefix}messages.dlq`], 2_000);
    expect(dlq.map((m) => m.value!.toString())).toEqual(["{broken"]);
  });

  it("stream-stream: ride requests × driver locations of a region within 1 minute (left join)", async () => {
    const prefix = `${uniqueName("rides")}-`;
    await createTopic(`${prefix}ride-requests`, 2);
    await createTopic(`${prefix}driver-locations`, 2);
    const next = mulberry32(37);
    const regions = Array.from({ length: 9 }, (_, i) => `gh${i}`);
    const requests = Array.from({ length: 800 }, (_, i) => ({ requestId: `r${i}`, region: regions[next() % 9]!, ts: T0 + i * 500 + (next() % 6_001) - 3_000 }));
    const locations = Array.from({ length: 800 }, (_, i) => ({ driverId: `d${next() % 100}`, region: regions[next() % 9]!, ts: T0 + i * 500 + (next() % 6_001) - 3_000 }));
    await produceAll(`${prefix}ride-requests`, requests.map((r) => ({ key: r.region, value: JSON.stringify(r), partition: hashKey(r.region, 2) })));
    await produceAll(`${prefix}driver-locations`, locations.map((l) => ({ key: l.region, value: JSON.stringify(l), partition: hashKey(l.region, 2) })));
    process.env["RIPTIDE_TEST_PREFIX"] = prefix;
    const p = riptide(["run", "--topology", "test/dsl/fixtures/ride-join.js", "--brokers", BROKERS, "--workers", "2", "--stop-when-idle", "3", "--json", "--quiet"]);
    const code = await p.exited;
    expect(p.stderr).toBe("");
    expect(code).toBe(0);
    const expected: unknown[] = [];
    for (const r of requests) {
      const hits = locations.filter((l) => l.region === r.region && Math.abs(l.ts - r.ts) <= 60_000);
      if (hits.length === 0) expected.push([r.region, r.requestId, null]);
      for (const l of hits) expected.push([r.region, r.requestId, l.driverId]);
    }
    const got = (await readAll([`${prefix}ride-matches`])).map((m) => {
      const o = JSON.parse(m.value!.toString()) as { key: string; value: { requestId: string; driverId: string | null } };
      return [o.key, o.value.requestId, o.value.driverId];
    });
    expect(expected.length).toBeGreaterThan(1_000);
    expect(canonical(got)).toEqual(canonical(expected));
  });

  it("stream-global-table: views (2 partitions) × the content catalog (1 partition), twice with one group: the catalog is re-read on restart", async () => {
    const prefix = `${uniqueName("global")}-`;
    await createTopic(`${prefix}content-metadata`, 1);
    await createTopic(`${prefix}user-views`, 2);
    const next = mulberry32(41);
    const catalog = Array.from({ length: 120 }, (_, i) => ({ contentId: `c${i}`, title: `T${i}`, genre: ["drama", "comedy", "docs", "kids"][i % 4] }));
    const views = Array.from({ length: 4_000 }, (_, i) => ({ userId: `u${next() % 300}`, contentId: `c${next() % 130}`, watchSec: next() % 5_000, ts: T0 + i * 40 }));
    await produceAll(`${prefix}content-metadata`, catalog.map((c) => ({ key: c.contentId, value: JSON.stringify(c), partition: 0 })));
    const genre = new Map(catalog.map((c) => [c.contentId, c.genre]));
    const run = async (batch: typeof views) => {
      await produceAll(`${prefix}user-views`, batch.map((v) => ({ key: v.userId, value: JSON.stringify(v), partition: hashKey(v.userId, 2) })));
      process.env["RIPTIDE_TEST_PREFIX"] = prefix;
      const p = riptide(["run", "--topology", "test/dsl/fixtures/content-enrich.js", "--brokers", BROKERS, "--workers", "2", "--group", `${prefix}app`, "--stop-when-idle", "3", "--json", "--quiet"]);
      const code = await p.exited;
      expect(p.stderr).toBe("");
      expect(code).toBe(0);
      return JSON.parse(p.stdout.trim().split("\n").at(-1)!);
    };
    const first = await run(views.slice(0, 2_500));
    expect(first.outputs[`${prefix}enriched-views`]).toBe(2_500);
    // The second run with the same group takes the views after the committed offsets, and the whole catalog again.
    const second = await run(views.slice(2_500));
    expect(second.outputs[`${prefix}enriched-views`]).toBe(1_500);
    const got = (await readAll([`${prefix}enriched-views`])).map((m) => {
      const o = JSON.parse(m.value!.toString()) as { key: string; value: { contentId: string; watchSec: number; genre: string | null } };
      return [o.key, o.value.contentId, o.value.watchSec, o.value.genre];
    });
    expect(canonical(got)).toEqual(canonical(views.map((v) => [v.userId, v.contentId, v.watchSec, genre.get(v.contentId) ?? null])));
  });

  it("a second process in the group of a join topology: both stop with the reason instead of joining mismatched partitions", async () => {
    const prefix = `${uniqueName("twoproc")}-`;
    await createTopic(`${prefix}ride-requests`, 2);
    await createTopic(`${prefix}driver-locations`, 2);
    process.env["RIPTIDE_TEST_PREFIX"] = prefix;
    const args = ["run", "--topology", "test/dsl/fixtures/ride-join.js", "--brokers", BROKERS, "--workers", "1", "--group", `${prefix}app`, "--stop-when-idle", "60"];
    const a = riptide(args);
    await assigned(a); // it holds both partitions: then the second joins
    const b = riptide(args);
    const [ca, cb] = await Promise.all([a.exited, b.exited]);
    expect([ca, cb]).toEqual([1, 1]);
    // Each holds one of a topic's two partitions, or none while the group rebalances again at the
    // moment the 15 s limit is checked (the count is the one at that moment).
    for (const p of [a, b]) expect(p.stderr).toMatch(/holds [01] of its 2 partitions .*runs as one process per group/);
  }, 120_000);

  it("refuses topics that are not co-partitioned, naming them", async () => {
    const prefix = `${uniqueName("copart")}-`;
    await createTopic(`${prefix}user-profiles`, 1);
    await createTopic(`${prefix}messages`, 2);
    process.env["RIPTIDE_TEST_PREFIX"] = prefix;
    const p = riptide(["run", "--topology", "test/dsl/fixtures/profile-enrich.js", "--brokers", BROKERS, "--stop-when-idle", "1", "--quiet"]);
    expect(await p.exited).not.toBe(0);
    expect(p.stderr).toMatch(/must be co-partitioned .*user-profiles has 1, .*messages has 2/);
  });
});
