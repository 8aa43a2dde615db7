/**
 * An off-heap key-value store for KTables (builder.table() sources and non-windowed aggregations),
 * as Kafka Streams keeps a table in RocksDB behind serdes: keys and values are written in a compact
 * binary form (value-codec.ts) into one byte arena; an open-addressing index over the key bytes
 * finds an entry's slot; per-slot metadata lives in typed arrays.
 *
 *   index:  cells of [slot + 1 (0: empty), hash] (Int32), a power of two; linear probing by the key
 *           bytes' hash (FNV-1a), deletion by backward shift (no tombstones); at most 1/2 full
 *   slot:   keyOff keyLen valOff valLen valCap hash (Int32, side by side)   `cols` numbers (Float64)
 *   arena:  [key a][value a][key b][dead][value b'] …  used ─►|   (capacity)
 *
 * A key is written at the arena's end to be hashed and compared (a lookup writes it and leaves it
 * there unused); a new entry keeps it. Keys are identified as the object stores' keyOf() does:
 * primitives by value (0 and −0 one key, NaN one key), objects by their JSON. A value is written
 * after its key; an update that fits the value's bytes overwrites them in place, otherwise it goes
 * to the end and the old bytes are dead. The arena is compacted (into a fresh one) when the dead
 * bytes reach the live ones. Values the codec cannot write (a Map, a Date, a class instance…) are
 * kept as objects beside the arena (valLen −1) and reported by heap-size.ts's estimate.
 * Aggregations keep numbers per entry in `cols` Float64 columns (their latest timestamp; a built-in
 * aggregate's count, sum, min, max: then no value bytes at all).
 *
 * Lookups parse the value back from its bytes; a small direct-mapped cache of parsed values (by
 * slot; an update replaces the slot's entry, a delete clears it) lets hot keys skip that, and holds
 * the value an update wrote, so a lookup right after it hands back that very object as a Map would.
 * A cached value is shared by the lookups that hit it: code that mutates a value it got from the
 * table (or wrote to it) changes what later lookups see until the entry leaves the cache, where the
 * Map store keeps such a change for good; the bytes are what a checkpoint writes.
 *
 * Bounded: at `limit` entries an insert of a new key fails with StateStoreFullError (ERR_STATE_FULL)
 * — a table cannot drop a key silently; updates and deletes of present keys still go. Memory is the
 * typed arrays, the index and the arena held (capacity, not use), plus the objects' estimate.
 */
import { StateStoreFullError } from "./errors.js";
import { decodeState, encodeState, readText, writeText } from "./state-codec.js";
import { heapBytes } from "./heap-size.js";
import { SHORT, T_ASCII, ValueCodec, arena, put32 } from "./value-codec.js";

/** valLen of a value kept as an object (not in the arena). */
const ON_HEAP = -1;
/** valLen of an entry that has no value bytes (numbers in its columns only). */
const NO_VALUE = -2;
/** Dead arena bytes below which the arena is not compacted. */
const COMPACT_MIN = 16 * 1024;
/** findAscii(): the key is not an ASCII string. */
const NOT_ASCII = -2;
/** Parsed values cached (a power of two). */
const CACHE = 256;

// Key tags (the value tags of value-codec.ts where the key is written as a value; numbers: its I32 and F64).
const K_NULL = 0;
const K_UNDEFINED = 1;
const K_FALSE = 2;
const K_TRUE = 3;
const K_NAN = 10;
const K_UTF16 = 11;
const K_BIGINT = 12;
const K_OBJECT = 13;

/** Fields of a slot in `meta`: key bytes, value bytes, bytes reserved for the value (≥ its length; an update that fits is written in place), key hash. */
const KEY_OFF = 0;
const KEY_LEN = 1;
const VAL_OFF = 2;
const VAL_LEN = 3;
const VAL_CAP = 4;
const HASH = 5;
const META = 6;

/** Header words of a checkpoint: entries, slot capacity, index capacity, arena capacity, columns. */
const HEADER = 5;

const FNV_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over n bytes of b from `at`. */
function hashBytes(b: Uint8Array, at: number, n: number): number {
  let h = FNV_BASIS;
  for (let i = at; i < at + n; i++) h = Math.imul(h ^ b[i]!, FNV_PRIME);
  return h;
}

