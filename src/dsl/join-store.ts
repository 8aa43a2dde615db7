/**
 * An off-heap buffer for stream-stream joins: the buffered records' values are written in a compact
 * binary form into one byte arena (an ArrayBuffer, grown by doubling, compacted as records expire);
 * per-record metadata lives in typed arrays indexed by slot, with a free list of slots.
 *
 *   slot:  t (Float64)   off len key prev next (Int32)   side matched (Uint8)
 *   key:   chain per side (arrival order)  head[2·key + side] ─► slot ◄─prev/next─► slot … ◄─ tail
 *   expiry: SlotHeap by (close time, arrival seq) — what closes first, then what came first; it
 *           holds each slot's close time and seq
 *   arena:  [value bytes of slot a][dead][value bytes of slot b]…  used ─►|      (capacity)
 *
 * A value is parsed back only when it takes part in an output (a match, or an unmatched record at
 * close). Buffering a record allocates nothing for plain data (null, booleans, numbers, strings,
 * arrays, plain objects); a value the codec cannot write (a class instance, a Map, a bigint, a cycle,
 * nesting past 64 levels, a string with a lone surrogate) is kept as the object itself beside the
 * arena (len −1), and a checkpoint writes it through state-codec.ts (or refuses it, as the object
 * store would). Values come back as copies of their own enumerable string-keyed data: a joiner that
 * mutates a buffered value does not change what later matches see (the object store hands the same
 * object to every match), symbol-keyed and non-enumerable properties are not kept, and an array's
 * holes come back as undefined.
 *
 * Value bytes: value-codec.ts (the codec this store and the table store share).
 */
import { StateStoreFullError } from "./errors.js";
import { decodeState, encodeState, readText, writeText } from "./state-codec.js";
import { SlotHeap, StoreKeys, checkpointKeys, readKeyBlock, writeKeyBlock } from "./slot-heap.js";
import { ValueCodec, arena, type Bytes } from "./value-codec.js";
import { heapBytes } from "./heap-size.js";

/** Dead arena bytes below which the arena is not compacted (it holds at most 2 × live + this). */
const COMPACT_MIN = 16 * 1024;
/** Slots above this many cannot be ordered by offset in one float64 (compaction's sort key). */
const SLOT_SPAN = 2 ** 22;
/** A slot whose value is held as an object (not in the arena). */
const ON_HEAP = -1;
/** Header words of a checkpoint after the key block: seq, records, slot capacity, key capacity, heap capacity, arena capacity. */
const HEADER = 6;
const RECORD_WORDS = 7;

export class OffHeapJoinStore extends ValueCodec {
  private tOf = new Float64Array(0);
  private off = new Int32Array(0);
  private len = new Int32Array(0);
  private keyOfSlot = new Int32Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private sideOf = new Uint8Array(0);
  private matchedOf = new Uint8Array(0);
  private freeSlots = new Int32Array(0);
  private freeCount = 0;
  /** Values kept as objects (ON_HEAP), by slot; such a slot's `off` holds the value's estimated bytes (heap-size.ts) when it was buffered. */
  private readonly objects: unknown[] = [];
  /** The estimated bytes of the values kept as objects (the sum of their slots' `off`). */
  private objectBytes = 0;
  private head = new Int32Array(0);
  private tail = new Int32Array(0);
  private refs = new Int32Array(0);
  private heap = new SlotHeap();
  readonly keys = new StoreKeys();
  /** Arena bytes of buffered records. */
  private liveBytes = 0;
  private readonly initialArena: number;
  private seq = 0;
  /** Buffered records. */
  buffered = 0;
  /** Called for each record that leaves unmatched from a side `emitUnmatched` names, before its slot is freed. */
  onExpire: (key: unknown, slot: number) => void = () => {};

  /** The bound: maxStoreEntries, at most 2^22 records (compaction orders them by one float64 per slot). */
  private readonly limit: number;

  /** A record of side s closes at t + closeAfter[s] (left: after + grace; right: before + grace). */
  private readonly closeAfter: Float64Array;

  constructor(limit: number, private readonly name: string, private readonly emitUnmatched: readonly [boolean, boolean],
    closeAfter: readonly [number, number], slots = 64, arenaBytes = 4096) {
    super(arenaBytes);
    this.limit = Math.min(limit, SLOT_SPAN);
    this.closeAfter = Float64Array.of(closeAfter[0], closeAfter[1]);
    this.initialArena = arenaBytes;
    this.growSlots(slots);
    this.growKeys(16);
  }

  /** Values kept as objects (the codec could not write them). */
  onHeap = 0;

