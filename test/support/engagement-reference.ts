/**
 * engagement-analytics written plainly (objects, Maps) from the semantics in
 * src/pipelines/engagement/spec.ts, to check the engine against. Input: views and interactions in
 * source order with their partition (the watermark of a record is the minimum over partitions of
 * the largest valid ts read so far, as the edge computes it), and the content table as it stands
 * for the whole run. A record is an interaction when `kind` says so or, without `kind`, when it has
 * a non-empty string `action`.
 */
import type { EngagementGenerator, ViewColumns } from "../../src/sources/engagement-generator.js";

export type EngagementOutput = Record<string, unknown>;

const WINDOW = 300_000;
const GRACE = 30_000;
const GAP = 1_800_000;

export interface SourcedView {
  partition: number;
  event: Record<string, unknown>;
  /** The stream the record came from (a topic); default: by content. */
  kind?: "view" | "interaction";
}

/**
 * `rounds` batches of 500 generated events, partitions 0 and 1 in turn, each with the stream it
 * goes to (views; interactions when the generator makes them).
 */
export function generateEngagement(gen: EngagementGenerator, rounds: number): SourcedView[] {
  const batch = 500;
  const cols: ViewColumns = {
    userId: new Uint32Array(batch), contentId: new Uint32Array(batch), watchSeconds: new Float64Array(batch),
    durationSeconds: new Float64Array(batch), ts: new Float64Array(batch), action: new Uint32Array(batch), rating: new Float64Array(batch),
  };
  const sourced: SourcedView[] = [];
  for (let k = 0; k < rounds; k++) {
    const p = k % 2;
    gen.fill(p, cols, 0, batch);
    for (let i = 0; i < batch; i++) sourced.push({ partition: p, event: gen.toEvent(cols, i), kind: cols.action![i] !== 0 ? "interaction" : "view" });
  }
  return sourced;
}

const WEIGHTS: Record<string, number> = { like: 2, share: 3, add_to_list: 2 };

function interactionReasonOf(e: Record<string, unknown>): string | undefined {
  const ts = num(e["ts"]), rating = num(e["rating"]);
  if (!nonEmpty(e["userId"])) return "userId must be a non-empty string";
  if (!nonEmpty(e["contentId"])) return "contentId must be a non-empty string";
  const action = e["action"];
  if (action !== "rate" && !(typeof action === "string" && action in WEIGHTS)) return "action must be one of like, share, add_to_list, rate";
  if (!Number.isFinite(ts)) return "ts must be a finite number";
  if (action === "rate" && !(Number.isInteger(rating) && rating >= 1 && rating <= 5)) return "rating must be an integer within [1, 5] (action rate)";
  return undefined;
}

/**
 * A closed session's full affinity per genre (not capped at 8 genres) and its session views per
 * genre alone, by `${userId}|${start}`.
 */
export type SessionScores = Map<string, { affinity: Map<string, number>; views: Map<string, number> }>;

function nonEmpty(v: unknown): v is string {
  return typeof v === "string" && v !== "";
}

function num(v: unknown): number {
  return typeof v === "number" ? v : NaN;
}

function reasonOf(e: Record<string, unknown>): string | undefined {
  const w = num(e["watchSeconds"]), d = num(e["durationSeconds"]), ts = num(e["ts"]);
  if (!nonEmpty(e["userId"])) return "userId must be a non-empty string";
  if (!nonEmpty(e["contentId"])) return "contentId must be a non-empty string";
  if (!Number.isFinite(w)) return "watchSeconds must be a finite number";
  if (!Number.isFinite(d)) return "durationSeconds must be a finite number";
  if (!Number.isFinite(ts)) return "ts must be a finite number";
  if (w < 0 || w > 1e7) return "watchSeconds must be within [0, 10000000]";
  if (d <= 0 || d > 1e7) return "durationSeconds must be within (0, 10000000]";
  return undefined;
}

interface Session { start: number; end: number; views: number; interactions: number; genres: Map<string, number>; all: Map<string, number>; byViews: Map<string, number> }

