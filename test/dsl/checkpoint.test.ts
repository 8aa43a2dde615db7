/**
 * Checkpoints of the executor (snapshot()/restore(), what a replacement worker starts from): for
 * every kind of store, a seeded stream goes through one executor without interruption and through
 * a chain of executors, each restored from a snapshot of the one before at a random point. The
 * outputs must be the same record for record, and a restored executor must write the same
 * snapshot as the one it came from.
 */
import { describe, expect, it } from "vitest";
import {
  EmitStrategy, JoinWindows, SessionWindows, SlidingWindows, StreamsBuilder, StreamTimeTracker, TimeWindows, TopologyExecutor, type Topology,
} from "../../src/index.js";
import { decodeState, encodeState } from "../../src/dsl/state-codec.js";
import { Windowed } from "../../src/dsl/windows.js";
import { mulberry32 } from "../support/random.js";
import { roundTrip } from "./checkpoint-round-trip.js";

interface In { topic: string; key: unknown; value: unknown; t: number }

/** One output record as text (keys may be Windowed, values may hold Infinity or undefined). */
const show = (topic: string, key: unknown, value: unknown, ts: number): string => encodeState([topic, key, value, ts]);

/**
 * Feeds `records` through executors; at each cut the current one is snapshotted and replaced by a
 * fresh one restored from it. The watermark is computed outside (as the engine's edge does), one
 * stream-time partition per topic; table records do not move it.
 */
function runChain(topology: Topology, records: In[], cuts: number[], check: (ex: TopologyExecutor, at: number) => void = () => {}) {
  const out: string[] = [];
  const emit = (topic: string, key: unknown, value: unknown, ts: number) => out.push(show(topic, key, value, ts));
  const time = new StreamTimeTracker();
  let ex = new TopologyExecutor(topology, emit);
  const sizes: number[] = [];
  const words = new Float64Array(1 << 20);
  for (let i = 0; i <= records.length; i++) {
    if (cuts.includes(i)) {
      check(ex, i);
      // The restored executor holds the same state: it writes the same checkpoint.
      const cut = roundTrip(ex, () => new TopologyExecutor(topology, emit), words);
      sizes.push(cut.words);
      ex = cut.next;
    }
    if (i === records.length) break;
    const r = records[i]!;
    if (ex.isTableTopic(r.topic)) {
      ex.process(r.topic, r.key, r.value, r.t, ex.watermark);
      continue;
    }
    const wm = time.observe(time.partition(r.topic), r.t, 0);
    ex.process(r.topic, r.key, r.value, r.t, wm);
  }
  ex.flush();
  return { out, sizes, ex };
}

/** The uninterrupted run and chains cut at random points (several seeds) give the same outputs. */
function expectSameOutputs(topology: () => Topology, records: In[], seed: number, check?: (ex: TopologyExecutor, at: number) => void) {
  const clean = runChain(topology(), records, []);
  expect(clean.out.length).toBeGreaterThan(20);
  const next = mulberry32(seed);
  for (let round = 0; round < 4; round++) {
    const cuts = Array.from({ length: 1 + round }, () => 1 + (next() % (records.length - 1))).sort((a, b) => a - b);
    const chained = runChain(topology(), records, cuts, check);
    expect(chained.out.length).toBe(clean.out.length);
    expect(chained.out).toEqual(clean.out);
  }
  return clean;
}

/** A store that holds something at the cut (so the test checks restored state, not an empty one). */
const holdsState = (ex: TopologyExecutor, at: number) => {
  if (at > 50) expect(ex.stores().some((s) => s.entries + s.retained > 0)).toBe(true);
};

/** Two topics of keyed records with event times drifting forward and out of order (some late). */
function stream(seed: number, n: number, topics: string[], keys: number, spreadMs: number, disorderMs: number): In[] {
  const next = mulberry32(seed);
  const out: In[] = [];
  for (let i = 0; i < n; i++) {
    const topic = topics[next() % topics.length]!;
    const t = Math.max(0, i * spreadMs - (next() % disorderMs));
    out.push({ topic, key: `k${next() % keys}`, value: { id: i, x: next() % 100, tag: next() % 7 === 0 ? undefined : `t${next() % 5}` }, t });
  }
  return out;
}

