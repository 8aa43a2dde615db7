/**
 * String interning at the edge: strings become dense u32 ids before records enter a ring, and
 * ids become strings again when outputs leave. Main thread only. Id 0 is reserved for "missing or
 * empty", so a non-empty string always gets an id ≥ 1.
 */
export class Interner {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [""];

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
    for (const s of names) {
      this.ids.set(s, this.names.length);
      this.names.push(s);
    }
  }

  get size(): number {
    return this.names.length - 1;
  }
}
