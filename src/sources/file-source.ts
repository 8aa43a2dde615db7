/**
 * A JSON-lines file as a bounded source: one event per line, one partition, the line's ordinal
 * (blank lines skipped) as its offset. Raw lines of records in flight are kept so that side outputs
 * carry the event exactly as received; a line that is not JSON, or longer than `maxLineChars`, never
 * enters a ring and is reported to the reject handler instead. Bytes are decoded as UTF-8 across
 * read boundaries (a character split between two reads stays whole).
 */
import { closeSync, openSync, readSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import type { JsonDecoder } from "./json.js";
import type { RejectHandler, Source } from "./source.js";

const CHUNK = 1 << 22;

export interface JsonLinesFileOptions {
  /** Bytes per read. @default 4 MiB */
  chunkBytes?: number;
  /** Longest line accepted, in UTF-16 units (a longer one is rejected, not buffered). @default 1 MiB */
  maxLineChars?: number;
  /** The string of an interned id (the decoder's interner), for outputs that name ids. */
  names?: (id: number) => string;
}

/** nextLine()'s answer for a line that was too long (its text is dropped while reading). */
const OVERSIZED = null;

export class JsonLinesFileSource implements Source {
  readonly partitions = 1;
  readonly maxInFlight: number;
  private readonly fd: number;
  private readonly chunk: Buffer;
  private readonly utf8 = new StringDecoder("utf8");
  private readonly maxLineChars: number;
  /** Inside a line already longer than maxLineChars: drop text up to its end. */
  private skipping = false;
  private lines: Array<string | typeof OVERSIZED> = [];
  private lineAt = 0;
  private rest = "";
  private eof = false;
  private offset = 0;
  private readonly raw: string[];
  private readonly mask: number;

  constructor(readonly path: string, private readonly decode: JsonDecoder, private readonly reject: RejectHandler,
    retention = 1 << 20, private readonly options: JsonLinesFileOptions = {}) {
    this.chunk = Buffer.allocUnsafe(options.chunkBytes ?? CHUNK);
    this.maxLineChars = options.maxLineChars ?? 1 << 20;
    let cap = 1;
    while (cap < retention) cap *= 2;
    this.raw = new Array<string>(cap);
    this.mask = cap - 1;
    this.maxInFlight = cap;
    this.fd = openSync(path, "r");
  }

  /** The next line; OVERSIZED (null) for one longer than maxLineChars; undefined at the end. */
  private nextLine(): string | typeof OVERSIZED | undefined {
    while (this.lineAt >= this.lines.length) {
      if (this.eof) return undefined;
      const n = readSync(this.fd, this.chunk, 0, this.chunk.length, null);
      const lines: Array<string | typeof OVERSIZED> = [];
      if (n === 0) {
        this.eof = true;
        const last = this.rest + this.utf8.end();
        if (this.skipping) lines.push(OVERSIZED);
        else if (last.length > this.maxLineChars) lines.push(OVERSIZED);
        else if (last.length > 0) lines.push(last);
        this.rest = "";
        this.skipping = false;
      } else {
        const parts = this.utf8.write(this.chunk.subarray(0, n)).split("\n");
        const tail = parts.pop()!;
        for (let i = 0; i < parts.length; i++) {
          const line = i === 0 ? this.rest + parts[0]! : parts[i]!;
          if (i === 0 && this.skipping) { lines.push(OVERSIZED); this.skipping = false; }
          else lines.push(line.length > this.maxLineChars ? OVERSIZED : line);
        }
        if (parts.length > 0) this.rest = "";
        if (this.skipping) {
          // still inside the oversized line: its text is dropped
        } else if (this.rest.length + tail.length > this.maxLineChars) {
          this.skipping = true;
          this.rest = "";
        } else {
          this.rest += tail;
        }
      }
      this.lines = lines;
      this.lineAt = 0;
    }
    return this.lines[this.lineAt++];
  }

  fill(_p: number, columns: Record<string, ColumnArray>, max: number): number {
    const off = columns["_off"]!;
    let n = 0;
    while (n < max) {
      const line = this.nextLine();
      if (line === undefined) break;
      if (line === OVERSIZED) {
        this.reject(0, this.offset++, "", `record ${this.offset - 1}: line longer than ${this.maxLineChars} characters (one event per line)`);
        continue;
      }
      const text = line.endsWith("\r") ? line.slice(0, -1) : line;
      if (text.trim().length === 0) continue;
      const offset = this.offset++;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        this.reject(0, offset, text, `not valid JSON: ${(err as Error).message}`);
        continue;
      }
      this.raw[offset & this.mask] = text;
      this.decode(value, columns, n);
      off[n] = offset;
      n++;
    }
    return n;
  }

  exhausted(): boolean {
    return this.eof && this.lineAt >= this.lines.length;
  }

  event(out: OutputColumns, i: number): unknown {
    const line = this.raw[out.off[i]! & this.mask];
    return line === undefined ? null : JSON.parse(line);
  }

  /** Records read so far (valid JSON or not). */
  get records(): number {
    return this.offset;
  }

  idName(_field: string, id: number): string {
    return this.options.names ? this.options.names(id) : String(id);
  }

  async close(): Promise<void> {
    closeSync(this.fd);
  }
}
