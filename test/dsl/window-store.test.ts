/**
 * The off-heap window store (window-value-store.ts, values in value-slots.ts) that holds user
 * aggregates (aggregate/reduce) on tumbling and hopping windows: on its own — its bound, retention
 * after close (entries, keys and arena bytes freed), its checkpoint — and in the executor, where it
 * gives the same outputs as the object store it replaced (TimeWindowProc: ExecutorOptions.objectStores)
 * on seeded streams with out-of-order and late records, values of every shape (those the codec
 * cannot write kept as objects), emit on close and on update, retention, across checkpoints. The
 * same for user aggregates on session windows (OffHeapSessionProc: the typed session store with the
 * aggregates as bytes beside it) against SessionProc, and for sliding windows, whose buffered
 * records keep their values as bytes (SlidingProc with RecordSlots) against the values as objects.
 */
import { describe, expect, it } from "vitest";
import { inspect } from "node:util";
import {
  EmitStrategy, SessionWindows, SlidingWindows, StateStoreFullError, StreamsBuilder, StreamTimeTracker, TimeWindows, TopologyExecutor, type Topology,
} from "../../src/index.js";
import { OffHeapWindowStore } from "../../src/dsl/window-value-store.js";
import type { SlotValues } from "../../src/dsl/value-slots.js";
import { mulberry32 } from "../support/random.js";
import { roundTrip } from "./checkpoint-round-trip.js";

const show = (topic: string, key: unknown, value: unknown, ts: number): string =>
  `${topic}\t${inspect([key, value, ts], { depth: Infinity, maxArrayLength: Infinity, maxStringLength: Infinity, breakLength: Infinity })}`;

interface In { key: unknown; value: unknown; t: number }

class Tag {
  constructor(readonly n: number) {}
}

/** Keyed records drifting forward, out of order (some late), keys strings and objects. */
function stream(seed: number, n: number, keys: number, step: number, disorder: number): In[] {
  const next = mulberry32(seed);
  const out: In[] = [];
  for (let i = 0; i < n; i++) {
    const t = Math.max(0, (Math.floor(i / 3) - (next() % disorder)) * step);
    const key = next() % 11 === 0 ? { k: next() % keys } : `k${next() % keys}`;
    out.push({ key, value: { i, x: (next() % 2001) / 8 - 125, s: `v${next() % 50}`.repeat(1 + (next() % 4)) }, t });
  }
  return out;
}

/**
 * A user aggregate whose value changes shape: plain data (bytes) most of the time, a Map or a class
 * instance now and then (kept as an object; `classes`), -0, NaN, undefined fields, nested arrays.
 */
function topology(update: boolean, retentionMs: number, hopping: boolean, classes = true): Topology {
  const b = new StreamsBuilder();
  const w = hopping ? TimeWindows.ofSizeAndGrace(1_000, 200).advanceBy(250) : TimeWindows.ofSizeAndGrace(500, 100);
  let g = b.stream<{ i: number; x: number; s: string }, unknown>("in").groupByKey().windowedBy(w);
  if (update) g = g.emitStrategy(EmitStrategy.onWindowUpdate());
  g.aggregate(() => ({ n: 0, sum: -0, last: "", seen: [] as number[], odd: undefined as unknown }), (_k, v, a: any) => {
    const seen = a.seen instanceof Array ? a.seen : [];
    const next: any = { n: a.n + 1, sum: a.sum + v.x, last: v.s, seen: [...seen.slice(-3), v.i], odd: undefined };
    if (v.i % 97 === 0) next.odd = new Map([["i", v.i]]);
    else if (classes && v.i % 89 === 0) next.odd = new Tag(v.i); // (a checkpoint cannot write it)
    else if (v.i % 83 === 0) next.odd = NaN;
    return next;
  }, { name: "agg", retentionMs }).toStream().to("out");
  // A reduce on the same stream, in a second store.
  b.stream<{ i: number; x: number; s: string }, unknown>("in2").mapValues((v) => v.x).groupByKey().windowedBy(w)
    .reduce((a: number, x: number) => a + x, { name: "red", retentionMs }).toStream().to("out2");
  return b.build();
}

