/**
 * Strings for the shard workers. The main thread interns strings to u32 ids where records enter
 * (src/schema/interner.ts); a DSL topology hands plain objects to user functions inside the
 * workers, so the workers need the strings back. This table is append-only, in one
 * SharedArrayBuffer:
 *
 *   Int32[0]                 count of strings (published last, with Atomics.store)
 *   Int32[1]                 UTF-16 code units used
 *   Int32[2 … 2 + max]       end offset of string id (ids start at 1; id i ends at END[i − 1])
 *   Uint16[…]                the code units
 *
 * Only the main thread appends. A worker reads ids below the count it loads; an id travels in a
 * ring batch published after the string (ring publish is a later atomic store), so every id a
 * worker meets is readable. Each worker decodes an id once and caches the string.
 */
import { Interner } from "../schema/interner.js";
import { RiptideError } from "../errors.js";

const COUNT = 0;
const USED = 1;
const ENDS = 2;

export function createStringTable(maxStrings = 1 << 20, maxCodeUnits = 1 << 24): SharedArrayBuffer {
  const headerBytes = (ENDS + maxStrings) * 4;
  const sab = new SharedArrayBuffer(headerBytes + maxCodeUnits * 2);
  const h = new Int32Array(sab, 0, ENDS + maxStrings);
  h[COUNT] = 0;
  h[USED] = 0;
  return sab;
}

/** An Interner that also appends every new string to a shared table (main thread). */
export class SharedInterner extends Interner {
  private readonly header: Int32Array;
  private readonly chars: Uint16Array;
  private readonly max: number;

  constructor(readonly table: SharedArrayBuffer, maxStrings = 1 << 20) {
    super();
    this.max = maxStrings;
    this.header = new Int32Array(table, 0, ENDS + maxStrings);
    this.chars = new Uint16Array(table, (ENDS + maxStrings) * 4);
  }

  override intern(s: unknown): number {
    const before = this.size;
    const id = super.intern(s);
    if (this.size > before) this.append(s as string, id);
    return id;
  }

  private append(s: string, id: number): void {
    const h = this.header;
    if (id > this.max) throw new RiptideError("ERR_STRING_TABLE_FULL", `the shared string table holds ${this.max} strings; more distinct keys/strings than that are not supported yet`);
    let used = h[USED]!;
    if (used + s.length > this.chars.length) throw new RiptideError("ERR_STRING_TABLE_FULL", `the shared string table's ${this.chars.length} code units are used up`);
    for (let i = 0; i < s.length; i++) this.chars[used++] = s.charCodeAt(i);
    h[USED] = used;
    h[ENDS + id - 1] = used;
    Atomics.store(h, COUNT, id); // publish: the characters and the end offset are written
  }
}

/**
 * A source that interns into its own Interner (the Kafka source) feeds the shared table through
 * this wrapper: after every fill the strings it interned meanwhile are appended, with the same ids,
 * before the coordinator publishes the batch (so workers can read every id they get).
 */
export function mirrorStrings<S extends { fill(p: number, c: never, max: number): number }>(source: S, own: Interner, shared: SharedInterner): S {
  const fill = source.fill.bind(source);
  const sync = (): void => {
    for (let id = shared.size + 1; id <= own.size; id++) shared.intern(own.name(id));
  };
  (source as { fill: S["fill"] }).fill = ((p: number, c: never, max: number) => {
    const n = fill(p, c, max);
    if (own.size > shared.size) sync();
    return n;
  }) as S["fill"];
  return source;
}

/** Worker side: id → string, decoded once per id. */
export class SharedStrings {
  private readonly header: Int32Array;
  private readonly chars: Uint16Array;
  private readonly cache: (string | undefined)[] = [""];
  /** string → id for the strings decoded so far. */
  readonly ids = new Map<string, number>();

  constructor(table: SharedArrayBuffer, maxStrings = 1 << 20) {
    this.header = new Int32Array(table, 0, ENDS + maxStrings);
    this.chars = new Uint16Array(table, (ENDS + maxStrings) * 4);
  }

  name(id: number): string {
    const c = this.cache[id];
    if (c !== undefined) return c;
    if (id <= 0 || id > Atomics.load(this.header, COUNT)) return "";
    const start = id === 1 ? 0 : this.header[ENDS + id - 2]!;
    const end = this.header[ENDS + id - 1]!;
    let s = "";
    for (let i = start; i < end; i += 8192) s += String.fromCharCode(...this.chars.subarray(i, Math.min(end, i + 8192)));
    this.cache[id] = s;
    this.ids.set(s, id);
    return s;
  }
}
