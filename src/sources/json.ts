/**
 * JSON at the edge: a schema compiles to a decoder that writes one parsed object into row i of a
 * batch's columns. Numbers that are not numbers become NaN and strings that are not non-empty
 * strings become id 0, so validation downstream can name what was wrong.
 */
import type { Interner } from "../schema/interner.js";
import type { ColumnArray, Schema } from "../schema/schema.js";

export type JsonDecoder = (value: unknown, columns: Record<string, ColumnArray>, i: number) => void;

export function compileJsonDecoder(schema: Schema, interner: Interner): JsonDecoder {
  const names = schema.fields.map((f) => f.name);
  const strings = schema.fields.map((f) => f.type === "string");
  const count = names.length;
  return (value, columns, i) => {
    const obj = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
    for (let f = 0; f < count; f++) {
      const name = names[f]!;
      const v = obj[name];
      columns[name]![i] = strings[f] ? interner.intern(v) : typeof v === "number" ? v : NaN;
    }
  };
}
