/**
 * CommitTracker on its own: which input positions become safe to commit, as batches are
 * acknowledged by their shards, windows close and the sink acknowledges outputs.
 */
import { describe, expect, it } from "vitest";
import { CommitTracker } from "../../src/coordinator/commit-tracker.js";

describe("commit tracker", () => {
  it("commits a position only once its batch is acknowledged, its windows closed and the outputs before it acknowledged", () => {
    const t = new CommitTracker(1);
    t.add(0, 0, 100, 1000);
    t.add(0, 1, 200, 2000);
    expect(t.ready(5000, 0, 0)).toEqual([]); // nothing acknowledged by the shard yet
    t.ack(0, 0);
    expect(t.ready(500, 0, 0)).toEqual([]); // its windows not closed
    expect(t.ready(1000, 3, 2)).toEqual([]); // 3 outputs written, 2 acknowledged by the sink
    expect(t.ready(1000, 4, 3)).toEqual([[0, 100]]); // mark stays 3, taken when the first two held
    t.ack(0, 1);
    expect(t.ready(2000, 4, 4)).toEqual([[0, 200]]);
    expect(t.ready(2000, 4, 4)).toEqual([]); // once per position
  });

  it("with a sequence limit per partition (a state log), a batch past its shard's logged checkpoint waits", () => {
    const t = new CommitTracker(2);
    t.add(0, 0, 100, 0);
    t.add(1, 1, 150, 0);
    t.add(0, 2, 200, 0);
    for (const [p, seq] of [[0, 0], [1, 1], [0, 2]] as const) t.ack(p, seq);
    const limit = new Float64Array([-1, -1]);
    expect(t.ready(0, 0, 0, limit)).toEqual([]); // nothing logged yet
    limit[0] = 0;
    expect(t.ready(0, 0, 0, limit)).toEqual([[0, 100]]); // batch 2 is past partition 0's logged checkpoint
    limit.set([2, 2]);
    expect(t.ready(0, 0, 0, limit)).toEqual([[0, 200], [1, 150]]);
  });

  it("a sink whose acknowledgements lag its writes by more than a check still lets every safe batch through, not one per check", () => {
    // Each check, 10 batches more are acknowledged by the shard and 100 outputs more written; the
    // sink has acknowledged what was written one check before. Marking only the head let one
    // batch through per check, so the committed position fell further behind at every check.
    const t = new CommitTracker(1);
    let seq = 0;
    let committed = 0;
    for (let check = 1; check <= 50; check++) {
      for (let b = 0; b < 10; b++, seq++) {
        t.add(0, seq, seq + 1, 0);
        t.ack(0, seq);
      }
      const ready = t.ready(0, check * 100, (check - 1) * 100);
      if (ready.length > 0) committed = ready[0]![1];
      // Everything acknowledged by the shard at the check before is committed now.
      if (check > 1) expect(committed).toBe((check - 1) * 10);
    }
  });

  it("an ack covers every earlier batch of the partition, and later acks go on from where it stopped", () => {
    const t = new CommitTracker(2);
    for (let s = 0; s < 6; s++) t.add(0, s, (s + 1) * 10, 0);
    t.add(1, 0, 7, 0);
    t.ack(0, 3);
    expect(t.ready(0, 0, 0)).toEqual([[0, 40]]);
    expect(t.allAcked(0)).toBe(false);
    t.ack(0, 2); // an older ack again: changes nothing
    t.ack(0, 5);
    expect(t.allAcked(0)).toBe(true);
    expect(t.allAcked(1)).toBe(false);
    expect(t.ready(0, 0, 0)).toEqual([[0, 60]]);
  });

  it("acks of entries still waiting for their windows are kept while later batches arrive", () => {
    const t = new CommitTracker(1);
    for (let s = 0; s < 50; s++) {
      t.add(0, s, s + 1, 100 * s);
      t.ack(0, s);
    }
    expect(t.ready(1050, 0, 0)).toEqual([[0, 11]]); // closeAt ≤ 1050: batches 0..10
    expect(t.ready(99_999, 0, 0)).toEqual([[0, 50]]);
  });

  it("keeps acknowledging correctly after its consumed entries are dropped (more than 1024 at once)", () => {
    const t = new CommitTracker(1);
    for (let s = 0; s < 1100; s++) t.add(0, s, s + 1, 0);
    t.ack(0, 1099);
    expect(t.ready(0, 0, 0)).toEqual([[0, 1100]]);
    for (let s = 1100; s < 1110; s++) t.add(0, s, s + 1, 0);
    t.ack(0, 1104);
    expect(t.ready(0, 0, 0)).toEqual([[0, 1105]]);
    t.ack(0, 1109);
    expect(t.ready(0, 0, 0)).toEqual([[0, 1110]]);
  });

  it("a broadcast batch's position goes only once every shard acknowledged its copy", () => {
    // As Coordinator.broadcastBatch adds them: one entry per shard's copy (its own seq), the
    // batch's position on the last copy only (-1 on the others).
    const t = new CommitTracker(1);
    t.add(0, 0, -1, 0, 0);
    t.add(0, 1, 10, 0, 1);
    t.add(0, 2, -1, 0, 0);
    t.add(0, 3, 20, 0, 1);
    t.ack(0, 0, 0);
    expect(t.ready(0, 0, 0)).toEqual([]);
    expect(t.entry(0, 1)?.acked).toBe(false);
    t.ack(0, 2, 0); // shard 0 ahead: still nothing, shard 1 has not processed its first copy
    expect(t.ready(0, 0, 0)).toEqual([]);
    t.ack(0, 1, 1);
    expect(t.ready(0, 0, 0)).toEqual([[0, 10]]);
    t.ack(0, 3, 1);
    expect(t.ready(0, 0, 0)).toEqual([[0, 20]]);
  });

  it("forget() drops a revoked partition's entries; a new owner starts from scratch", () => {
    const t = new CommitTracker(1);
    t.add(0, 0, 10, 0);
    t.add(0, 1, 20, 0);
    t.ack(0, 1);
    t.forget(0);
    expect(t.ready(0, 0, 0)).toEqual([]);
    t.add(0, 0, 5, 0);
    t.ack(0, 0);
    expect(t.ready(0, 0, 0)).toEqual([[0, 5]]);
  });
});
