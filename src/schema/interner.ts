/**
 * String interning at the edge: strings become dense u32 ids before records enter a ring, and
 * ids become strings again when outputs leave. Main thread only. Id 0 is reserved for "missing or
 * empty", so a non-empty string always gets an id ≥ 1.
 *
 * Interned strings are kept for the whole run: right for keys and other fields with few distinct
 * values (drivers, users, chats), which state is indexed by. A field with a new value in every
 * event (a message, payment or request id: a schema's `transient` fields) takes a transient id
 * instead (internTransient): one per occurrence, from TRANSIENT_BASE up, its string kept in a ring
 * of the last `transientCapacity` only. Interning those made a run's memory grow without bound:
 * message-delivery through Kafka held 1.65 GB after 1.2 M messages (bench/RESULTS.md).
 */
import type { Schema } from "./schema.js";

/**
 * Transient ids named by default. With the default rings a run holds about 200 k records between
 * decoding and rendering (input rings 16 × 2048 records and output rings 64 × 1024 outputs per
 * worker, 2 workers; the Kafka source keeps 65 536 unacknowledged): 5 × that, ~50 MB of strings at
 * most. State that keeps one holds it longer: driver-eta's open requests live 10 minutes of event
 * time, so past ~1 700 requests a second an old request's id may be gone when a driver is matched
 * to it. A lookup past it answers "" and is counted (Interner.transientMisses, and
 * transientSettings.misses over every interner, which `riptide run` reports with a warning;
 * `--transient-ids` raises it).
 */
export const TRANSIENT_CAPACITY = 1 << 20;

/**
 * Process-wide settings and counts of transient ids: `capacity` is what an Interner made without
 * one keeps (`riptide run --transient-ids N` sets it before the run's sources exist), `misses`
 * counts the lookups of every interner that found a transient id's string gone, so a run can
 * report its outputs that carry "" in place of an id, whichever source's table named them.
 */
export const transientSettings = { capacity: TRANSIENT_CAPACITY, misses: 0 };

export class Interner {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [""];
  // A second index over the same ids keyed by UTF-8 bytes (internBytes: frame string tables), so a
  // string seen before costs a hash and a compare of its bytes, not a decoded string and a Map probe
  // of it. Open addressing, one slot = 8 int32 side by side (32 bytes, half a cache line):
  // [hash, id, start, length, the first 16 bytes as 4 little-endian words] (id 0: empty), so a
  // probe for a string of up to 16 bytes (ids like drv-000123) reads one slot and nothing else;
  // longer ones compare the rest in `arena`. Before, every compare read the arena too: a second
  // memory access per string, in a table the shard workers' work beside it keeps evicting
  // (bench/sources/frame-decode.bench.ts: a frame's string table 1.3–1.4× faster so).
  private slots = new Int32Array(SLOT * 1024);
  private entries = 0;
  private arena = new Uint8Array(1 << 14);
  private arenaUsed = 0;
  /** Bumped by loadNames(): ids handed out before it may name other strings now. */
  generation = 0;
  /** The strings of the last transient ids: that of sequence number q at q % transientCapacity. */
  private recent: string[] = [];
  /** Transient ids handed out so far (the next one's sequence number). */
  private recentSeq = 0;
  /** name() calls for a transient id no longer kept (answered ""); transientSettings.misses sums every interner's. */
  transientMisses = 0;

  /**
   * `transientCapacity`: how many transient ids name their string (the most recent ones). It must
   * cover every record between its decoding and the rendering of its last output, and any state
   * that keeps such an id (driver-eta's open requests, for at most its request TTL).
   */
  constructor(readonly transientCapacity = transientSettings.capacity) {
    if (!Number.isInteger(transientCapacity) || transientCapacity < 1 || transientCapacity > TRANSIENT_SPAN) {
      throw new RangeError(`transientCapacity must be an integer in [1, ${TRANSIENT_SPAN}], got ${transientCapacity}`);
    }
  }

  /**
   * A transient id for `s` (0 for anything but a non-empty string): a new one at every call, equal
   * strings or not, named by name() until `transientCapacity` more have been handed out. Nothing is
   * kept beyond that, so a field with a new value per event costs bounded memory.
   */
  internTransient(s: unknown): number {
    if (typeof s !== "string" || s.length === 0) return 0;
    const q = this.recentSeq++;
    const k = q % this.transientCapacity;
    if (k === this.recent.length) this.recent.push(s);
    else this.recent[k] = s;
    return TRANSIENT_BASE + (q % TRANSIENT_SPAN);
  }

  /** internTransient() of the UTF-8 string in `bytes[at, at + len)`; 0 for len 0. */
  transientBytes(bytes: Uint8Array, at: number, len: number): number {
    return len <= 0 ? 0 : this.internTransient(decodeUtf8(bytes, at, len));
  }

