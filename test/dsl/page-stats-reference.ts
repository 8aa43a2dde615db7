/**
 * The page views of test/dsl/fixtures/page-stats.js and what its three aggregations of the
 * re-keyed stream must give, computed plainly (shared by the engine and the Kafka tests).
 */
import { mulberry32 } from "../support/random.js";
import { canonical } from "./sharded.js";

const T0 = 1_700_000_000_000;

export interface View { user: string; page: string; country: string; ms: number; ts: number }

/** 10 minutes of views, each at most 900 ms out of order (grace is 2 s), and `lateCount` views 5 minutes behind. */
export function makeViews(seed: number, n: number, lateCount: number): { views: View[]; late: View[] } {
  const next = mulberry32(seed);
  const views: View[] = [];
  for (let i = 0; i < n; i++) {
    views.push({ user: `u${next() % 500}`, page: `p${next() % 40}`, country: ["de", "fr", "in", "br", "us"][next() % 5]!, ms: next() % 5 === 0 ? 0 : 1 + (next() % 9_000), ts: T0 + Math.floor((i * 600_000) / n) + (next() % 900) });
  }
  const late: View[] = [];
  for (let j = 0; j < lateCount; j++) late.push({ user: `late${j}`, page: `p${j % 40}`, country: "de", ms: 100, ts: T0 + 3_000 + j });
  // The late views come after 7 of the 10 minutes: every shard has passed 5 minutes by then.
  const at = Math.floor(n * 0.7);
  return { views: [...views.slice(0, at), ...late, ...views.slice(at)], late };
}

export function reference(all: View[], late: View[]) {
  const lateSet = new Set(late);
  const counted = all.filter((v) => v.ms > 0);
  const onTime = counted.filter((v) => !lateSet.has(v));
  const windows = new Map<string, { views: number; ms: number }>();
  for (const v of onTime) {
    const start = Math.floor(v.ts / 10_000) * 10_000;
    const k = `${v.page}|${start}`;
    const w = windows.get(k) ?? { views: 0, ms: 0 };
    w.views++;
    w.ms += v.ms;
    windows.set(k, w);
  }
  const stats = [...windows].map(([k, w]) => {
    const [page, start] = k.split("|");
    return [page, Number(start), w.views, w.ms];
  });
  // Sessions: per page, maximal runs of views (by time) less than or equal to 5 s apart.
  const byPage = new Map<string, number[]>();
  for (const v of onTime) byPage.set(v.page, [...(byPage.get(v.page) ?? []), v.ts]);
  const sessions: unknown[] = [];
  for (const [page, ts] of byPage) {
    ts.sort((a, b) => a - b);
    let start = ts[0]!;
    let end = ts[0]!;
    let count = 1;
    for (const t of ts.slice(1)) {
      if (t - end <= 5_000) { end = t; count++; continue; }
      sessions.push([page, start, end, count]);
      start = end = t;
      count = 1;
    }
    sessions.push([page, start, end, count]);
  }
  // A KTable has no lateness: every counted view, late or not.
  const totals = new Map<string, number>();
  for (const v of counted) totals.set(v.country, (totals.get(v.country) ?? 0) + 1);
  return { stats: canonical(stats), sessions: canonical(sessions), totals: Object.fromEntries([...totals].sort()), late: late.length };
}

/** The results of a run of page-stats.js, as `reference` gives them; `outputs` as the file sink writes them. */
export function resultsOf(outputs: Record<string, unknown>[], prefix = "") {
  const of = (type: string) => outputs.filter((o) => o["type"] === `${prefix}${type}`);
  const stats = canonical(of("page-stats").map((o) => {
    const v = o["value"] as { views: number; ms: number };
    return [o["key"], o["windowStart"], v.views, v.ms];
  }));
  const sessions = canonical(of("page-sessions").map((o) => [o["key"], o["windowStart"], o["windowEnd"], o["value"]]));
  // The last update per country is its total.
  const totals: Record<string, number> = {};
  for (const o of of("country-totals")) totals[o["key"] as string] = o["value"] as number;
  return { stats, sessions, totals: Object.fromEntries(Object.entries(totals).sort()), late: of("late-views").length };
}

