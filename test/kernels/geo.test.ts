import { describe, it, expect } from "vitest";
import { mulberry32, nextDown, nextUp, unit53 } from "../support/random.js";
import {
  EARTH_RADIUS_KM,
  SPEED_EXCEEDS,
  SPEED_UNDECIDED,
  SPEED_WITHIN,
  etaBatch,
  etaFromPoint,
  etaMinutes,
  haversineBatch,
  haversineKm,
  speedBoundDecision,
  speedExceedsKmh,
} from "../../src/kernels/geo.js";

// --- helpers ---------------------------------------------------------------------------------


/** The reference the speed check must equal, written out as DESIGN.md states it. */
function exactExceeds(
  lat1: number,
  lon1: number,
  ts1: number,
  lat2: number,
  lon2: number,
  ts2: number,
  limit: number,
): boolean {
  return haversineKm(lat1, lon1, lat2, lon2) / ((ts2 - ts1) / 3_600_000) > limit;
}

/** An independent textbook haversine (no shared constants) for the distance tests. */
function textbookKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const r = (d: number): number => (d * Math.PI) / 180;
  const a =
    Math.sin(r(lat2 - lat1) / 2) ** 2 + Math.cos(r(lat1)) * Math.cos(r(lat2)) * Math.sin(r(lon2 - lon1) / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(a)));
}

// --- distance --------------------------------------------------------------------------------

describe("haversineKm", () => {
  it("gives known distances", () => {
    expect(EARTH_RADIUS_KM).toBe(6371.0088);
    // One degree of latitude (or of longitude on the equator) is R·π/180 = 111.19508 km.
    expect(haversineKm(0, 0, 1, 0)).toBeCloseTo(111.19508, 4);
    expect(haversineKm(10, 20, 11, 20)).toBeCloseTo(111.19508, 4);
    expect(haversineKm(0, 0, 0, 1)).toBeCloseTo(111.19508, 4);
    // A degree of longitude at 60° is half as long, less the curvature (cos 60° = 0.5).
    expect(haversineKm(60, 0, 60, 1)).toBeCloseTo(55.5975, 3);
    // Equator to pole: a quarter of the circumference, πR/2.
    expect(haversineKm(0, 0, 90, 0)).toBeCloseTo((Math.PI * 6371.0088) / 2, 6);
    // Antipodes: half the circumference, and not NaN even though a rounds to ~1.
    expect(haversineKm(0, 0, 0, 180)).toBeCloseTo(Math.PI * 6371.0088, 6);
    expect(haversineKm(45, 10, -45, -170)).toBeCloseTo(Math.PI * 6371.0088, 6);
    // Paris (Notre-Dame) – London (Charing Cross): 343.5 km on the sphere.
    expect(Math.abs(haversineKm(48.8566, 2.3522, 51.5074, -0.1278) - 343.5)).toBeLessThan(0.5);
    // New York – Los Angeles: about 3936 km.
    expect(Math.abs(haversineKm(40.7128, -74.006, 34.0522, -118.2437) - 3936)).toBeLessThan(3);
    expect(haversineKm(37.7749, -122.4194, 37.7749, -122.4194)).toBe(0);
  });

  it("is symmetric bit for bit and agrees with a textbook haversine", () => {
    const next = mulberry32(11);
    for (let i = 0; i < 100_000; i++) {
      const lat1 = unit53(next) * 180 - 90;
      const lon1 = unit53(next) * 360 - 180;
      const lat2 = unit53(next) * 180 - 90;
      const lon2 = unit53(next) * 360 - 180;
      const d = haversineKm(lat1, lon1, lat2, lon2);
      if (d !== haversineKm(lat2, lon2, lat1, lon1)) expect.fail(`asymmetric at ${[lat1, lon1, lat2, lon2]}`);
      const ref = textbookKm(lat1, lon1, lat2, lon2);
      if (!(Math.abs(d - ref) <= 1e-9 * Math.max(1, ref))) expect.fail(`${d} vs textbook ${ref}`);
    }
  });

  it("haversineBatch equals the scalar function and writes nothing past n", () => {
    const n = 10_000;
    const next = mulberry32(12);
    const a = [new Float64Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)] as const;
    for (let i = 0; i < n; i++) {
      a[0][i] = unit53(next) * 180 - 90;
      a[1][i] = unit53(next) * 360 - 180;
      a[2][i] = a[0][i]! + (unit53(next) - 0.5) * 0.2;
      a[3][i] = a[1][i]! + (unit53(next) - 0.5) * 0.2;
    }
    const out = new Float64Array(n + 1).fill(-1);
    haversineBatch(a[0], a[1], a[2], a[3], n, out);
    for (let i = 0; i < n; i++) {
      if (!Object.is(out[i], haversineKm(a[0][i]!, a[1][i]!, a[2][i]!, a[3][i]!))) expect.fail(`batch != scalar at ${i}`);
    }
    expect(out[n]).toBe(-1);
    expect(() => haversineBatch(a[0], a[1], a[2], a[3], n + 1, out)).toThrow(/n must be an integer in 0\.\.10000/);
  });
});

