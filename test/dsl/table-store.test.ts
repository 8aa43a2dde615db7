/**
 * The off-heap table store (table-store.ts) on its own — against a Map under random puts, deletes
 * and lookups (keys and values of every shape, growth, compaction), its bound, its checkpoint — and
 * in the executor, where it holds builder.table() sources and non-windowed aggregations: the same
 * outputs as the object stores (ExecutorOptions.objectStores) on seeded streams with tombstones and
 * stream-table joins, across checkpoints; the object stores' memory estimates.
 */
import { describe, expect, it } from "vitest";
import { inspect } from "node:util";
import { StateStoreFullError, StreamsBuilder, TopologyExecutor, TopologyTestDriver, type Topology } from "../../src/index.js";
import { keyOf } from "../../src/dsl/executor.js";
import { OffHeapTableStore } from "../../src/dsl/table-store.js";
import { heapBytes } from "../../src/dsl/heap-size.js";
import { mulberry32 } from "../support/random.js";

const show = (x: unknown): string => inspect(x, { depth: Infinity, maxArrayLength: Infinity, maxStringLength: Infinity, breakLength: Infinity });

class Point {
  constructor(readonly x: number) {}
}

/** Keys of every kind the object store tells apart (by keyOf), with collisions on purpose: 0 and −0, NaN, equal objects. */
function randomKey(next: () => number, n: number): unknown {
  const i = next() % n;
  switch (next() % 10) {
    case 0: return i;
    case 1: return i === 0 ? -0 : i + 0.5;
    case 2: return { user: `u${i}`, n: i % 3 };
    case 3: return `ключ-${i}`;
    case 4: return i % 7 === 0 ? NaN : BigInt(i);
    case 5: return `\ud800lone-${i}`;
    case 6: return [i, `a${i}`];
    case 7: return i % 5 === 0 ? null : i % 2 === 0;
    default: return `k${i}`;
  }
}

/** Values of every shape: plain data (written as bytes) and what the codec keeps as objects (Map, Date, class instances, bigint). */
function randomValue(next: () => number, i: number): unknown {
  switch (next() % 12) {
    case 0: return i;
    case 1: return -0;
    case 2: return `v${i}`.repeat(1 + (next() % 40));
    case 3: return { name: `n${i}`, tier: i % 3, tags: [`t${i % 5}`, null, true], nested: { x: i / 7, y: undefined } };
    case 4: return new Map([[`m${i}`, i]]);
    case 5: return new Date(i);
    case 6: return new Point(i);
    case 7: return BigInt(i) * 3n;
    case 8: return [NaN, Infinity, -Infinity, 2 ** 40];
    case 9: return { ["__proto__"]: i } as unknown;
    case 10: return "\ud800x";
    default: return { i };
  }
}

