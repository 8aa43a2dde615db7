/**
 * The coordinator's ledger of worker-to-worker repartition batches (src/coordinator/peer-ledger.ts):
 * an input batch's commit entries and the second watermark stay held until every peer batch it
 * produced has been processed by its target shard; replays and early reports hold nothing.
 */
import { describe, expect, it } from "vitest";
import { PeerLedger } from "../../src/coordinator/peer-ledger.js";
import { RepartitionRouter } from "../../src/coordinator/repartition-router.js";
import type { Entry } from "../../src/coordinator/commit-tracker.js";
import { BatchRing } from "../../src/ring/ring.js";
import { compileLayout } from "../../src/schema/schema.js";

const entry = (): Entry => ({ holds: 0 }) as unknown as Entry;

function router(workers: number): RepartitionRouter {
  const layout = compileLayout([{ name: "_ts", type: "f64" }], 4, 64);
  const rings = Array.from({ length: workers }, () => BatchRing.create(layout, 2));
  return new RepartitionRouter({ codeBase: 5, edges: 1, tagBase: 1, byteBase: 0, bytes: 64 }, rings);
}

describe("peer ledger", () => {
  it("holds an input batch's commit entries until its target processed the last peer batch it wrote", () => {
    const l = new PeerLedger(2);
    const e = entry();
    l.wrote(0, 1, 3, 10, 100, [e]);
    l.wrote(0, 0, 7, 5, 100, [e]);
    expect(e.holds).toBe(2);
    expect(l.moved).toBe(15);
    l.processed(0, 1, 2);
    expect(e.holds).toBe(2);
    l.processed(0, 1, 3);
    expect(e.holds).toBe(1);
    l.processed(0, 0, 7);
    expect(e.holds).toBe(0);
    expect(l.outstanding).toBe(0);
  });

  it("a batch processed before its sender's ACK holds nothing; a replayed report is seen", () => {
    const l = new PeerLedger(2);
    l.processed(1, 0, 4);
    const e = entry();
    l.wrote(1, 0, 4, 3, 50, [e]);
    expect(e.holds).toBe(0);
    expect(l.outstanding).toBe(0);
    expect(l.seen(1, 0, 4)).toBe(true);
    expect(l.seen(1, 0, 5)).toBe(false);
  });

  it("holds the second watermark at the floor of every peer batch in flight, and quiescence", () => {
    const r = router(2);
    const l = new PeerLedger(2);
    r.peers = l;
    r.passedBy(0, 500);
    r.passedBy(1, 400);
    expect(r.aux()).toBe(400);
    expect(r.quiescent()).toBe(true);
    l.wrote(0, 1, 0, 1, 120, []);
    l.wrote(1, 0, 0, 1, 300, []);
    expect(r.aux()).toBe(120);
    expect(r.quiescent()).toBe(false);
    l.processed(0, 1, 0);
    expect(r.aux()).toBe(300);
    l.processed(1, 0, 0);
    expect(r.aux()).toBe(400);
    expect(r.quiescent()).toBe(true);
  });
});
