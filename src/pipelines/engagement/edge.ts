/**
 * engagement-analytics on the main thread: the edge kernel (record kind, validation, completion,
 * an interaction's action code, the content's genre from the table, watermark) and the output
 * objects, enriched from the content-metadata
 * table. `engagementAnalytics` is the registered definition; a run uses
 * `withContentTable(engagementAnalytics, table, name)`, which binds the run's table and the names
 * of its interned ids (without it, contents are unknown: title and genre null).
 */
import { OUT_INVALID, OUT_LATE, type OutputColumns } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { Output } from "../../sinks/sink.js";
import type { PipelineDefinition } from "../pipeline.js";
import { ContentTable } from "./content-table.js";
import {
  ACTIONS, COMPLETION_SHARE, GRACE_MS, KIND_INTERACTION, KIND_VIEW, LATE_SESSION_CLOSED, OUT_SESSION, PIPELINE,
  SESSION_GAP_MS, VIEW_EVENT, VIEW_REASONS, WINDOW_MS, actionCode, interactionEventFromFields, interactionReason,
  viewEventFromFields, viewInputLayout, viewReason, type ViewInputColumns,
} from "./spec.js";

const SIDE_NAMES: Record<number, string> = { [OUT_INVALID]: "invalid", [OUT_LATE]: "late" };

/** Names an interned id of an input field. */
export type IdName = (field: string, id: number) => string;

/** Action code of an interned action id when ids are not named: the id itself (as the generator numbers them). */
function actionById(id: number): number {
  return id < ACTIONS.length ? id : 0;
}

/**
 * The edge kernel: kind, reason, completion (views), action code (interactions) and watermark per
 * record; `genreOf(contentId id)` gives the content's genre index (0 unknown), `actionOf(action
 * id)` the action code (0 unknown). Returns the partition's new stream time.
 */
function prepareEvents(c: ViewInputColumns, n: number, streamTime: number, otherMin: number,
  genreOf: ((id: number) => number) | undefined, actionOf: (id: number) => number): number {
  const { userId, contentId, watchSeconds, durationSeconds, ts, action, rating, _reason, _done, _genre, _wm, _src, _kind, _act } = c;
  let st = +streamTime; // a number to the optimizer (kernels/validate.ts)
  const other = +otherMin;
  for (let i = 0; i < n; i++) {
    const t = ts[i]!;
    const src = _src[i]!;
    const kind = src !== 0 ? src : action[i]! !== 0 ? KIND_INTERACTION : KIND_VIEW;
    _kind[i] = kind;
    let r: number;
    if (kind === KIND_INTERACTION) {
      const a = actionOf(action[i]!);
      _act[i] = a;
      r = interactionReason(userId[i]!, contentId[i]!, a, rating[i]!, t);
      _done[i] = 0;
    } else {
      const w = watchSeconds[i]!;
      const d = durationSeconds[i]!;
      r = viewReason(userId[i]!, contentId[i]!, w, d, t);
      _act[i] = 0;
      _done[i] = r === 0 && w >= COMPLETION_SHARE * d ? 1 : 0;
    }
    _reason[i] = r;
    _genre[i] = r === 0 && genreOf !== undefined ? genreOf(contentId[i]!) : 0;
    if (r === 0 && t > st) st = t;
    _wm[i] = st < other ? st : other;
  }
  return st;
}

function renderWindowWith(table: ContentTable | undefined, name: IdName | undefined, key: number, start: number, views: number, watch: number, done: number): Output {
  const contentId = name ? name("contentId", key) : String(key);
  const info = table?.get(contentId);
  return {
    type: "window", contentId, title: info?.title ?? null, genre: info?.genre ?? null,
    windowStart: start, windowEnd: start + WINDOW_MS, views, watchSeconds: watch / 1000, completions: done,
    completionRate: views > 0 ? done / views : 0,
  };
}

function renderSessionWith(table: ContentTable | undefined, out: OutputColumns, i: number, name: IdName): Output {
  const genres: string[] = [];
  for (const g of [out.d[i]!, out.e[i]!, out.f[i]!]) if (g !== 0) genres.push(table ? table.genreName(g) : String(g));
  return { type: "session", userId: name("userId", out.key[i]!), start: out.a[i]!, end: out.b[i]!, views: out.c[i]!, interactions: out.code[i]!, genres };
}

