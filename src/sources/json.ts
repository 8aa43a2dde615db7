/**
 * JSON at the edge: a schema compiles to a decoder that writes one parsed object into row i of a
 * batch's columns. Numbers that are not numbers become NaN and strings that are not non-empty
 * strings become id 0, so validation downstream can name what was wrong. A `text` field's UTF-8
 * goes into the slot's byte area (`_blob`) at its fixed place, its column holding length + 1.
 */
import type { Interner } from "../schema/interner.js";
import { TEXT_BYTES, TEXT_STRIDE, TEXT_TOO_LONG, writeUtf8, type ColumnArray, type Schema } from "../schema/schema.js";
import { decimalInto } from "./decimal.js";

export type JsonDecoder = (value: unknown, columns: Record<string, ColumnArray>, i: number) => void;

const STRING = 1;
const TEXT = 2;
const TRANSIENT = 3;

/** Each field's kind: 0 a number, else STRING, TRANSIENT (schema.transient) or TEXT. */
const kindsOf = (schema: Schema): number[] =>
  schema.fields.map((f) => (f.type === "string" ? (schema.transient?.includes(f.name) ? TRANSIENT : STRING) : f.type === "text" ? TEXT : 0));

/**
 * `textFields`: the text fields of the layout the decoder writes into, in layout order (a layout
 * may hold several schemas side by side); by default the schema's own.
 */
export function compileJsonDecoder(schema: Schema, interner: Interner, textFields?: readonly string[]): JsonDecoder {
  const names = schema.fields.map((f) => f.name);
  const kinds = kindsOf(schema);
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
      } else columns[name]![i] = kind === STRING ? interner.intern(v) : kind === TRANSIENT ? interner.internTransient(v) : typeof v === "number" ? v : NaN;
    }
  };
}

/** Decodes the event in bytes [from, to) (default: all of them) into record i of the columns; false: not a flat event of the schema. */
export type JsonBytesDecoder = (bytes: Uint8Array, columns: Record<string, ColumnArray>, i: number, from?: number, to?: number) => boolean;

/** The ASCII text of bytes [from, to) (a number's spelling). */
const latin1 = (b: Uint8Array, from: number, to: number): string =>
  (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)).toString("latin1", from, to);

/** The index of the first byte from `at` that is not JSON whitespace (space, tab, CR, LF). */
function skipSpace(b: Uint8Array, at: number, end: number): number {
  while (at < end) {
    const c = b[at]!;
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) break;
    at++;
  }
  return at;
}

const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k); // exact doubles up to 1e22

/**
 * The same decoding straight from a message's bytes, without JSON.parse's string and object: a
 * flat object whose values are numbers, strings, true, false or null (what one event per message
 * is). Returns false, having decided nothing, for anything else — a nested value, an escape in a
 * string, non-ASCII bytes in a key or a text field, input that is not valid JSON — so the caller
 * decodes the message the general way (which also tells invalid JSON apart). Row i holds the same
 * values as compileJsonDecoder's after JSON.parse of the message; it may be written in part when
 * false is returned (the general way writes every field again). Nothing is allocated per message:
 * strings are interned from their bytes, numbers parsed from their digits (decimal.ts past 2^53).
 */
