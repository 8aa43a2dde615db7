/**
 * The typed session store (session-store.ts) and the off-heap join buffer (join-store.ts) against
 * the object stores they replace (SessionProc, StreamJoinProc: ExecutorOptions.objectStores) and
 * against step-by-step references: seeded streams with out-of-order and late records, sessions
 * that merge exactly at the gap, join partners exactly at the window bounds; their bounds, memory
 * reports and checkpoints.
 */
import { describe, expect, it } from "vitest";
import {
  EmitStrategy, JoinWindows, SessionWindows, StateStoreFullError, StreamsBuilder, StreamTimeTracker, TopologyExecutor, type Topology,
} from "../../src/index.js";
import { inspect } from "node:util";
import { OffHeapJoinStore } from "../../src/dsl/join-store.js";
import { SlotHeap } from "../../src/dsl/slot-heap.js";
import { mulberry32 } from "../support/random.js";
import { roundTrip } from "./checkpoint-round-trip.js";

interface In { topic: string; key: unknown; value: unknown; t: number }

/** One output record as text, exact for every value (-0, NaN, undefined, Map, class instances, bigint); topic first. */
const show = (topic: string, key: unknown, value: unknown, ts: number): string =>
  `${topic}\t${inspect([key, value, ts], { depth: Infinity, maxArrayLength: Infinity, maxStringLength: Infinity, breakLength: Infinity })}`;

interface Out { topic: string; key: any; value: any; ts: number }

/** Runs records through one executor (watermark per topic as the engine's edge computes it), cut by checkpoints at `cuts`. */
function run(topology: Topology, records: In[], options: { objectStores?: boolean; maxStoreEntries?: number } = {}, cuts: number[] = []) {
  const out: string[] = [];
  const recs: Out[] = [];
  const emit = (topic: string, key: unknown, value: unknown, ts: number) => {
    out.push(show(topic, key, value, ts));
    recs.push({ topic, key, value, ts });
  };
  const time = new StreamTimeTracker();
  let ex = new TopologyExecutor(topology, emit, options);
  const words = new Float64Array(1 << 20);
  let maxEntries = 0;
  for (let i = 0; i <= records.length; i++) {
    if (cuts.includes(i)) ex = roundTrip(ex, () => new TopologyExecutor(topology, emit, options), words).next;
    if (i === records.length) break;
    const r = records[i]!;
    ex.process(r.topic, r.key, r.value, r.t, time.observe(time.partition(r.topic), r.t, 0));
    for (const s of ex.stores()) maxEntries = Math.max(maxEntries, s.entries + s.retained);
  }
  ex.flush();
  return { out, recs, ex, maxEntries };
}

/** Keyed records on a grid of `step` ms (so records fall exactly on gap and window bounds), drifting forward and out of order. */
function stream(seed: number, n: number, topics: string[], keys: number, step: number, disorderSteps: number, value: (i: number, next: () => number) => unknown): In[] {
  const next = mulberry32(seed);
  const out: In[] = [];
  for (let i = 0; i < n; i++) {
    const topic = topics[next() % topics.length]!;
    const t = Math.max(0, (Math.floor(i / 2) - (next() % disorderSteps)) * step);
    out.push({ topic, key: next() % 9 === 0 ? { k: next() % keys } : `k${next() % keys}`, value: value(i, next), t });
  }
  return out;
}

const OPS = ["count", "sum", "min", "max", "mean"] as const;

function sessionTopology(op: (typeof OPS)[number], gap: number, grace: number, update: boolean, retentionMs: number): Topology {
  const b = new StreamsBuilder();
  let s = b.stream("in").groupByKey().windowedBy(SessionWindows.ofInactivityGapAndGrace(gap, grace));
  if (update) s = s.emitStrategy(EmitStrategy.onWindowUpdate());
  (op === "count" ? s.count({ retentionMs, name: "sessions" }) : s[op]("x", { retentionMs, name: "sessions" })).toStream().to("out");
  return b.build();
}

/** Values with finite, non-finite and missing numbers (skipped by sum/min/max/mean, counted by count). */
const sessionValue = (i: number, next: () => number): unknown => {
  const r = next() % 20;
  return { i, x: r === 0 ? NaN : r === 1 ? Infinity : r === 2 ? undefined : r === 3 ? "7" : r === 4 ? -0 : (next() % 2001) / 8 - 125 };
};

