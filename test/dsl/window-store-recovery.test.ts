/**
 * A worker restart restoring user aggregates on windows (test/dsl/fixtures/window-aggregates.js:
 * hopping windows in the off-heap window store, sessions with their values beside the typed session
 * store) on 2 workers that die mid-stream and are replaced from their checkpoints. The closed
 * windows and sessions must equal a run without failure (a lost or doubled record changes its
 * window's count and drivers); with checkpoints too small to hold the stores they must not.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mulberry32 } from "../support/random.js";
import { cleanAndCrashed, expectRecovered } from "../support/recovery.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-window-recovery-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("worker recovery with user aggregates on windows and sessions", () => {
  it("window-aggregates.js: open windows and sessions survive in the checkpoints; outputs equal a run without failure", async () => {
    const next = mulberry32(31);
    const T0 = 1_700_000_000_000;
    // 80 000 fixes 10 ms apart (~13 min of event time), ± 4 s disorder. The regions with fixes move:
    // every 1 000 fixes (10 s) 50 new ones join the 300 active and the 50 oldest leave, so a region
    // has fixes for ~60 s and then none: its sessions close. A shard's 512-record batch spans ~10 s
    // of event time and a crash comes at most 3 batches after the last checkpoint, well inside the
    // hopping windows' 60 s: whatever a replacement without restorable state lost still changes
    // windows it closes after the crash (the last check of expectRecovered). With fixes 400 ms apart
    // a batch spanned minutes, the replay rebuilt every open window, and that check failed now and then.
    const fixes = Array.from({ length: 80_000 }, (_, i) => ({
      driverId: `d${next() % 2_000}`,
      region: `gh${Math.floor(i / 1_000) * 50 + (next() % 300)}`,
      ts: T0 + i * 10 + (next() % 8_001) - 4_000,
    }));
    const path = join(dir, "fixes.jsonl");
    writeFileSync(path, fixes.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const runs = await cleanAndCrashed("window-aggregates.js", { fixes: path });
    expect(runs.clean.summary.outputs["region-windows"]).toBeGreaterThan(15_000);
    expect(runs.clean.summary.outputs["region-sessions"]).toBeGreaterThan(3_000);
    expect(runs.clean.summary.outputs["riptide-late"] ?? 0).toBe(0);
    expectRecovered(runs);
  }, 240_000);
});
