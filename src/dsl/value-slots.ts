/**
 * Values by slot in one byte arena (value-codec.ts): the value half of an off-heap store whose slots
 * its owner allocates (the windowed aggregate store, window-value-store.ts; sessions' aggregates and
 * sliding windows' records in executor.ts). A slot's value is written at the arena's end, or over
 * its old bytes when it fits there; the old bytes are dead otherwise, and the arena is compacted
 * (into a fresh one) when the dead bytes reach the live ones. A value the codec cannot write (a
 * Map, a Date, a class instance…) is kept as an object beside the arena and counted by
 * heap-size.ts's estimate.
 *
 * In front of the arena, a write-back cache of at most `cacheEntries` values as objects (Kafka
 * Streams' record cache): set() only caches its value (dirty: the bytes are stale or absent), get()
 * hands back the cached object or parses the bytes and caches the result (clean). A value is written
 * as bytes when it leaves the cache: evicted (CLOCK: the hand passes over the slots used since its
 * last turn), written back by writeBack(), or exported: exportNames() writes every dirty value back
 * and empties the cache first, so a checkpoint holds every update and the store holds (and
 * reports) what one restored from it does. drop() discards a value without writing it. As in a
 * Map, a value a user function mutates in place is what the next read sees while cached; once
 * evicted, only what set() last gave is kept. `cacheEntries` 0 (the default; the window store asks
 * for a cache): no cache and none of its per-slot fields, every set() writes the bytes and every
 * get() parses them.
 *
 *   slot:  off len cap (Int32, side by side)   len: bytes, ON_HEAP (an object), NONE (no bytes)
 *          held (Uint8: NOT_CACHED, CLEAN, DIRTY)  recent (Uint8: CLOCK's bit)  at (Int32: place in the ring)
 *   ring:  the cached slots (Int32, grown by doubling up to `cacheEntries`), the CLOCK hand going round it once full
 */
import { decodeState, encodeState, readText, writeText } from "./state-codec.js";
import { SAMPLE, heapBytes } from "./heap-size.js";
import { ValueCodec, arena } from "./value-codec.js";

const ON_HEAP = -1;
const NONE = -2;
const OFF = 0;
const LEN = 1;
const CAP = 2;
const FIELDS = 3;
const NOT_CACHED = 0;
const CLEAN = 1;
const DIRTY = 2;
/** Dead arena bytes below which the arena is not compacted (above it: once they reach half the live ones). */
const COMPACT_MIN = 4 * 1024;
/** The cache's ring's first size (it doubles as values come, up to `cacheEntries`). */
const RING_FIRST = 64;
/**
 * Values cached when the owner does not say: none (sessions' aggregates and sliding windows' records
 * are read about once each; the window store asks for its own, window-value-store.ts).
 */
export const DEFAULT_CACHE_ENTRIES = 0;

export class SlotValues extends ValueCodec {
  private meta = new Int32Array(0);
  /** By slot: the cached object, or the value kept as an object (len ON_HEAP). */
  private readonly objects: unknown[] = [];
  private objectBytes = 0;
  private held = new Uint8Array(0);
  private recent = new Uint8Array(0);
  private at = new Int32Array(0);
  private ring: Int32Array;
  private cached = 0;
  private hand = 0;
  /** Arena bytes reserved by the slots' values. */
  private live = 0;
  private readonly initialArena: number;

  constructor(slots: number, arenaBytes = 4096, readonly cacheEntries = DEFAULT_CACHE_ENTRIES) {
    super(arenaBytes);
    this.initialArena = arenaBytes;
    this.ring = new Int32Array(Math.min(cacheEntries, RING_FIRST));
    this.grow(slots);
  }

  /** Per-slot fields for at least `slots` slots (new ones without a value); at least doubled when grown. */
  grow(slots: number): void {
    const old = this.meta.length / FIELDS;
    if (slots <= old) return;
    if (old > 0 && slots < 2 * old) slots = 2 * old;
    const meta = new Int32Array(FIELDS * slots);
    meta.set(this.meta);
    for (let s = old; s < slots; s++) meta[FIELDS * s + LEN] = NONE;
    this.meta = meta;
    if (this.cacheEntries === 0) return; // (values kept as objects only: `objects` stays sparse)
    const held = new Uint8Array(slots);
    held.set(this.held);
    this.held = held;
    const recent = new Uint8Array(slots);
    recent.set(this.recent);
    this.recent = recent;
    const at = new Int32Array(slots);
    at.set(this.at);
    this.at = at;
    for (let s = old; s < slots; s++) this.objects.push(undefined);
  }