describe("typed session store: the same outputs as the object store", () => {
  for (const op of OPS) {
    for (const update of [false, true]) {
      for (const retentionMs of [0, 250]) {
        it(`${op}, emit on ${update ? "update" : "close"}, retention ${retentionMs} ms: sessions merging at the gap, late records`, () => {
          const gap = 100;
          const grace = 50;
          const records = stream(1000 + OPS.indexOf(op) * 4 + (update ? 2 : 0) + (retentionMs ? 1 : 0), 6_000, ["in"], 40, 50, 9, sessionValue);
          const topology = sessionTopology(op, gap, grace, update, retentionMs);
          const typed = run(topology, records);
          const objects = run(topology, records, { objectStores: true });
          expect(typed.ex.stores()[0]!.typed).toBe(true);
          expect(objects.ex.stores()[0]!.typed).toBe(false);
          expect(typed.out.length).toBeGreaterThan(500);
          expect(typed.out.some((o) => o.startsWith("riptide-late\t") && o.includes("within the gap of session"))).toBe(true);
          expect(typed.out.some((o) => o.startsWith("riptide-late\t") && o.includes("would close at"))).toBe(true);
          expect(typed.out).toEqual(objects.out);
        });
      }
    }
  }

  it("equals a step-by-step reference (sum per session, exact at the gap: records gap apart merge, gap + 1 apart do not)", () => {
    const gap = 1_000;
    const grace = 200;
    const next = mulberry32(77);
    const records: In[] = [];
    let base = 0;
    for (let i = 0; i < 3_000; i++) {
      base += next() % 3 === 0 ? gap + (next() % 2) : next() % 500; // some steps of exactly gap and gap + 1
      const t = Math.max(0, base - (next() % 4 === 0 ? next() % 3_000 : 0));
      records.push({ topic: "in", key: `u${next() % 7}`, value: { x: next() % 100 }, t });
    }
    const b = new StreamsBuilder();
    b.stream("in").groupByKey().windowedBy(SessionWindows.ofInactivityGapAndGrace(gap, grace)).sum("x").toStream().to("out");
    const got = run(b.build(), records);
    type S = { key: string; start: number; end: number; sum: number };
    let open: S[] = [];
    const closed: S[] = [];
    const late: number[] = [];
    let wm = -Infinity;
    for (const x of records) {
      const key = x.key as string;
      wm = Math.max(wm, x.t);
      for (const s of open.filter((s) => s.end + gap + grace <= wm)) closed.push(s);
      open = open.filter((s) => s.end + gap + grace > wm);
      // Closed sessions guard their gap until end + 2·gap + grace (retention 0).
      const guarding = closed.filter((c) => c.end + 2 * gap + grace > wm);
      if (x.t + gap + grace <= wm || guarding.some((c) => c.key === key && x.t >= c.start - gap && x.t <= c.end + gap)) {
        late.push(x.t);
        continue;
      }
      const merged = open.filter((s) => s.key === key && s.end >= x.t - gap && s.start <= x.t + gap).sort((a, c) => a.start - c.start);
      open = open.filter((s) => !merged.includes(s));
      open.push({ key, start: Math.min(x.t, ...merged.map((s) => s.start)), end: Math.max(x.t, ...merged.map((s) => s.end)),
        sum: merged.reduce((a, s) => a + s.sum, 0) + (x.value as { x: number }).x });
    }
    const all = [...closed, ...open].map((s) => JSON.stringify([s.key, s.start, s.end, s.sum])).sort();
    const outs = got.recs.filter((o) => o.topic === "out").map((o) => JSON.stringify([o.key.key, o.key.window.start, o.key.window.end, o.value])).sort();
    expect(late.length).toBeGreaterThan(20);
    expect(all.length).toBeGreaterThan(300);
    expect(outs).toEqual(all);
    expect(got.out.filter((o) => o.startsWith("riptide-late\t")).length).toBe(late.length);
  });

  it("is bounded by maxStoreEntries (StateStoreFullError at the same record as the object store), memory reported from the typed arrays", () => {
    const records = stream(5, 4_000, ["in"], 400, 50, 3, sessionValue);
    const topology = sessionTopology("mean", 100_000, 0, false, 0);
    const fail = (objectStores: boolean) => {
      const out: string[] = [];
      const ex = new TopologyExecutor(topology, (t, k, v, ts) => out.push(show(t, k, v, ts)), { maxStoreEntries: 150, objectStores });
      const time = new StreamTimeTracker();
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        try {
          ex.process(r.topic, r.key, r.value, r.t, time.observe(time.partition(r.topic), r.t, 0));
        } catch (err) {
          expect(err).toBeInstanceOf(StateStoreFullError);
          return { at: i, out, entries: ex.stores()[0]!.entries };
        }
      }
      return { at: -1, out, entries: ex.stores()[0]!.entries };
    };
    const typed = fail(false);
    const objects = fail(true);
    expect(typed.at).toBeGreaterThan(0);
    expect(typed).toEqual(objects);
    expect(typed.entries).toBe(150);

    const ex = run(topology, records.slice(0, 1_000)).ex;
    const r = ex.stores()[0]!;
    expect(r).toMatchObject({ name: "sessions", kind: "session", entries: 0, typed: true });
    // Per slot 4 float64 + 3 int32 + 1 byte + the free list and the close index (24 bytes): 73 bytes; 3 int32 per key.
    const store = (ex as unknown as { stateful: { store: { start: Float64Array; openHead: Int32Array } }[] }).stateful[0]!.store;
    expect(store.start.length).toBeGreaterThanOrEqual(64);
    expect(r.bytes).toBe(store.start.length * 73 + store.openHead.length * 12);
  });

  it("checkpoints round-trip: a chain of restored executors gives the same outputs and writes the same checkpoints", () => {
    for (const update of [false, true]) {
      const records = stream(31, 5_000, ["in"], 30, 50, 9, sessionValue);
      const topology = sessionTopology("mean", 100, 50, update, 300);
      const clean = run(topology, records);
      const next = mulberry32(8);
      for (let round = 0; round < 3; round++) {
        const cuts = Array.from({ length: 1 + round * 2 }, () => 1 + (next() % (records.length - 1))).sort((a, c) => a - c);
        expect(run(topology, records, {}, cuts).out).toEqual(clean.out);
      }
    }
  });
});