/** The same aggregate (with a merger) and a reduce on session windows. */
function sessionTopology(update: boolean, retentionMs: number, classes = true, maps = true): Topology {
  const b = new StreamsBuilder();
  const w = SessionWindows.ofInactivityGapAndGrace(60, 30);
  let g = b.stream<{ i: number; x: number; s: string }, unknown>("in").groupByKey().windowedBy(w);
  if (update) g = g.emitStrategy(EmitStrategy.onWindowUpdate());
  g.aggregate(() => ({ n: 0, sum: -0, last: "", seen: [] as number[], odd: undefined as unknown }), (_k, v, a: any) => {
    const next: any = { n: a.n + 1, sum: a.sum + v.x, last: v.s, seen: [...a.seen.slice(-3), v.i], odd: a.odd };
    if (maps && v.i % 97 === 0) next.odd = new Map([["i", v.i]]);
    else if (classes && v.i % 89 === 0) next.odd = new Tag(v.i);
    return next;
  }, (_k, a: any, c: any) => ({ n: a.n + c.n, sum: a.sum + c.sum, last: c.last, seen: [...a.seen, ...c.seen].slice(-4), odd: a.odd ?? c.odd }),
  { name: "sessions", retentionMs }).toStream().to("out");
  let g2 = b.stream<{ i: number; x: number; s: string }, unknown>("in2").mapValues((v) => `${v.s}:${v.i % 10}`).groupByKey().windowedBy(w);
  if (update) g2 = g2.emitStrategy(EmitStrategy.onWindowUpdate());
  g2.reduce((a: string, c: string) => (a + c).slice(-40), { name: "reduced", retentionMs }).toStream().to("out2");
  return b.build();
}

/** The window aggregate and the reduce on sliding windows (their records' values buffered). */
function slidingTopology(update: boolean, classes = true): Topology {
  const b = new StreamsBuilder();
  const w = SlidingWindows.ofTimeDifferenceAndGrace(100, 50);
  let g = b.stream<any, unknown>("in").mapValues((v) => (v.i % 97 === 0 ? { ...v, m: new Map([["i", v.i]]) } : classes && v.i % 89 === 0 ? new Tag(v.i) : v))
    .groupByKey().windowedBy(w);
  if (update) g = g.emitStrategy(EmitStrategy.onWindowUpdate());
  g.aggregate(() => ({ n: 0, sum: -0, last: "" as unknown }), (_k, v: any, a: any) => ({ n: a.n + 1, sum: a.sum + (v.x ?? 0), last: v.m ?? v.s ?? v.n }), { name: "sliding" })
    .toStream().to("out");
  let g2 = b.stream<{ i: number; x: number; s: string }, unknown>("in2").mapValues((v) => `${v.s}:${v.i % 10}`).groupByKey().windowedBy(w);
  if (update) g2 = g2.emitStrategy(EmitStrategy.onWindowUpdate());
  g2.reduce((a: string, c: string) => (a + c).slice(-40), { name: "sliding-reduced" }).toStream().to("out2");
  return b.build();
}

/** Runs the records through an executor (cut by checkpoints at `cuts`, each restored into a fresh executor); the outputs as text. */
function run(top: Topology, records: In[], options: { objectStores?: boolean; maxStoreEntries?: number; windowCacheEntries?: number } = {}, cuts: number[] = []) {
  const out: string[] = [];
  const emit = (topic: string, key: unknown, value: unknown, ts: number) => out.push(show(topic, key, value, ts));
  const time = new StreamTimeTracker();
  let ex = new TopologyExecutor(top, emit, options);
  const words = new Float64Array(1 << 21);
  let most = 0;
  for (let i = 0; i <= records.length; i++) {
    if (cuts.includes(i)) ex = roundTrip(ex, () => new TopologyExecutor(top, emit, options), words).next;
    if (i === records.length) break;
    const r = records[i]!;
    const topic = i % 2 === 0 ? "in" : "in2";
    ex.process(topic, r.key, r.value, r.t, time.observe(time.partition(topic), r.t, 0));
    for (const s of ex.stores()) most = Math.max(most, s.entries + s.retained);
  }
  const before = ex.stores();
  ex.flush();
  return { out, ex, most, before };
}