  /** The string of a transient id, or "" once `transientCapacity` newer ones were handed out. */
  private recentName(id: number): string {
    const n = this.recentSeq;
    if (n === 0) return "";
    // Sequence numbers count on past the ids' span; an id is its number modulo the span.
    const age = (((n - 1) % TRANSIENT_SPAN) - (id - TRANSIENT_BASE) + TRANSIENT_SPAN) % TRANSIENT_SPAN;
    if (age >= this.transientCapacity || age >= n) {
      this.transientMisses++;
      transientSettings.misses++;
      return "";
    }
    return this.recent[(n - 1 - age) % this.transientCapacity] ?? "";
  }

  /** The id of `s`, assigning the next id on first sight; 0 for anything but a non-empty string. */
  intern(s: unknown): number {
    if (typeof s !== "string" || s.length === 0) return 0;
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.names.length;
      if (id >= TRANSIENT_BASE) throw new RangeError(`more than ${TRANSIENT_BASE - 1} distinct strings interned: a field with a new value per event must be a schema's transient field`);
      this.names.push(s);
      this.ids.set(s, id);
    }
    return id;
  }

  /**
   * The id of the UTF-8 string in `bytes[at, at + len)`, as intern() of its decoded text would give
   * (through intern(), so a subclass sees every new string); 0 for len 0. Malformed UTF-8 decodes
   * with U+FFFD as Buffer#toString does.
   */
  internBytes(bytes: Uint8Array, at: number, len: number): number {
    if (len <= 0) return 0;
    // The hash: FNV-1a's step on 4 bytes at a time (little-endian words, the last one zero-padded;
    // ids of 10 bytes take 3 dependent multiplies instead of 10), then murmur3's finaliser, so every
    // byte reaches the low bits the slot index takes. The first four words are kept for the compare.
    let h = 0x811c9dc5 ^ len;
    let w0 = 0, w1 = 0, w2 = 0, w3 = 0;
    const end = at + len;
    let i = at;
    for (let k = 0; i < end; i += 4, k++) {
      let w = bytes[i]!;
      if (i + 1 < end) w |= bytes[i + 1]! << 8;
      if (i + 2 < end) w |= bytes[i + 2]! << 16;
      if (i + 3 < end) w |= bytes[i + 3]! << 24;
      h = Math.imul(h ^ w, 0x01000193);
      if (k < 2) { if (k === 0) w0 = w; else w1 = w; } else if (k < 4) { if (k === 2) w2 = w; else w3 = w; }
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    const slots = this.slots;
    const mask = (slots.length >> 3) - 1;
    for (let k = h & mask; ; k = (k + 1) & mask) {
      const s = k << 3;
      const id = slots[s + 1]!;
      if (id === 0) break;
      if (slots[s] === h && slots[s + 3] === len && slots[s + 4] === w0 && slots[s + 5] === w1 && slots[s + 6] === w2 && slots[s + 7] === w3 &&
        (len <= PREFIX || this.sameBytes(slots[s + 2]! + PREFIX, bytes, at + PREFIX, len - PREFIX))) return id;
    }
    const id = this.intern(decodeUtf8(bytes, at, len));
    this.addBytes(h, bytes, at, len, id, w0, w1, w2, w3);
    return id;
  }

  private sameBytes(start: number, bytes: Uint8Array, at: number, len: number): boolean {
    const arena = this.arena;
    for (let i = 0; i < len; i++) if (arena[start + i] !== bytes[at + i]) return false;
    return true;
  }

  private addBytes(h: number, bytes: Uint8Array, at: number, len: number, id: number, w0: number, w1: number, w2: number, w3: number): void {
    if (this.arenaUsed + len > this.arena.length) {
      const grown = new Uint8Array(Math.max(this.arena.length * 2, this.arenaUsed + len));
      grown.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = grown;
    }
    this.arena.set(bytes.subarray(at, at + len), this.arenaUsed);
    if (++this.entries * 2 > this.slots.length >> 3) this.rehash(this.slots.length * 2);
    const s = freeSlot(this.slots, h);
    const slots = this.slots;
    slots[s] = h;
    slots[s + 1] = id;
    slots[s + 2] = this.arenaUsed;
    slots[s + 3] = len;
    slots[s + 4] = w0;
    slots[s + 5] = w1;
    slots[s + 6] = w2;
    slots[s + 7] = w3;
    this.arenaUsed += len;
  }

  private rehash(size: number): void {
    const old = this.slots;
    this.slots = new Int32Array(size);
    for (let s = 0; s < old.length; s += SLOT) {
      if (old[s + 1] !== 0) this.slots.set(old.subarray(s, s + SLOT), freeSlot(this.slots, old[s]!));
    }
  }

  /** The string of an id ("" for 0, an unknown id or a transient id no longer kept). */
  name(id: number): string {
    return id >= TRANSIENT_BASE ? this.recentName(id) : this.names[id] ?? "";
  }

  /** Every interned string in id order (id 1 first), to snapshot. */
  exportNames(): string[] {
    return this.names.slice(1);
  }

  /** The transient ids' strings still kept, oldest first, and how many ids were handed out: to snapshot. */
  exportTransient(): { seq: number; names: string[] } {
    const n = this.recentSeq;
    const kept = Math.min(n, this.transientCapacity);
    const names: string[] = new Array<string>(kept);
    for (let j = 0; j < kept; j++) names[j] = this.recent[(n - kept + j) % this.transientCapacity]!;
    return { seq: n, names };
  }

  /** Restores exportTransient()'s table: the same transient ids name the same strings again (the last transientCapacity of them). */
  loadTransient(state: { seq: number; names: readonly string[] }): void {
    const n = state.seq;
    if (!Number.isSafeInteger(n) || n < state.names.length) throw new RangeError(`a transient table of ${state.names.length} strings cannot end at sequence number ${n}`);
    const kept = Math.min(state.names.length, this.transientCapacity);
    this.recent = [];
    this.recentSeq = n;
    // Slot by slot as internTransient would have filled them (a hole for ids no longer kept).
    const slots = Math.min(n, this.transientCapacity);
    for (let k = 0; k < slots; k++) this.recent.push("");
    for (let j = state.names.length - kept; j < state.names.length; j++) {
      const q = n - state.names.length + j;
      this.recent[q % this.transientCapacity] = String(state.names[j]);
    }
  }

  /** Transient ids handed out so far. */
  get transientIds(): number {
    return this.recentSeq;
  }

  /** Replaces the table with one from exportNames(): the same strings get the same ids again. */
  loadNames(names: readonly string[]): void {
    this.generation++;
    this.ids.clear();
    this.names.length = 1;
    this.entries = 0;
    this.arenaUsed = 0;
    this.slots.fill(0);
    for (const s of names) {
      this.ids.set(s, this.names.length);
      this.names.push(s);
    }
  }

  get size(): number {
    return this.names.length - 1;
  }
}