export function compileJsonBytesDecoder(schema: Schema, interner: Interner, textFields?: readonly string[]): JsonBytesDecoder {
  const names = schema.fields.map((f) => f.name);
  const keys = names.map((n) => Buffer.from(n, "utf8"));
  const kinds = kindsOf(schema);
  const texts = textFields ?? schema.fields.filter((f) => f.type === "text").map((f) => f.name);
  const ordinal = names.map((n) => texts.indexOf(n));
  const nText = texts.length;
  const count = names.length;
  let mapped: Array<ColumnArray | undefined> = [];
  const io = new Float64Array(5); // decimalInto's numbers
  let colsOf: Record<string, ColumnArray> | undefined;

  /** The field whose name is bytes [at, end), or -1. */
  const fieldOf = (b: Uint8Array, at: number, end: number): number => {
    const len = end - at;
    for (let f = 0; f < count; f++) {
      const k = keys[f]!;
      if (k.length !== len) continue;
      let j = 0;
      while (j < len && k[j] === b[at + j]) j++;
      if (j === len) return f;
    }
    return -1;
  };

  // Outside the decoder: a closure over its `columns` would give every call a context object of
  // its own to allocate (41 bytes per event once the remapping had been seen taken).
  const columnsOf = (columns: Record<string, ColumnArray>): Array<ColumnArray | undefined> => names.map((n) => columns[n]);

  return function decodeJsonBytes(b, columns, i, from = 0, to = b.length) {
    if (colsOf !== columns) {
      colsOf = columns;
      mapped = columnsOf(columns);
    }
    const cols = mapped;
    for (let f = 0; f < count; f++) cols[f]![i] = kinds[f] === 0 ? NaN : 0;
    const end = to;
    let at = from;
    let c = 0;
    at = skipSpace(b, at, end);
    if (at >= end || b[at] !== 123) return false; // {
    at++;
    let first = true;
    for (;;) {
      at = skipSpace(b, at, end);
      if (at >= end) return false;
      c = b[at]!;
      if (c === 125 && first) { at++; break; } // }
      if (!first) {
        if (c === 125) { at++; break; }
        if (c !== 44) return false; // ,
        at++;
        at = skipSpace(b, at, end);
      }
      first = false;
      // The key.
      if (b[at] !== 34) return false;
      const k0 = ++at;
      while (at < end && (c = b[at]!) !== 34) {
        if (c === 92 || c < 32 || c >= 128) return false;
        at++;
      }
      if (at >= end) return false;
      const f = fieldOf(b, k0, at);
      at++;
      at = skipSpace(b, at, end);
      if (b[at] !== 58) return false; // :
      at++;
      at = skipSpace(b, at, end);
      if (at >= end) return false;
      c = b[at]!;
      const kind = f < 0 ? -1 : kinds[f]!;
      if (c === 34) {
        const s0 = ++at;
        let ascii = true;
        while (at < end && (c = b[at]!) !== 34) {
          if (c === 92 || c < 32) return false;
          if (c >= 128) ascii = false;
          at++;
        }
        if (at >= end) return false;
        const len = at - s0;
        at++;
        if (kind === STRING) cols[f]![i] = interner.internBytes(b, s0, len);
        else if (kind === TRANSIENT) cols[f]![i] = interner.transientBytes(b, s0, len);
        else if (kind === TEXT) {
          if (!ascii) return false;
          if (len === 0) cols[f]![i] = 0;
          else if (len > TEXT_BYTES) cols[f]![i] = TEXT_TOO_LONG;
          else {
            const blob = columns["_blob"] as Uint8Array;
            const dst = (i * nText + ordinal[f]!) * TEXT_STRIDE;
            for (let j = 0; j < len; j++) blob[dst + j] = b[s0 + j]!;
            cols[f]![i] = len + 1;
          }
        } else if (kind === 0) cols[f]![i] = NaN;
      } else if (c === 45 || (c >= 48 && c <= 57)) {
        // A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
        const n0 = at;
        const neg = c === 45;
        if (neg) at++;
        // The digits as m · 10^r + ml: m takes them while it stays below 9e14 (so m · 10 + 9 is
        // still exact, below 2^53), ml the next r ≤ 4 (more: the general way).
        let m = 0;
        let ml = 0;
        let r = 0;
        let digits = 0;
        let scale = 0;
        if (b[at] === 48) { at++; digits = 1; }
        else {
          while (at < end && (c = b[at]!) >= 48 && c <= 57) {
            if (m < 9e14) m = m * 10 + (c - 48);
            else { ml = ml * 10 + (c - 48); r++; }
            digits++;
            at++;
          }
          if (digits === 0) return false;
        }
        if (b[at] === 46) {
          at++;
          const d0 = at;
          while (at < end && (c = b[at]!) >= 48 && c <= 57) {
            if (m < 9e14) m = m * 10 + (c - 48);
            else { ml = ml * 10 + (c - 48); r++; }
            at++;
          }
          scale = at - d0;
          if (scale === 0) return false;
        }
        let plain = r <= 4 && scale <= 22;
        if (b[at] === 101 || b[at] === 69) {
          at++;
          if (b[at] === 43 || b[at] === 45) at++;
          const e0 = at;
          while (at < end && (c = b[at]!) >= 48 && c <= 57) at++;
          if (at === e0) return false;
          plain = false;
        }
        if (kind === 0) {
          // Below 2^53 and 1e22 both exact: one division, correctly rounded as JSON.parse is. Up to
          // 4 digits more (JSON.stringify writes up to 17): decimalInto, without a string; what it
          // declines (near a tie), exponents and longer numbers: Number() of the text.
          let done = plain && r === 0;
          if (done) cols[f]![i] = neg ? -(m / POW10[scale]!) : m / POW10[scale]!;
          else if (plain) {
            io[0] = m;
            io[1] = ml;
            io[2] = r;
            io[3] = scale;
            done = decimalInto(io);
            if (done) cols[f]![i] = neg ? -io[4]! : io[4]!;
          }
          if (!done) cols[f]![i] = Number(latin1(b, n0, at));
        } else if (kind > 0) cols[f]![i] = 0;
      } else if (c === 116 || c === 102 || c === 110) {
        // true, false, null
        const lit = c === 116 ? TRUE : c === 102 ? FALSE : NULL;
        if (at + lit.length > end) return false;
        for (let j = 0; j < lit.length; j++) if (b[at + j] !== lit[j]) return false;
        at += lit.length;
        if (kind >= 0) cols[f]![i] = kind === 0 ? NaN : 0;
      } else return false;
    }
    at = skipSpace(b, at, end);
    return at === end;
  };
}

const TRUE = Buffer.from("true");
const FALSE = Buffer.from("false");
const NULL = Buffer.from("null");
