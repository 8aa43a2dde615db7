import { describe, expect, it } from "vitest";
import { DEFAULT_CITIES, DriverGenerator, type DriverColumns, type DriverGeneratorOptions } from "../../src/sources/driver-generator.js";

const R_KM = 6371.0088;
const WINDOW_MS = 60_000;
const GRACE_MS = 10_000;
const MAX_KMH = 250;

function columns(n: number): DriverColumns {
  return { driver: new Uint32Array(n), lat: new Float64Array(n), lon: new Float64Array(n), ts: new Float64Array(n), speed: new Float64Array(n) };
}

function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const r = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * r) / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
  return 2 * R_KM * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Seeded sizes and orders for the tests themselves (mulberry32). */
function testRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** All columns of partition p, `perPartition` events, in one call. */
function partitionStream(g: DriverGenerator, p: number, perPartition: number): DriverColumns {
  const cols = columns(perPartition);
  expect(g.fill(p, cols, 0, perPartition)).toBe(perPartition);
  return cols;
}

function expectSameColumns(a: DriverColumns, b: DriverColumns): void {
  for (const key of ["driver", "lat", "lon", "ts", "speed"] as const) {
    const x = new Uint8Array(a[key].buffer, a[key].byteOffset, a[key].byteLength);
    const y = new Uint8Array(b[key].buffer, b[key].byteOffset, b[key].byteLength);
    expect(Buffer.compare(x, y), key).toBe(0);
  }
}

/** The job's validation (DESIGN "The main job", step 1); null when valid. */
function invalidReason(cols: DriverColumns, i: number): string | null {
  const lat = cols.lat[i]!, lon = cols.lon[i]!, ts = cols.ts[i]!;
  if (cols.driver[i] === 0) return "driver";
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return "nan";
  if (!Number.isFinite(ts)) return "ts";
  if (lat < -90 || lat > 90) return "lat";
  if (lon < -180 || lon > 180) return "lon";
  if (lat === 0 && lon === 0) return "zero";
  return null;
}

interface Tally {
  events: number;
  invalid: Map<string, number>;
  late: number;
  outOfOrder: number;
  /** Smallest and largest lag behind stream time of late and of out-of-order (not late) fixes, ms. */
  lateLag: [number, number];
  outOfOrderLag: [number, number];
  anomalies: number;
  teleports: number;
  /** Anomalies that are not teleports, and teleports not flagged: both must stay 0. */
  anomalyNotTeleport: number;
  teleportNotFlagged: number;
  speedMissing: number;
  nonIntegerTs: number;
  /** Valid fixes farther from their own city's centre than its radius, but not in any far city. */
  strayFixes: number;
  /** Largest speed between a fix and the driver's `last` among non-teleports, km/h. */
  maxSpeedKmh: number;
  /** Pairs (last, fix) ≥ 2 s apart whose reported speed is within 3 km/h of the path's speed. */
  speedPairs: number;
  speedPairsClose: number;
  /** Events per driver. */
  perDriver: Map<number, number>;
}

/**
 * Runs the driver-tracking job's per-partition semantics (validate, stream time, 250 km/h anomaly
 * against `last`, 60 s + 10 s late check, `last` update) over each partition's stream, in order, and
 * classifies every fix. A teleport is a valid fix outside its own city's disc.
 */
