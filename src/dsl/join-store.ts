/**
 * An off-heap buffer for stream-stream joins: the buffered records' values are written in a compact
 * binary form into one byte arena (an ArrayBuffer, grown by doubling, compacted as records expire);
 * per-record metadata lives in typed arrays indexed by slot, with a free list of slots.
 *
 *   slot:  t at seq (Float64)   off len key prev next (Int32)   side matched (Uint8)
 *   key:   chain per side (arrival order)  head[2·key + side] ─► slot ◄─prev/next─► slot … ◄─ tail
 *   expiry: SlotHeap by (at, seq) — what closes first, then what came first
 *   arena:  [value bytes of slot a][dead][value bytes of slot b]…  used ─►|      (capacity)
 *
 * A value is parsed back only when it takes part in an output (a match, or an unmatched record at
 * close). Buffering a record allocates nothing for plain data (null, booleans, numbers, strings,
 * arrays, plain objects); a value the codec cannot write (a class instance, a Map, a bigint, a cycle,
 * nesting past 64 levels) is kept as the object itself beside the arena (len −1), and a checkpoint
 * writes it through state-codec.ts (or refuses it, as the object store would). Values come back as
 * copies: a joiner that mutates a buffered value does not change what later matches see.
 *
 * Value bytes: a tag, then — 0 null, 1 undefined, 2 false, 3 true, 4 float64, 5 string (u32 bytes,
 * UTF-8), 6 array (u32 count, items), 7 plain object (u32 count, then u32 bytes + UTF-8 name, value),
 * 8 int32. Little-endian.
 */
import { StateStoreFullError } from "./errors.js";
import { decodeState, encodeState, readText, writeText } from "./state-codec.js";
import { SlotHeap, StoreKeys, readKeyBlock, writeKeyBlock } from "./slot-heap.js";

const T_NULL = 0;
const T_UNDEFINED = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_F64 = 4;
const T_STRING = 5;
const T_ARRAY = 6;
const T_OBJECT = 7;
const T_I32 = 8;
const MAX_DEPTH = 64;
/** A slot whose value is held as an object (not in the arena). */
const ON_HEAP = -1;
/** Header words of a checkpoint after the key block: seq, records, slot capacity, key capacity, heap capacity, arena capacity. */
const HEADER = 6;
const RECORD_WORDS = 7;

type Bytes = Buffer & {
  utf8Write(s: string, offset: number, max: number): number;
  utf8Slice(start: number, end: number): string;
};

function arena(bytes: number): Bytes {
  return Buffer.from(new ArrayBuffer(bytes)) as Bytes;
}

const hasOwn = Object.prototype.hasOwnProperty;

export class OffHeapJoinStore {
  private tOf = new Float64Array(0);
  private atOf = new Float64Array(0);
  private seqOf = new Float64Array(0);
  private off = new Int32Array(0);
  private len = new Int32Array(0);
  private keyOfSlot = new Int32Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private sideOf = new Uint8Array(0);
  private matchedOf = new Uint8Array(0);
  private freeSlots = new Int32Array(0);
  private freeCount = 0;
  /** Values kept as objects (ON_HEAP), by slot. */
  private readonly objects: unknown[] = [];
  private head = new Int32Array(0);
  private tail = new Int32Array(0);
  private refs = new Int32Array(0);
  private heap = new SlotHeap();
  readonly keys = new StoreKeys();
  private buf: Bytes;
  /** Arena bytes written (live and dead). */
  private used = 0;
  /** Arena bytes of buffered records. */
  private liveBytes = 0;
  private readonly initialArena: number;
  private seq = 0;
  /** Buffered records. */
  buffered = 0;
  /** Called for each record that leaves unmatched from a side `emitUnmatched` names, before its slot is freed. */
  onExpire: (key: unknown, slot: number) => void = () => {};

  constructor(private readonly limit: number, private readonly name: string, private readonly emitUnmatched: readonly [boolean, boolean],
    slots = 64, arenaBytes = 4096) {
    this.initialArena = arenaBytes;
    this.buf = arena(arenaBytes);
    this.growSlots(slots);
    this.growKeys(16);
  }