/** Chains of executors restored from checkpoints at random cuts give the clean run's outputs. */
function expectSameAcrossCheckpoints(top: Topology, records: In[], seed: number, options: { windowCacheEntries?: number } = {}): void {
  const clean = run(top, records, options);
  const next = mulberry32(seed);
  for (let round = 0; round < 3; round++) {
    const cuts = Array.from({ length: 1 + round * 2 }, () => 1 + (next() % (records.length - 1))).sort((a, c) => a - c);
    expect(run(top, records, options, cuts).out).toEqual(clean.out);
  }
}

/**
 * The records through an executor bounded at `limit` entries a store: the index of the record that
 * failed with StateStoreFullError (-1: none), the outputs before it and the stores' entries then.
 */
function failAt(top: Topology, records: In[], limit: number, objectStores: boolean) {
  const out: string[] = [];
  const ex = new TopologyExecutor(top, (t, k, v, ts) => out.push(show(t, k, v, ts)), { maxStoreEntries: limit, objectStores });
  const time = new StreamTimeTracker();
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const topic = i % 2 === 0 ? "in" : "in2";
    try {
      ex.process(topic, r.key, r.value, r.t, time.observe(time.partition(topic), r.t, 0));
    } catch (err) {
      expect(err).toBeInstanceOf(StateStoreFullError);
      return { at: i, out, entries: ex.stores().map((s) => s.entries) };
    }
  }
  return { at: -1, out, entries: ex.stores().map((s) => s.entries) };
}

describe("off-heap window store in the executor: the same outputs as the object store", () => {
  for (const update of [false, true]) {
    for (const retentionMs of [0, 700]) {
      for (const hopping of [false, true]) {
        it(`emit on ${update ? "update" : "close"}, retention ${retentionMs} ms, ${hopping ? "hopping" : "tumbling"}`, () => {
          const records = stream(500 + (update ? 4 : 0) + (retentionMs ? 2 : 0) + (hopping ? 1 : 0), 4_000, 30, 40, 12);
          const top = topology(update, retentionMs, hopping);
          const offHeap = run(top, records);
          const objects = run(top, records, { objectStores: true });
          expect(offHeap.before.map((s) => s.typed)).toEqual([true, true]);
          expect(objects.before.map((s) => s.typed)).toEqual([false, false]);
          expect(offHeap.out.length).toBeGreaterThan(1_000);
          expect(offHeap.out.some((o) => o.startsWith("riptide-late\t"))).toBe(true);
          expect(offHeap.out.some((o) => o.includes("Map(1)"))).toBe(true);
          expect(offHeap.out.some((o) => o.includes("Tag {"))).toBe(true);
          expect(offHeap.out).toEqual(objects.out);
          // The same entries held (open and retained) as the object store.
          expect(offHeap.before.map((s) => [s.entries, s.retained])).toEqual(objects.before.map((s) => [s.entries, s.retained]));
        });
      }
    }
  }

  it("checkpoints round-trip: a chain of restored executors gives the same outputs and writes the same checkpoints", () => {
    for (const update of [false, true]) {
      expectSameAcrossCheckpoints(topology(update, 500, true, false), stream(41 + (update ? 1 : 0), 3_000, 20, 40, 12), 9);
    }
  });

  // The write-back cache (value-slots.ts) of a few entries evicts (and writes back) nearly every
  // update; with none every update is written as bytes: the same outputs, across checkpoints too.
  for (const windowCacheEntries of [5, 0]) {
    it(`with a cache of ${windowCacheEntries} entries: the same outputs as the object store, across checkpoints`, () => {
      for (const update of [false, true]) {
        const records = stream(520 + windowCacheEntries + (update ? 1 : 0), 4_000, 30, 40, 12);
        const top = topology(update, 700, true);
        expect(run(top, records, { windowCacheEntries }).out).toEqual(run(top, records, { objectStores: true }).out);
        expectSameAcrossCheckpoints(topology(update, 500, true, false), stream(43 + (update ? 1 : 0), 3_000, 20, 40, 12), 11, { windowCacheEntries });
      }
    });
  }

  it("holds no more values as objects than its cache's bound; a snapshot writes them back and empties the cache", () => {
    const records = stream(17, 3_000, 60, 40, 12);
    const top = topology(false, 500, true, false);
    const ex = new TopologyExecutor(top, () => {}, { windowCacheEntries: 40 });
    const values = (ex as unknown as { stateful: { store: OffHeapWindowStore }[] }).stateful[0]!.store.values;
    const time = new StreamTimeTracker();
    let most = 0;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const topic = i % 2 === 0 ? "in" : "in2";
      ex.process(topic, r.key, r.value, r.t, time.observe(time.partition(topic), r.t, 0));
      most = Math.max(most, values.cacheUsage().cached);
      expect(values.cacheUsage().cached).toBeLessThanOrEqual(40);
    }
    expect(most).toBe(40);
    expect(values.cacheUsage().dirty).toBeGreaterThan(0);
    expect(ex.snapshot(new Float64Array(1 << 20))).toBeGreaterThan(0);
    expect(values.cacheUsage()).toEqual({ cached: 0, dirty: 0 });
    expect(() => new TopologyExecutor(top, () => {}, { windowCacheEntries: -1 })).toThrow(/windowCacheEntries must be an integer ≥ 0, got -1/);
  });

  it("is bounded by maxStoreEntries: StateStoreFullError at the same record as the object store, nothing dropped before it", () => {
    const records = stream(7, 3_000, 200, 40, 3);
    const top = topology(false, 0, true);
    const fail = (objectStores: boolean) => failAt(top, records, 120, objectStores);
    const offHeap = fail(false);
    expect(offHeap.at).toBeGreaterThan(0);
    expect(offHeap).toEqual(fail(true));
    expect(Math.max(...offHeap.entries)).toBe(120);
  });

  it("reports the bytes it holds: the arena grows with the entries and is freed when their windows close", () => {
    const records = stream(3, 4_000, 400, 2, 3);
    const { ex, before } = run(topology(false, 0, true), records, { windowCacheEntries: 0 });
    const r = before[0]!;
    expect(r.entries).toBeGreaterThan(500);
    const store = (ex as unknown as { stateful: { store: OffHeapWindowStore }[] }).stateful[0]!.store;
    expect(ex.stores()[0]).toMatchObject({ entries: 0, retained: 0, typed: true });
    expect(store.values.arenaUsage()).toMatchObject({ used: 0, live: 0, capacity: 4096 });
    expect(store.keys.size).toBe(0);
    expect(ex.stores()[0]!.bytes).toBe(store.bytes);
    // While open: at least the value bytes of every entry (each over 40 bytes encoded), well under the object store's estimate.
    expect(r.bytes).toBeGreaterThan(40 * r.entries);
    const objects = run(topology(false, 0, true), records, { objectStores: true }).before[0]!;
    expect(objects.entries).toBe(r.entries);
    expect(r.bytes).toBeLessThan(objects.bytes);
    // With the cache (every entry's value an object here) its estimate is counted: more than without it.
    const cached = run(topology(false, 0, true), records).before[0]!;
    expect(cached.entries).toBe(r.entries);
    expect(cached.bytes).toBeGreaterThan(r.bytes);
  });
});

