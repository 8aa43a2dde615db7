/**
 * A plain reference implementation of driver-tracking (DESIGN.md, "The main job"), written the
 * obvious way with objects and Maps, to compare the engine against. Input: events in source order,
 * each with its partition.
 */
import ngeohash from "ngeohash";

export interface SourcedEvent {
  partition: number;
  /** The event as received: a parsed JSON value, or the raw line when it was not JSON. */
  event: unknown;
  notJson?: boolean;
}

export interface RefOutput {
  type: string;
  reason?: string;
  event?: unknown;
  key?: string;
  windowStart?: number;
  windowEnd?: number;
  count?: number;
  avgSpeedKmh?: number | null;
}

const R = 6371.0088;
const WINDOW = 60_000;
const GRACE = 10_000;

function haversine(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(a));
}

function invalidReason(e: Record<string, unknown>): string | null {
  const { driverId, lat, lon, ts } = e;
  if (typeof driverId !== "string" || driverId.length === 0) return "driverId must be a non-empty string";
  if (typeof lat !== "number" || !Number.isFinite(lat)) return "lat must be a finite number";
  if (typeof lon !== "number" || !Number.isFinite(lon)) return "lon must be a finite number";
  if (typeof ts !== "number" || !Number.isFinite(ts)) return "ts must be a finite number";
  if (lat < -90 || lat > 90) return "lat must be within [-90, 90]";
  if (lon < -180 || lon > 180) return "lon must be within [-180, 180]";
  if (lat === 0 && lon === 0) return "lat and lon are both 0";
  return null;
}

/** `last`, when given, receives each driver's newest aggregated fix (what the GEO index holds). */
export function referenceDriverTracking(events: SourcedEvent[], partitions: number,
  last = new Map<string, { lat: number; lon: number; ts: number }>()): RefOutput[] {
  const out: RefOutput[] = [];
  const streamTime = new Map<number, number>();
  for (let p = 0; p < partitions; p++) streamTime.set(p, -Infinity);
  const windows = new Map<string, { key: string; start: number; count: number; speeds: number[] }>();
  for (const { partition, event, notJson } of events) {
    if (notJson) {
      let reason = "";
      try {
        JSON.parse(event as string);
      } catch (err) {
        reason = `not valid JSON: ${(err as Error).message}`;
      }
      out.push({ type: "invalid", reason, event });
      continue;
    }
    const e = (typeof event === "object" && event !== null ? event : {}) as Record<string, unknown>;
    const reason = invalidReason(e);
    if (reason) {
      out.push({ type: "invalid", reason, event });
      continue;
    }
    const lat = e["lat"] as number, lon = e["lon"] as number, ts = e["ts"] as number, id = e["driverId"] as string;
    streamTime.set(partition, Math.max(streamTime.get(partition)!, ts));
    const watermark = Math.min(...streamTime.values());
    const prev = last.get(id);
    if (prev && ts > prev.ts && haversine(prev.lat, prev.lon, lat, lon) / ((ts - prev.ts) / 3_600_000) > 250) {
      out.push({ type: "anomaly", event });
      continue;
    }
    const start = Math.floor(ts / WINDOW) * WINDOW;
    if (start + WINDOW + GRACE <= watermark) {
      out.push({ type: "late", event });
      continue;
    }
    const key = ngeohash.encode(lat, lon, 5);
    const wk = `${key}|${start}`;
    let w = windows.get(wk);
    if (!w) windows.set(wk, (w = { key, start, count: 0, speeds: [] }));
    w.count++;
    const speed = e["speedKmh"];
    if (typeof speed === "number" && Number.isFinite(speed)) w.speeds.push(speed);
    if (!prev || ts > prev.ts) last.set(id, { lat, lon, ts });
  }
  for (const w of windows.values()) {
    out.push({
      type: "window", key: w.key, windowStart: w.start, windowEnd: w.start + WINDOW, count: w.count,
      avgSpeedKmh: w.speeds.length ? w.speeds.reduce((a, b) => a + b, 0) / w.speeds.length : null,
    });
  }
  return out;
}

/**
 * A canonical line per output for multiset comparison. Window means are compared apart (see
 * meanMismatches): the engine sums in fixed point, the reference in floating point, so they agree
 * to 1e-6 km/h but not always in the last printed digit.
 */
export function canonical(o: RefOutput | Record<string, unknown>, withReason: boolean): string {
  const x = o as RefOutput;
  if (x.type === "window") {
    const avg = x.avgSpeedKmh === null || x.avgSpeedKmh === undefined ? "null" : "number";
    return `window|${x.key}|${x.windowStart}|${x.windowEnd}|${x.count}|${avg}`;
  }
  return `${x.type}|${withReason && x.type === "invalid" ? x.reason : ""}|${JSON.stringify(x.event)}`;
}

export function multiset(outputs: Array<RefOutput | Record<string, unknown>>, withReason: boolean): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of outputs) {
    const k = canonical(o, withReason);
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/** Keys whose counts differ between two multisets (for readable failures). */
export function diff(a: Map<string, number>, b: Map<string, number>, limit = 10): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  const d: string[] = [];
  for (const k of keys) {
    if ((a.get(k) ?? 0) !== (b.get(k) ?? 0)) d.push(`${k}: engine ${a.get(k) ?? 0}, reference ${b.get(k) ?? 0}`);
    if (d.length >= limit) break;
  }
  return d;
}

/** Windows whose mean speed differs from the reference's by more than 1e-6 km/h. */
export function meanMismatches(engine: Array<Record<string, unknown>>, reference: RefOutput[]): string[] {
  const ref = new Map<string, number | null>();
  for (const r of reference) if (r.type === "window") ref.set(`${r.key}|${r.windowStart}`, r.avgSpeedKmh ?? null);
  const bad: string[] = [];
  for (const e of engine) {
    if (e["type"] !== "window") continue;
    const k = `${e["key"]}|${e["windowStart"]}`;
    const want = ref.get(k);
    const got = e["avgSpeedKmh"] as number | null;
    if (want === undefined) continue; // counted as a difference by the multiset comparison
    if ((want === null) !== (got === null) || (want !== null && Math.abs(want - got!) > 1e-6)) bad.push(`${k}: engine ${got}, reference ${want}`);
  }
  return bad.slice(0, 10);
}