  /** The typed arrays and the arena held, plus the estimated bytes of the values kept as objects. */
  get bytes(): number {
    return this.tOf.byteLength + this.off.byteLength * 5 + this.sideOf.byteLength * 2 + this.freeSlots.byteLength +
      this.head.byteLength * 2 + this.refs.byteLength + this.heap.bytes + this.buf.length + this.objectBytes;
  }

  /** The first buffered record of key id on `side` (arrival order), -1 when none; then nextOf(). */
  first(id: number, side: number): number {
    return id < 0 ? -1 : this.head[2 * id + side]!;
  }
  nextOf(s: number): number { return this.next[s]!; }
  timeOf(s: number): number { return this.tOf[s]!; }
  sideOfSlot(s: number): number { return this.sideOf[s]!; }
  setMatched(s: number): void { this.matchedOf[s] = 1; }

  /** The buffered value of slot s (parsed from the arena: a fresh copy). */
  value(s: number): unknown {
    const n = this.len[s]!;
    if (n === ON_HEAP) return this.objects[s];
    this.rd = this.off[s]!;
    return this.read();
  }

  /**
   * Buffers a record (after the caller matched it against the other side; `found`: keys.find(k)
   * when the caller has it): fails with StateStoreFullError at the bound; allocates nothing for plain data.
   */
  insert(k: unknown, v: unknown, t: number, side: number, matched: boolean, found = this.keys.find(k)): void {
    if (this.buffered >= this.limit) throw new StateStoreFullError(this.name, this.limit);
    let id = found;
    if (id < 0) {
      id = this.keys.intern(k);
      if (id >= this.refs.length) this.growKeys(id + 1);
    }
    if (this.freeCount === 0) this.growSlots(this.tOf.length * 2);
    const s = this.freeSlots[--this.freeCount]!;
    // Near the end of the arena, dead space is reclaimed before the arena grows.
    if (this.used + 1024 > this.buf.length && (this.used - this.liveBytes) * 4 >= this.used) this.compact();
    const start = this.used;
    if (this.write(v, 0)) {
      this.off[s] = start;
      this.len[s] = this.used - start;
      this.liveBytes += this.used - start;
    } else {
      this.used = start;
      this.keepObject(s, v);
    }
    this.tOf[s] = t;
    this.keyOfSlot[s] = id;
    this.sideOf[s] = side;
    this.matchedOf[s] = matched ? 1 : 0;
    this.link(id, side, s);
    this.refs[id]++;
    this.heap.stage[0] = t + this.closeAfter[side]!;
    this.heap.stage[1] = this.seq++;
    this.heap.pushStaged(s);
    this.buffered++;
  }

  /** Expires the records with close time < wm, in (close time, arrival) order; onExpire for the unmatched ones emitted. */
  advance(wm: number): void {
    let expired = false;
    while (this.heap.dueBefore(wm)) {
      const s = this.heap.pop();
      const id = this.keyOfSlot[s]!;
      const side = this.sideOf[s]!;
      this.unlink(id, side, s);
      this.buffered--;
      expired = true;
      if (this.matchedOf[s] === 0 && this.emitUnmatched[side]) this.onExpire(this.keys.list[id], s);
      if (this.len[s] === ON_HEAP) {
        this.objects[s] = undefined;
        this.onHeap--;
        this.objectBytes -= this.off[s]!;
      }
      else this.liveBytes -= this.len[s]!;
      this.prev[s] = -2;
      this.freeSlots[this.freeCount++] = s;
      if (--this.refs[id]! === 0) this.keys.release(id);
    }
    if (expired) this.maybeCompact();
  }

  /** Keeps slot s's value as the object itself (the codec cannot write it), its estimated bytes in `off`. */
  private keepObject(s: number, v: unknown): void {
    const n = Math.min(heapBytes(v), 0x7fffffff);
    this.off[s] = n;
    this.len[s] = ON_HEAP;
    this.objects[s] = v;
    this.onHeap++;
    this.objectBytes += n;
  }

  /** Arena bytes in use and held (for tests and benches). */
  arenaUsage(): { used: number; live: number; capacity: number } {
    return { used: this.used, live: this.liveBytes, capacity: this.buf.length };
  }

  private link(id: number, side: number, s: number): void {
    const h = 2 * id + side;
    const last = this.tail[h]!;
    this.prev[s] = last;
    this.next[s] = -1;
    if (last === -1) this.head[h] = s;
    else this.next[last] = s;
    this.tail[h] = s;
  }