// --- ETA -------------------------------------------------------------------------------------

describe("ETA", () => {
  it("follows the seed: distance / (30 km/h / traffic) * 60", () => {
    expect(etaMinutes(10, 1)).toBe(20);
    expect(etaMinutes(10, 1.5)).toBeCloseTo(30, 12);
    expect(etaMinutes(2.5, 1)).toBe(5); // the matching threshold: 2.5 km at free-flow speed
    expect(etaMinutes(5, 2, 60)).toBe(10);
    expect(etaMinutes(0, 3)).toBe(0);
    expect(etaMinutes(15, 1, 30)).toBe(etaMinutes(15, 1));
  });

  const n = 20_000;
  const next = mulberry32(21);
  const dLat = new Float64Array(n);
  const dLon = new Float64Array(n);
  const rLat = new Float64Array(n);
  const rLon = new Float64Array(n);
  const traffic = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    dLat[i] = 40 + unit53(next) * 0.5;
    dLon[i] = -74 + unit53(next) * 0.5;
    rLat[i] = 40 + unit53(next) * 0.5;
    rLon[i] = -74 + unit53(next) * 0.5;
    traffic[i] = 1 + unit53(next) * 2;
  }

  it("etaBatch equals etaMinutes(haversineKm(...)) per pair", () => {
    const out = new Float64Array(n);
    etaBatch(dLat, dLon, rLat, rLon, traffic, n, out);
    for (let i = 0; i < n; i++) {
      const want = etaMinutes(haversineKm(dLat[i]!, dLon[i]!, rLat[i]!, rLon[i]!), traffic[i]!);
      if (!Object.is(out[i], want)) expect.fail(`etaBatch[${i}] = ${out[i]}, scalar ${want}`);
    }
    etaBatch(dLat, dLon, rLat, rLon, traffic, n, out, 45);
    expect(out[7]).toBe(etaMinutes(haversineKm(dLat[7]!, dLon[7]!, rLat[7]!, rLon[7]!), traffic[7]!, 45));
  });

  it("etaFromPoint writes the ETA within maxKm, NaN beyond, and counts the former", () => {
    const out = new Float64Array(n);
    const lat = 40.25;
    const lon = -73.75;
    for (const maxKm of [0, 1, 5, 12.3, 40, 1e9]) {
      const count = etaFromPoint(lat, lon, rLat, rLon, traffic, n, maxKm, out);
      let want = 0;
      for (let i = 0; i < n; i++) {
        const d = haversineKm(lat, lon, rLat[i]!, rLon[i]!);
        const eta = d <= maxKm ? etaMinutes(d, traffic[i]!) : NaN;
        if (d <= maxKm) want++;
        if (!Object.is(out[i], eta)) expect.fail(`maxKm ${maxKm}: out[${i}] = ${out[i]}, want ${eta}`);
      }
      expect(count).toBe(want);
    }
    // A request exactly at maxKm is within; one ulp less of range and it is not.
    const d0 = haversineKm(lat, lon, rLat[0]!, rLon[0]!);
    expect(etaFromPoint(lat, lon, rLat, rLon, traffic, 1, d0, out)).toBe(1);
    expect(out[0]).toBe(etaMinutes(d0, traffic[0]!));
    expect(etaFromPoint(lat, lon, rLat, rLon, traffic, 1, nextDown(d0), out)).toBe(0);
    expect(out[0]).toBeNaN();
    // The latitude pre-filter must not drop a request whose distance is R·|Δφ| to the last bit.
    const due = new Float64Array([lat + 0.1]);
    const dueLon = new Float64Array([lon]);
    const dDue = haversineKm(lat, lon, due[0]!, lon);
    expect(etaFromPoint(lat, lon, due, dueLon, new Float64Array([1]), 1, dDue, out)).toBe(1);
  });
});

// --- speed check -----------------------------------------------------------------------------

