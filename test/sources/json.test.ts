/**
 * The compiled JSON decoder on any input (fast-check, fixed seed): it never throws, a string field
 * holds the value's own non-empty string or id 0, a number field the value's own number or NaN —
 * whatever the value is (array, number, null, an object with `__proto__` or `constructor` keys).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DRIVER_LOCATION } from "../../src/pipelines/driver-tracking/spec.js";
import { Interner } from "../../src/schema/interner.js";
import { defineSchema, type ColumnArray, type Schema } from "../../src/schema/schema.js";
import { compileJsonDecoder } from "../../src/sources/json.js";

const FUZZ = { seed: 0x150d_ec0d, numRuns: 500 } as const;

/**
 * Field names that an object inherits from Object.prototype: a decoder must not read those.
 * (`as const`: TypeScript types those names' values by Object.prototype's members, i.e. as string.)
 */
const WEIRD = defineSchema("weird", { driverId: "string", lat: "f64", constructor: "f64", toString: "string", valueOf: "f64", hasOwnProperty: "string" } as const);

function columnsFor(schema: Schema, n: number): Record<string, ColumnArray> {
  const cols: Record<string, ColumnArray> = {};
  for (const f of schema.fields) cols[f.name] = f.type === "string" ? new Uint32Array(n) : new Float64Array(n);
  return cols;
}

/** What a field must decode to: the value's own property, a non-empty string or a number; else missing. */
function expected(value: unknown, name: string, type: string): unknown {
  const own = typeof value === "object" && value !== null && Object.prototype.hasOwnProperty.call(value, name) ? (value as Record<string, unknown>)[name] : undefined;
  if (type === "string") return typeof own === "string" ? own : "";
  return typeof own === "number" ? own : NaN;
}

function check(schema: Schema, values: unknown[]): void {
  const interner = new Interner();
  const decode = compileJsonDecoder(schema, interner);
  const cols = columnsFor(schema, values.length);
  values.forEach((v, i) => decode(v, cols, i));
  values.forEach((v, i) => {
    for (const f of schema.fields) {
      const got = f.type === "string" ? interner.name(cols[f.name]![i]!) : cols[f.name]![i];
      expect(Object.is(got, expected(v, f.name, f.type)), `${f.name} of ${JSON.stringify(v)}`).toBe(true);
    }
  });
}

/** JSON objects whose keys are the schema's, prototype names, or anything, with any JSON values. */
const key = fc.oneof(fc.constantFrom("driverId", "lat", "lon", "ts", "speedKmh", "__proto__", "constructor", "toString", "valueOf", "hasOwnProperty"), fc.string());
const jsonObject = fc.dictionary(key, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 8 });

describe("compiled JSON decoder, property-based", () => {
  it("decodes exactly the value's own fields, from any JSON text", () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.json({ maxDepth: 2 }), jsonObject.map((o) => JSON.stringify(o))), { maxLength: 20 }), (texts) => {
      const values = texts.map((t) => JSON.parse(t) as unknown); // as the sources parse a message
      check(DRIVER_LOCATION, values);
      check(WEIRD, values);
    }), FUZZ);
  });

  it("numbers out of double range become ±Infinity, which validation rejects as not finite", () => {
    const values = ['{"driverId":"d","lat":1e999,"lon":-1e999,"ts":1,"speedKmh":1e-999}'].map((t) => JSON.parse(t) as unknown);
    const interner = new Interner();
    const cols = columnsFor(DRIVER_LOCATION, 1);
    compileJsonDecoder(DRIVER_LOCATION, interner)(values[0], cols, 0);
    expect([cols.lat![0], cols.lon![0], cols.speedKmh![0]]).toEqual([Infinity, -Infinity, 0]);
  });
});