  /**
   * Bytes held: the per-slot fields, the arena (capacity), the ring, the estimates of the values
   * kept as objects and of the cached ones (the first SAMPLE in the ring, scaled).
   */
  get bytes(): number {
    return this.meta.byteLength + 6 * this.held.length + this.buf.length + this.ring.byteLength + this.objectBytes + this.cachedBytes();
  }

  private cachedBytes(): number {
    const n = Math.min(this.cached, SAMPLE);
    if (n === 0) return 0;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += heapBytes(this.objects[this.ring[i]!]);
    return Math.round((sum / n) * this.cached);
  }

  /** Arena bytes written, live and held (for tests and benches). */
  arenaUsage(): { used: number; live: number; capacity: number } {
    return { used: this.used, live: this.live, capacity: this.buf.length };
  }

  /** Values cached now, and those not yet written back (for tests and benches). */
  cacheUsage(): { cached: number; dirty: number } {
    let dirty = 0;
    for (let i = 0; i < this.cached; i++) if (this.held[this.ring[i]!] === DIRTY) dirty++;
    return { cached: this.cached, dirty };
  }

  /** True when slot s's value is in the cache (for tests). */
  isCached(s: number): boolean {
    return this.cacheEntries > 0 && this.held[s] !== NOT_CACHED;
  }

  /** True when slot s holds its value as an object (the codec could not write it). */
  onHeap(s: number): boolean {
    return this.meta[FIELDS * s + LEN] === ON_HEAP;
  }

  /** Sets the value of slot s: cached (dirty) until it leaves the cache; written now with no cache. */
  set(s: number, v: unknown): void {
    if (this.cacheEntries === 0) {
      if (this.meta[FIELDS * s + LEN] === ON_HEAP) this.dropObject(s);
      this.encode(s, v);
      return;
    }
    if (this.held[s] !== NOT_CACHED) {
      this.objects[s] = v;
      this.held[s] = DIRTY;
      this.recent[s] = 1;
      return;
    }
    if (this.meta[FIELDS * s + LEN] === ON_HEAP) this.dropObject(s);
    this.admit(s, v, DIRTY);
  }

  /** The value of slot s (undefined when it has none): the cached object, else parsed from its bytes (and cached). */
  get(s: number): unknown {
    if (this.cacheEntries > 0 && this.held[s] !== NOT_CACHED) {
      this.recent[s] = 1;
      return this.objects[s];
    }
    const n = this.meta[FIELDS * s + LEN]!;
    if (n === ON_HEAP) return this.objects[s];
    if (n === NONE) return undefined;
    this.rd = this.meta[FIELDS * s + OFF]!;
    const v = this.read();
    if (this.cacheEntries > 0) this.admit(s, v, CLEAN);
    return v;
  }

  /** Writes slot s's value back as bytes if it is dirty, and takes it out of the cache. */
  writeBack(s: number): void {
    if (this.cacheEntries === 0 || this.held[s] === NOT_CACHED) return;
    if (this.held[s] === DIRTY) this.encode(s, this.objects[s]);
    this.uncache(s);
  }

  /** Writes every dirty value back and empties the cache (its ring back to its first size, as a new store's). */
  writeBackAll(): void {
    while (this.cached > 0) this.writeBack(this.ring[this.cached - 1]!);
    this.hand = 0;
    if (this.ring.length > RING_FIRST) this.ring = new Int32Array(Math.min(this.cacheEntries, RING_FIRST));
  }

