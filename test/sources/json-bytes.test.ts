/**
 * The byte-level JSON decoder against JSON.parse + the compiled decoder (fast-check, fixed seed):
 * on any text it either declines (false) or leaves row i exactly as the general way does; it never
 * accepts a text JSON.parse rejects, and it takes the flat events the sources carry.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Interner } from "../../src/schema/interner.js";
import { defineSchema, TEXT_STRIDE, type ColumnArray, type Schema } from "../../src/schema/schema.js";
import { compileJsonBytesDecoder, compileJsonDecoder } from "../../src/sources/json.js";

const FUZZ = { seed: 0x0b17_e5d0, numRuns: 2000 } as const;

// `as const`: TypeScript types the values of `constructor` and `toString` by Object.prototype's members, i.e. as string.
const SCHEMA = defineSchema("bytes", { driverId: "string", lat: "f64", lon: "f32", ts: "f64", n: "i32", note: "text", constructor: "f64", toString: "string" } as const);

function columnsFor(schema: Schema): Record<string, ColumnArray> {
  const cols: Record<string, ColumnArray> = {};
  for (const f of schema.fields) cols[f.name] = f.type === "string" || f.type === "text" ? new Uint32Array(1) : f.type === "f32" ? new Float32Array(1) : f.type === "i32" ? new Int32Array(1) : new Float64Array(1);
  cols["_blob"] = new Uint8Array(TEXT_STRIDE);
  return cols;
}

/** Bytes before and after a text in a larger buffer: each would complete a cut text if read. */
const AROUND = [["", ""], ['{"lat":9,', '} ,"ts":7}'], ["{", '"}'], [" ", "1e5}"], ["}", "ue}"]].map(([a, z]) => [Buffer.from(a!), Buffer.from(z!)] as const);

/** Whether the byte decoder accepted `text`; when it did, row 0 must equal the general decoder's. */
function agree(text: string): boolean {
  const general = new Interner();
  const direct = new Interner();
  const a = columnsFor(SCHEMA);
  const b = columnsFor(SCHEMA);
  const took = compileJsonBytesDecoder(SCHEMA, direct)(Buffer.from(text, "utf8"), b, 0);
  // The same bytes inside a larger buffer (a packed take): bytes [from, to) only, whatever is around.
  for (const [pre, post] of AROUND) {
    const c = columnsFor(SCHEMA);
    const bytes = Buffer.from(text, "utf8");
    const inner = compileJsonBytesDecoder(SCHEMA, direct)(Buffer.concat([pre, bytes, post]), c, 0, pre.length, pre.length + bytes.length);
    expect(inner, `${JSON.stringify(text)} between ${pre} and ${post}`).toBe(took);
    if (took) for (const f of SCHEMA.fields) expect(Object.is(c[f.name]![0], b[f.name]![0]), f.name).toBe(true);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    expect(took, `accepted invalid JSON ${JSON.stringify(text)}`).toBe(false);
    return false;
  }
  if (!took) return false;
  compileJsonDecoder(SCHEMA, general)(value, a, 0);
  for (const f of SCHEMA.fields) {
    const x = f.type === "string" ? general.name(a[f.name]![0]!) : a[f.name]![0];
    const y = f.type === "string" ? direct.name(b[f.name]![0]!) : b[f.name]![0];
    expect(Object.is(x, y), `${f.name} of ${text}: ${String(x)} vs ${String(y)}`).toBe(true);
  }
  const len = (a["note"]![0]! as number) - 1;
  if (len > 0 && len < TEXT_STRIDE) expect(Buffer.from(b["_blob"] as Uint8Array).subarray(0, len).equals(Buffer.from(a["_blob"] as Uint8Array).subarray(0, len))).toBe(true);
  return true;
}

const key = fc.oneof(fc.constantFrom("driverId", "lat", "lon", "ts", "n", "note", "constructor", "toString", "__proto__"), fc.string());
const number = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.double({ min: -180, max: 180, noNaN: true }).map((d) => Math.round(d * 1e6) / 1e6));
const scalar = fc.oneof(number, fc.string(), fc.string({ unit: "grapheme" }), fc.string({ maxLength: 300 }), fc.constantFrom(true, false, null));
const flat = fc.dictionary(key, fc.oneof(scalar, fc.jsonValue({ maxDepth: 1 })), { maxKeys: 9 });
/** Number spellings JSON allows that JSON.stringify never writes, and some it does not allow. */
const spelled = fc.constantFrom("0", "-0", "0.5", "1e3", "1E+3", "-2.5e-3", "12345678901234567890", "0.1000000000000000055511151231257827", "1.7976931348623157e309",
  "01", "1.", ".5", "-", "+1", "1e", "0x10", "Infinity", "NaN", "1.5.2", "--1", "1e5.5");
const ws = fc.constantFrom("", " ", "\n", "\t", "\r\n  ");

describe("byte-level JSON decoder", () => {
  it("agrees with JSON.parse and the compiled decoder on any flat object", () => {
    fc.assert(fc.property(flat, ws, (o, w) => { agree(w + JSON.stringify(o, null, w === "" ? undefined : 1) + w); }), FUZZ);
  });

  it("agrees on hand-spelled numbers, literals and whitespace, and declines what is not JSON", () => {
    fc.assert(fc.property(spelled, ws, ws, fc.constantFrom("lat", "lon", "n", "driverId", "note", "x"), (num, w1, w2, k) => {
      agree(`{${w1}"${k}"${w2}:${w1}${num}${w2},"ts":1}`);
      agree(`${w1}{"ts":${num}}${w2}`);
    }), FUZZ);
  });

  it("agrees on mantissas at and past 2^53, where the digits no longer add up exactly", () => {
    // 2^53 + 1 = 9007199254740993 rounds to 2^53 as the digits are summed: it must not be taken as exact.
    for (const digits of ["9007199254740991", "9007199254740992", "9007199254740993", "9007199254740995", "18014398509481985"]) {
      for (const at of [0, 1, 2, 8, 14, 15]) {
        const num = at === 0 ? digits : `${digits.slice(0, at)}.${digits.slice(at)}`;
        expect(agree(`{"lat":${num},"ts":-${num}}`), num).toBe(true);
        expect(agree(`{"lat":0.${digits}}`), `0.${digits}`).toBe(true);
      }
    }
  });

  it("declines mangled texts JSON.parse rejects (and any text: never accepts invalid JSON)", () => {
    const base = '{"driverId":"d-1","lat":52.1,"lon":13.4,"ts":1700000000000,"note":"hi","n":3}';
    fc.assert(fc.property(fc.nat(base.length - 1), fc.nat(base.length), fc.string({ maxLength: 3 }), (at, cut, ins) => {
      agree(base.slice(0, at) + ins + base.slice(at + 1));
      agree(base.slice(0, cut));
    }), FUZZ);
    fc.assert(fc.property(fc.string(), (t) => { agree(t); }), FUZZ);
  });

  it("takes a flat event (the common case), including unicode in string fields", () => {
    expect(agree('{"driverId":"d-17","lat":52.520008,"lon":13.404954,"ts":1700000000123,"speedKmh":42.5,"n":-7,"note":"ok"}')).toBe(true);
    expect(agree('{ "driverId" : "Zoë-✓" , "lat" : -0 , "x" : [1] }')).toBe(false); // a nested value: declined
    expect(agree('{ "driverId" : "Zoë-✓" , "lat" : -0 , "x" : null }')).toBe(true);
    expect(agree("{}")).toBe(true);
    expect(agree('{"driverId":"a\tb","lat":1}')).toBe(false); // a raw control character: not JSON
  });
});