function referenceJob(g: DriverGenerator, streams: DriverColumns[]): Tally {
  const t: Tally = {
    events: 0, invalid: new Map(), late: 0, outOfOrder: 0, lateLag: [Infinity, -Infinity], outOfOrderLag: [Infinity, -Infinity], anomalies: 0, teleports: 0, anomalyNotTeleport: 0, teleportNotFlagged: 0,
    speedMissing: 0, nonIntegerTs: 0, strayFixes: 0, maxSpeedKmh: 0, speedPairs: 0, speedPairsClose: 0, perDriver: new Map(),
  };
  const cities = g.options.cities;
  const lastTs = new Float64Array(g.drivers + 1).fill(NaN);
  const lastLat = new Float64Array(g.drivers + 1);
  const lastLon = new Float64Array(g.drivers + 1);
  for (const cols of streams) {
    let streamTime = -Infinity;
    for (let i = 0; i < cols.driver.length; i++) {
      t.events++;
      const d = cols.driver[i]!, lat = cols.lat[i]!, lon = cols.lon[i]!, ts = cols.ts[i]!;
      t.perDriver.set(d, (t.perDriver.get(d) ?? 0) + 1);
      if (Number.isNaN(cols.speed[i]!)) t.speedMissing++;
      if (!Number.isNaN(ts) && !Number.isInteger(ts)) t.nonIntegerTs++;
      const reason = invalidReason(cols, i);
      if (reason !== null) {
        t.invalid.set(reason, (t.invalid.get(reason) ?? 0) + 1);
        continue;
      }
      const lag = streamTime - ts;
      streamTime = Math.max(streamTime, ts);
      const city = cities[g.cityOf(d)]!;
      const teleport = haversineKm(lat, lon, city.lat, city.lon) > city.radiusKm;
      if (teleport) {
        t.teleports++;
        const landed = cities.some((c) => haversineKm(lat, lon, c.lat, c.lon) <= c.radiusKm && haversineKm(c.lat, c.lon, city.lat, city.lon) >= 1000);
        if (!landed) t.strayFixes++;
      }
      let anomaly = false;
      if (!Number.isNaN(lastTs[d]!) && ts > lastTs[d]!) {
        const kmh = haversineKm(lastLat[d]!, lastLon[d]!, lat, lon) / ((ts - lastTs[d]!) / 3_600_000);
        anomaly = kmh > MAX_KMH;
        if (!teleport) {
          t.maxSpeedKmh = Math.max(t.maxSpeedKmh, kmh);
          if (ts - lastTs[d]! >= 2000 && !Number.isNaN(cols.speed[i]!)) {
            t.speedPairs++;
            if (Math.abs(kmh - cols.speed[i]!) <= 3) t.speedPairsClose++;
          }
        }
      }
      if (anomaly) {
        t.anomalies++;
        if (!teleport) t.anomalyNotTeleport++;
        continue;
      }
      if (teleport) t.teleportNotFlagged++;
      const windowEnd = ts - (((ts % WINDOW_MS) + WINDOW_MS) % WINDOW_MS) + WINDOW_MS;
      if (streamTime >= windowEnd + GRACE_MS) {
        t.late++;
        t.lateLag = [Math.min(t.lateLag[0], lag), Math.max(t.lateLag[1], lag)];
        continue;
      }
      if (lag > 0) {
        t.outOfOrder++;
        t.outOfOrderLag = [Math.min(t.outOfOrderLag[0], lag), Math.max(t.outOfOrderLag[1], lag)];
      }
      if (Number.isNaN(lastTs[d]!) || ts > lastTs[d]!) {
        lastTs[d] = ts;
        lastLat[d] = lat;
        lastLon[d] = lon;
      }
    }
  }
  return t;
}

function run(options: Partial<DriverGeneratorOptions>, perPartition: number): { g: DriverGenerator; tally: Tally; streams: DriverColumns[] } {
  const g = new DriverGenerator(options);
  const streams: DriverColumns[] = [];
  for (let p = 0; p < g.partitions; p++) streams.push(partitionStream(g, p, perPartition));
  return { g, tally: referenceJob(g, streams), streams };
}

function share(n: number, total: number): number {
  return n / total;
}

