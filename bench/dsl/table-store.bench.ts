/**
 * KTables on the Map stores (TableSourceProc, KvAggregateProc: ExecutorOptions.objectStores) against
 * the off-heap table store (src/dsl/table-store.ts), on one thread, through TopologyExecutor.process:
 *
 *   table updates   builder.table("profiles"): profile values ({name, tier, city, score}) of
 *                   uniformly random users
 *   join lookups    a stream joined to that table, loaded first with every user (not timed); each
 *                   message looks up its sender (uniform: mostly misses of the 256-entry cache)
 *   count           groupByKey().count() per user (typed columns in the off-heap store)
 *   aggregate       groupByKey().aggregate({n, bytes}) per user (encoded values)
 *
 * Every value is parsed from JSON per event (JSON.parse, in both contenders' time), as a shard decodes
 * one: a store that keeps the value holds fresh objects and strings. Keys are shared strings.
 *
 * Each row: events/s, the median of timed passes over the whole data set (a fresh executor each
 * pass, the two stores alternating); in its note the memory per entry with every user present —
 * measured (heap used + array buffers after full GCs, before and after filling the store, ÷
 * entries) and as the store reports it (StoreReport.bytes ÷ entries).
 *
 * In `npm run bench`; alone: node dist/bench/dsl/table-store.bench.js [--quick]
 */
import { performance } from "node:perf_hooks";
import { StreamsBuilder, TopologyExecutor, type Topology } from "../../src/index.js";
import { forceGc as gc, mulberry32, type BenchRow } from "../harness.js";

export const groups = ["DSL state stores: tables (one thread)"] as const;

const CITIES = Array.from({ length: 50 }, (_, i) => `city-${i}`);

interface Work {
  name: string;
  topology: Topology;
  /** Records loaded before the timed part (a table's contents). */
  /** Values as JSON text. */
  load: { topic: string; keys: string[]; values: string[] };
  timed: { topic: string; keys: string[]; values: string[] };
  /** The store measured for bytes per entry (by name). */
  store: string;
}

function works(users: number, events: number): Work[] {
  const next = mulberry32(26);
  const r = () => next() / 4294967296;
  const names = Array.from({ length: users }, (_, i) => `user-${i}`);
  const profile = (i: number) => JSON.stringify({ name: `User ${i % users}`, tier: i % 3, city: CITIES[i % 50]!, score: Math.round(r() * 1e6) / 100 });
  const randomKeys = () => Array.from({ length: events }, () => names[Math.floor(r() * users)]!);
  const updates = randomKeys();
  const all = { topic: "profiles", keys: names, values: names.map((_, i) => profile(i)) };
  const message = (i: number) => JSON.stringify({ id: i, bytes: i % 977 });
  const messages = (keys: string[]) => ({ topic: "messages", keys, values: keys.map((_, i) => message(i)) });
  const none = { topic: "profiles", keys: [], values: [] };

  const table = new StreamsBuilder();
  table.table("profiles", { name: "profiles" });
  const join = new StreamsBuilder();
  join.stream("messages").join(join.table("profiles", { name: "profiles" }), (m: any, p: any) => ({ id: m.id, city: p.city })).to("out");
  const count = new StreamsBuilder();
  count.stream("messages").groupByKey().count({ name: "counts" }).toStream().to("out");
  const agg = new StreamsBuilder();
  agg.stream("messages").groupByKey().aggregate(() => ({ n: 0, bytes: 0 }), (_k, m: any, a) => ({ n: a.n + 1, bytes: a.bytes + m.bytes }), { name: "totals" })
    .toStream().to("out");
  return [
    { name: "table updates", topology: table.build(), load: none, timed: { topic: "profiles", keys: updates, values: updates.map((_, i) => profile(i)) }, store: "profiles" },
    { name: "stream-table join lookups", topology: join.build(), load: all, timed: messages(randomKeys()), store: "profiles" },
    { name: "KTable count", topology: count.build(), load: messages(names), timed: messages(randomKeys()), store: "counts" },
    { name: "KTable aggregate (user function)", topology: agg.build(), load: messages(names), timed: messages(randomKeys()), store: "totals" },
  ];
}

let outputs = 0;
const emit = (): void => void outputs++;

function feed(ex: TopologyExecutor, part: Work["load"]): void {
  const { topic, keys, values } = part;
  for (let i = 0; i < keys.length; i++) ex.process(topic, keys[i], JSON.parse(values[i]!), i, 0);
}

/** One pass: load (not timed), then the timed records; seconds. */
function pass(w: Work, objectStores: boolean): number {
  const ex = new TopologyExecutor(w.topology, emit, { objectStores });
  feed(ex, w.load);
  const t0 = performance.now();
  feed(ex, w.timed);
  return (performance.now() - t0) / 1000;
}


/** Bytes per entry with every user present: measured and reported. */
function memory(w: Work, users: string[], objectStores: boolean): { measured: number; reported: number; entries: number } {
  gc();
  const m0 = process.memoryUsage();
  const ex = new TopologyExecutor(w.topology, () => {}, { objectStores });
  feed(ex, w.load.keys.length > 0 ? w.load : { ...w.timed, keys: users, values: w.timed.values.slice(0, users.length) });
  gc();
  const m1 = process.memoryUsage();
  const r = ex.stores().find((s) => s.name === w.store)!;
  if (ex.watermark === 1) throw new Error("unreachable"); // keeps ex alive until measured
  const held = m1.heapUsed + m1.arrayBuffers - (m0.heapUsed + m0.arrayBuffers);
  return { measured: held / r.entries, reported: r.bytes / r.entries, entries: r.entries };
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const users = opts.quick ? 50_000 : 200_000;
  const events = opts.quick ? 1 << 18 : 1 << 20;
  const passes = opts.quick ? 3 : 5;
  const userKeys = Array.from({ length: users }, (_, i) => `user-${i}`);
  const rows: BenchRow[] = [];
  for (const w of works(users, events)) {
    pass(w, true); // warm-up of both
    pass(w, false);
    const eps: Record<"map" | "offHeap", number[]> = { map: [], offHeap: [] };
    for (let p = 0; p < passes; p++) {
      for (const objectStores of p % 2 === 0 ? [true, false] : [false, true]) eps[objectStores ? "map" : "offHeap"].push(events / pass(w, objectStores));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    for (const objectStores of [true, false]) {
      const m = memory(w, userKeys, objectStores);
      const e = eps[objectStores ? "map" : "offHeap"];
      rows.push({
        group: groups[0], name: `${w.name}, ${objectStores ? "Map store" : "off-heap table store"}`, baseline: objectStores, eventsPerSec: median(e),
        note: `${events} events over ${users} keys, median of ${passes} passes (${e.map((x) => (x / 1e6).toFixed(2)).join(", ")} M/s); ` +
          `${m.entries} entries: ${Math.round(m.measured)} B/entry measured, ${Math.round(m.reported)} B/entry reported`,
      });
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run({ quick: process.argv.includes("--quick") });
  for (const r of rows) process.stdout.write(`${r.group} | ${r.name} | ${(r.eventsPerSec / 1e6).toFixed(3)} M/s | ${r.note}\n`);
}
