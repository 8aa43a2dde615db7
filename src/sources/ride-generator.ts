/**
 * Embedded generator of ride traffic (seed §3, §5): the driver-locations stream of DriverGenerator
 * with ride requests interleaved in the same partitions, on the same event clock.
 *
 * ```
 *  partition p:  loc k0, loc k0+1, [req], loc k0+2, …      (a request follows location k when
 *                                                           hash(seed, p, k) < requestShare)
 *  request after location k: ts = the partition clock at k (floor(startTs + k · msPerEvent)),
 *    pickup point: a city drawn by weight; with hotspotShare inside one of the city's hotspots
 *    (discs of hotspotRadiusKm at seeded places), otherwise anywhere within 0.9 · the city radius
 *  request id: 1 + p + partitions · (requests of p so far), named "req-000000042"
 * ```
 *
 * Every random choice of a request is a hash of (seed, partition, location index), so the
 * stream of a partition does not depend on how it is split into fill() calls. Drivers and requests
 * are in the same cities, so requests find drivers nearby and surge varies from region to region.
 */
import { geohashEncodeInt, geohashIntToString } from "../kernels/geohash.js";
import { DriverGenerator, type DriverColumns, type DriverGeneratorOptions } from "./driver-generator.js";

export interface RideGeneratorOptions extends DriverGeneratorOptions {
  /** Probability that a location event is followed by a ride request (0..1). @default 0.004 */
  requestShare: number;
  /** Share of requests placed in a hotspot (0..1). @default 0.6 */
  hotspotShare: number;
  /** Hotspots per city (1..64). @default 3 */
  hotspotsPerCity: number;
  /** Radius of a hotspot, km (0 < x ≤ 50). @default 1.5 */
  hotspotRadiusKm: number;
}

/** Columns of a batch of ride events, written in place. */
export interface RideColumns extends DriverColumns {
  /** Request id (0 for a driver location); driver is 0 for a request. */
  request: Uint32Array;
}

const KM_PER_DEG_LAT = (6371.0088 * Math.PI) / 180;
const CHUNK = 2048;
const TWO_POW_M32 = 1 / 4294967296;

function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A uniform double in [0, 1) from four integers. */
function hashU(a: number, b: number, c: number, d: number): number {
  let h = mix32(a ^ 0x9e3779b9);
  h = mix32(h ^ Math.imul(b + 1, 0x85ebca6b));
  h = mix32(h ^ Math.imul((c % 4294967296) + 1, 0xc2b2ae35));
  h = mix32(h ^ Math.imul(Math.floor(c / 4294967296) + d + 1, 0x27d4eb2f));
  return h * TWO_POW_M32;
}

function checkShare(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number") throw new TypeError(`RideGenerator: options.${name} must be a number`);
  if (!(v >= min && v <= max)) throw new RangeError(`RideGenerator: options.${name} must be within [${min}, ${max}] (got ${v})`);
  return v;
}

export class RideGenerator {
  readonly drivers: DriverGenerator;
  readonly partitions: number;
  readonly options: Readonly<Pick<RideGeneratorOptions, "requestShare" | "hotspotShare" | "hotspotsPerCity" | "hotspotRadiusKm">>;
  private readonly seed: number;
  private readonly startTs: number;
  private readonly msPerEvent: number;
  private readonly requestThreshold: number;
  /** Cumulative city weights (for drawing a request's city). */
  private readonly cityCdf: Float64Array;
  /** Hotspot centres, degrees: [lat, lon] per (city, hotspot). */
  private readonly hotspots: Float64Array;
  private readonly scratch: DriverColumns;
  /** Requests generated so far per partition, and a request still owed to the next fill (its location index, -1 none). */
  private readonly requests: Float64Array;
  private readonly owed: Float64Array;

  constructor(options: Partial<RideGeneratorOptions> = {}) {
    const { requestShare = 0.004, hotspotShare = 0.6, hotspotsPerCity = 3, hotspotRadiusKm = 1.5, ...driverOptions } = options;
    this.drivers = new DriverGenerator(driverOptions);
    this.partitions = this.drivers.partitions;
    this.options = Object.freeze({
      requestShare: checkShare("requestShare", requestShare, 0, 1),
      hotspotShare: checkShare("hotspotShare", hotspotShare, 0, 1),
      hotspotsPerCity: checkShare("hotspotsPerCity", hotspotsPerCity, 1, 64) | 0,
      hotspotRadiusKm: checkShare("hotspotRadiusKm", hotspotRadiusKm, 1e-3, 50),
    });
    const o = this.drivers.options;
    this.seed = o.seed;
    this.startTs = o.startTs;
    this.msPerEvent = (o.reportIntervalMs * this.partitions) / this.drivers.drivers;
    this.requestThreshold = this.options.requestShare;
    const cities = o.cities;
    this.cityCdf = new Float64Array(cities.length);
    let total = 0;
    for (const c of cities) total += c.weight;
    let acc = 0;
    cities.forEach((c, i) => { acc += c.weight / total; this.cityCdf[i] = acc; });
    this.cityCdf[cities.length - 1] = 1;
    const H = this.options.hotspotsPerCity;
    this.hotspots = new Float64Array(cities.length * H * 2);
    cities.forEach((c, ci) => {
      for (let h = 0; h < H; h++) {
        const r = 0.5 * c.radiusKm * Math.sqrt(hashU(this.seed, -1 - ci, h, 0));
        const a = 2 * Math.PI * hashU(this.seed, -1 - ci, h, 1);
        this.hotspots[(ci * H + h) * 2] = c.lat + (r * Math.sin(a)) / KM_PER_DEG_LAT;
        this.hotspots[(ci * H + h) * 2 + 1] = c.lon + (r * Math.cos(a)) / (KM_PER_DEG_LAT * Math.cos((c.lat * Math.PI) / 180));
      }
    });
    this.scratch = {
      driver: new Uint32Array(CHUNK), lat: new Float64Array(CHUNK), lon: new Float64Array(CHUNK),
      ts: new Float64Array(CHUNK), speed: new Float64Array(CHUNK),
    };
    this.requests = new Float64Array(this.partitions);
    this.owed = new Float64Array(this.partitions).fill(-1);
  }