  private unlink(id: number, side: number, s: number): void {
    const h = 2 * id + side;
    const p = this.prev[s]!;
    const n = this.next[s]!;
    if (p === -1) this.head[h] = n;
    else this.next[p] = n;
    if (n === -1) this.tail[h] = p;
    else this.prev[n] = p;
  }

  /** Compacts the arena when at least half of what was written is dead; shrinks it when a quarter or less is live. */
  private maybeCompact(): void {
    const dead = this.used - this.liveBytes;
    if (this.buffered === 0) {
      this.used = 0;
    } else if (dead >= COMPACT_MIN && dead * 2 >= this.used) {
      this.compact();
      return;
    }
    if (this.buffered === 0 && this.buf.length > this.initialArena) this.buf = arena(this.initialArena);
  }

  /** Moves the live values to the front of the arena (into a smaller one when an eighth or less is live). */
  private compact(): void {
    // The live records in arena order: offset · 2^22 + slot, sorted as numbers (exact below 2^53).
    const order = new Float64Array(this.buffered);
    let m = 0;
    for (let s = 0; s < this.len.length; s++) {
      if (this.heapHolds(s) && this.len[s]! > 0) order[m++] = this.off[s]! * SLOT_SPAN + s;
    }
    const live = order.subarray(0, m).sort();
    // Shrinks (to at least 4 × live) only when at most an eighth is live: no grow/shrink cycles.
    let cap = this.buf.length;
    if (this.liveBytes * 8 <= cap) while (cap > this.initialArena && this.liveBytes * 4 <= cap >> 1) cap >>= 1;
    const to = cap === this.buf.length ? this.buf : arena(cap);
    // Moves runs of adjacent records in one copy each.
    let at = 0;
    let runFrom = 0;
    let runEnd = 0;
    let runTo = 0;
    for (let i = 0; i < live.length; i++) {
      const s = live[i]! % SLOT_SPAN;
      const o = this.off[s]!;
      if (o !== runEnd) {
        if (runEnd > runFrom) this.moveRun(to, runTo, runFrom, runEnd);
        runFrom = o;
        runTo = at;
      }
      runEnd = o + this.len[s]!;
      this.off[s] = at;
      at += this.len[s]!;
    }
    if (runEnd > runFrom) this.moveRun(to, runTo, runFrom, runEnd);
    this.buf = to;
    this.used = at;
  }

  private moveRun(to: Bytes, at: number, from: number, end: number): void {
    if (to === this.buf) to.copyWithin(at, from, end);
    else this.buf.copy(to, at, from, end);
  }

  /** True when slot s holds a buffered record (free slots are on the free list). */
  private heapHolds(s: number): boolean {
    return this.prev[s] !== -2;
  }

  // ── growth ───────────────────────────────────────────────────────────────────────────────────

  private growSlots(cap: number): void {
    const old = this.tOf.length;
    if (cap <= old) return;
    const f64 = (a: Float64Array) => { const b = new Float64Array(cap); b.set(a); return b; };
    const i32 = (a: Int32Array, fill: number) => { const b = new Int32Array(cap).fill(fill); b.set(a); return b; };
    const u8 = (a: Uint8Array) => { const b = new Uint8Array(cap); b.set(a); return b; };
    this.tOf = f64(this.tOf);
    this.off = i32(this.off, 0); this.len = i32(this.len, 0); this.keyOfSlot = i32(this.keyOfSlot, 0);
    this.prev = i32(this.prev, -2); this.next = i32(this.next, -1);
    this.sideOf = u8(this.sideOf); this.matchedOf = u8(this.matchedOf);
    const free = new Int32Array(cap);
    free.set(this.freeSlots.subarray(0, this.freeCount));
    for (let s = cap - 1; s >= old; s--) free[this.freeCount++] = s;
    this.freeSlots = free;
    this.heap.reserve(cap);
  }

  private growKeys(n: number): void {
    let cap = Math.max(this.refs.length, 1);
    while (cap < n) cap *= 2;
    if (cap === this.refs.length) return;
    const head = new Int32Array(2 * cap).fill(-1); head.set(this.head); this.head = head;
    const tail = new Int32Array(2 * cap).fill(-1); tail.set(this.tail); this.tail = tail;
    const refs = new Int32Array(cap); refs.set(this.refs); this.refs = refs;
  }

  // ── checkpoints ──────────────────────────────────────────────────────────────────────────────