describe("DriverGenerator: determinism", () => {
  it("gives the same columns, bit for bit, for the same options", () => {
    const a = new DriverGenerator({ seed: 7, drivers: 3000, partitions: 8, skew: 1 });
    const b = new DriverGenerator({ seed: 7, drivers: 3000, partitions: 8, skew: 1 });
    for (let p = 0; p < 8; p++) expectSameColumns(partitionStream(a, p, 20_000), partitionStream(b, p, 20_000));
  });

  it("gives each partition the same stream whatever the interleaving and call sizes", () => {
    const options = { seed: 11, drivers: 2000, partitions: 6, skew: 0.8, outOfOrderShare: 0.05, lateShare: 0.01, invalidShare: 0.01, teleportShare: 0.01 };
    const perPartition = 30_000;
    const whole = new DriverGenerator(options);
    const expected = Array.from({ length: 6 }, (_, p) => partitionStream(whole, 5 - p, perPartition)).reverse();

    const pieces = new DriverGenerator(options);
    const got = Array.from({ length: 6 }, () => columns(perPartition));
    const done = new Array<number>(6).fill(0);
    const rnd = testRandom(3);
    while (done.some((n) => n < perPartition)) {
      const p = Math.floor(rnd() * 6);
      const n = Math.min(perPartition - done[p]!, 1 + Math.floor(rnd() * 5000));
      expect(pieces.fill(p, got[p]!, done[p]!, n)).toBe(n);
      done[p]! += n;
      expect(pieces.position(p)).toBe(done[p]);
    }
    for (let p = 0; p < 6; p++) expectSameColumns(expected[p]!, got[p]!);
  });

  it("gives different streams for different seeds", () => {
    const a = partitionStream(new DriverGenerator({ seed: 1 }), 0, 1000);
    const b = partitionStream(new DriverGenerator({ seed: 2 }), 0, 1000);
    let same = 0;
    for (let i = 0; i < 1000; i++) if (a.driver[i] === b.driver[i] && a.lat[i] === b.lat[i]) same++;
    expect(same).toBeLessThan(20);
  });

  it("writes only [at, at + max) of the columns", () => {
    const g = new DriverGenerator({ drivers: 100, partitions: 2 });
    const cols = columns(1000);
    cols.driver.fill(0xdeadbeef);
    for (const key of ["lat", "lon", "ts", "speed"] as const) cols[key].fill(-12345);
    g.fill(1, cols, 100, 800);
    for (const i of [0, 99, 900, 999]) {
      expect(cols.driver[i]).toBe(0xdeadbeef);
      for (const key of ["lat", "lon", "ts", "speed"] as const) expect(cols[key][i]).toBe(-12345);
    }
    expect(cols.driver[100]).not.toBe(0xdeadbeef);
    expect(cols.driver[899]).not.toBe(0xdeadbeef);
  });
});

describe("DriverGenerator: the stream the driver-tracking job sees (1 M events)", () => {
  const { g, tally, streams } = run({ seed: 42 }, 62_500);
  const n = tally.events;

  it("has the shares of the options", () => {
    expect(n).toBe(1_000_000);
    const invalid = [...tally.invalid.values()].reduce((a, b) => a + b, 0);
    expect(share(invalid, n)).toBeGreaterThan(0.001 * 0.85);
    expect(share(invalid, n)).toBeLessThan(0.001 * 1.15);
    for (const kind of ["driver", "nan", "ts", "lat", "lon", "zero"]) {
      expect(tally.invalid.get(kind) ?? 0, kind).toBeGreaterThan(invalid / 6 * 0.7);
      expect(tally.invalid.get(kind) ?? 0, kind).toBeLessThan(invalid / 6 * 1.3);
    }
    expect(share(tally.late, n)).toBeGreaterThan(0.001 * 0.85);
    expect(share(tally.late, n)).toBeLessThan(0.001 * 1.15);
    expect(share(tally.teleports, n)).toBeGreaterThan(0.0005 * 0.8);
    expect(share(tally.teleports, n)).toBeLessThan(0.0005 * 1.2);
    expect(share(tally.outOfOrder, n)).toBeGreaterThan(0.02 * 0.95);
    expect(share(tally.outOfOrder, n)).toBeLessThan(0.02 * 1.05);
    expect(share(tally.speedMissing, n)).toBeGreaterThan(0.05 * 0.97);
    expect(share(tally.speedMissing, n)).toBeLessThan(0.05 * 1.03);
  });

  it("puts late fixes 75–600 s and out-of-order fixes 1–8 s behind stream time", () => {
    const step = Math.ceil((4000 * 16) / 10_000); // stream time is the previous event's (floored) clock
    expect(tally.lateLag[0]).toBeGreaterThanOrEqual(75_000 - step);
    expect(tally.lateLag[0]).toBeLessThan(80_000);
    expect(tally.lateLag[1]).toBeLessThanOrEqual(600_000);
    expect(tally.lateLag[1]).toBeGreaterThan(590_000);
    expect(tally.outOfOrderLag[0]).toBeGreaterThanOrEqual(1000 - step);
    expect(tally.outOfOrderLag[0]).toBeLessThan(1100);
    expect(tally.outOfOrderLag[1]).toBeLessThanOrEqual(8000);
    expect(tally.outOfOrderLag[1]).toBeGreaterThan(7900);
  });

  it("flags exactly the teleports at 250 km/h; other fixes move at city speeds", () => {
    expect(tally.anomalyNotTeleport).toBe(0);
    expect(tally.teleportNotFlagged).toBe(0);
    expect(tally.anomalies).toBe(tally.teleports);
    expect(tally.strayFixes).toBe(0);
    expect(tally.maxSpeedKmh).toBeLessThan(95);
    expect(tally.maxSpeedKmh).toBeGreaterThan(60);
  });

  it("reports a speed close to the speed of the path", () => {
    expect(tally.speedPairs).toBeGreaterThan(500_000);
    expect(tally.speedPairsClose / tally.speedPairs).toBeGreaterThan(0.97);
  });

  it("stamps integer event times on a clock of reportIntervalMs · partitions / drivers per event", () => {
    expect(tally.nonIntegerTs).toBe(0);
    const step = (4000 * 16) / 10_000;
    const s = streams[3]!;
    expect(s.ts[0]).toBe(1_700_000_000_000);
    let onClock = 0;
    for (let k = 0; k < s.ts.length; k++) if (s.ts[k] === Math.floor(1_700_000_000_000 + k * step)) onClock++;
    expect(onClock / s.ts.length).toBeGreaterThan(0.97);
  });

  it("keeps every driver in its partition and every valid speed plausible", () => {
    for (let p = 0; p < streams.length; p++) {
      const s = streams[p]!;
      for (let i = 0; i < s.driver.length; i++) {
        const d = s.driver[i]!;
        if (d !== 0 && (d - 1) % g.partitions !== p) throw new Error(`driver ${d} in partition ${p}`);
        const v = s.speed[i]!;
        if (!Number.isNaN(v) && !(v >= 8 && v <= 92 && Math.abs(v * 10 - Math.round(v * 10)) < 1e-6)) throw new Error(`speed ${v} at ${p}/${i}`);
      }
    }
  });

  it("assigns drivers to cities by weight", () => {
    const count = new Array<number>(DEFAULT_CITIES.length).fill(0);
    for (let d = 1; d <= g.drivers; d++) count[g.cityOf(d)]!++;
    const total = DEFAULT_CITIES.reduce((a, c) => a + c.weight, 0);
    DEFAULT_CITIES.forEach((c, i) => {
      expect(count[i]! / g.drivers, c.name).toBeGreaterThan((c.weight / total) * 0.85);
      expect(count[i]! / g.drivers, c.name).toBeLessThan((c.weight / total) * 1.15);
    });
  });

  it("lets every driver report about equally often without skew", () => {
    const counts = [...tally.perDriver.entries()].filter(([d]) => d !== 0).map(([, c]) => c);
    expect(counts.length).toBe(10_000);
    const mean = 1_000_000 / 10_000;
    expect(Math.max(...counts)).toBeLessThan(mean * 1.6);
    expect(Math.min(...counts)).toBeGreaterThan(mean * 0.5);
  });
});

