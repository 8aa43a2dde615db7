/**
 * engagement-analytics' shard half on one thread, data in memory (the seeded engagement generator,
 * edge kernel already applied with the catalog's genres), each call processing the same 64 Ki views
 * from fresh state:
 *
 *   EngagementShard (typed-array view windows, sessions by interned user id with a heap of closes)
 *   vs naive: an object per view, a Map of windows keyed by "contentId|start", a Map of sessions
 *   with a Map of genres each, closed sessions found by scanning every open one per batch
 *
 * Outputs go to a counting writer (no ring), so these are the kernels' costs, not the pipeline's.
 */
import { ContentTable } from "../../src/pipelines/engagement/content-table.js";
import { engagementAnalytics, withContentTable } from "../../src/pipelines/engagement/edge.js";
import { EngagementShard } from "../../src/pipelines/engagement/shard.js";
import { viewInputLayout, type ViewInputColumns } from "../../src/pipelines/engagement/spec.js";
import type { OutputWriter } from "../../src/ring/output.js";
import { bindColumns, type ColumnArray } from "../../src/schema/schema.js";
import { EngagementGenerator } from "../../src/sources/engagement-generator.js";
import { measureBatches, type BenchRow } from "../harness.js";

const BATCH = 2048;
const BATCHES = 32;
const PARTITIONS = 4;
export const groups = ["engagement-analytics shard, one thread"] as const;

interface Prepared { cols: Record<string, ColumnArray>[]; events: Array<Record<string, unknown>>[] }

function prepare(): Prepared {
  const gen = new EngagementGenerator({ seed: 42, users: 20_000, contents: 2000, partitions: PARTITIONS });
  const table = new ContentTable();
  for (const r of gen.catalog()) table.put(r.contentId, r.title, r.genre);
  const pipeline = withContentTable(engagementAnalytics, table, (f, id) => gen.idName(f, id));
  const layout = viewInputLayout(BATCH);
  const st = new Float64Array(PARTITIONS).fill(-Infinity);
  const out: Prepared = { cols: [], events: [] };
  for (let b = 0; b < BATCHES; b++) {
    const p = b % PARTITIONS;
    const cols = bindColumns(new ArrayBuffer(layout.bytesPerSlot), 0, layout);
    const c = cols as unknown as ViewInputColumns;
    gen.fill(p, c, 0, BATCH);
    let other = Infinity;
    for (let q = 0; q < PARTITIONS; q++) if (q !== p && st[q]! < other) other = st[q]!;
    st[p] = pipeline.prepare(cols, BATCH, st[p]!, other);
    out.cols.push(cols);
    const evs: Array<Record<string, unknown>> = [];
    for (let i = 0; i < BATCH; i++) {
      evs.push({ userId: c.userId[i], contentId: c.contentId[i], watchSeconds: c.watchSeconds[i], durationSeconds: c.durationSeconds[i], ts: c.ts[i], wm: c._wm[i], ok: c._reason[i] === 0, genre: c._genre[i] });
    }
    out.events.push(evs);
  }
  return out;
}

let sink = 0;
const counter = {
  side: () => { sink++; },
  window: () => { sink++; },
} as unknown as OutputWriter;

function naive(events: Array<Record<string, unknown>>[]): void {
  const windows = new Map<string, { views: number; watch: number; done: number; start: number }>();
  const sessions = new Map<number, { start: number; end: number; views: number; genres: Map<number, number> }>();
  for (const batch of events) {
    let wm = -Infinity;
    for (const raw of batch) {
      const e = { ...raw }; // the object a naive pipeline gets per event
      if (!e["ok"]) { sink++; continue; }
      const ts = e["ts"] as number, w = e["watchSeconds"] as number;
      wm = e["wm"] as number;
      const start = Math.floor(ts / 300_000) * 300_000;
      if (start + 330_000 <= wm) { sink++; continue; }
      const k = `${e["contentId"]}|${start}`;
      let win = windows.get(k);
      if (!win) windows.set(k, (win = { views: 0, watch: 0, done: 0, start }));
      win.views++;
      win.watch += Math.round(w * 1000);
      if (w >= 0.9 * (e["durationSeconds"] as number)) win.done++;
      if (w <= 300) continue;
      const u = e["userId"] as number;
      let s = sessions.get(u);
      if (s && (ts > s.end + 1_800_000 || s.end + 1_800_000 <= wm)) { sink++; s = undefined; }
      if (!s) sessions.set(u, (s = { start: ts, end: ts, views: 0, genres: new Map() }));
      s.start = Math.min(s.start, ts); s.end = Math.max(s.end, ts); s.views++;
      const g = e["genre"] as number;
      if (g !== 0) s.genres.set(g, (s.genres.get(g) ?? 0) + 1);
    }
    for (const [k, win] of windows) if (win.start + 330_000 <= wm) { sink++; windows.delete(k); }
    for (const [u, s] of sessions) {
      if (s.end + 1_800_000 <= wm) {
        [...s.genres.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
        sink++;
        sessions.delete(u);
      }
    }
  }
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const data = prepare();
  const events = BATCH * BATCHES;
  const rows = await measureBatches(groups[0], [
    { name: "naive: object per view, Map windows, Map sessions scanned per batch", baseline: true, fn: () => naive(data.events) },
    {
      name: "riptide EngagementShard", baseline: false,
      fn: () => {
        const s = new EngagementShard();
        data.cols.forEach((c, b) => { s.process(c, BATCH, b % PARTITIONS, counter); s.advance((c["_wm"] as Float64Array)[BATCH - 1]!, counter); });
      },
    },
  ], events, opts.quick);
  if (sink < 0) throw new Error("unreachable");
  return rows;
}
