/**
 * JSON at the edge: a schema compiles to a decoder that writes one parsed object into row i of a
 * batch's columns. Numbers that are not numbers become NaN and strings that are not non-empty
 * strings become id 0, so validation downstream can name what was wrong. A `text` field's UTF-8
 * goes into the slot's byte area (`_blob`) at its fixed place, its column holding length + 1.
 */
import type { Interner } from "../schema/interner.js";
import { TEXT_BYTES, TEXT_STRIDE, TEXT_TOO_LONG, writeUtf8, type ColumnArray, type Schema } from "../schema/schema.js";

export type JsonDecoder = (value: unknown, columns: Record<string, ColumnArray>, i: number) => void;

const STRING = 1;
const TEXT = 2;

/**
 * `textFields`: the text fields of the layout the decoder writes into, in layout order (a layout
 * may hold several schemas side by side); by default the schema's own.
 */
export function compileJsonDecoder(schema: Schema, interner: Interner, textFields?: readonly string[]): JsonDecoder {
  const names = schema.fields.map((f) => f.name);
  const kinds = schema.fields.map((f) => (f.type === "string" ? STRING : f.type === "text" ? TEXT : 0));
  const texts = textFields ?? schema.fields.filter((f) => f.type === "text").map((f) => f.name);
  const ordinal = names.map((n) => texts.indexOf(n));
  const nText = texts.length;
  const count = names.length;
  return (value, columns, i) => {
    const obj = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
    for (let f = 0; f < count; f++) {
      const name = names[f]!;
      const v = obj[name];
      const kind = kinds[f];
      if (kind === TEXT) {
        if (typeof v !== "string" || v.length === 0) columns[name]![i] = 0;
        else {
          const n = writeUtf8(v, columns["_blob"] as Uint8Array, (i * nText + ordinal[f]!) * TEXT_STRIDE, TEXT_BYTES);
          columns[name]![i] = n < 0 ? TEXT_TOO_LONG : n + 1;
        }
      } else columns[name]![i] = kind === STRING ? interner.intern(v) : typeof v === "number" ? v : NaN;
    }
  };
}
