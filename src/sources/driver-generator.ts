/**
 * Embedded generator of the `driver-locations` stream (seed §3, DESIGN "The main job").
 *
 * ```
 *  fill(p, cols, at, max), per chunk of ≤ 2048 events     two sfc32 streams per partition p:
 *   draw 4 randoms per event (partition p's main stream)   "main", 4 draws per event, in bulk;
 *   for each event:                                        "rare", extra draws of spoiled fixes,
 *     r1  pick the driver (alias table: skew)              so p's events depend only on p's count
 *     r2  kind: invalid | late | teleport | out-of-order (and its lag) | normal
 *     r3  motion: turn (8 bits) | speed step (12) | speed noise (12)
 *     r4  speed missing?
 *     advance the driver's path if the fix is in-order or out-of-order; write the 5 columns
 *   then spoil the listed invalid / late / teleport fixes in place ("rare" stream)
 * ```
 *
 * Event time is synthetic: event k of a partition (k = 0, 1, …) is stamped
 * `floor(startTs + k · reportIntervalMs · partitions / drivers)`, the same clock rate in every partition,
 * so equal event counts mean equal event time whatever the partition sizes.
 *
 * A driver's path only advances on the fixes the driver-tracking job aggregates (in-order fixes and
 * out-of-order fixes newer than the driver's previous one). Invalid, late and teleport fixes never move
 * the path, so the job's `last` for a driver is always the generator's last path point and a 250 km/h
 * check flags the teleports and nothing else.
 */

/** Columns of a batch of driver-location fixes, written in place (typically views over SharedArrayBuffer slots). */
export interface DriverColumns {
  /** Driver id, 1..drivers; 0 means "driverId missing/empty" (an invalid fix). */
  driver: Uint32Array;
  /** Degrees; NaN means "not a number / null in JSON". */
  lat: Float64Array;
  /** Degrees; NaN means "not a number / null in JSON". */
  lon: Float64Array;
  /** Event time, epoch milliseconds (integers); NaN = missing. */
  ts: Float64Array;
  /** speedKmh as reported by the device; NaN = absent (the JSON field is then omitted). */
  speed: Float64Array;
}

/** A city drivers are assigned to. Drivers stay within `0.9 · radiusKm` of the centre. */
export interface City {
  /** Display name. */
  name: string;
  /** Latitude of the centre, degrees. */
  lat: number;
  /** Longitude of the centre, degrees. */
  lon: number;
  /** Radius of the served area, km (0 < radiusKm ≤ 500). */
  radiusKm: number;
  /** Relative share of the drivers assigned to this city (> 0; weights need not sum to 1). */
  weight: number;
}

/** The built-in cities: several real cities, drivers assigned with a skew (New York the largest). */
export const DEFAULT_CITIES: readonly City[] = Object.freeze([
  { name: "San Francisco", lat: 37.7749, lon: -122.4194, radiusKm: 12, weight: 0.1 },
  { name: "New York", lat: 40.7128, lon: -74.006, radiusKm: 25, weight: 0.18 },
  { name: "London", lat: 51.5074, lon: -0.1278, radiusKm: 25, weight: 0.14 },
  { name: "Paris", lat: 48.8566, lon: 2.3522, radiusKm: 15, weight: 0.1 },
  { name: "São Paulo", lat: -23.5505, lon: -46.6333, radiusKm: 30, weight: 0.14 },
  { name: "Mumbai", lat: 19.076, lon: 72.8777, radiusKm: 20, weight: 0.12 },
  { name: "Tokyo", lat: 35.6762, lon: 139.6503, radiusKm: 30, weight: 0.14 },
  { name: "Sydney", lat: -33.8688, lon: 151.2093, radiusKm: 25, weight: 0.08 },
].map((c) => Object.freeze(c)));

