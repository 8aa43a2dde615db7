/**
 * A session store for the built-in numeric aggregates (count, sum, min, max, mean) on session
 * windows: sessions live in parallel typed arrays indexed by slot, with a free list of slots.
 *
 *   slot:  start end a b (Float64)   key next qnext (Int32)   state (Uint8)
 *          a, b: count —; sum —; min n; max n; mean: sum n  (only what the aggregate needs)
 *   key:   open chain (by start) ─► slot ─next─► slot …      closed chain (close order) ─► slot …
 *   close index: SlotHeap of the open sessions by (end + gap + grace, seq)
 *   retention queue: the closed sessions in close order (qnext), dropped at end + 2·gap + grace + retention
 *
 * The semantics are SessionProc's (executor.ts), decision for decision: a record merges every open
 * session of its key within the gap (in start order; the aggregates combine in that order, so sums
 * come out bit for bit the same), a record is late when its own session would already be closed or
 * when it falls within the gap of a closed session still kept, sessions close in (close time,
 * creation) order, and a closed session guards its gap until dropped. Adding a record allocates
 * nothing (a new key: its Map entry); growth doubles the arrays.
 *
 * Session windows with a user aggregate use the same store for their sessions' times and order
 * (executor.ts OffHeapSessionProc, as a count nobody reads): their aggregates live beside it, by
 * slot (value-slots.ts), merged by the user's merger before add() (firstOpen/nextOpen), freed as
 * onMerged and onClose hand over their slots.
 */
import type { BuiltinOp } from "./plan.js";
import { StateStoreFullError } from "./errors.js";
import { SlotHeap, StoreKeys, checkpointKeys, readKeyBlock, writeKeyBlock } from "./slot-heap.js";

const FREE = 0;
const OPEN = 1;
const CLOSED = 2;

/** What add() did with a record. */
export const SESSION_ADDED = 0;
/** Late: a session ending at t would already be closed (t + gap + grace ≤ watermark). */
export const SESSION_LATE_CLOSED = 1;
/** Late: t falls within the gap of a closed session still kept (lateStart, lateEnd). */
export const SESSION_LATE_GAP = 2;

/** Header words of a checkpoint after the key block: seq, open, closed, slot capacity, key capacity, heap capacity. */
const HEADER = 6;
const OPEN_WORDS = 6;
const OP_COUNT = 0;
const OP_SUM = 1;
const OP_MIN = 2;
const OP_MAX = 3;
const OP_MEAN = 4;
const OP_CODES: Record<BuiltinOp, number> = { count: OP_COUNT, sum: OP_SUM, min: OP_MIN, max: OP_MAX, mean: OP_MEAN };
const CLOSED_WORDS = 3;

export class TypedSessionStore {
  private start = new Float64Array(0);
  private end = new Float64Array(0);
  /** The aggregate's fields: count | sum | min | max | sum, and n (finite values) for min, max and mean. */
  private a = new Float64Array(0);
  private b = new Float64Array(0);
  private keyOfSlot = new Int32Array(0);
  private next = new Int32Array(0);
  private qnext = new Int32Array(0);
  private state = new Uint8Array(0);
  private freeSlots = new Int32Array(0);
  private freeCount = 0;
  private openHead = new Int32Array(0);
  private closedHead = new Int32Array(0);
  private closedTail = new Int32Array(0);
  private qHead = -1;
  private qTail = -1;
  private heap = new SlotHeap();
  readonly keys = new StoreKeys();
  private seq = 0;
  /** Open sessions. */
  live = 0;
  /** Closed sessions kept (guarding their gap, plus retention). */
  retained = 0;
  /** After add(): the slot of the record's session; after SESSION_LATE_GAP: the closed session it fell in. */
  lastSlot = -1;
  lateStart = 0;
  lateEnd = 0;
  /** Called (when set) for each session a record merges away, in start order, before its slot is freed. */
  onMerged: ((start: number, end: number, slot: number) => void) | undefined;
  /** Called for each session that closes, in close order. */
  onClose: (key: unknown, slot: number) => void = () => {};

  private readonly opCode: number;

  constructor(readonly op: BuiltinOp, private readonly gap: number, private readonly grace: number, private readonly retentionMs: number,
    private readonly limit: number, private readonly name: string, slots = 64, keys = 64) {
    this.opCode = OP_CODES[op];
    this.growSlots(slots);
    this.growKeys(keys);
  }

