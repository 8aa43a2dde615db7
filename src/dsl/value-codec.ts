/**
 * The compact binary form of values in an off-heap store (the join buffer, join-store.ts; the table
 * store, table-store.ts; values by slot, value-slots.ts): a base class holding a byte arena (an
 * ArrayBuffer, grown by doubling) and writing values at its end (`used`), reading them back from an
 * offset. Writing plain data (null, booleans, numbers, strings, arrays, plain objects) allocates
 * nothing; write() returns false for a value it cannot write (a class instance, a Map, a bigint, a
 * cycle, nesting past 64 levels, a string with a lone surrogate), which the store keeps as an object
 * instead. Values come back as copies of their own enumerable string-keyed data; an object is built
 * by a constructor made once per shape (its property names, in order: an object literal, so no
 * keyed store per property), up to MAX_SHAPES shapes a codec.
 *
 * Value bytes: a tag, then — 0 null, 1 undefined, 2 false, 3 true, 4 float64, 5 string (u32 bytes,
 * UTF-8), 6 array (u32 count, items), 7 plain object (u32 count, then per property: its name as a
 * u16 index into the store's table of property names, or 0xFFFF and a string once the table is
 * full; its value), 8 int32, 9 ASCII string (u32 bytes, one per character). Little-endian.
 */
import { decodeState, encodeState } from "./state-codec.js";
const T_NULL = 0;
const T_UNDEFINED = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_F64 = 4;
const T_STRING = 5;
const T_ARRAY = 6;
const T_OBJECT = 7;
const T_I32 = 8;
export const T_ASCII = 9;
/** Strings up to this long are tried as ASCII, written byte by byte (no call into UTF-8 encoding). */
export const SHORT = 48;
/** Property-name index meaning "the name follows as a string" (the table is full). */
const INLINE_NAME = 0xffff;
/** Top-level property positions whose last name is remembered. */
const HINTS = 16;
const MAX_DEPTH = 64;
/** Objects with more properties are built property by property (no shape constructor). */
const MAX_SHAPE_FIELDS = 32;
/** Shape constructors in the direct-mapped table (a power of two). */
const SHAPES = 256;
/** Shape constructors made at most, per codec. */
const MAX_SHAPES = 1024;

interface Shape { ids: Int32Array; make: (v: unknown[], b: number) => Record<string, unknown> }

export type Bytes = Buffer & {
  utf8Write(s: string, offset: number, max: number): number;
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
};

export function arena(bytes: number): Bytes {
  return Buffer.from(new ArrayBuffer(bytes)) as Bytes;
}

const hasOwn = Object.prototype.hasOwnProperty;

/** A 32-bit integer, little-endian (read back signed; lengths and counts stay below 2^31). */
export function put32(b: Uint8Array, at: number, x: number): void {
  b[at] = x;
  b[at + 1] = x >>> 8;
  b[at + 2] = x >>> 16;
  b[at + 3] = x >>> 24;
}

export function get32(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
}

export class ValueCodec {
  protected buf: Bytes;
  /** Arena bytes written (live and dead). */
  protected used = 0;
  /** Property names of object values, by index (in the value bytes), and back. */
  protected names: string[] = [];
  protected nameIds = new Map<string, number>();
  /** The names (and their indexes) of the last top-level object written, by position. */
  protected readonly hintNames: (string | undefined)[] = new Array<string | undefined>(HINTS).fill(undefined);
  protected readonly hintIds = new Int32Array(HINTS);

  constructor(arenaBytes: number) {
    this.buf = arena(arenaBytes);
  }

  /** The property-name table as a checkpoint text (state-codec.ts), and back. */
  protected namesText(): string {
    return encodeState(this.names);
  }
  protected loadNames(text: string): void {
    this.names = decodeState(text) as string[];
    this.nameIds = new Map(this.names.map((name, i) => [name, i]));
    this.hintNames.fill(undefined);
    this.shapes.fill(undefined);
    this.shapesMade.clear();
  }


  protected room(n: number): void {
    if (this.used + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.used + n) cap *= 2;
    const grown = arena(cap);
    this.buf.copy(grown, 0, 0, this.used);
    this.buf = grown;
  }

