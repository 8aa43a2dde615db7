/**
 * Seeded random streams with out-of-order and late records: every window type, aggregate and join
 * equals a plain reference implementation written here from the definitions, with 1 shard and with
 * 3 shards (records routed by key, one watermark computed where records enter).
 */
import { describe, expect, it } from "vitest";
import { JoinWindows, SessionWindows, SlidingWindows, StreamsBuilder, TimeWindows, type Topology } from "../../src/index.js";
import { mulberry32 } from "../support/random.js";
import { canonical, ShardedRun } from "./sharded.js";

interface Rec { key: string; value: number; t: number }

/**
 * n records over `keys` keys, timestamps advancing by ~step with ±disorder jitter: a record can be
 * up to 2 × disorder behind the largest timestamp before it.
 */
function stream(seed: number, n: number, keys: number, step: number, disorder: number): Rec[] {
  const next = mulberry32(seed);
  const out: Rec[] = [];
  for (let i = 0; i < n; i++) {
    const jitter = (next() % (2 * disorder + 1)) - disorder;
    out.push({ key: `k${next() % keys}`, value: next() % 100, t: Math.max(0, 100_000 + i * step + jitter) });
  }
  return out;
}

function run(topology: Topology, shards: number, inputs: { topic: string; recs: Rec[] }[]): ShardedRun {
  const r = new ShardedRun(topology, shards);
  const merged = inputs.flatMap(({ topic, recs }) => recs.map((rec, i) => ({ topic, rec, i })));
  merged.sort((a, b) => a.i - b.i || (a.topic < b.topic ? -1 : 1)); // interleave the topics record by record
  for (const { topic, rec } of merged) r.pipe(topic, rec.key, rec.value, rec.t);
  r.flush();
  return r;
}

const SHARDS = [1, 3];

describe("time windows against the reference", () => {
  // A record is in window W iff at its arrival the watermark (largest timestamp so far, itself
  // included) is below W.end + grace; the final result of W counts and sums those records.
  function reference(recs: Rec[], size: number, advance: number, grace: number) {
    const windows = new Map<string, { key: string; start: number; count: number; sum: number; ts: number }>();
    const late: number[] = [];
    let wm = -Infinity;
    recs.forEach((r, i) => {
      wm = Math.max(wm, r.t);
      let missed = false;
      for (let start = 0; start <= r.t; start += advance) {
        if (r.t >= start + size) continue;
        if (start + size + grace <= wm) { missed = true; continue; }
        const id = `${r.key}@${start}`;
        const w = windows.get(id) ?? { key: r.key, start, count: 0, sum: 0, ts: -Infinity };
        w.count++;
        w.sum += r.value;
        w.ts = Math.max(w.ts, r.t);
        windows.set(id, w);
      }
      if (missed) late.push(i);
    });
    return { windows: [...windows.values()], late };
  }

  const cases = [
    { name: "tumbling", size: 10_000, advance: 10_000, grace: 2_000 },
    { name: "hopping 10 min / 1 min", size: 600_000, advance: 60_000, grace: 0 },
    { name: "hopping with grace", size: 5_000, advance: 1_000, grace: 1_500 },
  ];
  for (const c of cases) {
    for (const shards of SHARDS) {
      it(`${c.name}: count (typed store), sum (object store) and late records, ${shards} shard(s)`, () => {
        const recs = stream(c.size + shards, 3_000, 13, c.size / 40, c.size / 4);
        const b = new StreamsBuilder();
        let w = TimeWindows.ofSizeAndGrace(c.size, c.grace);
        if (c.advance !== c.size) w = w.advanceBy(c.advance);
        const g = b.stream<number, string>("in").groupByKey().windowedBy(w);
        g.count({ late: "late-count" }).toStream().to("count");
        g.aggregate(() => 0, (_k, v, a: number) => a + v, { late: "late-sum" }).toStream().to("sum");
        const r = run(b.build(), shards, [{ topic: "in", recs }]);
        const ref = reference(recs, c.size, c.advance, c.grace);
        expect(ref.late.length).toBeGreaterThan(0);
        expect(ref.windows.length).toBeGreaterThan(50);
        expect(canonical(r.topic("count").map((o) => [o.key, o.windowStart, o.windowEnd, o.value, o.timestamp])))
          .toEqual(canonical(ref.windows.map((w) => [w.key, w.start, w.start + c.size, w.count, w.ts])));
        expect(canonical(r.topic("sum").map((o) => [o.key, o.windowStart, o.value])))
          .toEqual(canonical(ref.windows.map((w) => [w.key, w.start, w.sum])));
        const lateTs = (topic: string) => canonical(r.topic(topic).map((o) => (o.value as { timestamp: number }).timestamp));
        const refLate = canonical(ref.late.map((i) => recs[i]!.t));
        expect(lateTs("late-count")).toEqual(refLate);
        expect(lateTs("late-sum")).toEqual(refLate);
      });
    }
  }
});