/** Options of {@link DriverGenerator}. */
export interface DriverGeneratorOptions {
  /**
   * Seed of every random choice (a safe integer). Same options → same stream, bit for bit.
   * @default 42
   */
  seed: number;
  /**
   * Number of drivers, ids 1..drivers (integer, 1..10_000_000; 64 bytes of state each).
   * @default 10_000
   */
  drivers: number;
  /**
   * Number of partitions (integer, 1..min(drivers, 65_536)). Driver d belongs to partition
   * `(d - 1) % partitions`, like a topic keyed by driver.
   * @default 16 (or `drivers` when there are fewer than 16 drivers)
   */
  partitions: number;
  /**
   * Cities drivers are assigned to (1..65_535 entries), each driver to one city drawn by `weight`.
   * A city's disc must stay within lat ±90 and lon ±180.
   * @default DEFAULT_CITIES
   */
  cities: readonly City[];
  /**
   * Activity skew within a partition (0..4). 0: every driver reports equally often; s > 0: the
   * driver of (random) rank i reports with weight `1 / (i + 1) ** s` (1 ≈ Zipf).
   * @default 0
   */
  skew: number;
  /**
   * Event time of the first event of every partition, epoch ms (non-negative safe integer).
   * @default 1_700_000_000_000
   */
  startTs: number;
  /**
   * Mean interval between two reports of one driver, ms of event time (0 < x ≤ 86_400_000). Each
   * partition's event clock advances by `reportIntervalMs · partitions / drivers` per event.
   * @default 4000
   */
  reportIntervalMs: number;
  /**
   * Share of fixes whose ts is 1–8 s behind the partition's clock (0..1).
   * @default 0.02
   */
  outOfOrderShare: number;
  /**
   * Share of fixes whose ts is 75–600 s behind the partition's clock: behind a 60 s window plus
   * 10 s grace, so always late (0..1).
   * @default 0.001
   */
  lateShare: number;
  /**
   * Share of invalid fixes (0..1), split evenly among: lat beyond ±90, lon beyond ±180,
   * lat = lon = 0, lat or lon NaN, ts NaN, driver 0.
   * @default 0.001
   */
  invalidShare: number;
  /**
   * Share of teleports (0..1): one fix in a city at least 1000 km away (or at the antipode when there
   * is none), after which the driver continues on its real path. A driver's first fix is never one.
   * @default 0.0005
   */
  teleportShare: number;
  /**
   * Share of fixes without speed (speed NaN; `speedKmh` omitted), independent of the other kinds (0..1).
   * @default 0.05
   */
  speedMissingShare: number;
}

const DEFAULTS: DriverGeneratorOptions = {
  seed: 42,
  drivers: 10_000,
  partitions: 16,
  cities: DEFAULT_CITIES,
  skew: 0,
  startTs: 1_700_000_000_000,
  reportIntervalMs: 4000,
  outOfOrderShare: 0.02,
  lateShare: 0.001,
  invalidShare: 0.001,
  teleportShare: 0.0005,
  speedMissingShare: 0.05,
};

// ── Model constants ─────────────────────────────────────────────────────────────────────────────
/** Earth radius used by the job's haversine, km; the flat-earth step uses the same scale. */
const EARTH_RADIUS_KM = 6371.0088;
const KM_PER_DEG_LAT = (EARTH_RADIUS_KM * Math.PI) / 180;
const DEG_LAT_PER_KM = 1 / KM_PER_DEG_LAT;
const KMH_TO_KM_PER_MS = 1 / 3_600_000;
/** Drivers stay within this fraction of their city's radius. */
const EDGE_FRACTION = 0.9;
/** True speed of a driver's path, km/h: a reflected random walk in [MIN, MAX]. */
const MIN_SPEED_KMH = 10;
const MAX_SPEED_KMH = 90;
/** Largest change of true speed between two fixes, km/h. */
const SPEED_STEP_KMH = 3;
/** Largest difference between the reported and the true speed, km/h. */
const SPEED_NOISE_KMH = 1.5;
/** Largest heading change between two fixes, degrees (256 steps, uniform). */
const MAX_TURN_DEG = 20;
const OUT_OF_ORDER_MIN_MS = 1000;
const OUT_OF_ORDER_MAX_MS = 8000;
const LATE_MIN_MS = 75_000;
const LATE_MAX_MS = 600_000;
/** A teleport lands in a city at least this far away. */
const TELEPORT_MIN_KM = 1000;
const MAX_DRIVERS = 10_000_000;
const MAX_PARTITIONS = 65_536;

/** Events per internal chunk: the randoms of one chunk are drawn in bulk, then consumed. */
const CHUNK = 2048;
const DRAWS_PER_EVENT = 4;
const TWO_POW_32 = 4294967296;
const TWO_POW_M32 = 1 / TWO_POW_32;

// ── Memory layout ──────────────────────────────────────────────────────────────────────────────
// Everything the hot loop touches, besides the output columns, lives in two typed arrays: `real`
// (Float64Array) and `ints` (Int32Array). V8 re-checks a typed array's map, length and data pointer
// on every loop iteration (the loop's interrupt check defeats hoisting them), so every extra array
// costs every event.
//
//   real: [ cfg | turn table | city rows (GEO_STRIDE each) | driver rows (STRIDE each, row 0 unused) ]
//   ints: [ randoms of a chunk (CHUNK·4) | spoiled list (CHUNK·2) | alias tables (2 per driver) ]

/** real[CFG_*]: numbers of the hot loop, as doubles (object fields mixing small ints and heap numbers cost a check per use). */
const CFG_START_TS = 0;
const CFG_MS_PER_EVENT = 1;
/** Thresholds on r2 (uint32): below T_INVALID invalid, below T_LATE late, … below T_RARE out-of-order. */
const CFG_T_INVALID = 2;
const CFG_T_LATE = 3;
const CFG_T_TELEPORT = 4;
const CFG_T_RARE = 5;
/** Threshold on r4 (uint32) below which the speed is missing. */
const CFG_T_SPEED_MISSING = 6;
const CFG_SIZE = 8;