  get bytes(): number {
    return this.start.byteLength * 4 + this.keyOfSlot.byteLength * 3 + this.state.byteLength + this.freeSlots.byteLength +
      this.openHead.byteLength * 3 + this.heap.bytes;
  }

  /** The key admit() let in, and its id (-1: the store holds nothing of it yet; add() interns it). */
  private admittedKey: unknown = undefined;
  private admitted = -1;

  /**
   * Whether a record of key k at t may enter (SESSION_ADDED) or is late (see SESSION_*); an admitted
   * record must then be added with add() before anything else touches the store.
   */
  admit(k: unknown, t: number, wm: number): number {
    const gap = this.gap;
    if (t + gap + this.grace <= wm) return SESSION_LATE_CLOSED;
    return this.admitOpen(k, t);
  }

  /** admit() for a record whose own session would not be closed (the caller checked t + gap + grace > watermark). */
  admitOpen(k: unknown, t: number): number {
    const gap = this.gap;
    const id = this.keys.find(k);
    if (id >= 0) {
      for (let c = this.closedHead[id]!; c !== -1; c = this.next[c]!) {
        if (t >= this.start[c]! - gap && t <= this.end[c]! + gap) {
          this.lateStart = this.start[c]!;
          this.lateEnd = this.end[c]!;
          this.lastSlot = c;
          return SESSION_LATE_GAP;
        }
      }
    }
    this.admittedKey = k;
    this.admitted = id;
    return SESSION_ADDED;
  }

  /**
   * Adds x at t to the admitted record's key (count counts every record; the others skip a value
   * that is not a finite number), merging the sessions within the gap; returns the session's slot.
   */
  add(x: number, t: number): number {
    const gap = this.gap;
    let id = this.admitted;
    if (id < 0) {
      id = this.keys.intern(this.admittedKey);
      if (id >= this.openHead.length) this.growKeys(id + 1);
    }
    this.admittedKey = undefined;
    let start = t;
    let end = t;
    const op = this.opCode;
    let a = 0;
    let b = 0;
    let prev = -1;
    for (let s = this.openHead[id]!; s !== -1;) {
      const after = this.next[s]!;
      if (this.end[s]! >= t - gap && this.start[s]! <= t + gap) {
        if (this.start[s]! < start) start = this.start[s]!;
        if (this.end[s]! > end) end = this.end[s]!;
        // As the object form's merger, in start order (sums add up in the same order).
        const sa = this.a[s]!;
        const sb = this.b[s]!;
        if (op === OP_MIN) {
          if (sb > 0) { a = b > 0 ? Math.min(a, sa) : sa; b += sb; }
        } else if (op === OP_MAX) {
          if (sb > 0) { a = b > 0 ? Math.max(a, sa) : sa; b += sb; }
        } else {
          a += sa;
          b += sb;
        }
        if (prev === -1) this.openHead[id] = after;
        else this.next[prev] = after;
        this.heap.remove(s);
        this.live--;
        if (this.onMerged !== undefined) this.onMerged(this.start[s]!, this.end[s]!, s);
        this.freeSlot(s);
      } else {
        prev = s;
      }
      s = after;
    }
    if (op === OP_COUNT) {
      a += 1;
    } else if (typeof x === "number" && x - x === 0) {
      if (op === OP_MIN) a = b > 0 ? Math.min(a, x) : x;
      else if (op === OP_MAX) a = b > 0 ? Math.max(a, x) : x;
      else a += x;
      b += 1;
    }
    if (this.live >= this.limit) throw new StateStoreFullError(this.name, this.limit);
    const s = this.allocSlot();
    this.start[s] = start;
    this.end[s] = end;
    this.a[s] = a;
    this.b[s] = b;
    this.keyOfSlot[s] = id;
    this.state[s] = OPEN;
    this.linkOpen(id, s);
    this.heap.stage[0] = end + gap + this.grace;
    this.heap.stage[1] = this.seq++;
    this.heap.pushStaged(s);
    this.live++;
    this.lastSlot = s;
    return s;
  }

  startOf(s: number): number { return this.start[s]!; }
  endOf(s: number): number { return this.end[s]!; }
  /** Slots allocated (a per-slot array beside the store must cover them). */
  get capacity(): number { return this.start.length; }
  /** The first open session of key id `id` (by start; −1: none, or id −1), and the one after slot s. */
  firstOpen(id: number): number { return id < 0 ? -1 : this.openHead[id]!; }
  nextOpen(s: number): number { return this.next[s]!; }

