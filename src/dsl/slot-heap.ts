/**
 * Typed helpers of the session and join stores (session-store.ts, join-store.ts):
 *
 *   SlotHeap  a binary min-heap of store slots ordered by (at, seq) — what closes first, then what
 *             came first, as heap.ts orders objects — on typed arrays, with each slot's position so a
 *             slot can leave from the middle (a session merged away). Push, pop and remove allocate
 *             nothing (growth doubles).
 *   StoreKeys record keys interned to small ids (freed when a store holds nothing of the key, and
 *             reused), and the key block a checkpoint writes (key codes, or JSON when a key has none).
 */
import { encodeState, decodeState, readText, writeText } from "./state-codec.js";

/** A stable Map key for any record key (objects by their JSON); the same as executor.ts keyOf(). */
function keyOf(k: unknown): unknown {
  return k !== null && typeof k === "object" ? "\u0000" + JSON.stringify(k) : k;
}

export class SlotHeap {
  private slot: Int32Array;
  private at: Float64Array;
  private seq: Float64Array;
  /** Heap position of each slot, -1 when the slot is not in the heap. */
  private pos: Int32Array;
  size = 0;

  constructor(capacity = 64) {
    this.slot = new Int32Array(capacity);
    this.at = new Float64Array(capacity);
    this.seq = new Float64Array(capacity);
    this.pos = new Int32Array(capacity).fill(-1);
  }

  get capacity(): number {
    return this.slot.length;
  }

  get bytes(): number {
    return this.slot.byteLength + this.at.byteLength + this.seq.byteLength + this.pos.byteLength;
  }

  /** Sizes the heap for slots < n (and n entries). */
  reserve(n: number): void {
    if (n <= this.slot.length) return;
    let cap = this.slot.length;
    while (cap < n) cap *= 2;
    const slot = new Int32Array(cap); slot.set(this.slot); this.slot = slot;
    const at = new Float64Array(cap); at.set(this.at); this.at = at;
    const seq = new Float64Array(cap); seq.set(this.seq); this.seq = seq;
    const pos = new Int32Array(cap).fill(-1); pos.set(this.pos); this.pos = pos;
  }

  /** Close time and order of slot s (which must be in the heap). */
  atOfSlot(s: number): number {
    return this.at[this.pos[s]!]!;
  }
  seqOfSlot(s: number): number {
    return this.seq[this.pos[s]!]!;
  }

  /** The slot that closes first (-1 when empty), and its close time. */
  topSlot(): number {
    return this.size > 0 ? this.slot[0]! : -1;
  }
  topAt(): number {
    return this.size > 0 ? this.at[0]! : Infinity;
  }


  /**
   * The close time and seq of the next push(s) — written here by the caller so that a fresh double
   * does not cross a call boundary (a double argument to a call V8 does not inline is boxed: an
   * allocation per record).
   */
  readonly stage = new Float64Array(2);

  /** Pushes slot s with the close time and seq in `stage`. */
  pushStaged(s: number): void {
    this.reserve(Math.max(s + 1, this.size + 1));
    this.place(this.size++, s);
  }

  push(s: number, at: number, seq: number): void {
    this.stage[0] = at;
    this.stage[1] = seq;
    this.pushStaged(s);
  }

  /** True when the heap's first slot closes at or before wm (dueBy), or before it (dueBefore). */
  dueBy(wm: number): boolean {
    return this.size > 0 && this.at[0]! <= wm;
  }
  dueBefore(wm: number): boolean {
    return this.size > 0 && this.at[0]! < wm;
  }

  pop(): number {
    const s = this.slot[0]!;
    this.removeAt(0);
    return s;
  }

  /** Takes slot s out of the heap (nothing when it is not in it). */
  remove(s: number): void {
    const i = s < this.pos.length ? this.pos[s]! : -1;
    if (i >= 0) this.removeAt(i);
  }

  clear(): void {
    for (let i = 0; i < this.size; i++) this.pos[this.slot[i]!] = -1;
    this.size = 0;
  }

  /** Removes the entry at i: the last entry fills the hole, sifted up or down from it. */
  private removeAt(i: number): void {
    this.pos[this.slot[i]!] = -1;
    const last = --this.size;
    if (i === last) return;
    this.stage[0] = this.at[last]!;
    this.stage[1] = this.seq[last]!;
    this.place(i, this.slot[last]!);
  }