describe("executor checkpoints: a restored executor goes on exactly as the original", () => {
  it("table (updates and deletes) and stream-table joins (inner and left), table changes to a topic", () => {
    const topology = () => {
      const b = new StreamsBuilder();
      const profiles = b.table("profiles");
      const messages = b.stream("messages");
      messages.join(profiles, (m: any, p: any) => ({ m: m.id, p })).to("inner");
      messages.leftJoin(profiles, (m: any, p: any) => ({ m: m.id, p: p ?? null })).to("left");
      profiles.toStream().to("changes");
      return b.build();
    };
    const next = mulberry32(3);
    const records: In[] = [];
    for (let i = 0; i < 3_000; i++) {
      if (next() % 3 === 0) {
        const k = `u${next() % 40}`;
        // Object keys and values of every JSON shape; a null value deletes.
        records.push({ topic: "profiles", key: next() % 5 === 0 ? { user: k } : k,
          value: next() % 6 === 0 ? null : { name: k, tier: next() % 3, score: next() % 9 === 0 ? Infinity : next() % 100, tags: [1, null, "x"], nested: { a: { b: i } } }, t: i });
      } else {
        const k = `u${next() % 50}`;
        records.push({ topic: "messages", key: next() % 5 === 0 ? { user: k } : k, value: { id: i }, t: i * 10 });
      }
    }
    expectSameOutputs(topology, records, 1, holdsState);
  });

  for (const kind of ["join", "leftJoin", "outerJoin"] as const) {
    it(`stream-stream ${kind}: buffered records of both sides, their matched flags and close times`, () => {
      const topology = () => {
        const b = new StreamsBuilder();
        const l = b.stream("left");
        const r = b.stream("right");
        const w = JoinWindows.ofTimeDifferenceAndGrace(500, 200).before(300);
        const joiner = (a: any, c: any) => ({ l: a?.id ?? null, r: c?.id ?? null, x: (a?.x ?? 0) + (c?.x ?? 0) });
        (kind === "outerJoin" ? l.outerJoin(r, joiner, w) : kind === "leftJoin" ? l.leftJoin(r, joiner, w) : l.join(r, joiner, w)).to("out");
        return b.build();
      };
      const clean = expectSameOutputs(topology, stream(7, 4_000, ["left", "right"], 30, 20, 900), 2, holdsState);
      expect(clean.out.some((o) => o.includes(`["riptide-late"`))).toBe(true); // late records take part
      if (kind !== "join") expect(clean.out.some((o) => o.includes(`"l":null`) || o.includes(`"r":null`))).toBe(true);
    });
  }

  for (const update of [false, true]) {
    it(`session windows (merging, ${update ? "emit on update" : "emit on close"}, retention guarding closed sessions)`, () => {
      const topology = () => {
        const b = new StreamsBuilder();
        let s = b.stream("in").groupByKey().windowedBy(SessionWindows.ofInactivityGapAndGrace(300, 100));
        if (update) s = s.emitStrategy(EmitStrategy.onWindowUpdate());
        s.aggregate(() => ({ n: 0, ids: [] as number[], min: Infinity, last: undefined as unknown }),
          (_k, v: any, a) => ({ n: a.n + 1, ids: [...a.ids, v.id], min: Math.min(a.min, v.x), last: v.tag }),
          (_k, a, c) => ({ n: a.n + c.n, ids: [...a.ids, ...c.ids], min: Math.min(a.min, c.min), last: c.last ?? a.last }),
          { retentionMs: 1_000 })
          .toStream().to("sessions");
        return b.build();
      };
      expectSameOutputs(topology, stream(9, 3_000, ["in"], 25, 40, 600), 3, holdsState);
    });
  }

  for (const update of [false, true]) {
    it(`sliding windows (${update ? "emit on update" : "emit on close"})`, () => {
      const topology = () => {
        const b = new StreamsBuilder();
        let s = b.stream("in").groupByKey().windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(200, 100));
        if (update) s = s.emitStrategy(EmitStrategy.onWindowUpdate());
        s.aggregate(() => ({ n: 0, sum: 0 }), (_k, v: any, a) => ({ n: a.n + 1, sum: a.sum + v.x })).toStream().to("out");
        return b.build();
      };
      expectSameOutputs(topology, stream(13, 2_000, ["in"], 15, 30, 400), 4, holdsState);
    });
  }

  for (const update of [false, true]) {
    it(`hopping time windows with a user aggregate and a reduce, retention kept (${update ? "emit on update" : "emit on close"})`, () => {
      const topology = () => {
        const b = new StreamsBuilder();
        let w = b.stream("in").groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(1_000, 300).advanceBy(250));
        if (update) w = w.emitStrategy(EmitStrategy.onWindowUpdate());
        w.aggregate(() => ({ ids: new Set<number>(), max: -Infinity }), (_k, v: any, a) => ({ ids: new Set([...a.ids, v.id % 10]), max: Math.max(a.max, v.x) }),
          { name: "agg", retentionMs: 2_000 }).toStream().mapValues((a) => ({ distinct: a.ids.size, max: a.max })).to("agg");
        w.reduce((a: any, c: any) => ({ id: c.id, x: a.x + c.x, tag: c.tag })).toStream().to("reduce");
        return b.build();
      };
      const records = stream(17, 3_000, ["in"], 20, 25, 700);
      expectSameOutputs(topology, records, 5, (ex, at) => {
        holdsState(ex, at);
        // Window-store fetches (open and retained windows) see the same contents after a restore.
        const words = new Float64Array(1 << 20);
        const n = ex.snapshot(words);
        const copy = new TopologyExecutor(ex.topology, () => {});
        copy.restore(words.subarray(0, n));
        for (let k = 0; k < 20; k++) expect(encodeState(copy.fetchWindows("agg", `k${k}`))).toBe(encodeState(ex.fetchWindows("agg", `k${k}`)));
      });
    });
  }

  it("non-windowed aggregate and reduce (KTables), and a stream joined to the aggregate's table", () => {
    const topology = () => {
      const b = new StreamsBuilder();
      const grouped = b.stream("in").groupByKey();
      const totals = grouped.aggregate(() => ({ n: 0, xs: [] as number[] }), (_k, v: any, a) => ({ n: a.n + 1, xs: [...a.xs.slice(-3), v.x] }));
      totals.toStream().to("totals");
      grouped.reduce((a: any, c: any) => ({ id: c.id, x: Math.max(a.x, c.x), tag: a.tag })).toStream().to("reduced");
      b.stream("checks").join(totals, (c: any, t: any) => ({ c: c.id, n: t.n })).to("checked");
      return b.build();
    };
    expectSameOutputs(topology, stream(19, 3_000, ["in", "checks"], 40, 5, 50), 6, holdsState);
  });

  it("typed window stores of built-in aggregates: with key codes (the engine's) and without (keys as JSON)", () => {
    const topology = () => {
      const b = new StreamsBuilder();
      b.stream("in").groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(500, 100)).count().toStream().to("counts");
      b.stream("objs").groupBy((_k, v: any) => ({ tag: v.tag ?? "none" })).windowedBy(TimeWindows.ofSizeWithNoGrace(700)).mean("x").toStream().to("means");
      return b.build();
    };
    expectSameOutputs(topology, stream(23, 3_000, ["in", "objs"], 30, 10, 200), 7, holdsState);
    // With codes: the keys k0…k29 as numbers (the existing format, key K ≥ 0 then K codes).
    const ex = new TopologyExecutor(topology(), () => {});
    ex.process("in", "k3", { x: 1 }, 10, 10);
    const words = new Float64Array(1 << 12);
    const n = ex.snapshot(words, (k) => (typeof k === "string" ? Number(k.slice(1)) : NaN));
    expect(words[2]).toBe(1); // one key…
    expect(words[3]).toBe(3); // …coded 3
    const back = new TopologyExecutor(topology(), () => {});
    back.restore(words.subarray(0, n), (x) => `k${x}`);
    const out: string[] = [];
    const fresh = new TopologyExecutor(topology(), (t, k, v, ts) => out.push(show(t, k, v, ts)));
    fresh.restore(words.subarray(0, n), (x) => `k${x}`);
    fresh.flush();
    expect(out).toEqual([show("counts", new Windowed("k3", { start: 0, end: 500 }), 1, 10)]);
  });

  it("returns -1 with the reason when the state does not fit, or holds a value it cannot write; never a partial checkpoint", () => {
    const b = new StreamsBuilder();
    b.stream("in").groupByKey().aggregate(() => [] as unknown[], (_k, v, a) => [...a, v]).toStream().to("out");
    const ex = new TopologyExecutor(b.build(), () => {});
    for (let i = 0; i < 100; i++) ex.process("in", `k${i % 10}`, { i, text: "x".repeat(50) }, i, i);
    const big = new Float64Array(1 << 14);
    const n = ex.snapshot(big);
    expect(n).toBeGreaterThan(100);
    expect(ex.snapshot(new Float64Array(n - 1))).toBe(-1);
    expect(ex.snapshotError).toMatch(/does not fit in the checkpoint area/);
    expect(ex.snapshot(new Float64Array(n))).toBe(n);
    expect(ex.snapshotError).toBeUndefined();

    class Money { constructor(readonly cents: number) {} }
    ex.process("in", "k1", new Money(5), 200, 200);
    expect(ex.snapshot(big)).toBe(-1);
    expect(ex.snapshotError).toMatch(/an instance of Money, which a checkpoint cannot write/);
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    ex.process("in", "k2", cyclic, 201, 201);
    expect(ex.snapshot(big)).toBe(-1);
  });

  it("refuses a checkpoint of another topology", () => {
    const one = new StreamsBuilder();
    one.stream("in").groupByKey().aggregate(() => 0, (_k, _v, a: number) => a + 1).toStream().to("out");
    const words = new Float64Array(64);
    const n = new TopologyExecutor(one.build(), () => {}).snapshot(words);
    const two = new StreamsBuilder();
    two.stream("in").to("out");
    expect(() => new TopologyExecutor(two.build(), () => {}).restore(words.subarray(0, n))).toThrow(/holds 1 state stores, this topology has 0/);
  });
});

