/**
 * Output records: what shard workers send back to the coordinator through their output ring.
 *
 * One generic fixed layout serves every pipeline, so the coordinator drains all output rings with
 * one loop. `kind` says how to read the other fields:
 *
 *   kind           key        part  off     a            b       c          d        e           f
 *   WINDOW         group key  —     —       windowStart  count   sum        n(sum)   min         max
 *   INVALID/       record     part  offset  field0       field1  field2     field3   detail      detail2
 *   ANOMALY/LATE   key
 *   ACK            —          part  last    enqueuedAt   count   processed  batch    watermark   —
 *                                   offset                       At         seq
 *   CLOSED         —          —     —       watermark up to which every window of this shard is emitted
 *   ENDED          —          —     —       (the shard flushed everything after BATCH_END)
 *   STARTED        —          —     —       (a shard task began; unacknowledged outputs before it are void)
 *   OBJECT         —          part  offset  blob offset  bytes   timestamp  window   window end  —
 *   (code: output)                                                            start
 *                  an output object as UTF-8 JSON in the slot's byte area (`_blob`), for pipelines
 *                  whose outputs are user values (DSL topologies); code says which output it is
 *   POSITION       record     part  offset  lat          lon     ts         —        —           —
 *                  key (code: the region, geohash-5 int) — a driver's latest position in one input
 *                  batch, coalesced per batch (driver-tracking with --redis: the GEO index)
 *
 * Outputs of a batch count only once its ACK arrives: the coordinator holds them until then, so a
 * shard that dies mid-batch and replays from its checkpoint neither loses nor repeats an output.
 *
 * `code` carries the reason code of side outputs (pipeline-defined) and 0 otherwise.
 */
import { RingStalledError } from "../errors.js";
import { compileLayout, type FieldSpec, type RecordLayout } from "../schema/schema.js";
import { BatchRing } from "./ring.js";
import { H_COUNT, HEADER_WORDS } from "./layout.js";

export const OUT_WINDOW = 1;
export const OUT_INVALID = 2;
export const OUT_ANOMALY = 3;
export const OUT_LATE = 4;
export const OUT_ACK = 5;
export const OUT_CLOSED = 6;
export const OUT_ENDED = 7;
/** A shard (re)started: outputs of its predecessor that were never acknowledged are void. */
export const OUT_STARTED = 8;
/** The latest position of a key in one input batch (one record per key per batch), for position indexes. */
export const OUT_POSITION = 9;
/** An output object serialised as JSON into the slot's byte area (see OutputWriter.object). */
export const OUT_OBJECT = 10;
/** Peer repartitioning (peer-rings.ts): batches an input batch sent to a peer shard, and a peer batch processed. */
export const OUT_PEER_SENT = 11;
export const OUT_PEER_DONE = 12;
/**
 * Kinds from here up are pipeline-specific records: the coordinator stages them like side outputs
 * and, at the batch's ACK, counts them under `pipeline.recordName(kind)` and renders them with
 * `pipeline.renderRecord` (e.g. driver-eta's ETA and availability updates).
 */
export const OUT_PIPELINE_BASE = 16;

export const OUTPUT_FIELDS: readonly FieldSpec[] = [
  { name: "kind", type: "u32" },
  { name: "code", type: "u32" },
  { name: "key", type: "u32" },
  { name: "part", type: "u32" },
  { name: "off", type: "f64" },
  { name: "a", type: "f64" },
  { name: "b", type: "f64" },
  { name: "c", type: "f64" },
  { name: "d", type: "f64" },
  { name: "e", type: "f64" },
  { name: "f", type: "f64" },
];

/** The output ring's layout; `blobBytes` > 0 adds a byte area per slot for OUT_OBJECT records. */
export function outputLayout(capacity: number, blobBytes = 0): RecordLayout {
  return compileLayout(OUTPUT_FIELDS, capacity, blobBytes);
}

export interface OutputColumns {
  kind: Uint32Array; code: Uint32Array; key: Uint32Array; part: Uint32Array;
  off: Float64Array; a: Float64Array; b: Float64Array; c: Float64Array; d: Float64Array; e: Float64Array; f: Float64Array;
}

/**
 * Producer side of an output ring, used by one shard worker. Appends records to the current slot
 * and publishes the slot when it is full or on flush(). No allocation after construction.
 */
export class OutputWriter {
  private slot = -1;
  private i = 0;
  private cols!: OutputColumns;
  private readonly capacity: number;
  /** Per slot, its byte area (empty when the layout has none). */
  private readonly areas: Buffer[] = [];
  private readonly blobCap: number;
  private blobUsed = 0;