describe("off-heap table store: a Map's contents under random puts, deletes and lookups", () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: every lookup equals the Map's; the arena grows, its dead bytes stay bounded, it shrinks back when empty`, () => {
      const next = mulberry32(seed);
      const st = new OffHeapTableStore(1_000_000, "t", 0, 4, 256);
      const ref = new Map<unknown, unknown>();
      let maxCapacity = 0;
      for (let i = 0; i < 40_000; i++) {
        const k = randomKey(next, i < 20_000 ? 2_000 : 300);
        const op = next() % 10;
        if (op < 6) {
          const v = randomValue(next, i);
          st.put(k, v);
          ref.set(keyOf(k), v);
        } else if (op < 8) {
          const s = st.find(k);
          expect(s >= 0).toBe(ref.has(keyOf(k)));
          if (s >= 0) st.delete(s);
          ref.delete(keyOf(k));
        } else {
          expect(show(st.get(k))).toBe(show(ref.get(keyOf(k))));
        }
        expect(st.size).toBe(ref.size);
        const u = st.arenaUsage();
        maxCapacity = Math.max(maxCapacity, u.capacity);
        expect(u.live).toBeLessThanOrEqual(u.used);
        expect(u.used - u.live).toBeLessThanOrEqual(Math.max(u.live, 16 * 1024) + 4 * 1024); // compacted before the next write
      }
      expect(maxCapacity).toBeGreaterThan(256);
      // Values come back as the Map holds them (plain data as equal copies once out of the cache).
      const fresh = new OffHeapTableStore(1_000_000, "t");
      for (const [nk, v] of ref) fresh.put(nk, v); // map keys are keys too (objects as their JSON strings)
      for (const [nk, v] of ref) expect(show(fresh.get(nk))).toBe(show(v));
      // Deleting every key empties the arena back to its first size.
      const keys = [...ref.keys()];
      for (const nk of keys) fresh.delete(fresh.find(nk));
      expect(fresh.size).toBe(0);
      expect(fresh.arenaUsage()).toEqual({ used: 0, live: 0, capacity: 4096 });
      for (const nk of keys) expect(fresh.get(nk)).toBeUndefined();
    });
  }

  it("tells keys apart as keyOf does: 0 and −0 are one key, NaN one key, equal objects one key, 1 and \"1\" two", () => {
    const st = new OffHeapTableStore(100, "t");
    st.put(0, "zero");
    st.put(-0, "minus zero");
    st.put(NaN, "nan");
    st.put(0 / 0, "nan again");
    st.put({ a: 1, b: [2] }, "obj");
    st.put({ a: 1, b: [2] }, "obj again");
    st.put(1, "number");
    st.put("1", "string");
    st.put(1n, "bigint");
    st.put(true, "true");
    st.put("true", "string true");
    expect(st.size).toBe(8);
    expect([st.get(0), st.get(NaN), st.get({ a: 1, b: [2] }), st.get(1), st.get("1"), st.get(1n), st.get(true), st.get("true")])
      .toEqual(["minus zero", "nan again", "obj again", "number", "string", "bigint", "true", "string true"]);
    expect(() => st.put(Symbol("s"), 1)).toThrow(/table key must be/);
  });

  it("dead bytes (updates that do not fit, deletes) are compacted away once they reach the live ones", () => {
    const next = mulberry32(4);
    const st = new OffHeapTableStore(1_000, "t");
    let compactions = 0;
    let last = 0;
    for (let i = 0; i < 20_000; i++) {
      const k = `k${next() % 300}`;
      if (next() % 5 === 0) {
        const s = st.find(k);
        if (s >= 0) st.delete(s);
      } else {
        st.put(k, "v".repeat(next() % 200));
      }
      const u = st.arenaUsage();
      if (u.used < last - 1024) compactions++;
      last = u.used;
      expect(st.get(k)?.toString().length ?? 0).toBeLessThan(200);
    }
    expect(compactions).toBeGreaterThan(2);
  });

  it("an update that fits the old value's bytes is written in place: a run of updates of one key does not grow the arena", () => {
    const st = new OffHeapTableStore(100, "t");
    st.put("k", { n: 1_000_000, name: "a long enough name" });
    const used = st.arenaUsage().used;
    for (let i = 0; i < 10_000; i++) st.put("k", { n: i, name: "short" });
    expect(st.arenaUsage().used).toBe(used);
    expect(st.get("k")).toEqual({ n: 9_999, name: "short" });
  });

  it("is bounded: a new key past the bound fails with ERR_STATE_FULL, nothing is dropped; updates and deletes still go", () => {
    const st = new OffHeapTableStore(100, "profiles");
    for (let i = 0; i < 100; i++) st.put(`k${i}`, { i });
    let err: unknown;
    try {
      st.put("k100", { i: 100 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateStoreFullError);
    expect((err as StateStoreFullError).code).toBe("ERR_STATE_FULL");
    expect((err as Error).message).toMatch(/state store profiles reached its bound of 100 entries/);
    expect(st.size).toBe(100);
    for (let i = 0; i < 100; i++) expect(st.get(`k${i}`)).toEqual({ i });
    expect(st.get("k100")).toBeUndefined();
    st.put("k5", { i: -5 });
    expect(st.get("k5")).toEqual({ i: -5 });
    st.delete(st.find("k6"));
    st.put("k100", { i: 100 });
    expect(st.get("k100")).toEqual({ i: 100 });
  });

  it("checkpoint: a restored store holds the same entries, writes the same words and reports the same bytes", () => {
    const next = mulberry32(9);
    const st = new OffHeapTableStore(1_000_000, "t", 2);
    const ref = new Map<unknown, unknown>();
    for (let i = 0; i < 5_000; i++) {
      const k = randomKey(next, 800);
      const v = randomValue(next, i);
      if (v instanceof Point) continue;
      if (next() % 5 === 0) {
        const s = st.find(k);
        if (s >= 0) st.delete(s);
        ref.delete(keyOf(k));
        continue;
      }
      const s = st.put(k, v);
      st.setNum(s, 0, i);
      st.setNum(s, 1, i / 3);
      ref.set(keyOf(k), [k, v, i]);
    }
    const words = new Float64Array(1 << 20);
    const n = st.exportTo(words, 3);
    expect(n).toBeGreaterThan(st.size);
    expect(st.exportTo(new Float64Array(n + 2), 3)).toBe(-1);
    const back = new OffHeapTableStore(1_000_000, "t", 2);
    expect(back.importFrom(words, 3)).toBe(n);
    expect(back.size).toBe(ref.size);
    expect(back.bytes).toBe(st.bytes);
    for (const [k, v, i] of ref.values() as Iterable<[unknown, unknown, number]>) {
      const s = back.find(k);
      expect(show(back.value(s))).toBe(show(v));
      expect(back.numOf(s, 0)).toBe(i);
      expect(back.numOf(s, 1)).toBe(i / 3);
    }
    const again = new Float64Array(n + 3);
    expect(back.exportTo(again, 3)).toBe(n);
    expect(again.subarray(3)).toEqual(words.subarray(3, n + 3));
    // The restored store goes on: updates, deletes, new keys.
    back.put("after", { x: 1 });
    back.delete(back.find("after"));
    expect(back.size).toBe(ref.size);
  });

  it("a checkpoint refuses a value kept as an object that it cannot write (a class instance), as the object store does", () => {
    const st = new OffHeapTableStore(10, "t");
    st.put("a", new Point(1));
    expect(() => st.exportTo(new Float64Array(1 << 12), 0)).toThrow(/instance of Point/);
  });
});

