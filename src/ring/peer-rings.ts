/**
 * Worker-to-worker repartitioning (issue 4 item 3): one SPSC batch ring per ordered pair of shards
 * (i→j, i→i included), so records crossing a repartition edge go from the shard that emitted them
 * straight to the shard of their new key, without the coordinator (src/coordinator/repartition-router.ts
 * is the path through it).
 *
 *   shard i: edge record ─► PeerSender stage for j = hash mod W ─(end of input batch)─► ring i→j
 *   shard j: PeerReceiver drains rings k→j between input batches ─► processor.process (inject)
 *
 * Batches carry the records in the encoding of today's repartition batches (the input layout's
 * `_src`, `_ts`, `_off`, `_rpo`, `_rpl` and byte area), so the processor cannot tell the two apart.
 * A batch's place in its ring (the ring's publish counter) is its peer sequence number. Per-key
 * order holds: a key maps to one target and each pair ring is FIFO.
 *
 * What the coordinator learns, through the output ring, per batch not per record:
 * - OUT_PEER_SENT (staged with input batch S, applied at its ACK): key = target j, part = source
 *   i, b = records, d = the last peer seq written to j for S. It holds S's commit entries, and the
 *   second watermark at i's watermark before S, until j has processed that seq.
 * - OUT_PEER_DONE (an ACK for a peer batch; the outputs before it are that batch's): key = source
 *   k, b = records, d = the peer seq. Replays (seq at or below the last one seen) are dropped.
 *
 * Recovery: a shard releases the peer batches it processed only at its checkpoint, like its input
 * batches, and the checkpoint records per source what it consumed and per target what it produced
 * (and any stage not yet published). A replacement replays its input and peer batches in the order
 * its predecessor processed them (the replay log, in shared memory), and skips the batches its
 * predecessor already published (the ring's own counter says how far it got), so nothing is lost or
 * delivered twice. Sending never blocks on a full ring while holding inbound batches: the sender
 * keeps the stages and the shard goes on draining (and checkpointing) its inbound rings meanwhile.
 */
import { BatchRing, type RingHandle } from "./ring.js";
import { BATCH_DATA, CONSUMER_SLEEPING, H_AUX0, H_AUX1, H_COUNT, H_ENQUEUED_AT, H_KIND, H_PARTITION, H_SEQ, H_WATERMARK, HEADER_WORDS } from "./layout.js";
import { bindColumns, type ColumnArray } from "../schema/schema.js";
import { OUT_PEER_DONE, OUT_PEER_SENT, OutputWriter } from "./output.js";
import type { ShardProcessor } from "../pipelines/processor.js";

/** Where repartitioned records sit in a batch (PipelineDefinition.repartition). */
export interface PeerEdges {
  /** Output code of edge 0. */
  codeBase: number;
  edges: number;
  /** `_src` tag of edge 0. */
  tagBase: number;
  /** Where the JSON area starts in a slot's byte area, and its size. */
  byteBase: number;
  bytes: number;
}

/** What a shard needs to reach its peers (ShardTask.peers). */
export interface PeerTask {
  /** Ring this shard → shard j, per j. */
  out: RingHandle[];
  /** Ring shard k → this shard, per k. */
  in: RingHandle[];
  /** Each shard's input ring buffer: a sender wakes its target's sleeping loop through it. */
  wake: SharedArrayBuffer[];
  edges: PeerEdges;
  /** Int32 [count, (source, seq) × …]: the batches processed since the last checkpoint, in order. */
  log: SharedArrayBuffer;
}

/** Slots of each peer ring. */
export const PEER_SLOTS = 8;

/** Int32 words of a replay log for a shard with `inputSlots` input slots and W peers. */
export function peerLogWords(inputSlots: number, workers: number): number {
  return 1 + 2 * (inputSlots + workers * PEER_SLOTS + 4);
}

const COPIED = ["_src", "_ts", "_wm", "_off", "_reason", "_key", "_rpo", "_rpl"] as const;

/** A batch being filled (or filled and waiting for a slot) for one target. */
class Stage {
  readonly bytes: Uint8Array;
  readonly cols: Record<string, ColumnArray>;
  readonly blob: Buffer;
  n = 0;
  used = 0;
  pos = 0;

