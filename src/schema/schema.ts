/**
 * Schemas and record layouts.
 *
 * A stream's schema names its fields and their types. Compiled with a batch capacity it becomes a
 * {@link RecordLayout}: struct-of-arrays, one column per field, each column a typed array over a
 * region of a SharedArrayBuffer slot. Strings never cross threads: they are interned to u32 ids at
 * the edge (see `interner.ts`) and travel as `u32` columns; id 0 means "missing or empty".
 */
import { SchemaError } from "../errors.js";

/**
 * Field types of a schema. `string` is stored as a u32 interned id (keys and other strings with
 * few distinct values: the table of strings only grows). `text` is a string carried by value in the
 * batch (ids, names, free text: any number of distinct values, at most TEXT_BYTES of UTF-8): its
 * u32 column holds the byte length + 1 (0: missing or empty; TEXT_TOO_LONG: longer than TEXT_BYTES)
 * and the bytes sit in the slot's byte area at textOffset(). Read by DSL topologies in the general
 * form (src/dsl/engine-objects.ts).
 */
export type FieldType = "f64" | "f32" | "i32" | "u32" | "u8" | "string" | "text";

/** Most UTF-8 bytes of a `text` value. */
export const TEXT_BYTES = 252;
/** Byte room per `text` value in the byte area (TEXT_BYTES, rounded for alignment). */
export const TEXT_STRIDE = 256;
/** Column value of a `text` value longer than TEXT_BYTES (the record is invalid). */
export const TEXT_TOO_LONG = 0xffffffff;

export type ColumnArray = Float64Array | Float32Array | Int32Array | Uint32Array | Uint8Array;

export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
}

export interface Schema {
  readonly name: string;
  readonly fields: readonly FieldSpec[];
  /**
   * `string` fields with a new value in (nearly) every event — a message, payment or request id —
   * that outputs repeat but state is not indexed by: JSON decoding gives them transient ids
   * (Interner.internTransient), whose strings are kept only while records can still need them, so
   * that memory stays bounded however many go by. Equal strings get different ids. Frames intern
   * their string table as a whole and do not tell these apart.
   */
  readonly transient?: readonly string[];
  /**
   * The pipeline's state keeps transient ids past a commit (driver-eta's open requests), so an
   * exactly-once snapshot carries the strings of the last transient ids. Without it a snapshot
   * carries none: every output of the records before a commit was written by then, and nothing
   * restored names one (payments wrote its ring of up to 2^20 payment ids in every 100 ms commit:
   * ~2.4 GB of changelog in a 100 s run).
   */
  readonly transientInState?: boolean;
}

export interface ColumnLayout {
  readonly name: string;
  /** The declared type (`string` stays `string` here; its storage is u32). */
  readonly type: FieldType;
  readonly bytesPerValue: number;
  /** Byte offset of the column inside a slot's data region (64-byte aligned). */
  readonly offset: number;
}

export interface RecordLayout {
  readonly columns: readonly ColumnLayout[];
  /** Records per batch (slot). */
  readonly capacity: number;
  /** Bytes of one slot's data region (multiple of 64). */
  readonly bytesPerSlot: number;
  /** Bytes per record summed over columns (what a record costs in memory traffic). */
  readonly bytesPerRecord: number;
  /**
   * Bytes of a free-form byte area at the end of each slot (0: none), bound as the `_blob` column
   * (a Uint8Array of this length, not of `capacity`): output rings carry objects there as UTF-8 JSON.
   */
  readonly blobBytes?: number;
  /** Byte offset of that area inside a slot's data region. */
  readonly blobOffset?: number;
  /** `text` fields in layout order: record i's value of the f-th is at textOffset(layout, i, f) of the byte area. */
  readonly textFields?: readonly string[];
}

/** Where record i's value of the f-th text field starts in the slot's byte area (`_blob`). */
export function textOffset(layout: RecordLayout, i: number, f: number): number {
  return (i * layout.textFields!.length + f) * TEXT_STRIDE;
}

const BYTES: Record<FieldType, number> = { f64: 8, f32: 4, i32: 4, u32: 4, u8: 1, string: 4, text: 4 };
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CACHE_LINE = 64;

/** Defines a schema; field order is the column order. */
export function defineSchema(name: string, fields: Record<string, FieldType>, options: { transient?: readonly string[]; transientInState?: boolean } = {}): Schema {
  const list: FieldSpec[] = [];
  for (const [field, type] of Object.entries(fields)) {
    if (!NAME_RE.test(field)) throw new SchemaError(`schema ${name}: field name ${JSON.stringify(field)} is not an identifier`);
    if (!(type in BYTES)) throw new SchemaError(`schema ${name}: field ${field} has unknown type ${JSON.stringify(type)} (use f64, f32, i32, u32, u8, string or text)`);
    list.push({ name: field, type });
  }
  if (list.length === 0) throw new SchemaError(`schema ${name} has no fields`);
  const transient = options.transient ?? [];
  for (const t of transient) {
    if (fields[t] !== "string") throw new SchemaError(`schema ${name}: transient field ${JSON.stringify(t)} must be a string field`);
  }
  if (options.transientInState === true && transient.length === 0) throw new SchemaError(`schema ${name}: transientInState without transient fields`);
  return transient.length > 0 ? { name, fields: list, transient: [...transient], ...(options.transientInState === true && { transientInState: true }) } : { name, fields: list };
}

