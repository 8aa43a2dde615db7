/**
 * The coordinator's side of worker-to-worker repartitioning (src/ring/peer-rings.ts): per batch,
 * never per record, what the shards report of the batches they sent each other.
 *
 * - **Commits.** Shard i's ACK of input batch S carries, per target j, the last peer seq it wrote
 *   for S (OUT_PEER_SENT); S's commit entries are held until j reports that seq processed
 *   (OUT_PEER_DONE): an offset is committed only after what it became was processed where it went.
 * - **Watermark.** Each such batch also holds the second watermark (RepartitionRouter.aux) at its
 *   floor, i's watermark before S, until it is processed: no shard's operators run past a record
 *   still crossing. Before i's ACK the batch is covered by i's own watermark, which is no higher.
 *
 * A batch processed before its sender's ACK arrived (j is quick) holds nothing.
 */
import type { Entry } from "./commit-tracker.js";

interface Sent {
  seq: number;
  floor: number;
  entries: Entry[];
}

export class PeerLedger {
  /** Per pair i*W + j, the last peer seq j processed from i (-1: none). */
  private readonly done: Float64Array;
  private readonly sent: Sent[][] = [];
  /** Batches sent and not yet processed, as reported. */
  outstanding = 0;
  /** Smallest floor of those (Infinity: none). */
  floor = Infinity;
  /** Records moved so far. */
  moved = 0;

  constructor(private readonly workers: number) {
    this.done = new Float64Array(workers * workers).fill(-1);
    for (let k = 0; k < workers * workers; k++) this.sent.push([]);
  }

  /** Shard i's ACK of an input batch: it wrote `records` records to j, up to peer seq `seq`. */
  wrote(i: number, j: number, seq: number, records: number, floor: number, entries: Entry[]): void {
    this.moved += records;
    const pair = i * this.workers + j;
    if (seq <= this.done[pair]!) return;
    this.sent[pair]!.push({ seq, floor, entries });
    for (const e of entries) e.holds++;
    this.outstanding++;
    if (floor < this.floor) this.floor = floor;
  }

  /** Whether j has already reported peer batch `seq` from i (a replay after j restarted). */
  seen(i: number, j: number, seq: number): boolean {
    return seq <= this.done[i * this.workers + j]!;
  }

  /** Shard j processed peer batch `seq` from i: what it held is released. */
  processed(i: number, j: number, seq: number): void {
    const pair = i * this.workers + j;
    this.done[pair] = seq;
    const q = this.sent[pair]!;
    if (q.length === 0 || q[0]!.seq > seq) return;
    while (q.length > 0 && q[0]!.seq <= seq) {
      const s = q.shift()!;
      for (const e of s.entries) e.holds--;
      this.outstanding--;
    }
    let min = Infinity;
    for (const l of this.sent) for (const s of l) if (s.floor < min) min = s.floor;
    this.floor = min;
  }
}