  /** The open sessions' slots in creation order (a checkpoint's order; a restored store's slots 0, 1, …). */
  openSlots(): number[] {
    const open: number[] = [];
    for (let s = 0; s < this.state.length; s++) if (this.state[s] === OPEN) open.push(s);
    return open.sort((x, y) => this.heap.seqOfSlot(x) - this.heap.seqOfSlot(y));
  }

  /** The aggregate of slot s as the built-in renders it (min/max/mean of no finite value: null). */
  value(s: number): number | null {
    switch (this.op) {
      case "count": case "sum": return this.a[s]!;
      case "min": case "max": return this.b[s]! > 0 ? this.a[s]! : null;
      case "mean": return this.b[s]! > 0 ? this.a[s]! / this.b[s]! : null;
    }
  }

  /** Closes the sessions with end + gap + grace ≤ wm (onClose each, in order), then drops retained ones past their time. */
  advance(wm: number): void {
    const { gap, grace } = this;
    while (this.heap.dueBy(wm)) {
      const s = this.heap.pop();
      const id = this.keyOfSlot[s]!;
      this.unlinkOpen(id, s);
      this.live--;
      this.state[s] = CLOSED;
      this.next[s] = -1;
      if (this.closedTail[id] === -1) this.closedHead[id] = s;
      else this.next[this.closedTail[id]!] = s;
      this.closedTail[id] = s;
      this.qnext[s] = -1;
      if (this.qTail === -1) this.qHead = s;
      else this.qnext[this.qTail] = s;
      this.qTail = s;
      this.retained++;
      this.onClose(this.keys.list[id], s);
    }
    const keep = 2 * gap + grace + this.retentionMs;
    while (this.qHead !== -1 && this.end[this.qHead]! + keep <= wm) {
      const s = this.qHead;
      this.qHead = this.qnext[s]!;
      if (this.qHead === -1) this.qTail = -1;
      const id = this.keyOfSlot[s]!;
      // The queue and each key's closed chain are both in close order: s heads its key's chain.
      this.closedHead[id] = this.next[s]!;
      if (this.closedHead[id] === -1) this.closedTail[id] = -1;
      this.retained--;
      this.freeSlot(s);
      if (this.closedHead[id] === -1 && this.openHead[id] === -1) this.keys.release(id);
    }
  }

  private linkOpen(id: number, s: number): void {
    const st = this.start[s]!;
    let prev = -1;
    let c = this.openHead[id]!;
    while (c !== -1 && this.start[c]! <= st) {
      prev = c;
      c = this.next[c]!;
    }
    this.next[s] = c;
    if (prev === -1) this.openHead[id] = s;
    else this.next[prev] = s;
  }

  private unlinkOpen(id: number, s: number): void {
    let prev = -1;
    for (let c = this.openHead[id]!; c !== -1; c = this.next[c]!) {
      if (c === s) {
        if (prev === -1) this.openHead[id] = this.next[s]!;
        else this.next[prev] = this.next[s]!;
        return;
      }
      prev = c;
    }
  }

  private allocSlot(): number {
    if (this.freeCount === 0) this.growSlots(this.start.length * 2);
    return this.freeSlots[--this.freeCount]!;
  }

  private freeSlot(s: number): void {
    this.state[s] = FREE;
    this.freeSlots[this.freeCount++] = s;
  }

  private growSlots(cap: number): void {
    const old = this.start.length;
    if (cap <= old) return;
    const f64 = (a: Float64Array) => { const b = new Float64Array(cap); b.set(a); return b; };
    const i32 = (a: Int32Array) => { const b = new Int32Array(cap); b.set(a); return b; };
    this.start = f64(this.start); this.end = f64(this.end); this.a = f64(this.a); this.b = f64(this.b);
    this.keyOfSlot = i32(this.keyOfSlot); this.next = i32(this.next); this.qnext = i32(this.qnext);
    const state = new Uint8Array(cap); state.set(this.state); this.state = state;
    const free = new Int32Array(cap); free.set(this.freeSlots.subarray(0, this.freeCount));
    // New slots are handed out lowest first.
    for (let s = cap - 1; s >= old; s--) free[this.freeCount++] = s;
    this.freeSlots = free;
    this.heap.reserve(cap);
  }

