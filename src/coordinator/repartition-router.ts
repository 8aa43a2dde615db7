/**
 * Records moving between shards (a DSL topology that groups by a new key, src/dsl/repartition.ts),
 * on the coordinator: what the shards emitted through a repartition edge waits here, per target
 * shard in arrival order, until a slot of that shard's input ring is free.
 *
 *   shard i ──OUT_OBJECT {k,v}, hash(k)──► add() ──pending[hash mod W]──► fill() ──► input ring of that shard
 *                                                                         acked() ◄── its ACK
 *
 * Two things keep the results right:
 * - **Watermark.** Operators of a repartitioning topology run at a second watermark, `aux()`: the
 *   smallest watermark every shard has acknowledged, held further at the floor of every record still
 *   pending (the watermark its shard had passed before the batch that produced it). A shard thus
 *   never runs ahead of a record still on its way to it: no record is late only because it moved.
 * - **Commits.** Each moving record holds the commit-tracker entries of the input batch it came
 *   from (`holds`) until the batch carrying it has been acknowledged by its new shard, so an offset
 *   is committed only after everything derived from it, wherever it went, was processed.
 *
 * Objects here are per batch and per moving record (the JSON text each record already is).
 *
 * This path is taken when records cannot go worker to worker (CoordinatorOptions.repartitionPath,
 * src/ring/peer-rings.ts); with peer rings the same two rules hold per peer batch (`peers`,
 * peer-ledger.ts), and nothing here is per record.
 */
import { H_AUX0, H_COUNT, H_ENQUEUED_AT, H_KIND, H_PARTITION, H_SEQ, H_WATERMARK, BATCH_DATA, HEADER_WORDS } from "../ring/layout.js";
import type { BatchRing } from "../ring/ring.js";
import { blobBuffer } from "../schema/schema.js";
import type { Entry } from "./commit-tracker.js";
import type { PeerLedger } from "./peer-ledger.js";

export interface RepartitionLayout {
  /** Output code of edge 0 (PipelineDefinition.repartition.codeBase). */
  codeBase: number;
  edges: number;
  /** `_src` tag of edge 0. */
  tagBase: number;
  /** Where the JSON area starts in a slot's byte area, and its size. */
  byteBase: number;
  bytes: number;
}

const NO_ORIGIN: Entry[] = [];

/** A batch of moved records in a shard's input ring, not yet acknowledged. */
interface Routed {
  seq: number;
  /** Per record, the commit entries it holds. */
  origins: Entry[][];
}

class Pending {
  texts: string[] = [];
  ts: number[] = [];
  tags: number[] = [];
  offs: number[] = [];
  floors: number[] = [];
  origins: Entry[][] = [];
  head = 0;

  get size(): number {
    return this.texts.length - this.head;
  }

  compact(): void {
    if (this.head < 4096 || this.head * 2 < this.texts.length) return;
    for (const a of [this.texts, this.ts, this.tags, this.offs, this.floors, this.origins] as unknown[][]) a.splice(0, this.head);
    this.head = 0;
  }
}

export class RepartitionRouter {
  private readonly pending: Pending[] = [];
  private readonly routed: Routed[][] = [];
  /** Per shard, the highest watermark it has acknowledged (the batch header's H_WATERMARK). */
  private readonly passed: Float64Array;
  /** Per shard, the last second watermark sent to it (H_AUX0), and the highest its ACKs say it ran at. */
  private readonly sent: Float64Array;
  private readonly operated: Float64Array;
  private pendingTotal = 0;
  private routedTotal = 0;
  /** Smallest floor of the pending records (Infinity: none), kept up to date by add() and fill(). */
  private floor = Infinity;
  /** Records moved so far. */
  moved = 0;
  /** Worker-to-worker repartitioning (peer-ledger.ts): its batches in flight hold aux() and quiescence too. */
  peers: PeerLedger | undefined;
  /** Per shard, per slot: a Buffer over the slot's byte area (made once). */
  private readonly areas: Buffer[][];

  constructor(private readonly layout: RepartitionLayout, private readonly inputs: BatchRing[]) {
    for (let w = 0; w < inputs.length; w++) {
      this.pending.push(new Pending());
      this.routed.push([]);
    }
    this.passed = new Float64Array(inputs.length).fill(-Infinity);
    this.sent = new Float64Array(inputs.length).fill(-Infinity);
    this.operated = new Float64Array(inputs.length).fill(-Infinity);
    this.areas = inputs.map((r) => r.columns.map((c) => blobBuffer(c)));
  }

  /** Writes the second watermark into the header of a batch for shard w (Infinity: end of input). */
  stamp(w: number, header: Float64Array, h: number, end = false): void {
    const aux = end ? Infinity : this.aux();
    header[h + H_AUX0] = aux;
    this.sent[w] = aux;
  }

  /** Whether shard w has not been sent the current second watermark yet. */
  stale(w: number): boolean {
    return this.aux() > this.sent[w]!;
  }

  /** Whether an output code is a repartition edge's. */
  isEdge(code: number): boolean {
    return code >= this.layout.codeBase && code < this.layout.codeBase + this.layout.edges;
  }

  /** Records waiting for a slot. */
  get waiting(): number {
    return this.pendingTotal;
  }

  /** Nothing waiting and every batch of moved records acknowledged. */
  quiescent(): boolean {
    return this.pendingTotal === 0 && this.routedTotal === 0 && (this.peers === undefined || this.peers.outstanding === 0);
  }