/** real[TURN_AT + 2i], real[TURN_AT + 2i + 1]: cos and sin of heading turn i (the top 8 bits of r3), within ±MAX_TURN_DEG. */
const TURN_AT = CFG_SIZE;
/** City c's row at real[GEO_AT + c·GEO_STRIDE]. */
const GEO_AT = TURN_AT + 2 * 256;
const GEO_STRIDE = 4;
const GEO_LAT = 0; //             centre latitude, degrees
const GEO_LON = 1; //             centre longitude, degrees
const GEO_DEG_LON_PER_KM = 2; //  degrees of longitude per km east at the centre
const GEO_EDGE2 = 3; //           (EDGE_FRACTION · radiusKm)², km²

/** Driver d's row at real[rowsAt + d·STRIDE], 64 bytes. */
const STRIDE = 8;
const X = 0; //       km east of the city centre
const Y = 1; //       km north of the city centre
const HX = 2; //      heading, unit vector (east component)
const HY = 3; //      heading, unit vector (north component)
const V = 4; //       true speed of the current segment, km/h
const LAST_TS = 5; // event time of the path's last point, ms; startTs until the path first moves
const GEO = 6; //     index in `real` of the driver's city row
const CITY = 7; //    index of the driver's city in options.cities

/** ints regions after the chunk's randoms. */
const SPOILED_AT = CHUNK * DRAWS_PER_EVENT;
const ALIAS_AT = SPOILED_AT + CHUNK * 2;

/** What a fix is turned into after it is written (rare kinds other than out-of-order). */
const NORMAL = 0;
const LATE = 1;
const TELEPORT = 2;
const INVALID = 3;

/** Kinds of invalid fix, drawn uniformly. */
const INVALID_LAT = 0; //         lat = ±(91..180)
const INVALID_LON = 1; //         lon = ±(181..360)
const INVALID_NULL_ISLAND = 2; // lat = lon = 0
const INVALID_COORD_NAN = 3; //   lat or lon NaN
const INVALID_TS_NAN = 4; //      ts NaN
const INVALID_NO_DRIVER = 5; //   driver 0
const INVALID_KINDS = 6;

// ── Seeded PRNG (sfc32 on int32 state) ─────────────────────────────────────────────────────────

/** A 32-bit finaliser (murmur3 fmix32), used to derive independent sfc32 seeds. */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** Seeds the sfc32 state at `s[o..o+3]` from (seed, a, b) and discards the first outputs. */
function seedSfc32(s: Int32Array, o: number, seed: number, a: number, b: number): void {
  const lo = seed | 0;
  const hi = Math.floor(seed / TWO_POW_32) | 0;
  s[o] = mix32(lo ^ mix32(a + 0x9e3779b9));
  s[o + 1] = mix32(hi ^ mix32(b + 0x7f4a7c15));
  s[o + 2] = mix32(lo + Math.imul(a, 0x2545f491) + Math.imul(b, 0x6c8e9cf5));
  s[o + 3] = 1;
  for (let i = 0; i < 15; i++) nextSfc32(s, o);
}

/** One sfc32 step on the state at `s[o..o+3]`; returns an int32 (use `>>> 0` for uint32). */
function nextSfc32(s: Int32Array, o: number): number {
  const a = s[o]!, b = s[o + 1]!, c = s[o + 2]!, d = s[o + 3]!;
  const t = (((a + b) | 0) + d) | 0;
  s[o + 3] = (d + 1) | 0;
  s[o] = b ^ (b >>> 9);
  s[o + 1] = (c + (c << 3)) | 0;
  s[o + 2] = (((c << 21) | (c >>> 11)) + t) | 0;
  return t;
}

/** Uniform in [0, 1) from one sfc32 step. */
function uniform(s: Int32Array, o: number): number {
  return (nextSfc32(s, o) >>> 0) * TWO_POW_M32;
}

// ── Option validation ──────────────────────────────────────────────────────────────────────────

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || v === null || v === undefined) return String(v);
  return Array.isArray(v) ? "an array" : `a ${typeof v}`;
}

function num(name: string, v: unknown): number {
  if (typeof v !== "number") throw new TypeError(`DriverGenerator: options.${name} must be a number (got ${describe(v)})`);
  return v;
}

function int(name: string, v: unknown, min: number, max: number): number {
  const n = num(name, v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`DriverGenerator: options.${name} must be an integer in [${min}, ${max}] (got ${n})`);
  }
  return n;
}

function real(name: string, v: unknown, min: number, max: number, minExclusive = false): number {
  const n = num(name, v);
  if (!Number.isFinite(n) || n > max || (minExclusive ? n <= min : n < min)) {
    throw new RangeError(`DriverGenerator: options.${name} must be a finite number in ${minExclusive ? "(" : "["}${min}, ${max}] (got ${n})`);
  }
  return n;
}

