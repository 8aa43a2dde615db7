/**
 * A JSON-lines file as a bounded source: one event per line, one partition, the line's ordinal
 * (blank lines skipped) as its offset. Raw lines of records in flight are kept so that side outputs
 * carry the event exactly as received; a line that is not JSON never enters a ring and is reported
 * to the reject handler instead.
 */
import { closeSync, openSync, readSync } from "node:fs";
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import type { JsonDecoder } from "./json.js";
import type { RejectHandler, Source } from "./source.js";

const CHUNK = 1 << 22;

export class JsonLinesFileSource implements Source {
  readonly partitions = 1;
  readonly maxInFlight: number;
  private readonly fd: number;
  private readonly chunk = Buffer.allocUnsafe(CHUNK);
  private lines: string[] = [];
  private lineAt = 0;
  private rest = "";
  private eof = false;
  private offset = 0;
  private readonly raw: string[];
  private readonly mask: number;

  constructor(readonly path: string, private readonly decode: JsonDecoder, private readonly reject: RejectHandler,
    retention = 1 << 20) {
    let cap = 1;
    while (cap < retention) cap *= 2;
    this.raw = new Array<string>(cap);
    this.mask = cap - 1;
    this.maxInFlight = cap;
    this.fd = openSync(path, "r");
  }

  private nextLine(): string | undefined {
    while (this.lineAt >= this.lines.length) {
      if (this.eof) return undefined;
      const n = readSync(this.fd, this.chunk, 0, CHUNK, null);
      if (n === 0) {
        this.eof = true;
        this.lines = this.rest.length > 0 ? [this.rest] : [];
        this.rest = "";
      } else {
        const text = this.rest + this.chunk.toString("utf8", 0, n);
        const parts = text.split("\n");
        this.rest = parts.pop()!;
        this.lines = parts;
      }
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

  async close(): Promise<void> {
    closeSync(this.fd);
  }
}