  /**
   * Puts slot s with the close time and seq in `stage` into the hole at i, moving the hole up past
   * larger parents or down past smaller children (one write per level, no swaps).
   */
  private place(i: number, s: number): void {
    const at = this.stage[0]!;
    const seq = this.stage[1]!;
    const A = this.at;
    const Q = this.seq;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pa = A[p]!;
      if (!(at < pa || (at === pa && seq < Q[p]!))) break;
      this.slot[i] = this.slot[p]!; A[i] = pa; Q[i] = Q[p]!; this.pos[this.slot[i]!] = i;
      i = p;
    }
    const n = this.size;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n && (A[r]! < A[c]! || (A[r] === A[c] && Q[r]! < Q[c]!))) c = r;
      const ca = A[c]!;
      if (!(ca < at || (ca === at && Q[c]! < seq))) break;
      this.slot[i] = this.slot[c]!; A[i] = ca; Q[i] = Q[c]!; this.pos[this.slot[i]!] = i;
      i = c;
    }
    this.slot[i] = s; A[i] = at; Q[i] = seq; this.pos[s] = i;
  }
}

/**
 * Record keys ↔ ids 0…capacity−1. An id is held while its store holds anything of the key, then
 * released and reused. A run of one primitive key skips the Map.
 */
export class StoreKeys {
  private readonly ids = new Map<unknown, number>();
  /** id → the key (undefined when the id is free). */
  readonly list: unknown[] = [];
  private free = new Int32Array(16);
  private freeCount = 0;
  private lastKey: unknown = undefined;
  private lastId = -1;

  get size(): number {
    return this.ids.size;
  }

  /** Ids handed out so far (the per-key arrays of a store must cover them). */
  get span(): number {
    return this.list.length;
  }

  /** The id of k, -1 when the store holds nothing of it. */
  find(k: unknown): number {
    if (k === this.lastKey && this.lastId >= 0) return this.lastId;
    const id = this.ids.get(keyOf(k));
    if (id === undefined) return -1;
    if (typeof k !== "object") {
      this.lastKey = k;
      this.lastId = id;
    }
    return id;
  }

  /** The id of k, a new one when it has none. */
  intern(k: unknown): number {
    const found = this.find(k);
    if (found >= 0) return found;
    let id: number;
    if (this.freeCount > 0) {
      id = this.free[--this.freeCount]!;
      this.list[id] = k;
    } else {
      id = this.list.length;
      this.list.push(k);
    }
    this.ids.set(keyOf(k), id);
    if (typeof k !== "object") {
      this.lastKey = k;
      this.lastId = id;
    }
    return id;
  }

  release(id: number): void {
    const k = this.list[id];
    this.ids.delete(keyOf(k));
    this.list[id] = undefined;
    if (this.lastId === id) {
      this.lastKey = undefined;
      this.lastId = -1;
    }
    if (this.freeCount === this.free.length) {
      const grown = new Int32Array(this.free.length * 2);
      grown.set(this.free);
      this.free = grown;
    }
    this.free[this.freeCount++] = id;
  }

  clear(): void {
    this.ids.clear();
    this.list.length = 0;
    this.freeCount = 0;
    this.lastKey = undefined;
    this.lastId = -1;
  }
}

/**
 * For a checkpoint: numbers the keys of the slots it writes in order of first use (`index(slot)`),
 * collecting them in that order (`keys`, for writeKeyBlock). One per checkpoint, not per record.
 */
export function checkpointKeys(keyOfSlot: Int32Array, list: readonly unknown[]): { keys: unknown[]; index: (slot: number) => number } {
  const at = new Map<number, number>();
  const keys: unknown[] = [];
  return {
    keys,
    index: (slot) => {
      const id = keyOfSlot[slot]!;
      let i = at.get(id);
      if (i === undefined) {
        i = keys.length;
        at.set(id, i);
        keys.push(list[id]);
      }
      return i;
    },
  };
}

/**
 * Writes keys (in the order given) at `at` of `into`: [K] [K key codes], or, when a key has no
 * code (encodeKey gives NaN), [-1] [a JSON block of the keys]. Returns the words, -1 when they do not fit.
 */
export function writeKeyBlock(into: Float64Array, at: number, keys: readonly unknown[], encodeKey: (k: unknown) => number): number {
  const K = keys.length;
  if (at + 1 + K > into.length) return -1;
  into[at] = K;
  for (let i = 0; i < K; i++) {
    const x = encodeKey(keys[i]);
    if (Number.isNaN(x)) {
      into[at] = -1;
      const w = writeText(into, at + 1, encodeState(keys));
      return w < 0 ? -1 : 1 + w;
    }
    into[at + 1 + i] = x;
  }
  return 1 + K;
}

/** The keys written by writeKeyBlock() at `at`, and the words read. */
export function readKeyBlock(from: Float64Array, at: number, decodeKey: (x: number) => unknown): { keys: unknown[]; words: number } {
  const K = from[at]!;
  if (K < 0) {
    const { text, words } = readText(from, at + 1);
    return { keys: decodeState(text) as unknown[], words: 1 + words };
  }
  const keys: unknown[] = [];
  for (let i = 0; i < K; i++) keys.push(decodeKey(from[at + 1 + i]!));
  return { keys, words: 1 + K };
}
