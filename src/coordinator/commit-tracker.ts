/**
 * When may a partition's offset be committed? Only once every output derived from the records
 * before it has been acknowledged by its sink (at-least-once).
 *
 * Per partition, one entry per batch in source order: the position to commit after it, the event
 * time by which every window holding one of its records has closed (bounded from above by the
 * partition's stream time after the batch), whether its shard acknowledged it, and the count of
 * sink writes that must be acknowledged before it is safe. An entry is safe when
 *   acked  ∧  every shard's watermark ≥ closeAt (its windows were emitted)  ∧  sink.acknowledged ≥ mark
 * where mark is sink.written at the moment the first two held. Entries are committed in order.
 * A batch whose records moved to other shards (repartitioning) is held as well until every batch
 * carrying them has been acknowledged there (`holds`).
 * Objects here are per batch, never per event.
 */
export interface Entry {
  /** The shard the batch went to, for batches broadcast to every shard (-1: the partition's one shard). */
  worker: number;
  seq: number;
  position: number;
  closeAt: number;
  acked: boolean;
  mark: number;
  /** Records derived from this batch still on their way to (or in) another shard. */
  holds: number;
}

export class CommitTracker {
  private readonly fifo: Entry[][] = [];
  private readonly heads: number[] = [];
  /**
   * Per partition, the index of the first entry a shard's ack (not a broadcast copy's) may still
   * mark: everything before it is acknowledged. Entries wait here for their windows to close, so
   * without it every ack rescanned all of them (~8 % of the main thread at 1.5 M frame events/s).
   */
  private readonly ackedTo: number[] = [];
  /**
   * Per partition, the index of the first entry without its mark. Every entry acknowledged with its
   * windows closed gets its mark at the check that finds it so, not only the first: marking only the
   * head let one entry through per check while the sink's acknowledgements lagged its writes by
   * more than a check interval (message-delivery through Kafka: positions 95 of 75 000 after 12 s,
   * the tracker holding every batch of the run until the end).
   */
  private readonly markedTo: number[] = [];
  /** Last position handed out for commit, per partition. */
  private readonly committed: Float64Array;

  constructor(partitions: number) {
    for (let p = 0; p < partitions; p++) {
      this.fifo.push([]);
      this.heads.push(0);
      this.ackedTo.push(0);
      this.markedTo.push(0);
    }
    this.committed = new Float64Array(partitions).fill(-1);
  }

  /** A batch of partition p (or, with seq -1, a position move with no records) entered the pipeline. */
  add(p: number, seq: number, position: number, closeAt: number, worker = -1): void {
    this.fifo[p]!.push({ worker, seq, position, closeAt, acked: seq < 0, mark: -1, holds: 0 });
  }

  /**
   * The shard acknowledged batch `seq` of partition p (and so every earlier batch of p it got).
   * `worker` ≥ 0 for a broadcast partition: only that shard's copies are acknowledged.
   */
  ack(p: number, seq: number, worker = -1): void {
    const q = this.fifo[p];
    if (!q) return;
    const head = this.heads[p]!;
    let i = worker < 0 ? Math.max(head, this.ackedTo[p]!) : head;
    for (; i < q.length && q[i]!.seq <= seq; i++) {
      const e = q[i]!;
      if (worker < 0 || e.worker < 0 || e.worker === worker) e.acked = true;
    }
    if (worker < 0) this.ackedTo[p] = i;
  }

  /** True when every batch of p that entered has been acknowledged by its shard (and what moved on from it, by theirs). */
  allAcked(p: number): boolean {
    const q = this.fifo[p]!;
    for (let i = this.heads[p]!; i < q.length; i++) if (!q[i]!.acked || q[i]!.holds > 0) return false;
    return true;
  }

  /** The entry of batch `seq` of partition p (for a broadcast copy, the one `worker` got), if still tracked. */
  entry(p: number, seq: number): Entry | undefined {
    const q = this.fifo[p];
    if (!q) return undefined;
    for (let i = this.heads[p]!; i < q.length; i++) {
      const e = q[i]!;
      if (e.seq === seq) return e;
      if (e.seq > seq) return undefined;
    }
    return undefined;
  }

  /**
   * Positions that became safe, as [partition, position] pairs (at most one per partition: the
   * furthest). `closedAll` is the watermark every shard has passed. With `maxSeq`, a batch of p
   * whose sequence number is above maxSeq[p] is not safe yet (at-least-once with logged state: its
   * shard's state after it is not in the log yet).
   */
  ready(closedAll: number, written: number, acknowledged: number, maxSeq?: Float64Array): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let p = 0; p < this.fifo.length; p++) {
      const q = this.fifo[p]!;
      let h = this.heads[p]!;
      // Marks first, in order (so they never decrease along the queue): what must be acknowledged
      // for each entry that is otherwise safe now.
      let k = Math.max(h, this.markedTo[p]!);
      for (; k < q.length; k++) {
        const e = q[k]!;
        if (!e.acked || e.holds > 0 || e.closeAt > closedAll) break;
        if (e.mark < 0) e.mark = written;
      }
      this.markedTo[p] = k;
      let position = -1;
      const limit = maxSeq ? maxSeq[p]! : Infinity;
      while (h < k) {
        const e = q[h]!;
        if (e.holds > 0 || acknowledged < e.mark || e.seq > limit) break;
        if (e.position >= 0) position = e.position; // -1: a broadcast copy before the batch's last
        h++;
      }
      if (h > 1024) {
        q.splice(0, h);
        this.ackedTo[p] = Math.max(0, this.ackedTo[p]! - h);
        this.markedTo[p] = Math.max(0, this.markedTo[p]! - h);
        h = 0;
      }
      this.heads[p] = h;
      if (position >= 0 && position > this.committed[p]!) {
        this.committed[p] = position;
        out.push([p, position]);
      }
    }
    return out;
  }

  /** Forgets partition p's entries (revoked: what was not committed is reprocessed by the next owner). */
  forget(p: number): void {
    this.fifo[p] = [];
    this.heads[p] = 0;
    this.ackedTo[p] = 0;
    this.markedTo[p] = 0;
    this.committed[p] = -1;
  }
}
