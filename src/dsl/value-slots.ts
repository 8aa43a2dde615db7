/**
 * Values by slot in one byte arena (value-codec.ts): the value half of an off-heap store whose slots
 * its owner allocates (the windowed aggregate store, window-value-store.ts). A slot's value is
 * written at the arena's end, or over its old bytes when it fits there; the old bytes are dead
 * otherwise, and the arena is compacted (into a fresh one) when the dead bytes reach the live ones.
 * A value the codec cannot write (a Map, a Date, a class instance…) is kept as an object beside the
 * arena and counted by heap-size.ts's estimate. A small direct-mapped cache of parsed values (by
 * slot) hands back the object a set() wrote, or the last get() parsed, without reading the bytes:
 * as in a Map, a value a user function mutates in place is what the next read sees while cached.
 *
 *   slot: off len cap (Int32, side by side)   len: bytes, ON_HEAP (an object), NONE (no value)
 */
import { decodeState, encodeState, readText, writeText } from "./state-codec.js";
import { heapBytes } from "./heap-size.js";
import { ValueCodec, arena } from "./value-codec.js";

const ON_HEAP = -1;
const NONE = -2;
const OFF = 0;
const LEN = 1;
const CAP = 2;
const FIELDS = 3;
/** Dead arena bytes below which the arena is not compacted (above it: once they reach half the live ones). */
const COMPACT_MIN = 4 * 1024;
/** Parsed values cached (a power of two). */
const CACHE = 256;

export class SlotValues extends ValueCodec {
  private meta = new Int32Array(0);
  private readonly objects: unknown[] = [];
  private objectBytes = 0;
  private readonly cacheSlot = new Int32Array(CACHE).fill(-1);
  private readonly cacheVal: unknown[] = new Array<unknown>(CACHE).fill(undefined);
  /** Arena bytes reserved by the slots' values. */
  private live = 0;
  private readonly initialArena: number;

  constructor(slots: number, arenaBytes = 4096) {
    super(arenaBytes);
    this.initialArena = arenaBytes;
    this.grow(slots);
  }

  /** Per-slot fields for `slots` slots (new ones without a value). */
  grow(slots: number): void {
    const old = this.meta.length / FIELDS;
    if (slots <= old) return;
    const meta = new Int32Array(FIELDS * slots);
    meta.set(this.meta);
    for (let s = old; s < slots; s++) meta[FIELDS * s + LEN] = NONE;
    this.meta = meta;
  }

  /** Bytes held: the per-slot fields, the arena (capacity), the cache, the estimate of values kept as objects. */
  get bytes(): number {
    return this.meta.byteLength + this.buf.length + this.cacheSlot.byteLength + 8 * CACHE + this.objectBytes;
  }

  /** Arena bytes written, live and held (for tests and benches). */
  arenaUsage(): { used: number; live: number; capacity: number } {
    return { used: this.used, live: this.live, capacity: this.buf.length };
  }

  /** True when slot s holds its value as an object (the codec could not write it). */
  onHeap(s: number): boolean {
    return this.meta[FIELDS * s + LEN] === ON_HEAP;
  }

  /** Writes the value of slot s (over its old bytes when it fits); the cache keeps `v` itself. */
  set(s: number, v: unknown): void {
    const m = this.meta;
    const f = FIELDS * s;
    if (m[f + LEN] === ON_HEAP) this.dropObject(s);
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
    const c = s & (CACHE - 1);
    this.cacheSlot[c] = s;
    this.cacheVal[c] = v;
  }

  /** The value of slot s (undefined when it has none): parsed from its bytes unless cached. */
  get(s: number): unknown {
    const c = s & (CACHE - 1);
    if (this.cacheSlot[c] === s) return this.cacheVal[c];
    const n = this.meta[FIELDS * s + LEN]!;
    let v: unknown;
    if (n === ON_HEAP) v = this.objects[s];
    else if (n === NONE) v = undefined;
    else {
      this.rd = this.meta[FIELDS * s + OFF]!;
      v = this.read();
    }
    this.cacheSlot[c] = s;
    this.cacheVal[c] = v;
    return v;
  }

  /** Frees slot s's value (its bytes become dead). */
  drop(s: number): void {
    const f = FIELDS * s;
    const c = s & (CACHE - 1);
    if (this.cacheSlot[c] === s) {
      this.cacheSlot[c] = -1;
      this.cacheVal[c] = undefined;
    }
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
    this.grow(slots);
    this.buf = arena(arenaBytes);
  }

  /** Forgets every value (slots and the property-name table stay). */
  clear(): void {
    const slots = this.meta.length / FIELDS;
    this.meta = new Int32Array(0);
    this.grow(slots);
    this.objects.length = 0;
    this.objectBytes = 0;
    this.cacheSlot.fill(-1);
    this.cacheVal.fill(undefined);
    this.used = this.live = 0;
    this.buf = arena(this.initialArena);
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

  /** [arena capacity] [the property-name table as a state-codec text block]; words written, -1 when it does not fit. */
  exportNames(into: Float64Array, at: number): number {
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
