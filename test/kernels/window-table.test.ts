import { describe, expect, it } from "vitest";
import { WindowTable, type WindowSink } from "../../src/kernels/window-table.js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Collect implements WindowSink {
  readonly rows: string[] = [];
  window(key: number, start: number, count: number, sum: number, n: number, min: number, max: number): void {
    this.rows.push(`${key}|${start}|${count}|${sum}|${n}|${min}|${max}`);
  }
}

describe("WindowTable", () => {
  it.each([1, 2, 3])("matches a Map reference through growth and many closes (seed %i)", (seed) => {
    const r = rng(seed);
    const size = 1000;
    const grace = 300;
    const table = new WindowTable({ sizeMs: size, graceMs: grace, initialCapacity: 16 });
    const ref = new Map<string, { key: number; start: number; count: number; sum: number; n: number; min: number; max: number }>();
    const got = new Collect();
    const want: string[] = [];
    let t = 0;
    let wm = -Infinity;
    for (let i = 0; i < 200_000; i++) {
      t += r() * 3;
      const ts = Math.floor(t - r() * 500);
      const start = Math.floor(ts / size) * size;
      if (start + size + grace <= wm) continue; // late: the caller never adds these
      const key = Math.floor(r() * r() * 3000);
      const v = r() < 0.1 ? NaN : Math.round(r() * 1e6);
      table.add(key, start, v);
      const k = `${key}|${start}`;
      let e = ref.get(k);
      if (!e) ref.set(k, (e = { key, start, count: 0, sum: 0, n: 0, min: Infinity, max: -Infinity }));
      e.count++;
      if (v === v) { e.sum += v; e.n++; e.min = Math.min(e.min, v); e.max = Math.max(e.max, v); }
      if (i % 997 === 0) {
        wm = Math.max(wm, t - 400);
        table.closeUpTo(wm, got);
        for (const [kk, x] of ref) {
          if (x.start + size + grace <= wm) {
            want.push(`${x.key}|${x.start}|${x.count}|${x.sum}|${x.n}|${x.min}|${x.max}`);
            ref.delete(kk);
          }
        }
        expect(table.size).toBe(ref.size);
      }
    }
    table.closeUpTo(Infinity, got);
    for (const x of ref.values()) want.push(`${x.key}|${x.start}|${x.count}|${x.sum}|${x.n}|${x.min}|${x.max}`);
    expect(got.rows.sort()).toEqual(want.sort());
    expect(table.size).toBe(0);
    expect(table.nextCloseAt).toBe(Infinity);
  });

  it("emits nothing before a window's end + grace and exactly once after", () => {
    const table = new WindowTable({ sizeMs: 60_000, graceMs: 10_000 });
    const sink = new Collect();
    table.add(7, 0, 5);
    table.add(7, 0, 7);
    expect(table.closeUpTo(69_999, sink)).toBe(0);
    expect(table.nextCloseAt).toBe(70_000);
    expect(table.closeUpTo(70_000, sink)).toBe(1);
    expect(sink.rows).toEqual(["7|0|2|12|2|5|7"]);
    expect(table.closeUpTo(1e9, sink)).toBe(0);
  });
});

describe("hopping windows", () => {
  it("puts a record in every window covering it (10 min advancing by 1 min), aggregated like a Map reference", async () => {
    const { hoppingWindowStarts } = await import("../../src/kernels/window-table.js");
    const size = 600_000;
    const advance = 60_000;
    const table = new WindowTable({ sizeMs: size, graceMs: 0 });
    const ref = new Map<string, number>();
    const starts = new Float64Array(16);
    const r = rng(9);
    let t = 1_700_000_000_000;
    for (let i = 0; i < 50_000; i++) {
      t += Math.floor(r() * 100);
      const key = Math.floor(r() * 50);
      const n = hoppingWindowStarts(t, size, advance, starts);
      expect(n).toBe(10);
      for (let k = 0; k < n; k++) {
        const s = starts[k]!;
        expect(s <= t && t < s + size && s % advance === 0).toBe(true);
        table.add(key, s, 1);
        ref.set(`${key}|${s}`, (ref.get(`${key}|${s}`) ?? 0) + 1);
      }
    }
    const got = new Collect();
    table.closeUpTo(Infinity, got);
    const counts = new Map(got.rows.map((row) => { const [k, s, c] = row.split("|"); return [`${k}|${s}`, Number(c)]; }));
    expect(counts).toEqual(ref);
  });

  it("tumbling is hopping with advance = size; uneven advances still cover exactly", async () => {
    const { hoppingWindowStarts } = await import("../../src/kernels/window-table.js");
    const out = new Float64Array(16);
    expect(hoppingWindowStarts(125_000, 60_000, 60_000, out)).toBe(1);
    expect(out[0]).toBe(120_000);
    expect(hoppingWindowStarts(120_000, 60_000, 60_000, out)).toBe(1);
    expect(out[0]).toBe(120_000);
    const n = hoppingWindowStarts(100_000, 70_000, 30_000, out);
    expect([...out.subarray(0, n)]).toEqual([60_000, 90_000]); // [30000,100000) excludes 100000
  });
});
