/**
 * Seeded traffic of the DSL pipelines (ride-matching, message-enrichment), the same for the
 * in-process generator (`riptide run <name>`) and the load generator (`riptide loadgen --kind
 * <name>`), with ids consistent across topics: a ride request and the driver locations near it
 * share the region (geohash-5 cell, the join key); a message's sender is a user of the profile
 * table (but for a few unknown senders, which an inner join drops).
 *
 *   ride-matching       topic ride-requests: request j at T0 + 4·j·STEP, pickup near a driver's area
 *                       topic driver-locations: location i at T0 + i·STEP, driver i mod drivers
 *                       (4 locations per request, so both streams cover the same time)
 *   message-enrichment  topic user-profiles: user u (the table, read first)
 *                       topic messages: message i at T0 + i·10 ms
 *   chat-sessions       topic messages (the same messages, keyed by sender, grouped by chat)
 *   content-views       topic user-views: view i at T0 + i·10 ms (± 20 s out of order), by user u,
 *                       of a content id drawn with a skew (a few titles get most views)
 */
import { geohashEncodeInt, geohashIntToString } from "../../kernels/geohash.js";

export const T0 = 1_700_000_000_000;
const STEP_MS = 25;
const CENTER_LAT = 37.7749;
const CENTER_LON = -122.4194;
const COUNTRIES = ["US", "BR", "IN", "DE", "NG", "ID", "MX", "GB"];

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A uniform double in [0, 1) from (seed, index, salt). */
function u(seed: number, i: number, salt: number): number {
  return mix(mix(seed, salt), i) / 4294967296;
}

export function region(lat: number, lon: number): string {
  return geohashIntToString(geohashEncodeInt(lat, lon, 5), 5);
}

/** A driver's area: a point within ~12 km of the city centre, fixed per driver. */
function driverHome(seed: number, d: number): [number, number] {
  return [CENTER_LAT + (u(seed, d, 1) - 0.5) * 0.22, CENTER_LON + (u(seed, d, 2) - 0.5) * 0.28];
}

export interface RideRequest { requestId: string; riderId: string; lat: number; lon: number; region: string; ts: number }
export interface DriverLocation { driverId: string; lat: number; lon: number; region: string; available: number; ts: number }

export function rideRequest(seed: number, drivers: number, j: number): RideRequest {
  const [hl, ho] = driverHome(seed, mix(seed, j) % drivers);
  const lat = hl + (u(seed, j, 3) - 0.5) * 0.04;
  const lon = ho + (u(seed, j, 4) - 0.5) * 0.05;
  return { requestId: `req-${j}`, riderId: `rider-${mix(seed ^ 7, j) % 50_000}`, lat, lon, region: region(lat, lon), ts: T0 + 4 * j * STEP_MS };
}

export function driverLocation(seed: number, drivers: number, i: number): DriverLocation {
  const d = i % drivers;
  const [hl, ho] = driverHome(seed, d);
  const lat = hl + (u(seed, i, 5) - 0.5) * 0.03;
  const lon = ho + (u(seed, i, 6) - 0.5) * 0.04;
  return { driverId: `driver-${d}`, lat, lon, region: region(lat, lon), available: u(seed, i, 7) < 0.7 ? 1 : 0, ts: T0 + i * STEP_MS };
}

export interface UserProfile { userId: string; name: string; country: string; premium: number }
export interface Message { messageId: string; chatId: string; senderId: string; bytes: number; ts: number }

export function userProfile(seed: number, k: number): UserProfile {
  return { userId: `user-${k}`, name: `User ${k}`, country: COUNTRIES[mix(seed, k) % COUNTRIES.length]!, premium: u(seed, k, 8) < 0.2 ? 1 : 0 };
}

/** Senders are users 0 … users·1.05: about 5 % have no profile. */
export function message(seed: number, users: number, i: number): Message {
  return {
    messageId: `msg-${i}`, chatId: `chat-${mix(seed ^ 3, i) % Math.max(1, users >> 1)}`, senderId: `user-${mix(seed ^ 5, i) % Math.ceil(users * 1.05)}`,
    bytes: 1 + (mix(seed ^ 9, i) % 4096), ts: T0 + i * 10,
  };
}

export interface UserView { userId: string; contentId: string; watchSec: number; ts: number }

/** View i: users 0 … users−1, contents 0 … users/4 with the first ones far more viewed; up to 20 s out of order. */
export function userView(seed: number, users: number, i: number): UserView {
  const contents = Math.max(1, users >> 2);
  const r = u(seed, i, 11);
  return {
    userId: `user-${mix(seed ^ 13, i) % users}`, contentId: `content-${Math.floor(r * r * r * contents)}`,
    watchSec: 1 + (mix(seed ^ 17, i) % 3_600), ts: T0 + i * 10 - (mix(seed ^ 19, i) % 20_000),
  };
}
