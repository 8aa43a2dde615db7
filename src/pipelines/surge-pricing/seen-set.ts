/**
 * A set of (driver, region, window start) on typed arrays (open addressing, linear probing): which
 * drivers a shard has already counted in a region's window. No allocation per insert; the arrays
 * grow by doubling when half full and are rebuilt when windows close (once per window advance),
 * into a spare set of arrays of the same size that is then swapped in (no allocation then).
 */
export class SeenSet {
  private cap = 0;
  private mask = 0;
  private used!: Uint8Array;
  private a!: Uint32Array;
  private b!: Uint32Array;
  private s!: Float64Array;
  /** Arrays of the same capacity to rebuild into when windows close. */
  private spare: { used: Uint8Array; a: Uint32Array; b: Uint32Array; s: Float64Array } | undefined;
  size = 0;

  constructor(initialCapacity = 1 << 14) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.allocate(cap);
  }

  get bytes(): number {
    return this.cap * 17;
  }

  private allocate(cap: number): void {
    this.cap = cap;
    this.mask = cap - 1;
    this.used = new Uint8Array(cap);
    this.a = new Uint32Array(cap);
    this.b = new Uint32Array(cap);
    this.s = new Float64Array(cap);
    this.size = 0;
  }

  private home(a: number, b: number, s: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b) ^ Math.imul((s / 1000) | 0, 0xc2b2ae35);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    return h & this.mask;
  }

  /** Adds (a, b, s); true when it was not there. */
  addIfAbsent(a: number, b: number, s: number): boolean {
    let i = this.home(a, b, s);
    while (this.used[i] !== 0) {
      if (this.a[i] === a && this.b[i] === b && this.s[i] === s) return false;
      i = (i + 1) & this.mask;
    }
    if ((this.size + 1) * 2 > this.cap) {
      this.rebuild(this.cap * 2, -Infinity);
      return this.addIfAbsent(a, b, s);
    }
    this.used[i] = 1;
    this.a[i] = a;
    this.b[i] = b;
    this.s[i] = s;
    this.size++;
    return true;
  }

  /** Removes every entry with s ≤ maxStart (their windows closed). */
  purgeUpTo(maxStart: number): void {
    if (this.size === 0) return;
    let any = false;
    for (let i = 0; i < this.cap && !any; i++) if (this.used[i] !== 0 && this.s[i]! <= maxStart) any = true;
    if (!any) return;
    const { used, a, b, s } = this;
    const spare = this.spare !== undefined && this.spare.used.length === this.cap ? this.spare : undefined;
    if (spare === undefined) {
      this.rebuild(this.cap, maxStart);
    } else {
      spare.used.fill(0);
      this.used = spare.used; this.a = spare.a; this.b = spare.b; this.s = spare.s;
      this.size = 0;
      for (let i = 0; i < this.cap; i++) if (used[i] !== 0 && s[i]! > maxStart) this.insertFresh(a[i]!, b[i]!, s[i]!);
    }
    this.spare = { used, a, b, s };
  }

  private rebuild(cap: number, dropUpTo: number): void {
    const { used, a, b, s } = this;
    const old = this.cap;
    this.allocate(cap);
    for (let i = 0; i < old; i++) if (used[i] !== 0 && s[i]! > dropUpTo) this.insertFresh(a[i]!, b[i]!, s[i]!);
  }

  private insertFresh(a: number, b: number, s: number): void {
    let i = this.home(a, b, s);
    while (this.used[i] !== 0) i = (i + 1) & this.mask;
    this.used[i] = 1;
    this.a[i] = a;
    this.b[i] = b;
    this.s[i] = s;
    this.size++;
  }

  /** Writes entries as (a, b, s) f64 triples at `at`; returns words written or -1 if they do not fit. */
  exportTo(out: Float64Array, at: number): number {
    if (at + this.size * 3 > out.length) return -1;
    let j = at;
    for (let i = 0; i < this.cap; i++) {
      if (this.used[i] === 0) continue;
      out[j++] = this.a[i]!;
      out[j++] = this.b[i]!;
      out[j++] = this.s[i]!;
    }
    return j - at;
  }

  importFrom(from: Float64Array, at: number, entries: number): void {
    let cap = 16;
    while (cap < entries * 2 + 2) cap *= 2;
    this.allocate(cap);
    for (let k = 0; k < entries; k++) this.insertFresh(from[at + 3 * k]!, from[at + 3 * k + 1]!, from[at + 3 * k + 2]!);
  }
}
