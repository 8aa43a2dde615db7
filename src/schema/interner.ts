/**
 * String interning at the edge: strings become dense u32 ids before records enter a ring, and
 * ids become strings again when outputs leave. Main thread only. Id 0 is reserved for "missing or
 * empty", so a non-empty string always gets an id ≥ 1.
 */
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

  /** The id of `s`, assigning the next id on first sight; 0 for anything but a non-empty string. */
  intern(s: unknown): number {
    if (typeof s !== "string" || s.length === 0) return 0;
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.names.length;
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

  /** The string of an id ("" for 0 or an unknown id). */
  name(id: number): string {
    return this.names[id] ?? "";
  }

  /** Every interned string in id order (id 1 first), to snapshot. */
  exportNames(): string[] {
    return this.names.slice(1);
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
