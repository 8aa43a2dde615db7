/**
 * The packed binary frame: many records of one schema in one Kafka message (the fast wire format).
 *
 *   offset  type   field
 *   0       u32    magic 0x31465452 ("RTF1" little-endian)
 *   4       u16    version (1)
 *   6       u16    field count F (must equal the schema's)
 *   8       u32    record count N
 *   12      u32    string count S
 *   16      u32    string-table bytes T
 *   20      …      string table: S × (u16 byte length, UTF-8 bytes), T bytes in all
 *   20+T    pad    to a multiple of 8
 *   …       cols   per schema field in order: string → N × u32 (index into the table, 0xFFFFFFFF =
 *                  missing), f64 → N × f64, f32/i32/u32 → N × 4 bytes, u8 → N bytes (padded to 8)
 *
 * Little-endian throughout. Every length is checked against the message size before anything is
 * read; a frame that does not add up is a DecodeError (it goes to the dead-letter topic).
 */
import { DecodeError } from "../errors.js";
import type { Interner } from "../schema/interner.js";
import type { ColumnArray, Schema } from "../schema/schema.js";

export const FRAME_MAGIC = 0x31465452;
export const FRAME_VERSION = 1;
const HEADER = 20;
const MISSING = 0xffffffff;
const SIZE: Record<string, number> = { f64: 8, f32: 4, i32: 4, u32: 4, u8: 1, string: 4 };

/**
 * Rounds up to a multiple of 8. Plain arithmetic, not `(n + 7) & ~7`: header fields are u32, and
 * a bitwise version wraps at 2^31, which let a frame claiming 2^30 + k records pass as k records.
 */
function pad8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** A zeroed frame of n records and `strings` strings in `tableBytes` bytes, its header written (the table and columns not). */
function frameWithHeader(schema: Schema, n: number, strings: number, tableBytes: number): Buffer {
  let size = pad8(HEADER + tableBytes);
  for (const f of schema.fields) size += pad8(n * SIZE[f.type]!);
  const buf = Buffer.alloc(size);
  buf.writeUInt32LE(FRAME_MAGIC, 0);
  buf.writeUInt16LE(FRAME_VERSION, 4);
  buf.writeUInt16LE(schema.fields.length, 6);
  buf.writeUInt32LE(n, 8);
  buf.writeUInt32LE(strings, 12);
  buf.writeUInt32LE(tableBytes, 16);
  return buf;
}

/** A zeroed frame of n records with its header and string table (UTF-8 bytes each) written; columns start at `columnsAt`. */
function frameWithTable(schema: Schema, n: number, encoded: readonly Uint8Array[]): { buf: Buffer; columnsAt: number } {
  let tableBytes = 0;
  for (const e of encoded) tableBytes += 2 + e.length;
  const buf = frameWithHeader(schema, n, encoded.length, tableBytes);
  let at = HEADER;
  for (const e of encoded) {
    const len = e.length;
    if (len > 0xffff) throw new RangeError("frame strings are limited to 65535 bytes");
    buf[at] = len & 0xff;
    buf[at + 1] = len >>> 8;
    at += 2;
    for (let j = 0; j < len; j++) buf[at + j] = e[j]!;
    at += len;
  }
  return { buf, columnsAt: pad8(at) };
}

/** Encodes records given as plain objects (the load generator's edge). */
export function encodeFrame(schema: Schema, records: ReadonlyArray<Record<string, unknown>>): Buffer {
  const n = records.length;
  const strings: string[] = [];
  const index = new Map<string, number>();
  const stringIdx: Uint32Array[] = [];
  for (const f of schema.fields) {
    if (f.type !== "string") continue;
    const col = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const v = records[i]![f.name];
      if (typeof v !== "string") { col[i] = MISSING; continue; }
      let k = index.get(v);
      if (k === undefined) { k = strings.length; strings.push(v); index.set(v, k); }
      col[i] = k;
    }
    stringIdx.push(col);
  }
  const { buf, columnsAt } = frameWithTable(schema, n, strings.map((x) => Buffer.from(x, "utf8")));
  let at = columnsAt;
  let s = 0;
  for (const f of schema.fields) {
    for (let i = 0; i < n; i++) {
      const v = records[i]![f.name];
      const num = typeof v === "number" ? v : NaN;
      switch (f.type) {
        case "string": buf.writeUInt32LE(stringIdx[s]![i]!, at + i * 4); break;
        case "f64": buf.writeDoubleLE(num, at + i * 8); break;
        case "f32": buf.writeFloatLE(num, at + i * 4); break;
        case "i32": buf.writeInt32LE(num | 0, at + i * 4); break;
        case "u32": buf.writeUInt32LE(num >>> 0, at + i * 4); break;
        case "u8": buf.writeUInt8(num & 0xff, at + i); break;
      }
    }
    if (f.type === "string") s++;
    at += pad8(n * SIZE[f.type]!);
  }
  return buf;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads and checks a frame's header; returns the record count. Throws DecodeError when it does not add up. */