  private growKeys(n: number): void {
    let cap = Math.max(this.openHead.length, 1);
    while (cap < n) cap *= 2;
    if (cap === this.openHead.length) return;
    const grow = (a: Int32Array) => { const b = new Int32Array(cap).fill(-1); b.set(a); return b; };
    this.openHead = grow(this.openHead); this.closedHead = grow(this.closedHead); this.closedTail = grow(this.closedTail);
  }

  /**
   * Checkpoint: [key block (keys in order of first use below)] [seq, open O, closed C, slot capacity,
   * key capacity, heap capacity] then the open sessions by creation (key, start, end, a, b, seq) and
   * the closed ones in close order (key, start, end). -1 when it does not fit.
   */
  exportTo(into: Float64Array, at: number, encodeKey: (k: unknown) => number): number {
    const open = this.openSlots();
    const closed: number[] = [];
    for (let s = this.qHead; s !== -1; s = this.qnext[s]!) closed.push(s);
    const { keys, index: keyIndex } = checkpointKeys(this.keyOfSlot, this.keys.list);
    for (const s of open) keyIndex(s);
    for (const s of closed) keyIndex(s);
    const head = writeKeyBlock(into, at, keys, encodeKey);
    if (head < 0) return -1;
    let o = at + head;
    if (o + HEADER + OPEN_WORDS * open.length + CLOSED_WORDS * closed.length > into.length) return -1;
    into[o++] = this.seq; into[o++] = open.length; into[o++] = closed.length;
    into[o++] = this.start.length; into[o++] = this.openHead.length; into[o++] = this.heap.capacity;
    for (const s of open) {
      into[o++] = keyIndex(s); into[o++] = this.start[s]!; into[o++] = this.end[s]!; into[o++] = this.a[s]!; into[o++] = this.b[s]!;
      into[o++] = this.heap.seqOfSlot(s);
    }
    for (const s of closed) {
      into[o++] = keyIndex(s); into[o++] = this.start[s]!; into[o++] = this.end[s]!;
    }
    return o - at;
  }

  /** Replaces the contents with those written by exportTo(); returns the words read. */
  importFrom(from: Float64Array, at: number, decodeKey: (x: number) => unknown): number {
    const { keys, words } = readKeyBlock(from, at, decodeKey);
    let o = at + words;
    const seq = from[o++]!; const nOpen = from[o++]!; const nClosed = from[o++]!;
    const slotCap = from[o++]!; const keyCap = from[o++]!; const heapCap = from[o++]!;
    this.start = new Float64Array(0); this.end = new Float64Array(0); this.a = new Float64Array(0); this.b = new Float64Array(0);
    this.keyOfSlot = new Int32Array(0); this.next = new Int32Array(0); this.qnext = new Int32Array(0);
    this.state = new Uint8Array(0); this.freeSlots = new Int32Array(0); this.freeCount = 0;
    this.openHead = new Int32Array(0); this.closedHead = new Int32Array(0); this.closedTail = new Int32Array(0);
    this.heap = new SlotHeap(heapCap);
    this.growSlots(slotCap);
    this.growKeys(keyCap);
    this.keys.clear();
    const ids = keys.map((k) => this.keys.intern(k));
    this.qHead = this.qTail = -1;
    this.live = this.retained = 0;
    this.seq = seq;
    for (let i = 0; i < nOpen; i++, o += OPEN_WORDS) {
      const s = this.allocSlot();
      const id = ids[from[o]!]!;
      this.start[s] = from[o + 1]!; this.end[s] = from[o + 2]!; this.a[s] = from[o + 3]!; this.b[s] = from[o + 4]!;
      this.keyOfSlot[s] = id;
      this.state[s] = OPEN;
      this.linkOpen(id, s);
      this.heap.push(s, this.end[s]! + this.gap + this.grace, from[o + 5]!);
      this.live++;
    }
    for (let i = 0; i < nClosed; i++, o += CLOSED_WORDS) {
      const s = this.allocSlot();
      const id = ids[from[o]!]!;
      this.start[s] = from[o + 1]!; this.end[s] = from[o + 2]!;
      this.keyOfSlot[s] = id;
      this.state[s] = CLOSED;
      this.next[s] = -1;
      if (this.closedTail[id] === -1) this.closedHead[id] = s;
      else this.next[this.closedTail[id]!] = s;
      this.closedTail[id] = s;
      this.qnext[s] = -1;
      if (this.qTail === -1) this.qHead = s;
      else this.qnext[this.qTail] = s;
      this.qTail = s;
      this.retained++;
    }
    return o - at;
  }
}
