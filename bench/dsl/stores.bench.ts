/**
 * The DSL's state stores for sessions and stream-stream joins: the object stores (SessionProc,
 * StreamJoinProc: ExecutorOptions.objectStores) against the typed session store and the off-heap
 * join buffer, on one thread, through TopologyExecutor.process (watermark = largest event time).
 *
 *   group "DSL state stores: sessions (one thread)": groupByKey().windowedBy(30 min inactivity gap,
 *     5 min grace).count() per user, the seed's sessions; 20 000 users of which a rotating 4 000 are
 *     active (a block of 1 000 goes quiet every ~11 min of event time, so sessions close and are kept
 *     for their gap), 20 ms of event time per event with up to 60 s of disorder.
 *   group "DSL state stores: stream-stream join (one thread)": ride requests leftJoin accepts by ride
 *     id (10 s window, 2 s grace), the seed's ride join; an accept follows its request by 0–12 s
 *     (1 in 6 outside the window), 1 in 10 requests gets none; values are small objects (5 and 3
 *     fields), built afresh per event as a shard decodes them.
 *   group "DSL state stores: windowed user aggregates (one thread)": the session group's page views,
 *     groupByKey().windowedBy(10 min hopping by 1 min, 1 min grace).aggregate({views, bytes, last})
 *     per user, the seed's hopping windows: each event updates 10 windows (updates/s = 10 × events/s);
 *     TimeWindowProc's Maps against the off-heap window store (window-value-store.ts) with its
 *     write-back cache of values as objects (ExecutorOptions.windowCacheEntries, `--window-cache N`;
 *     0: every update written as bytes).
 *   group "DSL state stores: session user aggregates (one thread)": the session group's sessions
 *     with aggregate({views, bytes, first, last}) and a merger instead of count(): SessionProc
 *     against the typed session store with the aggregates as bytes beside it (OffHeapSessionProc).
 *   group "DSL state stores: sliding user aggregates (one thread)": the page views in sliding
 *     windows (1 min time difference, 10 s grace) with aggregate({views, bytes, last}): SlidingProc
 *     with its buffered records' values as objects against as bytes (each window's aggregate is
 *     computed from its records at close, so every value is read once per window containing it).
 *
 * Each row: events/s of timed passes over the whole data set (a fresh executor each pass, the
 * contenders alternating; the median of the passes), and in its note the CPU time per event (the
 * median; steadier than events/s when other processes share the cores), the memory per entry at the
 * pass's midpoint — measured (heap used + array buffers, after a full GC, before and after filling
 * the store, ÷ entries) and as the store reports it (StoreReport.bytes ÷ entries) — and the minor
 * GCs per million events.
 */
import { PerformanceObserver, constants as perfConstants, performance } from "node:perf_hooks";
import { JoinWindows, SessionWindows, SlidingWindows, StreamsBuilder, TimeWindows, TopologyExecutor, type Topology } from "../../src/index.js";
import { forceGc as gc, type BenchRow } from "../harness.js";

export const groups = ["DSL state stores: sessions (one thread)", "DSL state stores: stream-stream join (one thread)",
  "DSL state stores: windowed user aggregates (one thread)", "DSL state stores: session user aggregates (one thread)",
  "DSL state stores: sliding user aggregates (one thread)"] as const;

const MINUTE = 60_000;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Records; a value is built afresh for each event (`make`), as a shard decodes one per record, so a
 * store that keeps values holds its own copies and one that copies them lets them die young.
 */
interface Data { topic: string[]; key: unknown[]; value: unknown[]; ts: Float64Array; n: number; make: (x: any) => unknown }

function sessionData(n: number): Data {
  const r = rng(7);
  const USERS = 20_000;
  const names = Array.from({ length: USERS }, (_, i) => `user-${i}`);
  const values = names.map((user, i) => ({ user, page: `/p/${i % 97}` }));
  const d: Data = { topic: new Array(n).fill("views"), key: new Array(n), value: new Array(n), ts: new Float64Array(n), n, make: (v: { user: string; page: string }) => ({ user: v.user, page: v.page }) };
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < n; i++) {
    const base = Math.floor(i / 32_768) * 1_000;
    const u = (base + Math.floor(r() * 4_000)) % USERS;
    d.key[i] = names[u];
    d.value[i] = values[u];
    d.ts[i] = t0 + i * 20 - Math.floor(r() * r() * 60_000);
  }
  return d;
}