type Kind = "join" | "leftJoin" | "outerJoin";

function joinTopology(kind: Kind, w: JoinWindows, joiner: (a: unknown, c: unknown) => unknown = (a, c) => ({ a, c })): Topology {
  const b = new StreamsBuilder();
  const l = b.stream("left");
  const r = b.stream("right");
  (kind === "outerJoin" ? l.outerJoin(r, joiner, w, { name: "buffer" })
    : kind === "leftJoin" ? l.leftJoin(r, joiner, w, { name: "buffer" }) : l.join(r, joiner, w, { name: "buffer" })).to("out");
  return b.build();
}

class Money { constructor(readonly cents: number) {} }

/** Values of every shape the codec writes, and some it keeps as objects (Map, class instances, bigint). */
const joinValue = (i: number, next: () => number): unknown => {
  switch (next() % 12) {
    case 0: return i;
    case 1: return -0;
    case 2: return { i, nested: { deep: [1, "ü€𝄞", null, undefined, true, false, { x: -1.5e300 }] }, nan: NaN, inf: -Infinity };
    case 3: return `text ${i} ${"ω".repeat(next() % 40)}`;
    case 4: return [i, [i * 0.5, [2 ** 31, -(2 ** 31), 2 ** 53]]];
    case 5: return { i, undef: undefined, ["__proto__"]: { own: i } };
    case 6: return new Map([["i", i]]);
    case 7: return new Money(i);
    case 8: return { i, big: BigInt(i) };
    case 9: return true;
    case 10: return { [String(i % 5)]: i, b: "x".repeat(next() % 300), a: {} };
    default: return { i, x: next() % 100 };
  }
};