  /**
   * A string with its tag (T_ASCII or T_STRING, written here at `used`); false for a string UTF-8
   * cannot hold (a lone surrogate), which the caller keeps as an object instead.
   */
  protected writeString(s: string): boolean {
    const L = s.length;
    this.room(5 + 3 * L);
    const b = this.buf;
    const at = this.used;
    if (L <= SHORT) {
      let i = 0;
      for (; i < L; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[at + 5 + i] = c;
      }
      if (i === L) {
        b[at] = T_ASCII;
        put32(b, at + 1, L);
        this.used = at + 5 + L;
        return true;
      }
    }
    if (!(s as unknown as { isWellFormed(): boolean }).isWellFormed()) return false;
    b[at] = T_STRING;
    const n = b.utf8Write(s, at + 5, 3 * L);
    put32(b, at + 1, n);
    this.used = at + 5 + n;
    return true;
  }

  /** A number with its tag: T_I32 when `int32` (x must be one), else T_F64. */
  protected writeNumber(x: number, int32: boolean): void {
    if (int32) {
      this.room(5);
      this.buf[this.used] = T_I32;
      put32(this.buf, this.used + 1, x);
      this.used += 5;
    } else {
      this.room(9);
      this.buf[this.used] = T_F64;
      this.buf.writeDoubleLE(x, this.used + 1);
      this.used += 9;
    }
  }

  /** Writes v at `used`; false when the codec cannot write it (the caller rolls `used` back). */
  protected write(v: unknown, depth: number): boolean {
    switch (typeof v) {
      case "number":
        this.writeNumber(v, (v | 0) === v && (v !== 0 || 1 / v > 0));
        return true;
      case "string":
        return this.writeString(v);
      case "boolean":
        this.room(1);
        this.buf[this.used++] = v ? T_TRUE : T_FALSE;
        return true;
      case "undefined":
        this.room(1);
        this.buf[this.used++] = T_UNDEFINED;
        return true;
      case "object": {
        if (v === null) {
          this.room(1);
          this.buf[this.used++] = T_NULL;
          return true;
        }
        if (depth >= MAX_DEPTH) return false;
        if (Array.isArray(v)) {
          this.room(5);
          this.buf[this.used] = T_ARRAY;
          put32(this.buf, this.used + 1, v.length);
          this.used += 5;
          for (let i = 0; i < v.length; i++) if (!this.write(v[i], depth + 1)) return false;
          return true;
        }
        return Object.getPrototypeOf(v) === Object.prototype && this.writeObject(v as Record<string, unknown>, depth);
      }
      default:
        return false;
    }
  }

  protected writeObject(o: Record<string, unknown>, depth: number): boolean {
    this.room(5);
    this.buf[this.used] = T_OBJECT;
    const countAt = this.used + 1;
    this.used += 5;
    let count = 0;
    for (const name in o) {
      if (!hasOwn.call(o, name)) continue;
      // Values of one shape repeat their names in order: the last top-level names are tried first.
      let id: number | undefined;
      const hinted = depth === 0 && count < HINTS;
      if (hinted && this.hintNames[count] === name) {
        id = this.hintIds[count]!;
      } else {
        id = this.nameIds.get(name);
        if (id === undefined && this.names.length < INLINE_NAME) {
          id = this.names.length;
          this.names.push(name);
          this.nameIds.set(name, id);
        }
        if (hinted && id !== undefined) {
          this.hintNames[count] = name;
          this.hintIds[count] = id;
        }
      }
      this.room(2);
      const x = id ?? INLINE_NAME;
      this.buf[this.used] = x;
      this.buf[this.used + 1] = x >>> 8;
      this.used += 2;
      if (id === undefined && !this.writeString(name)) return false;
      if (!this.write(o[name], depth + 1)) return false;
      count++;
    }
    put32(this.buf, countAt, count);
    return true;
  }

  /** Read position of read(). */
  protected rd = 0;
  /** readObject()'s stacks of property name indexes and values (nested objects above their parent's). */
  private idStack = new Int32Array(64);
  private readonly valStack: unknown[] = [];
  private sp = 0;
  /** Constructors of the object shapes read, direct-mapped by the hash of their names' indexes. */
  private readonly shapes: (Shape | undefined)[] = new Array<Shape | undefined>(SHAPES).fill(undefined);
  /** Every shape constructor made, by its names' indexes as text. */
  private readonly shapesMade = new Map<string, Shape>();

  /** A string with its tag. */
  protected readString(): string {
    const ascii = this.buf[this.rd] === T_ASCII;
    const n = get32(this.buf, this.rd + 1);
    const a = this.rd + 5;
    this.rd = a + n;
    return ascii ? this.buf.latin1Slice(a, a + n) : this.buf.utf8Slice(a, a + n);
  }