interface In { topic: string; key: unknown; value: unknown; t: number }

/**
 * Runs records through one executor (table records do not move the watermark); at each cut the
 * executor is replaced by one restored from its checkpoint, which must write the same words and
 * report the same stores.
 */
function run(topology: Topology, records: In[], objectStores: boolean, cuts: number[] = [], maxStoreEntries?: number) {
  const out: string[] = [];
  const emit = (topic: string, key: unknown, value: unknown, ts: number) => out.push(`${topic}\t${show([key, value, ts])}`);
  const options = { objectStores, ...(maxStoreEntries !== undefined && { maxStoreEntries }) };
  let ex = new TopologyExecutor(topology, emit, options);
  const words = new Float64Array(1 << 21);
  let wm = -Infinity;
  for (let i = 0; i <= records.length; i++) {
    if (cuts.includes(i)) {
      const n = ex.snapshot(words);
      expect(n, ex.snapshotError).toBeGreaterThan(0);
      const next = new TopologyExecutor(topology, emit, options);
      next.restore(words.slice(0, n));
      const again = new Float64Array(n);
      expect(next.snapshot(again)).toBe(n);
      expect(again).toEqual(words.subarray(0, n));
      expect(next.stores()).toEqual(ex.stores());
      ex = next;
    }
    if (i === records.length) break;
    const r = records[i]!;
    if (!ex.isTableTopic(r.topic)) wm = Math.max(wm, r.t);
    ex.process(r.topic, r.key, r.value, r.t, wm);
  }
  ex.flush();
  return { out, ex };
}

/** Profiles (a table with updates and tombstones), messages joined to it, and KTable aggregations of the messages joined to in turn. */
function tableTopology(): Topology {
  const b = new StreamsBuilder();
  const profiles = b.table("profiles", { name: "profiles" });
  profiles.toStream().to("profile-changes");
  const messages = b.stream("messages");
  messages.join(profiles, (m: any, p: any) => ({ m: m.id, p })).to("inner");
  messages.leftJoin(profiles, (m: any, p: any) => ({ m: m.id, name: p?.name ?? null })).to("left");
  const grouped = messages.groupByKey();
  const counts = grouped.count({ name: "counts" });
  counts.toStream().to("counts");
  grouped.sum("x").toStream().to("sums");
  grouped.min("x").toStream().to("mins");
  grouped.max("x").toStream().to("maxes");
  grouped.mean("x").toStream().to("means");
  const totals = grouped.aggregate(() => ({ n: 0, last: [] as unknown[] }), (_k, v: any, a) => ({ n: a.n + 1, last: [...a.last.slice(-2), v.x] }));
  totals.toStream().to("totals");
  grouped.reduce((a: any, c: any) => ({ id: c.id, x: Math.max(a.x, c.x) })).toStream().to("reduced");
  const checks = b.stream("checks");
  checks.join(totals, (c: any, t: any) => ({ c: c.id, n: t.n })).to("checked");
  checks.leftJoin(counts, (c: any, n: any) => ({ c: c.id, n })).to("checked-counts");
  return b.build();
}

function tableRecords(seed: number, n: number): In[] {
  const next = mulberry32(seed);
  const out: In[] = [];
  for (let i = 0; i < n; i++) {
    const r = next() % 10;
    const key = next() % 11 === 0 ? { user: next() % 30 } : `u${next() % 60}`;
    if (r < 3) {
      out.push({ topic: "profiles", key, value: next() % 6 === 0 ? null : { name: `name${i}`, tier: next() % 3, tags: [i % 4] }, t: i });
    } else if (r < 8) {
      const x = next() % 13 === 0 ? NaN : next() % 17 === 0 ? undefined : (next() % 2001) / 8 - 125;
      out.push({ topic: "messages", key, value: next() % 40 === 0 ? null : { id: i, x }, t: i });
    } else {
      out.push({ topic: "checks", key, value: { id: i }, t: i });
    }
  }
  return out;
}

