/**
 * ride-matching (seed §7) on the DSL: ride requests joined with driver locations of the same region
 * (geohash-5 cell, the key of both topics) within 1 minute; a match is valid when the driver is
 * available and within MAX_PICKUP_KM of the pickup (haversine). This module is what every shard
 * worker imports; topic names take RIPTIDE_TOPIC_PREFIX in front (`--topic-prefix`).
 */
import { StreamsBuilder } from "../../dsl/builder.js";
import { JoinWindows } from "../../dsl/windows.js";
import { haversineKm } from "../../kernels/geo.js";
import { defineSchema } from "../../schema/schema.js";

// Ids with a value per request are `text` (carried by value); regions and drivers, few, are interned.
export const requestSchema = defineSchema("ride-request", { requestId: "text", riderId: "text", lat: "f64", lon: "f64", region: "string", ts: "f64" });
export const locationSchema = defineSchema("driver-location", { driverId: "string", lat: "f64", lon: "f64", region: "string", available: "u8", ts: "f64" });
/** Farthest pickup a match may have, km. */
export const MAX_PICKUP_KM = 1;
/** Join window: a location at most this far from the request in event time. */
export const MATCH_WINDOW_MS = 60_000;
export const GRACE_MS = 10_000;

export function topics(prefix = process.env["RIPTIDE_TOPIC_PREFIX"] ?? "") {
  return { requests: `${prefix}ride-requests`, locations: `${prefix}driver-locations`, matches: `${prefix}ride-matches` };
}

interface Req { requestId: string; riderId: string; lat: number; lon: number; region: string; ts: number }
interface Loc { driverId: string; lat: number; lon: number; region: string; available: number; ts: number }

export default function topology() {
  const t = topics();
  const b = new StreamsBuilder();
  const requests = b.stream<Req, string>(t.requests, { schema: requestSchema, key: "region", timestamp: "ts" });
  const available = b.stream<Loc, string>(t.locations, { schema: locationSchema, key: "region", timestamp: "ts" })
    .filter((_region, l) => l.available === 1, "available-drivers");
  requests
    .join(available, (r: Req, l: Loc) => ({
      requestId: r.requestId, riderId: r.riderId, driverId: l.driverId, region: r.region,
      distanceKm: Math.round(haversineKm(r.lat, r.lon, l.lat, l.lon) * 1000) / 1000, requestedAt: r.ts, locatedAt: l.ts,
    }), JoinWindows.ofTimeDifferenceAndGrace(MATCH_WINDOW_MS, GRACE_MS), { name: "ride-match-join", late: `${t.matches}.late` })
    .filter((_region, m) => m.distanceKm <= MAX_PICKUP_KM, "valid-match")
    .to(t.matches);
  return b.build();
}