  constructor(readonly layoutBytes: number, cols: (b: ArrayBuffer) => Record<string, ColumnArray>) {
    const buf = new ArrayBuffer(layoutBytes);
    this.bytes = new Uint8Array(buf);
    this.cols = cols(buf);
    const u = this.cols["_blob"] as Uint8Array;
    this.blob = Buffer.from(u.buffer, u.byteOffset, u.length);
  }
}

function wake(ctrl: Int32Array): void {
  if (Atomics.load(ctrl, CONSUMER_SLEEPING) !== 0) {
    Atomics.store(ctrl, CONSUMER_SLEEPING, 0);
    Atomics.notify(ctrl, CONSUMER_SLEEPING);
  }
}

/** The sending half, in shard i. */
export class PeerSender {
  private readonly rings: BatchRing[];
  private readonly wakes: Int32Array[];
  private readonly open: (Stage | undefined)[] = [];
  private readonly queues: Stage[][] = [];
  private readonly pool: Stage[] = [];
  /** Per target, the peer seq of the next stage sealed. */
  readonly next: Int32Array;
  /** Per target, records staged during the current input batch. */
  private readonly records: Int32Array;
  /** Stages sealed and not yet published. */
  waiting = 0;
  private readonly cap: number;
  private readonly makeCols: (b: ArrayBuffer) => Record<string, ColumnArray>;

  constructor(task: PeerTask, private readonly worker: number) {
    this.rings = task.out.map((h) => new BatchRing(h));
    this.wakes = task.wake.map((b) => new Int32Array(b, 0, 32));
    const W = this.rings.length;
    // From 0 (or the checkpoint's): a replacement's replay skips what its predecessor published.
    this.next = new Int32Array(W);
    this.records = new Int32Array(W);
    const layout = this.rings[0]!.layout;
    this.cap = layout.capacity;
    this.makeCols = (b) => bindColumns(b, 0, layout);
    for (let j = 0; j < W; j++) {
      this.open.push(undefined);
      this.queues.push([]);
    }
    this.edges = task.edges;
  }

  private readonly edges: PeerEdges;

  private stage(): Stage {
    return this.pool.pop() ?? new Stage(this.rings[0]!.layout.bytesPerSlot, this.makeCols);
  }

  private seal(j: number): void {
    const s = this.open[j];
    if (!s || s.n === 0) return;
    s.pos = this.next[j]!;
    this.next[j] = (s.pos + 1) | 0;
    this.queues[j]!.push(s);
    this.open[j] = undefined;
    this.waiting++;
  }

  /** A record leaving through edge `code` for the shard of `hash`; false when it fits no batch. */
  add(code: number, hash: number, text: string, ts: number, off: number): boolean {
    const j = hash % this.rings.length;
    let s = this.open[j];
    if (!s) s = this.open[j] = this.stage();
    const room = this.edges.bytes - s.used;
    const len = text.length * 3 <= room ? -1 : Buffer.byteLength(text);
    if (len > this.edges.bytes) return false;
    if (s.n === this.cap || len > room) {
      this.seal(j);
      s = this.open[j] = this.stage();
    }
    const c = s.cols;
    const i = s.n++;
    const wrote = s.blob.write(text, this.edges.byteBase + s.used);
    (c["_src"] as Uint8Array)[i] = this.edges.tagBase + (code - this.edges.codeBase);
    (c["_ts"] as Float64Array)[i] = ts;
    (c["_wm"] as Float64Array)[i] = -Infinity;
    (c["_off"] as Float64Array)[i] = off;
    (c["_reason"] as Uint8Array)[i] = 0;
    (c["_key"] as Uint32Array)[i] = 0;
    (c["_rpo"] as Uint32Array)[i] = s.used;
    (c["_rpl"] as Uint32Array)[i] = wrote;
    s.used += wrote;
    this.records[j]!++;
    return true;
  }

  /** The input batch ends: its stages are sealed and the coordinator told (before the batch's ACK). */
  endBatch(out: OutputWriter): void {
    for (let j = 0; j < this.rings.length; j++) {
      const n = this.records[j]!;
      if (n === 0) continue;
      this.seal(j);
      out.side(OUT_PEER_SENT, 0, j, this.worker, 0, 0, n, 0, (this.next[j]! - 1) | 0, 0, 0);
      this.records[j] = 0;
    }
  }