export function frameRecordCount(schema: Schema, frame: Uint8Array): number {
  if (frame.length < HEADER) throw new DecodeError(`frame of ${frame.length} bytes is shorter than its ${HEADER}-byte header`);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const magic = dv.getUint32(0, true);
  if (magic !== FRAME_MAGIC) throw new DecodeError(`not a Riptide frame (magic 0x${magic.toString(16)})`);
  const version = dv.getUint16(4, true);
  if (version !== FRAME_VERSION) throw new DecodeError(`unknown frame version ${version} (this build reads ${FRAME_VERSION})`);
  const fields = dv.getUint16(6, true);
  if (fields !== schema.fields.length) throw new DecodeError(`frame has ${fields} fields, schema ${schema.name} has ${schema.fields.length}`);
  const n = dv.getUint32(8, true);
  const tableBytes = dv.getUint32(16, true);
  // Every record takes at least one byte per field: a count beyond the message size cannot add up.
  if (n > frame.length || tableBytes > frame.length) throw new DecodeError(`frame length ${frame.length} does not match its header (${n} records, ${tableBytes} string bytes)`);
  let size = pad8(HEADER + tableBytes);
  for (const f of schema.fields) size += pad8(n * SIZE[f.type]!);
  if (size !== frame.length) throw new DecodeError(`frame length ${frame.length} does not match its header (${n} records, ${tableBytes} string bytes → ${size})`);
  return n;
}

/**
 * Checks a frame's header and interns its string table into `ids` (id of string k at k) unless
 * `ids` holds them already (not empty); returns the record count. Throws DecodeError as
 * decodeFrameInto does. The Kafka source calls it when a frame arrives, while its bytes are still
 * in the cache from the client's copy; decoding it later then finds `ids` filled.
 */
export function internFrameStrings(schema: Schema, frame: Uint8Array, interner: Interner, ids: number[]): number {
  for (const f of schema.fields) if (f.type === "text") throw new DecodeError(`frames do not carry text fields (${f.name}): send JSON`);
  const n = frameRecordCount(schema, frame);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const strings = dv.getUint32(12, true);
  const tableBytes = dv.getUint32(16, true);
  if (ids.length === 0 && strings > 0) {
    let p = HEADER;
    const end = HEADER + tableBytes;
    // Sized once (pushing 800 ids grew the array ten times over: ~15 bytes of garbage per record).
    ids.length = strings;
    for (let k = 0; k < strings; k++) {
      if (p + 2 > end) throw new DecodeError(`frame string table ends early at string ${k} of ${strings}`);
      const len = dv.getUint16(p, true);
      if (p + 2 + len > end) throw new DecodeError(`frame string ${k} overruns the string table`);
      ids[k] = interner.internBytes(frame, p + 2, len);
      p += 2 + len;
    }
    if (p !== end) throw new DecodeError(`frame string table has ${end - p} bytes left over`);
  }
  return n;
}

/**
 * Decodes records [from, from + max) of a frame into row `at` of `columns`. Strings are interned
 * through `interner`, once per distinct string of the frame (`ids` caches that mapping per frame;
 * pass the same array for every call on one frame). Returns the number of records written.
 */
export function decodeFrameInto(schema: Schema, frame: Uint8Array, from: number, max: number,
  columns: Record<string, ColumnArray>, at: number, interner: Interner, ids: number[]): number {
  const n = internFrameStrings(schema, frame, interner, ids);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const strings = dv.getUint32(12, true);
  const tableBytes = dv.getUint32(16, true);
  const count = Math.max(0, Math.min(max, n - from));
  let off = pad8(HEADER + tableBytes);
  const base = frame.byteOffset;
  for (const f of schema.fields) {
    const col = columns[f.name]!;
    const w = SIZE[f.type]!;
    const first = off + from * w;
    if (f.type === "string") {
      // A frame read in pieces is checked whole on its first piece: it goes to the DLQ entire or
      // not at all, never after some of its records were processed.
      if (from === 0) {
        for (let i = count; i < n; i++) {
          const k = dv.getUint32(off + i * 4, true);
          if (k !== MISSING && k >= strings) throw new DecodeError(`frame record ${i} refers to string ${k} of ${strings}`);
        }
      }
      for (let i = 0; i < count; i++) {
        const k = dv.getUint32(first + i * 4, true);
        if (k !== MISSING && k >= strings) throw new DecodeError(`frame record ${from + i} refers to string ${k} of ${strings}`);
        col[at + i] = k === MISSING ? 0 : ids[k]!;
      }
    } else if (f.type === "f64" && LITTLE_ENDIAN && ((base + first) & 7) === 0) {
      // Aligned (little-endian host): copy the column with one set().
      (col as Float64Array).set(new Float64Array(frame.buffer, base + first, count), at);
    } else {
      for (let i = 0; i < count; i++) {
        const p = first + i * w;
        switch (f.type) {
          case "f64": col[at + i] = dv.getFloat64(p, true); break;
          case "f32": col[at + i] = dv.getFloat32(p, true); break;
          case "i32": col[at + i] = dv.getInt32(p, true); break;
          case "u32": col[at + i] = dv.getUint32(p, true); break;
          case "u8": col[at + i] = dv.getUint8(p); break;
        }
      }
    }
    off += pad8(n * w);
  }
  return count;
}

