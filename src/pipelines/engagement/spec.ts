/**
 * engagement-analytics (seed §2, "Netflix Real-Time Analytics"): views per content on 5-minute
 * tumbling windows, enriched with the content-metadata table, and per-user sessions of views and
 * interactions whose genre affinities become recommendations.
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
 *   user-interactions {userId, contentId, action, rating?, ts}, action one of like | share |
 *     add_to_list | rate; rating (read for rate only) an integer in [1, 5]
 *     → validate at the edge (invalid output: empty ids, unknown action, ts or a rate's rating not
 *       a number / out of range); the content's genre from the table as the interaction enters
 *     → no windows; an interaction with ts + 30 min ≤ its watermark can be in no open session →
 *       late output ("session gap closed"); every other valid one goes to the user's session.
 *   Both streams travel as one record layout (the union of their fields): a record is an
 *   interaction when its source says so (on Kafka, the user-interactions topic: `_src`) or, for a
 *   source of one stream (the generator, a file, a two-topic Kafka run), when it has a non-empty
 *   `action`; otherwise it is a view. Valid records of both kinds move stream time.
 *   content-metadata {contentId, title, genre}: a compacted table keyed by contentId, latest wins,
 *     a tombstone (null value) deletes; kept on the main thread (small, broadcast)
 *   sessions, per userId, over session events: valid, not late views with watchSeconds > 300, and
 *     valid, not late interactions. An event joins the user's open session when ts ≤ end + 30 min
 *     (start/end widen); an event after that, or one arriving when its own watermark has passed
 *     end + 30 min, closes the open session and starts a new one. A session closes when the
 *     watermark passes end + 30 min:
 *     {type:"session", userId, start, end, views, interactions, genres}.
 *   calculate_affinity_scores: a session's affinity for a genre = its session views of content of
 *     that genre (+1 each) + the weights of its interactions with content of that genre: like +2,
 *     share +3, add_to_list +2, rate: rating − 3 (1 → −2 … 5 → +2). Events on unknown content
 *     count in `views` / `interactions` only. At most 8 distinct genres are tracked per session
 *     (the first 8 seen; later new genres are ignored). `genres` = the top 3 genres with an
 *     affinity > 0, by affinity (ties: first seen first) → `<output-topic>.session`; with --redis
 *     also `rec:<userId>` = JSON list of those genres, 2-hour expiry (generate_recommendations).
 *     With no interactions this is exactly the views-only rule (top 3 genres by session views).
 *
 * Shards: both streams are sharded by userId (Kafka: keyed by userId, the two topics
 * co-partitioned), so a user's sessions are on one shard; window partials of all shards merge by
 * addition (integers), so 1 or N workers agree.
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
/** Late code of an interaction that no open session can hold (ts + gap ≤ watermark). */
export const LATE_SESSION_CLOSED = 2;

/** Record kinds (`_kind`, and `_src` when a source tags its records; 0 in `_src`: by content). */
export const KIND_VIEW = 1;
export const KIND_INTERACTION = 2;

/** Interaction actions: code = index (0: unknown). */
export const ACTIONS: readonly string[] = ["", "like", "share", "add_to_list", "rate"];
export const ACTION_RATE = 4;
/** Affinity weight per action code (rate: rating − 3, see interactionWeight). */
export const ACTION_WEIGHTS: readonly number[] = [0, 2, 3, 2, 0];
export const RATING_MIN = 1;
export const RATING_MAX = 5;

/** The action code of an action name (0: unknown). */
export function actionCode(name: string): number {
  for (let a = 1; a < ACTIONS.length; a++) if (ACTIONS[a] === name) return a;
  return 0;
}

/** Affinity weight of a valid interaction. */
export function interactionWeight(action: number, rating: number): number {
  return action === ACTION_RATE ? rating - 3 : ACTION_WEIGHTS[action]!;
}

export const VIEW_EVENT = defineSchema("view-event", {
  userId: "string",
  contentId: "string",
  watchSeconds: "f64",
  durationSeconds: "f64",
  ts: "f64",
  /** Interactions only (views: empty). */
  action: "string",
  /** Interactions with action rate only. */
  rating: "f64",
});

export const VIEW_SYSTEM_FIELDS = [
  { name: "_off", type: "f64" },
  { name: "_wm", type: "f64" },
  { name: "_reason", type: "u8" },
  /** 1 when watchSeconds ≥ 0.9 · durationSeconds. */
  { name: "_done", type: "u8" },
  /** Genre index + 1 of the content at ingestion (0: unknown content). */
  { name: "_genre", type: "u32" },
  /** Written by a source that knows the stream (KIND_*); 0: decided by content (see above). */
  { name: "_src", type: "u8" },
  /** KIND_VIEW or KIND_INTERACTION, decided at the edge. */
  { name: "_kind", type: "u8" },
  /** An interaction's action code (0: unknown). */
  { name: "_act", type: "u8" },
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
  action: Uint32Array;
  rating: Float64Array;
  _off: Float64Array;
  _wm: Float64Array;
  _reason: Uint8Array;
  _done: Uint8Array;
  _genre: Uint32Array;
  _src: Uint8Array;
  _kind: Uint8Array;
  _act: Uint8Array;
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
  "action must be one of like, share, add_to_list, rate",
  `rating must be an integer within [${RATING_MIN}, ${RATING_MAX}] (action rate)`,
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

/** Reason code of one interaction (0 = valid); `action` is its action code. */
export function interactionReason(userId: number, contentId: number, action: number, rating: number, ts: number): number {
  if (userId === 0) return 1;
  if (contentId === 0) return 2;
  if (action === 0) return 8;
  if (ts - ts !== 0) return 5;
  if (action === ACTION_RATE && !(rating >= RATING_MIN && rating <= RATING_MAX && Math.floor(rating) === rating)) return 9;
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

/**
 * The interaction as received, rebuilt from its fields: `rating` when the action is rate (NaN →
 * null) or when it is a number; left out otherwise.
 */
export function interactionEventFromFields(userId: string, contentId: string, action: string, rating: number, ts: number): Record<string, unknown> {
  const e: Record<string, unknown> = { userId, contentId, action };
  if (action === "rate" || !Number.isNaN(rating)) e["rating"] = Number.isNaN(rating) ? null : rating;
  e["ts"] = Number.isNaN(ts) ? null : ts;
  return e;
}