export class OffHeapTableStore extends ValueCodec {
  /** META fields per slot (see the field constants), one slot's in one cache line. */
  private meta = new Int32Array(0);
  /** Slots allocated. */
  private slots = 0;
  private num = new Float64Array(0);
  private freeSlots = new Int32Array(0);
  private freeCount = 0;
  private index = new Int32Array(0);
  private mask = 0;
  /** Values kept as objects (ON_HEAP), by slot, and their estimated bytes. */
  private readonly objects: unknown[] = [];
  private objectBytes = 0;
  private readonly cacheSlot = new Int32Array(CACHE).fill(-1);
  private readonly cacheVal: unknown[] = new Array<unknown>(CACHE).fill(undefined);
  /** Arena bytes of live keys and values (their reserved bytes). */
  private liveBytes = 0;
  private readonly initialArena: number;
  /** The staged key (written at `used` by find(), or an ASCII string still to write): its length and hash. */
  private stagedLen = 0;
  private stagedHash = 0;
  private stagedAscii: string | undefined = undefined;
  /** Entries. */
  size = 0;

  /**
   * `cols` numbers per entry (numOf/setNum); `limit`: the bound on entries (maxStoreEntries).
   */
  constructor(private readonly limit: number, private readonly name: string, readonly cols = 0, slots = 64, arenaBytes = 4096) {
    super(arenaBytes);
    this.initialArena = arenaBytes;
    this.growSlots(slots);
    this.growIndex(slots * 2);
  }

  /** Bytes held: typed arrays, index and arena (capacity), plus the estimate of the values kept as objects. */
  get bytes(): number {
    return this.meta.byteLength + this.num.byteLength + this.index.byteLength + this.buf.length +
      this.cacheSlot.byteLength + 8 * CACHE + this.objectBytes;
  }

  /** Arena bytes written, live and held (for tests and benches). */
  arenaUsage(): { used: number; live: number; capacity: number } {
    return { used: this.used, live: this.liveBytes, capacity: this.buf.length };
  }

  // ── lookups and updates ──────────────────────────────────────────────────────────────────────

