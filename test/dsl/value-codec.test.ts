/**
 * The value codec's object reads (value-codec.ts: objects built by a constructor per shape of
 * property names): values of every shape come back equal, with their own properties in their
 * order, a plain prototype and `__proto__` as an own property; through SlotValues without a cache
 * (value-slots.ts), so every get() reads the bytes.
 */
import { describe, expect, it } from "vitest";
import { SlotValues } from "../../src/dsl/value-slots.js";
import { mulberry32 } from "../support/random.js";

function roundTrip(values: unknown[]): unknown[] {
  const st = new SlotValues(values.length, 4096, 0);
  values.forEach((v, s) => st.set(s, v));
  return values.map((_, s) => st.get(s));
}

/** Own keys in order, recursively, and whether every object is plain: what toEqual does not check. */
function layout(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(layout);
  if (v === null || typeof v !== "object") return typeof v;
  return { proto: Object.getPrototypeOf(v) === Object.prototype, keys: Reflect.ownKeys(v), values: Object.values(v).map(layout) };
}

describe("value codec: objects read back by shape", () => {
  it("gives back equal values of many shapes, nested at every depth, in their key order", () => {
    const next = mulberry32(3);
    const names = ["a", "b", "views", "bytes", "last", "0", "12", "x y", "é", ""];
    const make = (depth: number): unknown => {
      const r = next() % 8;
      if (depth > 3 || r < 2) return [null, true, -0, 1.5, 7, "s", "ü", undefined][next() % 8];
      if (r < 4) return Array.from({ length: next() % 4 }, () => make(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = next() % 5; i > 0; i--) o[names[next() % names.length]!] = make(depth + 1);
      return o;
    };
    const values = Array.from({ length: 3_000 }, () => make(0));
    const back = roundTrip(values);
    expect(back).toEqual(values);
    expect(back.map(layout)).toEqual(values.map(layout));
  });

  it("reads `__proto__` as an own property (never the prototype), and objects of more properties than a shape takes", () => {
    const proto = JSON.parse('{"a": 1, "__proto__": {"polluted": true}, "b": 2}') as Record<string, unknown>;
    const wide = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, i]));
    const [p1, p2, w1, w2] = roundTrip([proto, { nested: proto }, wide, { wide }]) as Record<string, unknown>[];
    for (const p of [p1!, (p2 as { nested: Record<string, unknown> }).nested]) {
      expect(Object.getPrototypeOf(p)).toBe(Object.prototype);
      expect(Reflect.ownKeys(p)).toEqual(["a", "__proto__", "b"]);
      expect(Object.getOwnPropertyDescriptor(p, "__proto__")!.value).toEqual({ polluted: true });
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(w1).toEqual(wide);
    expect(Object.keys(w1!)).toEqual(Object.keys(wide));
    expect(w2).toEqual({ wide });
  });

  it("reads objects of more shapes than it makes constructors for (keys that are data: one shape a value)", () => {
    const values = Array.from({ length: 3_000 }, (_, i) => ({ [`user-${i}`]: i, [`user-${(i * 7) % 3_000}`]: { at: i }, total: i }));
    const st = new SlotValues(values.length, 4096, 0);
    values.forEach((v, s) => st.set(s, v));
    for (let round = 0; round < 2; round++) {
      values.forEach((v, s) => {
        const back = st.get(s);
        expect(back).toEqual(v);
        expect(Object.keys(back as object)).toEqual(Object.keys(v));
      });
    }
  });

  it("reads objects whose names are written inline once the name table is full", () => {
    const st = new SlotValues(3, 4096, 0);
    // 65 535 distinct names fill the table (0xFFFF means "inline").
    const filler: Record<string, number> = {};
    for (let i = 0; i < 65_535; i++) filler[`n${i}`] = i;
    st.set(0, filler);
    const late = { n5: 1, fresh: 2, other: { fresh: 3, n7: 4 } };
    st.set(1, late);
    st.set(2, { n5: 9, fresh: 8, other: { fresh: 7, n7: 6 } });
    expect(st.get(1)).toEqual(late);
    expect(Object.keys(st.get(1) as object)).toEqual(["n5", "fresh", "other"]);
    expect(st.get(2)).toEqual({ n5: 9, fresh: 8, other: { fresh: 7, n7: 6 } });
    expect(Object.keys(st.get(0) as object).length).toBe(65_535);
  });
});
