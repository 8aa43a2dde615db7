/**
 * A plain reference implementation of surge-pricing (src/pipelines/surge-pricing/spec.ts), written
 * the obvious way with objects, Maps and Sets. Input: ride events in source order, with partitions.
 */
import ngeohash from "ngeohash";
import type { RefOutput, SourcedEvent } from "./driver-reference.js";

const SIZE = 600_000;
const ADVANCE = 60_000;
const GRACE = 10_000;

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

export function referenceSurge(requests: number, drivers: number): number {
  const ratio = requests / Math.max(drivers, 1);
  if (ratio <= 1) return 1;
  return Math.min(3, Math.round((1 + 0.5 * (ratio - 1)) * 10) / 10);
}

export function referenceSurgePricing(events: SourcedEvent[], partitions: number): RefOutput[] {
  const out: RefOutput[] = [];
  const streamTime = new Map<number, number>();
  for (let p = 0; p < partitions; p++) streamTime.set(p, -Infinity);
  const windows = new Map<string, { key: string; start: number; requests: number; drivers: Set<string> }>();
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
    const isRequest = typeof e["requestId"] === "string" && (e["requestId"] as string).length > 0;
    const reason = reasonOf(e, isRequest);
    if (reason) {
      out.push({ type: "invalid", reason, event });
      continue;
    }
    const lat = e["lat"] as number, lon = e["lon"] as number, ts = e["ts"] as number;
    streamTime.set(partition, Math.max(streamTime.get(partition)!, ts));
    const watermark = Math.min(...streamTime.values());
    const newest = Math.floor(ts / ADVANCE) * ADVANCE;
    const open = (s: number): boolean => s + SIZE + GRACE > watermark;
    if (!open(newest)) {
      out.push({ type: "late", event });
      continue;
    }
    const key = ngeohash.encode(lat, lon, 5);
    for (let s = newest - SIZE + ADVANCE; s <= newest; s += ADVANCE) {
      if (!open(s)) continue;
      const wk = `${key}|${s}`;
      let w = windows.get(wk);
      if (!w) windows.set(wk, (w = { key, start: s, requests: 0, drivers: new Set() }));
      if (isRequest) w.requests++;
      else w.drivers.add(e["driverId"] as string);
    }
  }
  for (const w of windows.values()) {
    out.push({
      type: "window", key: w.key, windowStart: w.start, windowEnd: w.start + SIZE,
      requests: w.requests, drivers: w.drivers.size, surgeMultiplier: referenceSurge(w.requests, w.drivers.size),
    } as RefOutput);
  }
  return out;
}
