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
  // of it. Open addressing, one slot = 4 int32 side by side, [hash, id, start, length] (id 0: empty),
  // so a probe reads one cache line, then the bytes in `arena`: with a table of 10 000 drivers and
  // the shard workers busy beside it, separate arrays per field cost a cache miss each.
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
    const h = hashBytes(bytes, at, len);
    const slots = this.slots;
    const mask = (slots.length >> 2) - 1;
    for (let k = h & mask; ; k = (k + 1) & mask) {
      const s = k << 2;
      const id = slots[s + 1]!;
      if (id === 0) break;
      if (slots[s] === h && slots[s + 3] === len && this.sameBytes(slots[s + 2]!, bytes, at, len)) return id;
    }
    const id = this.intern(decodeUtf8(bytes, at, len));
    this.addBytes(h, bytes, at, len, id);
    return id;
  }

  private sameBytes(start: number, bytes: Uint8Array, at: number, len: number): boolean {
    const arena = this.arena;
    for (let i = 0; i < len; i++) if (arena[start + i] !== bytes[at + i]) return false;
    return true;
  }

  private addBytes(h: number, bytes: Uint8Array, at: number, len: number, id: number): void {
    if (this.arenaUsed + len > this.arena.length) {
      const grown = new Uint8Array(Math.max(this.arena.length * 2, this.arenaUsed + len));
      grown.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = grown;
    }
    this.arena.set(bytes.subarray(at, at + len), this.arenaUsed);
    if (++this.entries * 2 > this.slots.length >> 2) this.rehash(this.slots.length * 2);
    place(this.slots, h, id, this.arenaUsed, len);
    this.arenaUsed += len;
  }

  private rehash(size: number): void {
    const old = this.slots;
    this.slots = new Int32Array(size);
    for (let s = 0; s < old.length; s += SLOT) if (old[s + 1] !== 0) place(this.slots, old[s]!, old[s + 1]!, old[s + 2]!, old[s + 3]!);
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

/**
 * A 32-bit hash of bytes[at, at + len): FNV-1a's step on 4 bytes at a time (ids of 10 bytes take
 * 3 dependent multiplies instead of 10), then murmur3's finaliser, so every byte reaches the low
 * bits the slot index takes.
 */
function hashBytes(bytes: Uint8Array, at: number, len: number): number {
  let h = 0x811c9dc5 ^ len;
  const end = at + len;
  let i = at;
  for (; i + 4 <= end; i += 4) h = Math.imul(h ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)), 0x01000193);
  if (i < end) {
    let w = bytes[i]!;
    if (i + 1 < end) w |= bytes[i + 1]! << 8;
    if (i + 2 < end) w |= bytes[i + 2]! << 16;
    h = Math.imul(h ^ w, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Int32s per slot of the byte index: hash, id, start in the arena, length. */
const SLOT = 4;

/** Puts an entry in the first empty slot of its probe sequence. */
function place(slots: Int32Array, h: number, id: number, start: number, len: number): void {
  const mask = (slots.length >> 2) - 1;
  let k = h & mask;
  while (slots[(k << 2) + 1] !== 0) k = (k + 1) & mask;
  const s = k << 2;
  slots[s] = h;
  slots[s + 1] = id;
  slots[s + 2] = start;
  slots[s + 3] = len;
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
