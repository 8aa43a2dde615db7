/**
 * The location pipelines through the real Kafka broker and the machine's real Redis, as real
 * processes: surge-pricing reading two topics (driver locations, ride requests) with its Redis
 * surge hashes, driver-tracking with the Redis GEO index, and `loadgen --kind rides`.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import ngeohash from "ngeohash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DriverGenerator, type DriverColumns } from "../../src/sources/driver-generator.js";
import { RideGenerator, type RideColumns } from "../../src/sources/ride-generator.js";
import { diff, referenceDriverTracking, type SourcedEvent } from "../support/driver-reference.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readAll, riptide, uniqueName } from "../support/kafka.js";
import { referenceSurgePricing } from "../support/surge-reference.js";

const REDIS_URL = "redis://127.0.0.1:6379";
let redis: Redis;
const prefixes: string[] = [];

function uniquePrefix(): string {
  const p = `riptide-it-${randomBytes(4).toString("hex")}:`;
  prefixes.push(p);
  return p;
}

function parse(messages: Array<{ value: Buffer | null }>): Array<Record<string, unknown>> {
  return messages.map((m) => JSON.parse(m.value!.toString()) as Record<string, unknown>);
}

function canonical(o: Record<string, unknown>): string {
  if (o["type"] === "window") return `window|${o["key"]}|${o["windowStart"]}|${o["requests"]}|${o["drivers"]}|${o["surgeMultiplier"]}`;
  return `${o["type"]}|${o["type"] === "invalid" ? o["reason"] : ""}|${JSON.stringify(o["event"])}`;
}

function multiset(outputs: Array<Record<string, unknown>>): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of outputs) m.set(canonical(o), (m.get(canonical(o)) ?? 0) + 1);
  return m;
}

/** Ride events by generator partition (round-robin, `batch` at a time), in-order (no late or out-of-order fixes). */
function rideEvents(seed: number, total: number, partitions: number): Array<{ partition: number; event: Record<string, unknown>; request: boolean }> {
  const gen = new RideGenerator({ seed, drivers: 2000, partitions, requestShare: 0.02, lateShare: 0, outOfOrderShare: 0, invalidShare: 0.003 });
  const batch = 500;
  const cols: RideColumns = {
    driver: new Uint32Array(batch), request: new Uint32Array(batch), lat: new Float64Array(batch), lon: new Float64Array(batch),
    ts: new Float64Array(batch), speed: new Float64Array(batch),
  };
  const out: Array<{ partition: number; event: Record<string, unknown>; request: boolean }> = [];
  for (let done = 0, p = 0; done < total; done += batch, p = (p + 1) % partitions) {
    gen.fill(p, cols, 0, batch);
    for (let i = 0; i < batch; i++) out.push({ partition: p, event: gen.toEvent(cols, i), request: cols.request[i]! !== 0 });
  }
  return out;
}