describe("DriverGenerator: harder settings", () => {
  it("with a Zipf-like skew, some drivers report far more often than others", () => {
    const { tally } = run({ seed: 5, drivers: 1000, partitions: 4, skew: 1 }, 50_000);
    const counts = [...tally.perDriver.entries()].filter(([d]) => d !== 0).map(([, c]) => c).sort((a, b) => b - a);
    // Top driver of a partition of 250: weight 1 / H(250) ≈ 16 % of its 50 000 events.
    expect(counts[0]).toBeGreaterThan(6000);
    expect(counts[counts.length - 1]).toBeLessThan(80);
    expect(tally.anomalyNotTeleport).toBe(0);
    expect(tally.teleportNotFlagged).toBe(0);
  });

  it("keeps sparse drivers (long gaps) inside their city and below 250 km/h", () => {
    const { tally } = run({ seed: 9, drivers: 400, partitions: 2, skew: 2, reportIntervalMs: 120_000, teleportShare: 0.002 }, 40_000);
    expect(tally.strayFixes).toBe(0);
    expect(tally.anomalyNotTeleport).toBe(0);
    expect(tally.teleportNotFlagged).toBe(0);
    expect(tally.teleports).toBeGreaterThan(40);
    expect(tally.maxSpeedKmh).toBeLessThan(95);
  });

  it("teleports to the antipode when no city is 1000 km away, and never on a driver's first fix", () => {
    const cities = [{ name: "Only", lat: 10, lon: 20, radiusKm: 10, weight: 1 }];
    const g = new DriverGenerator({ drivers: 50, partitions: 1, cities, teleportShare: 0.2, outOfOrderShare: 0, lateShare: 0, invalidShare: 0 });
    const s = partitionStream(g, 0, 5000);
    const seen = new Set<number>();
    let antipodes = 0;
    for (let i = 0; i < 5000; i++) {
      const far = s.lat[i] === -10 && s.lon[i] === -160;
      if (far) {
        antipodes++;
        expect(seen.has(s.driver[i]!)).toBe(true);
      } else {
        expect(haversineKm(s.lat[i]!, s.lon[i]!, 10, 20)).toBeLessThan(10);
        seen.add(s.driver[i]!);
      }
    }
    expect(antipodes).toBeGreaterThan(800);
  });

  it("makes no rare kinds when their shares are 0", () => {
    const { tally } = run({ drivers: 500, partitions: 2, outOfOrderShare: 0, lateShare: 0, invalidShare: 0, teleportShare: 0, speedMissingShare: 0 }, 50_000);
    expect(tally.invalid.size).toBe(0);
    expect(tally.late + tally.outOfOrder + tally.teleports + tally.anomalies + tally.speedMissing).toBe(0);
  });
});

