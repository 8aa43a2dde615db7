/**
 * Estimates of the V8 heap bytes of the values an object store holds (executor.ts reports, the
 * values a table store keeps as objects), derived from the data instead of a flat figure per entry.
 *
 * The model (V8 on x64 as Node 20 runs it: 8-byte fields, no pointer compression):
 *   number          0 when it fits a small integer (31 bits, held in the field itself), else a
 *                   16-byte HeapNumber
 *   string          16-byte header + its characters (1 byte each when all are Latin-1, else 2),
 *                   rounded up to 8; a string shared by many values is counted for each of them
 *   plain object    24-byte header + 8 per own property (fields in the object) + their values
 *   array           32-byte JSArray + 16-byte backing store header + 8 per element + the elements
 *   Map / Set       64 bytes + MAP_ENTRY_BYTES (Set: 2/3 of it) per entry + keys and values
 *   Date 32, bigint 16 + 8 per 64 bits, other objects as plain objects (own enumerable properties)
 * An object reached twice within one value (shared, or in a cycle) counts once; past MAX_DEPTH
 * levels a value counts 0 more. Measured against this model: see
 * bench/dsl/table-store.bench.ts and bench/RESULTS.md (bytes per entry measured and reported).
 */

/**
 * One entry of a Map: V8's OrderedHashMap keeps 3 fields a slot (key, value, chain) and one bucket
 * per 2 slots; a table that doubles when full is 3/4 full on average: (3 + 0.5) × 8 / 0.75 ≈ 37.
 */
export const MAP_ENTRY_BYTES = 40;

/** A Map or Set object itself (JSMap and the header of its table), before its entries. */
export const MAP_BYTES = 64;

/** An array's own bytes (JSArray and its backing store's header), before its elements (8 each). */
export const ARRAY_BYTES = 48;

/** A plain object with `fields` properties (the record objects the stores make per entry). */
export function objectBytes(fields: number): number {
  return 24 + 8 * fields;
}

/** A number stored in a field: 0 when it is a small integer, else its HeapNumber. */
export function numberBytes(x: number): number {
  return (x | 0) === x && x >= -(2 ** 30) && x < 2 ** 30 && (x !== 0 || 1 / x > 0) ? 0 : 16;
}

export function stringBytes(s: string): number {
  let wide = false;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) {
      wide = true;
      break;
    }
  }
  return 16 + Math.ceil((wide ? 2 * s.length : s.length) / 8) * 8;
}

const MAX_DEPTH = 32;

/** Objects already counted in the value heapBytes is walking (cleared when it returns). */
const seen = new Set<object>();

/** The estimated heap bytes a value holds (see the file header); primitives in a field count their boxes only. */
export function heapBytes(x: unknown): number {
  if (typeof x !== "object" || x === null) return walk(x, 0);
  try {
    return walk(x, 0);
  } finally {
    seen.clear();
  }
}

function walk(x: unknown, depth: number): number {
  switch (typeof x) {
    case "number": return numberBytes(x);
    case "string": return stringBytes(x);
    case "bigint": return 16 + 8 * Math.ceil(x.toString(16).length / 16);
    case "object": {
      if (x === null || depth >= MAX_DEPTH || seen.has(x)) return 0;
      seen.add(x);
      if (Array.isArray(x)) {
        let n = ARRAY_BYTES + 8 * x.length;
        for (let i = 0; i < x.length; i++) n += walk(x[i], depth + 1);
        return n;
      }
      if (x instanceof Date) return 32;
      if (x instanceof Map || x instanceof Set) {
        const map = x instanceof Map;
        let n = MAP_BYTES + x.size * (map ? MAP_ENTRY_BYTES : Math.round((MAP_ENTRY_BYTES * 2) / 3));
        for (const [k, v] of (x as Map<unknown, unknown>).entries()) n += walk(k, depth + 1) + (map ? walk(v, depth + 1) : 0);
        return n;
      }
      let n = 24;
      const o = x as Record<string, unknown>;
      for (const k in o) {
        if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
        n += 8 + walk(o[k], depth + 1);
      }
      return n;
    }
    default: return 0;
  }
}

/** The items of each part, one part after the other, read lazily (for sampledBytes). */
export function* flatten<P, T>(parts: Iterable<P>, items: (p: P) => Iterable<T>): Generator<T> {
  for (const p of parts) yield* items(p);
}

/**
 * Entries sampled for an estimate of a large store: the first ones in the store's order (a store
 * whose first entries are unlike the rest is misjudged). A shard reports its stores once per batch.
 */
export const SAMPLE = 16;

/**
 * The estimated bytes of `count` entries from the first SAMPLE of them: their mean × count (all
 * of them when there are no more than SAMPLE). `each` gives the estimate of one entry.
 */
export function sampledBytes<T>(entries: Iterable<T>, count: number, each: (e: T) => number): number {
  if (count === 0) return 0;
  let n = 0;
  let sum = 0;
  for (const e of entries) {
    sum += each(e);
    if (++n === SAMPLE) break;
  }
  return n === 0 ? 0 : Math.round((sum / n) * count);
}