/**
 * Encodes frames from columns (string fields as ids, named by `name`), keeping what repeats from
 * frame to frame: each id's name as UTF-8 bytes, encoded once, and the per-frame id → table index
 * (stamped by frame, never cleared). The load generator's fast path: one encoder per stream.
 * NaN stays NaN (it is "missing" to the decoder's validation, as JSON null is).
 */
export class FrameEncoder {
  // Each id's table entry (u16 length, then the name's UTF-8 bytes) in one arena, made on first use:
  // a frame's table is copied byte by byte from it, with no object per string.
  private arena = new Uint8Array(1 << 16);
  private arenaUsed = 0;
  private entryAt = new Int32Array(1024).fill(-1);
  private entryLen = new Int32Array(1024);
  private stampOf = new Uint32Array(1024);
  private slotOf = new Uint32Array(1024);
  private stamp = 0;
  /** This frame's distinct ids in table order, and each string field's table indexes (reused). */
  private order = new Uint32Array(1024);
  private idx: Uint32Array[] = [];

  constructor(private readonly schema: Schema, private readonly name: (id: number) => string) {}

  encode(columns: Record<string, ColumnArray>, n: number): Buffer {
    const schema = this.schema;
    if (++this.stamp === 0xffffffff) {
      this.stampOf.fill(0);
      this.stamp = 1;
    }
    const stamp = this.stamp;
    let strings = 0;
    let tableBytes = 0;
    let s = 0;
    for (const f of schema.fields) {
      if (f.type !== "string") continue;
      const col = columns[f.name]!;
      if (this.idx.length <= s || this.idx[s]!.length < n) this.idx[s] = new Uint32Array(Math.max(n, 1024));
      const idx = this.idx[s++]!;
      for (let i = 0; i < n; i++) {
        const id = col[i]!;
        if (id === 0) { idx[i] = MISSING; continue; }
        if (id >= this.stampOf.length) this.grow(id);
        if (this.stampOf[id] !== stamp) {
          this.stampOf[id] = stamp;
          this.slotOf[id] = strings;
          if (this.entryAt[id]! < 0) this.addEntry(id);
          if (strings === this.order.length) this.order = grown(this.order, strings * 2);
          this.order[strings++] = id;
          tableBytes += this.entryLen[id]!;
        }
        idx[i] = this.slotOf[id]!;
      }
    }
    const buf = frameWithHeader(schema, n, strings, tableBytes);
    const arena = this.arena, order = this.order, entryAt = this.entryAt, entryLen = this.entryLen;
    let at = HEADER;
    for (let k = 0; k < strings; k++) {
      const id = order[k]!;
      const from = entryAt[id]!;
      const end = from + entryLen[id]!;
      for (let j = from; j < end; j++) buf[at++] = arena[j]!;
    }
    at = pad8(at);
    s = 0;
    for (const f of schema.fields) {
      const w = SIZE[f.type]!;
      if (f.type === "string") {
        buf.set(new Uint8Array(this.idx[s++]!.buffer, 0, n * 4), at);
      } else {
        const col = columns[f.name]!;
        buf.set(new Uint8Array(col.buffer, col.byteOffset, n * w), at);
      }
      at += pad8(n * w);
    }
    return buf;
  }

  private addEntry(id: number): void {
    const bytes = Buffer.from(this.name(id), "utf8");
    const len = bytes.length;
    if (len > 0xffff) throw new RangeError("frame strings are limited to 65535 bytes");
    if (this.arenaUsed + 2 + len > this.arena.length) this.arena = grown(this.arena, Math.max(this.arena.length * 2, this.arenaUsed + 2 + len));
    const at = this.arenaUsed;
    this.arena[at] = len & 0xff;
    this.arena[at + 1] = len >>> 8;
    this.arena.set(bytes, at + 2);
    this.entryAt[id] = at;
    this.entryLen[id] = 2 + len;
    this.arenaUsed = at + 2 + len;
  }

  private grow(id: number): void {
    let size = this.stampOf.length;
    while (size <= id) size *= 2;
    this.stampOf = grown(this.stampOf, size);
    this.slotOf = grown(this.slotOf, size);
    const at = new Int32Array(size).fill(-1);
    at.set(this.entryAt);
    this.entryAt = at;
    this.entryLen = grown(this.entryLen, size);
  }
}

/** A copy of `a` in a zeroed array of `size` elements. */
function grown<T extends Uint8Array | Uint32Array | Int32Array>(a: T, size: number): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  return b;
}

/** One frame from columns: {@link FrameEncoder} without its memory of earlier frames. */
export function encodeFrameFromColumns(schema: Schema, columns: Record<string, ColumnArray>, n: number,
  name: (id: number) => string): Buffer {
  return new FrameEncoder(schema, name).encode(columns, n);
}
