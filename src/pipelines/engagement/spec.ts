/**
 * engagement-analytics (seed §2, "Netflix Real-Time Analytics"): views per content on 5-minute
 * tumbling windows, enriched with the content-metadata table, and per-user viewing sessions whose
 * genres become recommendations.
 *
 *   user-views {userId, contentId, watchSeconds, durationSeconds, ts}
 *     → validate at the edge (invalid output with the reason); the content's genre is looked up in
 *       the content-metadata table (main thread) as the view enters (a stream-table join)
 *     → view windows, per contentId on [s, s + 5 min): views, watch seconds (summed in integer ms),
 *       completions (watchSeconds ≥ 0.9 · durationSeconds); emit-final at end + 30 s grace; a view
 *       whose window already closed (window end + grace ≤ watermark) → late output
 *     → at emit: {type:"window", contentId, title, genre, windowStart, windowEnd, views,
 *       watchSeconds, completions, completionRate}, title and genre from the table as it is then
 *       (null when the content is unknown or deleted) → processed-analytics (--output-topic)
 *   content-metadata {contentId, title, genre}: a compacted table keyed by contentId, latest wins,
 *     a tombstone (null value) deletes; kept on the main thread (small, broadcast)
 *   sessions, per userId, over valid, not late views with watchSeconds > 300:
 *     a view joins the user's open session when ts ≤ end + 30 min (start/end widen); a view after
 *     that, or one arriving when its own watermark has passed end + 30 min, closes the open session
 *     and starts a new one. A session closes when the watermark passes end + 30 min:
 *     {type:"session", userId, start, end, views, genres} with genres the session's top 3 genres by
 *     views (ties: first seen first; at most 8 distinct genres tracked per session; views of
 *     unknown content count in `views` only) → `<output-topic>.session`; with --redis also
 *     `rec:<userId>` = JSON list of those genres, 2-hour expiry.
 *   user-interactions: not read (the seed's recommendation engine is out of scope).
 *
 * Shards: views are sharded by userId (Kafka: keyed by userId), so a user's sessions are on one
 * shard; window partials of all shards merge by addition (integers), so 1 or N workers agree.
 */
import { compileLayout, defineSchema, type RecordLayout } from "../../schema/schema.js";

export const PIPELINE = "engagement-analytics";
export const WINDOW_MS = 300_000;
export const GRACE_MS = 30_000;
export const SESSION_GAP_MS = 1_800_000;
/** Views longer than this many seconds feed sessions. */
export const SESSION_MIN_WATCH_S = 300;
export const COMPLETION_SHARE = 0.9;
/** Distinct genres tracked per session. */
export const SESSION_GENRES = 8;
/** Genres a session summary names. */
export const TOP_GENRES = 3;
export const REC_TTL_SECONDS = 7200;

/** Output kind of a session summary (pipeline-specific kinds start at OUT_PIPELINE_BASE). */
export const OUT_SESSION = 16;
export const LATE_WINDOW_CLOSED = 1;

export const VIEW_EVENT = defineSchema("view-event", {
  userId: "string",
  contentId: "string",
  watchSeconds: "f64",
  durationSeconds: "f64",
  ts: "f64",
});

export const VIEW_SYSTEM_FIELDS = [
  { name: "_off", type: "f64" },
  { name: "_wm", type: "f64" },
  { name: "_reason", type: "u8" },
  /** 1 when watchSeconds ≥ 0.9 · durationSeconds. */
  { name: "_done", type: "u8" },
  /** Genre index + 1 of the content at ingestion (0: unknown content). */
  { name: "_genre", type: "u32" },
] as const;

export function viewInputLayout(capacity: number): RecordLayout {
  return compileLayout([...VIEW_EVENT.fields, ...VIEW_SYSTEM_FIELDS], capacity);
}

export interface ViewInputColumns {
  userId: Uint32Array;
  contentId: Uint32Array;
  watchSeconds: Float64Array;
  durationSeconds: Float64Array;
  ts: Float64Array;
  _off: Float64Array;
  _wm: Float64Array;
  _reason: Uint8Array;
  _done: Uint8Array;
  _genre: Uint32Array;
}

export const MAX_SECONDS = 1e7;

export const VIEW_REASONS: readonly string[] = [
  "",
  "userId must be a non-empty string",
  "contentId must be a non-empty string",
  "watchSeconds must be a finite number",
  "durationSeconds must be a finite number",
  "ts must be a finite number",
  `watchSeconds must be within [0, ${MAX_SECONDS}]`,
  `durationSeconds must be within (0, ${MAX_SECONDS}]`,
];

/** Reason code of one view (0 = valid). */
export function viewReason(userId: number, contentId: number, watch: number, duration: number, ts: number): number {
  if (userId === 0) return 1;
  if (contentId === 0) return 2;
  if (watch - watch !== 0) return 3;
  if (duration - duration !== 0) return 4;
  if (ts - ts !== 0) return 5;
  if (watch < 0 || watch > MAX_SECONDS) return 6;
  if (duration <= 0 || duration > MAX_SECONDS) return 7;
  return 0;
}

/** Watch time in integer ms (window sums are exact, whatever the order of addition). */
export function watchMs(watchSeconds: number): number {
  return Math.round(watchSeconds * 1000);
}

/** The view as received, rebuilt from its fields (NaN → null, as JSON would carry it). */
export function viewEventFromFields(userId: string, contentId: string, watch: number, duration: number, ts: number): Record<string, unknown> {
  const v = (x: number): number | null => (Number.isNaN(x) ? null : x);
  return { userId, contentId, watchSeconds: v(watch), durationSeconds: v(duration), ts: v(ts) };
}