describe("session windows with user aggregates (values off-heap beside the typed session store): the same outputs as the object store", () => {
  for (const update of [false, true]) {
    for (const retentionMs of [0, 300]) {
      it(`emit on ${update ? "update" : "close"}, retention ${retentionMs} ms: sessions merging, late records`, () => {
        const records = stream(900 + (update ? 2 : 0) + (retentionMs ? 1 : 0), 4_000, 30, 20, 15);
        const top = sessionTopology(update, retentionMs);
        const offHeap = run(top, records);
        const objects = run(top, records, { objectStores: true });
        expect(offHeap.before.map((s) => [s.kind, s.typed])).toEqual([["session", true], ["session", true]]);
        expect(objects.before.map((s) => s.typed)).toEqual([false, false]);
        expect(offHeap.out.length).toBeGreaterThan(500);
        expect(offHeap.out.some((o) => o.includes("within the gap of session"))).toBe(true);
        expect(offHeap.out.some((o) => o.includes("would close at"))).toBe(true);
        expect(offHeap.out.some((o) => o.includes("Map(1)"))).toBe(true);
        if (update) expect(offHeap.out.some((o) => o.startsWith("out\t") && o.includes("null, "))).toBe(true); // merged-away sessions
        expect(offHeap.out).toEqual(objects.out);
        expect(offHeap.before.map((s) => [s.entries, s.retained])).toEqual(objects.before.map((s) => [s.entries, s.retained]));
      });
    }
  }

  it("checkpoints round-trip: a chain of restored executors gives the same outputs and writes the same checkpoints", () => {
    for (const update of [false, true]) {
      expectSameAcrossCheckpoints(sessionTopology(update, 200, false), stream(61 + (update ? 1 : 0), 3_000, 20, 20, 15), 10);
    }
  });

  it("is bounded by maxStoreEntries: StateStoreFullError at the same record as the object store", () => {
    const records = stream(8, 3_000, 300, 1, 3);
    const top = sessionTopology(false, 0);
    const fail = (objectStores: boolean) => failAt(top, records, 90, objectStores);
    const offHeap = fail(false);
    expect(offHeap.at).toBeGreaterThan(0);
    expect(offHeap).toEqual(fail(true));
    expect(Math.max(...offHeap.entries)).toBe(90);
  });

  it("frees a session's value when it closes or merges away: closed sessions kept for their gap hold no bytes", () => {
    const records = stream(12, 3_000, 50, 20, 3);
    const ex = new TopologyExecutor(sessionTopology(false, 10_000, false, false), () => {}); // every value as bytes
    const values = (ex as unknown as { stateful: { values: { arenaUsage(): { live: number; used: number } } }[] }).stateful[0]!.values;
    let wm = 0;
    let most = 0;
    for (const r of records) {
      wm = Math.max(wm, r.t);
      ex.process("in", r.key, r.value, r.t, wm);
      const open = ex.stores()[0]!.entries;
      most = Math.max(most, open);
      const live = values.arenaUsage().live;
      expect(live > 0 || (values as unknown as SlotValues).cacheUsage().cached > 0).toBe(open > 0);
      expect(live).toBeLessThanOrEqual(open * 80); // open sessions' values only (each under 80 bytes)
    }
    expect(most).toBeGreaterThan(10);
    ex.advance(wm + 1_000); // every session closed; kept for retention
    const r = ex.stores()[0]!;
    expect(r.entries).toBe(0);
    expect(r.retained).toBeGreaterThan(50);
    expect(values.arenaUsage()).toMatchObject({ used: 0, live: 0 });
  });
});