describe("DriverGenerator: options", () => {
  const cases: [string, unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    ["options not an object", 5, TypeError, /options must be an object/],
    ["unknown option", { sed: 1 }, TypeError, /unknown option "sed"/],
    ["seed type", { seed: "1" }, TypeError, /options\.seed must be a number/],
    ["seed range", { seed: 1.5 }, RangeError, /options\.seed must be a safe integer/],
    ["drivers type", { drivers: "10" }, TypeError, /options\.drivers must be a number/],
    ["drivers range", { drivers: 0 }, RangeError, /options\.drivers must be an integer in \[1, 10000000\]/],
    ["drivers fraction", { drivers: 10.5 }, RangeError, /options\.drivers/],
    ["partitions type", { partitions: null }, TypeError, /options\.partitions must be a number/],
    ["partitions range", { partitions: 0 }, RangeError, /options\.partitions must be an integer/],
    ["partitions > drivers", { drivers: 4, partitions: 5 }, RangeError, /options\.partitions \(5\) must not exceed options\.drivers \(4\)/],
    ["cities type", { cities: "London" }, TypeError, /options\.cities must be an array/],
    ["cities empty", { cities: [] }, RangeError, /options\.cities must hold 1\.\.65535 cities/],
    ["city not object", { cities: [3] }, TypeError, /options\.cities\[0\] must be an object/],
    ["city name", { cities: [{ lat: 0, lon: 0, radiusKm: 1, weight: 1 }] }, TypeError, /options\.cities\[0\]\.name must be a string/],
    ["city lat", { cities: [{ name: "x", lat: 95, lon: 0, radiusKm: 1, weight: 1 }] }, RangeError, /options\.cities\[0\]\.lat/],
    ["city radius", { cities: [{ name: "x", lat: 0, lon: 0, radiusKm: 0, weight: 1 }] }, RangeError, /options\.cities\[0\]\.radiusKm/],
    ["city weight type", { cities: [{ name: "x", lat: 0, lon: 0, radiusKm: 1, weight: "1" }] }, TypeError, /options\.cities\[0\]\.weight must be a number/],
    ["city at antimeridian", { cities: [{ name: "x", lat: 0, lon: 179.9, radiusKm: 50, weight: 1 }] }, RangeError, /options\.cities\[0\] crosses the antimeridian/],
    ["city at a pole", { cities: [{ name: "x", lat: 88.9, lon: 0, radiusKm: 50, weight: 1 }] }, RangeError, /options\.cities\[0\] reaches within 1° of a pole/],
    ["skew type", { skew: true }, TypeError, /options\.skew must be a number/],
    ["skew range", { skew: -1 }, RangeError, /options\.skew must be a finite number in \[0, 4\]/],
    ["startTs range", { startTs: -1 }, RangeError, /options\.startTs/],
    ["reportIntervalMs range", { reportIntervalMs: 0 }, RangeError, /options\.reportIntervalMs must be a finite number in \(0, 86400000\]/],
    ["reportIntervalMs NaN", { reportIntervalMs: NaN }, RangeError, /options\.reportIntervalMs/],
    ["outOfOrderShare type", { outOfOrderShare: "0.1" }, TypeError, /options\.outOfOrderShare must be a number/],
    ["outOfOrderShare range", { outOfOrderShare: 1.5 }, RangeError, /options\.outOfOrderShare/],
    ["lateShare range", { lateShare: -0.1 }, RangeError, /options\.lateShare/],
    ["invalidShare range", { invalidShare: Infinity }, RangeError, /options\.invalidShare/],
    ["teleportShare range", { teleportShare: 2 }, RangeError, /options\.teleportShare/],
    ["speedMissingShare range", { speedMissingShare: 1.01 }, RangeError, /options\.speedMissingShare/],
    ["shares sum", { outOfOrderShare: 0.6, lateShare: 0.6 }, RangeError, /outOfOrderShare \+ lateShare \+ invalidShare \+ teleportShare must not exceed 1/],
  ];
  for (const [name, options, type, message] of cases) {
    it(`rejects ${name}`, () => {
      const make = (): DriverGenerator => new DriverGenerator(options as Partial<DriverGeneratorOptions>);
      expect(make).toThrow(type);
      expect(make).toThrow(message);
    });
  }

  it("accepts undefined options and undefined fields as defaults", () => {
    const g = new DriverGenerator({ seed: undefined });
    expect(g.partitions).toBe(16);
    expect(g.drivers).toBe(10_000);
    expect(new DriverGenerator().options.seed).toBe(42);
  });

  it("defaults partitions to the number of drivers when there are fewer than 16", () => {
    expect(new DriverGenerator({ drivers: 10 }).partitions).toBe(10);
    expect(new DriverGenerator({ drivers: 10, partitions: 3 }).partitions).toBe(3);
  });

  it("rejects bad fill arguments with a RangeError", () => {
    const g = new DriverGenerator({ drivers: 10, partitions: 2 });
    expect(() => g.fill(2, columns(10), 0, 1)).toThrow(/partition must be an integer in \[0, 1\]/);
    expect(() => g.fill(0, columns(10), 5, 6)).toThrow(/columns are too short/);
    expect(() => g.fill(0, columns(10), -1, 1)).toThrow(RangeError);
    expect(g.fill(0, columns(10), 10, 0)).toBe(0);
  });
});