export const engagementAnalytics: PipelineDefinition = {
  name: PIPELINE,
  description: "Netflix-style engagement: views per content on 5-minute windows enriched with content metadata; 30-minute user sessions of views and interactions whose top genres by affinity become rec:<user> in Redis",
  volatileState: "the users' open sessions (commits trail windows, not sessions): after a crash a session open at the committed offsets restarts from there; --guarantee exactly-once restores them",
  schema: VIEW_EVENT,
  window: { sizeMs: WINDOW_MS, graceMs: GRACE_MS },
  outputs: ["window", "session", "invalid", "late"],
  processorConfig: {},
  shardKey: "userId",
  inputLayout: viewInputLayout,

  prepare(columns: Record<string, ColumnArray>, n: number, streamTime: number, otherMin: number): number {
    return prepareEvents(columns as unknown as ViewInputColumns, n, streamTime, otherMin, undefined, actionById);
  },

  renderWindow(key: number, start: number, count: number, sum: number, n: number): Output {
    return renderWindowWith(undefined, undefined, key, start, count, sum, n);
  },

  renderSide(out: OutputColumns, i: number, event: unknown): Output {
    const kind = out.kind[i]!;
    if (kind === OUT_INVALID) return { type: "invalid", reason: VIEW_REASONS[out.code[i]!] ?? `invalid (code ${out.code[i]})`, event };
    if (kind === OUT_LATE && out.code[i] === LATE_SESSION_CLOSED) {
      return {
        type: "late",
        reason: `session gap closed: ts ${out.c[i]!} + ${SESSION_GAP_MS / 60_000} min ≤ watermark ${out.e[i]!} (no open session can hold it)`,
        event,
      };
    }
    const start = Math.floor(out.c[i]! / WINDOW_MS) * WINDOW_MS;
    return {
      type: SIDE_NAMES[kind] ?? "unknown",
      reason: `window [${start}, ${start + WINDOW_MS}) closed at watermark ${start + WINDOW_MS + GRACE_MS}; watermark ${out.e[i]!}`,
      event,
    };
  },

  recordName(kind: number): string {
    return kind === OUT_SESSION ? "session" : `kind-${kind}`;
  },

  renderRecord(out: OutputColumns, i: number, name: IdName): Output {
    return renderSessionWith(undefined, out, i, name);
  },

  eventFromRecord(out: OutputColumns, i: number, name: (id: number) => string): unknown {
    const u = out.key[i]!;
    const c = out.a[i]!;
    if (out.f[i] === KIND_INTERACTION) {
      const a = out.b[i]!;
      return interactionEventFromFields(u === 0 ? "" : name(u), c === 0 ? "" : name(c), a === 0 ? "" : name(a), out.d[i]!, out.c[i]!);
    }
    return viewEventFromFields(u === 0 ? "" : name(u), c === 0 ? "" : name(c), out.b[i]!, out.d[i]!, out.c[i]!);
  },

  outputKey(output: Output): string | null {
    if (output.type === "window") return output["contentId"] as string;
    if (typeof output["userId"] === "string") return output["userId"] as string;
    const event = output["event"] as Record<string, unknown> | null;
    const id = event?.["userId"];
    return typeof id === "string" && id !== "" ? id : null;
  },

  sideName(kind: number): string {
    return SIDE_NAMES[kind] ?? "unknown";
  },
};

/**
 * The pipeline bound to a run's content table: genres looked up as views enter (cached per
 * content id until the table changes), windows enriched as they are emitted, session genres named.
 * `name` names interned ids of the run's source.
 */
export function withContentTable(pipeline: PipelineDefinition, table: ContentTable, name: IdName): PipelineDefinition {
  let genre = new Uint32Array(1024);
  let seenAt = new Float64Array(1024).fill(-1);
  // Action code per interned action id, +1 (0: not looked up yet).
  let action = new Uint8Array(64);
  const actionOf = (id: number): number => {
    if (id === 0) return 0;
    if (id >= action.length) {
      let cap = action.length;
      while (cap <= id) cap *= 2;
      const a = new Uint8Array(cap); a.set(action); action = a;
    }
    let a = action[id]!;
    if (a === 0) action[id] = a = actionCode(name("action", id)) + 1;
    return a - 1;
  };
  const genreOf = (id: number): number => {
    if (id >= genre.length) {
      let cap = genre.length;
      while (cap <= id) cap *= 2;
      const g = new Uint32Array(cap); g.set(genre); genre = g;
      const s = new Float64Array(cap).fill(-1); s.set(seenAt); seenAt = s;
    }
    if (seenAt[id] !== table.version) {
      genre[id] = table.genreOf(name("contentId", id));
      seenAt[id] = table.version;
    }
    return genre[id]!;
  };
  return {
    ...pipeline,
    prepare(columns: Record<string, ColumnArray>, n: number, streamTime: number, otherMin: number): number {
      return prepareEvents(columns as unknown as ViewInputColumns, n, streamTime, otherMin, genreOf, actionOf);
    },
    renderWindow(key: number, start: number, count: number, sum: number, n: number): Output {
      return renderWindowWith(table, name, key, start, count, sum, n);
    },
    renderRecord(out: OutputColumns, i: number): Output {
      return renderSessionWith(table, out, i, name);
    },
  };
}
