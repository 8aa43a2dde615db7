/**
 * How the executor writes object state (user values) into a checkpoint (executor.ts snapshot()):
 * as JSON text, tagged where plain JSON would change a value, packed as UTF-8 into the
 * checkpoint's Float64Array.
 *
 *   a block at word `at`: [byte length B] [B bytes of UTF-8: "P" + plain JSON, or "T" + tagged JSON; padded to whole words]
 *
 * Tags: an object {"\u0000": tag, …} stands for a value JSON alone cannot hold —
 *   "n" a non-finite number (v: "NaN" | "Infinity" | "-Infinity"), "z" −0, "u" undefined,
 *   "b" a bigint (v: its digits), "D" a Date (v: ms), "M" a Map (v: its entries), "S" a Set
 *   (v: its values), "W" a Windowed key (k, s, e).
 * Anything else that is not a plain object or an array (functions, symbols, class instances,
 * cycles, an object with its own "\u0000" property) cannot be written: encodeState() throws
 * StateNotSerialisableError, and the snapshot is refused rather than written without it.
 */
import { Windowed } from "./windows.js";

const TAG = "\u0000";

/** A value in a state store that the checkpoint cannot write faithfully. */
export class StateNotSerialisableError extends Error {
  readonly code = "ERR_STATE_NOT_SERIALISABLE";
  constructor(what: string) {
    super(`a state store holds ${what}, which a checkpoint cannot write (plain objects, arrays, strings, numbers, booleans, null, undefined, bigint, Date, Map, Set and Windowed can)`);
    this.name = "StateNotSerialisableError";
  }
}

function describe(x: unknown): string {
  if (typeof x === "function") return "a function";
  if (typeof x === "symbol") return "a symbol";
  const ctor = (x as { constructor?: { name?: string } }).constructor?.name;
  return ctor ? `an instance of ${ctor}` : "an object with a foreign prototype";
}

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  if (raw !== value && typeof raw === "object" && raw !== null) {
    // toJSON() changed it: only Date is known to come back.
    if (raw instanceof Date) return { [TAG]: "D", v: raw.getTime() };
    throw new StateNotSerialisableError(describe(raw));
  }
  switch (typeof value) {
    case "string": case "boolean":
      return value;
    case "number":
      if (value - value !== 0) return { [TAG]: "n", v: String(value) };
      if (value === 0 && 1 / value < 0) return { [TAG]: "z" };
      return value;
    case "undefined":
      return { [TAG]: "u" };
    case "bigint":
      return { [TAG]: "b", v: value.toString() };
    case "object": {
      if (value === null || Array.isArray(value)) return value;
      const proto = Object.getPrototypeOf(value);
      if (proto === Object.prototype || proto === null) {
        if (Object.prototype.hasOwnProperty.call(value, TAG)) throw new StateNotSerialisableError(`an object with a property named "\\u0000"`);
        return value;
      }
      if (value instanceof Windowed) return { [TAG]: "W", k: value.key, s: value.window.start, e: value.window.end };
      if (value instanceof Map) return { [TAG]: "M", v: [...value] };
      if (value instanceof Set) return { [TAG]: "S", v: [...value] };
      throw new StateNotSerialisableError(describe(value));
    }
    default:
      throw new StateNotSerialisableError(describe(value));
  }
}

/** Nesting beyond which plainJson() gives up (a cycle, or a tree deep enough to take the slow path). */
const MAX_DEPTH = 200;

/** True when JSON.stringify alone writes x faithfully: only finite numbers (not −0), strings, booleans, null, plain objects, arrays. */
function plainJson(x: unknown, depth: number): boolean {
  switch (typeof x) {
    case "string": case "boolean":
      return true;
    case "number":
      return x - x === 0 && (x !== 0 || 1 / x > 0);
    case "object": {
      if (x === null) return true;
      if (depth > MAX_DEPTH) return false;
      if (Array.isArray(x)) {
        for (let i = 0; i < x.length; i++) if (!plainJson(x[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(x);
      if (proto !== Object.prototype && proto !== null) return false;
      const o = x as Record<string, unknown>;
      for (const k in o) {
        if (k === TAG || !Object.prototype.hasOwnProperty.call(o, k) || !plainJson(o[k], depth + 1)) return false;
      }
      return !("toJSON" in o);
    }
    default:
      return false;
  }
}

/**
 * JSON text of a state tree: "P" then plain JSON when nothing needs a tag (the fast path, the
 * engine's values), else "T" then tagged JSON. Throws StateNotSerialisableError (TypeError for a cycle).
 */
export function encodeState(x: unknown): string {
  return plainJson(x, 0) ? "P" + JSON.stringify(x) : "T" + JSON.stringify(x, replacer);
}

/** The state tree of a text written by encodeState(). */
export function decodeState(text: string): unknown {
  const json = JSON.parse(text.slice(1));
  return text.charCodeAt(0) === 84 /* T */ ? revive(json) : json;
}

function set(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}

function revive(x: unknown): unknown {
  if (typeof x !== "object" || x === null) return x;
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (typeof v === "object" && v !== null) x[i] = revive(v);
    }
    return x;
  }
  const o = x as Record<string, unknown>;
  if (Object.prototype.hasOwnProperty.call(o, TAG)) return untag(o);
  for (const k in o) {
    const v = o[k];
    if (typeof v === "object" && v !== null) {
      const r = revive(v);
      if (r !== v) set(o, k, r);
    }
  }
  return o;
}

function untag(o: Record<string, unknown>): unknown {
  switch (o[TAG]) {
    case "n": return Number(o["v"]);
    case "z": return -0;
    case "u": return undefined;
    case "b": return BigInt(o["v"] as string);
    case "D": return new Date(revive(o["v"]) as number);
    case "M": return new Map(revive(o["v"]) as [unknown, unknown][]);
    case "S": return new Set(revive(o["v"]) as unknown[]);
    case "W": return new Windowed(revive(o["k"]), { start: revive(o["s"]) as number, end: revive(o["e"]) as number });
    default: throw new Error(`checkpoint: unknown value tag ${JSON.stringify(o[TAG])}`);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes `text` as a block at word `at` of `into`; returns the words written, or -1 when it does not fit. */
export function writeText(into: Float64Array, at: number, text: string): number {
  const room = (into.length - at - 1) * 8;
  if (room < text.length) return -1; // UTF-8 needs at least one byte per UTF-16 unit
  const bytes = new Uint8Array(into.buffer, into.byteOffset + (at + 1) * 8, room);
  const { read, written } = encoder.encodeInto(text, bytes);
  if (read < text.length) return -1;
  bytes.fill(0, written, Math.ceil(written / 8) * 8); // the same state writes the same words
  into[at] = written;
  return 1 + Math.ceil(written / 8);
}

/** The text of the block at word `at` of `from`, and its words. */
export function readText(from: Float64Array, at: number): { text: string; words: number } {
  const n = from[at]!;
  if (!(n >= 0) || at + 1 + Math.ceil(n / 8) > from.length) throw new Error(`checkpoint: a state block of ${n} bytes at word ${at} runs past the checkpoint (${from.length} words)`);
  const text = decoder.decode(new Uint8Array(from.buffer, from.byteOffset + (at + 1) * 8, n));
  return { text, words: 1 + Math.ceil(n / 8) };
}