  /** Puts v in the cache as slot s's value (s not cached), evicting one when the cache is full. */
  private admit(s: number, v: unknown, state: number): void {
    if (this.cached === this.ring.length && this.cached < this.cacheEntries) {
      const grown = new Int32Array(Math.min(this.cacheEntries, 2 * this.cached));
      grown.set(this.ring);
      this.ring = grown;
    }
    const ring = this.ring;
    let i: number;
    if (this.cached < ring.length) {
      i = this.cached++;
    } else {
      const n = ring.length;
      let h = this.hand;
      while (this.recent[ring[h]!] === 1) {
        this.recent[ring[h]!] = 0;
        h = h + 1 === n ? 0 : h + 1;
      }
      const x = ring[h]!;
      if (this.held[x] === DIRTY) this.encode(x, this.objects[x]);
      this.held[x] = NOT_CACHED;
      if (this.meta[FIELDS * x + LEN] !== ON_HEAP) this.objects[x] = undefined;
      i = h;
      this.hand = h + 1 === n ? 0 : h + 1;
    }
    ring[i] = s;
    this.at[s] = i;
    this.objects[s] = v;
    this.held[s] = state;
    this.recent[s] = 0;
  }

  /** Takes slot s out of the cache (its object stays only when kept ON_HEAP). */
  private uncache(s: number): void {
    const i = this.at[s]!;
    const last = this.ring[--this.cached]!;
    this.ring[i] = last;
    this.at[last] = i;
    this.held[s] = NOT_CACHED;
    this.recent[s] = 0;
    if (this.meta[FIELDS * s + LEN] !== ON_HEAP) this.objects[s] = undefined;
  }

  /** Writes v as slot s's bytes (over its old bytes when it fits), or keeps it as an object when the codec cannot. */
  private encode(s: number, v: unknown): void {
    const m = this.meta;
    const f = FIELDS * s;
    const dead = this.used - this.live;
    if (dead >= COMPACT_MIN && 2 * dead >= this.live) this.compact();
    const start = this.used;
    if (this.write(v, 0)) {
      const n = this.used - start;
      if (n <= m[f + CAP]!) {
        this.buf.copyWithin(m[f + OFF]!, start, start + n);
        this.used = start;
      } else {
        // Reserved to a multiple of 8: a value that grows by a few bytes (a longer string) stays in place.
        const cap = (n + 7) & ~7;
        this.room(cap - n);
        this.used = start + cap;
        this.live += cap - m[f + CAP]!;
        m[f + OFF] = start;
        m[f + CAP] = cap;
      }
      m[f + LEN] = n;
    } else {
      this.used = start;
      this.live -= m[f + CAP]!;
      m[f + CAP] = 0;
      m[f + LEN] = ON_HEAP;
      this.objects[s] = v;
      this.objectBytes += heapBytes(v);
    }
  }

  /** Frees slot s's value (its bytes become dead). */
  drop(s: number): void {
    const f = FIELDS * s;
    if (this.cacheEntries > 0 && this.held[s] !== NOT_CACHED) this.uncache(s);
    if (this.meta[f + LEN] === ON_HEAP) this.dropObject(s);
    this.live -= this.meta[f + CAP]!;
    this.meta[f + CAP] = 0;
    this.meta[f + LEN] = NONE;
    if (this.live === 0) {
      this.used = 0;
      if (this.buf.length > this.initialArena) this.buf = arena(this.initialArena);
    }
  }

  /** Slots with per-slot fields. */
  get capacity(): number {
    return this.meta.length / FIELDS;
  }

  /** An empty store's capacities: `slots` slots exactly and an arena of `arenaBytes` (a restore's). */
  resize(slots: number, arenaBytes: number): void {
    this.meta = new Int32Array(0);
    this.held = new Uint8Array(0);
    this.recent = new Uint8Array(0);
    this.at = new Int32Array(0);
    this.objects.length = 0;
    this.grow(slots);
    this.buf = arena(arenaBytes);
  }

  /** Forgets every value (slots and the property-name table stay). */
  clear(): void {
    this.resize(this.meta.length / FIELDS, this.initialArena);
    this.objectBytes = 0;
    this.cached = this.hand = 0;
    this.ring = new Int32Array(Math.min(this.cacheEntries, RING_FIRST));
    this.used = this.live = 0;
  }