describe("sliding and session windows against the reference (grace above twice the jitter: nothing is late)", () => {
  for (const shards of SHARDS) {
    it(`sliding windows: Kafka Streams' window set over all records, ${shards} shard(s)`, () => {
      const d = 5_000;
      const recs = stream(7 + shards, 1_500, 9, 900, 2_000);
      const b = new StreamsBuilder();
      b.stream<number, string>("in").groupByKey().windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(d, 4_001)).count().toStream().to("out");
      const r = run(b.build(), shards, [{ topic: "in", recs }]);
      expect(r.topic("riptide-late")).toEqual([]);
      const expected: unknown[] = [];
      for (const key of new Set(recs.map((x) => x.key))) {
        const ts = recs.filter((x) => x.key === key).map((x) => x.t);
        const starts = new Set<number>();
        for (const t of ts) {
          starts.add(t - d);
          if (ts.some((u) => u > t && u <= t + d)) starts.add(t + 1);
        }
        for (const s of starts) {
          const inside = ts.filter((t) => t >= s && t <= s + d);
          expected.push([key, s, s + d, inside.length, Math.max(...inside)]);
        }
      }
      expect(expected.length).toBeGreaterThan(1_500);
      expect(canonical(r.topic("out").map((o) => [o.key, o.windowStart, o.windowEnd, o.value, o.timestamp]))).toEqual(canonical(expected));
    });

    it(`session windows: sorted timestamps split where the gap is exceeded, ${shards} shard(s)`, () => {
      const gap = 30_000;
      const recs = stream(11 + shards, 2_000, 17, 1_500, 5_000);
      const b = new StreamsBuilder();
      b.stream<number, string>("in").groupByKey().windowedBy(SessionWindows.ofInactivityGapAndGrace(gap, 10_001))
        .aggregate(() => [0, 0], (_k, v, a: number[]) => [a[0]! + 1, a[1]! + v], (_k, a: number[], c: number[]) => [a[0]! + c[0]!, a[1]! + c[1]!])
        .toStream().to("out");
      const r = run(b.build(), shards, [{ topic: "in", recs }]);
      expect(r.topic("riptide-late")).toEqual([]);
      const expected: unknown[] = [];
      for (const key of new Set(recs.map((x) => x.key))) {
        const mine = recs.filter((x) => x.key === key).sort((a, b) => a.t - b.t);
        let cur = [mine[0]!];
        const close = () => expected.push([key, cur[0]!.t, cur.at(-1)!.t, [cur.length, cur.reduce((s, x) => s + x.value, 0)]]);
        for (const x of mine.slice(1)) {
          if (x.t - cur.at(-1)!.t > gap) { close(); cur = [x]; } else cur.push(x);
        }
        close();
      }
      expect(expected.length).toBeGreaterThan(30);
      expect(canonical(r.topic("out").map((o) => [o.key, o.windowStart, o.windowEnd, o.value]))).toEqual(canonical(expected));
    });
  }
});

describe("stream-stream joins against the reference (grace above twice the jitter)", () => {
  for (const kind of ["join", "leftJoin", "outerJoin"] as const) {
    for (const shards of SHARDS) {
      it(`${kind}: all pairs within the window, plus the unmatched side(s) with null, ${shards} shard(s)`, () => {
        const d = 60_000;
        const left = stream(21 + shards, 600, 25, 6_000, 10_000).map((x, i) => ({ ...x, value: i }));
        const right = stream(31 + shards, 600, 25, 6_000, 10_000).map((x, i) => ({ ...x, value: 1_000 + i }));
        const b = new StreamsBuilder();
        const l = b.stream<number, string>("left");
        const rs = b.stream<number, string>("right");
        const joiner = (a: number | null, c: number | null) => [a, c];
        const w = JoinWindows.ofTimeDifferenceAndGrace(d, 20_001);
        (kind === "outerJoin" ? l.outerJoin(rs, joiner, w) : kind === "leftJoin" ? l.leftJoin(rs, joiner, w) : l.join(rs, joiner, w)).to("out");
        const r = run(b.build(), shards, [{ topic: "left", recs: left }, { topic: "right", recs: right }]);
        expect(r.topic("riptide-late")).toEqual([]);
        const expected: unknown[] = [];
        const matchedL = new Set<number>();
        const matchedR = new Set<number>();
        for (const x of left) {
          for (const y of right) {
            if (x.key === y.key && Math.abs(x.t - y.t) <= d) {
              expected.push([x.key, [x.value, y.value], Math.max(x.t, y.t)]);
              matchedL.add(x.value);
              matchedR.add(y.value);
            }
          }
        }
        if (kind !== "join") for (const x of left) if (!matchedL.has(x.value)) expected.push([x.key, [x.value, null], x.t]);
        if (kind === "outerJoin") for (const y of right) if (!matchedR.has(y.value)) expected.push([y.key, [null, y.value], y.t]);
        expect(matchedL.size).toBeGreaterThan(100);
        expect(matchedL.size).toBeLessThan(left.length);
        expect(canonical(r.topic("out").map((o) => [o.key, o.value, o.timestamp]))).toEqual(canonical(expected));
      });
    }
  }
});

