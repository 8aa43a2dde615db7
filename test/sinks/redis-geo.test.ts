/**
 * driver-tracking with the Redis GEO index, in-process against the machine's real Redis: the index
 * after a run equals the one computed from the reference implementation's `last` fixes (members,
 * positions, regions, last-seen times, 5-minute expiry on event time), while the job's own outputs
 * stay exactly the reference's. Plus the TeeSink's acknowledgement prefix.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import ngeohash from "ngeohash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { Interner } from "../../src/schema/interner.js";
import { connectRedis, parseRedisUrl } from "../../src/sinks/redis-client.js";
import { RedisGeoSink } from "../../src/sinks/redis-geo.js";
import { withPositions } from "../../src/sinks/redis-setup.js";
import { MemorySink, type Sink } from "../../src/sinks/sink.js";
import { TeeSink } from "../../src/sinks/tee.js";
import { DriverGenerator, type DriverColumns } from "../../src/sources/driver-generator.js";
import { JsonLinesFileSource } from "../../src/sources/file-source.js";
import { compileJsonDecoder } from "../../src/sources/json.js";
import { diff, multiset, referenceDriverTracking, type SourcedEvent } from "../support/driver-reference.js";

const URL = "redis://127.0.0.1:6379";
let redis: Redis;
const prefixes: string[] = [];

beforeAll(() => {
  redis = new Redis(URL);
});

afterAll(async () => {
  for (const p of prefixes) {
    const keys = await redis.keys(`${p}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

function uniquePrefix(): string {
  const p = `riptide-test-${randomBytes(4).toString("hex")}:`;
  prefixes.push(p);
  return p;
}

/** Generator events (one partition) where every fifth driver stops reporting after the first quarter. */
function events(total: number): SourcedEvent[] {
  const gen = new DriverGenerator({ seed: 5, drivers: 300, partitions: 1, lateShare: 0.005, invalidShare: 0.005, teleportShare: 0.002 });
  const cols: DriverColumns = {
    driver: new Uint32Array(1000), lat: new Float64Array(1000), lon: new Float64Array(1000),
    ts: new Float64Array(1000), speed: new Float64Array(1000),
  };
  const out: SourcedEvent[] = [];
  for (let done = 0; done < total; done += 1000) {
    gen.fill(0, cols, 0, 1000);
    for (let i = 0; i < 1000; i++) {
      if (done > total / 4 && cols.driver[i]! % 5 === 0) continue;
      out.push({ partition: 0, event: DriverGenerator.toEvent(cols, i, (id) => gen.driverName(id)) });
    }
  }
  return out;
}

