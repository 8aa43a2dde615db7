/**
 * The engine's geo kernels for topologies: geohash (bit-exact with ngeohash), haversine distance and
 * ETA, as plain functions user code calls (e.g. `groupBy((_k, v) => Geo.geohashCode(v.lat, v.lon, 5))`).
 * `geohashCode` returns an integer and allocates nothing; `geohash` returns the string.
 */
import { haversineKm, etaMinutes, speedExceedsKmh } from "../kernels/geo.js";
import { geohashEncodeInt, geohashIntToString } from "../kernels/geohash.js";

export const Geo = {
  /** Geohash string of (lat, lon), precision 1..6. @default precision 5 */
  geohash(lat: number, lon: number, precision = 5): string {
    return geohashIntToString(geohashEncodeInt(lat, lon, precision), precision);
  },
  /** Geohash of (lat, lon) as an integer below 2^30, precision 1..6 (no allocation). @default precision 5 */
  geohashCode(lat: number, lon: number, precision = 5): number {
    return geohashEncodeInt(lat, lon, precision);
  },
  /** The string of a geohashCode. @default precision 5 */
  geohashString(code: number, precision = 5): string {
    return geohashIntToString(code, precision);
  },
  /** Great-circle distance in km (R = 6371.0088 km). */
  haversineKm,
  /**
   * True when going from fix 1 to fix 2 (ts in ms, ts2 > ts1) is faster than limitKmh: the
   * hand-written driver-tracking's check (a bound decides most pairs without the haversine).
   */
  speedExceedsKmh,
  /** Minutes to cover distanceKm at baseSpeedKmh / trafficMultiplier (seed: 30 km/h). */
  etaMinutes,
};