  get bytes(): number {
    return this.tOf.byteLength * 3 + this.off.byteLength * 5 + this.sideOf.byteLength * 2 + this.freeSlots.byteLength +
      this.head.byteLength * 2 + this.refs.byteLength + this.heap.bytes + this.buf.length;
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
   * Buffers a record (after the caller matched it against the other side): fails with
   * StateStoreFullError at the bound; allocates nothing for plain data.
   */
  insert(k: unknown, v: unknown, t: number, side: number, at: number, matched: boolean): void {
    if (this.buffered >= this.limit) throw new StateStoreFullError(this.name, this.limit);
    let id = this.keys.find(k);
    if (id < 0) {
      id = this.keys.intern(k);
      if (id >= this.refs.length) this.growKeys(id + 1);
    }
    if (this.freeCount === 0) this.growSlots(this.tOf.length * 2);
    const s = this.freeSlots[--this.freeCount]!;
    const start = this.used;
    if (this.write(v, 0)) {
      this.off[s] = start;
      this.len[s] = this.used - start;
      this.liveBytes += this.used - start;
    } else {
      this.used = start;
      this.off[s] = 0;
      this.len[s] = ON_HEAP;
      this.objects[s] = v;
    }
    this.tOf[s] = t;
    this.atOf[s] = at;
    this.seqOf[s] = this.seq;
    this.keyOfSlot[s] = id;
    this.sideOf[s] = side;
    this.matchedOf[s] = matched ? 1 : 0;
    this.link(id, side, s);
    this.refs[id]++;
    this.heap.push(s, at, this.seq++);
    this.buffered++;
  }

  /** Expires the records with close time < wm, in (close time, arrival) order; onExpire for the unmatched ones emitted. */
  advance(wm: number): void {
    let expired = false;
    while (this.heap.size > 0 && this.heap.topAt() < wm) {
      const s = this.heap.pop();
      const id = this.keyOfSlot[s]!;
      const side = this.sideOf[s]!;
      this.unlink(id, side, s);
      this.buffered--;
      expired = true;
      if (this.matchedOf[s] === 0 && this.emitUnmatched[side]) this.onExpire(this.keys.list[id], s);
      if (this.len[s] === ON_HEAP) this.objects[s] = undefined;
      else this.liveBytes -= this.len[s]!;
      this.prev[s] = -2;
      this.freeSlots[this.freeCount++] = s;
      if (--this.refs[id]! === 0) this.keys.release(id);
    }
    if (expired) this.maybeCompact();
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
    } else if (dead >= 1024 && dead * 2 >= this.used) {
      const slots = new Int32Array(this.buffered);
      let m = 0;
      for (let s = 0; s < this.len.length && m < slots.length; s++) {
        if (this.heapHolds(s) && this.len[s]! > 0) slots[m++] = s;
      }
      const live = slots.subarray(0, m).sort((a, b) => this.off[a]! - this.off[b]!);
      let cap = this.buf.length;
      while (cap > this.initialArena && this.liveBytes * 4 <= cap) cap >>= 1;
      const to = cap === this.buf.length ? this.buf : arena(cap);
      let at = 0;
      for (let i = 0; i < live.length; i++) {
        const s = live[i]!;
        const o = this.off[s]!;
        const n = this.len[s]!;
        if (to === this.buf) to.copyWithin(at, o, o + n);
        else this.buf.copy(to, at, o, o + n);
        this.off[s] = at;
        at += n;
      }
      this.buf = to;
      this.used = at;
      return;
    }
    if (this.buffered === 0 && this.buf.length > this.initialArena) this.buf = arena(this.initialArena);
  }

  /** True when slot s holds a buffered record (free slots are on the free list). */
  private heapHolds(s: number): boolean {
    return this.prev[s] !== -2;
  }

  // ── the value codec ──────────────────────────────────────────────────────────────────────────

  private room(n: number): void {
    if (this.used + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.used + n) cap *= 2;
    const grown = arena(cap);
    this.buf.copy(grown, 0, 0, this.used);
    this.buf = grown;
  }

  private writeString(s: string): void {
    this.room(4 + 3 * s.length);
    const n = this.buf.utf8Write(s, this.used + 4, 3 * s.length);
    this.buf.writeUInt32LE(n, this.used);
    this.used += 4 + n;
  }

