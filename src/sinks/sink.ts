/**
 * Sinks: where outputs leave the engine, as plain objects (the edge). Every output is one object
 * with a `type`: "window" results and the side outputs ("invalid", "anomaly", "late").
 */
import { closeSync, openSync, writeSync } from "node:fs";
import type { OutputColumns } from "../ring/output.js";

export interface Output {
  type: string;
  [field: string]: unknown;
}

export interface Sink {
  /** False when the sink only counts (the engine then skips building objects). */
  readonly wantsObjects: boolean;
  write(output: Output): void;
  close(): Promise<void>;
  /**
   * Outputs written so far and how many of them (counted from the first, in order) the destination
   * has acknowledged. Sinks that complete synchronously omit both: everything written is acknowledged.
   */
  readonly written?: number;
  readonly acknowledged?: number;
  /** Outputs written but not yet acknowledged; above a high mark the coordinator stops producing. */
  readonly pending?: number;
  /** Called from the coordinator loop: retries, polls, surfaces delivery errors. */
  service?(): void;
  /** Resolves once everything written is acknowledged (bounded by the sink's own timeout). */
  flush?(): Promise<void>;
  /**
   * A record output that stays columnar (no object is built): index i of an output batch, e.g. a
   * driver's latest position (OUT_POSITION) for the Redis GEO index. Counts in written/acknowledged.
   */
  writeRecord?(out: OutputColumns, i: number): void;
}

/** Counts nothing, keeps nothing: for throughput runs. */
export class NullSink implements Sink {
  readonly wantsObjects = false;
  write(): void {}
  async close(): Promise<void> {}
}

/** One JSON object per line into a file, buffered. */
export class FileSink implements Sink {
  readonly wantsObjects = true;
  private fd: number;
  private buf = "";

  constructor(readonly path: string) {
    this.fd = openSync(path, "w");
  }

  write(output: Output): void {
    this.buf += JSON.stringify(output) + "\n";
    if (this.buf.length > 1 << 16) this.drain();
  }

  private drain(): void {
    if (this.buf.length === 0) return;
    writeSync(this.fd, this.buf);
    this.buf = "";
  }

  async close(): Promise<void> {
    this.drain();
    closeSync(this.fd);
  }
}

/** One JSON object per line on a stream (stdout by default). */
export class ConsoleSink implements Sink {
  readonly wantsObjects = true;
  constructor(private readonly stream: NodeJS.WritableStream = process.stdout) {}
  write(output: Output): void {
    this.stream.write(JSON.stringify(output) + "\n");
  }
  async close(): Promise<void> {}
}

/** Keeps outputs in memory (tests and the TopologyTestDriver-style API). */
export class MemorySink implements Sink {
  readonly wantsObjects = true;
  readonly outputs: Output[] = [];
  write(output: Output): void {
    this.outputs.push(output);
  }
  async close(): Promise<void> {}
}