  /**
   * The slot of key k, −1 when the store does not hold it; the key stays written at the arena's
   * end, for insert() to keep. Throws for a key that is a symbol or a function.
   */
  find(k: unknown): number {
    const dead = this.used - this.liveBytes;
    if (dead >= COMPACT_MIN && dead >= this.liveBytes) this.compact();
    if (typeof k === "string" && k.length <= SHORT) {
      const s = this.findAscii(k);
      if (s !== NOT_ASCII) return s;
    }
    this.stagedAscii = undefined;
    const at = this.used;
    this.writeKey(k);
    const n = this.used - at;
    this.used = at;
    const h = hashBytes(this.buf, at, n);
    this.stagedLen = n;
    this.stagedHash = h;
    const x = this.index;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const s = x[2 * i]! - 1;
      if (s < 0) return -1;
      if (x[2 * i + 1] === h && this.meta[META * s + KEY_LEN] === n && this.sameBytes(this.meta[META * s + KEY_OFF]!, at, n)) return s;
    }
  }

  /**
   * find() for a short string: its key bytes ([T_ASCII, u32 length, the characters], as writeKey()
   * writes them) hashed and compared from the string itself, written only by insert().
   * NOT_ASCII for a string with other characters (the general path writes them).
   */
  private findAscii(k: string): number {
    const L = k.length;
    let h = Math.imul(FNV_BASIS ^ T_ASCII, FNV_PRIME);
    h = Math.imul(h ^ L, FNV_PRIME); // L ≤ SHORT: one byte, the other three 0
    h = Math.imul(h, FNV_PRIME);
    h = Math.imul(h, FNV_PRIME);
    h = Math.imul(h, FNV_PRIME);
    for (let i = 0; i < L; i++) {
      const c = k.charCodeAt(i);
      if (c >= 0x80) return NOT_ASCII;
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    const n = 5 + L;
    this.stagedLen = n;
    this.stagedHash = h;
    this.stagedAscii = k;
    const x = this.index;
    const b = this.buf;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const s = x[2 * i]! - 1;
      if (s < 0) return -1;
      if (x[2 * i + 1] !== h || this.meta[META * s + KEY_LEN] !== n) continue;
      const off = this.meta[META * s + KEY_OFF]!;
      if (b[off] !== T_ASCII) continue;
      let j = 0;
      while (j < L && b[off + 5 + j] === k.charCodeAt(j)) j++;
      if (j === L) return s;
    }
  }

  /**
   * A new entry for the key find() just missed (nothing may touch the store in between): its slot,
   * with no value yet (NO_VALUE), columns 0. StateStoreFullError at the bound.
   */
  insert(): number {
    if (this.size >= this.limit) throw new StateStoreFullError(this.name, this.limit);
    if (this.freeCount === 0) this.growSlots(this.slots * 2);
    if ((this.size + 1) * 4 > this.index.length) this.growIndex(this.index.length);
    const s = this.freeSlots[--this.freeCount]!;
    const n = this.stagedLen;
    if (this.stagedAscii !== undefined) {
      this.writeKey(this.stagedAscii); // its bytes at `used`, where the general path leaves them
      this.used -= n;
      this.stagedAscii = undefined;
    }
    this.meta[META * s + KEY_OFF] = this.used;
    this.meta[META * s + KEY_LEN] = n;
    this.used += n;
    this.liveBytes += n;
    this.meta[META * s + HASH] = this.stagedHash;
    this.meta[META * s + VAL_LEN] = NO_VALUE;
    this.meta[META * s + VAL_CAP] = 0;
    for (let c = 0; c < this.cols; c++) this.num[s * this.cols + c] = 0;
    this.place(s);
    this.size++;
    return s;
  }

  /** Writes the value of slot s (in place when it fits); the cache keeps `v` itself for lookups. */
  setValue(s: number, v: unknown): void {
    this.dropValue(s);
    const start = this.used;
    if (this.write(v, 0)) {
      const n = this.used - start;
      if (n <= this.meta[META * s + VAL_CAP]!) {
        this.buf.copyWithin(this.meta[META * s + VAL_OFF]!, start, start + n);
        this.used = start;
      } else {
        this.liveBytes += n - this.meta[META * s + VAL_CAP]!;
        this.meta[META * s + VAL_OFF] = start;
        this.meta[META * s + VAL_CAP] = n;
      }
      this.meta[META * s + VAL_LEN] = n;
    } else {
      this.used = start;
      this.liveBytes -= this.meta[META * s + VAL_CAP]!;
      this.meta[META * s + VAL_CAP] = 0;
      this.meta[META * s + VAL_LEN] = ON_HEAP;
      this.objects[s] = v;
      this.objectBytes += heapBytes(v);
    }
    const c = s & (CACHE - 1);
    this.cacheSlot[c] = s;
    this.cacheVal[c] = v;
  }

  /** The value of slot s (undefined when it has none): parsed from its bytes unless cached. */
  value(s: number): unknown {
    const c = s & (CACHE - 1);
    if (this.cacheSlot[c] === s) return this.cacheVal[c];
    const n = this.meta[META * s + VAL_LEN]!;
    let v: unknown;
    if (n === ON_HEAP) v = this.objects[s];
    else if (n === NO_VALUE) v = undefined;
    else {
      this.rd = this.meta[META * s + VAL_OFF]!;
      v = this.read();
    }
    this.cacheSlot[c] = s;
    this.cacheVal[c] = v;
    return v;
  }

  /** The value of key k, undefined when the store does not hold it. */
  get(k: unknown): unknown {
    const s = this.find(k);
    return s < 0 ? undefined : this.value(s);
  }

  /** Sets key k to v (a new entry when absent: StateStoreFullError at the bound); its slot. */
  put(k: unknown, v: unknown): number {
    let s = this.find(k);
    if (s < 0) s = this.insert();
    this.setValue(s, v);
    return s;
  }

  /** Removes slot s. */
  delete(s: number): void {
    const c = s & (CACHE - 1);
    if (this.cacheSlot[c] === s) {
      this.cacheSlot[c] = -1;
      this.cacheVal[c] = undefined;
    }
    this.dropValue(s);
    this.liveBytes -= this.meta[META * s + KEY_LEN]! + this.meta[META * s + VAL_CAP]!;
    this.unplace(s);
    this.meta[META * s + KEY_LEN] = -1;
    this.freeSlots[this.freeCount++] = s;
    this.size--;
    if (this.size === 0) {
      this.used = 0;
      this.liveBytes = 0;
      if (this.buf.length > this.initialArena) this.buf = arena(this.initialArena);
    }
  }

  numOf(s: number, c: number): number { return this.num[s * this.cols + c]!; }
  setNum(s: number, c: number, x: number): void { this.num[s * this.cols + c] = x; }

  /** Forgets a value kept as an object (its bytes in the arena stay reserved for the next write). */
  private dropValue(s: number): void {
    if (this.meta[META * s + VAL_LEN] !== ON_HEAP) return;
    this.objectBytes -= heapBytes(this.objects[s]);
    this.objects[s] = undefined;
    this.meta[META * s + VAL_LEN] = NO_VALUE;
  }

  private sameBytes(a: number, b: number, n: number): boolean {
    const buf = this.buf;
    for (let i = 0; i < n; i++) if (buf[a + i] !== buf[b + i]) return false;
    return true;
  }

  // ── keys ─────────────────────────────────────────────────────────────────────────────────────

  /** Writes key k at `used` (keyOf()'s identity: primitives by value, objects by their JSON). */
  private writeKey(k: unknown): void {
    switch (typeof k) {
      case "number":
        // The codec's number tags; −0 as 0 (one key, as in a Map).
        if (k !== k) return this.tag(K_NAN);
        return this.writeNumber((k | 0) === k ? k | 0 : k, (k | 0) === k);
      case "string": {
        const at = this.used;
        if (!this.writeString(k)) {
          this.used = at;
          this.writeUtf16(K_UTF16, k);
        }
        return;
      }
      case "boolean": return this.tag(k ? K_TRUE : K_FALSE);
      case "undefined": return this.tag(K_UNDEFINED);
      case "bigint": return this.writeUtf16(K_BIGINT, k.toString());
      case "object":
        if (k === null) return this.tag(K_NULL);
        return this.writeUtf16(K_OBJECT, JSON.stringify(k));
      default:
        throw new TypeError(`a table key must be null, a boolean, number, string, bigint or object, not a ${typeof k}`);
    }
  }

  private tag(t: number): void {
    this.room(1);
    this.buf[this.used++] = t;
  }

  /** A tag, the UTF-16 length and the code units (any string, lone surrogates too). */
  private writeUtf16(t: number, s: string): void {
    const L = s.length;
    this.room(5 + 2 * L);
    const b = this.buf;
    b[this.used] = t;
    put32(b, this.used + 1, L);
    let at = this.used + 5;
    for (let i = 0; i < L; i++) {
      const c = s.charCodeAt(i);
      b[at++] = c;
      b[at++] = c >>> 8;
    }
    this.used = at;
  }

  // ── the index ────────────────────────────────────────────────────────────────────────────────

  private place(s: number): void {
    const h = this.meta[META * s + HASH]!;
    let i = h & this.mask;
    while (this.index[2 * i] !== 0) i = (i + 1) & this.mask;
    this.index[2 * i] = s + 1;
    this.index[2 * i + 1] = h;
  }

  /** Removes slot s from the index, shifting back the entries of its probe run that may move into the hole. */
  private unplace(s: number): void {
    const m = this.mask;
    const x = this.index;
    let i = this.meta[META * s + HASH]! & m;
    while (x[2 * i] !== s + 1) i = (i + 1) & m;
    let j = i;
    for (;;) {
      j = (j + 1) & m;
      if (x[2 * j] === 0) break;
      const home = x[2 * j + 1]! & m;
      // The entry at j may move to the hole at i when its home is not in (i, j] (cyclically).
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        x[2 * i] = x[2 * j]!;
        x[2 * i + 1] = x[2 * j + 1]!;
        i = j;
      }
    }
    x[2 * i] = 0;
  }

  /** An index of `cells` cells (a power of two; two words each: slot + 1, hash). */
  private growIndex(cells: number): void {
    this.index = new Int32Array(2 * cells);
    this.mask = cells - 1;
    for (let s = 0; s < this.slots; s++) if (this.meta[META * s + KEY_LEN]! >= 0) this.place(s);
  }

  private growSlots(cap: number): void {
    const old = this.slots;
    if (cap <= old) return;
    const meta = new Int32Array(META * cap);
    meta.set(this.meta);
    for (let s = old; s < cap; s++) {
      meta[META * s + KEY_LEN] = -1;
      meta[META * s + VAL_LEN] = NO_VALUE;
    }
    this.meta = meta;
    this.slots = cap;
    const num = new Float64Array(cap * this.cols); num.set(this.num); this.num = num;
    const free = new Int32Array(cap);
    free.set(this.freeSlots.subarray(0, this.freeCount));
    for (let s = cap - 1; s >= old; s--) free[this.freeCount++] = s;
    this.freeSlots = free;
  }

  /** Copies the live keys and values into a fresh arena of at least twice their bytes. */
  private compact(): void {
    let cap = this.initialArena;
    while (cap < 2 * this.liveBytes) cap *= 2;
    const to = arena(cap);
    let at = 0;
    for (let s = 0; s < this.slots; s++) {
      const n = this.meta[META * s + KEY_LEN]!;
      if (n < 0) continue;
      this.buf.copy(to, at, this.meta[META * s + KEY_OFF]!, this.meta[META * s + KEY_OFF]! + n);
      this.meta[META * s + KEY_OFF] = at;
      at += n;
      const v = this.meta[META * s + VAL_CAP]!;
      if (v > 0) {
        this.buf.copy(to, at, this.meta[META * s + VAL_OFF]!, this.meta[META * s + VAL_OFF]! + v);
        this.meta[META * s + VAL_OFF] = at;
        at += v;
      }
    }
    this.buf = to;
    this.used = at;
    this.liveBytes = at;
  }

  // ── checkpoints ──────────────────────────────────────────────────────────────────────────────

  /**
   * [entries E, slot capacity, index capacity, arena capacity, columns C] [a state-codec text block:
   * the property-name table] then per entry in slot order: C numbers, key bytes K, value bytes
   * V (−1: kept as an object, −2: none), then the key's and the value's bytes padded to whole words
   * (V = −1: a state-codec text block of the value after the key's bytes). -1 when it does not fit.
   * Throws StateNotSerialisableError for a value kept as an object that a checkpoint cannot write.
   */
  exportTo(into: Float64Array, at: number): number {
    let o = at;
    if (o + HEADER > into.length) return -1;
    into[o++] = this.size; into[o++] = this.slots; into[o++] = this.index.length >> 1; into[o++] = this.buf.length; into[o++] = this.cols;
    const w = writeText(into, o, this.namesText());
    if (w < 0) return -1;
    o += w;
    for (let s = 0; s < this.slots; s++) {
      const K = this.meta[META * s + KEY_LEN]!;
      if (K < 0) continue;
      const V = this.meta[META * s + VAL_LEN]!;
      const bytes = K + Math.max(V, 0);
      const words = Math.ceil(bytes / 8);
      if (o + 2 + this.cols + words > into.length) return -1;
      for (let c = 0; c < this.cols; c++) into[o++] = this.num[s * this.cols + c]!;
      into[o++] = K;
      into[o++] = V;
      const out = new Uint8Array(into.buffer, into.byteOffset + o * 8, words * 8);
      out.set(this.buf.subarray(this.meta[META * s + KEY_OFF]!, this.meta[META * s + KEY_OFF]! + K));
      if (V > 0) out.set(this.buf.subarray(this.meta[META * s + VAL_OFF]!, this.meta[META * s + VAL_OFF]! + V), K);
      out.fill(0, bytes);
      o += words;
      if (V === ON_HEAP) {
        const w = writeText(into, o, encodeState(this.objects[s]));
        if (w < 0) return -1;
        o += w;
      }
    }
    return o - at;
  }

  /** Replaces the contents with those written by exportTo(); returns the words read. */
  importFrom(from: Float64Array, at: number): number {
    let o = at;
    const E = from[o++]!; const slotCap = from[o++]!; const indexCap = from[o++]!; const arenaCap = from[o++]!; const cols = from[o++]!;
    if (cols !== this.cols) throw new Error(`checkpoint: a table store of ${cols} columns read into one of ${this.cols}`);
    const names = readText(from, o);
    o += names.words;
    this.loadNames(names.text);
    this.meta = new Int32Array(0); this.slots = 0; this.num = new Float64Array(0);
    this.freeSlots = new Int32Array(0); this.freeCount = 0;
    this.objects.length = 0;
    this.objectBytes = 0;
    this.cacheSlot.fill(-1);
    this.cacheVal.fill(undefined);
    this.growSlots(slotCap);
    this.index = new Int32Array(2 * indexCap);
    this.mask = indexCap - 1;
    this.buf = arena(arenaCap);
    this.used = this.liveBytes = 0;
    this.size = 0;
    for (let e = 0; e < E; e++) {
      const s = this.freeSlots[--this.freeCount]!;
      for (let c = 0; c < cols; c++) this.num[s * cols + c] = from[o++]!;
      const K = from[o++]!;
      const V = from[o++]!;
      const bytes = K + Math.max(V, 0);
      this.room(bytes);
      this.buf.set(new Uint8Array(from.buffer, from.byteOffset + o * 8, bytes), this.used);
      this.meta[META * s + KEY_OFF] = this.used;
      this.meta[META * s + KEY_LEN] = K;
      this.meta[META * s + HASH] = hashBytes(this.buf, this.used, K);
      this.meta[META * s + VAL_OFF] = this.used + K;
      this.meta[META * s + VAL_LEN] = V;
      this.meta[META * s + VAL_CAP] = Math.max(V, 0);
      this.used += bytes;
      this.liveBytes += bytes;
      o += Math.ceil(bytes / 8);
      if (V === ON_HEAP) {
        const { text, words } = readText(from, o);
        this.objects[s] = decodeState(text);
        this.objectBytes += heapBytes(this.objects[s]);
        o += words;
      }
      this.place(s);
      this.size++;
    }
    return o - at;
  }
}
