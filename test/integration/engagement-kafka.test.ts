/**
 * engagement-analytics through the real Kafka broker and the machine's real Redis, as real
 * processes: views from one topic, the content-metadata table from a compacted topic (updates and
 * a tombstone included), enriched windows and sessions equal to the reference, rec:<userId> keys
 * with their 2-hour expiry; the same with a user-interactions topic (sessions' genre affinity
 * counting them, co-partitioned with the views); and `loadgen --kind engagement` feeding a run
 * whose every window finds its content, with two and with three topics.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngagementGenerator, type ViewColumns } from "../../src/sources/engagement-generator.js";
import { diff } from "../support/driver-reference.js";
import { engagementMultiset, generateEngagement, referenceEngagement, type SessionScores, type SourcedView } from "../support/engagement-reference.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readAll, riptide, uniqueName } from "../support/kafka.js";

const REDIS_URL = "redis://127.0.0.1:6379";
let redis: Redis;
const prefixes: string[] = [];

function parse(messages: Array<{ value: Buffer | null }>): Array<Record<string, unknown>> {
  return messages.map((m) => JSON.parse(m.value!.toString()) as Record<string, unknown>);
}

describe("engagement-analytics on Kafka and Redis", () => {
  beforeAll(() => {
    ensureBroker();
    redis = new Redis(REDIS_URL);
  }, 240_000);

  afterAll(async () => {
    for (const p of prefixes) {
      const keys = await redis.keys(`${p}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
    await redis.quit();
  });

  it("enriches view windows from the content-metadata table (latest wins, tombstone deletes), emits the reference's sessions, writes rec:<userId> with a 2-hour expiry", async () => {
    const views = uniqueName("eng-views");
    const meta = uniqueName("eng-meta");
    const output = uniqueName("eng-out");
    await createTopic(views, 2);
    await createTopic(meta, 1);
    // In-order views per partition (no late ones): windows and sessions do not depend on how the
    // two partitions interleave, so the reference in generator order is exact.
    const gen = new EngagementGenerator({ seed: 5, users: 300, contents: 60, partitions: 2, lateShare: 0 });
    const batch = 500;
    const cols: ViewColumns = {
      userId: new Uint32Array(batch), contentId: new Uint32Array(batch), watchSeconds: new Float64Array(batch),
      durationSeconds: new Float64Array(batch), ts: new Float64Array(batch),
    };
    const sourced: SourcedView[] = [];
    for (let k = 0; k < 40; k++) {
      const p = k % 2;
      gen.fill(p, cols, 0, batch);
      for (let i = 0; i < batch; i++) sourced.push({ partition: p, event: gen.toEvent(cols, i) });
    }
    const catalog = gen.catalog();
    const table = new Map(catalog.map((r) => [r.contentId, { title: r.title, genre: r.genre }]));
    table.set("content-0", { title: "Renamed", genre: table.get("content-0")!.genre });
    table.delete("content-1");
    await produceAll(meta, [
      ...catalog.map((r) => ({ value: JSON.stringify(r), key: r.contentId })),
      { value: JSON.stringify({ contentId: "content-0", title: "Renamed", genre: table.get("content-0")!.genre }), key: "content-0" },
      { value: "{not json", key: "content-2" },
    ]);
    await produceTombstone(meta, "content-1");
    await produceAll(views, sourced.map((s) => ({ value: JSON.stringify(s.event), partition: s.partition, key: (s.event["userId"] as string) || null })));
    const reference = referenceEngagement(sourced, 2, table);
    expect(reference.filter((o) => o["type"] === "late")).toHaveLength(0);

    const prefix = `riptide-it-${randomBytes(4).toString("hex")}:`;
    prefixes.push(prefix);
    const run = riptide(["run", "engagement-analytics", "--brokers", BROKERS, "--input-topic", `${views},${meta}`, "--output-topic", output,
      "--group", uniqueName("g"), "--stop-when-idle", "4", "--json", "--quiet", "--workers", "2", "--redis", REDIS_URL, "--redis-prefix", prefix]);
    expect(await run.exited, run.stderr).toBe(0);
    expect(run.stderr).toContain("content-metadata-invalid");
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(summary.events).toBe(sourced.length);

    const windows = parse(await readAll([output]));
    const sessions = parse(await readAll([`${output}.session`], 2000));
    const invalid = parse(await readAll([`${output}.invalid`], 2000));
    expect(summary.outputs).toEqual({ window: windows.length, session: sessions.length, invalid: invalid.length, late: 0 });
    expect(diff(engagementMultiset([...windows, ...sessions, ...invalid]), engagementMultiset(reference))).toEqual([]);
    // The table as the run saw it: the update won, the tombstone deleted, every other content found.
    expect(windows.filter((w) => w["contentId"] === "content-0").every((w) => w["title"] === "Renamed")).toBe(true);
    expect(windows.filter((w) => w["contentId"] === "content-1").length).toBeGreaterThan(0);
    expect(windows.filter((w) => w["contentId"] === "content-1").every((w) => w["title"] === null && w["genre"] === null)).toBe(true);
    expect(windows.filter((w) => w["title"] === null).every((w) => w["contentId"] === "content-1")).toBe(true);
    expect(sessions.length).toBeGreaterThan(300);

    // Redis: rec:<userId> = the genres of the user's last session (with genres), 2-hour expiry.
    const last = new Map<string, Record<string, unknown>>();
    for (const s of sessions) {
      if ((s["genres"] as string[]).length === 0) continue;
      const prev = last.get(s["userId"] as string);
      if (!prev || (prev["end"] as number) <= (s["end"] as number)) last.set(s["userId"] as string, s);
    }
    const keys = await redis.keys(`${prefix}rec:*`);
    expect(keys.length).toBe(last.size);
    for (const [user, s] of last) expect(JSON.parse((await redis.get(`${prefix}rec:${user}`))!), user).toEqual(s["genres"]);
    const ttl = await redis.ttl(keys[0]!);
    expect(ttl).toBeGreaterThan(7000);
    expect(ttl).toBeLessThanOrEqual(7200);
  }, 240_000);

  it("reads user interactions from a third topic: sessions' genre affinity counts them, as the reference; rec:<userId> follows", async () => {
    const views = uniqueName("eng-i-views");
    const meta = uniqueName("eng-i-meta");
    const inter = uniqueName("eng-i-inter");
    const output = uniqueName("eng-i-out");
    await createTopic(views, 2);
    await createTopic(meta, 1);
    await createTopic(inter, 2);
    // In order per topic partition, no late records: sessions and windows do not depend on how the
    // four partitions interleave (a user's views and interactions are minutes apart at most, the
    // session gap is 30 minutes), except for ties between genres and the 8-genre cap, checked below.
    const gen = new EngagementGenerator({ seed: 6, users: 300, contents: 60, partitions: 2, lateShare: 0, interactionShare: 0.2 });
    const sourced = generateEngagement(gen, 40);
    const catalog = gen.catalog();
    const table = new Map(catalog.map((r) => [r.contentId, { title: r.title, genre: r.genre }]));
    await produceAll(meta, catalog.map((r) => ({ value: JSON.stringify(r), key: r.contentId })));
    for (const [topic, kind] of [[views, "view"], [inter, "interaction"]] as const) {
      await produceAll(topic, sourced.filter((s) => s.kind === kind).map((s) => ({ value: JSON.stringify(s.event), partition: s.partition, key: (s.event["userId"] as string) || null })));
    }
    const scores: SessionScores = new Map();
    const reference = referenceEngagement(sourced, 2, table, scores);
    expect(reference.filter((o) => o["type"] === "late")).toHaveLength(0);
    const refSessions = reference.filter((o) => o["type"] === "session");
    expect(refSessions.filter((o) => (o["interactions"] as number) > 0).length).toBeGreaterThan(200);
    expect(reference.filter((o) => o["type"] === "invalid" && typeof (o["event"] as Record<string, unknown>)["action"] === "string").length).toBeGreaterThan(5);

    const prefix = `riptide-it-${randomBytes(4).toString("hex")}:`;
    prefixes.push(prefix);
    const run = riptide(["run", "engagement-analytics", "--brokers", BROKERS, "--input-topic", `${views},${meta},${inter}`, "--output-topic", output,
      "--group", uniqueName("g"), "--stop-when-idle", "4", "--json", "--quiet", "--workers", "2", "--redis", REDIS_URL, "--redis-prefix", prefix]);
    expect(await run.exited, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(summary.events).toBe(sourced.length);
    const windows = parse(await readAll([output]));
    const sessions = parse(await readAll([`${output}.session`], 2000));
    const invalid = parse(await readAll([`${output}.invalid`], 2000));
    expect(summary.outputs).toEqual({ window: windows.length, session: sessions.length, invalid: invalid.length, late: 0 });
    // Windows and invalid records (both kinds) exactly.
    expect(diff(engagementMultiset([...windows, ...invalid]), engagementMultiset(reference.filter((o) => o["type"] !== "session")))).toEqual([]);
    // Sessions: the same sessions (user, start, end, views, interactions); genres a top 3 by the
    // reference's affinity (any order among equal affinities; with more than 8 genres in the
    // session, which 8 are tracked depends on arrival order: then genres only by decreasing affinity).
    const key = (o: Record<string, unknown>): string => `${o["userId"]}|${o["start"]}`;
    expect(sessions.map((o) => JSON.stringify([key(o), o["end"], o["views"], o["interactions"]])).sort())
      .toEqual(refSessions.map((o) => JSON.stringify([key(o), o["end"], o["views"], o["interactions"]])).sort());
    const refByKey = new Map(refSessions.map((o) => [key(o), o]));
    let exact = 0;
    for (const s of sessions) {
      const affinity = scores.get(key(s))!.affinity;
      const genres = s["genres"] as string[];
      const got = genres.map((g) => affinity.get(g)!);
      expect(got.every((v) => v > 0), key(s)).toBe(true);
      expect([...got].sort((a, b) => b - a), key(s)).toEqual(got);
      if (affinity.size <= 8) {
        const top = [...affinity.values()].filter((v) => v > 0).sort((a, b) => b - a).slice(0, 3);
        expect(got, key(s)).toEqual(top);
      }
      if (JSON.stringify(genres) === JSON.stringify(refByKey.get(key(s))!["genres"])) exact++;
    }
    expect(exact).toBeGreaterThan(sessions.length * 0.8);

    // Redis: rec:<userId> = the genres of the user's last session with genres.
    const last = new Map<string, Record<string, unknown>>();
    for (const s of sessions) {
      if ((s["genres"] as string[]).length === 0) continue;
      const prev = last.get(s["userId"] as string);
      if (!prev || (prev["end"] as number) <= (s["end"] as number)) last.set(s["userId"] as string, s);
    }
    const keys = await redis.keys(`${prefix}rec:*`);
    expect(keys.length).toBe(last.size);
    for (const [user, s] of last) expect(JSON.parse((await redis.get(`${prefix}rec:${user}`))!), user).toEqual(s["genres"]);
  }, 240_000);

  it("loadgen --kind engagement writes the catalog and views; a run enriches every window", async () => {
    const views = uniqueName("eng-lg-views");
    const meta = uniqueName("eng-lg-meta");
    const output = uniqueName("eng-lg-out");
    const load = riptide(["loadgen", "--brokers", BROKERS, "--kind", "engagement", "--topic", `${views},${meta}`, "--rate", "100000",
      "--events", "30000", "--partitions", "2", "--drivers", "400", "--seed", "3", "--json", "--quiet"]);
    expect(await load.exited, load.stderr).toBe(0);
    const lg = JSON.parse(load.stdout.trim().split("\n").pop()!);
    expect(lg).toMatchObject({ kind: "engagement", events: 30000, contents: 300, errors: 0 });
    const run = riptide(["run", "engagement-analytics", "--brokers", BROKERS, "--input-topic", `${views},${meta}`, "--output-topic", output,
      "--group", uniqueName("g"), "--stop-when-idle", "4", "--json", "--quiet", "--workers", "2"]);
    expect(await run.exited, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(summary.events).toBe(30000);
    const windows = parse(await readAll([output]));
    expect(windows.length).toBe(summary.outputs.window);
    expect(windows.length).toBeGreaterThan(1000);
    for (const w of windows) {
      expect(w["contentId"]).toMatch(/^content-\d+$/);
      expect(typeof w["title"]).toBe("string");
      expect(typeof w["genre"]).toBe("string");
    }
    const viewsCounted = windows.reduce((a, w) => a + (w["views"] as number), 0);
    expect(viewsCounted).toBe(30000 - summary.outputs.invalid - summary.outputs.late);
  }, 240_000);
});

describe("loadgen --kind engagement with interactions", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("--topic VIEWS,METADATA,INTERACTIONS: interactions keyed by userId on the views' partitions; a run reading the three topics counts them in sessions", async () => {
    const views = uniqueName("eng-lgi-views");
    const meta = uniqueName("eng-lgi-meta");
    const inter = uniqueName("eng-lgi-inter");
    const output = uniqueName("eng-lgi-out");
    const load = riptide(["loadgen", "--brokers", BROKERS, "--kind", "engagement", "--topic", `${views},${meta},${inter}`, "--rate", "100000",
      "--events", "30000", "--partitions", "2", "--drivers", "400", "--seed", "3", "--json", "--quiet"]);
    expect(await load.exited, load.stderr).toBe(0);
    const lg = JSON.parse(load.stdout.trim().split("\n").pop()!);
    expect(lg).toMatchObject({ kind: "engagement", events: 30000, contents: 300, errors: 0, interactionsTopic: inter });
    expect(lg.interactions).toBeGreaterThan(4000);
    expect(lg.views + lg.interactions).toBe(30000);
    // Keyed by userId, generator partition p → topic partition p in both topics: each user on one partition number.
    const msgs = await readAll([views, inter]);
    expect(msgs.length).toBe(30000);
    const partitionOf = new Map<string, number>();
    for (const m of msgs) {
      const e = JSON.parse(m.value!.toString()) as Record<string, unknown>;
      expect(typeof e["action"] === "string", m.topic).toBe(m.topic === inter);
      const user = e["userId"] as string;
      if (user === "") continue;
      expect(m.key?.toString()).toBe(user);
      if (!partitionOf.has(user)) partitionOf.set(user, m.partition);
      expect(m.partition, user).toBe(partitionOf.get(user));
    }
    const run = riptide(["run", "engagement-analytics", "--brokers", BROKERS, "--input-topic", `${views},${meta},${inter}`, "--output-topic", output,
      "--group", uniqueName("g"), "--stop-when-idle", "4", "--json", "--quiet", "--workers", "2"]);
    expect(await run.exited, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(summary.events).toBe(30000);
    const windows = parse(await readAll([output]));
    const sessions = parse(await readAll([`${output}.session`], 2000));
    const invalid = parse(await readAll([`${output}.invalid`], 2000));
    const late = parse(await readAll([`${output}.late`], 2000));
    expect(windows.length).toBe(summary.outputs.window);
    expect(sessions.length).toBe(summary.outputs.session);
    const isViewEvent = (o: Record<string, unknown>): boolean => typeof (o["event"] as Record<string, unknown>)["action"] !== "string";
    const viewsCounted = windows.reduce((a, w) => a + (w["views"] as number), 0);
    expect(viewsCounted).toBe(lg.views - invalid.filter(isViewEvent).length - late.filter(isViewEvent).length);
    const interactionsCounted = sessions.reduce((a, s) => a + (s["interactions"] as number), 0);
    expect(interactionsCounted).toBe(lg.interactions - invalid.filter((o) => !isViewEvent(o)).length - late.filter((o) => !isViewEvent(o)).length);
    expect(interactionsCounted).toBeGreaterThan(4000);
  }, 240_000);
});

/** A tombstone: a keyed message with a null value. */
async function produceTombstone(topic: string, key: string): Promise<void> {
  const { rdkafkaClientFactory } = await import("../../src/io/kafka/rdkafka.js");
  const producer = rdkafkaClientFactory.createProducer({ brokers: BROKERS, lingerMs: 0 });
  let done = false;
  let failed: Error | null = null;
  producer.onDelivery((err) => { failed = err; done = true; });
  await producer.connect();
  try {
    producer.produce(topic, null, null, key);
    const deadline = Date.now() + 30_000;
    while (!done && Date.now() < deadline) {
      producer.poll();
      await new Promise((r) => setTimeout(r, 5));
    }
    if (failed) throw failed;
    if (!done) throw new Error("tombstone not delivered");
  } finally {
    await producer.disconnect();
  }
}