function cityList(v: unknown): City[] {
  if (!Array.isArray(v)) throw new TypeError(`DriverGenerator: options.cities must be an array of cities (got ${describe(v)})`);
  if (v.length < 1 || v.length > 65_535) {
    throw new RangeError(`DriverGenerator: options.cities must hold 1..65535 cities (got ${v.length})`);
  }
  return v.map((c: unknown, i): City => {
    const at = `cities[${i}]`;
    if (typeof c !== "object" || c === null) throw new TypeError(`DriverGenerator: options.${at} must be an object (got ${describe(c)})`);
    const o = c as Record<string, unknown>;
    if (typeof o.name !== "string") throw new TypeError(`DriverGenerator: options.${at}.name must be a string (got ${describe(o.name)})`);
    const lat = real(`${at}.lat`, o.lat, -90, 90);
    const lon = real(`${at}.lon`, o.lon, -180, 180);
    const radiusKm = real(`${at}.radiusKm`, o.radiusKm, 0, 500, true);
    const weight = real(`${at}.weight`, o.weight, 0, Number.MAX_VALUE, true);
    const dLat = radiusKm * DEG_LAT_PER_KM;
    if (Math.abs(lat) + dLat >= 89) {
      throw new RangeError(`DriverGenerator: options.${at} reaches within 1° of a pole (lat ${lat} ± ${dLat.toFixed(3)}°); use a city farther from the poles`);
    }
    const dLon = dLat / Math.cos(((Math.abs(lat) + dLat) * Math.PI) / 180);
    if (Math.abs(lon) + dLon >= 180) {
      throw new RangeError(`DriverGenerator: options.${at} crosses the antimeridian (lon ${lon} ± ${dLon.toFixed(3)}°); move its centre or shrink radiusKm`);
    }
    return { name: o.name, lat, lon, radiusKm, weight };
  });
}

function validate(input: unknown): DriverGeneratorOptions {
  if (input === undefined) return { ...DEFAULTS };
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new TypeError(`DriverGenerator: options must be an object (got ${describe(input)})`);
  }
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(key in DEFAULTS)) throw new TypeError(`DriverGenerator: unknown option "${key}" (known: ${Object.keys(DEFAULTS).join(", ")})`);
  }
  const pick = (k: keyof DriverGeneratorOptions): unknown => (given[k] === undefined ? DEFAULTS[k] : given[k]);
  const seed = num("seed", pick("seed"));
  if (!Number.isSafeInteger(seed)) throw new RangeError(`DriverGenerator: options.seed must be a safe integer (got ${seed})`);
  const drivers = int("drivers", pick("drivers"), 1, MAX_DRIVERS);
  const partitions = given.partitions === undefined ? Math.min(DEFAULTS.partitions, drivers) : int("partitions", given.partitions, 1, MAX_PARTITIONS);
  if (partitions > drivers) {
    throw new RangeError(`DriverGenerator: options.partitions (${partitions}) must not exceed options.drivers (${drivers}): every partition needs a driver`);
  }
  const o: DriverGeneratorOptions = {
    seed,
    drivers,
    partitions,
    cities: cityList(pick("cities")),
    skew: real("skew", pick("skew"), 0, 4),
    startTs: int("startTs", pick("startTs"), 0, Number.MAX_SAFE_INTEGER),
    reportIntervalMs: real("reportIntervalMs", pick("reportIntervalMs"), 0, 86_400_000, true),
    outOfOrderShare: real("outOfOrderShare", pick("outOfOrderShare"), 0, 1),
    lateShare: real("lateShare", pick("lateShare"), 0, 1),
    invalidShare: real("invalidShare", pick("invalidShare"), 0, 1),
    teleportShare: real("teleportShare", pick("teleportShare"), 0, 1),
    speedMissingShare: real("speedMissingShare", pick("speedMissingShare"), 0, 1),
  };
  const rare = o.outOfOrderShare + o.lateShare + o.invalidShare + o.teleportShare;
  if (rare > 1) {
    throw new RangeError(`DriverGenerator: options.outOfOrderShare + lateShare + invalidShare + teleportShare must not exceed 1 (got ${rare})`);
  }
  return o;
}

function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const r = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * r) / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(a)));
}

// ── The generator ──────────────────────────────────────────────────────────────────────────────

/**
 * Seeded, deterministic, unbounded generator of driver-location fixes, written into typed-array
 * columns. Not reentrant (one scratch region); use one instance per thread.
 */
export class DriverGenerator {
  readonly partitions: number;
  readonly drivers: number;
  /** The validated options (cities copied). */
  readonly options: Readonly<DriverGeneratorOptions>;