describe("off-heap join buffer: the same outputs as the object buffer", () => {
  for (const kind of ["join", "leftJoin", "outerJoin"] as const) {
    for (const [before, after, grace] of [[300, 300, 0], [200, 500, 100], [0, 400, 250]] as const) {
      it(`${kind}, before ${before} / after ${after} / grace ${grace} ms: partners exactly at the window bounds, late records, values of every shape`, () => {
        const w = JoinWindows.ofTimeDifferenceAndGrace(after, grace).before(before);
        const records = stream(2000 + before + after + grace + kind.length, 6_000, ["left", "right"], 25, 50, 12, joinValue);
        const topology = joinTopology(kind, w);
        const typed = run(topology, records);
        const objects = run(topology, records, { objectStores: true });
        expect(typed.ex.stores()[0]!.typed).toBe(true);
        expect(typed.out.filter((o) => o.startsWith("out\t")).length).toBeGreaterThan(500);
        expect(typed.out.some((o) => o.startsWith("riptide-late\t"))).toBe(true);
        expect(typed.out).toEqual(objects.out);
      });
    }
  }

  it("equals a step-by-step reference at the window bounds (a left record at t joins right records in [t − before, t + after])", () => {
    const before = 150;
    const after = 300;
    const grace = 50;
    const records = stream(99, 4_000, ["left", "right"], 6, 50, 8, (i) => i);
    const got = run(joinTopology("outerJoin", JoinWindows.ofTimeDifferenceAndGrace(after, grace).before(before), (a, c) => [a ?? null, c ?? null]), records);
    type B = { key: string; t: number; v: number; side: 0 | 1; matched: boolean };
    let buf: B[] = [];
    const expected: string[] = [];
    const late: number[] = [];
    const st = new StreamTimeTracker();
    const closeAt = (side: number, t: number) => t + (side === 0 ? after : before) + grace;
    const emitUnmatched = (o: B) => { if (!o.matched) expected.push(JSON.stringify([o.key, o.side === 0 ? [o.v, null] : [null, o.v], o.t])); };
    for (const x of records) {
      const key = JSON.stringify(x.key);
      const wm = st.observe(st.partition(x.topic), x.t, 0);
      const expiring = buf.filter((o) => closeAt(o.side, o.t) < wm).sort((a, c) => closeAt(a.side, a.t) - closeAt(c.side, c.t) || a.v - c.v);
      expiring.forEach(emitUnmatched);
      buf = buf.filter((o) => closeAt(o.side, o.t) >= wm);
      const side = x.topic === "left" ? 0 : 1;
      if (closeAt(side, x.t) < wm) { late.push(x.value as number); continue; }
      const me: B = { key, t: x.t, v: x.value as number, side, matched: false };
      for (const o of buf) {
        if (o.side === side || o.key !== key) continue;
        const lt = side === 0 ? x.t : o.t;
        const rt = side === 0 ? o.t : x.t;
        if (rt < lt - before || rt > lt + after) continue;
        o.matched = me.matched = true;
        expected.push(JSON.stringify([key, side === 0 ? [me.v, o.v] : [o.v, me.v], Math.max(x.t, o.t)]));
      }
      buf.push(me);
    }
    buf.sort((a, c) => closeAt(a.side, a.t) - closeAt(c.side, c.t) || a.v - c.v).forEach(emitUnmatched);
    const outs = got.recs.filter((o) => o.topic === "out").map((o) => JSON.stringify([JSON.stringify(o.key), o.value, o.ts]));
    expect(late.length).toBeGreaterThan(20);
    expect(expected.filter((e) => !e.includes("null")).length).toBeGreaterThan(500);
    // Exact bounds occur: a pair exactly `after` and exactly `before` apart.
    expect(outs).toEqual(expected);
    expect(got.out.filter((o) => o.startsWith("riptide-late\t")).length).toBe(late.length);
  });

  it("is bounded by maxStoreEntries (StateStoreFullError at the same record as the object buffer)", () => {
    const records = stream(7, 3_000, ["left", "right"], 50, 50, 3, joinValue);
    const topology = joinTopology("outerJoin", JoinWindows.ofTimeDifferenceAndGrace(20_000, 0));
    const fail = (objectStores: boolean) => {
      const out: string[] = [];
      const ex = new TopologyExecutor(topology, (t, k, v, ts) => out.push(show(t, k, v, ts)), { maxStoreEntries: 500, objectStores });
      const time = new StreamTimeTracker();
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        try {
          ex.process(r.topic, r.key, r.value, r.t, time.observe(time.partition(r.topic), r.t, 0));
        } catch (err) {
          expect(err).toBeInstanceOf(StateStoreFullError);
          return { at: i, out, entries: ex.stores()[0]!.entries };
        }
      }
      return { at: -1, out, entries: -1 };
    };
    const typed = fail(false);
    expect(typed.at).toBeGreaterThan(0);
    expect(typed).toEqual(fail(true));
    expect(typed.entries).toBe(500);
  });

  it("compacts the arena as records expire: it holds at most twice the live bytes (plus 16 KiB), and shrinks back when empty", () => {
    const topology = joinTopology("leftJoin", JoinWindows.ofTimeDifferenceAndGrace(200, 0));
    const ex = new TopologyExecutor(topology, () => {});
    const store = (ex as unknown as { stateful: { store: OffHeapJoinStore }[] }).stateful[0]!.store;
    const next = mulberry32(3);
    let peak = 0;
    for (let i = 0; i < 50_000; i++) {
      const t = i * 10 - (next() % 150);
      ex.process(i % 2 ? "left" : "right", `k${next() % 100}`, { i, pad: "p".repeat(next() % 200) }, Math.max(0, t), i * 10 - 150);
      const u = store.arenaUsage();
      expect(u.used).toBeLessThanOrEqual(2 * u.live + 16 * 1024);
      peak = Math.max(peak, u.capacity);
    }
    const report = ex.stores()[0]!;
    expect(report.entries).toBe(store.buffered);
    // Per slot: t (8), off len key prev next (20), side matched (2), the free list (4), the close index (24); per key: 2 chains × 2 ends (16), refs (4).
    const held = store as unknown as { tOf: Float64Array; refs: Int32Array };
    expect(report.bytes).toBe(held.tOf.length * 58 + held.refs.length * 20 + store.arenaUsage().capacity);
    ex.flush();
    expect(ex.stores()[0]!.entries).toBe(0);
    expect(store.arenaUsage()).toEqual({ used: 0, live: 0, capacity: 4096 });
    expect(peak).toBeLessThan(1 << 16);
  });

  it("checkpoints round-trip (values in the arena, and those kept as objects through state-codec.ts); a class instance refuses the checkpoint", () => {
    for (const kind of ["join", "outerJoin"] as const) {
      const plain = (i: number, next: () => number): unknown => {
        const v = joinValue(i, next);
        return v instanceof Money ? { money: v.cents } : v;
      };
      const records = stream(55, 5_000, ["left", "right"], 20, 50, 10, plain);
      const topology = joinTopology(kind, JoinWindows.ofTimeDifferenceAndGrace(400, 100).before(250));
      const clean = run(topology, records);
      const next = mulberry32(9);
      for (let round = 0; round < 3; round++) {
        const cuts = Array.from({ length: 1 + round * 2 }, () => 1 + (next() % (records.length - 1))).sort((a, c) => a - c);
        expect(run(topology, records, {}, cuts).out).toEqual(clean.out);
      }
    }
    const ex = new TopologyExecutor(joinTopology("join", JoinWindows.ofTimeDifferenceWithNoGrace(1_000)), () => {});
    ex.process("left", "k", new Money(5), 10, 10);
    expect(ex.snapshot(new Float64Array(1 << 12))).toBe(-1);
    expect(ex.snapshotError).toMatch(/an instance of Money, which a checkpoint cannot write/);
  });
});