  /**
   * [key block (keys in order of first use below)] [seq, records R, slot capacity, key capacity,
   * heap capacity, arena capacity] [a state-codec text block: the property-name table] then the records in arrival order: key, t, side, matched, close
   * time, seq, byte length L, then the value's L bytes padded to whole words (L = −1: a state-codec
   * text block of the value). -1 when it does not fit. Throws StateNotSerialisableError for a value
   * kept as an object that a checkpoint cannot write.
   */
  exportTo(into: Float64Array, at: number, encodeKey: (k: unknown) => number): number {
    const recs: number[] = [];
    for (let s = 0; s < this.prev.length; s++) if (this.heapHolds(s)) recs.push(s);
    recs.sort((a, b) => this.heap.seqOfSlot(a) - this.heap.seqOfSlot(b));
    const { keys, index: keyIndex } = checkpointKeys(this.keyOfSlot, this.keys.list);
    for (const s of recs) keyIndex(s);
    const head = writeKeyBlock(into, at, keys, encodeKey);
    if (head < 0) return -1;
    let o = at + head;
    if (o + HEADER > into.length) return -1;
    into[o++] = this.seq; into[o++] = recs.length; into[o++] = this.tOf.length; into[o++] = this.refs.length;
    into[o++] = this.heap.capacity; into[o++] = this.buf.length;
    const w = writeText(into, o, this.namesText());
    if (w < 0) return -1;
    o += w;
    for (const s of recs) {
      if (o + RECORD_WORDS > into.length) return -1;
      into[o++] = keyIndex(s); into[o++] = this.tOf[s]!; into[o++] = this.sideOf[s]!; into[o++] = this.matchedOf[s]!;
      into[o++] = this.heap.atOfSlot(s); into[o++] = this.heap.seqOfSlot(s);
      const n = this.len[s]!;
      into[o++] = n;
      if (n === ON_HEAP) {
        const w = writeText(into, o, encodeState(this.objects[s]));
        if (w < 0) return -1;
        o += w;
        continue;
      }
      const words = Math.ceil(n / 8);
      if (o + words > into.length) return -1;
      const bytes = new Uint8Array(into.buffer, into.byteOffset + o * 8, words * 8);
      bytes.set(this.buf.subarray(this.off[s]!, this.off[s]! + n));
      bytes.fill(0, n);
      o += words;
    }
    return o - at;
  }

  /** Replaces the contents with those written by exportTo(); returns the words read. */
  importFrom(from: Float64Array, at: number, decodeKey: (x: number) => unknown): number {
    const { keys, words } = readKeyBlock(from, at, decodeKey);
    let o = at + words;
    const seq = from[o++]!; const R = from[o++]!; const slotCap = from[o++]!; const keyCap = from[o++]!;
    const heapCap = from[o++]!; const arenaCap = from[o++]!;
    const names = readText(from, o);
    o += names.words;
    this.loadNames(names.text);
    this.tOf = new Float64Array(0);
    this.off = new Int32Array(0); this.len = new Int32Array(0); this.keyOfSlot = new Int32Array(0);
    this.prev = new Int32Array(0); this.next = new Int32Array(0); this.sideOf = new Uint8Array(0); this.matchedOf = new Uint8Array(0);
    this.freeSlots = new Int32Array(0); this.freeCount = 0;
    this.objects.length = 0;
    this.onHeap = 0;
    this.objectBytes = 0;
    this.head = new Int32Array(0); this.tail = new Int32Array(0); this.refs = new Int32Array(0);
    this.heap = new SlotHeap(heapCap);
    this.growSlots(slotCap);
    this.growKeys(keyCap);
    this.buf = arena(arenaCap);
    this.used = this.liveBytes = 0;
    this.buffered = 0;
    this.keys.clear();
    const ids = keys.map((k) => this.keys.intern(k));
    this.seq = seq;
    for (let r = 0; r < R; r++) {
      const id = ids[from[o++]!]!;
      const t = from[o++]!; const side = from[o++]!; const matched = from[o++]!; const closeAt = from[o++]!; const sq = from[o++]!;
      const n = from[o++]!;
      const s = this.freeSlots[--this.freeCount]!;
      if (n === ON_HEAP) {
        const { text, words: w } = readText(from, o);
        this.keepObject(s, decodeState(text));
        o += w;
      } else {
        this.room(n);
        const bytes = new Uint8Array(from.buffer, from.byteOffset + o * 8, n);
        this.buf.set(bytes, this.used);
        this.off[s] = this.used;
        this.len[s] = n;
        this.used += n;
        this.liveBytes += n;
        o += Math.ceil(n / 8);
      }
      this.tOf[s] = t; this.keyOfSlot[s] = id;
      this.sideOf[s] = side; this.matchedOf[s] = matched;
      this.link(id, side, s);
      this.refs[id]++;
      this.heap.push(s, closeAt, sq);
      this.buffered++;
    }
    return o - at;
  }
}