  /** Float64 memory: cfg, turn table, city rows, driver rows (see "Memory layout"). */
  private readonly real: Float64Array;
  /** Index of driver 0's row in `real`. */
  private readonly rowsAt: number;
  /** Int32 memory: randoms of a chunk, spoiled list, alias tables (see "Memory layout"). */
  private readonly ints: Int32Array;
  /**
   * Start of partition p's alias table, in pairs: local index i (driver p + 1 + i·partitions) has
   * (keepBelow, alias) at ints[ALIAS_AT + 2·(aliasStart[p] + i)]. A pick of column i with coin
   * c ∈ [0, 2³¹) keeps i when c < keepBelow, else takes alias (i itself where keepBelow = 2³¹ − 1).
   */
  private readonly aliasStart: Int32Array;
  /** Teleport destinations of city c: farCities[farStart[c] .. farStart[c + 1]). */
  private readonly farStart: Int32Array;
  private readonly farCities: Uint16Array;
  /** sfc32 states, 4 int32 per partition: the 4 draws of every event. */
  private readonly mainRng: Int32Array;
  /** sfc32 states, 4 int32 per partition: the extra draws of rare kinds. */
  private readonly rareRng: Int32Array;
  /** Events generated so far, per partition. */
  private readonly produced: Float64Array;

  constructor(options?: Partial<DriverGeneratorOptions>) {
    const o = validate(options);
    this.options = Object.freeze({ ...o, cities: Object.freeze(o.cities.map((c) => Object.freeze({ ...c }))) });
    const { drivers, partitions, cities, seed } = o;
    this.drivers = drivers;
    this.partitions = partitions;
    const nc = cities.length;
    this.rowsAt = GEO_AT + nc * GEO_STRIDE;
    const real = (this.real = new Float64Array(this.rowsAt + (drivers + 1) * STRIDE));
    this.ints = new Int32Array(ALIAS_AT + 2 * drivers);

    real[CFG_START_TS] = o.startTs;
    real[CFG_MS_PER_EVENT] = (o.reportIntervalMs * partitions) / drivers;
    real[CFG_T_INVALID] = Math.floor(o.invalidShare * TWO_POW_32);
    real[CFG_T_LATE] = Math.floor((o.invalidShare + o.lateShare) * TWO_POW_32);
    real[CFG_T_TELEPORT] = Math.floor((o.invalidShare + o.lateShare + o.teleportShare) * TWO_POW_32);
    real[CFG_T_RARE] = Math.floor((o.invalidShare + o.lateShare + o.teleportShare + o.outOfOrderShare) * TWO_POW_32);
    real[CFG_T_SPEED_MISSING] = Math.floor(o.speedMissingShare * TWO_POW_32);
    for (let i = 0; i < 256; i++) {
      const a = ((i - 127.5) / 127.5) * MAX_TURN_DEG * (Math.PI / 180);
      real[TURN_AT + 2 * i] = Math.cos(a);
      real[TURN_AT + 2 * i + 1] = Math.sin(a);
    }

    // Cities.
    const cumWeight = new Float64Array(nc);
    let total = 0;
    for (let c = 0; c < nc; c++) {
      const city = cities[c]!, g = GEO_AT + c * GEO_STRIDE;
      real[g + GEO_LAT] = city.lat;
      real[g + GEO_LON] = city.lon;
      real[g + GEO_DEG_LON_PER_KM] = DEG_LAT_PER_KM / Math.cos((city.lat * Math.PI) / 180);
      real[g + GEO_EDGE2] = (EDGE_FRACTION * city.radiusKm) ** 2;
      total += city.weight;
      cumWeight[c] = total;
    }
    this.farStart = new Int32Array(nc + 1);
    const far: number[] = [];
    for (let c = 0; c < nc; c++) {
      this.farStart[c] = far.length;
      for (let e = 0; e < nc; e++) {
        const from = cities[c]!, to = cities[e]!;
        if (haversineKm(from.lat, from.lon, to.lat, to.lon) >= TELEPORT_MIN_KM + from.radiusKm + to.radiusKm) far.push(e);
      }
    }
    this.farStart[nc] = far.length;
    this.farCities = Uint16Array.from(far);

    // Drivers: city, position, heading and speed depend on (seed, driver id) only.
    const rng = new Int32Array(4);
    for (let d = 1; d <= drivers; d++) {
      seedSfc32(rng, 0, seed, d, 0x64726976);
      const w = uniform(rng, 0) * total;
      let c = 0;
      while (c < nc - 1 && w >= cumWeight[c]!) c++;
      const r = EDGE_FRACTION * cities[c]!.radiusKm * Math.sqrt(uniform(rng, 0)) * 0.999;
      const a = uniform(rng, 0) * 2 * Math.PI;
      const h = uniform(rng, 0) * 2 * Math.PI;
      const row = this.rowsAt + d * STRIDE;
      real[row + X] = r * Math.cos(a);
      real[row + Y] = r * Math.sin(a);
      real[row + HX] = Math.cos(h);
      real[row + HY] = Math.sin(h);
      real[row + V] = 15 + uniform(rng, 0) * 45;
      real[row + LAST_TS] = o.startTs;
      real[row + GEO] = GEO_AT + c * GEO_STRIDE;
      real[row + CITY] = c;
    }

    // Partitions: PRNG states and activity (alias) tables.
    this.mainRng = new Int32Array(partitions * 4);
    this.rareRng = new Int32Array(partitions * 4);
    this.produced = new Float64Array(partitions);
    this.aliasStart = new Int32Array(partitions + 1);
    for (let p = 0; p < partitions; p++) {
      seedSfc32(this.mainRng, p * 4, seed, p, 0x6d61696e);
      seedSfc32(this.rareRng, p * 4, seed, p, 0x72617265);
      this.aliasStart[p + 1] = this.aliasStart[p]! + this.partitionSize(p);
      seedSfc32(rng, 0, seed, p, 0x736b6577);
      this.buildAlias(p, o.skew, rng);
    }
  }