describe("sliding windows with the buffered records' values as bytes: the same outputs as with objects", () => {
  for (const update of [false, true]) {
    it(`emit on ${update ? "update" : "close"}: late records, values of every shape`, () => {
      const records = stream(300 + (update ? 1 : 0), 3_000, 30, 10, 25);
      const top = slidingTopology(update);
      const offHeap = run(top, records);
      const objects = run(top, records, { objectStores: true });
      expect(offHeap.before.map((s) => [s.kind, s.typed])).toEqual([["sliding", true], ["sliding", true]]);
      expect(objects.before.map((s) => s.typed)).toEqual([false, false]);
      expect(offHeap.out.length).toBeGreaterThan(1_000);
      expect(offHeap.out.some((o) => o.startsWith("riptide-late\t"))).toBe(true);
      expect(offHeap.out.some((o) => o.includes("Map(1)"))).toBe(true);
      expect(offHeap.out).toEqual(objects.out);
    });
  }

  it("checkpoints round-trip; bounded as the object store; values freed as records leave the buffer", () => {
    const records = stream(71, 3_000, 20, 10, 25);
    const top = slidingTopology(true, false);
    const clean = run(top, records);
    expect(run(top, records, {}, [500, 1_700, 2_400]).out).toEqual(clean.out);
    const fail = (objectStores: boolean) => failAt(top, records, clean.most - 3, objectStores);
    const offHeap = fail(false);
    expect(offHeap.at).toBeGreaterThan(0);
    expect(offHeap).toEqual(fail(true));
    const ex = new TopologyExecutor(slidingTopology(false, false), () => {});
    const slots = (ex as unknown as { stateful: { slots: { values: { arenaUsage(): { live: number; used: number } } } }[] }).stateful[0]!.slots;
    let wm = 0;
    for (const r of records) {
      wm = Math.max(wm, r.t);
      ex.process("in", r.key, r.value, r.t, wm);
      const held = ex.stores()[0]!.entries;
      expect(slots.values.arenaUsage().live).toBeLessThanOrEqual(held * 200);
    }
    ex.flush();
    expect(ex.stores()[0]!.entries).toBe(0);
    expect(slots.values.arenaUsage()).toMatchObject({ used: 0, live: 0 });
  });
});