export function referenceEngagement(
  views: readonly SourcedView[], partitions: number, table: ReadonlyMap<string, { title: string; genre: string }>,
  scores?: SessionScores,
): EngagementOutput[] {
  const out: EngagementOutput[] = [];
  const streamTime = new Array<number>(partitions).fill(-Infinity);
  const windows = new Map<string, { contentId: string; start: number; views: number; watchMs: number; done: number }>();
  const sessions = new Map<string, Session>();
  const emitSession = (userId: string, s: Session): void => {
    const genres = [...s.genres.entries()].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([g]) => g);
    out.push({ type: "session", userId, start: s.start, end: s.end, views: s.views, interactions: s.interactions, genres });
    scores?.set(`${userId}|${s.start}`, { affinity: s.all, views: s.byViews });
  };
  /** Adds a session event of user u at ts (watermark wm): a view (+1) or an interaction (weight). */
  const sessionEvent = (userId: string, ts: number, wm: number, contentId: string, weight: number, isView: boolean): void => {
    let s = sessions.get(userId);
    if (s && (ts > s.end + GAP || s.end + GAP <= wm)) {
      emitSession(userId, s);
      s = undefined;
    }
    if (!s) sessions.set(userId, (s = { start: ts, end: ts, views: 0, interactions: 0, genres: new Map(), all: new Map(), byViews: new Map() }));
    s.start = Math.min(s.start, ts);
    s.end = Math.max(s.end, ts);
    if (isView) s.views++;
    else s.interactions++;
    const genre = table.get(contentId)?.genre;
    if (genre === undefined) return;
    s.all.set(genre, (s.all.get(genre) ?? 0) + weight);
    if (isView) s.byViews.set(genre, (s.byViews.get(genre) ?? 0) + 1);
    if (s.genres.has(genre) || s.genres.size < 8) s.genres.set(genre, (s.genres.get(genre) ?? 0) + weight);
  };
  for (const { partition, event: e, kind } of views) {
    if (kind === "interaction" || (kind === undefined && nonEmpty(e["action"]))) {
      const reason = interactionReasonOf(e);
      if (reason !== undefined) {
        out.push({ type: "invalid", reason, event: e });
        continue;
      }
      const ts = e["ts"] as number;
      streamTime[partition] = Math.max(streamTime[partition]!, ts);
      const wm = Math.min(...streamTime);
      if (ts + GAP <= wm) {
        out.push({ type: "late", event: e });
        continue;
      }
      const action = e["action"] as string;
      sessionEvent(e["userId"] as string, ts, wm, e["contentId"] as string, action === "rate" ? (e["rating"] as number) - 3 : WEIGHTS[action]!, false);
      continue;
    }
    const reason = reasonOf(e);
    if (reason !== undefined) {
      out.push({ type: "invalid", reason, event: e });
      continue;
    }
    const ts = e["ts"] as number, w = e["watchSeconds"] as number, d = e["durationSeconds"] as number;
    streamTime[partition] = Math.max(streamTime[partition]!, ts);
    const wm = Math.min(...streamTime);
    const start = Math.floor(ts / WINDOW) * WINDOW;
    if (start + WINDOW + GRACE <= wm) {
      out.push({ type: "late", event: e });
      continue;
    }
    const contentId = e["contentId"] as string;
    const wk = `${contentId}|${start}`;
    let win = windows.get(wk);
    if (!win) windows.set(wk, (win = { contentId, start, views: 0, watchMs: 0, done: 0 }));
    win.views++;
    win.watchMs += Math.round(w * 1000);
    if (w >= 0.9 * d) win.done++;
    if (w <= 300) continue;
    sessionEvent(e["userId"] as string, ts, wm, contentId, 1, true);
  }
  for (const [userId, s] of sessions) emitSession(userId, s);
  for (const win of windows.values()) {
    const info = table.get(win.contentId);
    out.push({
      type: "window", contentId: win.contentId, title: info?.title ?? null, genre: info?.genre ?? null,
      windowStart: win.start, windowEnd: win.start + WINDOW, views: win.views, watchSeconds: win.watchMs / 1000,
      completions: win.done, completionRate: win.done / win.views,
    });
  }
  return out;
}

/** Canonical string of an output (key order independent; side outputs by reason and event). */
export function canonicalEngagement(o: EngagementOutput): string {
  if (o["type"] === "invalid") return `invalid|${o["reason"]}|${JSON.stringify(o["event"])}`;
  if (o["type"] === "late") return `late|${JSON.stringify(o["event"])}`;
  return JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
}

export function engagementMultiset(outputs: ReadonlyArray<EngagementOutput>): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of outputs) m.set(canonicalEngagement(o), (m.get(canonicalEngagement(o)) ?? 0) + 1);
  return m;
}