  private dropObject(s: number): void {
    this.objectBytes -= heapBytes(this.objects[s]);
    this.objects[s] = undefined;
    this.meta[FIELDS * s + LEN] = NONE;
  }

  /** Grows the arena by half (not double: an arena of many small values is most of the store's bytes). */
  protected override room(n: number): void {
    if (this.used + n <= this.buf.length) return;
    let cap = Math.ceil(this.buf.length * 1.5);
    while (cap < this.used + n) cap = Math.ceil(cap * 1.5);
    const grown = arena(cap);
    this.buf.copy(grown, 0, 0, this.used);
    this.buf = grown;
  }

  /** Copies the live values into a fresh arena of 1.25 times their bytes (at least the initial size). */
  private compact(): void {
    const cap = Math.max(this.initialArena, Math.ceil(this.live * 1.25));
    const to = arena(cap);
    const m = this.meta;
    let at = 0;
    for (let f = 0; f < m.length; f += FIELDS) {
      const n = m[f + CAP]!;
      if (n <= 0) continue;
      this.buf.copy(to, at, m[f + OFF]!, m[f + OFF]! + n);
      m[f + OFF] = at;
      at += n;
    }
    this.buf = to;
    this.used = at;
    this.live = at;
  }

  // ── checkpoints ──────────────────────────────────────────────────────────────────────────────

  /**
   * [arena capacity] [the property-name table as a state-codec text block]; words written, -1 when
   * it does not fit. Writes every cached value back first (the names they use are in the table) and
   * empties the cache: exportValue() then finds every value as bytes.
   */
  exportNames(into: Float64Array, at: number): number {
    this.writeBackAll();
    if (at + 1 > into.length) return -1;
    into[at] = this.buf.length;
    const w = writeText(into, at + 1, this.namesText());
    return w < 0 ? -1 : 1 + w;
  }

  /** Clears the values and reads what exportNames() wrote (an arena of the same capacity); words read. */
  importNames(from: Float64Array, at: number): number {
    this.clear();
    this.buf = arena(from[at]!);
    const { text, words } = readText(from, at + 1);
    this.loadNames(text);
    return 1 + words;
  }

  /**
   * Slot s's value: [V] then its V bytes padded to whole words (V = −1: a state-codec text block of
   * the object; −2: no value). Words written, -1 when it does not fit. Throws
   * StateNotSerialisableError for an object a checkpoint cannot write.
   */
  exportValue(s: number, into: Float64Array, at: number): number {
    if (this.isCached(s)) throw new Error("value slots: exportValue() before exportNames() wrote the cached values back");
    const f = FIELDS * s;
    const V = this.meta[f + LEN]!;
    if (at + 1 > into.length) return -1;
    into[at] = V;
    if (V === ON_HEAP) {
      const w = writeText(into, at + 1, encodeState(this.objects[s]));
      return w < 0 ? -1 : 1 + w;
    }
    if (V < 0) return 1;
    const words = Math.ceil(V / 8);
    if (at + 1 + words > into.length) return -1;
    const out = new Uint8Array(into.buffer, into.byteOffset + (at + 1) * 8, words * 8);
    out.set(this.buf.subarray(this.meta[f + OFF]!, this.meta[f + OFF]! + V));
    out.fill(0, V);
    return 1 + words;
  }

  /** Reads into slot s (without a value) a value written by exportValue(); words read. */
  importValue(s: number, from: Float64Array, at: number): number {
    const f = FIELDS * s;
    const V = from[at]!;
    if (V === ON_HEAP) {
      const { text, words } = readText(from, at + 1);
      this.objects[s] = decodeState(text);
      this.objectBytes += heapBytes(this.objects[s]);
      this.meta[f + LEN] = ON_HEAP;
      return 1 + words;
    }
    if (V < 0) return 1;
    this.room(V);
    this.buf.set(new Uint8Array(from.buffer, from.byteOffset + (at + 1) * 8, V), this.used);
    this.meta[f + OFF] = this.used;
    this.meta[f + LEN] = V;
    this.meta[f + CAP] = V;
    this.used += V;
    this.live += V;
    return 1 + Math.ceil(V / 8);
  }
}
