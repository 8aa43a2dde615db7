/**
 * engagement-analytics inside a shard worker (see spec.ts), one pass per batch, per record:
 *   invalid                          → invalid output (f = record kind)
 *   an interaction:
 *     ts + session gap ≤ watermark   → late output (LATE_SESSION_CLOSED)
 *     else → the user's session, its genre's affinity += the action's weight (sessions.ts)
 *   a view:
 *     window end + grace ≤ watermark → late output
 *     else → view windows (contentId, window start) += (1 view, watch ms, completion)
 *            and, when watchSeconds > 300, the user's session (genre affinity +1)
 *   advance: close windows (partials to the coordinator) and sessions whose gap has passed
 * Nothing is allocated per record.
 */
import { OUT_INVALID, OUT_LATE, type OutputWriter } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { ShardProcessor } from "../processor.js";
import { Sessions } from "./sessions.js";
import {
  GRACE_MS, KIND_INTERACTION, LATE_SESSION_CLOSED, LATE_WINDOW_CLOSED, SESSION_GAP_MS, SESSION_MIN_WATCH_S, WINDOW_MS,
  interactionWeight, watchMs, type ViewInputColumns,
} from "./spec.js";
import { ViewWindows } from "./view-windows.js";

export class EngagementShard implements ShardProcessor {
  private readonly windows = new ViewWindows(WINDOW_MS, GRACE_MS);
  private readonly sessions = new Sessions(SESSION_GAP_MS);

  process(columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void {
    const c = columns as unknown as ViewInputColumns;
    const { userId, contentId, watchSeconds, durationSeconds, ts, action, rating, _off, _wm, _reason, _done, _genre, _kind, _act } = c;
    const windows = this.windows;
    for (let i = 0; i < n; i++) {
      const r = _reason[i]!;
      const kind = _kind[i]!;
      if (kind === KIND_INTERACTION) {
        // Side outputs of an interaction: a content, b action id, c ts, d rating, f KIND_INTERACTION.
        if (r !== 0) {
          out.side(OUT_INVALID, r, userId[i]!, partition, _off[i]!, contentId[i]!, action[i]!, ts[i]!, rating[i]!, 0, KIND_INTERACTION);
          continue;
        }
        const t = ts[i]!;
        const wm = _wm[i]!;
        if (t + SESSION_GAP_MS <= wm) {
          out.side(OUT_LATE, LATE_SESSION_CLOSED, userId[i]!, partition, _off[i]!, contentId[i]!, action[i]!, t, rating[i]!, wm, KIND_INTERACTION);
          continue;
        }
        this.sessions.interaction(userId[i]!, t, wm, _genre[i]!, interactionWeight(_act[i]!, rating[i]!), out);
        continue;
      }
      if (r !== 0) {
        out.side(OUT_INVALID, r, userId[i]!, partition, _off[i]!, contentId[i]!, watchSeconds[i]!, ts[i]!, durationSeconds[i]!, 0, 0);
        continue;
      }
      const t = ts[i]!;
      const wm = _wm[i]!;
      const start = Math.floor(t / WINDOW_MS) * WINDOW_MS;
      if (start + WINDOW_MS + GRACE_MS <= wm) {
        out.side(OUT_LATE, LATE_WINDOW_CLOSED, userId[i]!, partition, _off[i]!, contentId[i]!, watchSeconds[i]!, t, durationSeconds[i]!, wm, 0);
        continue;
      }
      const w = watchSeconds[i]!;
      windows.add(contentId[i]!, start, watchMs(w), _done[i]!);
      if (w > SESSION_MIN_WATCH_S) this.sessions.view(userId[i]!, t, wm, _genre[i]!, out);
    }
  }

  advance(watermark: number, out: OutputWriter): void {
    if (watermark >= this.windows.nextCloseAt) this.windows.closeUpTo(watermark, out);
    this.sessions.closeUpTo(watermark, out);
  }

  stateBytes(): number {
    return this.windows.bytes + this.sessions.bytes;
  }

  stateEntries(): number {
    return this.windows.size + this.sessions.open;
  }

  /** Layout: [window entries E, sessions S, windows × 5E, sessions × (6 + 2·SESSION_GENRES)S]. */
  snapshot(into: Float64Array): number {
    if (into.length < 2) return -1;
    const ww = this.windows.exportTo(into, 2);
    if (ww < 0) return -1;
    const sw = this.sessions.exportTo(into, 2 + ww);
    if (sw < 0) return -1;
    into[0] = ww / 5;
    into[1] = this.sessions.open;
    return 2 + ww + sw;
  }

  restore(from: Float64Array, _words: number): void {
    const e = from[0]!;
    this.windows.importFrom(from, 2, e);
    this.sessions.importFrom(from, 2 + 5 * e, from[1]!);
  }
}