describe("checkpoints with key codes (as a shard writes them: its u32 key ids)", () => {
  it("a session store and a join buffer written with encodeKey and read with decodeKey go on as the originals", () => {
    const b = new StreamsBuilder();
    const left = b.stream("left");
    left.groupByKey().windowedBy(SessionWindows.ofInactivityGapAndGrace(200, 50)).sum("x", { retentionMs: 100 }).toStream().to("sessions");
    left.join(b.stream("right"), (a: any, c: any) => [a.x, c.x], JoinWindows.ofTimeDifferenceAndGrace(300, 50)).to("joined");
    const topology = b.build();
    const records = stream(71, 4_000, ["left", "right"], 30, 50, 9, (i, next) => ({ i, x: next() % 50 })).map((r) => ({ ...r, key: `k${JSON.stringify(r.key).replace(/\D/g, "")}` }));
    const encodeKey = (k: unknown) => Number((k as string).slice(1));
    const decodeKey = (x: number) => `k${x}`;
    const go = (cut: number | undefined) => {
      const out: string[] = [];
      const emit = (topic: string, key: unknown, value: unknown, ts: number) => out.push(show(topic, key, value, ts));
      const time = new StreamTimeTracker();
      let ex = new TopologyExecutor(topology, emit);
      for (let i = 0; i < records.length; i++) {
        if (i === cut) {
          const words = new Float64Array(1 << 18);
          const n = ex.snapshot(words, encodeKey);
          expect(n, ex.snapshotError).toBeGreaterThan(0);
          const next = new TopologyExecutor(topology, emit);
          next.restore(words.subarray(0, n), decodeKey);
          expect(next.stores()).toEqual(ex.stores());
          expect(ex.stores().every((s) => s.typed && s.entries > 0)).toBe(true);
          ex = next;
        }
        const r = records[i]!;
        ex.process(r.topic, r.key, r.value, r.t, time.observe(time.partition(r.topic), r.t, 0));
      }
      ex.flush();
      return out;
    };
    const clean = go(undefined);
    expect(clean.length).toBeGreaterThan(500);
    for (const cut of [1_000, 2_345, 3_999]) expect(go(cut)).toEqual(clean);
  });
});