  constructor(readonly ring: BatchRing, private readonly stallLimitMs = 30_000) {
    this.capacity = ring.capacity;
    this.blobCap = ring.layout.blobBytes ?? 0;
    if (this.blobCap > 0) {
      for (const c of ring.columns) {
        const u = c["_blob"] as Uint8Array;
        this.areas.push(Buffer.from(u.buffer, u.byteOffset, u.length));
      }
    }
  }

  /** Index of the next free record in the current slot, acquiring a slot (waiting, bounded) when needed. */
  private next(): number {
    if (this.slot < 0 || this.i === this.capacity) this.nextSlot();
    return this.i++;
  }

  private nextSlot(): void {
    if (this.slot >= 0) this.flush();
    this.slot = this.ring.acquireBlocking(this.stallLimitMs, "output ring");
    this.cols = this.ring.columns[this.slot] as unknown as OutputColumns;
    this.i = 0;
    this.blobUsed = 0;
  }

  /**
   * An output object as JSON text (its bytes go to the slot's byte area; a slot whose area is full
   * is published first). Returns false, writing nothing, when the text is larger than a whole area
   * or the ring has none: the caller reports that record instead.
   */
  object(code: number, part: number, off: number, timestamp: number, windowStart: number, windowEnd: number, json: string): boolean {
    if (this.blobCap === 0) return false;
    if (this.slot < 0 || this.i === this.capacity) this.nextSlot();
    let at = this.blobUsed;
    // Buffer's native UTF-8 (the text's length first: write() would cut a text that does not fit).
    const len = json.length <= (this.blobCap - at) / 3 ? -1 : Buffer.byteLength(json);
    if (len > this.blobCap) return false;
    if (len > this.blobCap - at) {
      // This slot's area is full: publish it and write into the next one, whole.
      this.nextSlot();
      at = 0;
    }
    const wrote = this.areas[this.slot]!.write(json, at);
    this.blobUsed = at + wrote;
    const i = this.i++;
    const c = this.cols;
    c.kind[i] = OUT_OBJECT; c.code[i] = code; c.key[i] = 0; c.part[i] = part; c.off[i] = off;
    c.a[i] = at; c.b[i] = wrote; c.c[i] = timestamp; c.d[i] = windowStart; c.e[i] = windowEnd; c.f[i] = 0;
    return true;
  }

  window(key: number, windowStart: number, count: number, sum: number, n: number, min: number, max: number): void {
    const i = this.next();
    const c = this.cols;
    c.kind[i] = OUT_WINDOW; c.code[i] = 0; c.key[i] = key; c.part[i] = 0; c.off[i] = 0;
    c.a[i] = windowStart; c.b[i] = count; c.c[i] = sum; c.d[i] = n; c.e[i] = min; c.f[i] = max;
  }

  side(kind: number, code: number, key: number, part: number, off: number,
    f0: number, f1: number, f2: number, f3: number, detail: number, detail2: number): void {
    const i = this.next();
    const c = this.cols;
    c.kind[i] = kind; c.code[i] = code; c.key[i] = key; c.part[i] = part; c.off[i] = off;
    c.a[i] = f0; c.b[i] = f1; c.c[i] = f2; c.d[i] = f3; c.e[i] = detail; c.f[i] = detail2;
  }

  /** `operated`: the watermark the shard's operators have run at, when it is not `watermark` (H_AUX0). */
  ack(part: number, lastOffset: number, enqueuedAt: number, count: number, processedAt: number, seq: number, watermark: number, operated = 0): void {
    const i = this.next();
    const c = this.cols;
    c.kind[i] = OUT_ACK; c.code[i] = 0; c.key[i] = 0; c.part[i] = part; c.off[i] = lastOffset;
    c.a[i] = enqueuedAt; c.b[i] = count; c.c[i] = processedAt; c.d[i] = seq; c.e[i] = watermark; c.f[i] = operated;
  }

  marker(kind: number, watermark: number): void {
    const i = this.next();
    const c = this.cols;
    c.kind[i] = kind; c.code[i] = 0; c.key[i] = 0; c.part[i] = 0; c.off[i] = 0;
    c.a[i] = watermark; c.b[i] = 0; c.c[i] = 0; c.d[i] = 0; c.e[i] = 0; c.f[i] = 0;
  }

  /** Publishes the records written so far (if any). */
  flush(): void {
    if (this.slot < 0 || this.i === 0) return;
    this.ring.header[this.slot * HEADER_WORDS + H_COUNT] = this.i;
    this.ring.publish();
    this.slot = -1;
    this.i = 0;
    this.blobUsed = 0;
  }
}

export { RingStalledError };