/** Compiles fields into a struct-of-arrays layout for batches of `capacity` records. */
export function compileLayout(fields: readonly FieldSpec[], capacity: number, blobBytes = 0): RecordLayout {
  if (!Number.isInteger(capacity) || capacity < 1) throw new SchemaError(`batch capacity must be a positive integer, got ${capacity}`);
  const seen = new Set<string>();
  const columns: ColumnLayout[] = [];
  let offset = 0;
  let bytesPerRecord = 0;
  for (const f of fields) {
    if (seen.has(f.name)) throw new SchemaError(`field ${f.name} appears twice in the layout`);
    seen.add(f.name);
    const bytesPerValue = BYTES[f.type];
    columns.push({ name: f.name, type: f.type, bytesPerValue, offset });
    offset += alignUp(capacity * bytesPerValue, CACHE_LINE);
    bytesPerRecord += bytesPerValue;
  }
  if (!Number.isInteger(blobBytes) || blobBytes < 0) throw new SchemaError(`blob bytes must be an integer ≥ 0, got ${blobBytes}`);
  const textFields = fields.filter((f) => f.type === "text").map((f) => f.name);
  if (textFields.length > 0) {
    // The byte area holds every record's text values at fixed places (textOffset), then
    // `blobBytes` more for the layout's owner (e.g. repartitioned records, engine-objects.ts).
    const bytes = capacity * textFields.length * TEXT_STRIDE + blobBytes;
    return { columns, capacity, bytesPerSlot: offset + alignUp(bytes, CACHE_LINE), bytesPerRecord: bytesPerRecord + textFields.length * TEXT_STRIDE, blobBytes: bytes, blobOffset: offset, textFields };
  }
  if (blobBytes > 0) return { columns, capacity, bytesPerSlot: offset + alignUp(blobBytes, CACHE_LINE), bytesPerRecord, blobBytes, blobOffset: offset };
  return { columns, capacity, bytesPerSlot: offset, bytesPerRecord };
}

/** Typed-array views of every column of one slot. Made once at setup, never per batch. */
export function bindColumns(buffer: ArrayBufferLike, byteOffset: number, layout: RecordLayout): Record<string, ColumnArray> {
  const out: Record<string, ColumnArray> = {};
  for (const c of layout.columns) {
    const at = byteOffset + c.offset;
    switch (c.type) {
      case "f64": out[c.name] = new Float64Array(buffer, at, layout.capacity); break;
      case "f32": out[c.name] = new Float32Array(buffer, at, layout.capacity); break;
      case "i32": out[c.name] = new Int32Array(buffer, at, layout.capacity); break;
      case "u8": out[c.name] = new Uint8Array(buffer, at, layout.capacity); break;
      case "u32":
      case "string":
      case "text": out[c.name] = new Uint32Array(buffer, at, layout.capacity); break;
    }
  }
  if (layout.blobBytes) out["_blob"] = new Uint8Array(buffer, byteOffset + layout.blobOffset!, layout.blobBytes);
  return out;
}

export function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * Writes `s` as UTF-8 into `to` at `at` without allocating; returns the bytes written, or -1 when
 * they would pass `max` (nothing useful is left there then).
 */
export function writeUtf8(s: string, to: Uint8Array, at: number, max: number): number {
  let j = at;
  const end = at + max;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      if (j >= end) return -1;
      to[j++] = c;
    } else if (c < 0x800) {
      if (j + 2 > end) return -1;
      to[j++] = 0xc0 | (c >> 6);
      to[j++] = 0x80 | (c & 63);
    } else {
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          if (j + 4 > end) return -1;
          to[j++] = 0xf0 | (c >> 18);
          to[j++] = 0x80 | ((c >> 12) & 63);
          to[j++] = 0x80 | ((c >> 6) & 63);
          to[j++] = 0x80 | (c & 63);
          continue;
        }
      }
      if (c >= 0xd800 && c < 0xe000) c = 0xfffd; // a lone surrogate, as TextEncoder writes it
      if (j + 3 > end) return -1;
      to[j++] = 0xe0 | (c >> 12);
      to[j++] = 0x80 | ((c >> 6) & 63);
      to[j++] = 0x80 | (c & 63);
    }
  }
  return j - at;
}

const blobBuffers = new WeakMap<object, Buffer>();
/** A Buffer over a batch's byte area (`_blob`), made once per slot's columns (no allocation after). */
export function blobBuffer(columns: Record<string, ColumnArray>): Buffer {
  let b = blobBuffers.get(columns);
  if (!b) {
    const u = columns["_blob"] as Uint8Array;
    b = Buffer.from(u.buffer, u.byteOffset, u.length);
    blobBuffers.set(columns, b);
  }
  return b;
}

