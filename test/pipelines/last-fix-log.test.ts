/**
 * driver-tracking's logged state (src/pipelines/driver-tracking/last-fix-log.ts) read from and
 * written into the shard's own snapshot words, merged into a running shard, and the checkpoint
 * copy the coordinator saves it from while the worker runs.
 */
import { describe, expect, it } from "vitest";
import { createCheckpoint } from "../../src/coordinator/control.js";
import { copyCheckpoint, writeCheckpoint } from "../../src/coordinator/snapshot.js";
import { lastFixLog } from "../../src/pipelines/driver-tracking/last-fix-log.js";
import { DriverTrackingShard } from "../../src/pipelines/driver-tracking/shard.js";

function entries(words: Float64Array): Array<[number, number, number[]]> {
  const out: Array<[number, number, number[]]> = [];
  const b = Buffer.alloc(lastFixLog.valueBytes);
  lastFixLog.scan(words, (id, version) => {
    lastFixLog.encode(words, id, b, 0);
    out.push([id, version, [b.readDoubleLE(0), b.readDoubleLE(8), b.readDoubleLE(16)]]);
  });
  return out;
}

describe("driver-tracking's last-fix log", () => {
  it("seeds a shard with the logged fixes and reads them back from its snapshot, ids beyond the first 1024 too", () => {
    const values = Buffer.alloc(2 * 24);
    [37.77, -122.42, 1000, 40.71, -74, 2000].forEach((x, i) => values.writeDoubleLE(x, i * 8));
    const seed = lastFixLog.seed([3, 5000], values);
    expect(entries(seed)).toEqual([[3, 1000, [37.77, -122.42, 1000]], [5000, 2000, [40.71, -74, 2000]]]);
    const shard = new DriverTrackingShard();
    shard.restore(seed, seed.length);
    const into = new Float64Array(1 << 16);
    const words = shard.snapshot(into);
    expect(words).toBeGreaterThan(0);
    expect(entries(into.subarray(0, words))).toEqual(entries(seed));
  });

  it("merged into a shard, each driver keeps the later of its own last fix and the logged one", () => {
    const shard = new DriverTrackingShard();
    const own = Buffer.alloc(2 * 24);
    [1, 1, 5000, 2, 2, 1000].forEach((x, i) => own.writeDoubleLE(x, i * 8));
    const mine = lastFixLog.seed([3, 4], own);
    shard.restore(mine, mine.length);
    const logged = Buffer.alloc(3 * 24);
    [9, 9, 4000, 8, 8, 2000, 7, 7, 3000].forEach((x, i) => logged.writeDoubleLE(x, i * 8));
    shard.mergeState(lastFixLog.seed([3, 4, 2000], logged));
    const into = new Float64Array(1 << 16);
    const words = shard.snapshot(into);
    expect(entries(into.subarray(0, words))).toEqual([[3, 5000, [1, 1, 5000]], [4, 2000, [8, 8, 2000]], [2000, 3000, [7, 7, 3000]]]);
  });

  it("a checkpoint copy is its current area's words and the batch it covers", () => {
    const ck = createCheckpoint(1 << 16);
    expect(copyCheckpoint(ck)).toBeNull();
    const seed = lastFixLog.seed([1], Buffer.from(new Float64Array([1, 2, 3]).buffer));
    writeCheckpoint(ck, seed);
    const copy = copyCheckpoint(ck)!;
    expect(copy.seq).toBe(-1);
    expect(Array.from(copy.words)).toEqual(Array.from(seed));
  });
});