  /** Publishes what has a free slot; true once nothing waits. */
  flush(): boolean {
    if (this.waiting === 0) return true;
    for (let j = 0; j < this.rings.length; j++) {
      const q = this.queues[j]!;
      const ring = this.rings[j]!;
      let sent = false;
      while (q.length > 0) {
        const s = q[0]!;
        const ahead = (s.pos - ring.published) | 0;
        if (ahead > 0) throw new Error(`peer batch ${s.pos} to shard ${j} is ahead of the ring (${ring.published})`);
        if (ahead === 0) {
          const slot = ring.acquire();
          if (slot < 0) break;
          const to = ring.columns[slot]!;
          for (const name of COPIED) (to[name] as Float64Array).set((s.cols[name] as Float64Array).subarray(0, s.n));
          s.blob.copy(to["_blob"] as Uint8Array, this.edges.byteBase, this.edges.byteBase, this.edges.byteBase + s.used);
          const h = slot * HEADER_WORDS;
          const hd = ring.header;
          hd[h + H_COUNT] = s.n;
          hd[h + H_KIND] = BATCH_DATA;
          hd[h + H_PARTITION] = -1;
          hd[h + H_WATERMARK] = -Infinity;
          hd[h + H_ENQUEUED_AT] = 0;
          hd[h + H_SEQ] = s.pos;
          hd[h + H_AUX0] = 0;
          hd[h + H_AUX1] = 0;
          ring.publish();
          sent = true;
        } // else: published by a predecessor before it died (a replay): dropped
        q.shift();
        this.waiting--;
        s.n = 0;
        s.used = 0;
        this.pool.push(s);
      }
      if (sent) wake(this.wakes[j]!);
    }
    return this.waiting === 0;
  }

  /** Waits (bounded) for room in a ring something waits for. */
  waitWritable(ms: number): void {
    for (let j = 0; j < this.rings.length; j++) {
      if (this.queues[j]!.length > 0) {
        this.rings[j]!.waitWritable(ms);
        return;
      }
    }
  }

  /** f64 words save() needs. */
  saveWords(): number {
    let w = this.rings.length + 1;
    for (const q of this.queues) for (const s of q) w += 3 + Math.ceil(s.bytes.length / 8);
    return w;
  }

  /** Writes per target the next seq, then the stages waiting (target, seq, count, bytes); returns words. */
  save(into: Float64Array): number {
    const W = this.rings.length;
    for (let j = 0; j < W; j++) into[j] = this.next[j]!;
    let at = W;
    into[at++] = this.waiting;
    for (let j = 0; j < W; j++) {
      for (const s of this.queues[j]!) {
        into[at++] = j;
        into[at++] = s.pos;
        into[at++] = s.n;
        new Uint8Array(into.buffer, into.byteOffset + at * 8, s.bytes.length).set(s.bytes);
        at += Math.ceil(s.bytes.length / 8);
      }
    }
    return at;
  }

  /** Restores what save() wrote (a replacement shard); returns words read. */
  restore(from: Float64Array): number {
    const W = this.rings.length;
    for (let j = 0; j < W; j++) this.next[j] = from[j]!;
    let at = W;
    const k = from[at++]!;
    for (let m = 0; m < k; m++) {
      const j = from[at++]!;
      const s = this.stage();
      s.pos = from[at++]!;
      s.n = from[at++]!;
      s.bytes.set(new Uint8Array(from.buffer, from.byteOffset + at * 8, s.bytes.length));
      at += Math.ceil(s.bytes.length / 8);
      s.used = 0;
      const len = s.cols["_rpl"] as Uint32Array;
      for (let i = 0; i < s.n; i++) s.used += len[i]!;
      this.queues[j]!.push(s);
      this.waiting++;
    }
    return at;
  }
}

/** The receiving half, in shard j. */
export class PeerReceiver {
  private readonly rings: BatchRing[];
  /** Per source, batches processed and not yet released (they are released at a checkpoint). */
  readonly held: Int32Array;
  private readonly log: Int32Array;
  readonly half: number;

  constructor(task: PeerTask) {
    this.rings = task.in.map((h) => new BatchRing(h));
    this.held = new Int32Array(this.rings.length);
    this.log = new Int32Array(task.log);
    this.half = PEER_SLOTS >> 1;
  }

