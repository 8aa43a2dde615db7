/**
 * PeerSender across a crash while its outbound ring is full (src/ring/peer-rings.ts): stages it
 * could not publish are in its checkpoint; a replacement restores them, drops those its
 * predecessor published after the checkpoint (the ring's own counter says how far it got), and
 * re-seals the replayed input batches' records under the next peer sequence numbers. The receiver
 * sees every batch once, in order.
 */
import { describe, expect, it } from "vitest";
import { PEER_SLOTS, PeerSender, type PeerTask } from "../../src/ring/peer-rings.js";
import { BatchRing } from "../../src/ring/ring.js";
import { H_COUNT, H_SEQ, HEADER_WORDS } from "../../src/ring/layout.js";
import { compileLayout } from "../../src/schema/schema.js";
import type { OutputWriter } from "../../src/ring/output.js";

const BYTES = 4096;
const layout = compileLayout([
  { name: "_src", type: "u8" }, { name: "_ts", type: "f64" }, { name: "_wm", type: "f64" }, { name: "_off", type: "f64" },
  { name: "_reason", type: "u8" }, { name: "_key", type: "u32" }, { name: "_rpo", type: "u32" }, { name: "_rpl", type: "u32" },
], 16, BYTES);

/** Sender 0 of two shards; ring 0→1 is the one under test. */
function task(): { task: PeerTask; target: BatchRing } {
  const rings = [BatchRing.create(layout, PEER_SLOTS), BatchRing.create(layout, PEER_SLOTS)];
  return {
    task: {
      out: rings.map((r) => r.handle), in: [], wake: [new SharedArrayBuffer(256), new SharedArrayBuffer(256)],
      edges: { codeBase: 5, edges: 1, tagBase: 3, byteBase: 0, bytes: BYTES }, log: new SharedArrayBuffer(64),
    },
    target: rings[1]!,
  };
}

/** Batches the sender has published into the ring, as its reader sees them. */
const published = (ring: BatchRing): number => (ring.released + ring.readable()) | 0;

/** What the coordinator is told: nothing to check here but that each batch reports itself. */
const out = { side: () => true } as unknown as OutputWriter;

/** One input batch of the shard: `n` records for shard 1, numbered from `first`. */
function inputBatch(s: PeerSender, first: number, n: number): void {
  for (let i = first; i < first + n; i++) expect(s.add(5, 1, `r${i}`, 1000 + i, i)).toBe(true);
  s.endBatch(out);
  s.flush();
}

/** Takes the batches waiting in the ring: [seq, record texts] each. */
function drain(ring: BatchRing, got: Array<[number, string[]]>, max = Infinity): void {
  for (let k = 0; k < max; k++) {
    const slot = ring.peek();
    if (slot < 0) return;
    const n = ring.header[slot * HEADER_WORDS + H_COUNT]!;
    const cols = ring.columns[slot]!;
    const blob = Buffer.from((cols["_blob"] as Uint8Array).buffer, (cols["_blob"] as Uint8Array).byteOffset, BYTES);
    const texts: string[] = [];
    for (let i = 0; i < n; i++) {
      const at = (cols["_rpo"] as Uint32Array)[i]!;
      texts.push(blob.toString("utf8", at, at + (cols["_rpl"] as Uint32Array)[i]!));
    }
    got.push([ring.header[slot * HEADER_WORDS + H_SEQ]!, texts]);
    ring.release();
  }
}

describe("PeerSender: a crash while the outbound ring is full", () => {
  it("the replacement publishes what its predecessor could not, skips what it did, and continues the sequence: every batch once, in order", () => {
    const { task: t, target } = task();
    const s1 = new PeerSender(t, 0);
    // 12 input batches of 3 records for shard 1, which reads nothing: 8 fill the ring, 4 wait.
    for (let b = 0; b < 12; b++) inputBatch(s1, 3 * b, 3);
    expect(published(target)).toBe(PEER_SLOTS);
    expect(s1.waiting).toBe(4);
    // The checkpoint (after input batch 11): the next seqs and the 4 waiting stages.
    const words = new Float64Array(s1.saveWords());
    s1.save(words);
    // After it: shard 1 takes 2 batches, the sender publishes 2 of its waiting ones (seqs 8, 9),
    // and processes 2 more input batches whose stages wait (the ring is full again); then it dies.
    const got: Array<[number, string[]]> = [];
    drain(target, got, 2);
    inputBatch(s1, 36, 3);
    inputBatch(s1, 39, 3);
    expect(published(target)).toBe(PEER_SLOTS + 2);
    expect(s1.waiting).toBe(4);
    // The replacement: the checkpoint's stages (seqs 8–11), then the replay of the 2 input batches
    // after the checkpoint (seqs 12, 13).
    const s2 = new PeerSender(t, 0);
    s2.restore(words);
    expect(s2.waiting).toBe(4);
    inputBatch(s2, 36, 3);
    inputBatch(s2, 39, 3);
    // Shard 1 reads on; the replacement publishes as room comes.
    for (let round = 0; round < 10 && (s2.waiting > 0 || target.readable() > 0); round++) {
      drain(target, got);
      s2.flush();
    }
    expect(s2.waiting).toBe(0);
    expect(got.map(([seq]) => seq)).toEqual(Array.from({ length: 14 }, (_, i) => i));
    expect(got.flatMap(([, texts]) => texts)).toEqual(Array.from({ length: 42 }, (_, i) => `r${i}`));
  });

  it("without the waiting stages in the checkpoint, the records behind the full ring are lost (what the test above guards)", () => {
    const { task: t, target } = task();
    const s1 = new PeerSender(t, 0);
    for (let b = 0; b < 12; b++) inputBatch(s1, 3 * b, 3);
    const words = new Float64Array(s1.saveWords());
    s1.save(words);
    // A checkpoint that kept only the next seqs (no stages): the restore finds none waiting.
    words[2] = 0;
    const s2 = new PeerSender(t, 0);
    s2.restore(words);
    const got: Array<[number, string[]]> = [];
    for (let round = 0; round < 4; round++) {
      drain(target, got);
      s2.flush();
    }
    expect(got.flatMap(([, texts]) => texts).length).toBe(8 * 3);
  });
});