  /** Number of drivers of partition p: ids p + 1, p + 1 + partitions, … */
  partitionSize(p: number): number {
    return Math.floor((this.drivers - 1 - p) / this.partitions) + 1;
  }

  /** Index into `options.cities` of the city driver `id` (1..drivers) belongs to. */
  cityOf(id: number): number {
    if (!Number.isInteger(id) || id < 1 || id > this.drivers) throw new RangeError(`DriverGenerator.cityOf: id must be an integer in [1, ${this.drivers}] (got ${id})`);
    return this.real[this.rowsAt + id * STRIDE + CITY]!;
  }

  /** Events generated so far for partition p (the index of the next event of p). */
  position(p: number): number {
    return this.produced[this.checkPartition(p)]!;
  }

  /** Vose alias table of partition p: weights 1 / (rank + 1) ** skew over a seeded random ranking. */
  private buildAlias(p: number, skew: number, rng: Int32Array): void {
    const n = this.partitionSize(p);
    const base = this.aliasStart[p]!;
    const rank = new Int32Array(n);
    for (let i = 0; i < n; i++) rank[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(uniform(rng, 0) * (i + 1));
      const t = rank[i]!;
      rank[i] = rank[j]!;
      rank[j] = t;
    }
    const scaled = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += scaled[i] = 1 / (rank[i]! + 1) ** skew;
    const small: number[] = [];
    const large: number[] = [];
    for (let i = 0; i < n; i++) {
      scaled[i] = (scaled[i]! * n) / sum;
      (scaled[i]! < 1 ? small : large).push(i);
    }
    const table = this.ints, at = ALIAS_AT + 2 * base;
    for (let i = 0; i < n; i++) {
      table[at + 2 * i] = 0x7fffffff;
      table[at + 2 * i + 1] = i;
    }
    while (small.length > 0 && large.length > 0) {
      const s = small.pop()!;
      const l = large[large.length - 1]!;
      table[at + 2 * s] = Math.min(0x7fffffff, Math.round(scaled[s]! * 2147483648));
      table[at + 2 * s + 1] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      if (scaled[l]! < 1) {
        large.pop();
        small.push(l);
      }
    }
    // Entries left in `large` or (from rounding) in `small` keep their column: (2³¹ − 1, self).
  }

  private checkPartition(p: number): number {
    if (!Number.isInteger(p) || p < 0 || p >= this.partitions) {
      throw new RangeError(`DriverGenerator: partition must be an integer in [0, ${this.partitions - 1}] (got ${p})`);
    }
    return p;
  }

  /**
   * Writes the next `max` events of partition `p` at index `at` of the columns; returns how many were
   * written (always max: the stream is unbounded). Events of one partition are a deterministic
   * function of (options, p, how many events of p were generated before): independent of the order
   * in which partitions are asked and of how the events are split into calls.
   */
  fill(p: number, cols: DriverColumns, at: number, max: number): number {
    this.checkPartition(p);
    if (!Number.isInteger(at) || at < 0 || !Number.isInteger(max) || max < 0) {
      throw new RangeError(`DriverGenerator.fill: at and max must be non-negative integers (got at=${at}, max=${max})`);
    }
    const end = at + max;
    if (cols.driver.length < end || cols.lat.length < end || cols.lon.length < end || cols.ts.length < end || cols.speed.length < end) {
      throw new RangeError(`DriverGenerator.fill: columns are too short for at=${at} + max=${max}`);
    }
    for (let done = 0; done < max; ) {
      const n = Math.min(CHUNK, max - done);
      this.draw(p, n);
      this.fillChunk(p, cols, at + done, n);
      done += n;
    }
    return max;
  }

  /** Draws DRAWS_PER_EVENT · n randoms of partition p's main stream into ints[0 ..). */
  private draw(p: number, n: number): void {
    const s = this.mainRng, o = p * 4, out = this.ints;
    let a = s[o]!, b = s[o + 1]!, c = s[o + 2]!, d = s[o + 3]!;
    for (let k = 0, m = n * DRAWS_PER_EVENT; k < m; k++) {
      const t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (((c << 21) | (c >>> 11)) + t) | 0;
      out[k] = t;
    }
    s[o] = a;
    s[o + 1] = b;
    s[o + 2] = c;
    s[o + 3] = d;
  }

