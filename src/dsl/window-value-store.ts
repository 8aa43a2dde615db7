/**
 * An off-heap store for user aggregates (aggregate/reduce) on tumbling and hopping windows, and
 * built-in ones kept for retention: one entry per (key, window start), its aggregate written in the
 * codec's binary form (value-slots.ts), its metadata in typed arrays. In front of the bytes, a
 * write-back cache of `cacheEntries` aggregates as objects (value-slots.ts): a hot entry's update is
 * a user call and a field write, its bytes written when it is evicted, when its window closes into
 * retention, or at a checkpoint (exportTo); a window closed without retention is freed unwritten.
 *
 *   slot:    key id (Int32)  start, ts (Float64)  next (Int32: the window's next entry, insertion order)
 *   index:   open addressing over (key id, start) → slot + 1 (0: empty), linear probing, at most 1/2 full,
 *            deletion by backward shift
 *   windows: the open ones by start (each its entries' chain, head → tail in first-insertion order,
 *            which is the order they close in); the closed ones kept for retention, in close order
 *            with the watermark that drops them
 *   keys:    StoreKeys (slot-heap.ts), an id held while an entry of the key is
 *
 * TimeWindowProc's semantics (executor.ts), which it replaces: a window closes when the watermark
 * reaches its start + size + grace, its entries in first-insertion order; with retention its entries
 * stay (for fetch()) until the watermark reaches the close + retention, else they are freed at close.
 * Bounded: at `limit` entries in open windows a new entry fails with StateStoreFullError
 * (ERR_STATE_FULL); retained entries do not count, as in the object store. Memory is the typed
 * arrays, the index and the arena held (capacity), plus the estimates of the values kept as
 * objects (cached, or ones the codec cannot write) and of the keys.
 * Per window (not per record) a small object: its chain's ends and count.
 */
import { StateStoreFullError } from "./errors.js";
import { StoreKeys, checkpointKeys, readKeyBlock, writeKeyBlock } from "./slot-heap.js";
import { SlotValues } from "./value-slots.js";
import { MAP_ENTRY_BYTES, heapBytes, stringBytes } from "./heap-size.js";

interface Win { start: number; head: number; tail: number; count: number; dropAt: number }

/**
 * Aggregates kept as objects in the write-back cache (value-slots.ts) in front of a window store's
 * bytes: the seed's hopping windows (10 min by 1 min) update 10 entries per record, and each entry
 * stays hot until its window closes.
 */
export const DEFAULT_WINDOW_CACHE_ENTRIES = 65_536;

/** Header words of a checkpoint after the key block and the names: open windows, retained windows, slot capacity, index cells, key capacity. */
const HEADER = 5;
/** Words of an entry before its value: key index, ts. */
const ENTRY = 2;

/** A key's estimated heap bytes in StoreKeys: its Map entry and list slot, the key, an object key's JSON map key. */
function keyBytes(k: unknown): number {
  return MAP_ENTRY_BYTES + 8 + heapBytes(k) + (k !== null && typeof k === "object" ? stringBytes(JSON.stringify(k)) + 2 : 0);
}

function hashOf(id: number, start: number): number {
  let h = Math.imul(id, 0x9e3779b1) ^ (start | 0) ^ Math.imul((start / 4294967296) | 0, 0x85ebca77);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h;
}

export class OffHeapWindowStore {
  readonly keys = new StoreKeys();
  private keyRefs = new Int32Array(16);
  private keyOfSlot = new Int32Array(0);
  private startOf = new Float64Array(0);
  private tsOf = new Float64Array(0);
  private next = new Int32Array(0);
  private freeSlots = new Int32Array(0);
  private freeCount = 0;
  private slots = 0;
  private index = new Int32Array(0);
  private mask = 0;
  readonly values: SlotValues;
  private readonly open = new Map<number, Win>();
  /** Starts of the open windows, ascending. */
  private starts: number[] = [];
  private readonly retainedWins: Win[] = [];
  /** The keys' estimated heap bytes (keyBytes(), kept as keys come and go). */
  private keysHeld = 0;
  /** Entries in open windows. */
  size = 0;
  /** Entries in closed windows kept for retention. */
  retained = 0;
  /** Set by entry(): whether the entry was just made (it has no value yet). */
  created = false;

