/**
 * What the object session store and the off-heap join buffer report as the memory they hold: the
 * session store rebuilds its close-time heap when the sessions merged away (left in it until their
 * close time) outnumber the live ones, and counts those still there; the join buffer counts a value
 * it keeps as an object by heap-size.ts's estimate of it.
 */
import { describe, expect, it } from "vitest";
import { SessionWindows, StreamsBuilder, TopologyExecutor } from "../../src/index.js";
import { OffHeapJoinStore } from "../../src/dsl/join-store.js";
import { heapBytes } from "../../src/dsl/heap-size.js";
import { mulberry32 } from "../support/random.js";

const GAP = 1_000;

function sessions(emit: (topic: string, key: unknown, value: unknown, ts: number) => void, objectStores: boolean): TopologyExecutor {
  const b = new StreamsBuilder();
  b.stream("in").groupByKey().windowedBy(SessionWindows.ofInactivityGapAndGrace(GAP, 0)).count({ name: "s" }).toStream().to("out");
  return new TopologyExecutor(b.build(), emit, { objectStores });
}

const report = (ex: TopologyExecutor) => ex.stores()[0]!;

describe("object session store: merged-away sessions", () => {
  it("are counted while in the heap; once they outnumber the live ones the heap is rebuilt and the report drops back", () => {
    const ex = sessions(() => {}, true);
    const KEYS = 100;
    // One session per key, all open (the watermark stays at 0).
    for (let k = 0; k < KEYS; k++) ex.process("in", `u${k}`, 1, 0, 0);
    const first = report(ex);
    expect(first).toMatchObject({ kind: "session", entries: KEYS, typed: false });
    // Each record within the gap of its key's session merges it: the old session is left in the heap.
    for (let k = 0; k < KEYS; k++) ex.process("in", `u${k}`, 1, 1, 0);
    const dead = report(ex);
    expect(dead.entries).toBe(KEYS);
    expect(dead.bytes).toBeGreaterThan(first.bytes + KEYS * 64);
    // One more: dead (101) > live (100), the heap is rebuilt from the live sessions.
    ex.process("in", "u0", 1, 2, 0);
    const rebuilt = report(ex);
    expect(rebuilt.entries).toBe(KEYS);
    expect(rebuilt.bytes).toBeLessThan(dead.bytes - KEYS * 64);
    expect(rebuilt.bytes).toBeLessThanOrEqual(first.bytes);
    // Many more merges (50 per key): the heap holds at most about as many dead as live.
    for (let i = 0; i < 50 * KEYS; i++) ex.process("in", `u${i % KEYS}`, 1, 3 + Math.floor(i / KEYS), 0);
    const after = report(ex);
    expect(after.entries).toBe(KEYS);
    expect(after.bytes).toBeLessThan(2 * first.bytes);
  });

  it("a checkpoint rebuilds the heap: the original and the restored store report the same, and go on with the same outputs and reports", () => {
    const next = mulberry32(5);
    const records: { key: string; t: number }[] = [];
    for (let i = 0; i < 4_000; i++) records.push({ key: `u${next() % 30}`, t: Math.max(0, i * 20 - (next() % 400)) });
    const typed: string[] = [];
    const a: string[] = [];
    const b: string[] = [];
    const into = (out: string[]) => (_topic: string, key: unknown, value: unknown, ts: number) => out.push(`${String(key)} ${String(value)} ${ts}`);
    const ref = sessions(into(typed), false);
    const ex = sessions(into(a), true);
    let restored: TopologyExecutor | undefined;
    let wm = -Infinity;
    const words = new Float64Array(1 << 18);
    let compared = 0;
    for (let i = 0; i < records.length; i++) {
      const { key, t } = records[i]!;
      wm = Math.max(wm, t);
      ref.process("in", key, 1, t, wm);
      ex.process("in", key, 1, t, wm);
      restored?.process("in", key, 1, t, wm);
      if (i === 1_500) {
        const held = report(ex).bytes;
        const n = ex.snapshot(words);
        expect(n, ex.snapshotError).toBeGreaterThan(0);
        // Merged-away sessions were in the heap (30 keys, a record every 20 ms, gap 1 s) and are gone.
        expect(report(ex).bytes).toBeLessThan(held);
        restored = sessions(into(b), true);
        restored.restore(words.slice(0, n));
        expect(report(restored)).toEqual(report(ex));
        a.length = 0;
      }
      if (restored && i % 97 === 0) {
        expect(report(restored)).toEqual(report(ex));
        compared++;
      }
    }
    for (const x of [ref, ex, restored!]) x.flush();
    expect(compared).toBeGreaterThan(20);
    expect(b.length).toBeGreaterThan(100);
    expect(b).toEqual(a);
    expect(typed.slice(typed.length - a.length)).toEqual(a);
  });
});

describe("off-heap join buffer: values kept as objects", () => {
  it("are reported by their estimated size, the same after a restore, and no longer once they expire", () => {
    const store = new OffHeapJoinStore(1_000, "j", [false, false], [100, 100]);
    const empty = store.bytes;
    // A Map is not written by the value codec: kept as the object.
    const big = new Map(Array.from({ length: 1_000 }, (_, i) => [`key-${i}`, { i, x: i + 0.5 }] as const));
    store.insert("a", big, 0, 0, false);
    store.insert("b", { ok: 1 }, 0, 1, false);
    expect(store.onHeap).toBe(1);
    const withBig = store.bytes;
    expect(withBig - empty).toBeGreaterThanOrEqual(heapBytes(big));
    expect(heapBytes(big)).toBeGreaterThan(1_000 * 100);
    const words = new Float64Array(1 << 16);
    const n = store.exportTo(words, 0, () => NaN);
    expect(n).toBeGreaterThan(0);
    const copy = new OffHeapJoinStore(1_000, "j", [false, false], [100, 100]);
    copy.importFrom(words, 0, () => undefined);
    expect(copy.bytes).toBe(withBig);
    store.advance(1_000);
    expect(store.onHeap).toBe(0);
    expect(store.bytes).toBeLessThan(withBig - heapBytes(big) + 1);
  });
});

describe("heapBytes", () => {
  it("counts an object reached twice within a value once (cycles included) and returns", () => {
    const o: Record<string, unknown> = { n: 1 };
    o.a = o;
    o.b = o;
    // Without the guard: 2^32 visits.
    let deep: unknown = o;
    for (let i = 0; i < 40; i++) deep = { l: deep, r: deep };
    expect(heapBytes(o)).toBe(24 + 3 * 8);
    expect(heapBytes(deep)).toBe(32 * (24 + 2 * 8)); // levels past MAX_DEPTH (32) count 0
    const shared = { s: "x".repeat(100) };
    expect(heapBytes([shared, shared])).toBe(48 + 16 + heapBytes(shared));
  });
});