describe("sessions and joins with late records against a step-by-step reference", () => {
  for (const shards of SHARDS) {
    it(`session windows: closed sessions are final, records behind them are late, ${shards} shard(s)`, () => {
      const gap = 20_000;
      const grace = 3_000;
      const recs = stream(41 + shards, 2_000, 11, 2_000, 8_000);
      const b = new StreamsBuilder();
      b.stream<number, string>("in").groupByKey().windowedBy(SessionWindows.ofInactivityGapAndGrace(gap, grace)).count().toStream().to("out");
      const r = run(b.build(), shards, [{ topic: "in", recs }]);
      // Reference: on each arrival, sessions whose end + gap + grace ≤ watermark are closed (final);
      // a record is late if its own session would be closed or it falls within the gap of a closed one.
      type S = { key: string; start: number; end: number; count: number };
      let open: S[] = [];
      const closed: S[] = [];
      const late: number[] = [];
      let wm = -Infinity;
      for (const x of recs) {
        wm = Math.max(wm, x.t);
        for (const s of open.filter((s) => s.end + gap + grace <= wm)) closed.push(s);
        open = open.filter((s) => s.end + gap + grace > wm);
        if (x.t + gap + grace <= wm || closed.some((c) => c.key === x.key && x.t >= c.start - gap && x.t <= c.end + gap)) {
          late.push(x.t);
          continue;
        }
        const merged = open.filter((s) => s.key === x.key && s.end >= x.t - gap && s.start <= x.t + gap);
        open = open.filter((s) => !merged.includes(s));
        open.push({
          key: x.key, start: Math.min(x.t, ...merged.map((s) => s.start)), end: Math.max(x.t, ...merged.map((s) => s.end)),
          count: 1 + merged.reduce((a, s) => a + s.count, 0),
        });
      }
      const all = [...closed, ...open];
      expect(late.length).toBeGreaterThan(10);
      expect(all.some((s) => s.count > 1)).toBe(true);
      expect(canonical(r.topic("out").map((o) => [o.key, o.windowStart, o.windowEnd, o.value]))).toEqual(canonical(all.map((s) => [s.key, s.start, s.end, s.count])));
      expect(canonical(r.topic("riptide-late").map((o) => (o.value as { timestamp: number }).timestamp))).toEqual(canonical(late));
    });

    it(`outer join: records join only other-side records whose window is open on arrival; closed windows are late, ${shards} shard(s)`, () => {
      const d = 6_000;
      const grace = 1_000;
      const left = stream(51 + shards, 700, 4, 3_000, 9_000).map((x, i) => ({ ...x, value: i }));
      const right = stream(61 + shards, 700, 4, 3_000, 9_000).map((x, i) => ({ ...x, value: 1_000 + i }));
      const b = new StreamsBuilder();
      b.stream<number, string>("left").outerJoin(b.stream<number, string>("right"), (a, c) => [a, c], JoinWindows.ofTimeDifferenceAndGrace(d, grace)).to("out");
      const r = run(b.build(), shards, [{ topic: "left", recs: left }, { topic: "right", recs: right }]);
      // Reference: the same arrival order and watermark as run(): one record of each topic in turn.
      type B = Rec & { side: 0 | 1; matched: boolean };
      const buffered: B[] = [];
      const expected: unknown[] = [];
      const late: number[] = [];
      const st = [-Infinity, -Infinity];
      for (let i = 0; i < left.length; i++) {
        for (const [side, x] of [[0, left[i]!], [1, right[i]!]] as const) {
          st[side] = Math.max(st[side]!, x.t);
          const wm = st[0] === -Infinity ? st[1]! : st[1] === -Infinity ? st[0]! : Math.min(st[0]!, st[1]!);
          for (const o of buffered.filter((o) => o.t + d + grace < wm)) {
            if (!o.matched) expected.push([o.key, o.side === 0 ? [o.value, null] : [null, o.value], o.t]);
          }
          const keep = buffered.filter((o) => o.t + d + grace >= wm);
          buffered.length = 0;
          buffered.push(...keep);
          if (x.t + d + grace < wm) { late.push(x.value); continue; }
          const me: B = { ...x, side, matched: false };
          for (const o of buffered) {
            if (o.side !== side && o.key === x.key && Math.abs(o.t - x.t) <= d) {
              o.matched = me.matched = true;
              expected.push([x.key, side === 0 ? [x.value, o.value] : [o.value, x.value], Math.max(x.t, o.t)]);
            }
          }
          buffered.push(me);
        }
      }
      for (const o of buffered) if (!o.matched) expected.push([o.key, o.side === 0 ? [o.value, null] : [null, o.value], o.t]);
      expect(late.length).toBeGreaterThan(10);
      expect(expected.filter((e) => !(e as [string, unknown[]])[1].includes(null)).length).toBeGreaterThan(100);
      expect(canonical(r.topic("out").map((o) => [o.key, o.value, o.timestamp]))).toEqual(canonical(expected));
      expect(canonical(r.topic("riptide-late").map((o) => (o.value as { value: number }).value))).toEqual(canonical(late));
    });
  }
});
