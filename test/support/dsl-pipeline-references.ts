/**
 * What the DSL pipelines (src/pipelines/topologies/) must output, computed by hand from the same
 * generator functions, as sorted lines; and each output record as such a line (`…Key`). Shared by
 * the in-process, Kafka and exactly-once tests.
 */
import { haversineKm } from "../../src/kernels/geo.js";
import { GAP_MS } from "../../src/pipelines/topologies/chat-sessions.js";
import { WINDOW_MS } from "../../src/pipelines/topologies/content-views.js";
import { driverLocation, message, rideRequest, userProfile, userView } from "../../src/pipelines/topologies/data.js";
import { MATCH_WINDOW_MS, MAX_PICKUP_KM } from "../../src/pipelines/topologies/ride-matching.js";

/** ride-matching by hand: every (request, available location) of one region within the window and the pickup distance. */
export function rideReference(events: number, seed: number, drivers: number): string[] {
  const nReq = Math.floor(events / 5);
  // Each region's available locations in time order (location i is at T0 + i·STEP), so a request's
  // window is a contiguous run found by binary search (scanning the whole region for each request
  // took 10-18 s at 150,000 events).
  const byRegion = new Map<string, ReturnType<typeof driverLocation>[]>();
  for (let i = 0; i < events - nReq; i++) {
    const l = driverLocation(seed, drivers, i);
    if (l.available !== 1) continue;
    const list = byRegion.get(l.region);
    if (list) list.push(l);
    else byRegion.set(l.region, [l]);
  }
  const out: string[] = [];
  for (let j = 0; j < nReq; j++) {
    const r = rideRequest(seed, drivers, j);
    const list = byRegion.get(r.region) ?? [];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.ts < r.ts - MATCH_WINDOW_MS) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo; k < list.length && list[k]!.ts <= r.ts + MATCH_WINDOW_MS; k++) {
      const l = list[k]!;
      const km = Math.round(haversineKm(r.lat, r.lon, l.lat, l.lon) * 1000) / 1000;
      if (km <= MAX_PICKUP_KM) out.push(`${r.region}|${r.requestId}|${l.driverId}|${l.ts}|${km}`);
    }
  }
  return out.sort();
}

export function rideKey(o: Record<string, unknown>): string {
  const v = o["value"] as { requestId: string; driverId: string; locatedAt: number; distanceKm: number };
  return `${o["key"]}|${v.requestId}|${v.driverId}|${v.locatedAt}|${v.distanceKm}`;
}

/** message-enrichment by hand: messages whose sender has a profile, with it. */
export function messageReference(events: number, seed: number, users: number): string[] {
  const profiles = new Map(Array.from({ length: users }, (_, k) => userProfile(seed, k)).map((p) => [p.userId, p]));
  const out: string[] = [];
  for (let i = 0; i < events; i++) {
    const m = message(seed, users, i);
    const p = profiles.get(m.senderId);
    if (p) out.push(`${m.senderId}|${m.messageId}|${m.chatId}|${p.name}|${p.country}|${p.premium === 1}`);
  }
  return out.sort();
}

export function messageKey(o: Record<string, unknown>): string {
  const v = o["value"] as { messageId: string; chatId: string; sender: { name: string; country: string; premium: boolean } };
  return `${o["key"]}|${v.messageId}|${v.chatId}|${v.sender.name}|${v.sender.country}|${v.sender.premium}`;
}

/** content-views by hand: per content and 5-minute window, views and watch time (no view is late: disorder ≤ 20 s, grace 60 s). */
export function viewReference(events: number, seed: number, users: number): string[] {
  const w = new Map<string, { views: number; watchSec: number }>();
  for (let i = 0; i < events; i++) {
    const v = userView(seed, users, i);
    const k = `${v.contentId}|${Math.floor(v.ts / WINDOW_MS) * WINDOW_MS}`;
    const a = w.get(k) ?? { views: 0, watchSec: 0 };
    a.views++;
    a.watchSec += v.watchSec;
    w.set(k, a);
  }
  return [...w].map(([k, a]) => `${k}|${a.views}|${a.watchSec}`).sort();
}

export function viewKey(o: Record<string, unknown>): string {
  const v = o["value"] as { views: number; watchSec: number };
  return `${o["key"]}|${o["windowStart"]}|${v.views}|${v.watchSec}`;
}

/** chat-sessions by hand: per chat, runs of messages at most 30 minutes apart (messages come in time order). */
export function chatReference(events: number, seed: number, users: number): string[] {
  const open = new Map<string, { start: number; end: number; messages: number; bytes: number }>();
  const out: string[] = [];
  const close = (chat: string, s: { start: number; end: number; messages: number; bytes: number }) =>
    out.push(`${chat}|${s.start}|${s.end}|${s.messages}|${s.bytes}|${s.start}|${s.end}`);
  for (let i = 0; i < events; i++) {
    const m = message(seed, users, i);
    const s = open.get(m.chatId);
    if (s && m.ts - s.end <= GAP_MS) {
      s.end = m.ts;
      s.messages++;
      s.bytes += m.bytes;
      continue;
    }
    if (s) close(m.chatId, s);
    open.set(m.chatId, { start: m.ts, end: m.ts, messages: 1, bytes: m.bytes });
  }
  for (const [chat, s] of open) close(chat, s);
  return out.sort();
}

export function chatKey(o: Record<string, unknown>): string {
  const v = o["value"] as { messages: number; bytes: number; firstAt: number; lastAt: number };
  return `${o["key"]}|${o["windowStart"]}|${o["windowEnd"]}|${v.messages}|${v.bytes}|${v.firstAt}|${v.lastAt}`;
}