/** The first transient id: interned ids stay below it (2^31 of them). */
export const TRANSIENT_BASE = 0x80000000;
/** Transient ids run from TRANSIENT_BASE to TRANSIENT_BASE + TRANSIENT_SPAN - 1 (below 2^32 - 1, a u32 column's range), then again from the base. */
const TRANSIENT_SPAN = 0x7ffffffe;
/** The most `--transient-ids` accepts (2^26: up to a few GB of strings). */
export const TRANSIENT_CAPACITY_MAX = 1 << 26;

/** Int32s per slot of the byte index: hash, id, start in the arena, length, then PREFIX bytes as words. */
const SLOT = 8;
/** Bytes of a string kept in its slot. */
const PREFIX = 16;

/** The index (in int32s) of the first empty slot of the probe sequence of hash h. */
function freeSlot(slots: Int32Array, h: number): number {
  const mask = (slots.length >> 3) - 1;
  let k = h & mask;
  while (slots[(k << 3) + 1] !== 0) k = (k + 1) & mask;
  return k << 3;
}

/** UTF-8 bytes as a string: short ASCII (the common case: ids) without the UTF-8 decoder. */
function decodeUtf8(bytes: Uint8Array, at: number, len: number): string {
  if (len <= 64) {
    let ascii = true;
    for (let i = 0; i < len; i++) if (bytes[at + i]! > 0x7f) { ascii = false; break; }
    if (ascii) return String.fromCharCode.apply(null, bytes.subarray(at, at + len) as unknown as number[]);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset + at, len).toString("utf8");
}

/**
 * An interner's transient ids for a snapshot, when the schema's state keeps them
 * (Schema.transientInState); else, or when it never gave one, {}.
 */
export function transientState(interner: Interner, schema: Schema): { transient?: { seq: number; names: string[] } } {
  return schema.transientInState === true && interner.transientIds > 0 ? { transient: interner.exportTransient() } : {};
}

/** Restores transientState()'s part of a snapshot, when there and when the interner gave no transient id yet. */
export function loadTransientState(interner: Interner, state: unknown): void {
  const t = (state as { transient?: { seq?: unknown; names?: unknown } } | null)?.transient;
  if (t === undefined || t === null || interner.transientIds > 0) return;
  if (typeof t.seq !== "number" || !Array.isArray(t.names)) throw new TypeError("a snapshot's transient string table must be {seq, names}");
  interner.loadTransient({ seq: t.seq, names: t.names.map(String) });
}