  /**
   * `closeAfter`: size + grace (a window closes when the watermark reaches start + closeAfter);
   * `retentionMs`: how long closed windows are kept; `limit`: the bound on entries in open windows;
   * `cacheEntries`: the bound on aggregates kept as objects (0: every update written as bytes).
   */
  constructor(private readonly limit: number, private readonly name: string, private readonly closeAfter: number,
    private readonly retentionMs: number, slots = 64, cacheEntries = DEFAULT_WINDOW_CACHE_ENTRIES) {
    this.values = new SlotValues(slots, 4096, cacheEntries);
    this.growSlots(slots);
    this.growIndex(slots * 2);
  }

  /**
   * Bytes held: typed arrays, index, the values' arena (capacity), plus the estimates of the values
   * kept as objects and of the keys (the record keys live on the heap, in StoreKeys).
   */
  get bytes(): number {
    return this.keyOfSlot.byteLength + this.startOf.byteLength + this.tsOf.byteLength + this.next.byteLength +
      this.freeSlots.byteLength + this.index.byteLength + this.keyRefs.byteLength + this.values.bytes + this.keysHeld;
  }

  /** The slot of (key id, start), −1 when absent. */
  find(id: number, start: number): number {
    if (id < 0) return -1;
    const x = this.index;
    for (let i = hashOf(id, start) & this.mask; ; i = (i + 1) & this.mask) {
      const s = x[i]! - 1;
      if (s < 0) return -1;
      if (this.keyOfSlot[s] === id && this.startOf[s] === start) return s;
    }
  }

  /**
   * The slot of key k's entry in the open window at `start` (its id `id`, −1 when the store holds
   * nothing of k), made when absent (`created`; its ts t, no value yet), the window opened when new.
   * StateStoreFullError at the bound.
   */
  entry(k: unknown, id: number, start: number, t: number): number {
    const found = this.find(id, start);
    if (found >= 0) {
      this.created = false;
      return found;
    }
    if (this.size >= this.limit) throw new StateStoreFullError(this.name, this.limit);
    if (id < 0) {
      id = this.keys.intern(k);
      this.keysHeld += keyBytes(k);
      if (id >= this.keyRefs.length) {
        let cap = this.keyRefs.length * 2;
        while (cap <= id) cap *= 2;
        const grown = new Int32Array(cap);
        grown.set(this.keyRefs);
        this.keyRefs = grown;
      }
    }
    if (this.freeCount === 0) this.growSlots(this.slots * 2);
    if ((this.size + this.retained + 1) * 2 > this.index.length) this.growIndex(this.index.length * 2);
    const s = this.freeSlots[--this.freeCount]!;
    this.keyOfSlot[s] = id;
    this.startOf[s] = start;
    this.tsOf[s] = t;
    this.next[s] = -1;
    this.keyRefs[id]!++;
    let w = this.open.get(start);
    if (w === undefined) {
      w = { start, head: s, tail: s, count: 0, dropAt: 0 };
      this.open.set(start, w);
      const a = this.starts;
      let i = a.length;
      while (i > 0 && a[i - 1]! > start) i--;
      a.splice(i, 0, start);
    } else {
      this.next[w.tail] = s;
      w.tail = s;
    }
    w.count++;
    this.place(s);
    this.size++;
    this.created = true;
    return s;
  }

  tsOfSlot(s: number): number { return this.tsOf[s]!; }
  startOfSlot(s: number): number { return this.startOf[s]!; }
  setTs(s: number, t: number): void { this.tsOf[s] = t; }
  keyOfSlotId(s: number): unknown { return this.keys.list[this.keyOfSlot[s]!]; }

  /** Smallest open window start (Infinity when none). */
  get minStart(): number {
    return this.starts.length > 0 ? this.starts[0]! : Infinity;
  }