describe("DriverGenerator: edges", () => {
  it("names drivers", () => {
    const g = new DriverGenerator({ drivers: 10 });
    expect(g.driverName(42)).toBe("drv-000042");
    expect(g.driverName(1_234_567)).toBe("drv-1234567");
    expect(g.driverName(0)).toBe("");
  });

  it("turns a fix into the JSON object a device sends", () => {
    const cols = columns(4);
    cols.driver.set([7, 0, 3, 9]);
    cols.lat.set([37.5, NaN, 100, 1]);
    cols.lon.set([-122.25, 2, 3, NaN]);
    cols.ts.set([1_700_000_000_123, 1_700_000_000_124, NaN, 5]);
    cols.speed.set([42.3, NaN, 0, NaN]);
    const name = (id: number): string => `d${id}`;
    expect(DriverGenerator.toEvent(cols, 0, name)).toStrictEqual({ driverId: "d7", lat: 37.5, lon: -122.25, ts: 1_700_000_000_123, speedKmh: 42.3 });
    expect(DriverGenerator.toEvent(cols, 1, name)).toStrictEqual({ driverId: "", lat: null, lon: 2, ts: 1_700_000_000_124 });
    expect(DriverGenerator.toEvent(cols, 2, name)).toStrictEqual({ driverId: "d3", lat: 100, lon: 3, ts: null, speedKmh: 0 });
    expect(Object.keys(DriverGenerator.toEvent(cols, 3, name))).toStrictEqual(["driverId", "lat", "lon", "ts"]);
    expect(JSON.stringify(DriverGenerator.toEvent(cols, 3, name))).toBe('{"driverId":"d9","lat":1,"lon":null,"ts":5}');
  });

  it("round-trips generated fixes through toEvent and the job's validation", () => {
    const g = new DriverGenerator({ invalidShare: 0.05 });
    const s = partitionStream(g, 0, 20_000);
    const name = g.driverName.bind(g);
    let invalid = 0;
    for (let i = 0; i < 20_000; i++) {
      const e = DriverGenerator.toEvent(s, i, name);
      const ok =
        typeof e.driverId === "string" && e.driverId !== "" &&
        typeof e.lat === "number" && typeof e.lon === "number" && typeof e.ts === "number" &&
        Math.abs(e.lat) <= 90 && Math.abs(e.lon) <= 180 && !(e.lat === 0 && e.lon === 0);
      expect(ok).toBe(invalidReason(s, i) === null);
      if (!ok) invalid++;
      if ("speedKmh" in e) expect(typeof e.speedKmh).toBe("number");
    }
    expect(invalid).toBeGreaterThan(700);
  });
});