describe("off-heap join buffer: the value codec", () => {
  it("gives back what it was given (deep equal, -0, NaN, undefined properties, an own __proto__ property), as a copy", () => {
    const store = new OffHeapJoinStore(1_000, "codec", [false, false], [1e9, 1e9]);
    const next = mulberry32(12);
    const values: unknown[] = [];
    for (let i = 0; i < 500; i++) {
      const v = joinValue(i, next);
      values.push(v);
      store.insert(`k${i % 13}`, v, i, i % 2, false);
    }
    const seen: unknown[] = [];
    for (let k = 0; k < 13; k++) {
      for (const side of [0, 1]) {
        for (let s = store.first(store.keys.find(`k${k}`), side); s !== -1; s = store.nextOf(s)) seen[store.timeOf(s)] = store.value(s);
      }
    }
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      expect(seen[i]).toEqual(v);
      if (v !== null && typeof v === "object" && !(v instanceof Map) && !(v instanceof Money) && !("big" in v)) expect(seen[i]).not.toBe(v);
      if (Object.is(v, -0)) expect(Object.is(seen[i], -0)).toBe(true);
    }
    // A string UTF-8 cannot hold (a lone surrogate) is not written lossily: the value is kept as it is.
    const odd = { s: "x\uD800y".repeat(30) };
    store.insert("odd", odd, 1_000, 0, false);
    expect(store.value(store.first(store.keys.find("odd"), 0))).toBe(odd);
  });
});

describe("SlotHeap: the typed close-time index", () => {
  it("pops in (close time, seq) order under random pushes, removals from the middle and pops, as a sorted list does", () => {
    const next = mulberry32(4);
    const heap = new SlotHeap(4);
    const ref: { s: number; at: number; seq: number }[] = [];
    const free: number[] = [];
    let slots = 0;
    let seq = 0;
    for (let op = 0; op < 20_000; op++) {
      const r = next() % 10;
      if (r < 5 || ref.length === 0) {
        const s = free.pop() ?? slots++;
        const at = 1.7e12 + (next() % 500); // ties in close time are broken by seq
        heap.push(s, at, seq);
        ref.push({ s, at, seq: seq++ });
      } else if (r < 7) {
        const i = next() % ref.length;
        heap.remove(ref[i]!.s);
        free.push(ref[i]!.s);
        ref.splice(i, 1);
      } else {
        ref.sort((a, b) => a.at - b.at || a.seq - b.seq);
        const first = ref.shift()!;
        expect(heap.dueBy(first.at)).toBe(true);
        expect(heap.dueBefore(first.at)).toBe(false);
        expect(heap.pop()).toBe(first.s);
        free.push(first.s);
      }
      expect(heap.size).toBe(ref.length);
    }
  });
});