  /**
   * Closes the windows with start + closeAfter ≤ wm, in start order, calling onClose for each entry
   * (first-insertion order) before it is freed or retained; then drops retained windows past their time.
   */
  advance(wm: number, onClose: ((s: number, start: number) => void) | undefined): void {
    while (this.starts.length > 0 && this.starts[0]! + this.closeAfter <= wm) {
      const start = this.starts.shift()!;
      const w = this.open.get(start)!;
      this.open.delete(start);
      this.size -= w.count;
      if (onClose !== undefined) for (let s = w.head; s !== -1; s = this.next[s]!) onClose(s, start);
      if (this.retentionMs > 0) {
        // Kept for fetch() only: written back as bytes, out of the cache the open windows use.
        for (let s = w.head; s !== -1; s = this.next[s]!) this.values.writeBack(s);
        w.dropAt = start + this.closeAfter + this.retentionMs;
        this.retainedWins.push(w);
        this.retained += w.count;
      } else {
        this.freeWindow(w);
      }
    }
    while (this.retainedWins.length > 0 && this.retainedWins[0]!.dropAt <= wm) {
      const w = this.retainedWins.shift()!;
      this.retained -= w.count;
      this.freeWindow(w);
    }
  }

  /** The slots of key k's entries, retained windows first then open ones, with start in [from, to]. */
  slotsOf(k: unknown, from: number, to: number): number[] {
    const id = this.keys.find(k);
    const out: number[] = [];
    if (id < 0) return out;
    for (const w of this.retainedWins) {
      const s = w.start >= from && w.start <= to ? this.find(id, w.start) : -1;
      if (s >= 0) out.push(s);
    }
    for (const start of this.starts) {
      const s = start >= from && start <= to ? this.find(id, start) : -1;
      if (s >= 0) out.push(s);
    }
    return out;
  }

  private freeWindow(w: Win): void {
    for (let s = w.head; s !== -1;) {
      const after = this.next[s]!;
      this.unplace(s);
      this.values.drop(s);
      const id = this.keyOfSlot[s]!;
      if (--this.keyRefs[id]! === 0) {
        this.keysHeld -= keyBytes(this.keys.list[id]);
        this.keys.release(id);
      }
      this.keyOfSlot[s] = -1;
      this.freeSlots[this.freeCount++] = s;
      s = after;
    }
  }

  // ── the index ────────────────────────────────────────────────────────────────────────────────

  private place(s: number): void {
    let i = hashOf(this.keyOfSlot[s]!, this.startOf[s]!) & this.mask;
    while (this.index[i] !== 0) i = (i + 1) & this.mask;
    this.index[i] = s + 1;
  }

