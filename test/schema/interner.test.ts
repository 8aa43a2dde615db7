/**
 * Interner.internBytes (the frame decoder's path): the id of UTF-8 bytes is the id intern() gives
 * their decoded text, across table growth, mixed with intern() calls, after loadNames() (a restore:
 * the byte index must not keep ids of the table it replaced), and through a subclass's intern().
 */
import { describe, expect, it } from "vitest";
import { Interner } from "../../src/schema/interner.js";
import { mulberry32 } from "../support/random.js";
import { SharedInterner, createStringTable } from "../../src/dsl/shared-strings.js";

const utf8 = (s: string): Buffer => Buffer.from(s, "utf8");

/** `s`'s bytes at an odd offset of a larger buffer, as in a frame's string table. */
function internAt(it: Interner, s: string): number {
  const b = Buffer.concat([Buffer.from([0xff, 0x00, 0x41]), utf8(s), Buffer.from([0x42])]);
  return it.internBytes(b, 3, b.length - 4);
}

describe("Interner.internBytes", () => {
  it("gives the ids intern() gives, across growth, ASCII and not, mixed with intern()", () => {
    const it = new Interner();
    const strings: string[] = [];
    for (let i = 0; i < 5000; i++) strings.push(i % 3 === 0 ? `drv-${i}` : i % 3 === 1 ? `förare-${i}-☃` : `司机${i}🚕`);
    const ids = strings.map((s, i) => (i % 2 === 0 ? internAt(it, s) : it.intern(s)));
    expect(new Set(ids).size).toBe(strings.length);
    for (let r = 0; r < 2; r++) {
      strings.forEach((s, i) => {
        expect(internAt(it, s)).toBe(ids[i]);
        expect(it.intern(s)).toBe(ids[i]);
        expect(it.name(ids[i]!)).toBe(s);
      });
    }
    expect(it.size).toBe(strings.length);
  });

  it("tells apart strings that differ only past the 16 bytes kept in a slot, only in length, or only by trailing NULs", () => {
    const it = new Interner();
    const strings: string[] = [];
    const base = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (let len = 1; len <= base.length; len++) {
      strings.push(base.slice(0, len)); // each a prefix of the next
      strings.push(base.slice(0, len - 1) + "#"); // differs in its last byte only
    }
    strings.push("a\u0000", "a\u0000\u0000", "abcdefghijklmnop\u0000", "abcdefghijklmnop\u0000\u0000"); // words are zero-padded
    const unique = [...new Set(strings)];
    const ids = unique.map((s) => internAt(it, s));
    expect(new Set(ids).size).toBe(unique.length);
    unique.forEach((s, i) => {
      expect(internAt(it, s)).toBe(ids[i]);
      expect(it.intern(s)).toBe(ids[i]);
      expect(it.name(ids[i]!)).toBe(s);
    });
  });

  it("tells apart strings whose 32-bit hashes collide (300 000 random short and 300 000 random long strings)", () => {
    // Only a full hash collision (same length too) reaches the byte compare. Among n random strings
    // of one length about n² / 2³³ pairs collide: 8 and 10 with these seeds. Short ones are told
    // apart within their slot, long ones (one 16-byte prefix for all) past it, in the arena.
    const next = mulberry32(7);
    const random = (n: number): string => {
      let s = "";
      for (let j = 0; j < n; j++) s += String.fromCharCode(33 + (next() % 94));
      return s;
    };
    for (const make of [() => random(12), () => `abcdefghijklmnop${random(8)}`]) {
      const it = new Interner();
      const expected = new Map<string, number>();
      let wrong = 0;
      for (let i = 0; i < 300_000; i++) {
        const s = make();
        const want = expected.get(s) ?? expected.size + 1;
        expected.set(s, want);
        const b = utf8(s);
        if (it.internBytes(b, 0, b.length) !== want) wrong++;
      }
      expect(wrong).toBe(0);
      expect(it.size).toBe(expected.size);
    }
  });

  it("returns 0 for no bytes, and decodes malformed UTF-8 as Buffer#toString does", () => {
    const it = new Interner();
    expect(it.internBytes(Buffer.from("abc"), 1, 0)).toBe(0);
    const bad = Buffer.from([0x61, 0xc3, 0x28, 0x62]);
    const id = it.internBytes(bad, 0, bad.length);
    expect(it.name(id)).toBe(bad.toString("utf8"));
    expect(it.intern(bad.toString("utf8"))).toBe(id);
  });

  it("forgets byte keys of the table loadNames() replaces", () => {
    const it = new Interner();
    internAt(it, "a");
    internAt(it, "b");
    expect(internAt(it, "c")).toBe(3);
    it.loadNames(["c", "x"]); // a restored table: "c" is id 1 now
    expect(internAt(it, "c")).toBe(1);
    expect(internAt(it, "x")).toBe(2);
    expect(internAt(it, "a")).toBe(3);
    expect(it.name(3)).toBe("a");
  });

  it("goes through the subclass's intern() for a new string (the shared table sees it)", () => {
    const shared = new SharedInterner(createStringTable(1024, 1 << 16), 1024);
    const id = internAt(shared, "drv-000042");
    expect(id).toBe(1);
    expect(new Int32Array(shared.table, 0, 1)[0]).toBe(1); // the shared table's count
    expect(internAt(shared, "drv-000042")).toBe(1);
  });
});