describe("state codec: values keep their shape through a checkpoint", () => {
  it("round-trips what JSON alone would change", () => {
    const value = {
      n: [NaN, Infinity, -Infinity, -0, 0, 1.5], u: undefined, arr: [undefined, null, 1], big: 12345678901234567890n, date: new Date(1_700_000_000_000),
      map: new Map<unknown, unknown>([["a", 1], [2, { b: [Infinity] }]]), set: new Set(["x", 3]), w: new Windowed({ region: "gh1" }, { start: 0, end: 10 }),
      text: "ünïcødé \u0001 \"q\"", deep: { a: { b: { c: [{ d: -Infinity }] } } }, ["__proto__"]: { own: true },
    };
    const back = decodeState(encodeState(value)) as typeof value;
    expect(back).toEqual(value);
    expect(Object.is(back.n[3], -0)).toBe(true);
    expect("u" in back).toBe(true);
    expect(back.map).toBeInstanceOf(Map);
    expect(back.w).toBeInstanceOf(Windowed);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(back, "__proto__")).toBe(true);
  });

  it("writes plain JSON when nothing needs a tag (the engine's values), tagged JSON otherwise; deep trees too", () => {
    expect(encodeState({ a: [1, "x", null, { b: true }] })).toBe(`P{"a":[1,"x",null,{"b":true}]}`);
    expect(encodeState({ a: [1, Infinity] })).toBe(`T{"a":[1,{"\\u0000":"n","v":"Infinity"}]}`);
    let deep: unknown = -0;
    for (let i = 0; i < 500; i++) deep = [deep, { i }];
    expect(decodeState(encodeState(deep))).toEqual(deep);
  });

  it("refuses functions, symbols and class instances, naming them", () => {
    expect(() => encodeState({ f: () => 1 })).toThrow(/a function/);
    expect(() => encodeState([Symbol("s")])).toThrow(/a symbol/);
    expect(() => encodeState({ u8: new Uint8Array(2) })).toThrow(/an instance of Uint8Array/);
    expect(() => encodeState({ "\u0000": "n" })).toThrow(/property named/);
  });
});
