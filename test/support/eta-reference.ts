/**
 * A plain reference implementation of driver-eta (src/pipelines/driver-eta/spec.ts): objects,
 * Maps and a list of open requests scanned in full. Input: ride events in source order.
 */
import ngeohash from "ngeohash";
import type { SourcedEvent } from "./driver-reference.js";

const R = 6371.0088;
const TTL = 600_000;
const HOLD = 900_000;

function haversine(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(a)));
}

function reasonOf(e: Record<string, unknown>, isRequest: boolean): string | null {
  const id = isRequest ? e["requestId"] : e["driverId"];
  const { lat, lon, ts } = e;
  if (typeof id !== "string" || id.length === 0) return "driverId (or requestId) must be a non-empty string";
  if (typeof lat !== "number" || !Number.isFinite(lat)) return "lat must be a finite number";
  if (typeof lon !== "number" || !Number.isFinite(lon)) return "lon must be a finite number";
  if (typeof ts !== "number" || !Number.isFinite(ts)) return "ts must be a finite number";
  if (lat < -90 || lat > 90) return "lat must be within [-90, 90]";
  if (lon < -180 || lon > 180) return "lon must be within [-180, 180]";
  if (lat === 0 && lon === 0) return "lat and lon are both 0";
  return null;
}

export function referenceDriverEta(events: SourcedEvent[], partitions: number): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const streamTime = new Map<number, number>();
  for (let p = 0; p < partitions; p++) streamTime.set(p, -Infinity);
  // Open requests in 0.1° latitude buckets (a driver's 5 km reach spans < 0.05°: three buckets).
  type Req = { id: string; lat: number; lon: number; ts: number; seq: number };
  const open = new Map<number, Req[]>();
  const bucketOf = (lat: number): number => Math.floor(lat * 10);
  let seq = 0;
  const drivers = new Map<string, { held: boolean; until: number }>();
  const speeds = new Map<string, number>();
  for (const { partition, event } of events) {
    const e = (typeof event === "object" && event !== null ? event : {}) as Record<string, unknown>;
    const isRequest = typeof e["requestId"] === "string" && (e["requestId"] as string).length > 0;
    const reason = reasonOf(e, isRequest);
    if (reason) {
      out.push({ type: "invalid", reason, event });
      continue;
    }
    const lat = e["lat"] as number, lon = e["lon"] as number, ts = e["ts"] as number;
    streamTime.set(partition, Math.max(streamTime.get(partition)!, ts));
    const watermark = Math.min(...streamTime.values());
    if (isRequest) {
      const b = bucketOf(lat);
      if (!open.has(b)) open.set(b, []);
      open.get(b)!.push({ id: e["requestId"] as string, lat, lon, ts, seq: seq++ });
      continue;
    }
    const driverId = e["driverId"] as string;
    const region = ngeohash.encode(lat, lon, 5);
    const speed = e["speedKmh"];
    if (typeof speed === "number" && Number.isFinite(speed)) {
      const v = speeds.get(region);
      speeds.set(region, v === undefined ? speed : v + 0.1 * (speed - v));
    }
    let d = drivers.get(driverId);
    if (!d) {
      drivers.set(driverId, (d = { held: false, until: 0 }));
      out.push({ type: "availability", driverId, available: true, region, lat, lon, ts });
    } else if (d.held && ts >= d.until) {
      d.held = false;
      out.push({ type: "availability", driverId, available: true, region, lat, lon, ts });
    }
    const mean = speeds.get(region);
    const mult = mean === undefined || !(mean > 0) ? 1 : Math.min(3, Math.max(1, 50 / mean));
    let best: { r: Req; eta: number } | undefined;
    const candidates: Req[] = [];
    for (let b = bucketOf(lat) - 1; b <= bucketOf(lat) + 1; b++) {
      const list = open.get(b);
      if (!list) continue;
      // Expired requests (10 minutes behind the watermark) never come back: drop them.
      const live = list.filter((r) => r.ts + TTL > watermark);
      open.set(b, live);
      candidates.push(...live);
    }
    for (const r of candidates) {
      const dist = haversine(lat, lon, r.lat, r.lon);
      if (dist > 5) continue;
      const eta = (dist / (30 / mult)) * 60;
      out.push({ type: "eta", driverId, requestId: r.id, etaMinutes: eta, distanceKm: dist, trafficMultiplier: mult, ts });
      if (eta <= 5 && (!best || eta < best.eta || (eta === best.eta && r.seq < best.r.seq))) best = { r, eta };
    }
    if (best && !d.held) {
      d.held = true;
      d.until = ts + HOLD;
      out.push({ type: "availability", driverId, available: false, region, lat, lon, ts, requestId: best.r.id, etaMinutes: best.eta });
      const list = open.get(bucketOf(best.r.lat))!;
      list.splice(list.indexOf(best.r), 1);
    }
  }
  return out;
}

const num = (x: unknown): string => (typeof x === "number" ? x.toPrecision(9) : String(x));

/** One driver-eta output as a string (numbers to 9 digits: the kernel and this reference round differently). */
export function etaKey(o: Record<string, unknown>): string {
  if (o["type"] === "eta") return `eta|${o["driverId"]}|${o["requestId"]}|${num(o["etaMinutes"])}|${num(o["distanceKm"])}|${num(o["trafficMultiplier"])}|${o["ts"]}`;
  if (o["type"] === "availability") {
    return `availability|${o["driverId"]}|${o["available"]}|${o["region"]}|${o["lat"]}|${o["lon"]}|${o["ts"]}|${o["requestId"] ?? ""}|${num(o["etaMinutes"] ?? "")}`;
  }
  return `${o["type"]}|${o["reason"]}|${JSON.stringify(o["event"])}`;
}
