/**
 * A worker restart restoring the off-heap table store: tables and non-windowed aggregations
 * (test/dsl/fixtures/table-totals.js) on 2 workers that die mid-stream and are replaced from their
 * checkpoints. The running totals must equal a run without failure (a lost or doubled update would
 * change every later total of its key); with checkpoints too small to hold the stores they must not.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mulberry32 } from "../support/random.js";
import { cleanAndCrashed, expectRecovered } from "../support/recovery.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-table-recovery-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("worker recovery with tables and KTable aggregations on the off-heap table store", () => {
  it("table-totals.js: the profiles table and the per-sender totals survive in the checkpoints; outputs equal a run without failure", async () => {
    const next = mulberry32(26);
    const T0 = 1_700_000_000_000;
    const profiles = Array.from({ length: 1_500 }, (_, i) => ({ userId: `u${i}`, name: `User ${i}`, tier: i % 3 }));
    const messages = Array.from({ length: 60_000 }, (_, i) => ({ messageId: `m${i}`, senderId: `u${next() % 1_650}`, bytes: next() % 500, ts: T0 + i * 10 }));
    const input: Record<string, string> = {};
    for (const [topic, rows] of [["user-profiles", profiles], ["messages", messages]] as const) {
      input[topic] = join(dir, `${topic}.jsonl`);
      writeFileSync(input[topic]!, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
    }
    const runs = await cleanAndCrashed("table-totals.js", input);
    // u1500…u1649 have no profile: the inner join drops their messages (about 1 in 11).
    for (const topic of ["sender-totals", "sender-counts", "sender-max"]) {
      expect(runs.clean.summary.outputs[topic]).toBeGreaterThan(50_000);
      expect(runs.clean.summary.outputs[topic]).toBeLessThan(57_000);
    }
    expectRecovered(runs);
  }, 240_000);
});