describe("location pipelines on Kafka and Redis", () => {
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

  it("surge-pricing reads driver locations and ride requests from two topics, gives the reference's windows, writes surge:<region>", async () => {
    const locations = uniqueName("sp-loc");
    const requests = uniqueName("sp-req");
    const output = uniqueName("sp-out");
    await createTopic(locations, 2);
    await createTopic(requests, 2);
    const evs = rideEvents(9, 120_000, 2);
    await produceAll(locations, [
      ...evs.filter((e) => !e.request).map((e) => ({ value: JSON.stringify(e.event), partition: e.partition, key: (e.event["driverId"] as string) || null })),
      { value: "{poison", partition: 0 },
    ]);
    await produceAll(requests, evs.filter((e) => e.request).map((e) => ({ value: JSON.stringify(e.event), partition: e.partition, key: e.event["requestId"] as string })));
    // In-order data: no record is ever behind the watermark, so any interleaving of the four
    // partitions gives the same windows as the reference in generator order.
    const sourced: SourcedEvent[] = evs.map((e) => ({ partition: e.request ? 2 + e.partition : e.partition, event: e.event }));
    const reference = referenceSurgePricing(sourced, 4) as unknown as Array<Record<string, unknown>>;
    expect(reference.filter((o) => o["type"] === "late")).toHaveLength(0);

    const prefix = uniquePrefix();
    const run = riptide(["run", "surge-pricing", "--brokers", BROKERS, "--input-topic", `${locations},${requests}`, "--output-topic", output,
      "--group", uniqueName("g"), "--stop-when-idle", "4", "--json", "--quiet", "--workers", "2", "--redis", REDIS_URL, "--redis-prefix", prefix]);
    expect(await run.exited, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(summary.events).toBe(evs.length + 1);
    expect(summary.deadLetters).toBe(1);

    const windows = parse(await readAll([output]));
    const invalid = parse(await readAll([`${output}.invalid`], 2000));
    expect(summary.outputs).toEqual({ window: windows.length, invalid: invalid.length, late: 0 });
    expect(diff(multiset([...windows, ...invalid]), multiset(reference))).toEqual([]);
    expect(windows.some((w) => (w["surgeMultiplier"] as number) > 1)).toBe(true);
    const dlq = await readAll([`${locations}.dlq`], 2000);
    expect(dlq.map((m) => m.value!.toString())).toEqual(["{poison"]);

    // Redis: each region's hash holds its newest window.
    const newest = new Map<string, Record<string, unknown>>();
    for (const w of windows) {
      const k = w["key"] as string;
      if (!newest.has(k) || (newest.get(k)!["windowStart"] as number) < (w["windowStart"] as number)) newest.set(k, w);
    }
    const keys = await redis.keys(`${prefix}surge:*`);
    expect(keys.length).toBe(newest.size);
    for (const [region, w] of newest) {
      const h = await redis.hgetall(`${prefix}surge:${region}`);
      expect({ region, ...h }).toEqual({
        region, multiplier: String(w["surgeMultiplier"]), requests: String(w["requests"]), drivers: String(w["drivers"]),
        windowStart: String(w["windowStart"]), windowEnd: String(w["windowEnd"]),
      });
    }
    const ttl = await redis.ttl(keys[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300);
  }, 240_000);

  it("driver-tracking --redis keeps the GEO index of the drivers' latest fixes", async () => {
    const input = uniqueName("gt-in");
    const output = uniqueName("gt-out");
    await createTopic(input, 2);
    const gen = new DriverGenerator({ seed: 3, drivers: 400, partitions: 2, lateShare: 0.005, invalidShare: 0.005, teleportShare: 0.003 });
    const batch = 1000;
    const cols: DriverColumns = { driver: new Uint32Array(batch), lat: new Float64Array(batch), lon: new Float64Array(batch), ts: new Float64Array(batch), speed: new Float64Array(batch) };
    const sourced: SourcedEvent[] = [];
    for (let k = 0; k < 40; k++) {
      const p = k % 2;
      gen.fill(p, cols, 0, batch);
      for (let i = 0; i < batch; i++) sourced.push({ partition: p, event: DriverGenerator.toEvent(cols, i, (id) => gen.driverName(id)) });
    }
    await produceAll(input, sourced.map((s) => ({ value: JSON.stringify(s.event), partition: s.partition })));
    // `last` per driver does not depend on the interleaving of partitions: a driver is in one partition.
    const last = new Map<string, { lat: number; lon: number; ts: number }>();
    referenceDriverTracking(sourced, 2, last);

    const prefix = uniquePrefix();
    const run = riptide(["run", "driver-tracking", "--brokers", BROKERS, "--input-topic", input, "--output-topic", output,
      "--group", uniqueName("g"), "--stop-when-idle", "3", "--json", "--quiet", "--workers", "2", "--redis", REDIS_URL, "--redis-prefix", prefix]);
    expect(await run.exited, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(summary.outputs.position).toBeGreaterThan(400);

    let newest = -Infinity;
    for (const f of last.values()) newest = Math.max(newest, f.ts);
    const active = [...last.entries()].filter(([, f]) => f.ts >= newest - 300_000);
    // "-1" as a string: ioredis 6's typings take zrange's stop only as a string (it sends numbers as strings anyway).
    const members = (await redis.zrange(`${prefix}drivers:active`, 0, "-1")).sort();
    expect(members).toEqual(active.map(([d]) => d).sort());
    for (const [d, f] of active.slice(0, 50)) {
      const [[lon, lat]] = (await redis.geopos(`${prefix}drivers:active`, d)) as Array<[string, string]>;
      expect(Math.abs(Number(lon) - f.lon)).toBeLessThan(1e-5);
      expect(Math.abs(Number(lat) - f.lat)).toBeLessThan(1e-5);
      expect(await redis.zscore(`${prefix}drivers:${ngeohash.encode(f.lat, f.lon, 5)}`, d)).not.toBeNull();
    }
  }, 240_000);

  it("driver-eta reads both topics, writes eta-updates and driver-availability-updates; a request is matched once", async () => {
    const locations = uniqueName("de-loc");
    const requests = uniqueName("de-req");
    const base = uniqueName("de");
    const load = riptide(["loadgen", "--brokers", BROKERS, "--kind", "rides", "--topic", `${locations},${requests}`, "--rate", "100000",
      "--events", "60000", "--partitions", "2", "--drivers", "400", "--seed", "8", "--json", "--quiet"]);
    expect(await load.exited, load.stderr).toBe(0);
    const run = riptide(["run", "driver-eta", "--brokers", BROKERS, "--input-topic", `${locations},${requests}`, "--output-topic", `${base}-eta-updates`,
      "--group", uniqueName("g"), "--stop-when-idle", "4", "--json", "--quiet"]);
    expect(await run.exited, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(summary.workers).toBe(1);
    const etas = parse(await readAll([`${base}-eta-updates`]));
    const availability = parse(await readAll([`${base}-driver-availability-updates`], 2000));
    expect(summary.outputs.eta).toBe(etas.length);
    expect(summary.outputs.availability).toBe(availability.length);
    expect(etas.length).toBeGreaterThan(1000);
    // Consistent ids (named from each topic's string table) and the seed's formula.
    for (const e of etas.slice(0, 2000)) {
      expect(e["driverId"]).toMatch(/^drv-\d{6}$/);
      expect(e["requestId"]).toMatch(/^req-\d{9}$/);
      expect(e["distanceKm"] as number).toBeLessThanOrEqual(5);
      const expected = ((e["distanceKm"] as number) / (30 / (e["trafficMultiplier"] as number))) * 60;
      expect(Math.abs((e["etaMinutes"] as number) - expected)).toBeLessThan(1e-9);
    }
    // Matching: a request at most once; per driver, availability alternates starting with available.
    const matched = availability.filter((a) => a["available"] === false);
    expect(matched.length).toBeGreaterThan(10);
    expect(new Set(matched.map((m) => m["requestId"])).size).toBe(matched.length);
    for (const m of matched) expect(m["etaMinutes"] as number).toBeLessThanOrEqual(5);
    // In the order the job wrote them: keyed by driver, a driver's updates share one partition, in
    // processing order. Not sorted by ts: a late fix (the generator's late share) can match a driver
    // at a ts older than the update that made it available.
    const byDriver = new Map<string, boolean[]>();
    for (const a of availability) {
      byDriver.set(a["driverId"] as string, [...(byDriver.get(a["driverId"] as string) ?? []), a["available"] as boolean]);
    }
    for (const [d, seq] of byDriver) expect(seq.every((v, k) => v === (k % 2 === 0)), d).toBe(true);
  }, 180_000);

  it("loadgen --kind rides writes the ride generator's stream to two topics with consistent ids", async () => {
    const locations = uniqueName("lg-loc");
    const requests = uniqueName("lg-req");
    const run = riptide(["loadgen", "--brokers", BROKERS, "--kind", "rides", "--topic", `${locations},${requests}`, "--rate", "100000",
      "--events", "20000", "--partitions", "2", "--drivers", "300", "--seed", "5", "--json", "--quiet"]);
    expect(await run.exited, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim());
    expect(summary.events).toBe(20_000);
    const got = [...await readAll([locations, requests], 2000)];
    expect(got).toHaveLength(20_000);
    // The same stream as the ride generator in-process (loadgen sends up to 256 events per partition turn).
    const gen = new RideGenerator({ seed: 5, drivers: 300, partitions: 2 });
    const expected = new Map<string, number>();
    const cols: RideColumns = {
      driver: new Uint32Array(20_000), request: new Uint32Array(20_000), lat: new Float64Array(20_000), lon: new Float64Array(20_000),
      ts: new Float64Array(20_000), speed: new Float64Array(20_000),
    };
    const perPartition = [0, 0];
    for (const m of got) perPartition[m.partition]! += 1;
    for (let p = 0; p < 2; p++) {
      gen.fill(p, cols, 0, perPartition[p]!);
      for (let i = 0; i < perPartition[p]!; i++) {
        const e = gen.toEvent(cols, i);
        const topic = cols.request[i] !== 0 ? requests : locations;
        const k = `${topic}|${p}|${JSON.stringify(e)}`;
        expected.set(k, (expected.get(k) ?? 0) + 1);
      }
    }
    const actual = new Map<string, number>();
    for (const m of got) {
      const k = `${m.topic}|${m.partition}|${m.value!.toString()}`;
      actual.set(k, (actual.get(k) ?? 0) + 1);
    }
    expect(diff(actual, expected)).toEqual([]);
    const reqs = got.filter((m) => m.topic === requests);
    expect(reqs.length).toBe(summary.requests);
    expect(reqs.every((m) => m.key?.toString() === (JSON.parse(m.value!.toString()) as { requestId: string }).requestId)).toBe(true);
  }, 120_000);
});