describe("Redis GEO index (driver-tracking --redis)", () => {
  it("holds each active driver at its latest aggregated fix, in its region's set, and expires silent ones", async () => {
    const sourced = events(80_000);
    const dir = mkdtempSync(join(tmpdir(), "riptide-geo-"));
    const file = join(dir, "fixes.jsonl");
    writeFileSync(file, sourced.map((e) => JSON.stringify(e.event)).join("\n"));
    const last = new Map<string, { lat: number; lon: number; ts: number }>();
    const reference = referenceDriverTracking(sourced, 1, last);

    const prefix = uniquePrefix();
    const interner = new Interner();
    const geo = new RedisGeoSink({ client: await connectRedis(URL), name: (id) => interner.name(id), prefix });
    const memory = new MemorySink();
    const source = new JsonLinesFileSource(file, compileJsonDecoder(driverTracking.schema, interner), () => undefined);
    const coordinator = new Coordinator({
      pipeline: withPositions(driverTracking), source, sink: new TeeSink([memory, geo]), workers: 2, batchSize: 512, idleTimeoutMs: 1e9,
    });
    const summary = await coordinator.run();

    // The job's own outputs are untouched by the positions.
    expect(diff(multiset(memory.outputs, true), multiset(reference, true))).toEqual([]);
    // Positions are coalesced per batch, and sent in far fewer pipelines than positions.
    const positions = summary.outputs["position"]!;
    expect(positions).toBeGreaterThan(10_000);
    expect(positions).toBeLessThan(sourced.length);
    expect(geo.acknowledged).toBe(geo.written);
    expect(geo.written).toBe(positions);
    expect(geo.pipelines).toBeLessThan(positions / 50);

    // Expected index: drivers whose newest aggregated fix is at most 5 minutes behind the newest one.
    let newest = -Infinity;
    for (const f of last.values()) newest = Math.max(newest, f.ts);
    const active = [...last.entries()].filter(([, f]) => f.ts >= newest - 300_000);
    const gone = [...last.keys()].filter((d) => last.get(d)!.ts < newest - 300_000);
    expect(gone.length).toBeGreaterThan(30); // the silent fifth
    expect(active.length).toBeGreaterThan(200);
    expect(geo.expired).toBeGreaterThanOrEqual(gone.length);

    // "-1" as a string: ioredis 6's typings take zrange's stop only as a string (it sends numbers as strings anyway).
    const members = (await redis.zrange(`${prefix}drivers:active`, 0, "-1")).sort();
    expect(members).toEqual(active.map(([d]) => d).sort());
    const positionsInRedis = await redis.geopos(`${prefix}drivers:active`, ...members);
    for (let k = 0; k < members.length; k++) {
      const f = last.get(members[k]!)!;
      const [lon, lat] = positionsInRedis[k]!.map(Number) as [number, number];
      // GEO stores a 52-bit geohash: well under a metre.
      expect(Math.abs(lon - f.lon)).toBeLessThan(1e-5);
      expect(Math.abs(lat - f.lat)).toBeLessThan(1e-5);
      expect(Number(await redis.zscore(`${prefix}drivers:active:seen`, members[k]!))).toBe(f.ts);
    }
    // Region sets: each driver in exactly the set of its latest position's geohash-5.
    const expectedByRegion = new Map<string, string[]>();
    for (const [d, f] of active) {
      const r = ngeohash.encode(f.lat, f.lon, 5);
      expectedByRegion.set(r, [...(expectedByRegion.get(r) ?? []), d]);
    }
    const regionKeys = (await redis.keys(`${prefix}drivers:*`)).filter((k) => !/drivers:active/.test(k));
    const actualByRegion = new Map<string, string[]>();
    for (const k of regionKeys) {
      const m = await redis.zrange(k, 0, "-1");
      if (m.length > 0) actualByRegion.set(k.slice(`${prefix}drivers:`.length), m.sort());
    }
    expect(new Map([...actualByRegion].sort())).toEqual(new Map([...expectedByRegion].map(([r, ds]) => [r, ds.sort()] as [string, string[]]).sort()));
    // Every key carries the wall-clock expiry, refreshed on write.
    for (const k of [`${prefix}drivers:active`, regionKeys[0]!]) {
      const ttl = await redis.ttl(k);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(300);
    }
  }, 120_000);

  it("ignores a position older than the one stored (a replay cannot move a driver back)", async () => {
    const prefix = uniquePrefix();
    const geo = new RedisGeoSink({ client: await connectRedis(URL), name: (id) => `d${id}`, prefix });
    const cols = {
      kind: new Uint32Array(2), code: new Uint32Array(2), key: new Uint32Array([7, 7]), part: new Uint32Array(2),
      off: new Float64Array(2), a: new Float64Array([37.77, 37.70]), b: new Float64Array([-122.41, -122.40]),
      c: new Float64Array([2_000, 1_000]), d: new Float64Array(2), e: new Float64Array(2), f: new Float64Array(2),
    };
    cols.code[0] = ngeohashInt(37.77, -122.41);
    cols.code[1] = ngeohashInt(37.70, -122.40);
    geo.writeRecord(cols, 0);
    await geo.flush();
    geo.writeRecord(cols, 1); // older: ignored by the sink's table and by the script
    await geo.flush();
    expect(Number(await redis.zscore(`${prefix}drivers:active:seen`, "d7"))).toBe(2_000);
    expect(await redis.hget(`${prefix}drivers:active:region`, "d7")).toBe(ngeohash.encode(37.77, -122.41, 5));
    await geo.close();
  });

  it("validates --redis URLs with messages naming the option", () => {
    expect(parseRedisUrl("redis://127.0.0.1:6379")).toBe("redis://127.0.0.1:6379");
    expect(parseRedisUrl("rediss://u:p@host:6380/2")).toBe("rediss://u:p@host:6380/2");
    expect(() => parseRedisUrl("127.0.0.1:6379")).toThrow(/--redis must (use|be a) redis:\/\/ or rediss:\/\//);
    expect(() => parseRedisUrl("not a url")).toThrow(/--redis must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => parseRedisUrl("http://host")).toThrow(/--redis must use/);
    expect(() => parseRedisUrl("redis://host/x")).toThrow(/--redis: the database/);
  });

  it("fails to connect with a clear error", async () => {
    await expect(connectRedis("redis://127.0.0.1:1", { connectTimeoutMs: 500 })).rejects.toThrow(/cannot connect to Redis at redis:\/\/127.0.0.1:1/);
  });
});

describe("TeeSink", () => {
  it("acknowledges a prefix only when every sink acknowledged what it was given", () => {
    const a = { wantsObjects: true, written: 0, acknowledged: 0, write() { this.written++; }, async close() {} };
    const b = { wantsObjects: true, written: 0, acknowledged: 0, write() { this.written++; }, async close() {} };
    const tee = new TeeSink([a as Sink, b as Sink]);
    tee.write({ type: "x" });
    tee.write({ type: "x" });
    const mark = tee.written; // 4: a 2, b 2
    expect(mark).toBe(4);
    a.acknowledged = 2; // a is done, b is not
    tee.write({ type: "x" });
    a.acknowledged = 3;
    expect(tee.acknowledged).toBeLessThan(mark);
    b.acknowledged = 2;
    expect(tee.acknowledged).toBe(4);
    b.acknowledged = 3;
    expect(tee.acknowledged).toBe(6);
  });
});

function ngeohashInt(lat: number, lon: number): number {
  // geohash-5 as the shard computes it: 25 bits, base-32 digits in order.
  const s = ngeohash.encode(lat, lon, 5);
  let v = 0;
  for (const ch of s) v = v * 32 + "0123456789bcdefghjkmnpqrstuvwxyz".indexOf(ch);
  return v;
}
