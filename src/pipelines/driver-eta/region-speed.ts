/** Per-region mean speed (EWMA) on typed arrays: open addressing keyed by the region's geohash int. */
export class RegionSpeeds {
  private mask: number;
  private keys: Uint32Array;
  private used: Uint8Array;
  private values: Float64Array;
  size = 0;

  constructor(cap = 1024) {
    this.keys = new Uint32Array(cap);
    this.used = new Uint8Array(cap);
    this.values = new Float64Array(cap);
    this.mask = cap - 1;
  }

  private slot(key: number): number {
    let s = Math.imul(key, 0x9e3779b1) >>> 0 & this.mask;
    while (this.used[s] !== 0 && this.keys[s] !== key) s = (s + 1) & this.mask;
    return s;
  }

  /** The region's mean speed, NaN when it has none yet. */
  get(key: number): number {
    const s = this.slot(key);
    return this.used[s] === 0 ? NaN : this.values[s]!;
  }

  /** Folds a reported speed into the region's EWMA (the first speed starts it). */
  update(key: number, speed: number, alpha: number): void {
    let s = this.slot(key);
    if (this.used[s] === 0) {
      if ((this.size + 1) * 2 > this.keys.length) {
        this.grow();
        s = this.slot(key);
      }
      this.used[s] = 1;
      this.keys[s] = key;
      this.values[s] = speed;
      this.size++;
      return;
    }
    this.values[s] = this.values[s]! + alpha * (speed - this.values[s]!);
  }

  /** Writes (key, value) pairs at `at`; returns words written, -1 when they do not fit. */
  exportTo(out: Float64Array, at: number): number {
    if (at + 2 * this.size > out.length) return -1;
    let j = at;
    for (let i = 0; i < this.keys.length; i++) {
      if (this.used[i] === 0) continue;
      out[j++] = this.keys[i]!;
      out[j++] = this.values[i]!;
    }
    return j - at;
  }

  importFrom(from: Float64Array, at: number, entries: number): void {
    let cap = 1024;
    while (cap < entries * 2 + 2) cap *= 2;
    this.keys = new Uint32Array(cap);
    this.used = new Uint8Array(cap);
    this.values = new Float64Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let k = 0; k < entries; k++) {
      const s = this.slot(from[at + 2 * k]!);
      this.used[s] = 1;
      this.keys[s] = from[at + 2 * k]!;
      this.values[s] = from[at + 2 * k + 1]!;
      this.size++;
    }
  }

  private grow(): void {
    const { keys, used, values } = this;
    this.keys = new Uint32Array(keys.length * 2);
    this.used = new Uint8Array(keys.length * 2);
    this.values = new Float64Array(keys.length * 2);
    this.mask = keys.length * 2 - 1;
    for (let i = 0; i < keys.length; i++) {
      if (used[i] === 0) continue;
      const s = this.slot(keys[i]!);
      this.used[s] = 1;
      this.keys[s] = keys[i]!;
      this.values[s] = values[i]!;
    }
  }
}
