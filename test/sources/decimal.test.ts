/**
 * decimalToDouble (the JSON byte decoder's numbers past 2^53) against Number(text): never a
 * different double; NaN (the caller parses the text) only near a tie; and never NaN for the
 * doubles JSON.stringify writes for coordinates, or the hot path would allocate a string per event.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decimalToDouble } from "../../src/sources/decimal.js";

/** The parser's split of a plain decimal ([-]digits[.digits]): m · 10^r + ml over 10^scale. */
function split(text: string): { m: number; ml: number; r: number; scale: number; neg: boolean } {
  let m = 0, ml = 0, r = 0, scale = 0, dot = false;
  const neg = text.startsWith("-");
  for (const ch of neg ? text.slice(1) : text) {
    if (ch === ".") { dot = true; continue; }
    const d = ch.charCodeAt(0) - 48;
    if (m < 9e14) m = m * 10 + d;
    else { ml = ml * 10 + d; r++; }
    if (dot) scale++;
  }
  return { m, ml, r, scale, neg };
}

/** decimalToDouble's answer for `text` (undefined: outside its domain, NaN: declined). */
function convert(text: string): number | undefined {
  const { m, ml, r, scale, neg } = split(text);
  if (r === 0 || r > 4 || scale > 22) return undefined;
  const x = decimalToDouble(m, ml, r, scale);
  return neg ? -x : x;
}

/** Whether `text` lies exactly halfway between two doubles (BigInt arithmetic). */
function tie(text: string): boolean {
  const t = text.replace("-", "");
  const scale = t.includes(".") ? t.length - t.indexOf(".") - 1 : 0;
  const M = BigInt(t.replace(".", ""));
  const c = Number(t);
  const f = new Float64Array([c]);
  const u = new BigUint64Array(f.buffer);
  const bits = u[0]!;
  const e2 = Number((bits >> 52n) & 0x7ffn) - 1075; // c = mant · 2^e2
  const mant = (bits & ((1n << 52n) - 1n)) | (1n << 52n);
  // |c − M / 10^s| = 2^(e2 − 1), both sides times 10^s · 2^(1 − e2) (shifted to integers).
  const k = 1 - e2;
  const up = k >= 0 ? 1n : 1n << BigInt(-k);
  const P10 = 10n ** BigInt(scale);
  const lhs = 2n * mant * P10 * up - M * (k >= 0 ? 1n << BigInt(k) : 1n);
  return (lhs < 0n ? -lhs : lhs) === P10 * up;
}

function plain(x: number): string | undefined {
  const s = JSON.stringify(x);
  return /e/i.test(s) ? undefined : s;
}

const FUZZ = { seed: 0x0dec_1a1, numRuns: 20_000 } as const;

describe("decimalToDouble", () => {
  it("gives JSON.parse's double for every shortest spelling of a double, never declining one", () => {
    let seen = 0;
    fc.assert(fc.property(fc.double({ min: 1e-6, max: 9e18, noNaN: true }), fc.boolean(), (d, neg) => {
      const text = plain(neg ? -d : d);
      const x = text === undefined ? undefined : convert(text);
      if (x === undefined) return;
      seen++;
      expect(Object.is(x, JSON.parse(text!)), `${text} → ${x}`).toBe(true);
    }), FUZZ);
    expect(seen).toBeGreaterThan(FUZZ.numRuns / 2);
  });

  it("takes every coordinate JSON.stringify writes in full (17 digits), as JSON.parse does", () => {
    let taken = 0;
    fc.assert(fc.property(fc.double({ min: -180, max: 180, noNaN: true }), (d) => {
      const text = plain(d);
      const x = text === undefined ? undefined : convert(text);
      if (x === undefined) return;
      taken++;
      expect(Object.is(x, JSON.parse(text!)), `${text} → ${x}`).toBe(true);
    }), FUZZ);
    expect(taken).toBeGreaterThan(1000);
  });

  it("gives Number(text) or declines for any decimal of up to 19 digits, declining hardly any but exact ties", () => {
    let declined = 0, taken = 0;
    const decimal = fc.tuple(fc.stringMatching(/^[1-9][0-9]{15,18}$/), fc.nat(19), fc.boolean())
      .map(([digits, at, neg]) => `${neg ? "-" : ""}${at >= digits.length ? digits : at === 0 ? `0.${digits}` : `${digits.slice(0, at)}.${digits.slice(at)}`}`);
    fc.assert(fc.property(decimal, (text) => {
      const x = convert(text);
      if (x === undefined) return;
      if (Number.isNaN(x)) { if (!tie(text)) declined++; return; }
      taken++;
      expect(Object.is(x, Number(text)), `${text} → ${x} vs ${Number(text)}`).toBe(true);
    }), FUZZ);
    expect(taken).toBeGreaterThan(FUZZ.numRuns / 2);
    expect(declined).toBeLessThan(taken / 10_000 + 3);
  });

  it("rounds integers exactly halfway between two doubles to the even one, and declines near-ties of fractions", () => {
    // Halfway: 2^54 + 2 (between 2^54 and 2^54 + 4), 2^54 + 6, …: each rounds to the even mantissa.
    for (const base of [2n ** 54n, 2n ** 56n, 2n ** 60n, 2n ** 62n, 3n * 2n ** 55n]) {
      for (let d = 0n; d < 300n; d++) {
        const text = (base + d).toString();
        const x = convert(text);
        if (x === undefined) continue;
        expect(Object.is(x, Number(text)), `${text} → ${x} vs ${Number(text)}`).toBe(true);
      }
    }
    expect(tie("9007199254740993"), "2^53 + 1").toBe(true);
    expect(tie("18014398509481986"), "2^54 + 2").toBe(true);
    expect(tie("18014398509481985"), "2^54 + 1").toBe(false);
    expect(tie("4503599627370496.5"), "2^52 + 1/2").toBe(true);
    // 4503599627370496.5 = 2^52 + 1/2: a fraction exactly halfway (declined, or right).
    for (const text of ["4503599627370496.5", "4503599627370497.5", "9007199254740993.0", "123456789012345678.5", "0.30000000000000004"]) {
      const x = convert(text);
      if (x !== undefined && !Number.isNaN(x)) expect(Object.is(x, Number(text)), text).toBe(true);
    }
  });
});