  /**
   * The hot loop: n events of partition p from the chunk's randoms into cols[at .. at + n).
   *
   * Every event first takes the driver's last path point (advanced to its ts when the job would
   * aggregate it: in-order and out-of-order fixes). Invalid, late and teleport fixes, which never move
   * the path, are listed and spoiled in place by {@link spoil} after the loop. The loop makes no call:
   * a call inside it (even on a branch rarely taken) makes V8 spill the loop's registers, and a helper
   * for the path step is too large for V8 to inline.
   */
  private fillChunk(p: number, cols: DriverColumns, at: number, n: number): void {
    p |= 0;
    at |= 0;
    n |= 0;
    const real = this.real, ints = this.ints, rowsAt = this.rowsAt | 0;
    const alias = ALIAS_AT + 2 * this.aliasStart[p]!;
    const pickScale = this.partitionSize(p) * TWO_POW_M32;
    const P = this.partitions | 0, firstId = p + 1;
    const startTs = real[CFG_START_TS]!, msPerEvent = real[CFG_MS_PER_EVENT]!;
    const tInvalid = real[CFG_T_INVALID]!, tLate = real[CFG_T_LATE]!, tTeleport = real[CFG_T_TELEPORT]!, tRare = real[CFG_T_RARE]!;
    const tSpeedMissing = real[CFG_T_SPEED_MISSING]!;
    const oDriver = cols.driver, oLat = cols.lat, oLon = cols.lon, oTs = cols.ts, oSpeed = cols.speed;
    let k = this.produced[p]!;
    let nSpoiled = 0;
    for (let j = 0, q = 0; j < n; j++, q += DRAWS_PER_EVENT) {
      // r1: the driver. Alias table: integer part of r1·size = column, fraction = coin; branch-free,
      // since with a skew the coin is a coin toss for the branch predictor.
      const u = (ints[q]! >>> 0) * pickScale;
      const col = u | 0, a = alias + (col << 1);
      const keep = ((((u - col) * 2147483648) | 0) - ints[a]!) >> 31; // -1: keep col, 0: take alias
      const d = firstId + ((col & keep) | (ints[a + 1]! & ~keep)) * P;
      const o = rowsAt + d * STRIDE;
      const v = real[o + V]!; // speed of the segment ending at this fix
      const lastTs = real[o + LAST_TS]!;
      let x = real[o + X]!, y = real[o + Y]!;
      let ts = Math.floor(startTs + k * msPerEvent);
      k++;
      const w = at + j;
      // r2: the kind. An out-of-order lag is uniform in r2's sub-range (85 M values for 2 %).
      const r2 = ints[q + 1]! >>> 0, r3 = ints[q + 2]!;
      let spoilAs = NORMAL;
      if (r2 < tRare) {
        if (r2 >= tTeleport) ts -= OUT_OF_ORDER_MIN_MS + ((r2 - tTeleport) % (OUT_OF_ORDER_MAX_MS - OUT_OF_ORDER_MIN_MS + 1));
        else {
          // A teleport never replaces a driver's first fix (the job would keep it as `last`).
          spoilAs = r2 < tInvalid ? INVALID : r2 < tLate ? LATE : lastTs === startTs ? NORMAL : TELEPORT;
          if (spoilAs !== NORMAL) {
            ints[SPOILED_AT + nSpoiled++] = w;
            ints[SPOILED_AT + nSpoiled++] = spoilAs;
          }
        }
      }
      const g = real[o + GEO]! | 0;
      const dt = ts - lastTs;
      if (spoilAs === NORMAL && dt > 0) {
        // Path step: v·dt km along the heading; if that leaves the disc, straight for the centre
        // instead, stopping there at most (never leaves, distance ≤ v·dt). r3: turn | speed step.
        let hx = real[o + HX]!, hy = real[o + HY]!;
        const km = v * dt * KMH_TO_KM_PER_MS;
        let nx = x + hx * km, ny = y + hy * km;
        if (nx * nx + ny * ny > real[g + GEO_EDGE2]!) {
          const r = Math.sqrt(x * x + y * y);
          if (r > 0) {
            hx = -x / r;
            hy = -y / r;
            const s = km < r ? km : r;
            nx = x + hx * s;
            ny = y + hy * s;
          } else {
            nx = x;
            ny = y;
          }
        }
        x = nx;
        y = ny;
        const turn = TURN_AT + ((r3 >>> 24) << 1);
        const cos = real[turn]!, sin = real[turn + 1]!;
        real[o + HX] = hx * cos - hy * sin;
        real[o + HY] = hx * sin + hy * cos;
        let nv = v + (((r3 >>> 12) & 0xfff) - 2047.5) * (SPEED_STEP_KMH / 2048);
        if (nv < MIN_SPEED_KMH) nv = 2 * MIN_SPEED_KMH - nv;
        else if (nv > MAX_SPEED_KMH) nv = 2 * MAX_SPEED_KMH - nv;
        real[o + V] = nv;
        real[o + X] = x;
        real[o + Y] = y;
        real[o + LAST_TS] = ts;
      }
      oDriver[w] = d;
      oLat[w] = real[g + GEO_LAT]! + y * DEG_LAT_PER_KM;
      oLon[w] = real[g + GEO_LON]! + x * real[g + GEO_DEG_LON_PER_KM]!;
      oTs[w] = ts;
      // r3 low bits: noise of the reported speed, rounded to 0.1 km/h (v ≥ 10, so floor(x + 0.5) rounds);
      // r4: speed missing.
      oSpeed[w] =
        ints[q + 3]! >>> 0 < tSpeedMissing ? NaN : Math.floor((v + ((r3 & 0xfff) - 2047.5) * (SPEED_NOISE_KMH / 2048)) * 10 + 0.5) / 10;
    }
    this.produced[p] = k;
    for (let s = 0; s < nSpoiled; s += 2) this.spoil(p, ints[SPOILED_AT + s + 1]!, cols, ints[SPOILED_AT + s]!);
  }