  /**
   * An object: its properties' name indexes and values read onto the stacks, then built by the
   * constructor of its shape (made on first sight: an object literal of those names, so every value
   * of one shape gets one hidden class with no keyed stores), or property by property when a name
   * is inline, is `__proto__`, or the object has more than MAX_SHAPE_FIELDS properties.
   */
  private readObject(): Record<string, unknown> {
    const b = this.buf;
    const n = get32(b, this.rd);
    this.rd += 4;
    const base = this.sp;
    this.sp += n;
    if (this.sp > this.idStack.length) {
      const grown = new Int32Array(Math.max(2 * this.idStack.length, this.sp));
      grown.set(this.idStack);
      this.idStack = grown;
    }
    const ids = this.idStack;
    const vals = this.valStack;
    while (vals.length < this.sp) vals.push(undefined);
    let h = n;
    let shaped = n <= MAX_SHAPE_FIELDS;
    for (let i = 0; i < n; i++) {
      const id = b[this.rd]! | (b[this.rd + 1]! << 8);
      this.rd += 2;
      if (id === INLINE_NAME) {
        shaped = false;
        ids[base + i] = -1;
        const name = this.readString();
        vals[base + i] = [name, this.read()];
        continue;
      }
      ids[base + i] = id;
      h = (Math.imul(h, 31) + id) | 0;
      vals[base + i] = this.read();
    }
    let o: Record<string, unknown>;
    const shape = shaped ? this.shapeOf(ids, base, n, h) : undefined;
    if (shape !== undefined) {
      o = shape(vals, base);
    } else {
      o = {};
      for (let i = 0; i < n; i++) {
        const id = ids[base + i]!;
        let name: string;
        let x: unknown;
        if (id < 0) [name, x] = vals[base + i] as [string, unknown];
        else {
          name = this.names[id]!;
          x = vals[base + i];
        }
        if (name === "__proto__") Object.defineProperty(o, name, { value: x, writable: true, enumerable: true, configurable: true });
        else o[name] = x;
      }
    }
    for (let i = 0; i < n; i++) vals[base + i] = undefined;
    this.sp = base;
    return o;
  }

  /**
   * The constructor of the shape of names ids[base…base + n) (hash h): from the direct-mapped table,
   * else from all those made (by the names' indexes as text), else made when fewer than MAX_SHAPES
   * are (values with keys that are data, say a user id each, would make one per value);
   * undefined for a shape with `__proto__` or past the limit (the caller builds property by property).
   */
  private shapeOf(ids: Int32Array, base: number, n: number, h: number): Shape["make"] | undefined {
    const c = (h ^ (h >>> 11)) & (SHAPES - 1);
    const hit = this.shapes[c];
    if (hit !== undefined && hit.ids.length === n) {
      let i = 0;
      while (i < n && hit.ids[i] === ids[base + i]) i++;
      if (i === n) return hit.make;
    }
    const key = ids.subarray(base, base + n).join(",");
    let shape = this.shapesMade.get(key);
    if (shape === undefined) {
      if (this.shapesMade.size >= MAX_SHAPES) return undefined;
      const names: string[] = [];
      for (let i = 0; i < n; i++) names.push(this.names[ids[base + i]!]!);
      if (names.includes("__proto__")) return undefined;
      // An object literal of the names (quoted by JSON.stringify: the names are data, never code).
      const make = new Function("v", "b", `return {${names.map((x, i) => `${JSON.stringify(x)}: v[b + ${i}]`).join(", ")}};`) as Shape["make"];
      shape = { ids: ids.slice(base, base + n), make };
      this.shapesMade.set(key, shape);
    }
    this.shapes[c] = shape;
    return shape.make;
  }

  protected read(): unknown {
    const tag = this.buf[this.rd++]!;
    switch (tag) {
      case T_NULL: return null;
      case T_UNDEFINED: return undefined;
      case T_FALSE: return false;
      case T_TRUE: return true;
      case T_I32: { const x = get32(this.buf, this.rd); this.rd += 4; return x; }
      case T_F64: { const x = this.buf.readDoubleLE(this.rd); this.rd += 8; return x; }
      case T_STRING: case T_ASCII: this.rd--; return this.readString();
      case T_ARRAY: {
        const n = get32(this.buf, this.rd);
        this.rd += 4;
        const a = new Array<unknown>(n);
        for (let i = 0; i < n; i++) a[i] = this.read();
        return a;
      }
      case T_OBJECT: return this.readObject();
      default: throw new Error(`join store: unknown value tag ${tag} at byte ${this.rd - 1}`);
    }
  }

}
