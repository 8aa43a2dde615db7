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
  // of it. Open addressing; slot = entry + 1 (0 empty); an entry's bytes live in `arena`.
  private slots = new Int32Array(1024);
  private entryHash = new Int32Array(512);
  private entryStart = new Int32Array(512);
  private entryLen = new Int32Array(512);
  private entryId = new Int32Array(512);
  private entries = 0;
  private arena = new Uint8Array(1 << 14);
  private arenaUsed = 0;

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
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ bytes[at + i]!, 0x01000193);
    const slots = this.slots;
    const mask = slots.length - 1;
    let k = h & mask;
    for (let e = slots[k]!; e !== 0; e = slots[k]!) {
      e--;
      if (this.entryHash[e] === h && this.entryLen[e] === len && this.sameBytes(e, bytes, at, len)) return this.entryId[e]!;
      k = (k + 1) & mask;
    }
    const id = this.intern(decodeUtf8(bytes, at, len));
    this.addBytes(h, bytes, at, len, id);
    return id;
  }

  private sameBytes(e: number, bytes: Uint8Array, at: number, len: number): boolean {
    const arena = this.arena;
    const start = this.entryStart[e]!;
    for (let i = 0; i < len; i++) if (arena[start + i] !== bytes[at + i]) return false;
    return true;
  }

  private addBytes(h: number, bytes: Uint8Array, at: number, len: number, id: number): void {
    if (this.arenaUsed + len > this.arena.length) {
      const grown = new Uint8Array(Math.max(this.arena.length * 2, this.arenaUsed + len));
      grown.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = grown;
    }
    if (this.entries === this.entryId.length) {
      const n = this.entries * 2;
      this.entryHash = grow(this.entryHash, n);
      this.entryStart = grow(this.entryStart, n);
      this.entryLen = grow(this.entryLen, n);
      this.entryId = grow(this.entryId, n);
    }
    const e = this.entries++;
    this.arena.set(bytes.subarray(at, at + len), this.arenaUsed);
    this.entryHash[e] = h;
    this.entryStart[e] = this.arenaUsed;
    this.entryLen[e] = len;
    this.entryId[e] = id;
    this.arenaUsed += len;
    if (this.entries * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.place(e);
  }

  private place(e: number): void {
    const mask = this.slots.length - 1;
    let k = this.entryHash[e]! & mask;
    while (this.slots[k] !== 0) k = (k + 1) & mask;
    this.slots[k] = e + 1;
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    for (let e = 0; e < this.entries; e++) this.place(e);
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

function grow(a: Int32Array, n: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n);
  b.set(a);
  return b;
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