function joinData(n: number): Data {
  const r = rng(11);
  const recs: { topic: string; key: string; value: unknown; t: number }[] = [];
  const t0 = 1_700_000_000_000;
  for (let ride = 0; recs.length < n; ride++) {
    const t = t0 + Math.floor(ride * 2.5);
    const key = `ride-${ride}`;
    recs.push({ topic: "requests", key, value: { ride, rider: `rider-${ride % 5000}`, lat: 52.5 + r() * 0.1, lon: 13.4 + r() * 0.1, fare: Math.round(r() * 4000) / 100 }, t });
    if (r() < 0.9) recs.push({ topic: "accepts", key, value: { ride, driver: `driver-${Math.floor(r() * 3000)}`, etaS: Math.floor(r() * 600) }, t: t + Math.floor(r() * 12_000) });
  }
  recs.length = n;
  // Arrival order: by time with up to 1.5 s of disorder.
  const order = recs.map((x, i) => ({ i, at: x.t + r() * 1_500 })).sort((a, b) => a.at - b.at);
  const make = (v: any): unknown => (v.rider !== undefined ? { ride: v.ride, rider: v.rider, lat: v.lat, lon: v.lon, fare: v.fare } : { ride: v.ride, driver: v.driver, etaS: v.etaS });
  const d: Data = { topic: [], key: [], value: [], ts: new Float64Array(n), n, make };
  order.forEach((o, j) => {
    const x = recs[o.i]!;
    d.topic.push(x.topic);
    d.key.push(x.key);
    d.value.push(x.value);
    d.ts[j] = x.t;
  });
  return d;
}

function sessionTopology(): Topology {
  const b = new StreamsBuilder();
  b.stream("views").groupByKey().windowedBy(SessionWindows.ofInactivityGapAndGrace(30 * MINUTE, 5 * MINUTE)).count({ name: "sessions" }).toStream().to("out");
  return b.build();
}

function windowTopology(): Topology {
  const b = new StreamsBuilder();
  b.stream("views").groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(10 * MINUTE, MINUTE).advanceBy(MINUTE))
    .aggregate(() => ({ views: 0, bytes: 0, last: "" }), (_k, v: any, a) => ({ views: a.views + 1, bytes: a.bytes + v.page.length, last: v.page }), { name: "views" })
    .toStream().to("out");
  return b.build();
}

function sessionAggregateTopology(): Topology {
  const b = new StreamsBuilder();
  b.stream("views").groupByKey().windowedBy(SessionWindows.ofInactivityGapAndGrace(30 * MINUTE, 5 * MINUTE))
    .aggregate(() => ({ views: 0, bytes: 0, first: "", last: "" }), (_k, v: any, a) => ({ views: a.views + 1, bytes: a.bytes + v.page.length, first: a.first || v.page, last: v.page }),
      (_k, a, c) => ({ views: a.views + c.views, bytes: a.bytes + c.bytes, first: a.first || c.first, last: c.last || a.last }), { name: "sessions" })
    .toStream().to("out");
  return b.build();
}

function slidingTopology(): Topology {
  const b = new StreamsBuilder();
  b.stream("views").groupByKey().windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(MINUTE, 10_000))
    .aggregate(() => ({ views: 0, bytes: 0, last: "" }), (_k, v: any, a) => ({ views: a.views + 1, bytes: a.bytes + v.page.length, last: v.page }), { name: "sliding" })
    .toStream().to("out");
  return b.build();
}

function joinTopology(): Topology {
  const b = new StreamsBuilder();
  b.stream("requests").leftJoin(b.stream("accepts"), (q: any, a: any) => ({ ride: q.ride, driver: a?.driver ?? null, fare: q.fare }),
    JoinWindows.ofTimeDifferenceAndGrace(10_000, 2_000).before(0), { name: "rides" }).to("matched");
  return b.build();
}


function heldBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** ExecutorOptions.windowCacheEntries when run with `--window-cache N` (else the default). */
let windowCache: { windowCacheEntries?: number } = {};

let outputs = 0;
const emit = (): void => void outputs++;

/** One timed pass over the data (fresh executor); the minor GCs during it (counted once the observer's entries arrive). */
async function pass(topology: Topology, d: Data, objectStores: boolean): Promise<{ seconds: number; cpuSeconds: number; minorGcs: number }> {
  let minor = 0;
  let counting = true;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (counting && (e as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) minor++;
    }
  });
  obs.observe({ entryTypes: ["gc"] });
  const ex = new TopologyExecutor(topology, emit, { objectStores, ...windowCache });
  const { topic, key, value, ts, make } = d;
  let wm = -Infinity;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < d.n; i++) {
    const t = ts[i]!;
    if (t > wm) wm = t;
    ex.process(topic[i]!, key[i], make(value[i]), t, wm);
  }
  ex.flush();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  await new Promise((resolve) => setTimeout(resolve, 50));
  counting = false;
  obs.disconnect();
  return { seconds, cpuSeconds, minorGcs: minor };
}