describe("off-heap window store on its own", () => {
  const agg = (i: number) => ({ i, name: `n${i}`, xs: [i, i / 3] });

  it("fails a new entry past its bound with StateStoreFullError; present entries still update; retained entries do not count", () => {
    const st = new OffHeapWindowStore(3, "w", 100, 1_000);
    for (const [k, start] of [["a", 0], ["b", 0], ["a", 50]] as const) st.values.set(st.entry(k, st.keys.find(k), start, start), agg(start));
    expect(st.size).toBe(3);
    expect(() => st.entry("c", st.keys.find("c"), 0, 0)).toThrow(StateStoreFullError);
    expect(() => st.entry("c", st.keys.find("c"), 0, 0)).toThrow(/ERR_STATE_FULL|bound of 3 entries/);
    expect(st.size).toBe(3);
    expect(st.keys.find("c")).toBe(-1);
    const s = st.entry("b", st.keys.find("b"), 0, 5);
    expect(st.created).toBe(false);
    st.values.set(s, agg(9));
    expect(st.values.get(st.find(st.keys.find("b"), 0))).toEqual(agg(9));
    st.advance(100, undefined); // closes the windows at 0: retained, no longer counted
    expect([st.size, st.retained]).toEqual([1, 2]);
    st.entry("c", st.keys.find("c"), 100, 100);
    st.entry("d", st.keys.find("d"), 100, 100);
    expect(() => st.entry("e", st.keys.find("e"), 100, 100)).toThrow(StateStoreFullError);
  });

  it("keeps closed windows for retention, then frees their entries, keys and bytes", () => {
    const st = new OffHeapWindowStore(1_000, "w", 100, 500, 64, 0); // no cache: every value written as bytes at once
    const closed: string[] = [];
    for (let i = 0; i < 300; i++) {
      const k = `key-${i % 30}`;
      const start = Math.floor(i / 30) * 10;
      const s = st.entry(k, st.keys.find(k), start, i);
      st.values.set(s, { k, i, pad: "x".repeat(100) });
    }
    expect([st.size, st.retained, st.keys.size]).toEqual([300, 0, 30]);
    const held = st.values.arenaUsage().live;
    expect(held).toBeGreaterThan(300 * 100);
    st.advance(145, (s, start) => closed.push(`${String(st.keyOfSlotId(s))}@${start}`)); // closes starts 0…40
    expect(closed.length).toBe(150);
    expect(closed.slice(0, 2)).toEqual(["key-0@0", "key-1@0"]);
    expect([st.size, st.retained]).toEqual([150, 150]);
    expect(st.slotsOf("key-3", 0, 1_000).map((s) => st.startOfSlot(s))).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(st.values.arenaUsage().live).toBe(held);
    st.advance(190, undefined); // closes the rest
    expect([st.size, st.retained]).toEqual([0, 300]);
    st.advance(625, undefined); // drops the windows at 0, 10, 20 (closed at start + 100, kept 500 ms more)
    expect([st.size, st.retained, st.keys.size]).toEqual([0, 210, 30]);
    expect(st.slotsOf("key-3", 0, 1_000).map((s) => st.startOfSlot(s))).toEqual([30, 40, 50, 60, 70, 80, 90]);
    expect(st.values.arenaUsage().live).toBe(held * 0.7);
    st.advance(10_000, undefined);
    expect([st.size, st.retained, st.keys.size]).toEqual([0, 0, 0]);
    expect(st.values.arenaUsage()).toMatchObject({ used: 0, live: 0 });
  });

  it("caches values as objects until they leave: evicted, closed into retention, exported", () => {
    const st = new OffHeapWindowStore(1_000, "w", 100, 500, 64, 100);
    const slots: number[] = [];
    for (let i = 0; i < 300; i++) {
      const k = `key-${i % 30}`;
      const s = st.entry(k, st.keys.find(k), Math.floor(i / 30) * 10, i);
      st.values.set(s, { k, i, pad: "x".repeat(100) });
      slots.push(s);
    }
    // 100 cached (dirty: never written), the 200 evicted written as bytes.
    expect(st.values.cacheUsage()).toEqual({ cached: 100, dirty: 100 });
    expect(st.values.arenaUsage().live).toBeGreaterThanOrEqual(200 * 100);
    expect(st.values.arenaUsage().live).toBeLessThanOrEqual(200 * 140); // (each value 132 bytes)
    for (let i = 0; i < 300; i++) expect(st.values.get(slots[i]!)).toEqual({ k: `key-${i % 30}`, i, pad: "x".repeat(100) });
    // An update of a cached value is not written until it leaves the cache.
    const last = slots[299]!;
    const before = st.values.arenaUsage();
    st.values.set(last, { k: "key-29", i: -1, pad: "" });
    expect(st.values.arenaUsage()).toEqual(before);
    // Closing windows into retention writes their values back and takes them out of the cache.
    st.values.set(slots[0]!, { k: "key-0", i: -2, pad: "" }); // cached, dirty
    expect(st.values.isCached(slots[0]!)).toBe(true);
    st.advance(145, undefined); // starts 0…40: the first 150 entries
    expect([st.size, st.retained]).toEqual([150, 150]);
    for (let i = 0; i < 150; i++) expect(st.values.isCached(slots[i]!)).toBe(false);
    expect(st.values.get(slots[0]!)).toEqual({ k: "key-0", i: -2, pad: "" }); // read from its bytes
    for (let i = 1; i < 150; i++) expect(st.values.get(slots[i]!)).toEqual({ k: `key-${i % 30}`, i, pad: "x".repeat(100) });
    // A checkpoint holds the cached update.
    const words = new Float64Array(1 << 16);
    const n = st.exportTo(words, 0, () => NaN);
    expect(n).toBeGreaterThan(0);
    expect(st.values.cacheUsage()).toEqual({ cached: 0, dirty: 0 });
    const copy = new OffHeapWindowStore(1_000, "w", 100, 500, 64, 100);
    copy.importFrom(words, 0, () => undefined);
    expect(copy.values.get(copy.find(copy.keys.find("key-29"), 90))).toEqual({ k: "key-29", i: -1, pad: "" });
    expect(copy.values.get(copy.find(copy.keys.find("key-3"), 0))).toEqual({ k: "key-3", i: 3, pad: "x".repeat(100) });
  });

  it("checkpoints round-trip: the same entries, values (bytes and objects), order, retention and bytes", () => {
    const st = new OffHeapWindowStore(10_000, "w", 100, 300);
    const next = mulberry32(5);
    for (let i = 0; i < 2_000; i++) {
      const k = next() % 7 === 0 ? { u: next() % 20 } : `k${next() % 50}`;
      const start = Math.floor(i / 40) * 20;
      const s = st.entry(k, st.keys.find(k), start, i);
      st.values.set(s, i % 31 === 0 ? new Map([["i", i]]) : { i, s: "é".repeat(next() % 10), a: [i, -0, null] });
      if (i % 200 === 199) st.advance(start, undefined);
    }
    expect(st.retained).toBeGreaterThan(0);
    const words = new Float64Array(1 << 20);
    const codes = new Map<unknown, number>();
    const n = st.exportTo(words, 3, () => NaN);
    expect(n).toBeGreaterThan(0);
    const copy = new OffHeapWindowStore(10_000, "w", 100, 300);
    expect(copy.importFrom(words, 3, (x) => codes.get(x))).toBe(n);
    const again = new Float64Array(n + 3);
    expect(copy.exportTo(again, 3, () => NaN)).toBe(n);
    expect(again.subarray(3)).toEqual(words.subarray(3, 3 + n));
    expect([copy.size, copy.retained, copy.keys.size, copy.bytes]).toEqual([st.size, st.retained, st.keys.size, st.bytes]);
    const entries = (x: OffHeapWindowStore, k: unknown) => x.slotsOf(k, -Infinity, Infinity).map((s) => [x.startOfSlot(s), x.tsOfSlot(s), x.values.get(s)]);
    for (const k of ["k1", "k7", { u: 3 }]) expect(entries(copy, k)).toEqual(entries(st, k));
    // Both go on the same: closing everything yields the same entries in the same order.
    const closes = (x: OffHeapWindowStore) => {
      const out: unknown[] = [];
      x.advance(Infinity, (s, start) => out.push([x.keyOfSlotId(s), start, x.values.get(s)]));
      return out;
    };
    const a = closes(st);
    expect(a.length).toBeGreaterThan(100);
    expect(closes(copy)).toEqual(a);
  });
});