  /** Processes the next batch from source k if there is one; false if none. */
  one(k: number, processor: ShardProcessor, out: OutputWriter): boolean {
    const ring = this.rings[k]!;
    const slot = ring.peekAt(this.held[k]!);
    if (slot < 0) return false;
    const n = ring.header[slot * HEADER_WORDS + H_COUNT]!;
    const pos = (ring.released + this.held[k]!) | 0;
    this.note(k, pos);
    processor.process(ring.columns[slot]!, n, -1, out);
    out.side(OUT_PEER_DONE, 0, k, 0, 0, 0, n, 0, pos, 0, 0);
    out.flush();
    this.held[k]!++;
    return true;
  }

  /** Processes what the peers have sent (at most half a ring per source before a checkpoint). */
  drain(processor: ShardProcessor, out: OutputWriter): number {
    let done = 0;
    for (let k = 0; k < this.rings.length; k++) {
      while (this.held[k]! < PEER_SLOTS && this.one(k, processor, out)) done++;
    }
    return done;
  }

  /** Whether any source has half its ring processed and unreleased (time to checkpoint). */
  full(): boolean {
    for (let k = 0; k < this.held.length; k++) if (this.held[k]! >= this.half) return true;
    return false;
  }

  /** Whether any batch is held. */
  holding(): boolean {
    for (let k = 0; k < this.held.length; k++) if (this.held[k]! > 0) return true;
    return false;
  }

  /** Whether a batch waits from any source. */
  readable(): boolean {
    for (let k = 0; k < this.rings.length; k++) if (this.rings[k]!.peekAt(this.held[k]!) >= 0) return true;
    return false;
  }

  /** Appends one processed batch to the replay log (source -1: the input ring). */
  note(source: number, pos: number): void {
    const c = this.log[0]!;
    if (1 + 2 * c + 2 > this.log.length) throw new Error("peer replay log full");
    this.log[1 + 2 * c] = source;
    this.log[2 + 2 * c] = pos;
    this.log[0] = c + 1;
  }

  /** Per source, the seq after the last one processed (written into a checkpoint). */
  save(into: Float64Array): number {
    for (let k = 0; k < this.rings.length; k++) into[k] = (this.rings[k]!.released + this.held[k]!) | 0;
    return this.rings.length;
  }

  /** After a checkpoint is written: releases the batches it covers and empties the replay log. */
  release(): void {
    for (let k = 0; k < this.rings.length; k++) {
      this.rings[k]!.releaseMany(this.held[k]!);
      this.held[k] = 0;
    }
    this.log[0] = 0;
  }

  /**
   * A replacement: releases what the checkpoint covers (`from`: save()'s words, or none) and returns
   * the order to replay the rest in (source per batch, -1 for the input ring), from the log.
   */
  restore(from: Float64Array | undefined, inputReleased: number): number[] {
    if (from) {
      for (let k = 0; k < this.rings.length; k++) {
        const r = this.rings[k]!;
        const d = (from[k]! - r.released) | 0;
        if (d > 0) r.releaseMany(d);
      }
    }
    const order: number[] = [];
    const c = this.log[0]!;
    for (let m = 0; m < c; m++) {
      const k = this.log[1 + 2 * m]!;
      const pos = this.log[2 + 2 * m]!;
      const released = k < 0 ? inputReleased : this.rings[k]!.released;
      if (((pos - released) | 0) >= 0) order.push(k);
    }
    this.log[0] = 0; // the replay notes them again as it goes
    return order;
  }
}


/** A shard's output writer whose repartition-edge records go to the peer rings instead of the coordinator. */
export class PeerOutputWriter extends OutputWriter {
  private readonly lo: number;
  private readonly hi: number;

  constructor(ring: BatchRing, private readonly sender: PeerSender, edges: PeerEdges) {
    super(ring);
    this.lo = edges.codeBase;
    this.hi = edges.codeBase + edges.edges;
  }

  override object(code: number, part: number, off: number, timestamp: number, windowStart: number, windowEnd: number, json: string): boolean {
    if (code >= this.lo && code < this.hi) return this.sender.add(code, windowStart, json, timestamp, off);
    return super.object(code, part, off, timestamp, windowStart, windowEnd, json);
  }
}