describe("speedExceedsKmh equals haversineKm / hours > limit", () => {
  interface Tally {
    cases: number;
    decided: number;
  }

  /** Checks one case against the reference; also checks that a bound decision agrees. */
  function check(t: Tally, lat1: number, lon1: number, ts1: number, lat2: number, lon2: number, ts2: number, limit: number): void {
    const want = exactExceeds(lat1, lon1, ts1, lat2, lon2, ts2, limit);
    const got = speedExceedsKmh(lat1, lon1, ts1, lat2, lon2, ts2, limit);
    const bound = speedBoundDecision(lat1, lon1, ts1, lat2, lon2, ts2, limit);
    t.cases++;
    if (bound !== SPEED_UNDECIDED) {
      t.decided++;
      if ((bound === SPEED_EXCEEDS) !== want) {
        expect.fail(`bound says ${bound} but exact is ${want}: ${[lat1, lon1, ts1, lat2, lon2, ts2, limit]}`);
      }
    }
    if (got !== want) expect.fail(`got ${got}, exact ${want}: ${[lat1, lon1, ts1, lat2, lon2, ts2, limit]}`);
  }

  /** A second fix at `speedKmh` after `dtMs` from (lat, lon) in a random direction. */
  function move(next: () => number, lat: number, lon: number, speedKmh: number, dtMs: number): [number, number] {
    const km = (speedKmh * dtMs) / 3_600_000;
    const bearing = unit53(next) * 2 * Math.PI;
    const dLat = ((km * Math.cos(bearing)) / EARTH_RADIUS_KM) * (180 / Math.PI);
    const cosLat = Math.max(1e-6, Math.cos((lat * Math.PI) / 180));
    const dLon = ((km * Math.sin(bearing)) / (EARTH_RADIUS_KM * cosLat)) * (180 / Math.PI);
    return [Math.max(-90, Math.min(90, lat + dLat)), lon + dLon];
  }

  it("on 1,200,000 seeded driver-ping pairs, with the bound deciding almost all", () => {
    const next = mulberry32(0xc0ffee);
    const inDomain: Tally = { cases: 0, decided: 0 };
    const polar: Tally = { cases: 0, decided: 0 };
    for (let i = 0; i < 1_200_000; i++) {
      // Latitudes over the whole globe, 1% right at a pole; beyond 80° the bound defers.
      const lat1 = i % 100 === 0 ? (i % 200 === 0 ? 90 : -90) : unit53(next) * 178 - 89;
      const lon1 = unit53(next) * 360 - 180;
      const ts1 = 1_700_000_000_000 + Math.floor(unit53(next) * 1e9);
      const dt = 1 + Math.floor(unit53(next) * 120_000);
      const [lat2, lon2] = move(next, lat1, lon1, unit53(next) * 500, dt);
      check(Math.abs(lat1) <= 80 ? inDomain : polar, lat1, lon1, ts1, lat2, lon2, ts1 + dt, 250);
    }
    expect(inDomain.cases + polar.cases).toBe(1_200_000);
    // Not a timing assertion: the bound must actually carry the load (fails if it never decides).
    expect(inDomain.decided / inDomain.cases).toBeGreaterThan(0.999);
    expect(polar.decided).toBe(0);
  });

  it("on 1,000,000 seeded pairs whose limit sits at, one ulp from, or near the exact speed", () => {
    const next = mulberry32(0xbadf00d);
    const byKind: Tally[] = [0, 1, 2].map(() => ({ cases: 0, decided: 0 }));
    const rel = [1e-15, 1e-12, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3];
    let nearDecided = 0;
    let nearCases = 0;
    for (let i = 0; i < 100_000; i++) {
      let lat1 = unit53(next) * 170 - 85;
      const lon1 = unit53(next) * 360 - 180;
      const ts1 = 1_700_000_000_000 + Math.floor(unit53(next) * 1e9);
      // A third city hops (≤ 10 min); a third at the edge of the bound's domain (|lat| 70–80°,
      // |Δlat|, |Δlon| up to 2°, 1–2 h, where its series are least accurate), some along a meridian
      // or a parallel so that one term of a alone decides; a third long hauls (up to ±85° over
      // 1–24 h) that the bound must leave to the exact path.
      const kind = i % 3;
      let lat2: number;
      let lon2: number;
      let dt: number;
      if (kind === 0) {
        dt = 1 + Math.floor(unit53(next) * 600_000);
        [lat2, lon2] = move(next, lat1, lon1, 1 + unit53(next) * 400, dt);
      } else if (kind === 1) {
        lat1 = (70 + unit53(next) * 10) * (i % 2 === 0 ? 1 : -1);
        dt = 3_600_000 * (1 + unit53(next));
        lat2 = i % 9 === 1 ? lat1 : lat1 + (unit53(next) - 0.5) * 4;
        lon2 = i % 9 === 4 ? lon1 : lon1 + (unit53(next) - 0.5) * 4;
      } else {
        dt = 3_600_000 * (1 + Math.floor(unit53(next) * 23));
        lat2 = Math.max(-90, Math.min(90, lat1 + (unit53(next) - 0.5) * 170));
        lon2 = lon1 + (unit53(next) - 0.5) * 170;
      }
      const speed = haversineKm(lat1, lon1, lat2, lon2) / (dt / 3_600_000);
      const t = byKind[kind]!;
      const before = t.decided;
      check(t, lat1, lon1, ts1, lat2, lon2, ts1 + dt, speed);
      check(t, lat1, lon1, ts1, lat2, lon2, ts1 + dt, nextDown(speed));
      check(t, lat1, lon1, ts1, lat2, lon2, ts1 + dt, nextUp(speed));
      nearDecided += t.decided - before;
      nearCases += 3;
      const r = rel[i % rel.length]!;
      check(t, lat1, lon1, ts1, lat2, lon2, ts1 + dt, speed * (1 + r));
      check(t, lat1, lon1, ts1, lat2, lon2, ts1 + dt, speed * (1 - r));
      // Log-uniform relative offsets 1e-12..1e-3 on either side.
      for (let k = 0; k < 4; k++) {
        const off = 10 ** -(3 + 9 * unit53(next));
        check(t, lat1, lon1, ts1, lat2, lon2, ts1 + dt, speed * (k & 1 ? 1 + off : 1 - off));
      }
      check(t, lat1, lon1, ts1, lat2, lon2, ts1 + dt, speed * (0.5 + unit53(next)));
    }
    expect(byKind.reduce((sum, t) => sum + t.cases, 0)).toBe(1_000_000);
    // At the limit itself and one ulp off it the bound must defer to the exact expression.
    expect(nearDecided).toBe(0);
    expect(nearCases).toBe(300_000);
    // The bound did decide the close calls it can (offsets beyond ~1e-7: about 37% of these
    // cases), at the edge of its domain too; long hauls it leaves to the exact path unless both
    // coordinates happen to move less than 2°.
    expect(byKind[0]!.decided / byKind[0]!.cases).toBeGreaterThan(0.3);
    expect(byKind[1]!.decided / byKind[1]!.cases).toBeGreaterThan(0.3);
    expect(byKind[2]!.decided / byKind[2]!.cases).toBeLessThan(0.01);
    // Far from the limit it decides.
    expect(speedBoundDecision(10, 10, 0, 10.0001, 10, 1000, 250)).toBe(SPEED_WITHIN); // 40 km/h
    expect(speedBoundDecision(10, 10, 0, 10.001, 10, 1000, 250)).toBe(SPEED_EXCEEDS); // 400 km/h
  });

  it("on degenerate and out-of-domain inputs", () => {
    const t: Tally = { cases: 0, decided: 0 };
    const lats = [0, 45, -45, 89.9, 90, -90, 91, -120, NaN, Infinity];
    const lons = [0, 179.99, -179.99, 180, -180, 540, NaN, -Infinity];
    const dts = [1000, 0, -1000, 1, 3_600_000, 1e15, NaN, Infinity];
    const limits = [250, 0, -1, 1e-300, 1e300, Infinity, -Infinity, NaN, 5e-324];
    for (const a of lats) {
      for (const b of lons) {
        for (const dt of dts) {
          for (const limit of limits) {
            check(t, 45, 0, 1e12, a, b, 1e12 + dt, limit);
            check(t, a, b, 1e12, 45.0001, 0.0001, 1e12 + dt, limit);
            check(t, a, b, 1e12, a, b, 1e12 + dt, limit); // same place: 0 km
          }
        }
      }
    }
    // The cases the anomaly step relies on, spelled out.
    expect(speedExceedsKmh(45, 0, 0, 45, 0, 0, 250)).toBe(false); // 0 km / 0 h = NaN
    expect(speedExceedsKmh(45, 0, 0, 45.1, 0, 0, 250)).toBe(true); // x km / 0 h = Infinity
    expect(speedExceedsKmh(45, 0, 1000, 46, 0, 0, 250)).toBe(false); // negative hours
    expect(speedExceedsKmh(0, 179.999, 0, 0, -179.999, 60_000, 250)).toBe(false); // 0.2 km across the antimeridian
    expect(t.cases).toBe(lats.length * lons.length * dts.length * limits.length * 3);
  });
});