  /** Writes v at `used`; false when the codec cannot write it (the caller rolls `used` back). */
  private write(v: unknown, depth: number): boolean {
    switch (typeof v) {
      case "number":
        if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
          this.room(5);
          this.buf[this.used] = T_I32;
          this.buf.writeInt32LE(v, this.used + 1);
          this.used += 5;
        } else {
          this.room(9);
          this.buf[this.used] = T_F64;
          this.buf.writeDoubleLE(v, this.used + 1);
          this.used += 9;
        }
        return true;
      case "string":
        this.room(1);
        this.buf[this.used++] = T_STRING;
        this.writeString(v);
        return true;
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
          this.buf.writeUInt32LE(v.length, this.used + 1);
          this.used += 5;
          for (let i = 0; i < v.length; i++) if (!this.write(v[i], depth + 1)) return false;
          return true;
        }
        if (Object.getPrototypeOf(v) !== Object.prototype) return false;
        this.room(5);
        this.buf[this.used] = T_OBJECT;
        const countAt = this.used + 1;
        this.used += 5;
        let count = 0;
        const o = v as Record<string, unknown>;
        for (const name in o) {
          if (!hasOwn.call(o, name)) continue;
          this.writeString(name);
          if (!this.write(o[name], depth + 1)) return false;
          count++;
        }
        this.buf.writeUInt32LE(count, countAt);
        return true;
      }
      default:
        return false;
    }
  }

  /** Read position of read(). */
  private rd = 0;

  private readString(): string {
    const n = this.buf.readUInt32LE(this.rd);
    const s = this.buf.utf8Slice(this.rd + 4, this.rd + 4 + n);
    this.rd += 4 + n;
    return s;
  }

  private read(): unknown {
    const tag = this.buf[this.rd++]!;
    switch (tag) {
      case T_NULL: return null;
      case T_UNDEFINED: return undefined;
      case T_FALSE: return false;
      case T_TRUE: return true;
      case T_I32: { const x = this.buf.readInt32LE(this.rd); this.rd += 4; return x; }
      case T_F64: { const x = this.buf.readDoubleLE(this.rd); this.rd += 8; return x; }
      case T_STRING: return this.readString();
      case T_ARRAY: {
        const n = this.buf.readUInt32LE(this.rd);
        this.rd += 4;
        const a = new Array<unknown>(n);
        for (let i = 0; i < n; i++) a[i] = this.read();
        return a;
      }
      case T_OBJECT: {
        const n = this.buf.readUInt32LE(this.rd);
        this.rd += 4;
        const o: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const name = this.readString();
          const x = this.read();
          if (name === "__proto__") Object.defineProperty(o, name, { value: x, writable: true, enumerable: true, configurable: true });
          else o[name] = x;
        }
        return o;
      }
      default: throw new Error(`join store: unknown value tag ${tag} at byte ${this.rd - 1}`);
    }
  }

  // ── growth ───────────────────────────────────────────────────────────────────────────────────

  private growSlots(cap: number): void {
    const old = this.tOf.length;
    if (cap <= old) return;
    const f64 = (a: Float64Array) => { const b = new Float64Array(cap); b.set(a); return b; };
    const i32 = (a: Int32Array, fill: number) => { const b = new Int32Array(cap).fill(fill); b.set(a); return b; };
    const u8 = (a: Uint8Array) => { const b = new Uint8Array(cap); b.set(a); return b; };
    this.tOf = f64(this.tOf); this.atOf = f64(this.atOf); this.seqOf = f64(this.seqOf);
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
   * heap capacity, arena capacity] then the records in arrival order: key, t, side, matched, close
   * time, seq, byte length L, then the value's L bytes padded to whole words (L = −1: a state-codec
   * text block of the value). -1 when it does not fit. Throws StateNotSerialisableError for a value
   * kept as an object that a checkpoint cannot write.
   */
  exportTo(into: Float64Array, at: number, encodeKey: (k: unknown) => number): number {
    const recs: number[] = [];
    for (let s = 0; s < this.prev.length; s++) if (this.heapHolds(s)) recs.push(s);
    recs.sort((a, b) => this.seqOf[a]! - this.seqOf[b]!);
    const index = new Map<number, number>();
    const keys: unknown[] = [];
    const keyIndex = (s: number): number => {
      const id = this.keyOfSlot[s]!;
      let i = index.get(id);
      if (i === undefined) {
        i = keys.length;
        index.set(id, i);
        keys.push(this.keys.list[id]);
      }
      return i;
    };
    for (const s of recs) keyIndex(s);
    const head = writeKeyBlock(into, at, keys, encodeKey);
    if (head < 0) return -1;
    let o = at + head;
    if (o + HEADER > into.length) return -1;
    into[o++] = this.seq; into[o++] = recs.length; into[o++] = this.tOf.length; into[o++] = this.refs.length;
    into[o++] = this.heap.capacity; into[o++] = this.buf.length;
    for (const s of recs) {
      if (o + RECORD_WORDS > into.length) return -1;
      into[o++] = keyIndex(s); into[o++] = this.tOf[s]!; into[o++] = this.sideOf[s]!; into[o++] = this.matchedOf[s]!;
      into[o++] = this.atOf[s]!; into[o++] = this.seqOf[s]!;
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
    this.tOf = new Float64Array(0); this.atOf = new Float64Array(0); this.seqOf = new Float64Array(0);
    this.off = new Int32Array(0); this.len = new Int32Array(0); this.keyOfSlot = new Int32Array(0);
    this.prev = new Int32Array(0); this.next = new Int32Array(0); this.sideOf = new Uint8Array(0); this.matchedOf = new Uint8Array(0);
    this.freeSlots = new Int32Array(0); this.freeCount = 0;
    this.objects.length = 0;
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
        this.objects[s] = decodeState(text);
        this.off[s] = 0;
        this.len[s] = ON_HEAP;
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
      this.tOf[s] = t; this.atOf[s] = closeAt; this.seqOf[s] = sq; this.keyOfSlot[s] = id;
      this.sideOf[s] = side; this.matchedOf[s] = matched;
      this.link(id, side, s);
      this.refs[id]++;
      this.heap.push(s, closeAt, sq);
      this.buffered++;
    }
    return o - at;
  }
}