  /** The watermark operators may run at (see the file header). */
  aux(): number {
    let min = this.peers !== undefined && this.peers.floor < this.floor ? this.peers.floor : this.floor;
    const p = this.passed;
    for (let w = 0; w < p.length; w++) if (p[w]! < min) min = p[w]!;
    return min;
  }

  /**
   * The batch that shard w acknowledged with `seq`. Releases what a batch of moved records held.
   * For such a batch (no input batch of any partition) returns the commit entries its records
   * held, which whatever it emits through an edge in turn holds; undefined for any other batch.
   */
  acked(w: number, seq: number): Entry[] | undefined {
    const q = this.routed[w]!;
    let was: Entry[] | undefined;
    while (q.length > 0 && q[0]!.seq <= seq) {
      const r = q.shift()!;
      if (r.seq === seq) {
        const distinct = new Set<Entry>();
        for (const o of r.origins) for (const e of o) distinct.add(e);
        was = [...distinct];
      }
      for (const o of r.origins) for (const e of o) e.holds--;
      this.routedTotal--;
    }
    return was;
  }

  /** Shard w has passed watermark wm (after its moved outputs of that batch were added). */
  passedBy(w: number, wm: number): void {
    if (wm > this.passed[w]!) this.passed[w] = wm;
  }

  /** Shard w acknowledged a batch its operators ran at watermark `wm` (the ACK's `f`). */
  operatedBy(w: number, wm: number): void {
    if (wm > this.operated[w]!) this.operated[w] = wm;
  }

  /** The watermark every shard's operators have run at: windows ending (with grace) before it are emitted everywhere. */
  closedAll(): number {
    let min = Infinity;
    for (const x of this.operated) if (x < min) min = x;
    return min;
  }

  /** The watermark shard w had passed before its batch now being acknowledged. */
  passedBefore(w: number): number {
    return this.passed[w]!;
  }

  /** A record that shard `from` emitted through edge code `code`; `origins` are the commit entries it holds. */
  add(code: number, hash: number, text: string, ts: number, off: number, floor: number, origins: Entry[] | undefined): void {
    const w = hash % this.inputs.length;
    const p = this.pending[w]!;
    p.texts.push(text);
    p.ts.push(ts);
    p.tags.push(this.layout.tagBase + (code - this.layout.codeBase));
    p.offs.push(off);
    p.floors.push(floor);
    const o = origins ?? NO_ORIGIN;
    p.origins.push(o);
    for (const e of o) e.holds++;
    this.pendingTotal++;
    this.moved++;
    if (floor < this.floor) this.floor = floor;
  }

  /**
   * Writes waiting records into free slots of their shards' input rings (as many as fit: the slot's
   * capacity and byte area) and publishes them; `nextSeq` numbers each batch. Returns the batches
   * published.
   */
  fill(nextSeq: () => number, now: number): number {
    if (this.pendingTotal === 0) return 0;
    let published = 0;
    for (let w = 0; w < this.inputs.length; w++) {
      const p = this.pending[w]!;
      while (p.size > 0) {
        const ring = this.inputs[w]!;
        const slot = ring.acquire();
        if (slot < 0) break;
        const cols = ring.columns[slot]!;
        const src = cols["_src"] as Uint8Array;
        const tsCol = cols["_ts"] as Float64Array;
        const wmCol = cols["_wm"] as Float64Array;
        const off = cols["_off"] as Float64Array;
        const reason = cols["_reason"] as Uint8Array;
        const key = cols["_key"] as Uint32Array;
        const at = cols["_rpo"] as Uint32Array;
        const len = cols["_rpl"] as Uint32Array;
        const blob = this.areas[w]![slot]!;
        const cap = tsCol.length;
        const base = this.layout.byteBase;
        const aux = this.aux(); // with the records about to be written still counted in the floor
        let used = 0;
        let n = 0;
        const origins: Entry[][] = [];
        while (n < cap && p.size > 0) {
          const k = p.head;
          const text = p.texts[k]!;
          const bytes = Buffer.byteLength(text);
          if (bytes > this.layout.bytes - used) {
            if (n === 0) throw new Error(`a repartitioned record of ${bytes} bytes does not fit a slot's ${this.layout.bytes} bytes`);
            break;
          }
          blob.write(text, base + used);
          src[n] = p.tags[k]!;
          tsCol[n] = p.ts[k]!;
          wmCol[n] = aux;
          off[n] = p.offs[k]!;
          reason[n] = 0;
          key[n] = 0;
          at[n] = used;
          len[n] = bytes;
          used += bytes;
          origins.push(p.origins[k]!);
          p.texts[k] = "";
          p.origins[k] = NO_ORIGIN;
          p.head++;
          n++;
        }
        this.pendingTotal -= n;
        const seq = nextSeq();
        const h = slot * HEADER_WORDS;
        ring.header[h + H_COUNT] = n;
        ring.header[h + H_KIND] = BATCH_DATA;
        ring.header[h + H_PARTITION] = -1;
        ring.header[h + H_WATERMARK] = aux;
        ring.header[h + H_AUX0] = aux;
        this.sent[w] = aux;
        ring.header[h + H_ENQUEUED_AT] = now;
        ring.header[h + H_SEQ] = seq;
        this.routed[w]!.push({ seq, origins });
        this.routedTotal++;
        ring.publish();
        published++;
      }
      p.compact();
    }
    this.refloor();
    return published;
  }

  /** Recomputes the smallest floor of the records still pending. */
  private refloor(): void {
    let min = Infinity;
    for (const p of this.pending) for (let k = p.head; k < p.floors.length; k++) if (p.floors[k]! < min) min = p.floors[k]!;
    this.floor = min;
  }
}
