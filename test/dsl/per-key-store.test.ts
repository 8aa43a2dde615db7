/**
 * The per-key store's checkpoint (PerKeyTable.exportDense/importDense, the batch plan's): it
 * holds the slots in use, not the array's capacity (a power of two, up to twice the keys), and a
 * restored store goes on as the original.
 */
import { describe, expect, it } from "vitest";
import { PerKeyTable, Stores } from "../../src/dsl/per-key-store.js";

const spec = Stores.perKey("last-fix", { lat: "f64", lon: "f64", ts: "f64" });

/** Keys 1..n in increasing order (as the shared string table interns new keys), each writing its fields. */
function filled(n: number): PerKeyTable {
  const t = new PerKeyTable(spec, 1_000_000);
  const v = t.view as unknown as { lat: number; lon: number; ts: number };
  for (let k = 1; k <= n; k++) {
    t.at(k);
    v.lat = k / 3;
    v.lon = -k;
    v.ts = 1_700_000_000_000 + k;
  }
  return t;
}

describe("per-key store checkpoints", () => {
  it("copy the slots in use, not the capacity: 10 000 keys in a 16 384-slot array", () => {
    const t = filled(10_000);
    expect(t.capacity).toBe(16_384);
    expect(t.live).toBe(10_000);
    const area = new Float64Array(1 + 16_384 * t.stride);
    const words = t.exportDense(area, 0);
    // Rows up to the last key, and at most an eighth more (the slots are taken ahead by an eighth).
    expect(words).toBeGreaterThanOrEqual(1 + 10_001 * t.stride);
    expect(words).toBeLessThanOrEqual(1 + Math.ceil(10_001 * 1.125 + 16) * t.stride);
    // An area too small for the rows in use is refused, whatever the capacity.
    expect(t.exportDense(new Float64Array(words - 1), 0)).toBe(-1);
  });

  it("restore the state exactly, and the store goes on as the original (keys below and above the slots in use)", () => {
    const a = filled(5_000);
    const area = new Float64Array(1 + a.capacity * a.stride);
    const words = a.exportDense(area, 0);
    const b = new PerKeyTable(spec, 1_000_000);
    expect(b.importDense(area, 0)).toBe(words);
    expect(b.live).toBe(a.live);
    expect(Array.from(b.data.subarray(0, a.inUse * a.stride))).toEqual(Array.from(a.data.subarray(0, a.inUse * a.stride)));
    expect(b.liveSlots()).toEqual(a.liveSlots());
    const vb = b.view as unknown as { lat: number; ts: number; exists: boolean };
    b.at(4_999);
    expect(vb.exists).toBe(true);
    expect(vb.lat).toBe(4_999 / 3);
    // A key beyond every slot used so far: empty, then written, and in the next checkpoint.
    b.at(9_000);
    expect(vb.exists).toBe(false);
    expect(vb.ts).toBeNaN();
    vb.ts = 7;
    expect(b.live).toBe(a.live + 1);
    const again = new Float64Array(1 + b.capacity * b.stride);
    const w2 = b.exportDense(again, 0);
    const c = new PerKeyTable(spec, 1_000_000);
    c.importDense(again, 0);
    expect(c.liveSlots()).toEqual([...a.liveSlots(), 9_000]);
    expect(w2).toBeGreaterThanOrEqual(1 + 9_001 * b.stride);
  });
});
