/**
 * A consistent snapshot of a whole run's state at a barrier (every batch fed so far processed,
 * checkpointed and its outputs written): what exactly-once mode commits to the changelog topic in
 * the same Kafka transaction as the outputs and the input offsets, and restores after a restart.
 *
 * It holds the coordinator's part (stream time per partition, window partials waiting for another
 * shard, the source's string table) and each shard's state exactly as its worker wrote it into its
 * checkpoint block (f64 words; see control.ts and ShardProcessor.snapshot). Encoded as one binary
 * blob: magic, version, a JSON header, then the shards' words (8-byte aligned).
 */
import { CK_AREA_OFFSET, CK_CURRENT, CK_HEADER_WORDS, CK_SEQ, CK_TAIL, CK_WORDS } from "./control.js";

export interface RunSnapshot {
  /** Pipeline name; a snapshot of another pipeline is refused on restore. */
  pipeline: string;
  /** Input partitions of the source. */
  partitions: number;
  /** Stream time per input partition (-Infinity: none yet). */
  streamTime: number[];
  /** The highest watermark attached to a record so far (watermarks never go back). */
  watermarkFloor: number;
  /** Per shard, the watermark through which it has emitted its windows (merger). */
  mergerClosed: number[];
  /** Window partials waiting for other shards: flat [key, start, count, sum, n, min, max] * k. */
  mergerOpen: number[];
  /** The source's own state (e.g. its string interner), JSON-serialisable. */
  source: unknown;
  /** Each shard's state words, as its processor's snapshot() wrote them. */
  shards: Float64Array[];
}

const MAGIC = 0x53545052; // "RPTS" little-endian
const VERSION = 1;

/** JSON cannot hold ±Infinity: they travel as strings. */
function encodeNumber(x: number): number | string {
  return Number.isFinite(x) ? x : String(x);
}
function decodeNumber(x: number | string): number {
  return typeof x === "number" ? x : Number(x);
}

export function encodeSnapshot(s: RunSnapshot): Buffer {
  const header = Buffer.from(JSON.stringify({
    pipeline: s.pipeline,
    partitions: s.partitions,
    streamTime: s.streamTime.map(encodeNumber),
    watermarkFloor: encodeNumber(s.watermarkFloor),
    mergerClosed: s.mergerClosed.map(encodeNumber),
    mergerOpen: s.mergerOpen.map(encodeNumber),
    source: s.source,
    shardWords: s.shards.map((a) => a.length),
  }));
  const pad = (8 - ((12 + header.length) % 8)) % 8;
  let words = 0;
  for (const a of s.shards) words += a.length;
  const out = Buffer.alloc(12 + header.length + pad + words * 8);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(VERSION, 4);
  out.writeUInt32LE(header.length, 8);
  header.copy(out, 12);
  let at = 12 + header.length + pad;
  for (const a of s.shards) {
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(out, at);
    at += a.byteLength;
  }
  return out;
}

export function decodeSnapshot(b: Buffer): RunSnapshot {
  if (b.length < 12 || b.readUInt32LE(0) !== MAGIC) throw new Error("not a Riptide state snapshot (bad magic)");
  const version = b.readUInt32LE(4);
  if (version !== VERSION) throw new Error(`state snapshot version ${version} is not supported (this build reads ${VERSION})`);
  const len = b.readUInt32LE(8);
  if (12 + len > b.length) throw new Error("state snapshot truncated in its header");
  const h = JSON.parse(b.subarray(12, 12 + len).toString("utf8")) as {
    pipeline: string; partitions: number; streamTime: Array<number | string>; watermarkFloor?: number | string; mergerClosed: Array<number | string>;
    mergerOpen: Array<number | string>; source: unknown; shardWords: number[];
  };
  let at = 12 + len + ((8 - ((12 + len) % 8)) % 8);
  const shards: Float64Array[] = [];
  for (const n of h.shardWords) {
    if (at + n * 8 > b.length) throw new Error("state snapshot truncated in its shard data");
    const a = new Float64Array(n);
    Buffer.from(a.buffer).set(b.subarray(at, at + n * 8));
    shards.push(a);
    at += n * 8;
  }
  return {
    pipeline: h.pipeline, partitions: h.partitions,
    streamTime: h.streamTime.map(decodeNumber), watermarkFloor: decodeNumber(h.watermarkFloor ?? "-Infinity"), mergerClosed: h.mergerClosed.map(decodeNumber),
    mergerOpen: h.mergerOpen.map(decodeNumber), source: h.source, shards,
  };
}

/** The state words of a shard's current checkpoint (empty when it has none). Main thread, at a barrier. */
export function readCheckpoint(sab: SharedArrayBuffer): Float64Array {
  return copyCheckpoint(sab)?.words ?? new Float64Array(0);
}

/**
 * Makes `words` the shard's current checkpoint before its worker starts: the worker restores it
 * (ring TAIL 0: nothing of the new ring is covered). Empty words leave the block without one.
 */
export function writeCheckpoint(sab: SharedArrayBuffer, words: Float64Array): void {
  if (words.length === 0) return;
  const areaBytes = (sab.byteLength - CK_AREA_OFFSET) / 2;
  if ((CK_HEADER_WORDS + words.length) * 8 > areaBytes) {
    throw new Error(`restored shard state (${words.length * 8} bytes) does not fit the checkpoint area (${areaBytes} bytes)`);
  }
  const header = new Float64Array(sab, CK_AREA_OFFSET, CK_HEADER_WORDS);
  new Float64Array(sab, CK_AREA_OFFSET + CK_HEADER_WORDS * 8, words.length).set(words);
  header[CK_SEQ] = -1;
  header[CK_TAIL] = 0;
  header[CK_WORDS] = words.length;
  Atomics.store(new Int32Array(sab, 0, 1), CK_CURRENT, 0);
}

/**
 * A copy of a shard's current checkpoint taken while its worker runs (main thread, off the hot
 * path): the sequence number of the last batch it covers and its state words; null when it has
 * none. The worker writes the other area and then flips CK_CURRENT, so the area read is stable
 * unless the current one changed meanwhile (the copy is then taken again).
 */
export function copyCheckpoint(sab: SharedArrayBuffer): { seq: number; words: Float64Array } | null {
  const current = new Int32Array(sab, 0, 1);
  const areaBytes = (sab.byteLength - CK_AREA_OFFSET) / 2;
  for (let attempt = 0; attempt < 100; attempt++) {
    const k = Atomics.load(current, CK_CURRENT);
    if (k < 0) return null;
    const header = new Float64Array(sab, CK_AREA_OFFSET + k * areaBytes, CK_HEADER_WORDS);
    const seq = header[CK_SEQ]!;
    const words = new Float64Array(sab, CK_AREA_OFFSET + k * areaBytes + CK_HEADER_WORDS * 8, header[CK_WORDS]!).slice();
    if (Atomics.load(current, CK_CURRENT) === k && header[CK_SEQ] === seq) return { seq, words };
  }
  return null;
}