  /** Whether location k of partition p is followed by a request. */
  private isRequest(p: number, k: number): boolean {
    return hashU(this.seed, p, k, 7) < this.requestThreshold;
  }

  /**
   * Writes the next `max` ride events of partition `p` at index `at` (locations and requests in
   * stream order); returns max (the stream is unbounded).
   */
  fill(p: number, cols: RideColumns, at: number, max: number): number {
    let w = at;
    const end = at + max;
    if (this.owed[p]! >= 0 && w < end) {
      this.writeRequest(p, this.owed[p]!, cols, w++);
      this.owed[p] = -1;
    }
    while (w < end) {
      // How many locations fit, with the requests that follow them.
      const k0 = this.drivers.position(p);
      const room = end - w;
      let n = 0;
      let used = 0;
      let owe = -1;
      while (used < room && n < CHUNK) {
        const k = k0 + n;
        n++;
        used++;
        if (this.isRequest(p, k)) {
          if (used < room) used++;
          else owe = k;
        }
      }
      const s = this.scratch;
      this.drivers.fill(p, s, 0, n);
      for (let j = 0; j < n; j++) {
        cols.driver[w] = s.driver[j]!;
        cols.request[w] = 0;
        cols.lat[w] = s.lat[j]!;
        cols.lon[w] = s.lon[j]!;
        cols.ts[w] = s.ts[j]!;
        cols.speed[w] = s.speed[j]!;
        w++;
        const k = k0 + j;
        if (k !== owe && this.isRequest(p, k)) this.writeRequest(p, k, cols, w++);
      }
      if (owe >= 0) this.owed[p] = owe;
    }
    return max;
  }

  private writeRequest(p: number, k: number, cols: RideColumns, w: number): void {
    const id = 1 + p + this.partitions * this.requests[p]!;
    this.requests[p]++;
    const cities = this.drivers.options.cities;
    const u = hashU(this.seed, p, k, 1);
    let ci = 0;
    while (ci < cities.length - 1 && u >= this.cityCdf[ci]!) ci++;
    const city = cities[ci]!;
    let lat0 = city.lat, lon0 = city.lon, radius = 0.9 * city.radiusKm;
    if (hashU(this.seed, p, k, 2) < this.options.hotspotShare) {
      const H = this.options.hotspotsPerCity;
      const h = Math.min(H - 1, Math.floor(hashU(this.seed, p, k, 3) * H));
      lat0 = this.hotspots[(ci * H + h) * 2]!;
      lon0 = this.hotspots[(ci * H + h) * 2 + 1]!;
      radius = this.options.hotspotRadiusKm;
    }
    const r = radius * Math.sqrt(hashU(this.seed, p, k, 4));
    const a = 2 * Math.PI * hashU(this.seed, p, k, 5);
    cols.driver[w] = 0;
    cols.request[w] = id;
    cols.lat[w] = lat0 + (r * Math.sin(a)) / KM_PER_DEG_LAT;
    cols.lon[w] = lon0 + (r * Math.cos(a)) / (KM_PER_DEG_LAT * Math.cos((lat0 * Math.PI) / 180));
    cols.ts[w] = Math.floor(this.startTs + k * this.msPerEvent);
    cols.speed[w] = NaN;
  }

  driverName(id: number): string {
    return this.drivers.driverName(id);
  }

  requestName(id: number): string {
    return id === 0 ? "" : `req-${String(id).padStart(9, "0")}`;
  }

  /** A rider id for request `id` (consistent: the same request always names the same rider). */
  riderName(id: number): string {
    return `rider-${String(1 + Math.floor(hashU(this.seed, -7, id, 0) * this.drivers.drivers * 5)).padStart(7, "0")}`;
  }

  /**
   * The event at index i as the JSON object its producer would send (edge helper, allocates): a
   * driver location (see DriverGenerator.toEvent) or `{requestId, riderId, lat, lon, ts, regionId}`.
   */
  toEvent(cols: RideColumns, i: number): Record<string, unknown> {
    const req = cols.request[i]!;
    if (req === 0) return DriverGenerator.toEvent(cols, i, (id) => this.driverName(id));
    const lat = cols.lat[i]!, lon = cols.lon[i]!;
    return {
      requestId: this.requestName(req), riderId: this.riderName(req), lat, lon, ts: cols.ts[i]!,
      regionId: geohashIntToString(geohashEncodeInt(lat, lon, 5), 5),
    };
  }
}