  /**
   * Turns the fix at index w (the driver's last path point, stamped with the partition clock) into a
   * late fix (ts 75–600 s earlier), a teleport (a point in a city ≥ 1000 km away, or the antipode
   * when there is none) or an invalid fix (one defect, see {@link DriverGeneratorOptions.invalidShare}).
   * Runs after the hot loop, for the listed fixes only (about 0.25 % of events with the defaults).
   */
  private spoil(p: number, kind: number, cols: DriverColumns, w: number): void {
    const rr = this.rareRng, ro = p * 4, real = this.real;
    const c = real[this.rowsAt + cols.driver[w]! * STRIDE + CITY]!;
    if (kind === LATE) {
      cols.ts[w] = cols.ts[w]! - (LATE_MIN_MS + ((nextSfc32(rr, ro) >>> 0) % (LATE_MAX_MS - LATE_MIN_MS + 1)));
    } else if (kind === TELEPORT) {
      const f0 = this.farStart[c]!, nf = this.farStart[c + 1]! - f0;
      if (nf > 0) {
        const e = this.farCities[f0 + Math.floor(uniform(rr, ro) * nf)]!, g = GEO_AT + e * GEO_STRIDE;
        const r = EDGE_FRACTION * this.options.cities[e]!.radiusKm * Math.sqrt(uniform(rr, ro));
        const a = uniform(rr, ro) * 2 * Math.PI;
        cols.lat[w] = real[g + GEO_LAT]! + r * Math.sin(a) * DEG_LAT_PER_KM;
        cols.lon[w] = real[g + GEO_LON]! + r * Math.cos(a) * real[g + GEO_DEG_LON_PER_KM]!;
      } else {
        const lat = real[GEO_AT + c * GEO_STRIDE + GEO_LAT]!, lon = real[GEO_AT + c * GEO_STRIDE + GEO_LON]!;
        cols.lat[w] = -lat;
        cols.lon[w] = lon > 0 ? lon - 180 : lon + 180;
      }
    } else {
      const defect = Math.floor(uniform(rr, ro) * INVALID_KINDS);
      const sign = nextSfc32(rr, ro) < 0 ? -1 : 1;
      const mag = uniform(rr, ro);
      if (defect === INVALID_LAT) cols.lat[w] = sign * (91 + mag * 89);
      else if (defect === INVALID_LON) cols.lon[w] = sign * (181 + mag * 179);
      else if (defect === INVALID_NULL_ISLAND) cols.lat[w] = cols.lon[w] = 0;
      else if (defect === INVALID_COORD_NAN) {
        if (sign < 0) cols.lat[w] = NaN;
        else cols.lon[w] = NaN;
      } else if (defect === INVALID_TS_NAN) cols.ts[w] = NaN;
      else cols.driver[w] = 0;
    }
  }

  /** The driver's id as a string, e.g. "drv-000042"; "" for 0. */
  driverName(id: number): string {
    return id === 0 ? "" : `drv-${String(id).padStart(6, "0")}`;
  }

  /**
   * The event at index i of cols as the JSON object a device would have sent (edge helper, allocates):
   * `{driverId, lat, lon, ts, speedKmh?}`; NaN becomes null, speed NaN omits speedKmh, driver 0 gives
   * driverId "".
   */
  static toEvent(cols: DriverColumns, i: number, name: (id: number) => string): Record<string, unknown> {
    const finite = (x: number): number | null => (Number.isNaN(x) ? null : x);
    const id = cols.driver[i]!;
    const event: Record<string, unknown> = {
      driverId: id === 0 ? "" : name(id),
      lat: finite(cols.lat[i]!),
      lon: finite(cols.lon[i]!),
      ts: finite(cols.ts[i]!),
    };
    const speed = cols.speed[i]!;
    if (!Number.isNaN(speed)) event.speedKmh = speed;
    return event;
  }
}