  private unplace(s: number): void {
    const m = this.mask;
    const x = this.index;
    let i = hashOf(this.keyOfSlot[s]!, this.startOf[s]!) & m;
    while (x[i] !== s + 1) i = (i + 1) & m;
    // Backward shift: an entry further along the run moves into the hole unless its home lies in (i, j].
    for (let j = (i + 1) & m; x[j] !== 0; j = (j + 1) & m) {
      const o = x[j]! - 1;
      const home = hashOf(this.keyOfSlot[o]!, this.startOf[o]!) & m;
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        x[i] = x[j]!;
        i = j;
      }
    }
    x[i] = 0;
  }

  private growIndex(cells: number): void {
    this.index = new Int32Array(cells);
    this.mask = cells - 1;
    for (let s = 0; s < this.slots; s++) if (this.keyOfSlot[s]! >= 0) this.place(s);
  }

  private growSlots(cap: number): void {
    const old = this.slots;
    if (cap <= old) return;
    const i32 = (a: Int32Array, fill: number) => { const b = new Int32Array(cap).fill(fill, old); b.set(a); return b; };
    const f64 = (a: Float64Array) => { const b = new Float64Array(cap); b.set(a); return b; };
    this.keyOfSlot = i32(this.keyOfSlot, -1);
    this.next = i32(this.next, -1);
    this.startOf = f64(this.startOf);
    this.tsOf = f64(this.tsOf);
    const free = new Int32Array(cap);
    free.set(this.freeSlots.subarray(0, this.freeCount));
    for (let s = cap - 1; s >= old; s--) free[this.freeCount++] = s;
    this.freeSlots = free;
    this.slots = cap;
    this.values.grow(cap);
  }

  // ── checkpoints ──────────────────────────────────────────────────────────────────────────────

  /** Open windows by start, then retained ones in close order. */
  private windowsInOrder(): Win[] {
    const wins: Win[] = [];
    for (const start of this.starts) wins.push(this.open.get(start)!);
    return wins.concat(this.retainedWins);
  }

  /**
   * [key block (keys in first use below)] [the values' arena capacity and property-name table]
   * [open W, retained R, slot capacity, index cells, key capacity] then per window (open by start,
   * then retained in close order): [start, dropAt (open: 0), n] and its n entries in first-insertion
   * order: [key index, ts, the value (value-slots.ts)]. -1 when it does not fit.
   */
  exportTo(into: Float64Array, at: number, encodeKey: (k: unknown) => number): number {
    const wins = this.windowsInOrder();
    const { keys, index: keyIndex } = checkpointKeys(this.keyOfSlot, this.keys.list);
    for (const w of wins) for (let s = w.head; s !== -1; s = this.next[s]!) keyIndex(s);
    const kw = writeKeyBlock(into, at, keys, encodeKey);
    if (kw < 0) return -1;
    let o = at + kw;
    const nw = this.values.exportNames(into, o);
    if (nw < 0) return -1;
    o += nw;
    if (o + HEADER > into.length) return -1;
    into[o++] = this.starts.length; into[o++] = this.retainedWins.length; into[o++] = this.slots;
    into[o++] = this.index.length; into[o++] = this.keyRefs.length;
    for (const w of wins) {
      if (o + 3 > into.length) return -1;
      into[o++] = w.start; into[o++] = w.dropAt; into[o++] = w.count;
      for (let s = w.head; s !== -1; s = this.next[s]!) {
        if (o + ENTRY > into.length) return -1;
        into[o++] = keyIndex(s);
        into[o++] = this.tsOf[s]!;
        const vw = this.values.exportValue(s, into, o);
        if (vw < 0) return -1;
        o += vw;
      }
    }
    return o - at;
  }

  /** Replaces the contents with those written by exportTo(); returns the words read. */
  importFrom(from: Float64Array, at: number, decodeKey: (x: number) => unknown): number {
    const { keys, words } = readKeyBlock(from, at, decodeKey);
    let o = at + words;
    o += this.values.importNames(from, o);
    const W = from[o++]!; const R = from[o++]!; const slotCap = from[o++]!; const cells = from[o++]!; const keyCap = from[o++]!;
    this.keys.clear();
    this.keyRefs = new Int32Array(keyCap);
    const ids = keys.map((k) => this.keys.intern(k));
    this.keysHeld = 0;
    for (const k of keys) this.keysHeld += keyBytes(k);
    this.keyOfSlot = new Int32Array(0); this.next = new Int32Array(0); this.startOf = new Float64Array(0); this.tsOf = new Float64Array(0);
    this.freeSlots = new Int32Array(0); this.freeCount = 0; this.slots = 0;
    this.growSlots(slotCap);
    this.open.clear();
    this.starts = [];
    this.retainedWins.length = 0;
    this.size = this.retained = 0;
    for (let i = 0; i < W + R; i++) {
      const w: Win = { start: from[o]!, head: -1, tail: -1, count: 0, dropAt: from[o + 1]! };
      const n = from[o + 2]!;
      o += 3;
      for (let e = 0; e < n; e++) {
        const s = this.freeSlots[--this.freeCount]!;
        const id = ids[from[o]!]!;
        this.keyOfSlot[s] = id;
        this.startOf[s] = w.start;
        this.tsOf[s] = from[o + 1]!;
        this.next[s] = -1;
        this.keyRefs[id]!++;
        o += ENTRY;
        o += this.values.importValue(s, from, o);
        if (w.head === -1) w.head = s;
        else this.next[w.tail] = s;
        w.tail = s;
        w.count++;
      }
      if (i < W) {
        this.open.set(w.start, w);
        this.starts.push(w.start);
        this.size += n;
      } else {
        this.retainedWins.push(w);
        this.retained += n;
      }
    }
    this.growIndex(cells);
    return o - at;
  }
}
