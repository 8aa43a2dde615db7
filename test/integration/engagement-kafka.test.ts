/**
 * engagement-analytics through the real Kafka broker and the machine's real Redis, as real
 * processes: views from one topic, the content-metadata table from a compacted topic (updates and
 * a tombstone included), enriched windows and sessions equal to the reference, rec:<userId> keys
 * with their 2-hour expiry; and `loadgen --kind engagement` feeding a run whose every window finds
 * its content.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngagementGenerator, type ViewColumns } from "../../src/sources/engagement-generator.js";
import { diff } from "../support/driver-reference.js";
import { engagementMultiset, referenceEngagement, type SourcedView } from "../support/engagement-reference.js";
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