/** Memory at the data's midpoint: measured (after full GCs) and reported, per entry. */
function memory(topology: Topology, d: Data, objectStores: boolean): { measured: number; reported: number; entries: number } {
  gc();
  const before = heldBytes();
  const ex = new TopologyExecutor(topology, () => {}, { objectStores, ...windowCache });
  const { topic, key, value, ts, make } = d;
  let wm = -Infinity;
  const half = d.n >> 1;
  for (let i = 0; i < half; i++) {
    const t = ts[i]!;
    if (t > wm) wm = t;
    ex.process(topic[i]!, key[i], make(value[i]), t, wm);
  }
  gc();
  const after = heldBytes();
  const r = ex.stores()[0]!;
  const entries = r.entries + r.retained;
  const out = { measured: (after - before) / entries, reported: r.bytes / entries, entries };
  if (ex.watermark < 0) throw new Error("unreachable"); // keeps ex alive until measured
  return out;
}

/** Row names of the contenders in each group: the object store, the typed one. */
const CONTENDERS: Record<(typeof groups)[number], [string, string]> = {
  [groups[0]]: ["object store (SessionProc)", "typed session store"],
  [groups[1]]: ["object buffer (StreamJoinProc)", "off-heap join buffer"],
  [groups[2]]: ["object store (TimeWindowProc)", "off-heap window store"],
  [groups[3]]: ["object store (SessionProc)", "typed session store, values off-heap"],
  [groups[4]]: ["records' values as objects", "records' values off-heap"],
};

async function group(name: (typeof groups)[number], topology: Topology, d: Data, passes: number): Promise<BenchRow[]> {
  const runs: Record<"object" | "typed", { eps: number; cpuUs: number; gcs: number }[]> = { object: [], typed: [] };
  await pass(topology, d, true); // warm-up of both
  await pass(topology, d, false);
  for (let p = 0; p < passes; p++) {
    for (const objectStores of p % 2 === 0 ? [true, false] : [false, true]) {
      const r = await pass(topology, d, objectStores);
      runs[objectStores ? "object" : "typed"].push({ eps: d.n / r.seconds, cpuUs: (r.cpuSeconds * 1e6) / d.n, gcs: r.minorGcs });
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const mem = { object: memory(topology, d, true), typed: memory(topology, d, false) };
  const note = (k: "object" | "typed") => {
    const m = mem[k];
    const g = runs[k].map((x) => x.gcs);
    return `${d.n} events, median of ${passes} passes (${runs[k].map((x) => (x.eps / 1e6).toFixed(2)).join(", ")} M/s); ` +
      `CPU ${median(runs[k].map((x) => x.cpuUs)).toFixed(2)} µs per event (median; the process's threads, GC helpers included); ` +
      `at mid-stream ${m.entries} entries, ${Math.round(m.measured)} B/entry measured, ${Math.round(m.reported)} B/entry reported; ` +
      `${(median(g) / (d.n / 1e6)).toFixed(1)} minor GCs per M events`;
  };
  const [objectName, typedName] = CONTENDERS[name];
  return [
    { group: name, name: objectName, baseline: true, eventsPerSec: median(runs.object.map((x) => x.eps)), note: note("object") },
    { group: name, name: typedName, baseline: false, eventsPerSec: median(runs.typed.map((x) => x.eps)), note: note("typed") },
  ];
}

export async function run(opts: { quick: boolean; only?: string }): Promise<BenchRow[]> {
  const n = opts.quick ? 1 << 18 : 1 << 20;
  const passes = opts.quick ? 3 : 5;
  const want = (g: string) => opts.only === undefined || g.includes(opts.only);
  return [
    ...(want(groups[0]) ? await group(groups[0], sessionTopology(), sessionData(n), passes) : []),
    ...(want(groups[1]) ? await group(groups[1], joinTopology(), joinData(n), passes) : []),
    ...(want(groups[2]) ? await group(groups[2], windowTopology(), sessionData(n), passes) : []),
    ...(want(groups[3]) ? await group(groups[3], sessionAggregateTopology(), sessionData(n), passes) : []),
    ...(want(groups[4]) ? await group(groups[4], slidingTopology(), sessionData(n), passes) : []),
  ];
}

// Run alone: node dist/bench/dsl/stores.bench.js [--quick] [--only <part of a group's name>] [--window-cache <entries>]
if (import.meta.url === `file://${process.argv[1]}`) {
  const cacheAt = process.argv.indexOf("--window-cache");
  if (cacheAt > 0) windowCache = { windowCacheEntries: Number(process.argv[cacheAt + 1]) };
  const at = process.argv.indexOf("--only");
  const rows = await run({ quick: process.argv.includes("--quick"), ...(at > 0 && { only: process.argv[at + 1] }) });
  for (const r of rows) process.stdout.write(`${r.group} | ${r.name} | ${(r.eventsPerSec / 1e6).toFixed(3)} M/s | ${r.note}\n`);
}