describe("tables and KTable aggregations on the off-heap store: the object stores' outputs", () => {
  it("table updates and tombstones, inner and left stream-table joins, count/sum/min/max/mean/aggregate/reduce and joins to them", () => {
    const records = tableRecords(5, 8_000);
    const offHeap = run(tableTopology(), records, false);
    const objects = run(tableTopology(), records, true);
    expect(offHeap.out.length).toBeGreaterThan(20_000);
    for (const topic of ["profile-changes", "inner", "left", "counts", "sums", "mins", "maxes", "means", "totals", "reduced", "checked", "checked-counts"]) {
      expect(offHeap.out.some((o) => o.startsWith(`${topic}\t`)), topic).toBe(true);
    }
    expect(offHeap.out.some((o) => o.startsWith("profile-changes\t") && o.includes(", null, "))).toBe(true);
    expect(offHeap.out).toEqual(objects.out);
    const typed = offHeap.ex.stores().filter((s) => s.kind === "table" || s.kind === "kv");
    expect(typed.length).toBe(8);
    expect(typed.every((s) => s.typed && s.entries > 0 && s.bytes > 0)).toBe(true);
    expect(objects.ex.stores().every((s) => !s.typed)).toBe(true);
  });

  it("the same outputs through chains of checkpoints (each restored executor writes the same checkpoint and reports the same stores)", () => {
    const records = tableRecords(6, 4_000);
    const clean = run(tableTopology(), records, false);
    const next = mulberry32(61);
    for (let round = 0; round < 3; round++) {
      const cuts = Array.from({ length: 1 + round * 2 }, () => 1 + (next() % (records.length - 1))).sort((a, b) => a - b);
      expect(run(tableTopology(), records, false, cuts).out).toEqual(clean.out);
    }
  });

  it("a table at its bound fails with ERR_STATE_FULL on a new key (never a silent drop); its keys still join", () => {
    const b = new StreamsBuilder();
    const t = b.table("t");
    b.stream("s").join(t, (s, v) => [s, v]).to("out");
    const d = new TopologyTestDriver(b.build(), { maxStoreEntries: 50 });
    const tin = d.createInputTopic("t");
    for (let i = 0; i < 50; i++) tin.pipeInput(`k${i}`, { i }, i);
    expect(() => tin.pipeInput("k50", { i: 50 }, 50)).toThrow(/state store .* reached its bound of 50 entries/);
    tin.pipeInput("k7", { i: 700 }, 51); // an update of a present key goes
    tin.pipeInput("k8", null, 52); // as does a tombstone
    tin.pipeInput("k50", { i: 50 }, 53); // and then the new key fits
    const s = d.createInputTopic("s");
    for (const k of ["k0", "k7", "k8", "k50"]) s.pipeInput(k, k, 60);
    expect(d.createOutputTopic("out").readValuesToList()).toEqual([["k0", { i: 0 }], ["k7", { i: 700 }], ["k50", { i: 50 }]]);
    expect(d.getStateStores()).toMatchObject([{ kind: "table", entries: 50, typed: true }]);
  });
});

describe("object stores' memory: an estimate from their contents, not a flat figure per entry", () => {
  it("grows with the size of the values held and equals the model on a known value", () => {
    const bytesFor = (value: unknown) => {
      const b = new StreamsBuilder();
      b.table("t", { name: "t" });
      const ex = new TopologyExecutor(b.build(), () => {}, { objectStores: true });
      for (let i = 0; i < 1_000; i++) ex.process("t", `key-${i}`, value, 0, 0);
      return ex.stores()[0]!.bytes / 1_000;
    };
    const small = bytesFor({ a: 1 });
    const large = bytesFor({ a: 1, text: "x".repeat(1_000) });
    // The Map's entry (40), the key "key-NNN" (16 + 8) and the object {a: 1} (24 + 8).
    expect(small).toBe(40 + 24 + 32);
    expect(large - small).toBe(8 + heapBytes("x".repeat(1_000)));
    expect(heapBytes("x".repeat(1_000))).toBe(1_016);
    expect(heapBytes("€".repeat(4))).toBe(24);
    expect(heapBytes(2 ** 40)).toBe(16);
    expect(heapBytes(7)).toBe(0);
  });
});
